"""The leaderboard: submission schema, validation (with metric recomputation), rendering and
regression testing against baselines. Names load on first use (`import peaknet_bench.leaderboard`
stays light and `python -m peaknet_bench.leaderboard.schema` runs cleanly)."""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Submission": "peaknet_bench.leaderboard.schema",
    "load_submission": "peaknet_bench.leaderboard.schema",
    "load_results_or_submission": "peaknet_bench.leaderboard.schema",
    "validate_submission": "peaknet_bench.leaderboard.validate",
    "load_entries": "peaknet_bench.leaderboard.validate",
    "compare": "peaknet_bench.leaderboard.regress",
    "load_tolerances": "peaknet_bench.leaderboard.regress",
    "RegressionReport": "peaknet_bench.leaderboard.regress",
    "render_board": "peaknet_bench.leaderboard.render",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'peaknet_bench.leaderboard' has no attribute {name!r}")
