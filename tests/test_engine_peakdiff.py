"""PeakDiff on hand-built peak sets: known matches, ties, the distance cut-off, empty sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.engine.peakdiff import PeakDiffConfig, RunSummary, match_points, peakdiff
from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import Assembler, preset


def peaks(fs, ss, panel=None) -> PeakList:
    fs = np.asarray(fs, float)
    panel = np.zeros(fs.size, int) if panel is None else panel
    return PeakList(fs=fs, ss=np.asarray(ss, float), panel=panel, intensity=np.ones(fs.size))


def test_known_matches_and_rates():
    found = peaks([10, 50, 100, 200], [10, 50, 100, 200])
    pred = peaks([10.5, 50, 300, 100.2, 400, 500], [10, 51, 300, 99.9, 400, 500])
    m = peakdiff(found, pred, PeakDiffConfig(max_distance=2.0))
    assert m.found_index.tolist() == [0, 1, 2]
    assert m.predicted_index.tolist() == [0, 1, 3]
    np.testing.assert_allclose(m.distance, [0.5, 1.0, np.hypot(0.2, 0.1)])
    assert m.precision == pytest.approx(3 / 4)
    assert m.recall == pytest.approx(3 / 6)
    assert m.matched_found().tolist() == [True, True, True, False]


def test_assignment_is_global_not_greedy():
    # Greedy nearest-first would pair a0-b0 (0.9) and leave a1 alone; the optimum pairs both.
    a = np.array([[0.0, 0.0], [0.0, 1.8]])
    b = np.array([[0.0, 0.9], [0.0, -1.0]])
    ia, ib, d = match_points(a, b, 2.0)
    assert ia.tolist() == [0, 1] and ib.tolist() == [1, 0]
    np.testing.assert_allclose(d, [1.0, 0.9])


def test_cardinality_first_then_distance():
    # a0 is close to b0; a1 can only reach b0. Two matches beat one shorter match.
    a = np.array([[0.0, 0.0], [0.0, 2.5]])
    b = np.array([[0.0, 1.4], [0.0, -1.5]])
    ia, ib, _ = match_points(a, b, 1.6)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(0, 1), (1, 0)]


@pytest.mark.determinism
def test_ties_are_one_to_one_and_deterministic():
    a = np.array([[0.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0]])
    first = match_points(a, b, 1.5)
    assert first[0].tolist() == [0] and first[2].tolist() == [1.0]
    for _ in range(3):
        again = match_points(a, b, 1.5)
        assert again[1].tolist() == first[1].tolist()
    # Two found peaks equidistant from one prediction: exactly one match.
    ia, ib, _ = match_points(b, a, 1.5)
    assert ia.size == 1 and ib.tolist() == [0]


def test_distance_cutoff_is_inclusive_and_strict_beyond():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    b = np.array([[0.0, 3.0], [10.0, 3.0001]])
    ia, ib, _ = match_points(a, b, 3.0)
    assert ia.tolist() == [0] and ib.tolist() == [0]


def test_empty_sets():
    some = peaks([1, 2], [1, 2])
    none = PeakList.empty()
    m = peakdiff(none, some)
    assert m.n_matched == 0 and np.isnan(m.precision) and m.recall == 0.0
    m = peakdiff(some, none)
    assert m.precision == 0.0 and np.isnan(m.recall)
    m = peakdiff(none, none)
    assert np.isnan(m.precision) and np.isnan(m.recall)


def test_slab_space_never_matches_across_panels():
    found = peaks([5.0], [5.0], panel=np.array([0]))
    pred = peaks([5.5], [5.0], panel=np.array([1]))
    assert peakdiff(found, pred).n_matched == 0
    unknown = peaks([5.5], [5.0], panel=np.array([-1]))
    assert peakdiff(found, unknown).n_matched == 1


def test_lab_space_matches_across_a_panel_border():
    geom = preset("epix10k2m")
    asm = Assembler(geom)
    # Last fs pixel of ASIC a0 and first of a1 (same module, same row): neighbours in the lab,
    # but on different panels, so slab-space matching must refuse them.
    p0, p1 = geom.panels[0], geom.panels[1]
    found = peaks([p0.max_fs], [p0.min_ss + 50], panel=np.array([0]))
    pred = peaks([p1.min_fs], [p1.min_ss + 50], panel=np.array([1]))
    lab = peakdiff(found, pred, PeakDiffConfig(max_distance=5.0, space="lab"), assembler=asm)
    assert lab.n_matched == 1
    assert lab.distance[0] == pytest.approx(4.0)  # 195-px ASIC pitch: 3 gap pixels + 1
    assert peakdiff(found, pred, PeakDiffConfig(max_distance=5.0)).n_matched == 0
    with pytest.raises(InputError):
        peakdiff(found, pred, PeakDiffConfig(space="lab"))


def test_large_random_sets_match_dense_assignment(rng):
    from scipy.optimize import linear_sum_assignment

    a = rng.uniform(0, 200, (300, 2))
    b = a[rng.permutation(300)[:200]] + rng.normal(0, 0.8, (200, 2))
    b = np.vstack([b, rng.uniform(0, 200, (100, 2))])
    cut = 2.0
    ia, ib, d = match_points(a, b, cut)
    # Dense reference: big cost beyond the cut on the full matrix.
    dist = np.linalg.norm(a[:, None] - b[None], axis=-1)
    big = cut * 301 + 1
    cost = np.where(dist <= cut, dist, big)
    r, c = linear_sum_assignment(cost)
    real = cost[r, c] < big
    assert ia.size == real.sum()
    assert d.sum() == pytest.approx(cost[r[real], c[real]].sum())
    assert len(set(ia.tolist())) == ia.size and len(set(ib.tolist())) == ib.size
    assert np.all(d <= cut)


def test_run_summary_ignores_nan():
    ms = [
        peakdiff(peaks([1, 2], [1, 2]), peaks([1, 9], [1, 9])),
        peakdiff(PeakList.empty(), peaks([1], [1])),
    ]
    s = RunSummary.from_matches(ms)
    assert s.precision[0] == 0.5 and np.isnan(s.precision[1])
    assert s.stats["precision_mean"] == 0.5
    assert s.stats["recall_mean"] == pytest.approx(0.25)
    assert s.stats["matched_total"] == 1
    counts, _ = s.histogram("precision", bins=2)
    assert counts.sum() == 1


def test_config_validation():
    with pytest.raises(InputError):
        PeakDiffConfig(max_distance=0)
    with pytest.raises(InputError):
        PeakDiffConfig(space="polar")


def test_figure_plots(tmp_path):
    from peaknet_bench.engine.plots import plot_counts_and_pr, plot_frame_matches
    from synthetic_windows import SyntheticRun, small_geometry

    src = SyntheticRun(small_geometry(), seed=2)
    frame = src.frame(0)
    found = src.found(frame, 0)
    pred = src.predicted(frame, 0, found)
    m = peakdiff(found, pred)
    path = plot_frame_matches(frame, found, pred, m, tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").stat().st_size > 1000 and path.endswith("fig2.png")
    paths = plot_counts_and_pr(np.array([20, 5]), np.array([30, 40]), np.array([0.9, np.nan]),
                               np.array([0.6, np.nan]), np.array([True, False]), tmp_path)
    assert all(Path(p).exists() for p in paths)
