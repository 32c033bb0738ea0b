"""The dispersion spot finder: DIALS' default notion of a "strong" pixel, in numpy.

peakfinder8 thresholds each pixel against the radial statistics of the whole ring; the
dispersion finder (Leslie's index-of-dispersion test, extended as in DIALS'
`dispersion_extended`, Parkhurst et al. 2016, J. Appl. Cryst. 49) asks a local question
instead: in a (2k+1)² window, is the variance larger than Poisson counting statistics
allow? For Poisson counts var/mean = gain, so a window with var/mean > gain · (1 + σ_b ·
√(2/(n−1))) holds signal. The extended form then erodes those regions (a spot makes its
whole window look dispersed), re-estimates the local mean from background pixels only, and
calls a pixel strong when it exceeds that mean by σ_s Poisson standard deviations.
Connected strong pixels (8-neighbours, within one panel) of min_spot_size..max_spot_size
pixels are spots.

This is what the facility's DIALS reference spot lists are made with, so it is the label
rule to use when models are judged against DIALS: weak spots that peakfinder8 accepts at a
low SNR are not "strong" here. Every step is a window sum (a numba kernel over summed-area
tables in float64) or a morphological operation, on one panel at a time: windows never
straddle panels or gaps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numba import njit
from scipy import ndimage

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.geometry import Geometry

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class DispersionParams:
    """Dispersion spot-finder parameters with DIALS' defaults (dials.find_spots name in brackets)."""

    gain: float | None = None
    """Detector units per photon [gain]; None: each panel's adu_per_photon, else 1."""
    kernel_size: int = 3
    """Half-width k of the (2k+1)² local window [kernel_size]."""
    sigma_background: float = 6.0
    """Index-of-dispersion threshold, in its standard errors [sigma_background]."""
    sigma_strong: float = 3.0
    """Strong-pixel threshold above the local background, in Poisson sigmas [sigma_strong]."""
    global_threshold: float = 0.0
    """Pixels at or below this value (detector units) are never strong [global_threshold]."""
    min_local: int = 2
    """Fewest good pixels in a window for its statistics to count [min_local]."""
    min_spot_size: int = 3
    """Smallest spot in pixels [min_spot_size]; DIALS' Auto is 3 for pixel-array detectors."""
    max_spot_size: int = 1000
    """Largest spot in pixels [max_spot_size]."""
    max_separation: float | None = None
    """Drop spots whose brightest pixel lies farther (px) than this from their raw-value-weighted
    centroid [filter.max_separation]: streaks, split and overlapping spots. DIALS' default is 2;
    None (off) here, so the label rules of the published datasets rebuild unchanged — give 2
    to agree with a DIALS run."""
    max_peaks: int = 2048
    """Peak budget per frame (the CXI limit); the most intense are kept."""

    def __post_init__(self) -> None:
        checks = [
            ("gain", self.gain is None or (math.isfinite(self.gain) and self.gain > 0), "None or a number > 0"),
            ("kernel_size", self.kernel_size >= 1, "an integer >= 1"),
            ("sigma_background", math.isfinite(self.sigma_background) and self.sigma_background >= 0, "a number >= 0"),
            ("sigma_strong", math.isfinite(self.sigma_strong) and self.sigma_strong >= 0, "a number >= 0"),
            ("global_threshold", math.isfinite(self.global_threshold), "a finite number"),
            ("min_local", 2 <= self.min_local <= (2 * self.kernel_size + 1) ** 2, "an integer in [2, window pixels]"),
            ("min_spot_size", self.min_spot_size >= 1, "an integer >= 1"),
            ("max_spot_size", self.max_spot_size >= self.min_spot_size, "an integer >= min_spot_size"),
            ("max_peaks", self.max_peaks >= 1, "an integer >= 1"),
            ("max_separation", self.max_separation is None or (math.isfinite(self.max_separation)
                                                                and self.max_separation >= 0), "None or a number >= 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InputError(None, name, f"got {getattr(self, name)!r}, expected {expected}")

    def to_dict(self) -> dict[str, Any]:
        """The fields; max_separation only when set, so records made before it existed (method
        specs, dataset provenance) read the same."""
        out = asdict(self)
        if out["max_separation"] is None:
            del out["max_separation"]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> "DispersionParams":
        """Build from a mapping (field names, or DIALS' spellings with dashes)."""
        from peaknet_bench.util.structured import dataclass_from_mapping

        return dataclass_from_mapping(cls, values, "dispersion", source)


@njit(cache=True, nogil=True)
def _window_sums(image: np.ndarray, use: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, Σv, Σv²) of the `use` pixels in the (2k+1)² window around every pixel, from one
    summed-area table of each: float64 added in a fixed order (no fastmath), so the result is
    the same on every CPU and exact for integer data."""
    h, w = image.shape
    sn = np.zeros((h + 1, w + 1))
    sx = np.zeros((h + 1, w + 1))
    sy = np.zeros((h + 1, w + 1))
    for r in range(h):
        rn = 0.0
        rx = 0.0
        ry = 0.0
        for c in range(w):
            if use[r, c]:
                v = image[r, c]
                rn += 1.0
                rx += v
                ry += v * v
            sn[r + 1, c + 1] = sn[r, c + 1] + rn
            sx[r + 1, c + 1] = sx[r, c + 1] + rx
            sy[r + 1, c + 1] = sy[r, c + 1] + ry
    n = np.empty((h, w))
    x = np.empty((h, w))
    y = np.empty((h, w))
    for r in range(h):
        r0 = max(r - k, 0)
        r1 = min(r + k + 1, h)
        for c in range(w):
            c0 = max(c - k, 0)
            c1 = min(c + k + 1, w)
            n[r, c] = sn[r1, c1] - sn[r0, c1] - sn[r1, c0] + sn[r0, c0]
            x[r, c] = sx[r1, c1] - sx[r0, c1] - sx[r1, c0] + sx[r0, c0]
            y[r, c] = sy[r1, c1] - sy[r0, c1] - sy[r1, c0] + sy[r0, c0]
    return n, x, y


def strong_pixels(image: np.ndarray, good: np.ndarray, gain: float, params: DispersionParams) -> tuple[np.ndarray, np.ndarray]:
    """(strong mask, local background mean) of one panel: the extended dispersion threshold."""
    k = params.kernel_size
    img = np.where(good, image, 0.0).astype(np.float64)
    good = np.ascontiguousarray(good, np.bool_)
    n, x, y = _window_sums(img, good, k)
    nm1 = np.maximum(n - 1.0, 1.0)
    # var/mean > gain (1 + σ_b √(2/(n-1)))  ⇔  n·Σv² − (Σv)² > gain · Σv · (n − 1 + σ_b √(2(n−1)))
    dispersed = good & (n >= params.min_local) & (x >= 0) & (
        n * y - x * x > gain * x * (nm1 + params.sigma_background * np.sqrt(2.0 * nm1)))
    # A spot makes its whole window dispersed: keep the cores, pixels whose (2k−1)² neighbourhood
    # is all dispersed (Chebyshev distance >= k from the rest), as signal; the rest is background.
    core = ndimage.binary_erosion(dispersed, structure=np.ones((2 * k - 1, 2 * k - 1), bool), border_value=1)
    background = good & ~core
    nb, xb, _ = _window_sums(img, background, k)
    mean = np.divide(xb, nb, out=np.zeros_like(xb), where=nb >= 2)
    strong = core & (img > params.global_threshold) & (  # core ⊂ dispersed ⊂ good
        img >= mean + params.sigma_strong * np.sqrt(gain * np.clip(mean, 0.0, None)))
    return strong, mean


def peak_centroid_separation(image: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Per labelled spot 1..n: the distance (px) from its brightest pixel to its centroid
    weighted by the raw pixel values (DIALS' peak-centroid filter, which uses raw values)."""
    on = np.flatnonzero(labels)
    lab = labels.ravel()[on]
    v = image.ravel()[on].astype(np.float64)
    w = np.clip(v, 0.0, None)
    rows, cols = np.divmod(on, image.shape[1])
    wsum = np.maximum(np.bincount(lab, weights=w, minlength=n + 1)[1:], 1e-300)
    cr = np.bincount(lab, weights=w * rows, minlength=n + 1)[1:] / wsum
    cc = np.bincount(lab, weights=w * cols, minlength=n + 1)[1:] / wsum
    order = np.lexsort((v, lab))  # by spot, then value: each spot's last is its brightest
    last = order[np.r_[np.flatnonzero(np.diff(lab[order])), lab.size - 1]]
    peak_r = np.zeros(n)
    peak_c = np.zeros(n)
    peak_r[lab[last] - 1] = rows[last]
    peak_c[lab[last] - 1] = cols[last]
    return np.hypot(peak_r - cr, peak_c - cc)


class DispersionFinder:
    """The dispersion spot finder on one detector geometry (each panel thresholded on its own)."""

    name = "dispersion"

    def __init__(self, params: DispersionParams | None = None, geometry: Geometry | None = None) -> None:
        if geometry is None:
            raise InputError(None, "geometry", "the dispersion finder needs a detector geometry (its panels)")
        self.params = params or DispersionParams()
        self.geometry = geometry
        self._static_ok = (geometry.panel_map >= 0) & geometry.bad_pixel_mask()

    def panel_gain(self, panel) -> float:
        if self.params.gain is not None:
            return float(self.params.gain)
        return float(panel.adu_per_photon) if panel.adu_per_photon else 1.0

    def good_pixels(self, data: np.ndarray, mask: np.ndarray | None = None, where: str | None = None) -> np.ndarray:
        """Usable pixels of a slab: on a panel, not masked (`mask` True = good), finite."""
        if data.shape != self._static_ok.shape:
            raise InputError(where, "data", f"slab shape {data.shape} does not match the geometry's "
                                            f"{self._static_ok.shape}")
        good = self._static_ok & np.isfinite(data)
        if mask is not None:
            good &= np.asarray(mask, bool)
        return good

    def find(self, frame: Frame) -> PeakList:
        """Spots of one frame (slab coordinates, pixel centres at integers)."""
        data = np.asarray(frame.data)
        good = self.good_pixels(data, frame.mask, frame.event)
        cols: dict[str, list[np.ndarray]] = {c: [] for c in ("fs", "ss", "panel", "intensity", "max_intensity", "npix")}
        for index, p in enumerate(self.geometry.panels):
            sl = (slice(p.min_ss, p.max_ss + 1), slice(p.min_fs, p.max_fs + 1))
            found = self._panel_spots(data[sl], good[sl], self.panel_gain(p))
            if found is None:
                continue
            ss, fs, intensity, peak, npix = found
            cols["fs"].append(fs + p.min_fs)
            cols["ss"].append(ss + p.min_ss)
            cols["panel"].append(np.full(fs.size, index, np.int32))
            cols["intensity"].append(intensity)
            cols["max_intensity"].append(peak)
            cols["npix"].append(npix)
        out = {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in cols.items()}
        if out["fs"].size > self.params.max_peaks:
            keep = np.sort(np.argsort(-out["intensity"], kind="stable")[: self.params.max_peaks])
            out = {c: v[keep] for c, v in out.items()}
        return PeakList(fs=out["fs"], ss=out["ss"], panel=out["panel"].astype(np.int32), intensity=out["intensity"],
                        max_intensity=out["max_intensity"], npix=out["npix"])

    def spot_separation(self, peaks: PeakList, data: np.ndarray, mask: np.ndarray | None = None,
) -> np.ndarray:
        """Per peak of `peaks` (any finder's, slab coordinates) on the slab `data`: DIALS'
        peak-centroid separation of this finder's strong spot under the peak's pixel; NaN where
        that pixel is not strong. This is how another finder's peaks are held to DIALS'
        spot-shape filter."""
        data = np.asarray(data)
        good = self.good_pixels(data, mask)
        sep = np.full(len(peaks), np.nan)
        panel = np.asarray(peaks.panel)
        fs = np.rint(np.asarray(peaks.fs)).astype(np.int64)
        ss = np.rint(np.asarray(peaks.ss)).astype(np.int64)
        for index in np.unique(panel):
            p = self.geometry.panels[int(index)]
            sl = (slice(p.min_ss, p.max_ss + 1), slice(p.min_fs, p.max_fs + 1))
            image = data[sl]
            strong, _ = strong_pixels(image, good[sl], self.panel_gain(p), self.params)
            labels, n = ndimage.label(strong, structure=_EIGHT)
            if n == 0:
                continue
            on = np.flatnonzero(panel == index)
            r = np.clip(ss[on] - p.min_ss, 0, image.shape[0] - 1)
            c = np.clip(fs[on] - p.min_fs, 0, image.shape[1] - 1)
            sep[on] = np.r_[np.nan, peak_centroid_separation(image, labels, n)][labels[r, c]]
        return sep

    def _panel_spots(self, image: np.ndarray, good: np.ndarray, gain: float):
        """(ss, fs, intensity, max, npix) of one panel's spots, or None."""
        if not good.any():
            return None
        strong, mean = strong_pixels(image, good, gain, self.params)
        labels, n = ndimage.label(strong, structure=_EIGHT)
        if n == 0:
            return None
        on = np.flatnonzero(labels)
        lab = labels.ravel()[on]
        signal = image.ravel()[on].astype(np.float64) - mean.ravel()[on]
        npix = np.bincount(lab, minlength=n + 1)[1:].astype(np.float64)
        intensity = np.bincount(lab, weights=signal, minlength=n + 1)[1:]
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, lab, signal)
        w = np.clip(signal, 1e-12, None)  # strong pixels lie above the mean; the clip guards rounding
        wsum = np.bincount(lab, weights=w, minlength=n + 1)[1:]
        rows, cols = np.divmod(on, image.shape[1])
        ss = np.bincount(lab, weights=w * rows, minlength=n + 1)[1:] / wsum
        fs = np.bincount(lab, weights=w * cols, minlength=n + 1)[1:] / wsum
        keep = (npix >= self.params.min_spot_size) & (npix <= self.params.max_spot_size)
        if self.params.max_separation is not None:
            keep &= peak_centroid_separation(image, labels, n) <= self.params.max_separation
        return ss[keep], fs[keep], intensity[keep], peak[1:][keep], npix[keep]

    def __repr__(self) -> str:
        return f"DispersionFinder({self.params!r}, geometry={self.geometry.source or '<geometry>'})"
