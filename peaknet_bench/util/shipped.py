"""Files the package ships, reachable from a source checkout and from an installed wheel alike.

What a command needs at run time beyond the code: the default model (the reference student
and the model YAMLs of `baselines/models/`), the leaderboard's benchmark registry and
submission schema (`leaderboard/`), and the dataset cards, recipes and manifests
(`datasets/`). Each exists once: in a checkout `peaknet_bench/shipped/` holds symlinks to
the repository's folders; a wheel carries the files themselves there (pyproject
package-data). Code reaches them through `shipped_path`, never through `../`.

`PEAKNET_BENCH_ROOT` names another root holding `baselines/models/`, `datasets/` and
`leaderboard/` (a checkout used with an installed package, a facility's own board).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

ROOT_ENV = "PEAKNET_BENCH_ROOT"

# shipped folder -> its place in a repository root
_IN_ROOT = {"models": ("baselines", "models"), "datasets": ("datasets",), "leaderboard": ("leaderboard",)}

DEFAULT_MODEL_NAME = "ref-student.safetensors"  # the reference student: quickstart's and make demo's model


def shipped_path(folder: str, *parts: str) -> Path:
    """A shipped file or folder: `folder` is "models", "datasets" or "leaderboard"."""
    if folder not in _IN_ROOT:
        raise ValueError(f"unknown shipped folder {folder!r}; expected one of {sorted(_IN_ROOT)}")
    root = os.environ.get(ROOT_ENV)
    if root:
        return Path(root, *_IN_ROOT[folder], *parts)
    base = Path(str(resources.files("peaknet_bench").joinpath("shipped", folder)))
    return base.resolve().joinpath(*parts)


def default_model() -> Path:
    """The shipped reference student's weights."""
    return shipped_path("models", DEFAULT_MODEL_NAME)
