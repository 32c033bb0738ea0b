"""CXI files: CrystFEL's layout, round trips, lazy reading, atomic writes and bad files."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the zstd/bitshuffle filters for reading)
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import BadRegion, Geometry, Panel
from peaknet_bench.io.cxi import CXIReader, CXIWriter, write_peaks_cxi


def small_geometry() -> Geometry:
    """Two 24 x 16 panels stacked in ss (slab 32 x 24), with one bad region."""
    return Geometry(
        panels=[Panel("a", 0, 23, 0, 15, corner_x=-30, corner_y=5), Panel("b", 0, 23, 16, 31, corner_x=5, corner_y=-20)],
        clen_m=0.12, photon_energy_ev=9000.0,
        bad_regions=[BadRegion("bad0", panel="b", min_fs=0, max_fs=1, min_ss=16, max_ss=17)],
        source="small",
    )


def frames(rng: np.random.Generator, n: int):
    for i in range(n):
        data = rng.normal(10, 3, size=(32, 24)).astype(np.float32)
        mask = rng.random((32, 24)) > 0.05
        k = int(rng.integers(0, 20))
        peaks = PeakList(fs=rng.uniform(0, 23, k), ss=rng.uniform(0, 31, k), panel=np.full(k, -1),
                         intensity=rng.uniform(50, 5000, k), snr=rng.uniform(5, 50, k),
                         npix=rng.integers(2, 30, k), max_intensity=rng.uniform(20, 900, k))
        yield dict(data=data, mask=mask, peaks=peaks, photon_energy_ev=9000.0 + i, clen_m=0.12 + 0.001 * i,
                   event=f"//{i}")


@pytest.fixture
def written(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "run.cxi"
    items = list(frames(rng, 5))
    with CXIWriter(path, max_peaks=64) as w:
        for item in items:
            w.append(**item)
    return path, items


def test_layout_is_crystfel_cxi(written) -> None:
    path, items = written
    with h5py.File(path, "r") as f:
        data = f["/entry_1/data_1/data"]
        assert data.shape == (5, 32, 24) and data.dtype == np.float32
        assert data.chunks == (1, 32, 24) and data.compression == "gzip"
        assert f["/entry_1/data_1/mask"].dtype == np.uint16
        for name in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity", "peakMaximumValue", "peakNPixels", "peakSNR"):
            ds = f[f"/entry_1/result_1/{name}"]
            assert ds.shape == (5, 64) and ds.dtype == np.float32
        np.testing.assert_array_equal(f["/entry_1/result_1/nPeaks"][()], [len(i["peaks"]) for i in items])
        np.testing.assert_allclose(f["/LCLS/detector_1/EncoderValue"][()], [120, 121, 122, 123, 124])  # mm
        np.testing.assert_allclose(f["/LCLS/photon_energy_eV"][()], [9000, 9001, 9002, 9003, 9004])
        assert [e.decode() for e in f["/LCLS/eventid"][()]] == ["//0", "//1", "//2", "//3", "//4"]
        # No half-pixel shift in CXI: CrystFEL adds it on reading.
        k = len(items[2]["peaks"])
        np.testing.assert_allclose(f["/entry_1/result_1/peakXPosRaw"][2, :k], items[2]["peaks"].fs, rtol=1e-6)
        assert not f["/entry_1/result_1/peakXPosRaw"][2, k:].any()


def test_round_trip(written) -> None:
    path, items = written
    g = small_geometry()
    with CXIReader(path, g) as r:
        assert len(r) == 5 and r.has_data and r.has_peaks
        for i, item in enumerate(items):
            np.testing.assert_array_equal(r.data(i), item["data"])
            np.testing.assert_array_equal(r.mask(i), item["mask"])
            p, q = r.peaks(i), item["peaks"]
            for col in ("fs", "ss", "intensity", "snr", "npix", "max_intensity"):
                np.testing.assert_allclose(getattr(p, col), getattr(q, col), rtol=1e-6)
            np.testing.assert_array_equal(p.panel, g.panel_of(q.fs, q.ss))
            assert r.photon_energy_ev(i) == 9000.0 + i
            assert r.clen_m(i) == 0.12  # CrystFEL: the .geom's number wins over the file's EncoderValue
            assert r.event(i) == f"//{i}"
        frame = r.frame(3)
        assert frame.mask.dtype == bool
        np.testing.assert_array_equal(frame.mask, items[3]["mask"] & g.bad_pixel_mask())
        assert not frame.mask[16, 0]  # the geometry's bad region
        assert len(frame.meta["peaks"]) == len(items[3]["peaks"])
        assert [f.event for f in r] == [f"//{i}" for i in range(5)]
    with CXIReader(path) as r:
        assert (r.peaks(1).panel == -1).all()


def test_reading_frame_i_reads_only_that_frame(written, monkeypatch) -> None:
    path, _ = written
    calls: list[tuple[str, object]] = []
    original = h5py.Dataset.__getitem__

    def spy(self, key, *args, **kwargs):
        calls.append((self.name, key))
        return original(self, key, *args, **kwargs)

    r = CXIReader(path)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    r.data(3)
    r.mask(3)
    assert calls == [("/entry_1/data_1/data", 3), ("/entry_1/data_1/mask", 3)]
    calls.clear()
    r.peaks(2)
    # One block of rows, trimmed to the widest row of that block, never the whole table.
    peak_reads = [key for name, key in calls if name.endswith("peakXPosRaw")]
    assert len(peak_reads) == 1 and peak_reads[0][1].stop <= 64
    r.close()


def test_peaks_only_file_and_max_peaks(tmp_path: Path, caplog) -> None:
    path = tmp_path / "peaks.cxi"
    big = PeakList(fs=np.arange(10.0), ss=np.arange(10.0), panel=np.zeros(10), intensity=np.arange(10.0)[::-1] * 100)
    small = PeakList(fs=[1.5], ss=[2.5], panel=[0], intensity=[7.0])
    with caplog.at_level(logging.WARNING):
        write_peaks_cxi(path, [big, small, PeakList.empty()], photon_energy_ev=9500.0, clen_m=0.1, max_peaks=4)
    assert "keeping the strongest 4" in caplog.text
    with CXIReader(path) as r:
        assert len(r) == 3 and not r.has_data and r.has_peaks
        np.testing.assert_allclose(r.peaks(0).intensity, [900, 800, 700, 600])
        np.testing.assert_allclose(r.peaks(0).fs, [0, 1, 2, 3])
        np.testing.assert_allclose(r.peaks(1).ss, [2.5])
        assert len(r.peaks(2)) == 0
        assert r.event(2) == "//2" and r.clen_m(0) == pytest.approx(0.1)
        with pytest.raises(InputError, match="peak lists only"):
            r.data(0)


@pytest.mark.parametrize("compression", [None, "lzf", "zstd", "bitshuffle-lz4"])
def test_compressions(tmp_path: Path, compression: str | None, rng: np.random.Generator) -> None:
    path = tmp_path / "c.cxi"
    item = next(frames(rng, 1))
    with CXIWriter(path, compression=compression) as w:
        w.append(**item)
    with CXIReader(path) as r:
        np.testing.assert_array_equal(r.data(0), item["data"])


def test_atomic_on_exception(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "run.cxi"
    with pytest.raises(RuntimeError):
        with CXIWriter(path) as w:
            w.append(**next(frames(rng, 1)))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="slab shape"):
        with CXIWriter(path) as w:
            w.append(**next(frames(rng, 1)))
            w.append(data=np.zeros((3, 3)), photon_energy_ev=1.0, clen_m=0.1, event="//1",
                     peaks=PeakList.empty())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.cxi"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(0, 5000, width=32), st.floats(0, 5000, width=32),
                                   st.floats(-1e6, 1e6, width=32)), max_size=30), max_size=6))
def test_property_peak_round_trip(tmp_path_factory, rows) -> None:
    lists = [PeakList(fs=[r[0] for r in f], ss=[r[1] for r in f], panel=np.full(len(f), -1),
                      intensity=[r[2] for r in f]) for f in rows]
    path = tmp_path_factory.mktemp("cxi") / "p.cxi"
    if not lists:
        with pytest.raises(ValueError, match="no frames"):
            write_peaks_cxi(path, lists, photon_energy_ev=9500.0, clen_m=0.1)
        assert not path.exists()
        return
    write_peaks_cxi(path, lists, photon_energy_ev=9500.0, clen_m=0.1)
    with CXIReader(path, block_rows=2) as r:
        assert len(r) == len(lists)
        for i, p in enumerate(lists):
            q = r.peaks(i)
            np.testing.assert_array_equal(q.fs, p.fs)
            np.testing.assert_array_equal(q.ss, p.ss)
            np.testing.assert_array_equal(q.intensity, p.intensity)


# --------------------------------------------------------------- bad files
def _make(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name.replace("__", "/"), data=value)
    return path


def test_bad_files(tmp_path: Path) -> None:
    g = small_geometry()
    with pytest.raises(InputError, match=r"/entry_1/data_1/data: expected a 3-D dataset"):
        CXIReader(_make(tmp_path / "a.cxi", entry_1__data_1__data=np.zeros((32, 24))))
    with pytest.raises(InputError, match=r"b.cxi: /entry_1/data_1/data: frame shape \(30, 24\) does not match"):
        CXIReader(_make(tmp_path / "b.cxi", entry_1__data_1__data=np.zeros((2, 30, 24))), g)
    base = dict(entry_1__result_1__nPeaks=np.array([1, 2]), entry_1__result_1__peakYPosRaw=np.zeros((2, 8)),
                entry_1__result_1__peakTotalIntensity=np.zeros((2, 8)))
    with pytest.raises(InputError, match=r"/entry_1/result_1/peakXPosRaw: missing"):
        CXIReader(_make(tmp_path / "c.cxi", **base))
    with pytest.raises(InputError, match=r"peakXPosRaw: expected shape \(2, max_peaks\) to match nPeaks, got \(3, 8\)"):
        CXIReader(_make(tmp_path / "d.cxi", entry_1__result_1__peakXPosRaw=np.zeros((3, 8)), **base))
    r = CXIReader(_make(tmp_path / "e.cxi", entry_1__result_1__peakXPosRaw=np.zeros((2, 8)),
                        **{**base, "entry_1__result_1__nPeaks": np.array([1, 9])}))
    with pytest.raises(InputError, match=r"nPeaks: row 1: 9 peaks, expected 0..8"):
        r.peaks(0)
    with pytest.raises(InputError, match="neither image data nor"):
        CXIReader(_make(tmp_path / "f.cxi", other=np.zeros(3)))
    with pytest.raises(InputError, match="nPeaks: 2 rows, but /entry_1/data_1/data has 3 frames"):
        CXIReader(_make(tmp_path / "g.cxi", entry_1__data_1__data=np.zeros((3, 32, 24)),
                        entry_1__result_1__peakXPosRaw=np.zeros((2, 8)), **base))
    (tmp_path / "h.cxi").write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        CXIReader(tmp_path / "h.cxi")
    with pytest.raises(InputError, match="file not found"):
        CXIReader(tmp_path / "missing.cxi")


def test_mask_bits_from_geometry(tmp_path: Path) -> None:
    """psocake-style mask (1 = good) read with the geometry's mask_good/mask_bad keys."""
    raw = np.ones((2, 32, 24), np.uint16)
    raw[0, 3, 4] = 0
    raw[1, 5, 6] = 3  # good bit set, but also bit 2 = bad
    path = _make(tmp_path / "m.cxi", entry_1__data_1__data=np.zeros((2, 32, 24), np.float32), entry_1__data_1__mask=raw)
    g = small_geometry()
    g.header.update(mask_good="0x0001", mask_bad="0x0002")
    with CXIReader(path, g) as r:
        assert not r.mask(0)[3, 4] and r.mask(0).sum() == 32 * 24 - 1
        assert not r.mask(1)[5, 6] and r.mask(1).sum() == 32 * 24 - 1
    with CXIReader(path) as r:  # without a geometry: this layout's convention, 0 = good
        assert r.mask(0).sum() == 1


def test_rejected_frame_leaves_no_trace(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "run.cxi"
    items = list(frames(rng, 2))
    with CXIWriter(path) as w:
        w.append(**items[0])
        with pytest.raises(ValueError, match="mask shape"):
            w.append(**{**items[1], "mask": np.ones((3, 3), bool)})
        w.append(**items[1])
    with CXIReader(path) as r:
        assert len(r) == 2 and r.event(1) == "//1"
        np.testing.assert_array_equal(r.data(1), items[1]["data"])


def test_clen_as_crystfel_takes_it(written) -> None:
    """A number in the .geom wins; a path in the .geom is read per frame (mm); no geometry falls
    back to the layout's EncoderValue."""
    path, _ = written
    g = small_geometry()
    with CXIReader(path, replace(g, clen_m=None, clen_path="/LCLS/detector_1/EncoderValue")) as r:
        assert [round(r.clen_m(i), 6) for i in range(3)] == [0.12, 0.121, 0.122]
    with CXIReader(path, replace(g, clen_m=None, clen_path="/nowhere")) as r, pytest.raises(InputError, match="/nowhere"):
        r.clen_m(0)
    with CXIReader(path) as r:
        assert r.clen_m(2) == pytest.approx(0.122)


def test_mask_keys_of_the_geom(tmp_path: Path, written) -> None:
    """`mask`/`mask_file`/`mask_good`/`mask_bad` decide the mask; a fixed path is not read when the
    .geom names another one."""
    path, items = written
    other = tmp_path / "mask.h5"
    bad = np.zeros((32, 24), np.uint16)
    bad[3, 4] = 0x4  # flagged in the external file only
    with h5py.File(other, "w") as f:
        f["/data/mask"] = bad
    header = {"mask_file": str(other), "mask": "/data/mask", "mask_good": "0x0", "mask_bad": "0x4"}
    with CXIReader(path, replace(small_geometry(), header=header)) as r:
        m = r.mask(1)
        assert m.sum() == 32 * 24 - 1 and not m[3, 4]  # the file's own /entry_1/data_1/mask is not used
    header = {"mask": "/entry_1/data_1/mask", "mask_good": "0x0", "mask_bad": "0xffff"}
    with CXIReader(path, replace(small_geometry(), header=header)) as r:
        np.testing.assert_array_equal(r.mask(1), items[1]["mask"])
    with pytest.raises(InputError, match="/missing/mask"):
        CXIReader(path, replace(small_geometry(), header={"mask": "/missing/mask"}))
