"""Synthetic pseudo-Voigt windows with known parameters (tests, validation, benchmarks).

Counts are Poisson draws of the paper's model evaluated at pixel centres, in photons, so
the 1/√(I+1) weights are the right ones and a correct fit has reduced χ² ≈ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaknet_bench.engine.profile import N_PARAMS, Windows, _grid, pseudo_voigt


@dataclass(frozen=True)
class SyntheticWindowsConfig:
    window: int = 9
    amplitude: tuple[float, float] = (100.0, 3000.0)  # photons at the peak (log-uniform)
    eta: tuple[float, float] = (0.0, 1.0)
    centre: float = 0.7  # |cy|, |cx| ≤ this (pixels from the window centre)
    width: tuple[float, float] = (0.7, 1.8)  # σ and γ (pixels)
    background: tuple[float, float] = (1.0, 30.0)  # photons per pixel
    slope: float = 0.5  # |a|, |b| ≤ this (photons per pixel per pixel)


def synthetic_windows(n: int, seed: int, config: SyntheticWindowsConfig = SyntheticWindowsConfig()) -> tuple[Windows, np.ndarray]:
    """`n` noisy windows and their true parameters (N, 11), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    c = config
    p = np.empty((n, N_PARAMS))
    p[:, 0] = np.exp(rng.uniform(np.log(c.amplitude[0]), np.log(c.amplitude[1]), n))
    p[:, 1] = rng.uniform(*c.eta, n)
    p[:, 2:4] = rng.uniform(-c.centre, c.centre, (n, 2))
    p[:, 4:8] = rng.uniform(*c.width, (n, 4))
    p[:, 8:10] = rng.uniform(-c.slope, c.slope, (n, 2))
    h = c.window // 2
    # Keep the background positive over the whole window.
    p[:, 10] = rng.uniform(*c.background, n) + h * (np.abs(p[:, 8]) + np.abs(p[:, 9]))
    y, x = _grid(c.window)
    mu = pseudo_voigt(p, y, x)
    counts = rng.poisson(mu).astype(np.float64).reshape(n, c.window, c.window)
    z = np.zeros(n, np.int64)
    windows = Windows(counts, np.ones(counts.shape, bool), z, z, z.astype(np.int32), z)
    return windows, p


def peak_snr(params: np.ndarray) -> np.ndarray:
    """Signal-to-noise of the peak pixel: A / √(A + background at the centre), photons."""
    return params[:, 0] / np.sqrt(params[:, 0] + np.clip(params[:, 10], 0, None))


@dataclass(frozen=True)
class SyntheticRunConfig:
    """A run of frames with pseudo-Voigt spots at known positions (engine tests/benchmarks)."""

    n_frames: int = 8
    spots: tuple[int, int] = (16, 40)  # true spots per frame (uniform)
    amplitude: tuple[float, float] = (150.0, 2000.0)  # photons at the peak
    width: tuple[float, float] = (0.7, 1.2)  # σ; γ = σ·√(2 ln 2)·U(0.8, 1.25)
    background: float = 5.0  # photons per pixel
    found_noise_px: float = 0.4  # found-peak position error
    false_found: float = 0.05  # false found peaks, as a fraction of the spots
    extra_predicted: float = 0.5  # unobserved predictions, as a fraction of the spots
    blank_every: int = 5  # every n-th frame holds no crystal (0: none)
    margin: int = 6  # spots stay this far from panel edges


class SyntheticRun:
    """Frames, found peaks and predictions, each a deterministic function of (seed, index).

    Picklable and cheap to send to Ray workers: everything is regenerated on demand.
    The true half-maximum label of each frame is `truth_labels(i)`.
    """

    def __init__(self, geometry, seed: int = 0, config: SyntheticRunConfig = SyntheticRunConfig()) -> None:
        self.geometry = geometry
        self.seed = seed
        self.config = config

    def __len__(self) -> int:
        return self.config.n_frames

    def describe(self) -> dict:
        from dataclasses import asdict

        return {"source": "synthetic", "geometry": self.geometry.source, "seed": self.seed, **asdict(self.config)}

    def _truth(self, i: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        """(params (n, 11) with slab centres in cy/cx, panel (n,), rng for the rest of the frame)."""
        c = self.config
        rng = np.random.default_rng([self.seed, i])
        n = 0 if (c.blank_every and i % c.blank_every == c.blank_every - 1) else int(rng.integers(c.spots[0], c.spots[1] + 1))
        panels = self.geometry.panels
        panel = rng.integers(0, len(panels), n)
        p = np.zeros((n, N_PARAMS))
        for k, pi in enumerate(panel):
            pn = panels[pi]
            p[k, 2] = rng.uniform(pn.min_ss + c.margin, pn.max_ss - c.margin)
            p[k, 3] = rng.uniform(pn.min_fs + c.margin, pn.max_fs - c.margin)
        p[:, 0] = np.exp(rng.uniform(np.log(c.amplitude[0]), np.log(c.amplitude[1]), n))
        p[:, 1] = rng.uniform(0.0, 1.0, n)
        p[:, 4:6] = rng.uniform(*c.width, (n, 2))
        p[:, 6:8] = p[:, 4:6] * np.sqrt(2 * np.log(2)) * rng.uniform(0.8, 1.25, (n, 2))
        return p, panel.astype(np.int32), rng

    def frame(self, i: int):
        from peaknet_bench.frame import Frame

        p, panel, rng = self._truth(i)
        g = self.geometry
        mu = np.full(g.slab_shape, self.config.background)
        h = 7
        off = np.arange(-h, h + 1, dtype=np.float64)
        for k in range(len(p)):
            s0, f0 = int(np.rint(p[k, 2])), int(np.rint(p[k, 3]))
            local = p[k : k + 1].copy()
            local[0, 2] -= s0
            local[0, 3] -= f0
            yy, xx = np.meshgrid(off, off, indexing="ij")
            spot = pseudo_voigt(local, yy.ravel(), xx.ravel(), background=False).reshape(2 * h + 1, 2 * h + 1)
            ss_i, fs_i = s0 + off.astype(int), f0 + off.astype(int)
            okr = (ss_i >= 0) & (ss_i < g.slab_shape[0])
            okc = (fs_i >= 0) & (fs_i < g.slab_shape[1])
            mu[np.ix_(ss_i[okr], fs_i[okc])] += spot[np.ix_(okr, okc)]
        mu *= g.panel_map >= 0
        data = rng.poisson(mu).astype(np.float32)
        scale = np.ones(g.slab_shape, np.float32)
        for pn in g.panels:
            scale[pn.min_ss : pn.max_ss + 1, pn.min_fs : pn.max_fs + 1] = pn.adu_per_photon or 1.0
        return Frame(data=data * scale, mask=g.bad_pixel_mask(), geometry=g, photon_energy_ev=9500.0,
                     clen_m=float(g.clen_m or 0.1), event=f"//{i}", meta={"truth_params": p, "truth_panel": panel})

    def found(self, frame, i: int):
        """Found peaks: true spots with position noise, plus a few false peaks."""
        from peaknet_bench.frame import PeakList

        p, panel, _ = self._truth(i)
        rng = np.random.default_rng([self.seed, i, 1])
        c = self.config
        fs = p[:, 3] + rng.normal(0, c.found_noise_px, len(p))
        ss = p[:, 2] + rng.normal(0, c.found_noise_px, len(p))
        n_false = int(round(c.false_found * len(p)))
        pn = rng.integers(0, len(self.geometry.panels), n_false)
        ffs = np.array([rng.uniform(self.geometry.panels[j].min_fs + 5, self.geometry.panels[j].max_fs - 5) for j in pn])
        fss = np.array([rng.uniform(self.geometry.panels[j].min_ss + 5, self.geometry.panels[j].max_ss - 5) for j in pn])
        return PeakList(fs=np.r_[fs, ffs], ss=np.r_[ss, fss], panel=np.r_[panel, pn].astype(np.int32),
                        intensity=np.r_[p[:, 0], np.zeros(n_false)])

    def predicted(self, frame, i: int, found):
        """Predictions: the true positions plus unobserved reflections elsewhere."""
        from peaknet_bench.frame import PeakList

        p, panel, _ = self._truth(i)
        if len(p) == 0:
            return PeakList.empty()
        rng = np.random.default_rng([self.seed, i, 2])
        n_extra = int(round(self.config.extra_predicted * len(p)))
        pn = rng.integers(0, len(self.geometry.panels), n_extra)
        efs = np.array([rng.uniform(self.geometry.panels[j].min_fs, self.geometry.panels[j].max_fs) for j in pn])
        ess = np.array([rng.uniform(self.geometry.panels[j].min_ss, self.geometry.panels[j].max_ss) for j in pn])
        return PeakList(fs=np.r_[p[:, 3], efs], ss=np.r_[p[:, 2], ess], panel=np.r_[panel, pn].astype(np.int32),
                        intensity=np.zeros(len(p) + n_extra))

    def truth_labels(self, i: int) -> np.ndarray:
        """(n_ss, n_fs) bool: pixels where a true spot's profile is ≥ half its brightest pixel."""
        p, panel, _ = self._truth(i)
        out = np.zeros(self.geometry.slab_shape, bool)
        h = 6
        off = np.arange(-h, h + 1, dtype=np.float64)
        yy, xx = np.meshgrid(off, off, indexing="ij")
        for k in range(len(p)):
            s0, f0 = int(np.rint(p[k, 2])), int(np.rint(p[k, 3]))
            local = p[k : k + 1].copy()
            local[0, 2] -= s0
            local[0, 3] -= f0
            local[0, 0] = 1.0
            shape = pseudo_voigt(local, yy.ravel(), xx.ravel(), background=False).reshape(2 * h + 1, 2 * h + 1)
            out[s0 - h : s0 + h + 1, f0 - h : f0 + h + 1] |= shape >= 0.5 * shape.max()
        return out & (self.geometry.panel_map >= 0)


def small_geometry(n_panels: int = 2, size: int = 128):
    """A small test detector: `n_panels` square panels side by side with a 4-pixel gap."""
    from peaknet_bench.geometry import Geometry, Panel

    panels = [
        Panel(f"p{i}", min_fs=0, max_fs=size - 1, min_ss=i * size, max_ss=(i + 1) * size - 1,
              corner_x=-n_panels * (size + 4) / 2 + i * (size + 4), corner_y=size / 2,
              fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=10000.0, adu_per_photon=1.0)
        for i in range(n_panels)
    ]
    return Geometry(panels=panels, clen_m=0.1, photon_energy_ev=9500.0, source=f"small-{n_panels}x{size}")
