"""The CrystFEL backend: files it writes, the command it builds, the stream it parses.

The real indexamajig is used only when it is on PATH. Without it, a stand-in executable
(a Python script that writes a stream holding the true crystals) exercises the run and
parse path end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap

import numpy as np
import pytest

from peaknet_bench.crystal import UnitCell, read_cell_file
from peaknet_bench.geometry import preset, read_geom
from peaknet_bench.index import CrystFELConfig, CrystFELError, CrystFELIndexer, compare_lattices, index_frames
from synthetic_peaks import SyntheticPeaksConfig, score_results, synthetic_frame
from peaknet_bench.io.cxi import CXIReader

ENERGY = 9500.0
CELL = UnitCell(40.07, 70.90, 91.10, 90, 90, 90, "orthorhombic")


@pytest.fixture(scope="module")
def geometry():
    return preset("epix10k2m")


@pytest.fixture(scope="module")
def frames(geometry):
    rng = np.random.default_rng(21)
    return [synthetic_frame(CELL, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(30, 60))) for _ in range(3)]


def test_prepare_writes_what_indexamajig_reads(tmp_path, geometry, frames):
    indexer = CrystFELIndexer(CELL, CrystFELConfig(method="xgandalf", cores=4, multi=True))
    peak_lists = [f.peaks for f in frames]
    job = indexer.prepare(tmp_path, peak_lists, geometry, np.full(3, ENERGY), np.full(3, 0.1))
    with CXIReader(job.cxi, geometry) as reader:
        assert len(reader) == 3
        for i, peaks in enumerate(peak_lists):
            got = reader.peaks(i)
            np.testing.assert_allclose(got.fs, peaks.fs, atol=1e-3)
            np.testing.assert_allclose(got.ss, peaks.ss, atol=1e-3)
            assert reader.photon_energy_ev(i) == pytest.approx(ENERGY)
            assert reader.clen_m(i) == pytest.approx(0.1)
    geom = read_geom(job.geom)
    assert geom.header["peak_list"] == "/entry_1/result_1" and geom.header["peak_list_type"] == "cxi"
    assert geom.photon_energy_path == "/LCLS/photon_energy_eV" and geom.clen_m == pytest.approx(0.1)
    assert geom.n_panels == geometry.n_panels
    assert read_cell_file(job.cell) == CELL
    assert job.file_list.read_text().splitlines() == ["peaks.cxi //0", "peaks.cxi //1", "peaks.cxi //2"]
    cmd = job.command
    assert cmd[0] == "indexamajig"
    for flag in ("--peaks=cxi", "--indexing=xgandalf", "--multi", "--no-image-data"):
        assert flag in cmd
    assert cmd[cmd.index("-j") + 1] == "4" and cmd[cmd.index("-p") + 1] == "target.cell"
    assert cmd[cmd.index("-i") + 1] == "files.lst" and cmd[cmd.index("-g") + 1] == "detector.geom"


def test_varying_camera_length_goes_through_the_file(tmp_path, geometry, frames):
    job = CrystFELIndexer(CELL).prepare(tmp_path, [f.peaks for f in frames], geometry, np.full(3, ENERGY),
                                        np.array([0.1, 0.11, 0.12]))
    geom = read_geom(job.geom)
    assert geom.clen_m is None and geom.clen_path == "/LCLS/detector_1/EncoderValue"


FAKE = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for indexamajig: writes a stream with the crystals listed in truth.json.
    import json, sys
    args = sys.argv[1:]
    if "--fail" in args:
        print("fatal: could not read geometry", file=sys.stderr)
        sys.exit(3)
    import numpy as np
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamWriter
    from peaknet_bench.io.cxi import CXIReader
    out = args[args.index("-o") + 1]
    truth = json.load(open("truth.json"))
    lines = open(args[args.index("-i") + 1]).read().split("\\n")
    with StreamWriter(out, geometry_text=open(args[args.index("-g") + 1]).read()) as w:
        for line in reversed([ln for ln in lines if ln]):  # out of order, as -j > 1 can do
            name, event = line.split()
            i = int(event[2:])
            with CXIReader(name) as r:
                peaks = r.peaks(i)
            crystals = [StreamCrystal(astar=np.array(a)) for a in truth[i]]
            w.write_chunk(StreamChunk(filename=name, event=event, indexed_by="xgandalf" if crystals else "none",
                                      photon_energy_ev=9500.0, clen_m=0.1, peaks=peaks, crystals=crystals))
    """
)


@pytest.fixture
def fake_indexamajig(tmp_path, frames):
    path = tmp_path / "bin" / "indexamajig"
    path.parent.mkdir()
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    truth = [[f.crystals[0].astar.tolist()] for f in frames[:2]] + [[]]  # frame 2: "not indexed"
    (work / "truth.json").write_text(json.dumps(truth))
    return path, work


def test_run_and_parse_with_stand_in(fake_indexamajig, geometry, frames):
    exe, work = fake_indexamajig
    indexer = CrystFELIndexer(CELL, CrystFELConfig(executable=str(exe), workdir=str(work)))
    assert indexer.available()
    results = index_frames([f.peaks for f in frames], geometry, ENERGY, indexer, clen_m=0.1)
    assert [len(r) for r in results] == [1, 1, 0]
    for f, r in zip(frames[:2], results[:2]):
        (res,) = r
        assert score_results(r, f, geometry, ENERGY).correct
        # CrystFEL's rule (fractional indices within 0.25) recovers the explained peaks
        assert res.n_inliers >= 0.9 * (f.lattice >= 0).sum()
        assert res.method == "crystfel:xgandalf"
        np.testing.assert_allclose(res.cell.parameters, CELL.parameters, atol=1e-3)
        assert res.rms_px < 1.0


def test_failure_reports_the_log(fake_indexamajig, geometry, frames):
    exe, work = fake_indexamajig
    indexer = CrystFELIndexer(CELL, CrystFELConfig(executable=str(exe), workdir=str(work), extra_args=("--fail",)))
    with pytest.raises(CrystFELError, match="could not read geometry"):
        indexer.index(frames[0].peaks, geometry, ENERGY, 0.1)


def test_missing_binary_is_a_clear_error(geometry, frames):
    indexer = CrystFELIndexer(CELL, CrystFELConfig(executable="indexamajig-does-not-exist"))
    assert not indexer.available()
    with pytest.raises(CrystFELError, match="not found on PATH"):
        indexer.index(frames[0].peaks, geometry, ENERGY, 0.1)


@pytest.mark.skipif(shutil.which("indexamajig") is None, reason="CrystFEL's indexamajig is not on PATH")
def test_real_indexamajig(geometry, frames, tmp_path):
    indexer = CrystFELIndexer(CELL, CrystFELConfig(method=os.environ.get("PEAKNET_CRYSTFEL_METHOD", "xgandalf")))
    results = index_frames([f.peaks for f in frames], geometry, ENERGY, indexer, clen_m=0.1)
    assert sum(bool(r) for r in results) >= 2
    for f, r in zip(frames, results):
        for res in r:
            assert compare_lattices(res.crystal.real_basis(), f.crystals[0].real_basis()).max_deviation < 0.1
