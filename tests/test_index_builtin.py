"""The built-in still indexer (SPEC-physics §7) on synthetic peak lists.

Peak lists come straight from `predict_reflections` (+ 0.3 px noise, 20 % spurious peaks,
profile radius up to 0.002 Å⁻¹), no images are rendered. Counts are kept small for CI;
`benchmarks/index_acceptance.py` measures the targets on ≥ 200 frames per cell.
"""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.crystal import Crystal, UnitCell, random_rotation
from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import preset
from peaknet_bench.index import BuiltinConfig, BuiltinIndexer, compare_lattices, index_frames
from synthetic_peaks import SyntheticPeaksConfig, noise_like, score_results, synthetic_frame

ENERGY = 9500.0
CELLS = {
    "lysozyme P43212": UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 43 21 2"),
    "thermolysin P6122": UnitCell(94.0, 94.0, 131.0, 90, 90, 120, "hexagonal", unique_axis="c", space_group="P 61 2 2"),
    "paper orthorhombic": UnitCell(40.07, 70.90, 91.10, 90, 90, 90, "orthorhombic"),
    "monoclinic P21": UnitCell(61.2, 38.5, 72.3, 90, 106.5, 90, "monoclinic", unique_axis="b", space_group="P 1 21 1"),
    "130 A axis": UnitCell(45.0, 62.0, 130.0, 90, 90, 90, "orthorhombic", space_group="P 21 21 21"),
}
N_FRAMES = 10


@pytest.fixture(scope="module")
def geometry():
    return preset("epix10k2m")


@pytest.mark.parametrize("name", list(CELLS))
def test_indexes_cells_correctly(name, geometry):
    cell = CELLS[name]
    indexer = BuiltinIndexer(cell)
    rng = np.random.default_rng(sum(map(ord, name)))
    scores = []
    for _ in range(N_FRAMES):
        frame = synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(15, 100)))
        results = indexer.index(frame.peaks, geometry, ENERGY)
        scores.append(score_results(results, frame, geometry, ENERGY))
    assert sum(s.n_wrong for s in scores) == 0, "a wrong lattice was accepted"
    assert sum(s.correct for s in scores) >= N_FRAMES - 1
    rmsd = np.sqrt(np.concatenate([s.prediction_sq_px for s in scores]).mean())
    assert rmsd < 0.5, f"prediction RMSD {rmsd:.3f} px"


def test_result_fields_are_consistent(geometry):
    cell = CELLS["paper orthorhombic"]
    frame = synthetic_frame(cell, geometry, ENERGY, np.random.default_rng(11), SyntheticPeaksConfig(n_true=(60, 60)))
    (result,) = BuiltinIndexer(cell).index(frame.peaks, geometry, ENERGY)
    assert result.n_peaks == len(frame.peaks)
    assert result.n_inliers >= 0.5 * len(frame.peaks)
    assert (frame.lattice[result.peak_indices] == 0).mean() > 0.95  # spurious peaks only by coincidence
    q = geometry.q_vectors(frame.peaks.fs, frame.peaks.ss, 12398.42 / ENERGY, frame.peaks.panel)[result.peak_indices]
    frac = q @ result.crystal.real_basis().T
    assert np.abs(frac - result.hkl).max() < 0.5
    assert result.rms_residual < 0.1 / 40.07 and 0 < result.profile_radius < 0.005
    assert result.rms_px < 1.0
    # refined cell within the allowed 5 % / 3° of the target, symmetry labels kept
    params, target = np.array(result.cell.parameters), np.array(cell.parameters)
    assert np.all(np.abs(params[:3] / target[:3] - 1) <= 0.05) and np.all(np.abs(params[3:] - target[3:]) <= 3)
    assert result.cell.lattice_type == "orthorhombic" and result.crystal.cell is cell


def test_two_lattice_frames(geometry):
    cell = CELLS["lysozyme P43212"]
    indexer = BuiltinIndexer(cell, BuiltinConfig(max_lattices=2))
    rng = np.random.default_rng(2)
    both = 0
    for _ in range(6):
        frame = synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(40, 80), n_lattices=2))
        score = score_results(indexer.index(frame.peaks, geometry, ENERGY), frame, geometry, ENERGY)
        assert score.n_wrong == 0
        both += score.n_correct == 2
    assert both >= 5


def test_single_lattice_mode_finds_one(geometry):
    cell = CELLS["paper orthorhombic"]
    frame = synthetic_frame(cell, geometry, ENERGY, np.random.default_rng(4), SyntheticPeaksConfig(n_true=(50, 50)))
    assert len(BuiltinIndexer(cell, BuiltinConfig(max_lattices=1)).index(frame.peaks, geometry, ENERGY)) == 1


def test_noise_only_is_rejected(geometry):
    rng = np.random.default_rng(5)
    accepted = 0
    for name in ("lysozyme P43212", "130 A axis"):
        cell = CELLS[name]
        indexer = BuiltinIndexer(cell)
        for _ in range(15):
            frame = synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(15, 120)))
            noise = noise_like(frame.peaks, geometry, ENERGY, rng)
            assert len(noise) > 0.9 * len(frame.peaks)
            accepted += bool(indexer.index(noise, geometry, ENERGY))
    assert accepted == 0


def test_acceptance_rule_is_applied(geometry):
    cell = CELLS["paper orthorhombic"]
    frame = synthetic_frame(cell, geometry, ENERGY, np.random.default_rng(6),
                            SyntheticPeaksConfig(n_true=(40, 40), spurious_fraction=0.5))
    assert BuiltinIndexer(cell).index(frame.peaks, geometry, ENERGY)
    # two thirds of the peaks are real: demanding 90 % explained must fail
    strict = BuiltinIndexer(cell, BuiltinConfig(min_fraction=0.9, max_lattices=1))
    assert strict.index(frame.peaks, geometry, ENERGY) == []


def test_wrong_cell_is_not_indexed(geometry):
    true_cell = CELLS["paper orthorhombic"]
    other = UnitCell(52.0, 58.0, 83.0, 90, 90, 90, "orthorhombic")
    rng = np.random.default_rng(7)
    indexer = BuiltinIndexer(other)
    for _ in range(4):
        frame = synthetic_frame(true_cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(60, 100)))
        assert indexer.index(frame.peaks, geometry, ENERGY) == []


def _peaks(fs, ss, panel=None) -> PeakList:
    fs = np.asarray(fs, float)
    return PeakList(fs=fs, ss=np.asarray(ss, float), panel=np.full(fs.size, -1) if panel is None else panel,
                    intensity=np.ones(fs.size))


@pytest.mark.parametrize(
    "peaks",
    [
        PeakList.empty(),
        _peaks([10.0, 20.0], [30.0, 40.0]),  # fewer than 3 peaks
        _peaks(np.full(30, -500.0), np.linspace(0, 100, 30)),  # off every panel
        _peaks(np.full(30, np.nan), np.full(30, np.nan)),  # not numbers
        _peaks(np.full(30, 100.0), np.full(30, 100.0)),  # one position repeated
        _peaks(100.0 + np.linspace(0, 0.07, 30), 100.0 + np.linspace(0.07, 0, 30)),  # 30 positions within 0.1 px
        _peaks(np.tile([20.0, 60.0, 110.0, 150.0, 170.0], 10), np.tile([30.0, 90.0, 45.0, 160.0, 12.0], 10)),  # 5 peaks × 10
        _peaks(np.linspace(5, 180, 30), np.full(30, 50.0)),  # collinear on one ASIC
    ],
    ids=["empty", "two-peaks", "off-panels", "nan", "repeated", "near-coincident", "few-distinct-copied", "collinear"],
)
def test_bad_input_is_not_indexed(peaks, geometry):
    assert BuiltinIndexer(CELLS["lysozyme P43212"]).index(peaks, geometry, ENERGY) == []


def test_copies_of_peaks_count_once(geometry):
    """Every peak of an indexable frame sent twice (and once more 0.3 px away): the same
    lattice, explained by the same number of distinct peaks, out of the same total."""
    from peaknet_bench.index import distinct_peaks

    cell = CELLS["lysozyme P43212"]
    indexer = BuiltinIndexer(cell)
    frame = synthetic_frame(cell, geometry, ENERGY, np.random.default_rng(5), SyntheticPeaksConfig(n_true=(60, 80)))
    once = indexer.index(frame.peaks, geometry, ENERGY)
    assert once
    p = frame.peaks
    shifted = PeakList(fs=p.fs + 0.3, ss=p.ss, panel=p.panel, intensity=p.intensity * 0.5)
    copied = PeakList.concatenate([p, p, shifted])
    assert distinct_peaks(copied, 1.0).size == len(p)
    thrice = indexer.index(copied, geometry, ENERGY)
    assert len(thrice) == len(once)
    assert thrice[0].n_peaks == once[0].n_peaks == len(p)
    assert thrice[0].n_inliers == once[0].n_inliers
    assert np.all(thrice[0].peak_indices < len(p))  # the brighter originals represent their copies
    assert compare_lattices(thrice[0].crystal.real_basis(), once[0].crystal.real_basis()).misorientation_deg < 0.01


def test_bad_photon_energy_is_an_input_error(geometry):
    from peaknet_bench.errors import InputError

    with pytest.raises(InputError, match="photon"):
        BuiltinIndexer(CELLS["lysozyme P43212"]).index(_peaks([10.0] * 5, [20.0] * 5), geometry, 0.0)


@pytest.mark.parametrize(
    "cell",
    [
        UnitCell(105.0, 58.0, 66.0, 90, 112.0, 90, "monoclinic", "C", "b", space_group="C 1 2 1"),
        UnitCell(78.0, 78.0, 78.0, 90, 90, 90, "cubic", "I", space_group="I 2 3"),
        UnitCell(35.0, 42.0, 51.0, 77.0, 86.0, 101.0),
    ],
    ids=["C2", "I23", "triclinic"],
)
def test_centred_cubic_and_triclinic_cells(cell, geometry):
    indexer = BuiltinIndexer(cell)
    rng = np.random.default_rng(13)
    for _ in range(4):
        frame = synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(30, 90)))
        assert score_results(indexer.index(frame.peaks, geometry, ENERGY), frame, geometry, ENERGY).correct


def test_unknown_panels_are_filled_in(geometry):
    cell = CELLS["lysozyme P43212"]
    frame = synthetic_frame(cell, geometry, ENERGY, np.random.default_rng(8), SyntheticPeaksConfig(n_true=(60, 60)))
    peaks = frame.peaks.subset(np.arange(len(frame.peaks)))
    peaks.panel[:] = -1
    (result,) = BuiltinIndexer(cell).index(peaks, geometry, ENERGY)
    assert compare_lattices(result.crystal.real_basis(), frame.crystals[0].real_basis()).is_match()


def test_other_detector_and_camera_length():
    geometry = preset("rayonix-mx340-4x4")
    cell = CELLS["paper orthorhombic"]
    rng = np.random.default_rng(9)
    indexer = BuiltinIndexer(cell)
    for _ in range(3):
        frame = synthetic_frame(cell, geometry, 12000.0, rng, SyntheticPeaksConfig(n_true=(40, 80)), clen_m=0.2)
        score = score_results(indexer.index(frame.peaks, geometry, 12000.0, clen_m=0.2), frame, geometry, 12000.0, 0.2)
        assert score.correct


def test_index_frames_in_process_matches_single_calls(geometry):
    cell = CELLS["paper orthorhombic"]
    rng = np.random.default_rng(10)
    frames = [synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(30, 60))) for _ in range(3)]
    indexer = BuiltinIndexer(cell)
    batch = index_frames([f.peaks for f in frames], geometry, ENERGY, indexer, show_progress=False)
    for f, got in zip(frames, batch):
        single = indexer.index(f.peaks, geometry, ENERGY)
        assert len(got) == len(single) == 1
        np.testing.assert_allclose(got[0].crystal.astar, single[0].crystal.astar)


@pytest.mark.slow
def test_index_frames_with_ray(geometry, ray_session):
    cell = CELLS["paper orthorhombic"]
    rng = np.random.default_rng(12)
    frames = [synthetic_frame(cell, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(30, 60))) for _ in range(4)]
    peak_lists = [f.peaks for f in frames] + [PeakList.empty()]
    results = index_frames(peak_lists, geometry, [ENERGY] * 5, BuiltinIndexer(cell), workers=2, chunk_size=2,
                           min_frames_for_ray=1, show_progress=False)
    assert len(results) == 5 and results[4] == []
    for f, r in zip(frames, results):
        assert score_results(r, f, geometry, ENERGY).correct


def test_compare_lattices_integer_matrix():
    cell = CELLS["monoclinic P21"]
    rot = random_rotation(np.random.default_rng(0))
    true = Crystal.from_cell(cell, rot).real_basis()
    m = np.array([[0, 0, 1], [0, -1, 0], [1, 0, 0]])  # a ↔ c swap, b inverted: another right-handed setting
    match = compare_lattices(m @ true, true)
    assert match.is_match() and np.array_equal(match.matrix, m) and match.misorientation_deg < 1e-6
    angle = np.radians(1.0)
    small = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    off = compare_lattices(true @ small.T, true)
    assert not off.is_match() and abs(off.misorientation_deg - 1.0) < 0.05
    assert not compare_lattices(true * np.array([[1.5], [1], [1]]), true).is_match()


def test_compare_lattices_left_handed_choice_is_the_same_orientation():
    from peaknet_bench.index import compare_lattices

    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    true = np.diag([40.0, 70.0, 91.0]) @ q.T
    left = true * np.array([[1.0], [1.0], [-1.0]])  # a, b, −c: det M = −1
    m = compare_lattices(left, true)
    assert m.determinant == -1
    # An exact match: the angle comes from sin θ at full relative precision, so rounding in
    # the products leaves ~1e-14°; 1e-9° holds on every CPU with orders of magnitude to spare.
    assert m.misorientation_deg < 1e-9
    assert m.is_match()
