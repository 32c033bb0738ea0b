"""Pixel-level rendering: pseudo-Voigt spots integrated over pixel areas, and detector noise.

Spots: a 2-D pseudo-Voigt, ``(1-η)·G + η·L``, with G an isotropic Gaussian (σ) and L the
2-D Cauchy density ``γ / (2π (r² + γ²)^{3/2})`` (the radially symmetric 2-D Lorentzian
whose 1-D marginals are Lorentzians of half-width γ). Both integrate analytically over a
pixel rectangle (erf products for G; ``atan(xy / (γ·sqrt(γ² + x² + y²))) / 2π`` for L), so
the rendered centroid is the true sub-pixel position up to the (small, symmetric-window)
truncation of the Lorentzian tails. Each spot lives on a square window normalised to the
spot's photons; window pixels beyond the spot's own panel are in a gap and their photons
are lost, as on a real detector.

Noise: a two-pass parallel kernel over all pixels with a counter-based random generator
(splitmix64 of (frame key, pixel index)), so the result is bit-identical whatever the
number of threads: Poisson photons (inversion below a mean of 12, Hörmann's PTRS above;
both exact), per-pixel gain, Gaussian read noise in ADU (ziggurat, exact), saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0


@nb.njit(inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(inline="always")
def _uniform(state):
    """Next (state, u) with u uniform in (0, 1)."""
    state = state + _GOLDEN
    u = ((_mix(state) >> np.uint64(11)) + np.uint64(1)) * _INV_2_53
    return state, u


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of Marsaglia & Tsang's 128-layer ziggurat for the standard normal (constant)."""
    m1 = 2147483648.0
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    kn = np.zeros(128, np.int64)
    wn = np.zeros(128)
    fn = np.zeros(128)
    q = vn / math.exp(-0.5 * dn * dn)
    kn[0] = int((dn / q) * m1)
    kn[1] = 0
    wn[0] = q / m1
    wn[127] = dn / m1
    fn[0] = 1.0
    fn[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int((dn / tn) * m1)
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / m1
    return kn, wn, fn


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()
_ZIG_K32, _ZIG_W32 = _ZIG_K.astype(np.int32), _ZIG_W.astype(np.float32)
_ZIG_R = 3.442619855899


@nb.njit(inline="always")
def _int32(state):
    """Next (state, signed 32-bit integer)."""
    state = state + _GOLDEN
    z = np.int64(_mix(state) >> np.uint64(32))
    return state, z - 4294967296 if z >= 2147483648 else z


@nb.njit
def _normal_slow(hz, state, kn, wn, fn):
    """Ziggurat wedge/tail handling for a draw `hz` that missed the fast rectangle."""
    iz = hz & 127
    while True:
        x = hz * wn[iz]
        if iz == 0:
            while True:
                state, u1 = _uniform(state)
                state, u2 = _uniform(state)
                x = -math.log(u1) / _ZIG_R
                y = -math.log(u2)
                if y + y >= x * x:
                    break
            return state, (_ZIG_R + x) if hz > 0 else -(_ZIG_R + x)
        state, u = _uniform(state)
        if fn[iz] + u * (fn[iz - 1] - fn[iz]) < math.exp(-0.5 * x * x):
            return state, x
        state, hz = _int32(state)
        iz = hz & 127
        if abs(hz) < kn[iz]:
            return state, hz * wn[iz]


@nb.njit
def _normal(state, kn, wn, fn):
    """Exact standard-normal draw by the ziggurat method (one multiply in ~99 % of cases)."""
    state, hz = _int32(state)
    iz = hz & 127
    if abs(hz) < kn[iz]:
        return state, hz * wn[iz]
    return _normal_slow(hz, state, kn, wn, fn)


@nb.njit
def _poisson(lam, state):
    """Exact Poisson draw: inversion for small means, PTRS (Hörmann 1993) otherwise."""
    if lam <= 0.0:
        return state, 0.0
    if lam < 12.0:
        state, u = _uniform(state)
        p = math.exp(-lam)
        cdf = p
        k = 0
        while u > cdf and k < 200:
            k += 1
            p *= lam / k
            cdf += p
        return state, float(k)
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        state, u = _uniform(state)
        state, v = _uniform(state)
        u -= 0.5
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return state, k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
            -lam + k * loglam - math.lgamma(k + 1.0)
        ):
            return state, k


@nb.njit(inline="always")
def _pixel(lam, gain, cls, read_noise_adu, hot_adu, max_adu, bits, kn, wn, fn):
    """Full readout of one pixel from its random word `bits` (the reference path)."""
    if cls == 1:  # dead: no signal, no noise
        return 0.0
    state = bits
    if lam < 12.0:
        u = ((bits >> np.uint64(32)) + 0.5) * 2.3283064365386963e-10
        p = math.exp(-lam)
        cdf = p
        k = 0.0
        while u > cdf and k < 200.0:
            k += 1.0
            p *= lam / k
            cdf += p
    else:
        state, k = _poisson(lam, state)
    lo = np.int64(bits & np.uint64(0xFFFFFFFF))
    hz = lo - 4294967296 if lo >= 2147483648 else lo
    iz = hz & 127
    if abs(hz) < kn[iz]:
        z = hz * wn[iz]
    else:
        state, z = _normal_slow(hz, bits, kn, wn, fn)
    value = k * gain + read_noise_adu * z
    if cls == 2:  # hot: a large stuck offset
        value += hot_adu
    elif cls == 3:  # bad ASIC: garbage with a huge spread
        state, z = _normal(state ^ bits, kn, wn, fn)
        value = hot_adu * (0.5 + 0.5 * z)
    return min(value, max_adu)


@nb.njit(parallel=True, cache=True)
def _noise_kernel(photons, gain_adu, pixel_class, read_noise_adu, hot_adu, max_adu, key, kn, wn, fn, kn32, wn32, out):
    # One splitmix64 word per pixel: high 32 bits drive the Poisson inversion, low 32 bits the
    # ziggurat. Pass 1 is branch-free float32 (it vectorises) and settles the common pixel: no
    # photon, which it accepts only when u ≤ 1 − λ + λ²/2 − λ³/6 ≤ e^−λ with margin for the
    # float32 rounding (so the reference path would also give 0), a fast ziggurat layer and an
    # ordinary pixel. Pass 2 runs the reference path on the rest with the same random word.
    n = photons.size
    for i in nb.prange(n):
        bits = _mix(key + np.uint64(i) * _GOLDEN)
        u_hi = np.float32(bits >> np.uint64(40)) * np.float32(5.9604645e-08) + np.float32(5.9604645e-08)
        lam = photons[i]
        bound = np.float32(1.0) - lam * (np.float32(1.0) - lam * (np.float32(0.5) - lam * np.float32(1.0 / 6.0)))
        lo = np.int32(np.uint32(bits & np.uint64(0xFFFFFFFF)))
        iz = lo & 127
        fast = ((u_hi <= bound * np.float32(0.999999)) & (abs(lo) < kn32[iz]) & (lo != -2147483648)
                & (pixel_class[i] == 0) & (lam < np.float32(1.0)))
        out[i] = read_noise_adu * (lo * wn32[iz]) if fast else np.nan
    for i in nb.prange(n):
        if out[i] != out[i]:
            bits = _mix(key + np.uint64(i) * _GOLDEN)
            out[i] = _pixel(photons[i], gain_adu[i], pixel_class[i], read_noise_adu, hot_adu, max_adu, bits,
                            kn, wn, fn)


def apply_noise(
    photons: np.ndarray,
    gain_adu: np.ndarray,
    pixel_class: np.ndarray,
    read_noise_adu: float,
    hot_adu: float,
    max_adu: float,
    key: int,
    adc_step: float | None = None,
) -> np.ndarray:
    """Noisy detector readout in ADU (float32, same shape as `photons`).

    `photons` is the noiseless expected photon count per pixel, `gain_adu` the ADU per
    photon of each pixel (gain variation included; 0 in gaps and under an opaque mask),
    `pixel_class` 0 good, 1 dead, 2 hot, 3 bad ASIC. `key` (uint64) selects the random
    stream; the same key gives the same bytes on any number of threads. `adc_step` (a
    power of two) rounds every pixel to a whole number of steps, as a detector's ADC does.
    """
    out = np.empty(photons.shape, dtype=np.float32)
    _noise_kernel(
        np.ascontiguousarray(photons, np.float32).reshape(-1), np.ascontiguousarray(gain_adu, np.float32).reshape(-1),
        np.ascontiguousarray(pixel_class, np.uint8).reshape(-1), np.float32(read_noise_adu), float(hot_adu),
        float(max_adu), np.uint64(key), _ZIG_K, _ZIG_W, _ZIG_F, _ZIG_K32, _ZIG_W32, out.reshape(-1),
    )
    if adc_step is not None:  # the ADC saturates both ways; exact power-of-two scalings around rint
        np.clip(out, -max_adu, max_adu, out=out)
        out *= np.float32(1.0 / adc_step)
        np.rint(out, out=out)
        out *= np.float32(adc_step)
        out += np.float32(0.0)  # −0.0 → +0.0: an ADC has one zero
    return out


@nb.njit(inline="always")
def _cauchy_cdf2(x, y, g):
    return math.atan(x * y / (g * math.sqrt(g * g + x * x + y * y))) / (2.0 * math.pi)


@nb.njit(cache=True)
def _spot_kernel(image, weight, label, fs, ss, photons, sigma, gamma, eta, aspect, half, lo_fs, hi_fs, lo_ss, hi_ss,
                 write, labelled, label_fraction, peak_out, core_sum_out, core_n_out):
    n = fs.size
    sq2 = math.sqrt(2.0)
    for s in range(n):
        k = half[s]
        c_fs = int(math.floor(fs[s] + 0.5))
        c_ss = int(math.floor(ss[s] + 0.5))
        w = 2 * k + 1
        # Elongation along ss (aspect = width_ss / width_fs, the area kept): sx = sy = 1 for
        # round spots, where every operation below gives the bits it gave before.
        root = math.sqrt(aspect[s])
        sx = 1.0 / root
        sy = root
        # Pixel-integrated Gaussian marginals (separable) for this window.
        gx = np.empty(w)
        gy = np.empty(w)
        for j in range(w):
            x0 = (c_fs - k + j - 0.5 - fs[s]) / (sq2 * (sigma[s] * sx))
            gx[j] = 0.5 * (math.erf(x0 + 1.0 / (sq2 * (sigma[s] * sx))) - math.erf(x0))
            y0 = (c_ss - k + j - 0.5 - ss[s]) / (sq2 * (sigma[s] * sy))
            gy[j] = 0.5 * (math.erf(y0 + 1.0 / (sq2 * (sigma[s] * sy))) - math.erf(y0))
        # 2-D Cauchy CDF at the window's pixel corners: each pixel is a 4-corner difference
        # (of the scaled coordinates for an elongated spot).
        g = gamma[s]
        cdf = np.empty((w + 1, w + 1))
        for a in range(w + 1):
            yy = (c_ss - k + a - 0.5 - ss[s]) / sy
            for b in range(w + 1):
                xx = (c_fs - k + b - 0.5 - fs[s]) / sx
                cdf[a, b] = _cauchy_cdf2(xx, yy, g)
        # Normalise over the whole window, then drop pixels beyond the spot's panel: photons
        # that fall into a gap are lost, as on a real detector.
        vals = np.zeros((w, w))
        total = 0.0
        for a in range(w):
            ps = c_ss - k + a
            inside_ss = lo_ss[s] <= ps <= hi_ss[s]
            for b in range(w):
                pf = c_fs - k + b
                lor = cdf[a + 1, b + 1] - cdf[a, b + 1] - cdf[a + 1, b] + cdf[a, b]
                v = (1.0 - eta[s]) * gx[b] * gy[a] + eta[s] * lor
                total += v
                if inside_ss and lo_fs[s] <= pf <= hi_fs[s]:
                    vals[a, b] = v
        if total <= 0.0:
            peak_out[s] = 0.0
            core_sum_out[s] = 0.0
            core_n_out[s] = 0
            continue
        norm = photons[s] / total
        peak = 0.0
        for a in range(w):
            for b in range(w):
                if vals[a, b] > peak:
                    peak = vals[a, b]
        core = 0.0
        count = 0
        for a in range(w):
            for b in range(w):
                v = vals[a, b]
                if v >= label_fraction * peak:
                    core += v
                    count += 1
                if v > 0.0:
                    ps = c_ss - k + a
                    pf = c_fs - k + b
                    if write:
                        image[ps, pf] += v * norm * weight[ps, pf]
                    if labelled[s] and v >= label_fraction * peak:
                        label[ps, pf] = True
        peak_out[s] = peak * norm
        core_sum_out[s] = core * norm
        core_n_out[s] = count


SPOT_FIELDS = ("fs", "ss", "photons", "sigma_px", "gamma_px", "eta", "panel_bounds", "aspect")


@dataclass
class Spots:
    """Spots to draw: slab position, photons and pseudo-Voigt shape, each on its own panel."""

    fs: np.ndarray
    ss: np.ndarray
    photons: np.ndarray
    sigma_px: np.ndarray  # Gaussian σ (pixels)
    gamma_px: np.ndarray  # Lorentzian half-width (pixels)
    eta: np.ndarray  # Lorentzian fraction
    panel_bounds: np.ndarray  # (n, 4): min_fs, max_fs, min_ss, max_ss of each spot's panel
    aspect: np.ndarray | None = None  # width along ss / width along fs (None: round spots)

    def __post_init__(self) -> None:
        if self.aspect is None:
            self.aspect = np.ones(np.shape(self.fs))

    def __len__(self) -> int:
        return int(np.size(self.fs))


@dataclass
class SpotStats:
    """Noiseless per-spot numbers: peak pixel, and the 'core' (pixels ≥ label_fraction × peak)."""

    peak: np.ndarray
    core_photons: np.ndarray
    core_pixels: np.ndarray


def _run_spots(spots: Spots, image, weight, label, write: bool, labelled, label_fraction: float,
               max_half_width: int) -> SpotStats:
    n = len(spots)
    stats = SpotStats(np.zeros(n), np.zeros(n), np.zeros(n, np.int64))
    if n == 0:
        return stats
    stretch = np.sqrt(np.maximum(spots.aspect, 1.0 / spots.aspect))  # the longer axis
    half = np.clip(np.ceil(np.maximum(4.0 * spots.sigma_px, 5.0 * spots.gamma_px) * stretch), 2,
                   max_half_width).astype(np.int64)
    b = np.asarray(spots.panel_bounds, dtype=np.int64).reshape(n, 4)
    f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    _spot_kernel(
        image, weight, label, f64(spots.fs), f64(spots.ss), f64(spots.photons), f64(spots.sigma_px),
        f64(spots.gamma_px), f64(spots.eta), f64(spots.aspect), half, b[:, 0].copy(), b[:, 1].copy(), b[:, 2].copy(), b[:, 3].copy(),
        write, np.ascontiguousarray(labelled, dtype=np.bool_), float(label_fraction),
        stats.peak, stats.core_photons, stats.core_pixels,
    )
    return stats


def measure_spots(spots: Spots, label_fraction: float = 0.5, max_half_width: int = 12) -> SpotStats:
    """Per-spot noiseless statistics without drawing anything."""
    dummy = np.zeros((1, 1), np.float32)
    return _run_spots(spots, dummy, dummy, np.zeros((1, 1), np.bool_), False, np.zeros(len(spots), bool),
                      label_fraction, max_half_width)


def render_spots(
    spots: Spots, image: np.ndarray, weight: np.ndarray, label: np.ndarray | None = None,
    labelled: np.ndarray | None = None, label_fraction: float = 0.5, max_half_width: int = 12,
) -> SpotStats:
    """Add spots (photons × per-pixel `weight`, e.g. beamstop transmission) to `image` in place.

    With `label` and `labelled`, a spot marks `label` where `labelled` is True, on its pixels
    whose noiseless signal is ≥ `label_fraction` × its own peak pixel. The window (half-width
    ≤ `max_half_width`) is normalised to the spot's photons; the part beyond the spot's panel
    is lost in the gap. Returns the per-spot statistics (peak pixel, half-maximum core).
    """
    if label is None:
        label, labelled = np.zeros((1, 1), np.bool_), np.zeros(len(spots), bool)
    return _run_spots(spots, image, weight, label, True, labelled, label_fraction, max_half_width)


def label_spots(spots: Spots, label: np.ndarray, label_fraction: float = 0.5, max_half_width: int = 12) -> None:
    """Mark the half-maximum pixels (≥ `label_fraction` × peak) of every spot in `label`, in place."""
    dummy = np.zeros((1, 1), np.float32)
    _run_spots(spots, dummy, dummy, label, False, np.ones(len(spots), bool), label_fraction, max_half_width)
