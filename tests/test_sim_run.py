"""simulate_run / `peaknet-bench simulate`: files on disk, determinism, the truth sidecar, the CLI."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import yaml
from test_sim_physics import small_experiment

from peaknet_bench.cli import main
from peaknet_bench.crystal import read_cell_file
from peaknet_bench.geometry import read_geom
from peaknet_bench.io.cxi import CXIReader
from peaknet_bench.sim import Simulator, TruthFile, experiment_from_dict, run_paths, simulate_run


@pytest.fixture
def experiment(tmp_path):
    data = small_experiment(tmp_path, **{"run.hit_fraction": 0.6, "run.multi_lattice_fraction": 0.5,
                                         "background.water_photons": 2.0, "detector.dead_fraction": 1e-3,
                                         "detector.bad_asics": 1})
    return experiment_from_dict(data, str(tmp_path / "exp.yaml"))


def _datasets(path) -> dict[str, bytes]:
    """Every dataset's bytes (variable-length strings joined, since their buffers hold pointers)."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            value = np.asarray(obj[()])
            out[name] = b"\0".join(value.ravel().tolist()) if value.dtype.kind == "O" else value.tobytes()

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_simulate_run_writes_everything_and_is_deterministic(tmp_path, experiment):
    a = simulate_run(experiment, 6, 7, tmp_path / "a" / "run.cxi", show_progress=False)
    b = simulate_run(experiment, 6, 7, tmp_path / "b" / "run.cxi", show_progress=False)
    pa, pb = run_paths(tmp_path / "a" / "run.cxi"), run_paths(tmp_path / "b" / "run.cxi")
    for key in ("cxi", "truth"):
        da, db = _datasets(pa[key]), _datasets(pb[key])
        assert da.keys() == db.keys() and all(da[k] == db[k] for k in da)
    assert pa["geom"].read_text() == pb["geom"].read_text()
    assert a["frames"] == 6 and a["hits"] == b["hits"]
    c = simulate_run(experiment, 6, 8, tmp_path / "c" / "run.cxi", show_progress=False)
    assert _datasets(run_paths(tmp_path / "c" / "run.cxi")["cxi"])["entry_1/data_1/data"] != _datasets(pa["cxi"])["entry_1/data_1/data"]
    assert c["frames"] == 6
    # No temporary files are left behind.
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["run.cell", "run.cxi", "run.geom", "run.truth.h5"]


def test_run_files_match_the_simulator(tmp_path, experiment):
    summary = simulate_run(experiment, 5, 3, tmp_path / "run.cxi", show_progress=False, truth_peaks=True)
    paths = run_paths(tmp_path / "run.cxi")
    geom = read_geom(paths["geom"])
    assert geom.slab_shape == (200, 200)
    cell = read_cell_file(paths["cell"])
    assert cell.parameters == pytest.approx((40.0, 50.0, 60.0, 90.0, 90.0, 90.0))
    sim = Simulator(experiment, 3)
    with CXIReader(paths["cxi"], geom) as cxi, TruthFile(paths["truth"]) as truth:
        assert len(cxi) == len(truth) == 5
        assert truth.attrs["seed"] == 3 and "foundable" in truth.attrs["foundable_rule"]
        assert yaml.safe_load(truth.attrs["experiment"])["name"] == "small-test"
        hits = 0
        for i in range(5):
            frame = sim.frame(i)
            np.testing.assert_array_equal(cxi.data(i), frame.data)
            np.testing.assert_array_equal(cxi.mask(i), frame.mask)
            assert cxi.event(i) == f"//{i}"
            assert cxi.photon_energy_ev(i) == pytest.approx(9500.0)
            np.testing.assert_array_equal(truth.label_mask(i), frame.truth.label_mask)
            r = truth.reflections(i)
            np.testing.assert_array_equal(r.hkl, frame.truth.reflections.hkl)
            np.testing.assert_allclose(r.fs, frame.truth.reflections.fs)
            np.testing.assert_array_equal(truth.foundable(i), frame.truth.foundable)
            peaks = cxi.peaks(i)  # the found-able reflections, written as the CXI peak list
            assert len(peaks) == frame.truth.n_foundable
            np.testing.assert_allclose(peaks.fs, frame.truth.foundable_peaks().fs, atol=1e-4)
            np.testing.assert_allclose(peaks.ss, frame.truth.foundable_peaks().ss, atol=1e-4)
            assert truth.astar(i).shape == (len(frame.truth.crystals), 3, 3)
            hits += frame.truth.is_hit
        assert hits == summary["hits"]
        assert int(truth.is_hit.sum()) == hits


def test_cli_simulate_and_list(tmp_path, experiment, capsys):
    exp_path = tmp_path / "exp.yaml"
    exp_path.write_text(experiment.to_yaml())
    out = tmp_path / "cli" / "run.cxi"
    png = tmp_path / "cli" / "frame.png"
    assert main(["simulate", str(exp_path), "-n", "4", "--seed", "2", "-o", str(out), "--preview", str(png), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 4 and summary["hits"] >= 1
    for key in ("multi_lattice", "mean_reflections_per_hit", "mean_foundable_per_hit", "seconds"):
        assert key in summary
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_paths(out)["truth"].is_file()
    assert main(["simulate", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert isinstance(listed, list) and len(listed) >= 4
    for item in listed:
        assert {"name", "detector", "cell"} <= set(item) and len(item["cell"]) == 6
    assert main(["simulate", "no-such-experiment", "-o", str(tmp_path / "x.cxi")]) == 1
    assert "no such experiment" in capsys.readouterr().err
