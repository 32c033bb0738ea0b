"""peakfinder8 on hand-built images whose answers are known (SPEC-crystfel §6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import erf

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame
from peaknet_bench.geometry import Geometry, Panel
from peaknet_bench.peakfind import PeakFinder, Peakfinder8, Peakfinder8Params, run_finder

N = 128  # beam at the panel centre (64, 64); spots sit >= 25 px out so that their radial
         # bins hold enough background pixels for the sigma clipping (as on a real detector)


def panel_geometry(n: int = N) -> Geometry:
    """One n x n panel with the beam at its centre."""
    return Geometry(panels=[Panel("p0", 0, n - 1, 0, n - 1, corner_x=-n / 2, corner_y=n / 2,
                                  fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0))], clen_m=0.1)


def spot(shape: tuple[int, int], fs0: float, ss0: float, total: float, sigma: float = 1.0) -> np.ndarray:
    """A Gaussian spot integrated over each pixel (pixel centres at integers)."""
    def axis(n: int, c: float) -> np.ndarray:
        edges = (np.arange(n + 1) - 0.5 - c) / (np.sqrt(2) * sigma)
        return 0.5 * np.diff(erf(edges))
    return total * np.outer(axis(shape[0], ss0), axis(shape[1], fs0))


def background(shape: tuple[int, int], seed: int, level: float = 100.0, noise: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(level, noise, shape)


def find(data: np.ndarray, geometry: Geometry | None = None, mask: np.ndarray | None = None, **params):
    geometry = geometry or panel_geometry(data.shape[0])
    return Peakfinder8(Peakfinder8Params(**params), geometry).find_arrays(data.astype(np.float32), mask)


def test_single_spot_position_and_intensity() -> None:
    img = background((N, N), 0) + spot((N, N), 30.3, 20.7, 50000.0)
    peaks = find(img, threshold=150.0)
    assert len(peaks["fs"]) == 1
    assert peaks["fs"][0] == pytest.approx(30.3, abs=0.05)
    assert peaks["ss"][0] == pytest.approx(20.7, abs=0.05)
    assert peaks["intensity"][0] == pytest.approx(50000.0, rel=0.02)
    assert peaks["panel"][0] == 0
    assert peaks["snr"][0] > 100
    assert peaks["max_intensity"][0] == pytest.approx(img.max() - 100.0, rel=0.01)


def test_peakfinder8_is_a_peakfinder_and_returns_peaklist() -> None:
    geometry = panel_geometry()
    img = (background((N, N), 1) + spot((N, N), 100.0, 12.0, 30000.0)).astype(np.float32)
    finder = Peakfinder8(Peakfinder8Params(threshold=150.0), geometry)
    assert isinstance(finder, PeakFinder)
    frame = Frame(data=img, mask=np.ones((N, N), bool), geometry=geometry, photon_energy_ev=9500.0, clen_m=0.1)
    peaks = finder.find(frame)
    assert len(peaks) == 1 and peaks.npix is not None and peaks.snr is not None
    results = list(run_finder(finder, [frame, frame, frame], workers=2))
    assert [r.index for r in results] == [0, 1, 2]
    assert all(np.array_equal(r.peaks.fs, peaks.fs) for r in results)


def test_touching_spots_merge_and_separated_spots_do_not() -> None:
    close = background((N, N), 2) + spot((N, N), 30.0, 30.0, 100000.0) + spot((N, N), 33.0, 30.0, 50000.0)
    merged = find(close, threshold=150.0)
    assert len(merged["fs"]) == 1  # one 8-connected region above threshold
    assert merged["fs"][0] == pytest.approx((30.0 * 2 + 33.0) / 3, abs=0.1)
    assert merged["intensity"][0] == pytest.approx(150000.0, rel=0.02)
    apart = background((N, N), 2) + spot((N, N), 24.0, 30.0, 100000.0) + spot((N, N), 36.0, 30.0, 50000.0)
    two = find(apart, threshold=150.0)
    np.testing.assert_allclose(np.sort(two["fs"]), [24.0, 36.0], atol=0.05)
    np.testing.assert_allclose(np.sort(two["intensity"]), [50000.0, 100000.0], rtol=0.02)


def test_spot_on_panel_border() -> None:
    # A spot centred on the first row: seeded from the interior row 1, grown into row 0.
    edge = background((N, N), 3) + spot((N, N), 20.0, 0.0, 40000.0)
    peaks = find(edge, threshold=150.0)
    assert len(peaks["fs"]) == 1
    assert peaks["fs"][0] == pytest.approx(20.0, abs=0.05)
    assert 0.0 < peaks["ss"][0] < 1.0  # half the spot is off the panel: the centroid moves inwards
    # A small spot whose above-threshold pixels all lie on the border row is never seeded.
    border_only = background((N, N), 3) + spot((N, N), 20.0, -0.6, 3000.0, sigma=0.5)
    assert (border_only[1:] < 150.0).all() and (border_only[0] > 150.0).any()
    assert len(find(border_only, threshold=150.0)["fs"]) == 0
    # Same spot one row inside is found.
    assert len(find(np.roll(border_only, 1, axis=0), threshold=150.0)["fs"]) == 1


def test_masked_pixels_are_not_used() -> None:
    img = background((N, N), 4) + spot((N, N), 30.0, 30.0, 40000.0)
    full = find(img, threshold=150.0)
    mask = np.ones((N, N), bool)
    mask[30, 31] = False  # a bright pixel of the spot
    part = find(img, threshold=150.0, mask=mask)
    assert part["npix"][0] == full["npix"][0] - 1
    assert part["intensity"][0] == pytest.approx(full["intensity"][0] - (img[30, 31] - 100.0), rel=0.01)
    assert part["fs"][0] < full["fs"][0]  # the masked pixel was right of centre
    # A masked hot pixel cluster never becomes a peak.
    hot = background((N, N), 4)
    hot[10:12, 40:42] = 1e6
    assert len(find(hot, threshold=150.0)["fs"]) == 1
    mask = np.ones((N, N), bool)
    mask[10:12, 40:42] = False
    assert len(find(hot, threshold=150.0, mask=mask)["fs"]) == 0


def test_saturated_spot_is_one_centred_peak() -> None:
    img = np.minimum(background((N, N), 5) + spot((N, N), 25.0, 95.0, 400000.0, sigma=1.5), 4000.0)
    assert (img == 4000.0).sum() >= 9
    peaks = find(img, threshold=150.0)
    assert len(peaks["fs"]) == 1
    assert peaks["fs"][0] == pytest.approx(25.0, abs=0.05)
    assert peaks["ss"][0] == pytest.approx(95.0, abs=0.05)
    # 4000 minus a local offset between the background level and the threshold.
    assert 4000.0 - 150.0 < peaks["max_intensity"][0] < 4000.0 - 95.0


def ring_image(n: int, seed: int) -> np.ndarray:
    ss, fs = np.mgrid[0:n, 0:n]
    r = np.hypot(fs - n / 2 + 0.5, ss - n / 2 + 0.5)
    return background((n, n), seed, noise=5.0) + 300.0 * np.exp(-((r - 30.0) ** 2) / (2 * 6.0**2))


def test_background_ring_is_not_peaks() -> None:
    n = 96
    img = ring_image(n, 6)
    # ADC threshold 0: only the radial statistics keep the ring from being detected.
    assert len(find(img, threshold=0.0)["fs"]) == 0
    with_spot = img + spot((n, n), 48.0 + 30.0, 48.0, 20000.0)
    peaks = find(with_spot, threshold=0.0)
    assert len(peaks["fs"]) == 1
    assert peaks["fs"][0] == pytest.approx(78.0, abs=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_noise_only_gives_no_peaks(seed: int) -> None:
    img = background((128, 128), 100 + seed, noise=10.0)
    assert len(find(img, threshold=0.0)["fs"]) == 0
    poisson = np.random.default_rng(seed).poisson(50.0, (128, 128)).astype(np.float64)
    assert len(find(poisson, threshold=0.0)["fs"]) == 0


def grid_of_spots(n: int, seed: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    centres = [(fs, ss) for ss in np.arange(10.0, n - 5, 25) for fs in np.arange(10.0, n - 5, 25)
               if np.hypot(fs - n / 2, ss - n / 2) > 30]  # (fs, ss), raster order
    img = background((n, n), seed)
    for fs0, ss0 in centres:
        img = img + spot((n, n), fs0, ss0, 20000.0)
    return img, centres


def test_max_peaks_budget_keeps_first_in_raster_order() -> None:
    img, centres = grid_of_spots(N, 7)
    full = find(img, threshold=150.0)
    assert len(full["fs"]) == len(centres) >= 16
    peaks = find(img, threshold=150.0, max_peaks=5)
    # The budget keeps the first five seeds; in raster order that is the top row of spots
    # (which of them seeds first within the row depends on noise at the spots' upper edges).
    for key in full:
        np.testing.assert_array_equal(peaks[key], full[key][:5])
    top_row = sorted(fs for fs, ss in centres if ss == 10.0)
    np.testing.assert_allclose(np.sort(peaks["fs"]), top_row, atol=0.05)
    np.testing.assert_allclose(peaks["ss"], 10.0, atol=0.1)


def test_size_cut() -> None:
    sharp = spot((N, N), 20.0, 20.0, 3000.0, sigma=0.3)
    img = background((N, N), 8) + sharp + spot((N, N), 105.0, 105.0, 100000.0, sigma=2.0)
    default = find(img, threshold=150.0)
    np.testing.assert_allclose(default["fs"], [20.0, 105.0], atol=0.05)
    n_sharp, n_broad = default["npix"]
    assert n_sharp <= 5 and 50 <= n_broad <= 200
    small = find(img, threshold=150.0, min_pix_count=int(n_sharp) + 1)
    np.testing.assert_allclose(small["fs"], [105.0], atol=0.05)
    big = find(img, threshold=150.0, max_pix_count=int(n_broad) - 1)
    np.testing.assert_allclose(big["fs"], [20.0], atol=0.05)
    exact = find(img, threshold=150.0, min_pix_count=int(n_broad), max_pix_count=int(n_broad))
    np.testing.assert_allclose(exact["fs"], [105.0], atol=0.05)


def test_growth_does_not_cross_panels() -> None:
    # Two 64 x 64 panels side by side in the slab and in the lab: one spot straddles the edge.
    geometry = Geometry(panels=[
        Panel("a", 0, 63, 0, 63, corner_x=-64.0, corner_y=96.0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0)),
        Panel("b", 64, 127, 0, 63, corner_x=0.0, corner_y=96.0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0)),
    ], clen_m=0.1)
    img = background((64, 128), 9) + spot((64, 128), 63.5, 20.0, 60000.0, sigma=1.2)
    peaks = find(img, geometry, threshold=150.0)
    assert sorted(peaks["panel"].tolist()) == [0, 1]
    a, b = peaks["panel"] == 0, peaks["panel"] == 1
    assert peaks["fs"][a][0] <= 63.0 and peaks["fs"][b][0] >= 64.0
    assert peaks["intensity"].sum() == pytest.approx(60000.0, rel=0.03)
    # As one panel the same pixels give one peak.
    single = find(img, Geometry(panels=[Panel("ab", 0, 127, 0, 63, corner_x=-64.0, corner_y=96.0,
                                              fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0))], clen_m=0.1), threshold=150.0)
    assert len(single["fs"]) == 1 and single["fs"][0] == pytest.approx(63.5, abs=0.05)


def test_resolution_limits() -> None:
    # Spots at radius ~30 and ~55 pixels from the beam (panel centre).
    img = background((N, N), 10) + spot((N, N), 94.0, 64.0, 30000.0) + spot((N, N), 64.0, 119.0, 30000.0)
    assert len(find(img, threshold=150.0)["fs"]) == 2
    outer = find(img, threshold=150.0, min_res=40.0)
    np.testing.assert_allclose(outer["ss"], [119.0], atol=0.05)
    inner = find(img, threshold=150.0, max_res=40.0)
    np.testing.assert_allclose(inner["fs"], [94.0], atol=0.05)


def test_fast_mode_close_to_normal_and_seeded() -> None:
    n = 128
    img = ring_image(n, 11)
    rng = np.random.default_rng(11)
    for fs0, ss0 in rng.uniform(8, n - 8, (30, 2)):
        img = img + spot((n, n), fs0, ss0, rng.uniform(5000, 50000))
    normal = find(img, threshold=0.0)
    fast = find(img, threshold=0.0, fast=True, seed=3)
    assert len(normal["fs"]) >= 20
    assert abs(len(fast["fs"]) - len(normal["fs"])) <= 0.1 * len(normal["fs"])
    d = np.hypot(normal["fs"][:, None] - fast["fs"][None], normal["ss"][:, None] - fast["ss"][None])
    assert (d.min(axis=1) < 0.3).mean() >= 0.9
    again = find(img, threshold=0.0, fast=True, seed=3)
    np.testing.assert_array_equal(again["fs"], fast["fs"])


def test_params_defaults_json_and_errors(tmp_path) -> None:
    p = Peakfinder8Params()
    assert (p.threshold, p.min_snr, p.min_pix_count, p.max_pix_count, p.local_bg_radius) == (800.0, 5.0, 2, 200, 3)
    assert (p.min_res, p.max_res, p.max_peaks, p.fast) == (0.0, 0.0, 2048, False)
    path = tmp_path / "pf8.json"
    path.write_text(json.dumps({"threshold": 120, "min-snr": 4.5, "peakfinder8-fast": True}))
    loaded = Peakfinder8Params.from_json(path)
    assert (loaded.threshold, loaded.min_snr, loaded.fast, loaded.max_peaks) == (120.0, 4.5, True, 2048)
    Peakfinder8Params(min_snr=3.0).to_json(tmp_path / "out.json")
    assert Peakfinder8Params.from_json(tmp_path / "out.json") == Peakfinder8Params(min_snr=3.0)
    for bad in ({"min_pix_count": 0}, {"max_pix_count": 1, "min_pix_count": 3}, {"tresh": 1}, {"max_peaks": 2.5}):
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match="pf8.json"):
            Peakfinder8Params.from_json(path)
    with pytest.raises(InputError, match="data"):
        Peakfinder8(Peakfinder8Params(), panel_geometry()).find_arrays(np.zeros((10, 10), np.float32))


def test_with_params_shares_the_layout_and_matches_a_fresh_finder() -> None:
    img = background((N, N), 12) + spot((N, N), 100.0, 30.0, 30000.0) + spot((N, N), 20.0, 90.0, 3000.0)
    img = img.astype(np.float32)
    base = Peakfinder8(Peakfinder8Params(threshold=150.0), panel_geometry())
    for prm in (Peakfinder8Params(threshold=150.0, min_snr=3.0), Peakfinder8Params(threshold=400.0, fast=True),
                Peakfinder8Params(threshold=150.0, min_res=45.0)):
        derived = base.with_params(prm)
        assert derived.params == prm and base.params.threshold == 150.0
        assert (derived.layout is base.layout) == (prm.min_res == 0.0)
        fresh = Peakfinder8(prm, panel_geometry()).find_arrays(img)
        got = derived.find_arrays(img)
        for key in fresh:
            np.testing.assert_array_equal(got[key], fresh[key])
