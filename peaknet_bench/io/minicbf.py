"""miniCBF (Dectris Pilatus/Eiger single-panel CBF) frames: our CIF header parser + fabio's
byte-offset codec (3x faster than `fabio.open`, which re-parses the header into dicts).

Geometry comes from the Dectris text header (`_array_data.header_contents`): pixel size,
detector distance, beam centre (pixels from the corner of the first pixel, as DIALS reads
it), wavelength, count cutoff and sensor thickness. Dectris detectors count photons, so the
panel's adu_per_photon is 1 (what DIALS assumes for them too). Lab frame as CrystFEL (+z along the
beam): DIALS/imgCIF put the first pixel's corner at (-bx, +by, -d) with fast = +x and
slow = -y; rotating by 180° about y gives corner (+bx, +by, +d), fs = -x, ss = -y.

Bad pixels: negative values (Pilatus gaps -1/-2 and flagged pixels) and values at or
above the count cutoff (DIALS' trusted range, exclusive at both ends).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import WAVELENGTH_EV_A
from peaknet_bench.io.frames import FrameReader, register_reader

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_FIELDS = {
    "pixel_size": re.compile(rf"Pixel_size\s+{_NUM}\s*m\s*x\s*{_NUM}\s*m", re.I),
    "distance": re.compile(rf"Detector_distance\s+{_NUM}\s*m", re.I),
    "beam_xy": re.compile(rf"Beam_xy\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)", re.I),
    "wavelength": re.compile(rf"Wavelength\s+{_NUM}\s*A", re.I),
    "cutoff": re.compile(rf"Count_cutoff\s+{_NUM}", re.I),
    "thickness": re.compile(rf"thickness\s+{_NUM}\s*m", re.I),
    "two_theta": re.compile(rf"Detector_2theta\s+{_NUM}", re.I),
    "detector": re.compile(r"#\s*Detector:\s*(.*)", re.I),
}


def parse_header(text: str, source: str) -> dict[str, Any]:
    """The numbers of a Dectris miniCBF header; InputError naming the missing field."""
    out: dict[str, Any] = {}
    for key, rx in _FIELDS.items():
        m = rx.search(text)
        if m:
            out[key] = m.group(1).strip() if key == "detector" else tuple(float(g) for g in m.groups())
    for key, label in (("pixel_size", "Pixel_size"), ("distance", "Detector_distance"), ("beam_xy", "Beam_xy")):
        if key not in out:
            raise InputError(source, f"header {label}", "missing; expected a Dectris miniCBF header with "
                                                        "Pixel_size, Detector_distance and Beam_xy")
    if out.get("two_theta", (0.0,))[0] != 0.0:
        raise InputError(source, "header Detector_2theta", f"{out['two_theta'][0]} deg; only an untilted detector "
                                                           "(2theta = 0) is supported, pass --geom for others")
    return out


def header_geometry(h: dict[str, Any], shape: tuple[int, int], source: str):
    """A one-panel Geometry from parsed header numbers and the (ss, fs) data shape."""
    from peaknet_bench.geometry import Geometry, Panel
    from peaknet_bench.geometry.model import counts_photons

    px, py = h["pixel_size"]
    if abs(px - py) > 1e-12 * max(px, py):
        raise InputError(source, "header Pixel_size", f"{px} x {py} m; expected square pixels")
    bx, by = h["beam_xy"]
    energy = WAVELENGTH_EV_A / h["wavelength"][0] if "wavelength" in h else None
    panel = Panel(name="p0", min_fs=0, max_fs=shape[1] - 1, min_ss=0, max_ss=shape[0] - 1,
                  corner_x=bx, corner_y=by, fs=(-1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=1.0 / px,
                  adu_per_photon=1.0)
    if "cutoff" in h:
        panel.max_adu = h["cutoff"][0]
    # miniCBF is Dectris' format: its detectors count photons (a header naming another says so)
    name = h.get("detector")
    return Geometry(panels=[panel], clen_m=h["distance"][0], photon_energy_ev=energy, source=source,
                    counts_photons=True if not name else counts_photons(name))


@register_reader
class MiniCBFReader(FrameReader):
    """One Pilatus/Eiger miniCBF frame per file (.cbf, .cbf.bz2, .cbf.gz)."""

    name = "minicbf"
    extensions = (".cbf", ".cbf.bz2", ".cbf.gz")
    frames_per_file = 1

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return head.lstrip().startswith((b"###CBF", b"data_")) and (
            b"_array_data.header_contents" in head or b"_array_data.header_convention" in head)

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        super().__init__(path, geometry)
        self._image = None

    def _load(self):
        """Parse the header and decode the one binary section (fabio's byte-offset codec)."""
        if self._image is None:
            from peaknet_bench.io._cbf_codecs import decode_byte_offset
            from peaknet_bench.io._cif import parse_cif
            from peaknet_bench.io.frames import read_all

            block = parse_cif(read_all(self.path), self.path)
            if len(block.binaries) != 1:
                raise InputError(self.path, "binary sections", f"{len(block.binaries)}; expected one image")
            sec = next(iter(block.binaries.values()))
            conv = sec.header.get("conversions", "").lower()
            if "byte_offset" not in conv:
                raise InputError(self.path, "binary section", f"conversions {conv!r}; expected x-CBF_BYTE_OFFSET")
            nfs = sec.get_int("x-binary-size-fastest-dimension")
            nss = sec.get_int("x-binary-size-second-dimension")
            if not nfs or not nss:
                raise InputError(self.path, "binary section", "no X-Binary-Size-Fastest/Second-Dimension")
            self._image = decode_byte_offset(sec.payload, (nss, nfs), source=self.path, where="binary section")
            self._header = parse_header(block.value("array_data", "header_contents", "") or "", self.path)
        return self._image

    def __len__(self) -> int:
        return 1

    def file_geometry(self):
        shape = self._load().shape
        return header_geometry(self._header, shape, self.path)

    def sensor(self) -> dict[str, float]:
        """Sensor thickness (m) and material, for the parallax correction."""
        self._load()
        t = self._header.get("thickness")
        return {"thickness_m": t[0], "material": "Si"} if t else {}

    def read(self, i: int):
        raw = self._load()
        good = raw >= 0
        cutoff = self._header.get("cutoff")
        if cutoff is not None:
            good &= raw < cutoff[0]
        meta: dict[str, Any] = {"clen_m": self._header["distance"][0], "event": "//0", "sensor": self.sensor()}
        if "wavelength" in self._header:
            meta["photon_energy_ev"] = WAVELENGTH_EV_A / self._header["wavelength"][0]
        if "detector" in self._header:
            meta["detector"] = self._header["detector"]
        return raw.astype(np.float32), good, meta

    def close(self) -> None:
        self._image = None
