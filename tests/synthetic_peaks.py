"""Synthetic peak lists for testing and benchmarking indexers without rendering images.

A hit is built from `predict_reflections`: the strongest-looking reflections (partiality ×
a Wilson-like draw × resolution fall-off) become the true peaks, their positions get
Gaussian noise, and spurious peaks are scattered over the panels. A noise-only list keeps
the count and the resolution of each peak of a hit but draws a random azimuth, so a false
positive test sees the same |q| distribution as the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peaknet_bench.crystal import Crystal, PredictionConfig, UnitCell, predict_reflections, random_rotation
from peaknet_bench.frame import PeakList, wavelength_a


@dataclass(frozen=True)
class SyntheticPeaksConfig:
    """How synthetic peak lists are drawn."""

    n_true: tuple[int, int] = (15, 150)  # range of true peaks per lattice (uniform)
    position_sigma_px: float = 0.3
    spurious_fraction: float = 0.2  # spurious peaks per true peak
    profile_radius: tuple[float, float] = (0.0005, 0.002)  # Å⁻¹, uniform range
    bandwidth: float = 1e-3
    b_factor: float = 20.0  # Å², resolution fall-off of the peak selection
    n_lattices: int = 1


@dataclass
class SyntheticFrame:
    """Peaks of one synthetic frame and the truth behind them."""

    peaks: PeakList  # what an indexer sees: noisy true peaks + spurious peaks, shuffled
    crystals: list[Crystal]
    lattice: np.ndarray  # (n,) lattice of each peak, -1 for spurious
    truth: PeakList  # the true peaks without position noise (hkl set), in the order of `truth_lattice`
    truth_lattice: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_true(self) -> int:
        return int((self.lattice >= 0).sum())


def random_detector_peaks(geometry, n: int, rng: np.random.Generator) -> PeakList:
    """`n` peaks uniformly over the panels' pixel areas."""
    widths = np.array([p.width * p.height for p in geometry.panels], np.float64)
    panel = rng.choice(geometry.n_panels, size=n, p=widths / widths.sum())
    min_fs = np.array([p.min_fs for p in geometry.panels], np.float64)
    min_ss = np.array([p.min_ss for p in geometry.panels], np.float64)
    width = np.array([p.width for p in geometry.panels], np.float64)
    height = np.array([p.height for p in geometry.panels], np.float64)
    fs = min_fs[panel] - 0.5 + rng.random(n) * width[panel]
    ss = min_ss[panel] - 0.5 + rng.random(n) * height[panel]
    return PeakList(fs=fs, ss=ss, panel=panel, intensity=rng.exponential(500.0, n))


def synthetic_frame(
    cell: UnitCell, geometry, photon_energy_ev: float, rng: np.random.Generator,
    config: SyntheticPeaksConfig = SyntheticPeaksConfig(), clen_m: float | None = None,
) -> SyntheticFrame:
    """One hit with `config.n_lattices` crystals of `cell` in random orientations."""
    lam = wavelength_a(photon_energy_ev)
    lists, crystals, lattice = [], [], []
    radius = float(rng.uniform(*config.profile_radius))
    for j in range(config.n_lattices):
        crystal = Crystal.from_cell(cell, random_rotation(rng))
        pred = predict_reflections(
            crystal, geometry, lam, clen_m=clen_m,
            config=PredictionConfig(profile_radius=radius, bandwidth=config.bandwidth),
        )
        q = np.linalg.norm(pred.hkl @ crystal.astar, axis=1)
        strength = pred.partiality * rng.exponential(1.0, len(pred)) * np.exp(-config.b_factor * q * q / 2.0)
        n_true = min(int(rng.integers(config.n_true[0], config.n_true[1] + 1)), len(pred))
        chosen = np.argsort(-strength, kind="stable")[:n_true]
        true = pred.subset(chosen)
        true.intensity = 1e4 * strength[chosen]
        lists.append(true)
        crystals.append(crystal)
        lattice.append(np.full(len(true), j))
    truth = PeakList.concatenate(lists)
    truth_lattice = np.concatenate(lattice)
    peaks = PeakList(truth.fs, truth.ss, truth.panel, truth.intensity)
    hkl = truth.hkl
    peaks.fs = peaks.fs + rng.normal(0.0, config.position_sigma_px, len(peaks))
    peaks.ss = peaks.ss + rng.normal(0.0, config.position_sigma_px, len(peaks))
    n_spurious = int(round(config.spurious_fraction * len(peaks)))
    spurious = random_detector_peaks(geometry, n_spurious, rng)
    lattice_all = np.concatenate(lattice + [np.full(n_spurious, -1)])
    hkl_all = np.concatenate([hkl, np.zeros((n_spurious, 3), int)])
    merged = PeakList.concatenate([peaks, spurious])
    merged.hkl = hkl_all.astype(np.int32)
    order = rng.permutation(len(merged))
    merged = merged.subset(order)
    merged.panel = geometry.panel_of(merged.fs, merged.ss)
    return SyntheticFrame(merged, crystals, lattice_all[order], truth, truth_lattice, {"profile_radius": radius})


def noise_like(frame_peaks: PeakList, geometry, photon_energy_ev: float, rng: np.random.Generator,
               clen_m: float | None = None, max_tries: int = 50) -> PeakList:
    """Peaks at the same resolutions as `frame_peaks` but random azimuths (no lattice)."""
    lam = wavelength_a(photon_energy_ev)
    k = 1.0 / lam
    on_panel = frame_peaks.panel >= 0
    q = geometry.q_vectors(frame_peaks.fs[on_panel], frame_peaks.ss[on_panel], lam, frame_peaks.panel[on_panel], clen_m)
    cos2t = (q[:, 2] + k) / k
    n = cos2t.size
    fs, ss, panel = np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1, np.int32)
    todo = np.arange(n)
    for _ in range(max_tries):
        if todo.size == 0:
            break
        phi = rng.uniform(0, 2 * np.pi, todo.size)
        s = np.sqrt(np.clip(1 - cos2t[todo] ** 2, 0, None))
        direction = np.stack([s * np.cos(phi), s * np.sin(phi), cos2t[todo]], axis=1)
        p, f, g = geometry.ray_to_slab(direction, clen_m)
        ok = p >= 0
        fs[todo[ok]], ss[todo[ok]], panel[todo[ok]] = f[ok], g[ok], p[ok]
        todo = todo[~ok]
    keep = panel >= 0
    return PeakList(fs=fs[keep], ss=ss[keep], panel=panel[keep], intensity=frame_peaks.intensity[on_panel][keep])


@dataclass
class FrameScore:
    """How an indexer's answer on a synthetic frame compares with the truth."""

    n_lattices: int  # true lattices in the frame
    n_correct: int  # results matching a true lattice (integer-matrix test, misorientation < 0.5°)
    n_wrong: int  # accepted results matching none
    n_misoriented: int  # of the wrong ones: the right lattice (integer matrix) but misoriented by > the limit
    prediction_sq_px: np.ndarray  # squared pixel distances: found-A predictions vs true (noiseless) spots

    @property
    def correct(self) -> bool:
        return self.n_correct == self.n_lattices and self.n_wrong == 0


def score_results(results, frame: SyntheticFrame, geometry, photon_energy_ev: float, clen_m: float | None = None,
                  max_misorientation_deg: float = 0.5) -> FrameScore:
    """Compare indexing results with a synthetic frame's crystals (SPEC-physics §7 test)."""
    from peaknet_bench.index.validate import compare_lattices

    k = 1.0 / wavelength_a(photon_energy_ev)
    matched: set[int] = set()
    wrong = misoriented = 0
    sq: list[np.ndarray] = []
    for r in results:
        found_real = r.crystal.real_basis()
        hit = None
        for j, c in enumerate(frame.crystals):
            m = compare_lattices(found_real, c.real_basis())
            if j not in matched and m.is_match(max_misorientation_deg=max_misorientation_deg):
                hit = (j, m)
                break
        if hit is None:
            wrong += 1
            misoriented += any(
                compare_lattices(found_real, c.real_basis()).is_match(max_misorientation_deg=180.0) for c in frame.crystals
            )
            continue
        j, m = hit
        matched.add(j)
        truth = frame.truth.subset(frame.truth_lattice == j)
        hkl_found = truth.hkl @ m.matrix.T  # fractional indices transform as the basis: h_f = M h_t
        panel, fs, ss = geometry.ray_to_slab(hkl_found @ r.crystal.astar + np.array([0.0, 0.0, k]), clen_m)
        ok = panel >= 0
        sq.append((fs[ok] - truth.fs[ok]) ** 2 + (ss[ok] - truth.ss[ok]) ** 2)
    return FrameScore(len(frame.crystals), len(matched), wrong, misoriented, np.concatenate(sq) if sq else np.zeros(0))
