"""Reading a frame, per format, next to peakfinder8 on the same frame (issue 16).

Formats: miniCBF (Pilatus 6M, plain and .bz2), multi-panel imgCIF (CSPAD, CBF_PACKED), NeXus/NXmx
(the Pilatus frame as uint32 in a bitshuffle/LZ4 data file behind a master file) and CXI (the
same frame, gzip). Each read benchmark opens the file and builds the `Frame` (data, mask,
geometry), as `open_frames` does for a new file; the peakfinder8 benchmark runs on that frame.
Target: reading never dominates peak finding (stated per format in the report's extra_info).

Run: pytest benchmarks/bench_frames.py --benchmark-only --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import bz2
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from peaknet_bench.geometry import write_geom
from peaknet_bench.io.cxi import CXIWriter
from peaknet_bench.io.frames import open_reader
from peaknet_bench.peakfind import Peakfinder8, Peakfinder8Params

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "cbf"
if not REAL.exists():
    REAL = Path("/work/shared/real/cbf")
PILATUS = REAL / "thau_3_2_0001.cbf.bz2"
CSPAD = REAL / "idx-20130301060858401.cbf"
pytestmark = pytest.mark.skipif(not CSPAD.exists(), reason="shared/real sample files not present")

SETTINGS = {  # detector-appropriate peakfinder8 settings (docs/io.md)
    "pilatus": Peakfinder8Params(threshold=10, min_snr=5, min_pix_count=2),
    "cspad": Peakfinder8Params(threshold=100, min_snr=5, min_pix_count=2),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[str, str | None, str]]:
    """format -> (path, geom or None, detector) for one frame of each format."""
    d = tmp_path_factory.mktemp("frames")
    plain = d / "thau.cbf"
    plain.write_bytes(bz2.decompress(PILATUS.read_bytes()))
    frame = open_reader(str(plain)).frame(0)
    raw = np.where(frame.data < 0, np.uint32(0xFFFFFFFF), frame.data).astype(np.uint32)
    with h5py.File(d / "thau_data_000001.h5", "w") as f:
        f.create_dataset("entry/data/data", data=raw[None], chunks=(1, *raw.shape), **hdf5plugin.Bitshuffle(cname="lz4"))
    _nxmx_master(d / "thau_master.h5", frame)
    with CXIWriter(d / "thau.cxi") as w:
        w.append(data=frame.data, mask=frame.mask, photon_energy_ev=frame.photon_energy_ev, clen_m=frame.clen_m,
                 event="//0")
    write_geom(frame.geometry, d / "thau.geom")
    return {
        "minicbf": (str(plain), None, "pilatus"), "minicbf-bz2": (str(PILATUS), None, "pilatus"),
        "imgcif": (str(CSPAD), None, "cspad"), "nexus-bslz4": (str(d / "thau_master.h5"), None, "pilatus"),
        "cxi-gzip": (str(d / "thau.cxi"), str(d / "thau.geom"), "pilatus"),
    }


def _nxmx_master(path: Path, frame) -> None:
    """An NXmx master for the Pilatus frame: one module, geometry equal to the CBF header's."""
    p = frame.geometry.panels[0]
    px = 1.0 / p.res
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data["data_000001"] = h5py.ExternalLink("thau_data_000001.h5", "/entry/data/data")
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        det["pixel_mask"] = (~frame.mask).astype(np.uint32)
        module = det.create_group("module")
        module.attrs["NX_class"] = "NXdetector_module"
        module["data_origin"] = np.array([0, 0])
        module["data_size"] = np.array(frame.data.shape)
        off = module.create_dataset("module_offset", data=0.0)
        off.attrs.update(transformation_type="translation", vector=[1.0, 0.0, 0.0], units="m", depends_on=".",
                         offset=[p.corner_x * px, p.corner_y * px, frame.clen_m])
        for name, vec in (("fast_pixel_direction", p.fs), ("slow_pixel_direction", p.ss)):
            ds = module.create_dataset(name, data=px)
            ds.attrs.update(transformation_type="translation", vector=list(vec), units="m", depends_on=off.name)
        beam = inst.create_group("beam")
        beam.attrs["NX_class"] = "NXbeam"
        beam["incident_wavelength"] = 12398.42 / frame.photon_energy_ev


def _read(path: str, geom: str | None):
    from peaknet_bench.geometry import read_geom

    g = read_geom(geom) if geom else None
    reader = open_reader(path, g)
    try:
        return reader.frame(0)
    finally:
        reader.close()


@pytest.mark.parametrize("fmt", ["minicbf", "minicbf-bz2", "imgcif", "nexus-bslz4", "cxi-gzip"])
def test_read_frame(benchmark, files, fmt: str) -> None:
    path, geom, detector = files[fmt]
    benchmark.group = f"frames: {detector}"
    frame = benchmark(_read, path, geom)
    benchmark.extra_info.update(format=fmt, slab=list(frame.data.shape), mpix=frame.data.size / 1e6)


@pytest.mark.parametrize("detector,fmt", [("pilatus", "minicbf"), ("cspad", "imgcif")])
def test_peakfinder8_same_frame(benchmark, files, detector: str, fmt: str) -> None:
    path, geom, _ = files[fmt]
    frame = _read(path, geom)
    finder = Peakfinder8(SETTINGS[detector], frame.geometry)
    finder.warm_up()
    benchmark.group = f"frames: {detector}"
    peaks = benchmark(finder.find, frame)
    benchmark.extra_info.update(format=f"peakfinder8 on {fmt}", n_peaks=len(peaks))
