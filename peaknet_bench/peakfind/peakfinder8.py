"""peakfinder8 (Cheetah / psocake / CrystFEL), the classic baseline, as specified in
SPEC-crystfel §6.

Per frame:

1. radial statistics over the whole detector: 5 rounds of sigma clipping per radial bin
   give each bin a detection threshold ``high = max(mean + min_snr·sigma, ADC threshold)``
   and a background offset ``mean``;
2. per panel, interior pixels are scanned in raster order; a usable, unclaimed pixel above
   its bin's threshold seeds an 8-connected flood fill (inside the panel) of usable,
   unclaimed, above-threshold pixels; every reached pixel is claimed for good;
3. candidates within [min_pix_count, max_pix_count] get a local background (mean, population
   sd and maximum of usable, unclaimed, below-threshold pixels in a disc of radius
   2·local_bg_radius around the rounded first centroid), are re-integrated above it and
   accepted if ``snr = total / local_sigma >= min_snr``, their maximum is not below the
   background maximum and the centroid lies on the panel; the search stops at max_peaks.

The radius map uses CrystFEL's convention: a pixel's lab x, y is the *corner* of the pixel
(``corner + ifs·fs + iss·ss``, which is `Geometry.lab_pixels_xy` minus half a pixel step
along fs and ss), truncated toward zero as C does when it stores them in an ``int``; the bin
is ``rint(sqrt(x² + y²))``.

Choices where the specification is silent (documented in docs/peakfinder8.md):

* sums are accumulated in float64 (C uses float32); NaN pixels never pass a comparison, so
  they behave as bad pixels;
* a bin that becomes empty during clipping resets to bounds (−∞, +∞), threshold +∞, mean 0;
* with no local background pixel the bin mean and sigma 0.01 are used and the
  local-maximum test is skipped (there is no background maximum to compare with);
* a local sigma of exactly 0 (noise-free synthetic data) gives snr = +∞, as in C;
* the fast mode draws, once per geometry and seed, a random order of each bin's pixels and
  uses per frame the first ≤ 100 of them that are good in that frame's mask.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.geometry import Geometry

N_CLIP_ITERATIONS = 5
FAST_PIXELS_PER_BIN = 100
CORE_ESTIMATE_PIXELS = 32  # normal mode's first background estimate per bin (speed only, never results)
# Columns of the kernel's output table.
_COLUMNS = ("fs", "ss", "panel", "intensity", "max_intensity", "npix", "sigma", "snr")


@dataclass(frozen=True)
class Peakfinder8Params:
    """peakfinder8 parameters with CrystFEL's defaults (indexamajig option in brackets)."""

    threshold: float = 800.0
    """ADC threshold: floor of every bin's detection threshold [--threshold]."""
    min_snr: float = 5.0
    """Sigma-clipping width, bin threshold and peak acceptance [--min-snr]."""
    min_pix_count: int = 2
    """Smallest accepted peak, in pixels [--min-pix-count]."""
    max_pix_count: int = 200
    """Largest accepted peak, in pixels [--max-pix-count]."""
    local_bg_radius: int = 3
    """R: local background is taken in a disc of radius 2R [--local-bg-radius]."""
    min_res: float = 0.0
    """Pixels with radius r <= min_res (pixels from the beam axis) are not used [--min-res]."""
    max_res: float = 0.0
    """Pixels with r >= max_res are not used; 0 means no limit [--max-res]."""
    max_peaks: int = 2048
    """Peak budget per frame; the search stops when reached [--max-peaks]."""
    fast: bool = False
    """Radial statistics from a random subsample of <= 100 pixels per bin [--peakfinder8-fast]."""
    seed: int = 0
    """Seed of the fast mode's pixel subsample."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str | None = None) -> None:
        """Raise InputError naming the first parameter out of range."""
        checks = [
            ("threshold", math.isfinite(self.threshold), "a finite number"),
            ("min_snr", math.isfinite(self.min_snr) and self.min_snr >= 0, "a finite number >= 0"),
            ("min_pix_count", self.min_pix_count >= 1, "an integer >= 1"),
            ("max_pix_count", self.max_pix_count >= self.min_pix_count, "an integer >= min_pix_count"),
            ("local_bg_radius", self.local_bg_radius >= 1, "an integer >= 1"),
            ("min_res", self.min_res >= 0, "a radius in pixels >= 0"),
            ("max_res", self.max_res == 0 or self.max_res > self.min_res, "0 (no limit) or > min_res"),
            ("max_peaks", self.max_peaks >= 1, "an integer >= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InputError(source, name, f"got {getattr(self, name)!r}, expected {expected}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> "Peakfinder8Params":
        """Build from a mapping; accepts field names and indexamajig spellings (min-snr)."""
        known = {f.name: f.type for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name == "peakfinder8_fast":
                name = "fast"
            if name not in known:
                raise InputError(source, str(key), f"unknown peakfinder8 parameter; expected one of {sorted(known)}")
            kwargs[name] = value
        try:
            typed = {k: _coerce(k, v, cls) for k, v in kwargs.items()}
        except (TypeError, ValueError) as exc:
            raise InputError(source, None, str(exc)) from None
        try:
            return cls(**typed)
        except InputError as exc:
            raise InputError(source, exc.where, exc.message) from None

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Peakfinder8Params":
        """Load a parameter set written by `to_json` (or by hand / by the tuner)."""
        try:
            values = json.loads(Path(path).read_text())
        except OSError as exc:
            raise InputError(str(path), None, f"cannot read parameter file ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"line {exc.lineno}", f"invalid JSON ({exc.msg})") from None
        if isinstance(values, dict) and "peakfinder8" in values and isinstance(values["peakfinder8"], dict):
            values = values["peakfinder8"]
        if not isinstance(values, dict):
            raise InputError(str(path), None, "expected a JSON object of peakfinder8 parameters")
        return cls.from_dict(values, source=str(path))

    def to_json(self, path: str | os.PathLike) -> None:
        from peaknet_bench.util.atomic import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _coerce(name: str, value: Any, cls: type) -> Any:
    """Strict type conversion for JSON values (no silent float -> int truncation)."""
    kind = {f.name: f.default for f in fields(cls)}[name]
    if isinstance(kind, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(kind, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- geometry cache
@dataclass
class RadialLayout:
    """Everything peakfinder8 needs from a geometry, computed once (per resolution limits)."""

    radius: np.ndarray  # (n_ss, n_fs) float64, r of the truncated corner; NaN outside panels
    bin_map: np.ndarray  # (n_ss, n_fs) int32 radial bin, 0 outside panels (never used there)
    static_ok: np.ndarray  # (n_ss, n_fs) bool: on a panel, good in the geometry, min_res < r < max_res
    order: np.ndarray  # (n_usable,) int32 flat indices of static_ok pixels, sorted by bin (raster within)
    bin_start: np.ndarray  # (n_bins + 1,) int64 offsets of each bin in `order`
    panels: np.ndarray  # (n_panels, 4) int64: min_fs, max_fs, min_ss, max_ss
    stat_bin: np.ndarray  # (n_ss, n_fs) uint16: bin_map where static_ok, else n_bins

    @property
    def n_bins(self) -> int:
        return int(self.bin_start.size - 1)

    @classmethod
    def build(cls, geometry: Geometry, min_res: float = 0.0, max_res: float = 0.0) -> "RadialLayout":
        xy = geometry.lab_pixels_xy()  # pixel centres
        corner = np.full_like(xy, np.nan)
        for p in geometry.panels:  # centre -> corner: half a step back along fs and ss
            sl = (slice(p.min_ss, p.max_ss + 1), slice(p.min_fs, p.max_fs + 1))
            corner[sl + (0,)] = xy[sl + (0,)] - 0.5 * (p.fs[0] + p.ss[0])
            corner[sl + (1,)] = xy[sl + (1,)] - 0.5 * (p.fs[1] + p.ss[1])
        corner = np.trunc(corner)  # C stores the corner coordinates in an int
        radius = np.hypot(corner[..., 0], corner[..., 1])
        on_panel = geometry.panel_map >= 0
        bin_map = np.where(on_panel, np.rint(np.nan_to_num(radius)), 0).astype(np.int32)
        static_ok = on_panel & geometry.bad_pixel_mask()
        with np.errstate(invalid="ignore"):
            static_ok &= radius > min_res
            if max_res > 0:
                static_ok &= radius < max_res
        flat_ok = np.flatnonzero(static_ok)
        bins_ok = bin_map.ravel()[flat_ok]
        order = flat_ok[np.argsort(bins_ok, kind="stable")]
        n_bins = int(bin_map[on_panel].max()) + 1
        counts = np.bincount(bins_ok, minlength=n_bins)
        bin_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        panels = np.array([[p.min_fs, p.max_fs, p.min_ss, p.max_ss] for p in geometry.panels], dtype=np.int64)
        if n_bins >= np.iinfo(np.uint16).max:
            raise InputError(geometry.source, "panels", f"detector spans {n_bins} radial bins; at most 65534 supported")
        stat_bin = np.where(static_ok, bin_map, n_bins).astype(np.uint16)
        return cls(radius, bin_map, static_ok, order.astype(np.int32), bin_start, panels, stat_bin)

    def shuffled_order(self, seed: int) -> np.ndarray:
        """`order` with each bin's pixels in a seeded random order (fast-mode subsample)."""
        rng = np.random.default_rng(seed)
        keys = rng.random(self.order.size)
        bins = self.bin_map.ravel()[self.order]
        return self.order[np.argsort(bins + keys, kind="stable")]  # by bin, then by key


# ----------------------------------------------------------------------------- numba kernels
@njit(cache=True, nogil=True, inline="always")
def _clip_lane(v, low, high):  # pragma: no cover - compiled
    w = np.float64((v > low) & (v < high))
    return w * v, w * v * v, w


@njit(cache=True, nogil=True)
def _clipped_moments(buf, n, low, high):  # pragma: no cover - compiled
    """Sum, sum of squares and count of buf[:n] strictly inside (low, high).

    A 0/1 weight instead of a branch, and four interleaved partial sums combined in a fixed
    order: LLVM vectorises across the four lanes without fast-math, and the sums are the
    same bits on every CPU. buf must hold finite values only (0·inf would poison the sums).
    """
    s = np.zeros(4)
    s2 = np.zeros(4)
    c = np.zeros(4)
    m = n - n % 4
    for j in range(0, m, 4):
        for lane in range(4):
            a, b, w = _clip_lane(np.float64(buf[j + lane]), low, high)
            s[lane] += a
            s2[lane] += b
            c[lane] += w
    for j in range(m, n):
        a, b, w = _clip_lane(np.float64(buf[j]), low, high)
        s[0] += a
        s2[0] += b
        c[0] += w
    return (s[0] + s[1]) + (s[2] + s[3]), (s2[0] + s2[1]) + (s2[2] + s2[3]), (c[0] + c[1]) + (c[2] + c[3])


@njit(cache=True, nogil=True, error_model="numpy")
def _clip_step(s, s2, c, min_snr, adc_threshold):  # pragma: no cover - compiled
    """One clipping update from the sums of the kept values: (mean, sigma, low, high).
    An empty bin gets threshold +inf and its bounds go back to (-inf, +inf)."""
    if c == 0.0:
        return 0.0, 0.0, -np.inf, np.inf
    mu = s / c
    var = s2 / c - mu * mu
    sd = math.sqrt(var) if var > 0.0 else 0.0
    return mu, sd, mu - min_snr * sd, max(mu + min_snr * sd, adc_threshold)


@njit(cache=True, nogil=True, error_model="numpy")
def _clip_bin(buf, m, n_iter, min_snr, adc_threshold):  # pragma: no cover - compiled
    """SPEC §6 step 2 for one bin's values buf[:m]: returns (mean, sigma, threshold)."""
    low = -np.inf
    high = np.inf
    mu = 0.0
    sd = 0.0
    for _ in range(n_iter):
        s, s2, c = _clipped_moments(buf, m, low, high)
        mu, sd, low, high = _clip_step(s, s2, c, min_snr, adc_threshold)
    return mu, sd, high


@njit(cache=True, nogil=True, error_model="numpy")
def _radial_statistics_sampled(data, mask, check_mask, order, bin_start, max_per_bin, n_iter, min_snr,
                               adc_threshold):  # pragma: no cover - compiled
    """Fast mode: per bin, the first `max_per_bin` pixels of `order` (each bin's pixels in a
    seeded random order) that are finite and good in `mask` (when `check_mask`)."""
    n_bins = bin_start.size - 1
    mean = np.zeros(n_bins)
    sigma = np.zeros(n_bins)
    thresh = np.full(n_bins, np.inf)
    longest = 1
    for b in range(n_bins):
        longest = max(longest, bin_start[b + 1] - bin_start[b])
    buf = np.empty(min(longest, max_per_bin), np.float32)
    for b in range(n_bins):
        m = 0
        for j in range(bin_start[b], bin_start[b + 1]):
            k = order[j]
            v = data[k]
            if v - v == 0.0 and (not check_mask or mask[k]):  # NaN/inf never pass a strict bound
                buf[m] = v
                m += 1
                if m == max_per_bin:
                    break
        mean[b], sigma[b], thresh[b] = _clip_bin(buf, m, n_iter, min_snr, adc_threshold)
    return mean, sigma, thresh


@njit(cache=True, nogil=True, error_model="numpy")
def _radial_statistics_all(data, mask, check_mask, stat_bin, sample_order, bin_start, n_iter, min_snr,
                           adc_threshold):  # pragma: no cover - compiled
    """Normal mode: exact sigma clipping over every usable pixel with one raster pass.

    A random order of each bin's pixels (`sample_order`) gives a cheap estimate (mu, sd) from
    <= 32 pixels per bin and with it a "core" interval (mu - snr·sd/2, max(T, mu + snr·sd/2))
    that every later clipping bound is expected to contain. One sequential pass over the
    frame then sums the core pixels per bin and lists the others (outliers). Each clipping
    iteration is core sums + the outliers inside its bounds — exact as long as its bounds
    contain the core, which is checked; a bin whose bounds cut into its core is redone from
    all its pixels. Random-access gathers of every pixel cost several times more than this.
    `stat_bin` is the flat uint16 bin map with n_bins for pixels that are never used, so the
    hot loop reads one small array instead of a bin map and a validity map.
    """
    n_bins = bin_start.size - 1
    est_mu, est_sd, _ = _radial_statistics_sampled(data, mask, check_mask, sample_order, bin_start,
                                                   CORE_ESTIMATE_PIXELS, n_iter, min_snr, adc_threshold)
    core_lo = np.full(n_bins + 1, -np.inf)  # the extra bin collects unused pixels, never read
    core_hi = np.full(n_bins + 1, np.inf)
    for b in range(n_bins):
        core_lo[b] = est_mu[b] - 0.5 * min_snr * est_sd[b]
        core_hi[b] = max(adc_threshold, est_mu[b] + 0.5 * min_snr * est_sd[b])
    acc = np.zeros((n_bins + 1, 4))  # core sum, sum of squares, count, outlier count
    out_bin = np.empty(data.size, np.int32)
    out_val = np.empty(data.size, np.float32)
    n_out = 0
    for k in range(data.size):
        v = data[k]
        if not (v - v == 0.0) or (check_mask and not mask[k]):
            continue
        b = stat_bin[k]
        x = np.float64(v)
        if core_lo[b] < x < core_hi[b]:
            acc[b, 0] += x
            acc[b, 1] += x * x
            acc[b, 2] += 1.0
        else:
            out_bin[n_out] = b
            out_val[n_out] = v
            n_out += 1
            acc[b, 3] += 1.0
    # Outliers grouped by bin (counting sort).
    seg = np.zeros(n_bins + 1, np.int64)
    for b in range(n_bins):
        seg[b + 1] = seg[b] + np.int64(acc[b, 3])
    cursor = seg[:-1].copy()
    grouped = np.empty(max(n_out, 1), np.float32)
    for i in range(n_out):
        b = out_bin[i]
        grouped[cursor[b]] = out_val[i]
        cursor[b] += 1
    mean = np.zeros(n_bins)
    sigma = np.zeros(n_bins)
    thresh = np.full(n_bins, np.inf)
    longest = 1
    for b in range(n_bins):
        longest = max(longest, bin_start[b + 1] - bin_start[b])
    full = np.empty(longest, np.float32)
    for b in range(n_bins):
        vals = grouped[seg[b]:]
        m = seg[b + 1] - seg[b]
        low = -np.inf
        high = np.inf
        mu = 0.0
        sd = 0.0
        exact = True
        for _ in range(n_iter):
            if not (low <= core_lo[b] and high >= core_hi[b]):
                exact = False
                break
            s, s2, c = _clipped_moments(vals, m, low, high)
            s += acc[b, 0]
            s2 += acc[b, 1]
            c += acc[b, 2]
            mu, sd, low, high = _clip_step(s, s2, c, min_snr, adc_threshold)
        if not exact:  # bounds cut into the core: redo this bin from all of its pixels
            n = 0
            for j in range(bin_start[b], bin_start[b + 1]):
                k = sample_order[j]
                v = data[k]
                if v - v == 0.0 and (not check_mask or mask[k]):
                    full[n] = v
                    n += 1
            mu, sd, high = _clip_bin(full, n, n_iter, min_snr, adc_threshold)
        mean[b] = mu
        sigma[b] = sd
        thresh[b] = high
    return mean, sigma, thresh


@njit(cache=True, nogil=True, inline="always")
def _usable(data, mask, static_ok, ss, fs):  # pragma: no cover - compiled
    """Good in the frame mask and the geometry, inside the resolution limits, finite."""
    return mask[ss, fs] and static_ok[ss, fs] and math.isfinite(data[ss, fs])


@njit(cache=True, nogil=True)
def _count_above(seg, t):  # pragma: no cover - compiled
    """Number of values > t (vectorised: the scan's hot loop)."""
    k = 0
    for i in range(seg.size):
        if seg[i] > t:
            k += 1
    return k


@njit(cache=True, nogil=True)
def _list_above(seg, t, out):  # pragma: no cover - compiled
    """Indices of the values > t written to out[:m] in order (branch-free); returns m."""
    m = 0
    for i in range(seg.size):
        out[m] = i
        m += seg[i] > t
    return m


@njit(cache=True, nogil=True, error_model="numpy")
def _measure_candidate(data, mask, static_ok, bin_map, mean, thresh, claimed, q_fs, q_ss, ss, fs,
                       f0, f1, s0, s1, min_snr, min_pix, max_pix, bg_radius, row):  # pragma: no cover - compiled
    """SPEC §6 steps 4-8 for the seed (ss, fs): grow, cut, local background, integrate, accept.

    Claims every pixel reached. Writes fs, ss, total, max, npix, local sigma, snr into `row`
    (the panel column is the caller's) and returns True if the peak is accepted.
    """
    # 8-connected growth; the queue doubles as the list of the peak's pixels.
    claimed[ss, fs] = 1
    q_fs[0] = fs
    q_ss[0] = ss
    n = 1
    head = 0
    sw = 0.0
    swf = 0.0
    sws = 0.0
    while head < n:
        cf = q_fs[head]
        cs = q_ss[head]
        head += 1
        w = abs(data[cs, cf] - mean[bin_map[cs, cf]])
        sw += w
        swf += w * cf
        sws += w * cs
        for ns in range(max(cs - 1, s0), min(cs + 1, s1) + 1):
            for nf in range(max(cf - 1, f0), min(cf + 1, f1) + 1):
                if claimed[ns, nf] or not data[ns, nf] > thresh[bin_map[ns, nf]]:
                    continue
                if not _usable(data, mask, static_ok, ns, nf):
                    continue
                claimed[ns, nf] = 1
                q_fs[n] = nf
                q_ss[n] = ns
                n += 1
    if n < min_pix or n > max_pix or not sw > 0.0:
        return False
    c_fs = np.int64(np.rint(swf / sw))
    c_ss = np.int64(np.rint(sws / sw))
    # Local background in the 2R disc (claimed pixels excluded, this peak's included).
    r2 = 2 * bg_radius
    nb = 0
    sb = 0.0
    sb2 = 0.0
    bmax = -np.inf
    for ns in range(max(c_ss - r2, s0), min(c_ss + r2, s1) + 1):
        for nf in range(max(c_fs - r2, f0), min(c_fs + r2, f1) + 1):
            if (nf - c_fs) ** 2 + (ns - c_ss) ** 2 > r2 * r2:
                continue
            if claimed[ns, nf] or not _usable(data, mask, static_ok, ns, nf):
                continue
            vb = np.float64(data[ns, nf])
            if not vb < thresh[bin_map[ns, nf]]:
                continue
            nb += 1
            sb += vb
            sb2 += vb * vb
            bmax = max(bmax, vb)
    if nb > 0:
        offset = sb / nb
        var = sb2 / nb - offset * offset
        local_sigma = math.sqrt(var) if var > 0.0 else 0.0
        bmax_sub = bmax - offset
    else:  # no background pixel: bin mean, sigma 0.01, no local-maximum test
        offset = mean[bin_map[c_ss, c_fs]]
        local_sigma = 0.01
        bmax_sub = -np.inf
    # Re-integration above the local background; centroid weighted by raw values.
    total = 0.0
    pmax = -np.inf
    sv = 0.0
    svf = 0.0
    svs = 0.0
    for j in range(n):
        vj = np.float64(data[q_ss[j], q_fs[j]])
        total += vj - offset
        pmax = max(pmax, vj - offset)
        sv += vj
        svf += vj * q_fs[j]
        svs += vj * q_ss[j]
    snr = total / local_sigma
    if not snr >= min_snr or pmax < bmax_sub or sv == 0.0:
        return False
    com_fs = svf / sv
    com_ss = svs / sv
    if not (f0 <= com_fs <= f1 and s0 <= com_ss <= s1):
        return False
    row[0] = com_fs
    row[1] = com_ss
    row[3] = total
    row[4] = pmax
    row[5] = n
    row[6] = local_sigma
    row[7] = snr
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _search_peaks(data, mask, static_ok, bin_map, mean, thresh, panels,
                  min_snr, min_pix, max_pix, bg_radius, max_peaks):  # pragma: no cover - compiled
    """Seeding in raster order over each panel's interior (SPEC §6 step 3), then
    `_measure_candidate` per seed, until the peak budget is spent.

    Returns an (n_peaks, 8) table: fs, ss, panel, total, max, npix, local sigma, snr.
    """
    n_ss, n_fs = data.shape
    out = np.empty((max_peaks, 8))
    t_min = np.inf
    for t in thresh:
        t_min = min(t_min, t)
    if not t_min < np.inf:
        return out[:0]
    claimed = np.zeros((n_ss, n_fs), np.uint8)
    max_area = 1
    for p in range(panels.shape[0]):
        max_area = max(max_area, (panels[p, 1] - panels[p, 0] + 1) * (panels[p, 3] - panels[p, 2] + 1))
    q_fs = np.empty(max_area, np.int64)
    q_ss = np.empty(max_area, np.int64)
    cand = np.empty(n_fs, np.int64)
    n_found = 0
    for p in range(panels.shape[0]):
        f0, f1, s0, s1 = panels[p, 0], panels[p, 1], panels[p, 2], panels[p, 3]
        for ss in range(s0 + 1, s1):
            # No bin threshold is below t_min, so only pixels above it can seed. A vectorised
            # count skips the (many) rows without one; a branch-free pass lists the others.
            seg = data[ss, f0 + 1 : f1]
            if _count_above(seg, t_min) == 0:
                continue
            for j in range(_list_above(seg, t_min, cand)):
                fs = f0 + 1 + cand[j]
                if not data[ss, fs] > thresh[bin_map[ss, fs]] or claimed[ss, fs]:
                    continue
                if not _usable(data, mask, static_ok, ss, fs):
                    continue
                if _measure_candidate(data, mask, static_ok, bin_map, mean, thresh, claimed, q_fs, q_ss, ss, fs,
                                      f0, f1, s0, s1, min_snr, min_pix, max_pix, bg_radius, out[n_found]):
                    out[n_found, 2] = p
                    n_found += 1
                    if n_found == max_peaks:
                        return out[:n_found]
    return out[:n_found]


# ----------------------------------------------------------------------------- the finder
class Peakfinder8:
    """peakfinder8 on one detector geometry (any number of panels; works on the slab).

    The radius map, radial-bin index, panel rectangles and the per-bin random pixel order
    are computed once here (about a second for 4 Mpixel); `find` is then thread-safe and
    releases the GIL in its kernels, so frames can be processed in parallel threads sharing
    one instance. `with_params` reuses all of it for another parameter set (the tuner).
    """

    name = "pf8"

    def __init__(self, params: Peakfinder8Params | None = None, geometry: Geometry | None = None) -> None:
        if geometry is None:
            raise InputError(None, "geometry", "peakfinder8 needs a detector geometry (radius map and panels)")
        self.params = params or Peakfinder8Params()
        self.geometry = geometry
        self.layout = RadialLayout.build(geometry, self.params.min_res, self.params.max_res)
        # Each bin's pixels in a seeded random order: the fast mode's subsample, and the normal
        # mode's first estimate of the background (which only affects speed, never results).
        self._sample_order = self.layout.shuffled_order(self.params.seed)
        self._all_good = np.ones(self.layout.static_ok.shape, dtype=bool)

    def with_params(self, params: Peakfinder8Params) -> "Peakfinder8":
        """A finder for other parameters on the same geometry, sharing the cached layout when
        the resolution limits and the seed are unchanged."""
        if (params.min_res, params.max_res, params.seed) != (self.params.min_res, self.params.max_res,
                                                              self.params.seed):
            return Peakfinder8(params, self.geometry)
        other = object.__new__(Peakfinder8)
        other.__dict__.update(self.__dict__)
        other.params = params
        return other

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels for this finder's array types, so
        that the first real frame is not charged for it (about a second)."""
        self.find_arrays(np.zeros(self.layout.static_ok.shape, np.float32),
                         np.ones(self.layout.static_ok.shape, bool))
        self.find_arrays(np.zeros(self.layout.static_ok.shape, np.float32))

    def radial_statistics(self, data: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(mean, sigma, threshold) per radial bin after the sigma clipping."""
        data, mask = self._check(data, mask)
        return self._radial(data, mask)

    def _radial(self, data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
        prm, lay = self.params, self.layout
        flat, flat_mask = data.ravel(), mask.ravel()
        check_mask = mask is not self._all_good
        if prm.fast:
            return _radial_statistics_sampled(flat, flat_mask, check_mask, self._sample_order, lay.bin_start,
                                              FAST_PIXELS_PER_BIN, N_CLIP_ITERATIONS, float(prm.min_snr),
                                              float(prm.threshold))
        return _radial_statistics_all(flat, flat_mask, check_mask, lay.stat_bin.ravel(), self._sample_order,
                                      lay.bin_start, N_CLIP_ITERATIONS, float(prm.min_snr), float(prm.threshold))

    def find_arrays(self, data: np.ndarray, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Peaks of a slab as columns fs, ss, panel, intensity, max_intensity, npix, sigma, snr."""
        data, mask = self._check(data, mask)
        mean, _, thresh = self._radial(data, mask)
        prm = self.params
        table = _search_peaks(data, mask, self.layout.static_ok, self.layout.bin_map, mean, thresh,
                              self.layout.panels, float(prm.min_snr), int(prm.min_pix_count),
                              int(prm.max_pix_count), int(prm.local_bg_radius), int(prm.max_peaks))
        return {name: table[:, i] for i, name in enumerate(_COLUMNS)}

    def find(self, frame: Frame) -> PeakList:
        """Peaks of one frame (slab coordinates, pixel centres at integers)."""
        if frame.geometry is not None and frame.geometry is not self.geometry:
            if frame.geometry.slab_shape != self.geometry.slab_shape:
                raise InputError(frame.event, "geometry",
                                 f"frame geometry slab {frame.geometry.slab_shape} differs from the finder's "
                                 f"{self.geometry.slab_shape}")
        cols = self.find_arrays(frame.data, frame.mask)
        return PeakList(fs=cols["fs"], ss=cols["ss"], panel=cols["panel"].astype(np.int32),
                        intensity=cols["intensity"], snr=cols["snr"], npix=cols["npix"],
                        max_intensity=cols["max_intensity"])

    def _check(self, data: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        shape = self.layout.static_ok.shape
        data = np.ascontiguousarray(data, dtype=np.float32)
        if data.shape != shape:
            raise InputError(None, "data", f"slab shape {data.shape} does not match the geometry's {shape}")
        if mask is None:
            return data, self._all_good
        mask = np.ascontiguousarray(mask, dtype=bool)
        if mask.shape != shape:
            raise InputError(None, "mask", f"mask shape {mask.shape} does not match the geometry's {shape}")
        return data, mask

    def __repr__(self) -> str:
        return f"Peakfinder8({self.params!r}, geometry={self.geometry.source or '<geometry>'})"
