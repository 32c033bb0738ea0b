"""`peaknet-bench index`: CXI peaks in, CrystFEL stream out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.crystal import UnitCell, write_cell_file
from peaknet_bench.geometry import preset, write_geom
from peaknet_bench.index import compare_lattices
from synthetic_peaks import SyntheticPeaksConfig, noise_like, synthetic_frame
from peaknet_bench.io.cxi import write_peaks_cxi
from peaknet_bench.io.stream import StreamReader

ENERGY = 9500.0
CELL = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 43 21 2")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("index-cli")
    geometry = preset("epix10k2m")
    rng = np.random.default_rng(31)
    frames = [synthetic_frame(CELL, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(30, 60))) for _ in range(3)]
    noise = noise_like(frames[0].peaks, geometry, ENERGY, rng)
    write_peaks_cxi(tmp / "peaks.cxi", [f.peaks for f in frames] + [noise], photon_energy_ev=ENERGY, clen_m=0.1)
    write_geom(geometry, tmp / "det.geom")
    write_cell_file(CELL, tmp / "target.cell")
    return tmp, frames


def test_index_command_writes_a_stream(inputs, capsys):
    tmp, frames = inputs
    out = tmp / "out.stream"
    code = main(["index", str(tmp / "peaks.cxi"), "--geom", str(tmp / "det.geom"), "--cell", str(tmp / "target.cell"),
                 "-o", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 4 and summary["indexed"] == 3 and summary["indexing_rate"] == pytest.approx(0.75)
    assert summary["unit_cell"]["a"]["mean"] == pytest.approx(79.1, abs=0.5)
    assert summary["frames_per_s"] > 0
    chunks = list(StreamReader(out))
    assert [c.event for c in chunks] == ["//0", "//1", "//2", "//3"]
    assert [c.indexed_by for c in chunks] == ["builtin", "builtin", "builtin", "none"]
    for chunk, frame in zip(chunks[:3], frames):
        (crystal,) = chunk.crystals
        real = np.linalg.inv(crystal.astar).T
        match = compare_lattices(real, frame.crystals[0].real_basis())
        assert match.is_match()
        assert crystal.lattice_type == "tetragonal" and len(crystal.reflections) > 50
        np.testing.assert_allclose(chunk.peaks.fs, frame.peaks.fs[frame.peaks.panel >= 0], atol=0.01)
        # predicted reflections land on the true (noiseless) spots, read back in slab coordinates
        refl = crystal.reflections
        predicted = {tuple(h): (x, y) for h, x, y in zip(refl.hkl, refl.fs, refl.ss)}
        truth_hkl = frame.truth.hkl @ match.matrix.T
        pairs = [(predicted[tuple(h)], (x, y)) for h, x, y in zip(truth_hkl, frame.truth.fs, frame.truth.ss)
                 if tuple(h) in predicted]
        assert len(pairs) > 0.8 * len(truth_hkl)
        d = np.array([np.hypot(p[0] - t[0], p[1] - t[1]) for p, t in pairs])
        assert np.sqrt(np.mean(d**2)) < 0.5


def test_index_command_human_summary(inputs, capsys):
    tmp, _ = inputs
    code = main(["index", str(tmp / "peaks.cxi"), "--geom", "epix10k2m", "--cell", str(tmp / "target.cell"),
                 "-o", str(tmp / "h.stream"), "--limit", "2", "--no-predictions"])
    assert code == 0
    text = capsys.readouterr().out
    assert "2 frames" in text and "2 indexed" in text and "target" in text


def test_index_command_bad_cell(inputs, tmp_path, capsys):
    tmp, _ = inputs
    bad = tmp_path / "bad.cell"
    bad.write_text("CrystFEL unit cell file version 1.0\nlattice_type = orthorombic\na = 10 A\n")
    code = main(["index", str(tmp / "peaks.cxi"), "--geom", "epix10k2m", "--cell", str(bad), "-o", str(tmp_path / "x.stream")])
    assert code == 1
    err = capsys.readouterr().err
    assert str(bad) in err and not (tmp_path / "x.stream").exists()


def test_index_command_crystfel_missing(inputs, tmp_path, capsys, monkeypatch):
    tmp, _ = inputs
    monkeypatch.setenv("PATH", str(tmp_path))
    code = main(["index", str(tmp / "peaks.cxi"), "--geom", "epix10k2m", "--cell", str(tmp / "target.cell"),
                 "--indexer", "crystfel", "-o", str(tmp_path / "x.stream")])
    assert code == 1 and "indexamajig" in capsys.readouterr().err


def test_index_command_does_not_index_copies_of_one_peak(inputs, tmp_path, capsys):
    """30 copies of one position, and 30 positions within 0.1 px of each other, are one peak
    each: never a crystal (issue: evidence must come from distinct peaks)."""
    tmp, _ = inputs
    rng = np.random.default_rng(2)
    from peaknet_bench.frame import PeakList

    def one_spot(fs, ss):
        return PeakList(fs=np.asarray(fs, float), ss=np.asarray(ss, float), panel=np.full(30, -1),
                        intensity=np.full(30, 500.0))

    lists = [one_spot(np.full(30, 100.0), np.full(30, 60.0)),
             one_spot(100.0 + rng.uniform(0, 0.07, 30), 60.0 + rng.uniform(0, 0.07, 30))]
    write_peaks_cxi(tmp_path / "copies.cxi", lists, photon_energy_ev=ENERGY, clen_m=0.1)
    code = main(["index", str(tmp_path / "copies.cxi"), "--geom", str(tmp / "det.geom"), "--cell",
                 str(tmp / "target.cell"), "-o", str(tmp_path / "out.stream"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 2 and summary["indexed"] == 0
