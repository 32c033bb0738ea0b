"""Pixel-level rendering: pseudo-Voigt spots and the detector noise kernel."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats

from peaknet_bench.sim.render import Spots, apply_noise, label_spots, measure_spots, render_spots


def _spots(fs, ss, photons, sigma, gamma, eta, shape):
    n = len(fs)
    bounds = np.tile([0, shape[1] - 1, 0, shape[0] - 1], (n, 1))
    return Spots(np.asarray(fs, float), np.asarray(ss, float), np.asarray(photons, float), np.full(n, sigma),
                 np.full(n, gamma), np.full(n, eta), bounds)


@pytest.mark.parametrize("sigma,gamma,eta", [(0.5, 0.6, 0.0), (1.0, 1.2, 0.3), (1.6, 1.5, 0.6)])
def test_centroid_of_rendered_spot_is_its_position(sigma, gamma, eta):
    rng = np.random.default_rng(3)
    shape = (80, 80)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for _ in range(20):
        fs, ss = rng.uniform(30, 50, 2)
        img = np.zeros(shape, np.float32)
        render_spots(_spots([fs], [ss], [1e4], sigma, gamma, eta, shape), img, np.ones(shape, np.float32),
                     np.zeros(shape, bool), np.array([True]))
        assert img.sum() == pytest.approx(1e4, rel=1e-5)  # the window holds exactly the spot's photons
        assert (img * xx).sum() / img.sum() == pytest.approx(fs, abs=0.05)
        assert (img * yy).sum() / img.sum() == pytest.approx(ss, abs=0.05)


def test_spot_profile_matches_the_pseudo_voigt_integral():
    """A pixel's value equals the profile integrated over the pixel (checked by brute-force quadrature)."""
    shape = (40, 40)
    fs, ss, sigma, gamma, eta = 20.3, 19.8, 1.1, 1.3, 0.4
    img = np.zeros(shape, np.float32)
    render_spots(_spots([fs], [ss], [1.0], sigma, gamma, eta, shape), img, np.ones(shape, np.float32),
                 np.zeros(shape, bool), np.array([False]))
    sub = (np.arange(40) + 0.5) / 40 - 0.5
    values = {}
    for px, py in [(20, 20), (21, 19), (23, 20)]:
        x = px + sub[None, :] - fs
        y = py + sub[:, None] - ss
        r2 = x**2 + y**2
        g = np.exp(-0.5 * r2 / sigma**2) / (2 * np.pi * sigma**2)
        lor = gamma / (2 * np.pi * (r2 + gamma**2) ** 1.5)
        values[(px, py)] = ((1 - eta) * g + eta * lor).mean()
    # The window is normalised to 1 photon: compare ratios (normalisation-free).
    ref = values[(20, 20)]
    for (px, py), v in values.items():
        assert img[py, px] / img[20, 20] == pytest.approx(v / ref, rel=2e-3)


def test_spot_stays_on_its_panel_and_labels_half_maximum():
    shape = (30, 60)
    img = np.zeros(shape, np.float32)
    label = np.zeros(shape, bool)
    spots = _spots([29.6, 10.0], [15.0, 15.0], [500.0, 500.0], 1.2, 1.2, 0.3, shape)
    spots.panel_bounds[0] = [0, 29, 0, 29]  # spot 0 sits on the right edge of a 30-px-wide panel
    stats_ = render_spots(spots, img, np.ones(shape, np.float32), label, np.array([True, False]))
    assert img[:, 30:].sum() == 0.0  # nothing leaks into the next panel: it is lost in the gap
    assert img[:, :30].sum() == pytest.approx(500.0 + 500.0 * 0.6, rel=0.1)  # ~40 % of spot 0 beyond x = 29.5
    assert img[:, :30].sum() < 900.0
    assert label[:, :30].any() and not label[:, 5:16].any()  # only the labelled spot marks pixels
    peak = stats_.peak[0]
    assert img[label].min() >= 0.5 * peak - 1e-3
    measured = measure_spots(spots)
    np.testing.assert_allclose(measured.peak, stats_.peak)
    np.testing.assert_allclose(measured.core_photons, stats_.core_photons)
    again = np.zeros(shape, bool)
    label_spots(Spots(*[getattr(spots, f)[:1] for f in ("fs", "ss", "photons", "sigma_px", "gamma_px", "eta",
                                                         "panel_bounds")]), again)
    np.testing.assert_array_equal(again, label)


def test_weight_map_shadows_spot_photons():
    shape = (40, 40)
    img = np.zeros(shape, np.float32)
    weight = np.ones(shape, np.float32)
    weight[:, :20] = 0.01
    render_spots(_spots([20.0], [20.0], [1000.0], 1.0, 1.0, 0.0, shape), img, weight, np.zeros(shape, bool),
                 np.array([False]))
    assert img[:, :20].sum() < 0.02 * img[:, 21:].sum()


@pytest.mark.parametrize("lam", [0.05, 0.7, 3.0, 11.5, 12.5, 40.0, 2000.0])
def test_noise_is_poisson(lam):
    n = 200_000
    photons = np.full(n, lam, np.float32)
    out = apply_noise(photons, np.ones(n, np.float32), np.zeros(n, np.uint8), 0.0, 0.0, 1e12, key=11)
    assert np.all(out == np.round(out))
    se = np.sqrt(lam / n)
    assert abs(out.mean() - lam) < 5 * se
    assert out.var() == pytest.approx(lam, rel=0.03)
    if lam < 20:  # full distribution against the Poisson pmf
        counts = np.bincount(out.astype(np.int64))
        kmax = int(np.searchsorted(np.cumsum(stats.poisson.pmf(np.arange(200), lam)), 1 - 1e-4)) + 1
        obs = np.append(counts[:kmax], counts[kmax:].sum()) if counts.size > kmax else np.pad(counts, (0, kmax + 1 - counts.size))
        exp = np.append(stats.poisson.pmf(np.arange(kmax), lam), stats.poisson.sf(kmax - 1, lam)) * n
        keep = exp > 5
        assert stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue > 1e-4


def test_read_noise_is_gaussian_and_saturation_clips():
    n = 400_000
    out = apply_noise(np.zeros(n, np.float32), np.ones(n, np.float32), np.zeros(n, np.uint8), 2.0, 0.0, 1e12, key=5)
    assert out.std() == pytest.approx(2.0, rel=0.01)
    assert stats.kstest(out / 2.0, "norm").pvalue > 1e-4
    tail = np.mean(np.abs(out) > 2.0 * 3.5)  # the ziggurat's tail path
    assert tail == pytest.approx(2 * stats.norm.sf(3.5), rel=0.25)
    sat = apply_noise(np.full(100, 1e4, np.float32), np.full(100, 10, np.float32), np.zeros(100, np.uint8), 1.0, 0.0,
                      3e4, key=5)
    assert np.all(sat == 3e4)


def test_pixel_classes_and_gain():
    n = 50_000
    photons = np.full(n, 5.0, np.float32)
    cls = np.zeros(n, np.uint8)
    cls[:100] = 1
    cls[100:200] = 2
    out = apply_noise(photons, np.full(n, 8.0, np.float32), cls, 0.0, 5000.0, 1e9, key=1)
    assert np.all(out[:100] == 0)
    assert np.all(out[100:200] >= 5000)
    assert out[200:].mean() == pytest.approx(40.0, rel=0.02)
    assert np.all(out[200:] % 8 == 0)


@pytest.mark.determinism
def test_noise_is_identical_on_any_number_of_threads():
    photons = np.random.default_rng(0).exponential(3.0, (300, 200)).astype(np.float32)
    args = (np.full(photons.shape, 3.0, np.float32), np.zeros(photons.shape, np.uint8), 1.5, 100.0, 1e9)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = apply_noise(photons, *args, key=99)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = apply_noise(photons, *args, key=99)
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == many.tobytes()
    assert apply_noise(photons, *args, key=100).tobytes() != one.tobytes()


@pytest.mark.parametrize("step", [1.0, 0.03125])
def test_adc_digitisation_gives_whole_steps(step):
    """The readout is rounded to whole ADC steps (integers for the store), saturates at
    ±max_adu, and has no negative zero."""
    rng = np.random.default_rng(4)
    photons = rng.uniform(0, 3, (64, 64)).astype(np.float32)
    gain = np.full((64, 64), 10.0, np.float32)
    cls = np.zeros((64, 64), np.uint8)
    cls[0, :8] = 3  # a bad ASIC row: huge spread, clipped
    out = apply_noise(photons, gain, cls, 1.5, 6000.0, 30000.0, 7, adc_step=step)
    steps = out / np.float32(step)
    assert np.array_equal(steps, np.rint(steps))
    assert out.min() >= -30000.0 and out.max() <= 30000.0
    assert not np.any(np.signbit(out) & (out == 0))
    plain = apply_noise(photons, gain, cls, 1.5, 6000.0, 30000.0, 7)
    assert np.abs(out - np.clip(plain, -30000, 30000)).max() <= step / 2


def test_adc_step_must_be_a_power_of_two(tmp_path):
    import yaml

    from peaknet_bench.errors import InputError
    from peaknet_bench.sim import load_experiment
    from peaknet_bench.sim.experiment import EXPERIMENTS_DIR

    spec = yaml.safe_load((EXPERIMENTS_DIR / "epix10k-lysozyme.yaml").read_text())
    spec["detector"]["adc_step_adu"] = 0.3
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InputError, match="adc_step_adu.*power of two"):
        load_experiment(str(path))
