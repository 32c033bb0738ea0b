"""CXI / CrystFEL-style HDF5 frames as a registered reader (the geometry comes from --geom)."""

from __future__ import annotations

from typing import Any

from peaknet_bench.io.frames import HDF5_MAGIC, FrameReader, register_reader


@register_reader
class CXIFrameReader(FrameReader):
    """Frames of a CXI file (/entry_1/data_1/data or the `.geom`'s `data` path); needs a geometry.

    Registered after the NeXus reader: any HDF5 file that is not NXmx is read as CXI/CrystFEL
    HDF5, with the geometry's `data`, `mask*`, `clen` and `photon_energy` keys deciding what is read.
    """

    name = "cxi"
    extensions = (".cxi", ".h5", ".hdf5")
    resolves_beam = True  # CXIReader: per-frame photon energy from the file, clen as CrystFEL takes it

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return head.startswith(HDF5_MAGIC)

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        super().__init__(path, geometry)
        self._rd = None

    def reader(self):
        if self._rd is None:
            from peaknet_bench.io.cxi import CXIReader

            self._rd = CXIReader(self.path, self.geometry)
        return self._rd

    def __len__(self) -> int:
        return len(self.reader())

    def read(self, i: int):
        rd = self.reader()
        meta: dict[str, Any] = {"photon_energy_ev": rd.photon_energy_ev(i), "clen_m": rd.clen_m(i),
                                "event": rd.event(i)}
        if rd.has_peaks:
            meta["peaks"] = rd.peaks(i)
        return rd.data(i), rd.mask(i), meta

    def close(self) -> None:
        if self._rd is not None:
            self._rd.close()
            self._rd = None
