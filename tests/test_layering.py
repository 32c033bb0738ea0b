"""The package's shape, checked: the layering of docs/CONTRIBUTING.md (import-linter contracts in
pyproject.toml), names that explain themselves (no class name defined in two places), and
test-only helpers kept under tests/."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "peaknet_bench"


def _lint_imports() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the test extras (pip install -e '.[test]')")
    return [found]


def test_import_contracts_hold():
    r = subprocess.run([*_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def _top_level_classes() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        if "shipped" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(REPO)))
    return where


def test_no_class_name_is_defined_twice():
    twice = {name: paths for name, paths in _top_level_classes().items() if len(paths) > 1}
    assert not twice, f"one name, several meanings: {twice}"


def test_test_helpers_live_under_tests():
    # train/synthetic.py stays: it is the trainer's `data.synthetic` option, a product feature.
    shipped_helpers = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")
                             if p.name in ("synthetic.py", "testing.py") and "train" not in p.parts)
    assert not shipped_helpers, f"test-only helpers inside the package: {shipped_helpers}"
