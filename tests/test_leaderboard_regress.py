"""Regression testing: bootstrap coverage, a degraded method is caught, the same method is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.harness import EvalConfig, evaluate
from peaknet_bench.evaluate.methods import pf8_method
from peaknet_bench.evaluate.metrics import bootstrap_rate_ci
from peaknet_bench.evaluate.results import write_results
from peaknet_bench.leaderboard.benchmarks import frame_source, load_registry
from peaknet_bench.leaderboard.predict import write_predictions
from peaknet_bench.leaderboard.pytest_plugin import RegressionChecker, peaknet_regression  # noqa: F401  (fixture)
from peaknet_bench.leaderboard.regress import (
    compare,
    frame_rates,
    load_tolerances,
    MetricTolerance,
    paired_bootstrap_diff,
    unpaired_bootstrap_diff,
    verdict,
)
from tiny_board import make_tiny_board
from peaknet_bench.leaderboard.validate import ValidationConfig, add_entry, make_submission, validate_submission
from peaknet_bench.peakfind import Peakfinder8Params

FAST = EvalConfig(n_boot=200, show_progress=False)
GOOD = pf8_method(Peakfinder8Params(threshold=30.0, min_snr=5.0), name="pf8-good")
# A much higher threshold: only the brightest spots survive, most frames fall below min_peaks.
DEGRADED = pf8_method(Peakfinder8Params(threshold=3000.0, min_snr=5.0), name="pf8-degraded")


# ------------------------------------------------------------------ statistics (simulation)
def test_bootstrap_rate_interval_covers_the_true_rate():
    rng = np.random.default_rng(11)
    p, n, reps = 0.3, 150, 300
    cover = 0
    for k in range(reps):
        _, lo, hi = bootstrap_rate_ci(rng.random(n) < p, n_boot=400, seed=k)
        cover += lo <= p <= hi
    assert 0.90 <= cover / reps <= 0.99  # nominal 0.95; binomial sd over 300 reps ≈ 0.013


def test_paired_difference_interval_covers_the_true_difference_and_is_tighter():
    """Two methods on the same frames: B finds what A finds plus a bit more (correlated)."""
    rng = np.random.default_rng(12)
    n, reps, p_a, extra = 150, 300, 0.5, 0.2  # true P(B) = 0.5 + 0.5·0.2 = 0.6
    truth = p_a + (1 - p_a) * extra - p_a
    cover, widths_paired, widths_unpaired = 0, [], []
    ones = np.ones(n)
    for k in range(reps):
        a = rng.random(n) < p_a
        b = a | (rng.random(n) < extra)
        d, lo, hi = paired_bootstrap_diff(b, ones, a, ones, n_boot=400, seed=k)
        cover += lo <= truth <= hi
        widths_paired.append(hi - lo)
        if k < 30:
            _, ulo, uhi = unpaired_bootstrap_diff(b, ones, a, ones, n_boot=400, seed=k)
            widths_unpaired.append(uhi - ulo)
    assert 0.90 <= cover / reps <= 0.99
    assert np.mean(widths_paired) < 0.8 * np.mean(widths_unpaired)


def _regression_rate(rng, n: int, reps: int, level: float, drop: float) -> float:
    """How often `regress`'s rule flags a candidate whose yield is `drop` below a baseline's
    `level`, on n shared frames (a frame's difficulty is shared by both methods)."""
    tol = MetricTolerance(direction="higher", abs=0.02)
    ones = np.ones(n)
    hits = 0
    for k in range(reps):
        easy = rng.random(n)
        base = easy < level + 0.1 * (rng.random(n) - 0.5)
        cand = easy < level - drop + 0.1 * (rng.random(n) - 0.5)
        d, lo, hi = paired_bootstrap_diff(cand, ones, base, ones, n_boot=300, seed=k)
        hits += verdict(d, lo, hi, tol, tol.allowed_drop(base.mean())) == "REGRESSION"
    return hits / reps


def test_the_rule_rarely_flags_equal_methods_and_catches_a_real_drop():
    """Simulated per-frame outcomes of two methods on the same 120 frames."""
    rng = np.random.default_rng(13)
    assert _regression_rate(rng, 120, 150, 0.6, 0.0) <= 0.05  # one-sided 97.5 %: about 2.5 % false alarms
    assert _regression_rate(rng, 120, 150, 0.6, 0.15) >= 0.9  # a 15-point drop in yield is caught


def test_a_five_point_yield_drop_is_caught_on_a_benchmark_sized_split():
    """On a leaderboard benchmark (≥ 1080 frames, yields near 50 %), `regress` reports a
    5-point drop as a regression, paired over the shared frames, and not an equal method."""
    rng = np.random.default_rng(14)
    assert _regression_rate(rng, 1080, 40, 0.5, 0.05) >= 0.95
    assert _regression_rate(rng, 1080, 40, 0.5, 0.0) <= 0.05


def test_verdicts():
    up, down = MetricTolerance(direction="higher", abs=0.02), MetricTolerance(direction="lower", abs=0.02)
    assert verdict(0.01, -0.01, 0.03, up, 0.02) == "better"
    assert verdict(-0.01, -0.05, 0.01, up, 0.02) == "worse (within tolerance)"
    assert verdict(-0.10, -0.20, 0.01, up, 0.02) == "worse (not significant)"
    assert verdict(-0.10, -0.20, -0.01, up, 0.02) == "REGRESSION"
    assert verdict(0.10, 0.01, 0.20, down, 0.02) == "REGRESSION"  # lower is better: a rise regresses
    assert verdict(0.10, -0.01, 0.20, down, 0.02) == "worse (not significant)"
    assert verdict(-5.0, None, None, MetricTolerance(rel=0.5, significance=False, gate=False), 1.0) == "worse (not gated)"
    assert verdict(-5.0, None, None, MetricTolerance(rel=0.5, significance=False), 1.0) == "REGRESSION"


def test_paired_bootstrap_of_ratio_rates_handles_empty_denominators():
    s = np.array([0.0, 0.0, 1.0])
    t = np.array([0.0, 0.0, 1.0])
    d, lo, hi = paired_bootstrap_diff(s, t, np.zeros(3), np.zeros(3), n_boot=200)
    assert d == 1.0 and 0.0 <= lo <= hi <= 1.0
    assert paired_bootstrap_diff(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)) == (0.0, 0.0, 0.0)


# ------------------------------------------------------------------ on real evaluations
@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    return make_tiny_board(tmp_path_factory.mktemp("board"), n_frames=12, seed=5)


@pytest.fixture(scope="module")
def source(board):
    return frame_source(load_registry(board).benchmarks[0], board)


@pytest.fixture(scope="module")
def good(source):
    return evaluate(GOOD, source, FAST)


@pytest.fixture(scope="module")
def degraded(source):
    return evaluate(DEGRADED, source, FAST)


def test_frame_rates_pool_to_the_reported_metrics(good):
    rates = frame_rates(good)
    for name in ("hit_rate", "indexing_rate", "indexing_yield"):
        s, t, _ = rates[name]
        assert s.sum() / t.sum() == pytest.approx(getattr(good.metrics, name))
    for name in ("peak_precision", "peak_recall", "peak_f1"):
        s, t, _ = rates[name]
        assert s.sum() / t.sum() == pytest.approx(good.metrics.truth[name])


def test_a_degraded_method_is_caught(good, degraded):
    report = compare(degraded, good)
    assert not report.ok
    names = {r.metric for r in report.regressions}
    assert "indexing_yield" in names and "peak_recall" in names, report.table()
    y = next(r for r in report.rows if r.metric == "indexing_yield")
    assert y.delta < 0 and y.high < 0  # significant: the whole paired interval below zero
    assert "REGRESSION" in report.table()
    assert compare(good, degraded).ok  # the other way round it is an improvement


def test_tolerances_decide_and_a_user_file_overrides_the_defaults(good, degraded, tmp_path):
    lenient = tmp_path / "tol.yaml"
    lenient.write_text("metrics:\n" + "".join(
        f"  {m}: {{direction: higher, abs: 1.0}}\n" for m in
        ("hit_rate", "indexing_rate", "indexing_yield", "peak_precision", "peak_recall", "peak_f1",
         "correct_orientation_rate")))
    tol = load_tolerances(lenient)
    assert tol.metrics["false_hit_rate"].direction == "lower"  # default kept
    assert compare(degraded, good, tol).ok
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics:\n  hit_rate: {direction: sideways}\n")
    with pytest.raises(InputError, match="direction"):
        load_tolerances(bad)


def test_regress_cli_exits_non_zero_on_a_regression(good, degraded, tmp_path, capsys):
    write_results(good, tmp_path / "base.json")
    write_results(degraded, tmp_path / "cand.json")
    assert main(["regress", str(tmp_path / "cand.json"), "--against", str(tmp_path / "base.json")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "indexing_yield" in out and "95% CI" in out
    assert main(["regress", str(tmp_path / "base.json"), "--against", str(tmp_path / "base.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_same_method_passes_and_degraded_fails_through_the_pytest_fixture(board, source, good, tmp_path, peaknet_regression):
    pred = tmp_path / "good.cxi"
    write_predictions(GOOD, source, pred, show_progress=False)
    data = make_submission(json.loads(good.model_dump_json()), pred, authors=["A"], code_url="https://example.org",
                           benchmark=load_registry(board).benchmarks[0])
    rep = validate_submission(data, pred, board, ValidationConfig(recompute=False))
    assert rep.ok, rep.problems
    entry = add_entry(rep, pred, board)
    checker = RegressionChecker(board=board, results_dir=tmp_path / "out", test_name="t")
    # The same method evaluated again (a fresh run, not a copy) is not a regression.
    report = checker(GOOD, against=entry.name)
    assert report.ok and all(r.paired for r in report.rows if r.low is not None)
    assert all(r.status == "same" for r in report.rows if r.metric != "frames_per_second"), report.table()
    assert (tmp_path / "out" / "t.json").is_file()
    with pytest.raises(pytest.fail.Exception, match="REGRESSION"):
        checker(DEGRADED, against=entry.name)
    # Any PeakFinder object works too (evaluated through its peak lists).
    from peaknet_bench.evaluate.methods import build_finder

    finder = build_finder(GOOD, source.geometry)
    assert not checker(finder, against=entry.name, fail=False).regressions
    # The fixture itself, with the board given explicitly.
    peaknet_regression.board = board
    assert peaknet_regression(good, against=entry.name).ok
