"""pytest plugin: the `peaknet_regression` fixture.

One test evaluates a method on a leaderboard benchmark and fails (with the comparison table)
if it regresses against a chosen entry::

    def test_my_model_does_not_regress(peaknet_regression):
        method = model_method("runs/exp7/best.safetensors")     # or pf8_method(...), or any PeakFinder
        peaknet_regression(method, against="pf8-tuned")

The candidate is evaluated on the entry's benchmark frames with the entry's indexer, hit
threshold (`min_peaks`) and match radius, so the two results differ only by the method;
the comparison is paired frame by frame (see `peaknet_bench.leaderboard.regress`).

Options: ``--peaknet-board DIR`` (leaderboard folder; default the repository's),
``--peaknet-tolerances TOL.yaml`` (per-metric tolerances), ``--peaknet-results-dir DIR``
(keep each candidate's results file, e.g. as a CI artefact).
Registered through the ``pytest11`` entry point ``peaknet_regression``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("peaknet-regression", "peaknet-bench regression testing")
    group.addoption("--peaknet-board", default=None, help="leaderboard folder with the baseline entries "
                    "(default: the peaknet-bench repository's leaderboard/)")
    group.addoption("--peaknet-tolerances", default=None, help="per-metric tolerance YAML (default: the shipped one)")
    group.addoption("--peaknet-results-dir", default=None, help="write each candidate's results JSON here")


class RegressionChecker:
    """Callable behind the fixture: evaluate (if needed), compare, fail on a regression."""

    def __init__(self, board: str | os.PathLike | None = None, tolerances: str | os.PathLike | None = None,
                 results_dir: str | os.PathLike | None = None, test_name: str = "candidate") -> None:
        from peaknet_bench.leaderboard.schema import BOARD_DIR

        self.board = Path(board) if board else BOARD_DIR
        self.tolerances = tolerances
        self.results_dir = Path(results_dir) if results_dir else None
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)

    def baseline(self, against: Any):
        """(Results, entry or None) of `against`: an entry id, a results/submission path or Results."""
        from peaknet_bench.evaluate.results import Results
        from peaknet_bench.leaderboard.schema import load_results_or_submission
        from peaknet_bench.leaderboard.validate import find_entry

        if isinstance(against, Results):
            return against, None
        if Path(str(against)).is_file():
            return load_results_or_submission(against)[0], None
        entry = find_entry(self.board, str(against))
        return entry.results, entry

    def evaluate(self, method: Any, entry, n_boot: int = 2000):
        """Evaluate `method` (MethodSpec or PeakFinder) on `entry`'s benchmark with its settings."""
        from peaknet_bench.evaluate.harness import EvalConfig, evaluate
        from peaknet_bench.evaluate.methods import MethodSpec, cxi_peaks_method
        from peaknet_bench.leaderboard.benchmarks import frame_source, load_registry
        from peaknet_bench.leaderboard.predict import write_predictions
        from peaknet_bench.leaderboard.validate import _indexer_options

        bench_ref = entry.submission.entry.dataset
        bench = load_registry(self.board).find(bench_ref.name, bench_ref.version, bench_ref.split)
        if bench is None:
            raise pytest.UsageError(f"benchmark {entry.submission.benchmark_key} of entry {entry.id} is not registered")
        source = frame_source(bench, self.board)
        b = entry.submission.results
        config = EvalConfig(min_peaks=b.min_peaks, match_radius_px=b.match_radius_px, indexer=b.indexer.name,
                            indexer_options=_indexer_options(b.indexer), n_boot=n_boot, show_progress=False)
        if isinstance(method, MethodSpec):
            return evaluate(method, source, config)
        with tempfile.TemporaryDirectory(prefix="peaknet-regress-") as tmp:
            path = Path(tmp) / "peaks.cxi"
            write_predictions(method, source, path, show_progress=False)
            return evaluate(cxi_peaks_method(path, getattr(method, "name", type(method).__name__)), source, config)

    def __call__(self, candidate: Any, against: Any, *, tolerance_file: str | os.PathLike | None = None,
                 fail: bool = True):
        """Compare `candidate` (Results, results path, MethodSpec or PeakFinder) with `against`;
        `pytest.fail` with the table on a regression (unless fail=False). Returns the report."""
        from peaknet_bench.evaluate.results import Results, write_results
        from peaknet_bench.leaderboard.regress import compare, load_tolerances
        from peaknet_bench.leaderboard.schema import load_results_or_submission

        baseline, entry = self.baseline(against)
        if isinstance(candidate, Results):
            results = candidate
        elif isinstance(candidate, (str, os.PathLike)):
            results = load_results_or_submission(candidate)[0]
        else:
            if entry is None:
                raise pytest.UsageError("evaluating a method needs a leaderboard entry as `against` "
                                        "(it names the benchmark frames and the settings)")
            results = self.evaluate(candidate, entry)
        if self.results_dir is not None:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            write_results(results, self.results_dir / f"{self.test_name}.json")
        report = compare(results, baseline, load_tolerances(tolerance_file or self.tolerances))
        if fail and not report.ok:
            pytest.fail(f"regression against {against}:\n{report.table()}", pytrace=False)
        return report


@pytest.fixture
def peaknet_regression(request: pytest.FixtureRequest) -> RegressionChecker:
    """Callable `peaknet_regression(candidate, against=ENTRY)`: fails the test on a regression."""
    opt = request.config.getoption
    return RegressionChecker(opt("--peaknet-board", None), opt("--peaknet-tolerances", None),
                             opt("--peaknet-results-dir", None), request.node.name)
