"""Metric definitions on hand-built outcomes with known answers."""

import numpy as np
import pytest

from peaknet_bench.evaluate.metrics import FrameOutcome, bootstrap_rate_ci, cell_statistics, rates, truth_metrics


def _o(n, hit, indexed=False, cells=(), **kw):
    return FrameOutcome(event=f"//{n}", n_peaks=n, hit=hit, indexed=indexed, cells=list(cells), **kw)


def test_rates_known_answer():
    outs = [_o(20, True, True), _o(30, True, False), _o(12, True, True), _o(3, False), _o(0, False)]
    r = rates(outs)
    assert r["hit_rate"] == pytest.approx(3 / 5)
    assert r["indexing_rate"] == pytest.approx(2 / 3)
    assert r["indexing_yield"] == pytest.approx(2 / 5)
    assert r["indexing_yield"] == pytest.approx(r["hit_rate"] * r["indexing_rate"])


def test_empty_run_gives_zero_rates_not_errors():
    r = rates([])
    assert r == {"n_frames": 0, "n_hits": 0, "n_indexed": 0, "hit_rate": 0.0, "indexing_rate": 0.0, "indexing_yield": 0.0}
    assert cell_statistics([])["a"]["n"] == 0
    assert truth_metrics([_o(5, False)]) is None


def test_cell_statistics():
    cells = [(40.0, 70.0, 91.0, 90.0, 90.0, 90.0), (42.0, 71.0, 91.2, 90.2, 89.8, 90.0)]
    s = cell_statistics([_o(20, True, True, cells[:1]), _o(20, True, True, cells[1:]), _o(20, True, False)])
    assert s["a"]["mean"] == pytest.approx(41.0)
    assert s["a"]["sd"] == pytest.approx(np.std([40.0, 42.0], ddof=1))
    assert s["gamma"]["sd"] == 0.0
    assert s["c"]["n"] == 2


def test_truth_metrics_pooled():
    outs = [
        _o(10, True, True, blank=False, n_foundable=20, n_matched=8, correct_orientation=True),
        _o(5, False, blank=False, n_foundable=10, n_matched=5),
        _o(12, True, True, blank=True, n_foundable=0, n_matched=0, correct_orientation=False),
        _o(1, False, blank=True, n_foundable=0, n_matched=0),
    ]
    t = truth_metrics(outs)
    assert t["peak_precision"] == pytest.approx(13 / 28)
    assert t["peak_recall"] == pytest.approx(13 / 30)
    assert t["peak_f1"] == pytest.approx(2 * (13 / 28) * (13 / 30) / (13 / 28 + 13 / 30))
    assert t["false_hit_rate"] == pytest.approx(0.5)
    assert t["correct_orientation_rate"] == pytest.approx(0.5)
    assert t["n_wrong_orientation"] == 1


def test_bootstrap_interval_covers_the_truth_most_of_the_time():
    rng = np.random.default_rng(0)
    p, covered = 0.37, 0
    for trial in range(100):
        x = rng.random(300) < p
        est, lo, hi = bootstrap_rate_ci(x, n_boot=400, seed=trial)
        covered += lo <= p <= hi
        assert lo <= est <= hi
    assert 88 <= covered <= 100  # nominal 95 %


def test_joint_bootstrap_matches_single_rates_and_is_seeded():
    from peaknet_bench.evaluate.metrics import bootstrap_rates_ci

    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, size=(200, 2)).astype(float)
    t = s + rng.integers(0, 5, size=(200, 2))
    joint = bootstrap_rates_ci(s, t, n_boot=300, seed=7)
    # Same resamples whatever the number of rates: each column equals its own single-rate interval.
    assert joint[0] == bootstrap_rate_ci(s[:, 0], t[:, 0], n_boot=300, seed=7)
    assert joint[1] == bootstrap_rates_ci(s[:, 1:], t[:, 1:], n_boot=300, seed=7)[0]
    assert joint[0][0] == pytest.approx(s[:, 0].sum() / t[:, 0].sum())
    assert bootstrap_rates_ci(np.zeros((0, 3)), np.zeros((0, 3))) == [(0.0, 0.0, 0.0)] * 3
    assert bootstrap_rate_ci(np.zeros(5), np.zeros(5)) == (0.0, 0.0, 0.0)  # no trials at all
