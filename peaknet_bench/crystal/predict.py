"""Which reflections a still records, and where (SPEC-physics §3).

One prediction code serves the simulator, the data engine and the indexers. Lattice
points are enumerated directly on the Ewald shell: for every (h, k) column of the
reciprocal lattice the admissible l form at most two integer intervals (the solutions
of a quadratic), so the work scales with the number of reflections near the sphere,
not with the volume of the resolution sphere, and no Python loop runs over reflections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peaknet_bench.crystal.orientation import Crystal
from peaknet_bench.frame import PeakList
from peaknet_bench.util import detmath as dm

DEFAULT_MIN_PARTIALITY = math.exp(-0.5 * 1.7**2)


@dataclass
class PredictionConfig:
    """Partiality model and cut-offs of a still.

    `profile_radius` (Å⁻¹) stands for crystal size and mosaicity; `bandwidth` is Δλ/λ
    (≈1e-3 for SASE pulses, 1e-4 with a monochromator). A reflection is kept when its
    partiality exp(−½e²/(R² + σ_b²)) reaches `min_partiality` (default: |e| ≤ 1.7σ).
    """

    profile_radius: float = 0.001
    bandwidth: float = 1e-3
    d_min_a: float | None = None  # resolution limit (Å); None = the detector's edge
    min_partiality: float = DEFAULT_MIN_PARTIALITY


@dataclass
class EwaldReflections:
    """Lattice points near the Ewald sphere, before any detector is involved."""

    hkl: np.ndarray  # (n, 3) int
    q: np.ndarray  # (n, 3) Å⁻¹, lab frame
    excitation: np.ndarray  # (n,) Å⁻¹, e = 1/λ − |q + k0| (positive: inside the sphere)
    partiality: np.ndarray  # (n,)

    def __len__(self) -> int:
        return int(self.hkl.shape[0])

    def subset(self, index) -> "EwaldReflections":
        return EwaldReflections(self.hkl[index], self.q[index], self.excitation[index], self.partiality[index])


def _expand_intervals(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers of the intervals [lo_i, hi_i] and the interval each belongs to (vectorised)."""
    counts = np.maximum(hi - lo + 1, 0).astype(np.int64)
    owner = np.repeat(np.arange(lo.size), counts)
    starts = np.cumsum(counts) - counts
    values = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(starts, counts))
    return values.astype(np.int64), owner


def ewald_reflections(
    astar: np.ndarray, wavelength_a: float, d_min_a: float, config: PredictionConfig = PredictionConfig(),
    cell=None,
) -> EwaldReflections:
    """All lattice points with d ≥ d_min whose partiality reaches `config.min_partiality`.

    `astar` holds rows a*, b*, c* in the lab frame. When `cell` (a UnitCell) is given, its
    centring and space-group absences are removed.
    """
    astar = np.asarray(astar, dtype=np.float64).reshape(3, 3)
    k = 1.0 / wavelength_a
    qmax = 1.0 / d_min_a
    n_sigma = math.sqrt(max(-2.0 * math.log(config.min_partiality), 0.0))
    # Bandwidth term at the highest resolution bounds the shell half-width.
    sigma_b_max = (qmax * qmax / (2.0 * k * k)) * config.bandwidth * k
    e_max = n_sigma * math.hypot(config.profile_radius, sigma_b_max) * 1.001 + 1e-12
    # Index ranges: |h| = |a · q| ≤ |a| qmax.
    real = dm.inv3(astar).T
    limits = np.floor(dm.norm(real) * qmax).astype(np.int64)
    # Enumerate the two shortest index ranges as a grid; solve for the third.
    order = np.argsort(limits, kind="stable")  # ties (a = b) in the same order on every CPU
    i0, i1, i2 = (int(x) for x in order)
    g0, g1 = np.meshgrid(
        np.arange(-limits[i0], limits[i0] + 1), np.arange(-limits[i1], limits[i1] + 1), indexing="ij"
    )
    g0 = g0.ravel()
    g1 = g1.ravel()
    k0 = np.array([0.0, 0.0, k])
    p0 = g0[:, None] * astar[i0] + g1[:, None] * astar[i1] + k0  # (m, 3)
    w = astar[i2]
    aa = float(dm.dot(w, w))
    bb = dm.dot(p0, w)
    cc = dm.dot(p0, p0)

    def roots(radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        disc = bb * bb - aa * (cc - radius * radius)
        ok = disc >= 0
        s = np.sqrt(np.where(ok, disc, 0.0))
        return ok, (-bb - s) / aa, (-bb + s) / aa

    ok_out, l1, l2 = roots(k + e_max)
    ok_in, l3, l4 = roots(max(k - e_max, 0.0))
    lo_all = np.ceil(l1).astype(np.int64)
    hi_all = np.floor(l2).astype(np.int64)
    # Without an inner intersection the whole outer interval is valid; with it, two pieces.
    lo_a = lo_all
    hi_a = np.where(ok_in, np.floor(l3).astype(np.int64), hi_all)
    lo_b = np.where(ok_in, np.ceil(l4).astype(np.int64), 1)
    hi_b = np.where(ok_in, hi_all, 0)
    keep = ok_out
    lo = np.concatenate([lo_a[keep], lo_b[keep]])
    hi = np.concatenate([hi_a[keep], hi_b[keep]])
    col = np.concatenate([np.nonzero(keep)[0], np.nonzero(keep)[0]])
    lvals, owner = _expand_intervals(lo, hi)
    rows = col[owner]
    hkl = np.empty((lvals.size, 3), dtype=np.int64)
    hkl[:, i0] = g0[rows]
    hkl[:, i1] = g1[rows]
    hkl[:, i2] = lvals
    q = dm.matmul(hkl, astar)
    ray = q + k0
    ray_len = dm.norm(ray)
    excitation = k - ray_len
    with np.errstate(invalid="ignore", divide="ignore"):
        cos2theta = ray[:, 2] / ray_len
    sigma_b = (1.0 - cos2theta) * config.bandwidth * k
    var = config.profile_radius**2 + sigma_b**2
    with np.errstate(invalid="ignore", divide="ignore"):
        partiality = np.where(var > 0, dm.exp(-0.5 * excitation**2 / np.where(var > 0, var, 1.0)), (excitation == 0) * 1.0)
    qlen = dm.norm(q)
    good = (qlen <= qmax) & (partiality >= config.min_partiality) & np.any(hkl != 0, axis=1)
    if cell is not None:
        idx = np.nonzero(good)[0]
        good[idx[cell.is_absent(hkl[idx])]] = False
    return EwaldReflections(hkl[good], q[good], excitation[good], partiality[good])


def detector_d_min(geometry, wavelength_a: float, clen_m: float | None = None) -> float:
    """Best resolution (Å) at the outermost panel corner (all panels in one vectorised call)."""
    lo_fs = np.array([p.min_fs for p in geometry.panels], np.float64) - 0.5
    lo_ss = np.array([p.min_ss for p in geometry.panels], np.float64) - 0.5
    hi_fs = lo_fs + np.array([p.width for p in geometry.panels])
    hi_ss = lo_ss + np.array([p.height for p in geometry.panels])
    fs = np.concatenate([lo_fs, hi_fs, lo_fs, hi_fs])
    ss = np.concatenate([lo_ss, lo_ss, hi_ss, hi_ss])
    panel = np.tile(np.arange(geometry.n_panels), 4)
    q = geometry.q_vectors(fs, ss, wavelength_a, panel, clen_m)
    return float(1.0 / np.max(dm.norm(q)))


def predict_reflections(
    crystal: Crystal, geometry, wavelength_a: float, *, clen_m: float | None = None,
    config: PredictionConfig = PredictionConfig(),
) -> PeakList:
    """Reflections recorded on a still by `geometry`: PeakList with fs, ss, panel, hkl, partiality.

    Intensity is 0 (unknown: the simulator fills it). Centring and space-group absences of
    `crystal.cell` are removed; reflections whose ray misses every panel or falls in a gap
    are dropped.
    """
    d_min = config.d_min_a if config.d_min_a is not None else detector_d_min(geometry, wavelength_a, clen_m)
    refl = ewald_reflections(crystal.astar, wavelength_a, d_min, config, cell=crystal.cell)
    if len(refl) == 0:
        z = np.zeros(0)
        return PeakList(fs=z, ss=z, panel=z, intensity=z, hkl=np.zeros((0, 3)), partiality=z)
    direction = refl.q + np.array([0.0, 0.0, 1.0 / wavelength_a])
    panel, fs, ss = geometry.ray_to_slab(direction, clen_m)
    hit = panel >= 0
    return PeakList(
        fs=fs[hit], ss=ss[hit], panel=panel[hit], intensity=np.zeros(int(hit.sum())),
        hkl=refl.hkl[hit], partiality=refl.partiality[hit],
    )
