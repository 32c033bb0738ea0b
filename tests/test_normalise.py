"""Model input normalisation (peaknet_bench.data.normalise): the local signal-to-noise input
survives what real frames hold — hot and NaN pixels, per-panel pedestals, photon-counting
zeros — and the global z-score stays what older checkpoints were trained on."""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.data.normalise import GLOBAL, InputNorm, local_snr, normalised_slab, panel_rects
from peaknet_bench.errors import InputError

RECTS = np.array([[0, 127, 0, 127], [0, 127, 136, 263]], np.int64)  # two panels, an 8-px gap


def _frame(seed: int = 0, pedestal=(0.0, 0.0), bg: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    slab = rng.poisson(bg, size=(128, 264)).astype(np.float32)
    slab[:, :128] += pedestal[0]
    slab[:, 136:] += pedestal[1]
    mask = np.ones(slab.shape, bool)
    mask[:, 128:136] = False  # the gap
    return slab, mask


def _add_spot(slab: np.ndarray, r: int, c: int, photons: float) -> None:
    y, x = np.mgrid[-3:4, -3:4]
    slab[r - 3:r + 4, c - 3:c + 4] += photons * np.exp(-(x * x + y * y) / 2.0) / (2 * np.pi)


def test_background_is_zero_mean_unit_noise_per_panel_despite_pedestals() -> None:
    slab, mask = _frame(pedestal=(0.0, 5000.0))  # an ADU pedestal on one panel only
    z = local_snr(slab, mask, RECTS, InputNorm())
    for sl in (np.s_[:, :128], np.s_[:, 136:]):
        assert abs(float(np.mean(z[sl]))) < 0.1 and 0.85 < float(np.std(z[sl])) < 1.1
    assert (z[:, 128:136] == 0).all()  # bad pixels are 0


def test_spot_signal_survives_hot_and_nan_pixels() -> None:
    """Two ~10⁵-count hot pixels wreck a global z-score (σ inflated, the spot fades) but
    leave the local input of a spot away from them unchanged."""
    slab, mask = _frame()
    _add_spot(slab, 64, 40, 600.0)
    clean = local_snr(slab, mask, RECTS, InputNorm())
    broken = slab.copy()
    broken[10, 200] = broken[100, 230] = 114_000.0
    broken[70, 70] = np.nan
    z = local_snr(broken, mask, RECTS, InputNorm())
    assert np.isfinite(z).all() and z[70, 70] == 0.0
    assert z[64, 40] == pytest.approx(clean[64, 40], rel=1e-3) and z[64, 40] > 5.0
    assert 20.0 < z[10, 200] < 100.0  # squashed: far above any background, not 10⁴
    img, mean, scale = normalised_slab(broken, mask & np.isfinite(broken), RECTS, GLOBAL)
    assert (img[64, 40] - mean) * scale < 0.3 * z[64, 40]  # the global z-score loses the spot


def test_photon_counting_zeros_do_not_explode() -> None:
    """A sparse photon-counting frame (most pixels 0): σ is floored, one photon is not ∞."""
    rng = np.random.default_rng(1)
    slab = rng.poisson(0.02, size=(128, 264)).astype(np.int32)
    mask = np.ones(slab.shape, bool)
    z = local_snr(slab, mask, RECTS, InputNorm())
    assert np.isfinite(z).all() and float(np.abs(z).max()) < 60.0


def test_same_input_same_bits_and_no_input_change() -> None:
    slab, mask = _frame(seed=3)
    keep = slab.copy()
    a = local_snr(slab, mask, RECTS, InputNorm())
    assert np.array_equal(slab, keep)
    assert a.dtype == np.float32 and a.tobytes() == local_snr(slab, mask, RECTS, InputNorm()).tobytes()


def test_input_norm_config() -> None:
    assert InputNorm.from_dict(None) == GLOBAL  # a checkpoint from before local normalisation
    assert InputNorm.from_dict(InputNorm(tile=16).to_dict()) == InputNorm(tile=16)
    with pytest.raises(InputError, match="input_norm.tile"):
        InputNorm.from_dict({"tile": 2})
    with pytest.raises(InputError, match="input_norm"):
        InputNorm.from_dict({"bogus": 1})


def test_panel_rects_of_a_preset() -> None:
    from peaknet_bench.geometry.presets import PRESETS

    g = PRESETS["pilatus6m"]()
    r = panel_rects(g)
    assert r.shape == (60, 4) and g.slab_shape == (2527, 2463)
    assert (r[:, 1] - r[:, 0] + 1 == 195).all() and (r[:, 3] - r[:, 2] + 1 == 487).all()
    c = PRESETS["cspad"]()
    assert c.n_panels == 64 and {(p.max_ss - p.min_ss + 1, p.max_fs - p.min_fs + 1) for p in c.panels} == {(185, 194)}
