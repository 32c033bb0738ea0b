"""The evaluation harness end to end on a tiny simulated experiment (one 200×200 panel)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from peaknet_bench.crystal import UnitCell
from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.frames import CXIFrames, SimulatedFrames
from peaknet_bench.evaluate.harness import EvalConfig, _orientation, evaluate, segmentation_metrics
from peaknet_bench.evaluate.methods import (
    MethodSpec,
    canonical_json,
    cxi_peaks_method,
    oracle_method,
    parse_method,
    pf8_method,
)
from peaknet_bench.evaluate.results import (
    SCHEMA_FILE,
    load_results,
    schema_json,
    write_results,
)
from peaknet_bench.geometry import Geometry, Panel, write_geom
from peaknet_bench.peakfind import Peakfinder8Params

CELL = [40.0, 50.0, 60.0, 90.0, 90.0, 90.0]
FAST = EvalConfig(n_boot=200, show_progress=False)


def tiny_experiment(folder: Path, n: int = 200, spot_photons: float = 3000.0, **background) -> Path:
    """A YAML experiment on one n×n panel at 4 cm: P212121 crystals (strong by default) on 70 % of shots."""
    folder.mkdir(parents=True, exist_ok=True)
    panel = Panel(name="p0", min_fs=0, max_fs=n - 1, min_ss=0, max_ss=n - 1, corner_x=-n / 2, corner_y=n / 2,
                  fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=5000.0, adu_per_photon=1.0, max_adu=1e7)
    write_geom(Geometry(panels=[panel], clen_m=0.04, photon_energy_ev=9500.0, source="tiny"), folder / "tiny.geom")
    data = {
        "name": "tiny-eval",
        "detector": {"geometry": "tiny.geom", "clen_m": 0.04, "adu_per_photon": 1.0, "max_adu": 1e7,
                     "read_noise_adu": 0.3, "dead_fraction": 0.0, "hot_fraction": 0.0, "bad_asics": 0,
                     "beamstop_radius_mm": 1.0, "beamstop_arm_width_mm": 0.0},
        "beam": {"photon_energy_ev": 9500.0, "bandwidth": 1e-3, "pulse_energy_jitter": 0.0},
        "crystal": {"cell": CELL, "space_group": "P 21 21 21", "intensities": "wilson", "b_factor": 10.0},
        "crystals": {"spot_photons": spot_photons, "size_um": {"median": 5.0, "sigma_log": 0.0},
                     "profile_radius": {"median": 0.001, "sigma_log": 0.0},
                     "fluence": {"median": 1.0, "sigma_log": 0.3}, "eta": 0.3},
        "run": {"n_frames": 10, "hit_fraction": 0.7, "multi_lattice_fraction": 0.0},
        "background": {"water_photons": 1.0, "diffuse_photons": 0.2, "air_photons": 0.0, "jitter_sigma_log": 0.0,
                       **background},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def exp_path(tmp_path_factory) -> Path:
    return tiny_experiment(tmp_path_factory.mktemp("exp"))


@pytest.fixture(scope="module")
def source(exp_path) -> SimulatedFrames:
    return SimulatedFrames(str(exp_path), seed=3, n_frames=8)


PF8 = pf8_method(Peakfinder8Params(threshold=30.0, min_snr=5.0))


@pytest.fixture(scope="module")
def oracle_results(source):
    return evaluate(oracle_method(), source, FAST)


@pytest.fixture(scope="module")
def pf8_results(source):
    return evaluate(PF8, source, FAST)


# ------------------------------------------------------------------ methods
def test_method_identity_hash_is_canonical():
    a = MethodSpec("x", "pf8", {"threshold": 10.0, "min_snr": 5.0})
    b = MethodSpec("y", "pf8", {"min_snr": 5.0, "threshold": 10.0})
    assert a.params_sha256 == b.params_sha256 and len(a.params_sha256) == 64
    assert MethodSpec("x", "pf8", {"threshold": 11.0, "min_snr": 5.0}).params_sha256 != a.params_sha256
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert pf8_method().params == Peakfinder8Params().to_dict()
    with pytest.raises(InputError, match="unknown method kind"):
        MethodSpec("x", "magic")
    with pytest.raises(InputError, match="--method"):
        parse_method("no-such-thing.bin")
    with pytest.raises(InputError, match="pf8, dispersion or a model"):
        parse_method("oracle", params_path="tuned.json")


# ------------------------------------------------------------------ known answers
def test_oracle_method_gives_perfect_peaks_and_correct_orientations(oracle_results):
    r = oracle_results
    t = r.metrics.truth
    hits_true = [f for f in r.frames if not f.blank]
    assert r.metrics.n_frames == 8 and len(hits_true) >= 3
    assert t["peak_precision"] == 1.0 and t["peak_recall"] == 1.0 and t["peak_f1"] == 1.0
    assert t["false_hit_rate"] == 0.0  # no found-able reflections on blank frames
    assert r.metrics.n_indexed == r.metrics.n_hits >= 3
    assert t["correct_orientation_rate"] == 1.0 and t["n_wrong_orientation"] == 0
    assert all(f.misorientation_deg < 0.5 for f in r.frames if f.indexed)
    for k, target in zip(("a", "b", "c"), CELL):
        assert r.metrics.cell[k].mean == pytest.approx(target, rel=5e-3)
    assert r.metrics.indexing_yield == pytest.approx(r.metrics.hit_rate * r.metrics.indexing_rate)


def test_pf8_results_are_deterministic_and_round_trip(source, pf8_results, tmp_path):
    method = PF8
    a = pf8_results
    b = evaluate(method, source, FAST)
    assert a.stable_dict() == b.stable_dict()
    assert a.metrics.truth["peak_recall"] > 0.5 and a.metrics.n_indexed >= 3
    assert a.throughput.frames_per_second > 0 and a.throughput.n_frames == 8
    write_results(a, tmp_path / "r.json")
    back = load_results(tmp_path / "r.json")
    assert back.stable_dict() == a.stable_dict()
    assert back.dataset.kind == "simulated" and back.dataset.seed == 3 and back.dataset.n_frames == 8
    assert back.method.params_sha256 == method.params_sha256
    assert len(back.frames) == 8 and sorted(f.index for f in back.frames) == list(range(8))


def test_a_cell_that_never_indexes_gives_clear_zero_rates(source, tmp_path):
    wrong = UnitCell(35.0, 45.0, 71.0, 90.0, 90.0, 90.0, lattice_type="orthorhombic")
    r = evaluate(oracle_method(), source, FAST, cell=wrong)
    assert r.metrics.n_hits >= 3
    assert r.metrics.n_indexed == 0 and r.metrics.indexing_rate == 0.0 and r.metrics.indexing_yield == 0.0
    assert r.metrics.cell["a"].mean is None and r.metrics.cell["a"].n == 0
    assert r.indexer.target_cell[:3] == [35.0, 45.0, 71.0]
    write_results(r, tmp_path / "zero.json")
    assert load_results(tmp_path / "zero.json").metrics.indexing_yield == 0.0


def test_a_supercell_indexes_but_every_orientation_is_counted_wrong(source):
    # (60, 80, 100) Å holds the true (40, 50, 60) lattice: the indexer may accept it (within its 5 %
    # cell tolerance at 61, 77, 103 Å), but M = A_found · A_true⁻¹ is not unimodular.
    r = evaluate(oracle_method(), source, FAST, cell=UnitCell(61.0, 77.0, 103.0, 90.0, 90.0, 90.0))
    t = r.metrics.truth
    assert t["n_wrong_orientation"] == r.metrics.n_indexed
    assert t["correct_orientation_rate"] == 0.0
    assert all(f.correct_orientation is False for f in r.frames if f.indexed)


def test_empty_run(exp_path, tmp_path):
    r = evaluate(pf8_method(), SimulatedFrames(str(exp_path), seed=3, n_frames=0), FAST)
    assert r.metrics.n_frames == 0 and r.metrics.hit_rate == 0.0 and r.frames == []
    assert r.throughput.frames_per_second is None
    write_results(r, tmp_path / "empty.json")
    assert load_results(tmp_path / "empty.json").metrics.n_frames == 0


def test_min_peaks_decides_hits(source):
    strict = evaluate(oracle_method(), source, EvalConfig(min_peaks=10_000, n_boot=50, show_progress=False))
    assert strict.metrics.n_hits == 0 and strict.metrics.n_indexed == 0
    assert strict.min_peaks == 10_000


# ------------------------------------------------------------------ CXI input
@pytest.fixture(scope="module")
def run_cxi(exp_path, tmp_path_factory) -> Path:
    from peaknet_bench.sim import load_experiment, simulate_run

    out = tmp_path_factory.mktemp("run") / "run.cxi"
    simulate_run(load_experiment(str(exp_path)), 8, 3, out, show_progress=False)
    return out


def test_cxi_frames_give_the_same_outcomes_as_the_simulator(pf8_results, run_cxi):
    cxi = CXIFrames(run_cxi, run_cxi.with_suffix(".geom"))
    assert cxi.truth_path is not None and len(cxi) == 8
    a, b = pf8_results, evaluate(PF8, cxi, FAST)
    assert [f.model_dump() for f in a.frames] == [f.model_dump() for f in b.frames]
    assert b.dataset.kind == "cxi" and len(b.dataset.sha256) == 64


def test_precomputed_peaks_from_cxi(source, oracle_results, tmp_path):
    from peaknet_bench.io.cxi import write_peaks_cxi

    frames = [source.frame(i) for i in range(len(source))]
    path = tmp_path / "oracle_peaks.cxi"
    write_peaks_cxi(path, [f.truth.foundable_peaks() for f in frames], photon_energy_ev=9500.0, clen_m=0.04,
                    events=[f.event for f in frames])
    r = evaluate(cxi_peaks_method(path, "stored"), source, FAST)
    assert r.method.kind == "peaks-cxi" and r.metrics.truth["peak_recall"] == 1.0
    # Stored as float32 in CXI, so compare outcomes rather than refined cells to the last bit.
    def key(res):
        return [(f.n_peaks, f.hit, f.indexed, f.n_matched, f.correct_orientation) for f in res.frames]

    assert key(r) == key(oracle_results)


def test_mismatched_geometry_and_data_shapes(run_cxi, tmp_path):
    panel = Panel(name="p0", min_fs=0, max_fs=99, min_ss=0, max_ss=99, corner_x=-50, corner_y=50,
                  fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=5000.0)
    write_geom(Geometry(panels=[panel], clen_m=0.04, photon_energy_ev=9500.0), tmp_path / "other.geom")
    with pytest.raises(InputError, match="does not match the geometry"):
        CXIFrames(run_cxi, tmp_path / "other.geom")
    with pytest.raises(InputError, match="cell"):
        CXIFrames(run_cxi, run_cxi.with_suffix(".geom"), cell=tmp_path / "missing.cell")


# ------------------------------------------------------------------ Ray
def test_ray_workers_give_the_in_process_results(source, pf8_results, ray_session):
    local = pf8_results
    spread = evaluate(PF8, source, EvalConfig(n_boot=200, show_progress=False, workers=2, chunk_size=3))
    assert spread.stable_dict() == local.stable_dict()
    assert spread.throughput.workers == 2


# ------------------------------------------------------------------ pieces
def _found(real):
    return SimpleNamespace(crystal=SimpleNamespace(real_basis=lambda: real))


def test_orientation_test_absorbs_settings_and_catches_rotations():
    true = UnitCell(*CELL).real_basis()
    config = EvalConfig()
    # The same lattice in other settings (cyclic permutation; the 2-fold about c; a left-handed
    # basis): correct, 0° misorientation.
    for basis in ([true[1], true[2], true[0]], [-true[0], -true[1], true[2]], [true[1], true[2], -true[0]]):
        ok, mis = _orientation([_found(np.array(basis))], [true], config)
        assert ok and mis == pytest.approx(0.0, abs=1e-6)
    th = np.radians(1.0)
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    ok, mis = _orientation([_found(true @ rot.T)], [true], config)
    assert not ok and mis == pytest.approx(1.0, abs=1e-3)
    ok, _ = _orientation([_found(np.diag([45.0, 50.0, 60.0]))], [true], config)  # another cell
    assert not ok
    assert _orientation([_found(true)], [], config)[0] is False  # indexed a blank frame
    assert _orientation([], [true], config) == (None, None)


def test_segmentation_metrics_pool_pixel_counts():
    m = segmentation_metrics([np.array([3, 1, 90, 2]), np.array([1, 1, 50, 0])])
    assert m["tp"] == 4 and m["fp"] == 2 and m["fn"] == 2
    assert m["pixel_iou"] == pytest.approx(4 / 8) and m["pixel_f1"] == pytest.approx(8 / 12)
    assert segmentation_metrics([]) is None


# ------------------------------------------------------------------ results file
def test_published_schema_is_up_to_date():
    assert SCHEMA_FILE.read_text() == schema_json(), "run: python -m peaknet_bench.evaluate.results"


def test_loader_gives_clear_errors(oracle_results, tmp_path):
    r = oracle_results
    data = json.loads(r.model_dump_json())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(InputError, match="schema_version"):
        load_results(bad)
    data["metrics"].pop("hit_rate")
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match="metrics.hit_rate"):
        load_results(bad)
    bad.write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON"):
        load_results(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="schema_name"):
        load_results(bad)


def test_a_simulated_cxi_run_is_recognised_as_the_same_frames(exp_path, run_cxi):
    from peaknet_bench.evaluate.tune import overlapping_frames

    tuned = {"tuning": {"dataset": SimulatedFrames(str(exp_path), seed=3, n_frames=4).identity(),
                        "frame_indices": [0, 1, 2, 3]}}
    cxi = CXIFrames(run_cxi, run_cxi.with_suffix(".geom"))
    assert overlapping_frames(tuned, cxi.identity(), cxi.indices()) == [0, 1, 2, 3]
    other = {"tuning": {"dataset": SimulatedFrames(str(exp_path), seed=4, n_frames=4).identity(),
                        "frame_indices": [0, 1, 2, 3]}}
    assert overlapping_frames(other, cxi.identity(), cxi.indices()) == []


def test_pixel_counts_with_and_without_torchmetrics(source, monkeypatch, rng):
    import sys

    from peaknet_bench.evaluate.harness import _segmentation_counts
    from peaknet_bench.geometry import Assembler

    frame = source.frame(0)
    finder = SimpleNamespace(assembler=Assembler(frame.geometry))
    seg = rng.random(finder.assembler.shape) < 0.1
    label = rng.random(frame.data.shape) < 0.1
    with_tm = _segmentation_counts(finder, frame, seg, label)
    monkeypatch.setitem(sys.modules, "torchmetrics.functional.classification", None)
    without = _segmentation_counts(finder, frame, seg, label)
    assert with_tm.tolist() == without.tolist()
    assert with_tm.sum() == np.count_nonzero(finder.assembler.assembled_mask(frame.mask))


# ------------------------------------------------------------------ resume
def test_an_interrupted_evaluation_resumes_to_the_same_results(exp_path, tmp_path, monkeypatch, capsys):
    """Stopped after two chunks, `evaluate --resume` finds peaks only on the rest and writes the
    results an uninterrupted run writes; without --resume, or with another method, it refuses."""
    from peaknet_bench.cli import main
    from peaknet_bench.evaluate import harness

    base = ["evaluate", "--experiment", str(exp_path), "-n", "12", "--seed", "3", "--chunk-size", "4"]
    assert main(base + ["-o", str(tmp_path / "whole.json")]) == 0
    out = tmp_path / "stopped.json"
    real_run, calls = harness.FindWorker.run, []

    def stop_after_two_chunks(self, positions):
        calls.append(list(positions))
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real_run(self, positions)

    monkeypatch.setattr(harness.FindWorker, "run", stop_after_two_chunks)
    assert main(base + ["-o", str(out)]) == 130
    assert not out.exists() and len(list((tmp_path / "stopped.json.partial").glob("chunk-*.npz"))) == 2
    monkeypatch.setattr(harness.FindWorker, "run", real_run)
    assert main(base + ["-o", str(out)]) != 0  # a checkpoint is there: say so, never overwrite silently
    assert "--resume" in capsys.readouterr().err
    assert main(base + ["--method", "oracle", "-o", str(out), "--resume"]) != 0  # another method: refused
    calls.clear()
    monkeypatch.setattr(harness.FindWorker, "run", lambda self, p: calls.append(list(p)) or real_run(self, p))
    assert main(base + ["-o", str(out), "--resume"]) == 0
    assert calls == [[8, 9, 10, 11]]  # only the unfinished chunk
    assert not (tmp_path / "stopped.json.partial").exists()
    a, b = load_results(tmp_path / "whole.json"), load_results(out)
    assert [f.model_dump() for f in a.frames] == [f.model_dump() for f in b.frames]
    assert a.metrics.indexing_yield == b.metrics.indexing_yield


def test_evaluate_writes_the_predictions_a_submission_needs(exp_path, tmp_path):
    """`evaluate --predictions` writes, from the same pass, the peak file `leaderboard predict`
    would write for those frames (same events, same peaks)."""
    from peaknet_bench.cli import main
    from peaknet_bench.io.cxi import CXIReader
    from peaknet_bench.leaderboard.predict import write_predictions

    args = ["evaluate", "--experiment", str(exp_path), "-n", "6", "--seed", "3"]
    assert main(args + ["-o", str(tmp_path / "r.json"), "--predictions", str(tmp_path / "a.cxi")]) == 0
    source = SimulatedFrames(str(exp_path), seed=3, n_frames=6)
    write_predictions(pf8_method(), source, tmp_path / "b.cxi", show_progress=False)
    with CXIReader(tmp_path / "a.cxi") as a, CXIReader(tmp_path / "b.cxi") as b:
        assert len(a) == len(b) == 6
        for i in range(6):
            assert a.event(i) == b.event(i)
            pa, pb = a.peaks(i), b.peaks(i)
            np.testing.assert_array_equal(pa.fs, pb.fs)
            np.testing.assert_array_equal(pa.intensity, pb.intensity)
