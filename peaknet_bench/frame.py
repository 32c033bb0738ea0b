"""The shared data model: a peak list and a detector frame.

Coordinates are *slab* coordinates, 0-based, with the centre of pixel (0, 0) at
(0.0, 0.0) (`fs` = column, `ss` = row). CrystFEL's +0.5 convention is applied only
in `peaknet_bench.io` where files are read or written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from peaknet_bench.geometry import Geometry

WAVELENGTH_EV_A = 12398.42  # λ[Å] = 12398.42 / E[eV]
HIT_MIN_PEAKS = 10  # the hit rule: a frame with at least this many peaks is a hit (every --min-peaks)


def wavelength_a(photon_energy_ev: float) -> float:
    """Photon wavelength in Å from the photon energy in eV (InputError unless positive and finite:
    callers that know the file or frame check first and name it)."""
    e = float(photon_energy_ev)
    if not (math.isfinite(e) and e > 0):
        from peaknet_bench.errors import InputError

        raise InputError(None, "photon_energy_ev", f"expected a positive photon energy in eV, got {photon_energy_ev!r}")
    return WAVELENGTH_EV_A / e


@dataclass
class PeakList:
    """Columnar peak list (one entry per peak). Optional columns may be None."""

    fs: np.ndarray
    ss: np.ndarray
    panel: np.ndarray  # int index into Geometry.panels, -1 if unknown
    intensity: np.ndarray
    snr: np.ndarray | None = None
    npix: np.ndarray | None = None
    max_intensity: np.ndarray | None = None
    hkl: np.ndarray | None = None  # (n, 3) int
    partiality: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.fs = np.asarray(self.fs, dtype=np.float64).reshape(-1)
        n = self.fs.size
        self.ss = np.asarray(self.ss, dtype=np.float64).reshape(-1)
        self.panel = np.asarray(self.panel, dtype=np.int32).reshape(-1)
        self.intensity = np.asarray(self.intensity, dtype=np.float64).reshape(-1)
        for name in ("snr", "npix", "max_intensity", "partiality"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float64).reshape(-1))
        if self.hkl is not None:
            self.hkl = np.asarray(self.hkl, dtype=np.int32).reshape(-1, 3)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and len(value) != n:
                raise ValueError(f"PeakList column {f.name!r} has {len(value)} rows, expected {n}")

    @classmethod
    def empty(cls) -> "PeakList":
        z = np.zeros(0)
        return cls(fs=z, ss=z, panel=np.zeros(0, np.int32), intensity=z)

    def __len__(self) -> int:
        return int(self.fs.size)

    def subset(self, index: Any) -> "PeakList":
        """Rows selected by a boolean mask or integer index array."""
        kw = {f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index]) for f in fields(self)}
        return PeakList(**kw)

    def positions(self) -> np.ndarray:
        """(n, 2) array of (fs, ss)."""
        return np.stack([self.fs, self.ss], axis=1)

    @classmethod
    def concatenate(cls, lists: list["PeakList"]) -> "PeakList":
        if not lists:
            return cls.empty()
        kw = {}
        for f in fields(cls):
            cols = [getattr(p, f.name) for p in lists]
            kw[f.name] = None if any(c is None for c in cols) else np.concatenate(cols)
        return cls(**kw)


@dataclass
class Frame:
    """One detector readout: slab data, good-pixel mask and the beam/detector state."""

    data: np.ndarray  # (n_ss, n_fs) float32 slab
    mask: np.ndarray  # (n_ss, n_fs) bool, True = good
    geometry: "Geometry"
    photon_energy_ev: float
    clen_m: float
    event: str = "//0"
    truth: Any | None = None  # simulator ground truth, when known
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def wavelength_a(self) -> float:
        return wavelength_a(self.photon_energy_ev)
