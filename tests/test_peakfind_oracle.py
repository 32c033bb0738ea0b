"""The numba peakfinder8 against a slow, straightforward reference written from SPEC-crystfel §6.

The reference takes a different route on purpose: radial statistics with np.bincount over
boolean selections, peak regions as scipy.ndimage 8-connected components per panel ordered
by their first interior pixel in raster order (a flood fill from a seed claims exactly the
seed's component, and claimed pixels are always whole components), and Python loops for
the local background. Identical peak lists on random images mean both read the spec alike.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from peaknet_bench.geometry import Geometry, Panel
from peaknet_bench.peakfind import Peakfinder8, Peakfinder8Params


def reference_peakfinder8(data: np.ndarray, mask: np.ndarray, geometry: Geometry,
                          prm: Peakfinder8Params, stats_pixels: np.ndarray | None = None) -> np.ndarray:
    """(n, 8) table fs, ss, panel, total, max, npix, sigma, snr, following the spec literally.
    `stats_pixels` (bool map) restricts the radial statistics to a subsample (fast mode)."""
    data = data.astype(np.float32)
    shape = geometry.slab_shape
    radius = np.full(shape, np.nan)
    for p in geometry.panels:  # corner of pixel (ifs, iss), truncated toward zero
        iss, ifs = np.mgrid[0 : p.height, 0 : p.width].astype(np.float64)
        x = np.trunc(p.corner_x + ifs * p.fs[0] + iss * p.ss[0])
        y = np.trunc(p.corner_y + ifs * p.fs[1] + iss * p.ss[1])
        radius[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = np.sqrt(x * x + y * y)
    on_panel = np.isfinite(radius)
    bins = np.where(on_panel, np.rint(np.nan_to_num(radius)), 0).astype(np.int64)
    usable = on_panel & mask & geometry.bad_pixel_mask() & np.isfinite(data)
    with np.errstate(invalid="ignore"):
        usable &= radius > prm.min_res
        if prm.max_res > 0:
            usable &= radius < prm.max_res
    n_bins = bins[on_panel].max() + 1
    v64 = data.astype(np.float64)
    low = np.full(n_bins, -np.inf)
    high = np.full(n_bins, np.inf)
    in_stats = usable if stats_pixels is None else usable & stats_pixels
    for _ in range(5):
        sel = in_stats & (v64 > low[bins]) & (v64 < high[bins])
        count = np.bincount(bins[sel], minlength=n_bins).astype(np.float64)
        s = np.bincount(bins[sel], weights=v64[sel], minlength=n_bins)
        s2 = np.bincount(bins[sel], weights=v64[sel] ** 2, minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, s / count, 0.0)
            sd = np.sqrt(np.maximum(np.where(count > 0, s2 / count, 0.0) - mean**2, 0.0))
        high = np.where(count > 0, np.maximum(mean + prm.min_snr * sd, prm.threshold), np.inf)
        low = np.where(count > 0, mean - prm.min_snr * sd, -np.inf)
    thr = high[bins]
    above = usable & (v64 > thr)
    claimed = np.zeros(shape, bool)
    rows = []
    r2 = 2 * prm.local_bg_radius
    for pi, p in enumerate(geometry.panels):
        sl = (slice(p.min_ss, p.max_ss + 1), slice(p.min_fs, p.max_fs + 1))
        labels, n = ndimage.label(above[sl], structure=np.ones((3, 3), bool))
        interior = np.zeros((p.height, p.width), bool)
        interior[1:-1, 1:-1] = True
        seeds = []
        for lab in range(1, n + 1):
            iss, ifs = np.nonzero((labels == lab) & interior)
            if iss.size:
                seeds.append((np.min(iss * p.width + ifs), lab))
        for _, lab in sorted(seeds):
            lss, lfs = np.nonzero(labels == lab)
            ss, fs = lss + p.min_ss, lfs + p.min_fs
            claimed[ss, fs] = True
            npix = ss.size
            if not prm.min_pix_count <= npix <= prm.max_pix_count:
                continue
            w = np.abs(v64[ss, fs] - mean[bins[ss, fs]])
            c_fs, c_ss = int(np.rint((w * fs).sum() / w.sum())), int(np.rint((w * ss).sum() / w.sum()))
            bg = []
            for dss in range(-r2, r2 + 1):
                for dfs in range(-r2, r2 + 1):
                    bs, bf = c_ss + dss, c_fs + dfs
                    on_panel = p.min_ss <= bs <= p.max_ss and p.min_fs <= bf <= p.max_fs
                    if dfs * dfs + dss * dss > r2 * r2 or not on_panel:
                        continue
                    if usable[bs, bf] and not claimed[bs, bf] and v64[bs, bf] < thr[bs, bf]:
                        bg.append(v64[bs, bf])
            if bg:
                offset, sigma, bmax = np.mean(bg), np.std(bg), np.max(bg) - np.mean(bg)
            else:
                offset, sigma, bmax = mean[bins[c_ss, c_fs]], 0.01, -np.inf
            vals = v64[ss, fs]
            total = np.sum(vals - offset)
            pmax = np.max(vals - offset)
            with np.errstate(divide="ignore"):
                snr = total / sigma
            if snr < prm.min_snr or pmax < bmax or vals.sum() == 0:
                continue
            com_fs, com_ss = (vals * fs).sum() / vals.sum(), (vals * ss).sum() / vals.sum()
            if not (p.min_fs <= com_fs <= p.max_fs and p.min_ss <= com_ss <= p.max_ss):
                continue
            rows.append([com_fs, com_ss, pi, total, pmax, npix, sigma, snr])
            if len(rows) == prm.max_peaks:
                return np.array(rows)
    return np.array(rows).reshape(-1, 8)


def two_panel_geometry() -> Geometry:
    """Two 48x40 panels in one slab, one rotated by 90°, beam between them."""
    return Geometry(panels=[
        Panel("a", min_fs=0, max_fs=47, min_ss=0, max_ss=39, corner_x=-50.0, corner_y=20.5,
              fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0)),
        Panel("b", min_fs=0, max_fs=47, min_ss=40, max_ss=79, corner_x=3.0, corner_y=-24.0,
              fs=(0.0, 1.0, 0.0), ss=(1.0, 0.0, 0.0)),
    ], clen_m=0.1)


def random_frame(geometry: Geometry, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = geometry.slab_shape
    data = rng.normal(100.0, 12.0, shape)
    ss, fs = np.mgrid[0 : shape[0], 0 : shape[1]]
    for _ in range(25):  # spots of every size and brightness, some touching, some on borders
        f0, s0 = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        sig = rng.uniform(0.4, 2.0)
        data += rng.uniform(50, 3000) * np.exp(-((fs - f0) ** 2 + (ss - s0) ** 2) / (2 * sig**2))
    hot = rng.random(shape) < 0.003
    data[hot] = rng.uniform(500, 5000, hot.sum())
    mask = rng.random(shape) > 0.02
    return data.astype(np.float32), mask


COLUMNS = ("fs", "ss", "panel", "intensity", "max_intensity", "npix", "sigma", "snr")
PARAM_SETS = [
    Peakfinder8Params(threshold=150.0, min_snr=4.0, min_pix_count=1, max_pix_count=30, local_bg_radius=2),
    Peakfinder8Params(threshold=0.0, min_snr=3.0, min_pix_count=2, max_pix_count=200, local_bg_radius=3),
    Peakfinder8Params(threshold=300.0, min_snr=5.0, min_res=5.0, max_res=40.0, local_bg_radius=1, max_peaks=7),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("params", PARAM_SETS, ids=["low-thr", "zero-adc", "res-budget"])
def test_numba_matches_reference(seed: int, params: Peakfinder8Params) -> None:
    geometry = two_panel_geometry()
    data, mask = random_frame(geometry, seed)
    expected = reference_peakfinder8(data, mask, geometry, params)
    cols = Peakfinder8(params, geometry).find_arrays(data, mask)
    got = np.column_stack([cols[k] for k in COLUMNS])
    assert len(expected) > 0
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got[:, [2, 5]], expected[:, [2, 5]])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_radial_statistics_match_reference_bincount() -> None:
    geometry = two_panel_geometry()
    data, mask = random_frame(geometry, 7)
    prm = Peakfinder8Params(threshold=0.0, min_snr=3.0)
    finder = Peakfinder8(prm, geometry)
    mean, sigma, thresh = finder.radial_statistics(data, mask)
    # One clipping round by hand for bin 20 (the kernel runs five).
    sel = finder.layout.static_ok & mask & (finder.layout.bin_map == 20)
    vals = data[sel].astype(np.float64)
    lo, hi = -np.inf, np.inf
    for _ in range(5):
        kept = vals[(vals > lo) & (vals < hi)]
        mu, sd = kept.mean(), kept.std()
        lo, hi = mu - 3.0 * sd, max(mu + 3.0 * sd, 0.0)
    assert mean[20] == pytest.approx(mu, rel=1e-12)
    assert sigma[20] == pytest.approx(sd, rel=1e-9)
    assert thresh[20] == pytest.approx(hi, rel=1e-9)


@pytest.mark.parametrize("kind", ["random", "constant", "bimodal", "spiky", "nan-and-inf"])
def test_normal_mode_radial_statistics_equal_plain_clipping(kind: str) -> None:
    """The one-pass core/outlier clipping equals plain clipping of every pixel, including the
    cases that defeat its first estimate (constant, bimodal, spiky bins: the per-bin fallback)
    and non-finite pixels."""
    from peaknet_bench.peakfind.peakfinder8 import _radial_statistics_sampled

    geometry = two_panel_geometry()
    data, mask = random_frame(geometry, 3)
    rng = np.random.default_rng(5)
    if kind == "constant":
        data[:] = 250.0
    elif kind == "bimodal":
        data = np.where(rng.random(data.shape) < 0.5, 100.0, 2000.0).astype(np.float32) + rng.normal(0, 1, data.shape)
    elif kind == "spiky":  # clipping the spikes collapses sigma to 0: bounds cut into the core
        data = np.where(rng.random(data.shape) < 0.9, 100.0, 5000.0)
    elif kind == "nan-and-inf":
        data[rng.random(data.shape) < 0.01] = np.nan
        data[rng.random(data.shape) < 0.01] = np.inf
        data[rng.random(data.shape) < 0.01] = -np.inf
    data = data.astype(np.float32)
    for prm in (Peakfinder8Params(threshold=0.0, min_snr=2.0), Peakfinder8Params(threshold=500.0, min_snr=5.0)):
        finder = Peakfinder8(prm, geometry)
        lay = finder.layout
        plain = _radial_statistics_sampled(data.ravel(), mask.ravel(), True, lay.order, lay.bin_start,
                                           np.iinfo(np.int64).max // 2, 5, prm.min_snr, prm.threshold)
        fast_path = finder.radial_statistics(data, mask)
        for a, b in zip(fast_path, plain):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(2))
def test_fast_mode_matches_reference_on_its_subsample(seed: int) -> None:
    geometry = two_panel_geometry()
    data, mask = random_frame(geometry, 10 + seed)
    prm = Peakfinder8Params(threshold=150.0, min_snr=4.0, min_pix_count=1, fast=True, seed=seed)
    finder = Peakfinder8(prm, geometry)
    # The subsample, as specified: per bin the first 100 good pixels of the seeded random order.
    order, start = finder._sample_order, finder.layout.bin_start
    good = (mask & np.isfinite(data)).ravel()
    sample = np.zeros(data.size, bool)
    for b in range(start.size - 1):
        seg = order[start[b] : start[b + 1]]
        sample[seg[good[seg]][:100]] = True
    assert sample.sum() < (finder.layout.static_ok & mask).sum()  # a real subsample
    expected = reference_peakfinder8(data, mask, geometry, prm, sample.reshape(data.shape))
    cols = finder.find_arrays(data, mask)
    got = np.column_stack([cols[k] for k in COLUMNS])
    assert len(expected) > 0 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
