"""The indexer interface and its result type, shared by the built-in and CrystFEL backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from peaknet_bench.crystal import Crystal, UnitCell
from peaknet_bench.frame import PeakList, wavelength_a
from peaknet_bench.util import detmath as dm


@dataclass
class IndexedCrystal:
    """One lattice found on a frame.

    `peak_indices` index the input PeakList; `hkl` are the integer indices of those peaks.
    Residuals are reciprocal-space distances (Å⁻¹) perpendicular to each peak's ray (what the
    detector measures); `excitation` is the along-ray part, i.e. the excitation error.
    """

    crystal: Crystal  # refined A* in the lab frame; crystal.cell is the target (symmetry)
    cell: UnitCell  # refined cell parameters (lattice type etc. copied from the target)
    peak_indices: np.ndarray  # (m,) int
    hkl: np.ndarray  # (m, 3) int
    residuals: np.ndarray  # (m,) Å⁻¹, perpendicular to the ray
    excitation: np.ndarray  # (m,) Å⁻¹
    n_peaks: int  # peaks offered to the indexer for this frame
    rms_px: float = float("nan")  # RMS pixel distance between observed and predicted matched peaks
    method: str = "builtin"
    meta: dict = field(default_factory=dict)

    @property
    def n_inliers(self) -> int:
        return int(self.peak_indices.size)

    @property
    def fraction(self) -> float:
        return self.n_inliers / max(self.n_peaks, 1)

    @property
    def rms_residual(self) -> float:
        """RMS perpendicular reciprocal-space residual (Å⁻¹)."""
        return float(np.sqrt(np.mean(self.residuals**2))) if self.residuals.size else float("nan")

    @property
    def profile_radius(self) -> float:
        """RMS excitation error of the matched peaks (Å⁻¹): an estimate of the profile radius."""
        return float(np.sqrt(np.mean(self.excitation**2))) if self.excitation.size else float("nan")


@runtime_checkable
class Indexer(Protocol):
    """Peaks of one frame + detector + beam → zero or more lattices of the target cell."""

    name: str
    cell: UnitCell

    def index(
        self, peaks: PeakList, geometry, photon_energy_ev: float, clen_m: float | None = None
    ) -> list[IndexedCrystal]:
        """Lattices found on the frame (empty list: not indexed). Never raises on bad peaks."""
        ...


def distinct_peaks(peaks: PeakList, min_separation_px: float) -> np.ndarray:
    """Indices of the peaks that remain when every peak closer than `min_separation_px` (in the
    slab, where panels never overlap) to a brighter kept one is dropped (greedy non-maximum
    suppression; positions must be finite).

    An indexer must count evidence once: 30 copies of one position are one peak, not a
    lattice; two Bragg peaks are never resolved closer than a pixel.
    """
    n = len(peaks)
    if n < 2 or not min_separation_px > 0:
        return np.arange(n)
    from scipy.spatial import cKDTree

    xy = np.column_stack([peaks.fs, peaks.ss])
    rank = peaks.intensity if peaks.intensity is not None else np.zeros(n)
    pairs = cKDTree(xy).query_pairs(min_separation_px, output_type="ndarray")
    if pairs.size == 0:
        return np.arange(n)
    order = np.lexsort((np.arange(n), -np.nan_to_num(rank, nan=-np.inf)))  # best rank first, then input order
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    dropped = np.zeros(n, bool)
    for i in sorted(neighbours, key=lambda k: position[k]):
        if not dropped[i]:
            dropped[neighbours[i]] = True
    return np.nonzero(~dropped)[0]


def peaks_to_q(peaks: PeakList, geometry, photon_energy_ev: float, clen_m: float | None = None):
    """Scattering vectors of the peaks that lie on a panel.

    Returns (q (m, 3) Å⁻¹, usable (m,) indices into `peaks`). Peaks with an unknown panel
    (-1) get one from the geometry; peaks off every panel or with non-finite positions are
    dropped rather than raising, so an indexer can answer "not indexed".
    """
    if len(peaks) == 0:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    finite = np.isfinite(peaks.fs) & np.isfinite(peaks.ss)
    panel = np.where(finite, peaks.panel, -1)
    unknown = (panel < 0) & finite
    if unknown.any():
        panel[unknown] = geometry.panel_of(peaks.fs[unknown], peaks.ss[unknown])
    panel = np.where(panel < geometry.n_panels, panel, -1)
    usable = np.nonzero(panel >= 0)[0]
    if usable.size == 0:
        return np.zeros((0, 3)), usable
    q = geometry.q_vectors(peaks.fs[usable], peaks.ss[usable], wavelength_a(photon_energy_ev), panel[usable], clen_m)
    good = np.all(np.isfinite(q), axis=1) & (dm.norm(q) > 0)
    return q[good], usable[good]


def ray_directions(q: np.ndarray, photon_energy_ev: float) -> np.ndarray:
    """Unit vectors from the Ewald-sphere centre through each q (the peaks' ray directions)."""
    ray = q + np.array([0.0, 0.0, 1.0 / wavelength_a(photon_energy_ev)])
    return ray / dm.norm(ray, keepdims=True)


def prediction_rms_px(astar: np.ndarray, hkl: np.ndarray, peaks: PeakList, geometry, photon_energy_ev: float,
                      clen_m: float | None = None) -> float:
    """RMS pixel distance between peaks and where `astar` predicts their reflections `hkl`."""
    if len(peaks) == 0:
        return float("nan")
    k = 1.0 / wavelength_a(photon_energy_ev)
    panel, fs, ss = geometry.ray_to_slab(dm.matmul(hkl, astar) + np.array([0.0, 0.0, k]), clen_m)
    hit = panel >= 0
    if not hit.any():
        return float("nan")
    d2 = (fs[hit] - peaks.fs[hit]) ** 2 + (ss[hit] - peaks.ss[hit]) ** 2
    return float(np.sqrt(d2.mean()))
