"""`sim compare` (peaknet_bench.simcompare): real and simulated frames measured the same way.

A set against itself gives identical statistics (ratio 1 everywhere); a simulated set against
the same experiment with its background doubled reports the background ~2x; a real CSPAD still
gives finite numbers and spots; the command writes compare.json and compare.png; bad input is
an error that names the file or the field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.sim import Simulator, experiment_from_dict, load_experiment
from peaknet_bench.simcompare import CompareConfig, compare_frames, compare_real_and_simulated, pseudo_voigt_fwhm

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
if not REAL.exists():
    REAL = Path("/work/shared/real")
CSPAD = REAL / "cbf" / "idx-20130301060858401.cbf"
PILATUS = REAL / "cbf" / "thau_3_2_0001.cbf.bz2"
real = pytest.mark.skipif(not CSPAD.exists(), reason="shared/real (the real CSPAD still) not present")

EXPERIMENT = "cspad-lysozyme"  # 2.3 Mpixel frames at ~0.05 s each: the fast real-format detector


def _frames(experiment, indices, seed=1):
    sim = Simulator(experiment, seed)
    return [sim.frame(i) for i in indices]


def _row(result, key):
    return next(r for r in result["summary"] if r["quantity"] == key)


def _with(experiment, **changes):
    d = experiment.to_dict()
    for path, value in changes.items():
        section, key = path.split("__")
        d[section][key] = value(d[section][key]) if callable(value) else value
    return experiment_from_dict(d)


def test_pseudo_voigt_fwhm_limits():
    sigma, gamma = np.array([1.0, 2.0]), np.array([3.0, 0.7])
    assert np.allclose(pseudo_voigt_fwhm(0.0, sigma, gamma), 2 * math.sqrt(2 * math.log(2)) * sigma)  # Gaussian
    assert np.allclose(pseudo_voigt_fwhm(1.0, sigma, gamma), 2 * gamma)  # Lorentzian
    mixed = pseudo_voigt_fwhm(0.5, 1.0, 1.0)
    assert 2.0 < mixed < 2 * math.sqrt(2 * math.log(2))


def test_a_set_against_itself_gives_identical_statistics():
    frames = _frames(load_experiment(EXPERIMENT), [1, 2])  # two hits
    result = compare_frames(frames, frames, CompareConfig(n_frames=2, seed=0), show_progress=False)
    real, sim = result["real"], result["simulated"]
    assert real["n_spots"] == sim["n_spots"] > 20
    assert real["n_accepted"] == sim["n_accepted"] > 0
    for row in result["summary"]:
        assert row["real"] == row["simulated"], row["quantity"]
        if row["ratio"] is not None:
            assert row["ratio"] == pytest.approx(1.0), row["quantity"]
            assert row["verdict"] == "≈ real", row
    for key in ("median", "p16", "p84", "trimmed_mean"):
        np.testing.assert_array_equal(real["profile"][key], sim["profile"][key])
    h = result["histograms"]["pixel_adu"]
    np.testing.assert_array_equal(h["real"]["counts"], h["simulated"]["counts"])


def test_doubled_background_reads_as_twice_the_background():
    base = _with(load_experiment(EXPERIMENT), run__hit_fraction=0.0)
    doubled = _with(base, **{f"background__{k}": (lambda v: 2 * v) for k in
                             ("water_photons", "diffuse_photons", "air_photons")})
    result = compare_frames(_frames(base, [0, 1]), _frames(doubled, [0, 1]), CompareConfig(n_frames=2),
                            show_progress=False)
    for key in ("background", "background_photons", "background_middle"):
        row = _row(result, key)
        assert 1.75 < row["ratio"] < 2.25, row
        assert row["verdict"].lstrip("! ").startswith("sim 2"), row
    # Poisson: ~sqrt(2) for a continuous spread; at < 1 photon per pixel (25 ADU each, 2.5 ADU of
    # read noise) the p16/p84 quantiles of discrete photons jump by more (measured 1.75)
    assert 1.05 < _row(result, "pixel_spread")["ratio"] < 2.1
    gain = _row(result, "photon_transfer")  # the gain read off variance/mean does not move
    assert gain["ratio"] == pytest.approx(1.0, abs=0.1) and 15 < gain["real"]["median"] < 30  # 25 ADU/photon
    assert _row(result, "spots_per_frame")["real"]["median"] <= 5  # blanks: (almost) nothing to find


@real
def test_real_cspad_still_gives_finite_numbers_and_spots():
    result = compare_real_and_simulated(CSPAD, EXPERIMENT, CompareConfig(n_frames=2), show_progress=False)
    r = result["real"]
    assert r["n_frames"] == 1 and r["n_spots"] > 50 and r["n_accepted"] > 25
    assert r["gain"] == {"adu_per_photon": 25.0, "source": "assumed: the experiment's"}
    for key in ("background", "background_photons", "pixel_spread", "fwhm", "intensity", "spots_per_frame"):
        row = _row(result, key)
        assert math.isfinite(row["real"]["median"]) and math.isfinite(row["simulated"]["median"]), row
        assert row["ratio"] is not None and math.isfinite(row["ratio"]), row
    assert 0.3 < _row(result, "fwhm")["real"]["median"] < 5  # px
    assert 2 < _row(result, "photon_transfer")["real"]["median"] < 15  # ADU/photon: far below 25 (docs/simulator.md)
    assert np.isfinite(np.asarray(r["profile"]["median"], float)).sum() >= 20  # of 40 |q| bins
    assert any("clen" in n for n in result["notes"])  # the real still sits at 0.130 m, the experiment at 0.125 m


@real
def test_cspad_at_six_adu_per_photon_has_the_real_stills_noise():
    """cspad-thermolysin is the CSPAD calibrated to the real still's gain: the noise the real
    background shows (var/mean, spread at its level) is reproduced, where 25 ADU/photon is 1.8x
    too noisy (docs/simulator.md)."""
    result = compare_real_and_simulated(CSPAD, "cspad-thermolysin", CompareConfig(n_frames=3), show_progress=False)
    assert result["real"]["gain"]["adu_per_photon"] == 6.0
    assert _row(result, "photon_transfer")["ratio"] == pytest.approx(1.0, abs=0.2)
    assert 0.7 < _row(result, "pixel_spread")["ratio"] < 1.5  # 1.22 over 16 frames; 1.8 at 25 ADU/photon
    assert _row(result, "background")["ratio"] == pytest.approx(1.0, abs=0.35)
    assert _row(result, "fwhm")["ratio"] == pytest.approx(1.0, abs=0.25)


@pytest.mark.skipif(not PILATUS.exists(), reason="shared/real (the real Pilatus still) not present")
def test_photon_counting_reads_one_adu_per_photon():
    """Pilatus counts photons: variance = mean across |q| bins, on the real still and in the simulator."""
    result = compare_real_and_simulated(PILATUS, "pilatus6m-thaumatin", CompareConfig(n_frames=1),
                                        show_progress=False)
    row = _row(result, "photon_transfer")
    assert row["real"]["median"] == pytest.approx(1.0, abs=0.1)
    assert row["simulated"]["median"] == pytest.approx(1.0, abs=0.1)
    assert result["real"]["n_spots"] > 100


def test_cli_writes_json_and_figure(tmp_path, capsys):
    """A simulated CXI run stands in for real files (with its .geom), so this runs anywhere."""
    from peaknet_bench.sim import simulate_run

    simulate_run(load_experiment(EXPERIMENT), 2, 5, tmp_path / "run.cxi", show_progress=False)
    out = tmp_path / "cmp"
    rc = main(["sim", "compare", str(tmp_path / "run.cxi"), "--geom", str(tmp_path / "run.geom"),
               "--experiment", EXPERIMENT, "-n", "2", "--threshold", "150", "-o", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outputs"] == {"json": str(out / "compare.json"), "png": str(out / "compare.png")}
    assert summary["finder"]["params"]["threshold"] == 150
    assert summary["real"]["gain"]["source"] == "geometry"  # the run's .geom carries adu_per_photon
    saved = json.loads((out / "compare.json").read_text())
    assert len(saved["q_edges"]) == CompareConfig.q_bins + 1
    assert {r["quantity"] for r in saved["summary"]} >= {"background", "fwhm", "intensity", "spots_per_frame"}
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 300_000


@pytest.mark.parametrize("argv,message", [
    (["/nonexistent/frame.cbf", "--experiment", EXPERIMENT], "/nonexistent/frame.cbf: file not found"),
    (["{cbf}", "--experiment", "no-such-experiment"], "no-such-experiment: no such experiment"),
    (["{cbf}", "--experiment", EXPERIMENT, "-n", "0"], "n_frames: expected an integer >= 1"),
    (["{cbf}", "--experiment", EXPERIMENT, "-o", "{file}"], "-o/--output: expected a folder"),
])
def test_bad_input_is_a_clear_error(argv, message, tmp_path, capsys):
    cbf = tmp_path / "x.cbf"
    cbf.write_text("not a cbf")
    afile = tmp_path / "a-file"
    afile.write_text("")
    argv = [a.format(cbf=cbf, file=afile) for a in argv]
    assert main(["sim", "compare", *argv]) == 1
    err = capsys.readouterr().err
    assert "peaknet-bench: error:" in err and message in err, err
