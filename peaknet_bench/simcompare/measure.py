"""The measurements of one set of frames, identical for real and simulated frames.

A `FrameSetMeasurement` takes frames one at a time (`add`) and keeps small per-frame
summaries, never the frames themselves:

* the radial background profile: per |q| bin (common bin edges for both sets) the median,
  16th and 84th percentiles and the trimmed mean and variance (pixels at or below the bin's
  99th percentile: no spots, no hot pixels) of the good pixels (mask & finite), per frame;
* whole-frame pixel statistics and a fixed-size random sample of good pixel values (for a
  pixel-value histogram on edges common to both sets, drawn from a seeded generator);
* the spots of a peak finder (any `PeakFinder`: the command uses the registered finder of
  `--method`, peakfinder8 by default) with the finder's intensity, pixel count and SNR,
  the spot's |q| (1/d), and a fit window around each spot (`engine.profile.extract_windows`, data divided by the
  set's ADU per photon so that the fit's weights are Poisson weights).

`finish()` fits all windows with the data engine's pseudo-Voigt fitter
(`engine.profile.fit_batched`, the engine's model, bounds and χ² acceptance) and derives
size and shape per accepted spot: FWHM along ss and fs (the half-maximum width of the
fitted η·L + (1−η)·G along each axis, `pseudo_voigt_fwhm`), their geometric mean, the aspect
ratio (long/short axis), the pixels at or above half the fitted peak pixel (the engine's
label rule, `engine.labels.window_labels`) and the fitted intensity within the window.

Everything is measured in ADU (the detector's own units); photons are ADU divided by the
set's `Gain` (which also says where that number came from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from peaknet_bench.engine.labels import window_labels
from peaknet_bench.engine.profile import HWHM_PER_SIGMA, FitConfig, Windows, extract_windows, fit_batched, pseudo_voigt
from peaknet_bench.frame import Frame, PeakList

PROFILE_PERCENTILES = (16.0, 50.0, 84.0, 99.0)  # per bin; the 99th is the trimmed mean's cut
SPOT_QUANTILES = (5.0, 16.0, 25.0, 50.0, 75.0, 84.0, 95.0)


@dataclass(frozen=True)
class Gain:
    """ADU per photon of a set of frames and where the number comes from: "geometry" (the
    panels' adu_per_photon), "option" (given by the user), "experiment" (simulated frames), or
    "assumed: the experiment's" (real frames whose files carry no gain)."""

    adu_per_photon: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"adu_per_photon": self.adu_per_photon, "source": self.source}


def geometry_gain(geometry) -> float | None:
    """The panels' common ADU per photon (the median if they differ); None when no panel has one."""
    values = [p.adu_per_photon for p in geometry.panels if p.adu_per_photon]
    return float(np.median(values)) if values else None


# ---------------------------------------------------------------- resolution bins
def pixel_q(geometry, clen_m: float, wavelength_a: float) -> np.ndarray:
    """|q| = 2 sin θ / λ (Å⁻¹, 1/d) of every slab pixel centre, float32 (n_ss, n_fs); NaN
    outside every panel. Computed panel by panel from the geometry's lab positions."""
    out = np.full(geometry.slab_shape, np.nan, np.float32)
    for i, p in enumerate(geometry.panels):
        ss, fs = np.mgrid[p.min_ss: p.max_ss + 1, p.min_fs: p.max_fs + 1].astype(np.float64)
        r = geometry.lab_position_m(fs, ss, np.full(fs.shape, i), clen_m)
        two_theta = np.arctan2(np.hypot(r[..., 0], r[..., 1]), r[..., 2])
        out[p.min_ss: p.max_ss + 1, p.min_fs: p.max_fs + 1] = 2.0 * np.sin(0.5 * two_theta) / wavelength_a
    return out


class _RadialBins:
    """Pixels of one |q| map sorted by bin once, so that a frame's per-bin values are one gather."""

    def __init__(self, q: np.ndarray, edges: np.ndarray) -> None:
        self.q = q
        flat = q.ravel()
        index = np.searchsorted(edges, flat, side="right") - 1  # NaN sorts past the last edge
        inside = (index >= 0) & (index < len(edges) - 1) & np.isfinite(flat)
        pixels = np.flatnonzero(inside)
        order = np.argsort(index[pixels], kind="stable")
        self.pixels = pixels[order]
        self.bounds = np.searchsorted(index[self.pixels], np.arange(len(edges)))

    def profile(self, data: np.ndarray, good: np.ndarray, min_pixels: int) -> dict[str, np.ndarray]:
        values = data.ravel()[self.pixels]
        ok = good.ravel()[self.pixels] & np.isfinite(values)
        n_bins = len(self.bounds) - 1
        out = {k: np.full(n_bins, np.nan) for k in ("p16", "median", "p84", "p99", "trimmed_mean", "trimmed_var")}
        out["n_pixels"] = np.zeros(n_bins, np.int64)
        for b in range(n_bins):
            lo, hi = self.bounds[b], self.bounds[b + 1]
            v = values[lo:hi][ok[lo:hi]].astype(np.float64)
            out["n_pixels"][b] = v.size
            if v.size < min_pixels:
                continue
            p16, p50, p84, p99 = np.percentile(v, PROFILE_PERCENTILES)
            out["p16"][b], out["median"][b], out["p84"][b], out["p99"][b] = p16, p50, p84, p99
            kept = v[v <= p99]
            out["trimmed_mean"][b], out["trimmed_var"][b] = kept.mean(), kept.var()
        return out


class RadialBinner:
    """Per-frame radial profiles on fixed |q| edges; one sorted pixel order per distinct
    (geometry, camera length, wavelength), shared by the frames that have it."""

    def __init__(self, edges: np.ndarray, min_pixels: int) -> None:
        self.edges = np.asarray(edges, np.float64)
        self.min_pixels = int(min_pixels)
        self._cache: list[tuple[Any, float, float, _RadialBins]] = []

    def bins_for(self, frame: Frame) -> _RadialBins:
        clen, lam = float(frame.clen_m), float(frame.wavelength_a)
        for geometry, c, w, bins in self._cache:
            if (geometry is frame.geometry or geometry == frame.geometry) and c == clen and w == lam:
                return bins
        bins = _RadialBins(pixel_q(frame.geometry, clen, lam), self.edges)
        self._cache.append((frame.geometry, clen, lam, bins))
        return bins

    def prime(self, geometry, clen_m: float, wavelength_a: float, q: np.ndarray) -> None:
        """Use an already computed |q| map (`pixel_q`) for frames of this geometry and beam."""
        self._cache.append((geometry, float(clen_m), float(wavelength_a), _RadialBins(q, self.edges)))

    def profile(self, frame: Frame, good: np.ndarray) -> dict[str, np.ndarray]:
        return self.bins_for(frame).profile(frame.data, good, self.min_pixels)


def good_pixels(frame: Frame) -> np.ndarray:
    """The frame's good pixels: its mask (True = good), in a panel, and finite."""
    return np.asarray(frame.mask, bool) & (frame.geometry.panel_map >= 0) & np.isfinite(frame.data)


# ---------------------------------------------------------------- spot shape
def pseudo_voigt_fwhm(eta: np.ndarray, sigma: np.ndarray, gamma: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Full width at half maximum (px) of η/(1 + t²/γ²) + (1 − η)·exp(−t²/(2σ²)) along one axis:
    the fitter's profile (engine.profile) cut through its centre. Vectorised bisection on
    [0, max(σ·√(2 ln 2), γ)], where both components are at or below one half."""
    eta, sigma, gamma = (np.asarray(a, np.float64) for a in np.broadcast_arrays(eta, sigma, gamma))
    lo = np.zeros(eta.shape)
    hi = np.maximum(sigma * HWHM_PER_SIGMA, gamma)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            t = 0.5 * (lo + hi)
            f = eta / (1.0 + (t / gamma) ** 2) + (1.0 - eta) * np.exp(-0.5 * (t / sigma) ** 2)
            above = f > 0.5
            lo = np.where(above, t, lo)
            hi = np.where(above, hi, t)
    return lo + hi  # 2 × the half width


def spot_shapes(params: np.ndarray) -> dict[str, np.ndarray]:
    """FWHM along ss and fs, their geometric mean and the aspect ratio (≥ 1) of fitted
    pseudo-Voigt parameters (N, 11) in engine.profile.PARAM_NAMES order."""
    eta = params[:, 1]
    fwhm_ss = pseudo_voigt_fwhm(eta, params[:, 4], params[:, 6])
    fwhm_fs = pseudo_voigt_fwhm(eta, params[:, 5], params[:, 7])
    return {
        "fwhm_ss_px": fwhm_ss, "fwhm_fs_px": fwhm_fs, "fwhm_px": np.sqrt(fwhm_ss * fwhm_fs),
        "aspect": np.maximum(fwhm_ss, fwhm_fs) / np.minimum(fwhm_ss, fwhm_fs), "eta": eta,
    }


def quantiles(values: np.ndarray) -> dict[str, Any]:
    """n, mean and the SPOT_QUANTILES of the finite values (NaN when there are none)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    out: dict[str, Any] = {"n": int(v.size), "mean": float(v.mean()) if v.size else float("nan")}
    q = np.percentile(v, SPOT_QUANTILES) if v.size else np.full(len(SPOT_QUANTILES), np.nan)
    out.update({f"p{int(p)}": float(x) for p, x in zip(SPOT_QUANTILES, q)})
    return out


# ---------------------------------------------------------------- one set of frames
class FrameSetMeasurement:
    """Accumulates the measurements of one set of frames (see the module docstring)."""

    def __init__(self, name: str, binner: RadialBinner, finder, gain: Gain, *, fit: FitConfig = FitConfig(),
                 pixel_sample: int = 200_000, seed: int = 0) -> None:
        self.name = name
        self.binner = binner
        self.finder = finder
        self.gain = gain
        self.fit_config = fit
        self.pixel_sample = int(pixel_sample)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20240618]))
        self.frames: list[dict[str, Any]] = []
        self.profiles: list[dict[str, np.ndarray]] = []
        self.samples: list[np.ndarray] = []
        self.peaks: list[dict[str, np.ndarray]] = []
        self.windows: list[Windows] = []

    def add(self, frame: Frame) -> None:
        """Measure one frame."""
        i = len(self.frames)
        good = good_pixels(frame)
        values = frame.data[good].astype(np.float64)
        if values.size == 0:
            from peaknet_bench.errors import InputError

            raise InputError(frame.meta.get("source", self.name), frame.event, "no good pixels (mask & finite)")
        p16, p50, p84, p99, p999 = np.percentile(values, (16.0, 50.0, 84.0, 99.0, 99.9))
        self.profiles.append(self.binner.profile(frame, good))
        take = min(self.pixel_sample, values.size)
        self.samples.append(values[self.rng.choice(values.size, take, replace=False)] if take < values.size else values)
        peaks = _with_panels(self.finder.find(frame), frame.geometry)
        n = len(peaks)
        q = self.binner.bins_for(frame).q
        ss = np.clip(np.rint(peaks.ss).astype(np.int64), 0, q.shape[0] - 1)
        fs = np.clip(np.rint(peaks.fs).astype(np.int64), 0, q.shape[1] - 1)
        self.peaks.append({
            "frame": np.full(n, i, np.int64), "q": q[ss, fs].astype(np.float64), "intensity": peaks.intensity,
            "npix": peaks.npix if peaks.npix is not None else np.full(n, np.nan),
            "snr": peaks.snr if peaks.snr is not None else np.full(n, np.nan),
            "max_intensity": peaks.max_intensity if peaks.max_intensity is not None else np.full(n, np.nan),
        })
        self.windows.append(extract_windows(frame.data, peaks.fs, peaks.ss, peaks.panel, frame.geometry.panel_map,
                                            good, self.fit_config.window, self.gain.adu_per_photon, i))
        self.frames.append({
            "event": frame.event, "source": str(frame.meta.get("source", frame.meta.get("experiment", ""))),
            "photon_energy_ev": float(frame.photon_energy_ev), "clen_m": float(frame.clen_m),
            "n_good_pixels": int(values.size), "good_fraction": float(good.mean()),
            "median": float(p50), "p16": float(p16), "p84": float(p84), "p99": float(p99), "p999": float(p999),
            "trimmed_mean": float(values[values <= p99].mean()), "n_spots": n,
        })

    def finish(self) -> dict[str, Any]:
        """Fit the spots and return every measurement (arrays kept as numpy; see `compare`)."""
        if not self.frames:
            raise ValueError(f"{self.name}: no frames measured")
        windows = Windows.concatenate(self.windows, self.fit_config.window)
        fit = fit_batched(windows, self.fit_config)
        accepted = fit.accepted(self.fit_config.chi2_max)
        shapes = spot_shapes(fit.params)
        half_max = window_labels(fit, windows).sum(axis=(1, 2)).astype(np.float64)
        h = windows.size // 2
        y, x = (a.ravel() for a in np.mgrid[-h: h + 1, -h: h + 1].astype(np.float64))  # window offsets
        fit_photons = pseudo_voigt(fit.params, y, x, background=False).sum(axis=1) if len(windows) else np.zeros(0)
        peaks = {k: np.concatenate([p[k] for p in self.peaks]) for k in self.peaks[0]}
        spots = {**peaks, **{k: v for k, v in shapes.items()}, "half_max_pixels": half_max,
                 "fit_photons": fit_photons, "chi2_red": fit.chi2_red, "fitted": fit.fitted, "accepted": accepted}
        profile = {k: np.stack([p[k] for p in self.profiles]) for k in self.profiles[0]}
        return {
            "name": self.name, "gain": self.gain, "frames": self.frames, "profile": profile,
            "pixel_sample": np.concatenate(self.samples), "spots": spots,
        }


def _with_panels(peaks: PeakList, geometry) -> PeakList:
    """Fill unknown panel numbers (-1) from the geometry."""
    if len(peaks) and np.any(peaks.panel < 0):
        peaks = peaks.subset(np.arange(len(peaks)))  # a copy: the finder's list stays as it was
        unknown = peaks.panel < 0
        peaks.panel[unknown] = geometry.panel_of(peaks.fs[unknown], peaks.ss[unknown])
        keep = peaks.panel >= 0
        if not keep.all():
            peaks = peaks.subset(np.flatnonzero(keep))
    return peaks
