"""`peaknet-bench peaks find` end to end: CXI in, CrystFEL-layout CXI peak lists out."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.geometry import Geometry, Panel, write_geom
from peaknet_bench.io import CXIReader, CXIWriter
from peaknet_bench.peakfind import Peakfinder8, Peakfinder8Params


def geometry() -> Geometry:
    return Geometry(panels=[
        Panel("a", 0, 79, 0, 79, corner_x=-90.0, corner_y=40.0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=10000.0),
        Panel("b", 0, 79, 80, 159, corner_x=10.0, corner_y=40.0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=10000.0),
    ], clen_m=0.1, photon_energy_ev=9500.0,
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"})


@pytest.fixture
def run(tmp_path):
    """A 5-frame CXI run (frame k has 3k spots) and its .geom file."""
    g = geometry()
    rng = np.random.default_rng(0)
    ss, fs = np.mgrid[0:160, 0:80]
    frames = []
    for k in range(5):
        img = rng.normal(100.0, 5.0, (160, 80))
        for f0, s0 in zip(rng.uniform(5, 75, 3 * k), rng.uniform(5, 155, 3 * k)):
            img += 3000.0 * np.exp(-((fs - f0) ** 2 + (ss - s0) ** 2) / 2.0)
        frames.append(img.astype(np.float32))
    mask = np.ones((160, 80), bool)
    mask[50, 10:20] = False
    cxi = tmp_path / "run.cxi"
    with CXIWriter(cxi) as w:
        for k, img in enumerate(frames):
            w.append(data=img, mask=mask, photon_energy_ev=9500.0 + k, clen_m=0.1, event=f"//{k}")
    geom = tmp_path / "det.geom"
    write_geom(g, geom)
    return cxi, geom, frames, mask


def test_peaks_find_writes_crystfel_peak_lists(run, tmp_path, capsys) -> None:
    cxi, geom, frames, mask = run
    out = tmp_path / "peaks.cxi"
    rc = main(["peaks", "find", str(cxi), "--geom", str(geom), "--method", "pf8", "-o", str(out),
               "--threshold", "300", "--min-peaks", "6", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 5
    assert summary["ms_per_frame"] > 0 and summary["cpu_ms_per_frame"] > 0
    assert summary["params"]["threshold"] == 300.0 and summary["params"]["min_snr"] == 5.0
    g = geometry()
    finder = Peakfinder8(Peakfinder8Params(threshold=300.0), g)
    expected = [finder.find_arrays(img, mask) for img in frames]
    counts = [len(e["fs"]) for e in expected]
    assert counts[0] == 0 and counts[-1] >= 10  # spots were found
    assert summary["peaks"] == sum(counts)
    assert summary["hits"] == sum(c >= 6 for c in counts)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["/entry_1/result_1/nPeaks"][:], counts)
        assert f["/entry_1/result_1/peakXPosRaw"].shape == (5, 2048)
        assert "/entry_1/data_1/data" not in f
    with CXIReader(out, g) as r:
        for i, e in enumerate(expected):
            peaks = r.peaks(i)
            np.testing.assert_allclose(peaks.fs, e["fs"], rtol=1e-6)
            np.testing.assert_allclose(peaks.ss, e["ss"], rtol=1e-6)
            np.testing.assert_allclose(peaks.intensity, e["intensity"], rtol=1e-6)
            np.testing.assert_array_equal(peaks.panel, e["panel"])
            assert r.event(i) == f"//{i}" and r.photon_energy_ev(i) == 9500.0 + i


def test_peaks_find_workers_params_file_and_data_copy(run, tmp_path, capsys) -> None:
    cxi, geom, frames, mask = run
    params = tmp_path / "pf8.json"
    Peakfinder8Params(threshold=300.0, min_snr=8.0).to_json(params)
    one, two = tmp_path / "one.cxi", tmp_path / "two.cxi"
    assert main(["peaks", "find", str(cxi), "--geom", str(geom), "--params", str(params), "--min-snr", "6",
                 "-o", str(one), "--json"]) == 0
    s1 = json.loads(capsys.readouterr().out)
    assert (s1["params"]["threshold"], s1["params"]["min_snr"]) == (300.0, 6.0)  # flag beats file
    assert main(["peaks", "find", str(cxi), "--geom", str(geom), "--params", str(params), "--min-snr", "6",
                 "-o", str(two), "--workers", "2", "--with-data"]) == 0
    assert "frames" in capsys.readouterr().out
    with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
        for name in ("nPeaks", "peakXPosRaw", "peakYPosRaw", "peakTotalIntensity", "peakSNR"):
            np.testing.assert_array_equal(a[f"/entry_1/result_1/{name}"][:], b[f"/entry_1/result_1/{name}"][:])
        np.testing.assert_array_equal(b["/entry_1/data_1/data"][3], frames[3])


def test_peaks_find_bad_input(run, tmp_path, capsys) -> None:
    cxi, geom, _, _ = run
    assert main(["peaks", "find", str(tmp_path / "missing.cxi"), "--geom", str(geom)]) == 1
    assert "missing.cxi" in capsys.readouterr().err
    assert main(["peaks", "find", str(cxi), "--geom", str(geom), "--min-pix-count", "0"]) == 1
    assert "min_pix_count" in capsys.readouterr().err
    assert main(["peaks", "find", str(cxi), "--geom", "rayonix-mx340-4x4"]) == 1  # wrong slab shape
    assert "shape" in capsys.readouterr().err
    assert not (tmp_path / "run.peaks.cxi").exists()


def test_find_peaks_in_files_is_the_command_in_python(run, tmp_path) -> None:
    """The library function `peaks find` runs: same defaults, same output."""
    from peaknet_bench.peakfind import Peakfinder8Params, find_peaks_in_files, pf8_method

    cxi, geom, frames, mask = run
    s = find_peaks_in_files(cxi, tmp_path / "lib.cxi", method=pf8_method(Peakfinder8Params(threshold=300.0)),
                            geom=geom, n_frames=3, show_progress=False)
    assert s["frames"] == 3 and s["params"]["threshold"] == 300.0 and s["min_peaks"] == 10


def test_peaks_find_takes_a_model_checkpoint(run, tmp_path, capsys) -> None:
    """--method names any peak finder: the shipped reference student runs through the same command."""
    from peaknet_bench.util.shipped import default_model

    cxi, geom, frames, _ = run
    out = tmp_path / "model-peaks.cxi"
    rc = main(["peaks", "find", str(cxi), "--geom", str(geom), "--method", str(default_model()), "-o", str(out),
               "-n", "2", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "model" and summary["frames"] == 2
    with CXIReader(out, geometry()) as r:
        assert len(r) == 2


def test_pf8_options_do_not_apply_to_a_model(run, tmp_path) -> None:
    from peaknet_bench.util.shipped import default_model

    cxi, geom, _, _ = run
    assert main(["peaks", "find", str(cxi), "--geom", str(geom), "--method", str(default_model()),
                 "--threshold", "300", "-o", str(tmp_path / "x.cxi")]) == 1


def test_model_params_set_its_peak_extraction(run, tmp_path, capsys) -> None:
    """--params with a model: ExtractionConfig fields, recorded in the method's parameters."""
    from peaknet_bench.util.shipped import default_model

    cxi, geom, _, _ = run
    counts = {}
    for tag, params in (("default", None), ("strict", {"min_snr": 1.0e6, "max_pixels": 50})):
        argv = ["peaks", "find", str(cxi), "--geom", str(geom), "--method", str(default_model()),
                "-o", str(tmp_path / f"{tag}.cxi"), "--json"]
        if params is not None:
            (tmp_path / "extract.yaml").write_text(json.dumps(params))
            argv += ["--params", str(tmp_path / "extract.yaml")]
        assert main(argv) == 0
        s = json.loads(capsys.readouterr().out)
        counts[tag] = s["peaks"]
        assert s["params"]["min_snr"] == (params or {"min_snr": 10.0})["min_snr"]
        assert ("max_pixels" in s["params"]) == (params is not None)
    assert counts["default"] >= 20 and counts["strict"] == 0
    (tmp_path / "bad.yaml").write_text("min_snr: 5\nthreshold: 3\n")
    assert main(["peaks", "find", str(cxi), "--geom", str(geom), "--method", str(default_model()),
                 "--params", str(tmp_path / "bad.yaml"), "-o", str(tmp_path / "bad.cxi")]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "threshold" in err
