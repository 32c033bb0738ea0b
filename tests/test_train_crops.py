"""Training crops (peaknet_bench.train.crops): seeded positions, defects never labelled,
normalisation as at inference, the on-disk cache, and the store's engine labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from peaknet_bench.data.normalise import InputNorm
from peaknet_bench.errors import InputError
from peaknet_bench.train.crops import CropConfig, SimulatedCrops, crop_origins, inject_defects, mark_negatives


def test_crop_origins_are_seeded_inside_and_on_peaks() -> None:
    label = np.zeros((300, 200), np.uint8)
    label[150, 20] = label[10, 190] = 1
    a = crop_origins(label, 40, 64, 0.5, np.random.default_rng([3, 1]))
    assert np.array_equal(a, crop_origins(label, 40, 64, 0.5, np.random.default_rng([3, 1])))
    assert (a >= 0).all() and (a[:, 0] <= 300 - 64).all() and (a[:, 1] <= 200 - 64).all()
    covers = [((r <= 150 < r + 64) and (c <= 20 < c + 64)) or ((r <= 10 < r + 64) and (c <= 190 < c + 64))
              for r, c in a[:20]]
    assert all(covers)  # the peak-centred share contains its label pixel (jitter <= crop/4)


def test_hard_negatives_are_unlabelled_reflections_drawn_by_weight() -> None:
    label = np.zeros((300, 200), np.uint8)
    label[150, 20] = 1
    # three reflections: one on the labelled spot (not a negative), a faint and a bright one
    marks = mark_negatives(label, np.array([21.0, 100.0, 180.0]), np.array([151.0, 50.0, 250.0]),
                           np.array([50.0, 1.0, 99.0]))
    assert marks[151, 21] == 0 and marks[50, 100] == 1.0 and marks[250, 180] == 99.0
    rng = np.random.default_rng(7)
    a = crop_origins(label, 200, 64, 0.25, rng, marks, 0.5)
    assert np.array_equal(a, crop_origins(label, 200, 64, 0.25, np.random.default_rng(7), marks, 0.5))
    neg = a[50:150]
    bright = [(r <= 250 < r + 64) and (c <= 180 < c + 64) for r, c in neg]
    assert sum(bright) >= 90  # drawn in proportion to the weight: 99 of 100
    # without negatives (or a zero share) the draws are those of the plain call
    plain = crop_origins(label, 40, 64, 0.5, np.random.default_rng([3, 1]))
    assert np.array_equal(plain, crop_origins(label, 40, 64, 0.5, np.random.default_rng([3, 1]), marks, 0.0))
    with pytest.raises(InputError, match="negative_fraction"):
        CropConfig(peak_fraction=0.75, negative_fraction=0.5).validate()


def test_injected_defects_are_unlabelled_bright_or_nan() -> None:
    rng = np.random.default_rng(0)
    slab = rng.poisson(10.0, size=(1000, 1000)).astype(np.float32)
    mask = np.ones_like(slab, bool)
    label = np.ones(slab.shape, np.uint8)  # every pixel labelled: defects must clear theirs
    cfg = CropConfig(hot_pixels_per_mpx=50, nan_pixels_per_mpx=20)
    out, lab = inject_defects(slab, mask, label, cfg, np.random.default_rng(1))
    assert slab.max() < 100 and np.isfinite(slab).all()  # inputs untouched
    hot = np.isfinite(out) & (out > 100)
    nan = np.isnan(out)
    assert 20 < hot.sum() < 90 and 5 < nan.sum() < 40
    assert out[hot].min() > 10 + 3 * 10 ** 2.5 * 0.9  # ≥ 10^2.5 robust σ above the median
    assert not lab[hot | nan].any() and lab[~(hot | nan)].all()


def test_crop_config_rejects_bad_values() -> None:
    with pytest.raises(InputError, match="multiple of 32"):
        CropConfig(crop=48).validate()
    with pytest.raises(InputError, match="peak_fraction"):
        CropConfig(peak_fraction=1.5).validate()
    with pytest.raises(InputError, match="input_norm.kind"):
        CropConfig(input_norm={"kind": "median"}).validate()


def test_simulated_crops_consistent_and_cached(tmp_path) -> None:
    """Crops carry normalised images with labels only on good pixels; the on-disk cache
    gives the same arrays back (a teacher run and its distillation share them)."""
    kw = dict(experiments=("rayonix-orthorhombic",), frames_per_experiment=1, seed=5, crop=64,
              crops_per_frame=3, peak_fraction=0.5)
    a = SimulatedCrops(**kw, cache_dir=str(tmp_path))
    b = SimulatedCrops(**kw, cache_dir=str(tmp_path))  # loaded from the cache
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert len(a) == 3 and a.sources == b.sources
    assert a.input_norm == InputNorm()
    item = a[1]
    assert item["image"].shape == (1, 64, 64) and item["label"].shape == (64, 64) and item["mask"].dtype == torch.bool
    assert torch.equal(item["image"], b[1]["image"]) and torch.equal(item["label"], b[1]["label"])
    assert not item["label"][~item["mask"]].any()  # labels only on good pixels
    assert (item["image"][0][~item["mask"]] == 0).all()  # bad pixels are 0 (the background)
    assert torch.isfinite(item["image"]).all()
    # Local signal-to-noise: the background is centred near 0 with unit-ish spread.
    img = item["image"][0][item["mask"] & (item["label"] == 0)]
    assert abs(float(img.median())) < 0.5 and 0.5 < float(img.std()) < 3.0
    # A different normalisation is a different data set (its own cache entry).
    c = SimulatedCrops(**kw, input_norm={"kind": "global"}, cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.npz"))) == 2 and c.input_norm.kind == "global"


def test_trainer_refuses_data_normalised_unlike_the_model(tmp_path) -> None:
    from peaknet_bench.models.peaknet import build_model
    from peaknet_bench.train.trainer import check_input_norm

    data = SimulatedCrops(experiments=("rayonix-orthorhombic",), frames_per_experiment=1, crops_per_frame=1,
                          input_norm={"kind": "global"}, cache_dir=str(tmp_path))
    with pytest.raises(InputError, match="normalised as"):
        check_input_norm(build_model("ref-student"), data, "train_data")
    check_input_norm(build_model("ref-student"), SimulatedCrops(
        experiments=("rayonix-orthorhombic",), frames_per_experiment=1, crops_per_frame=1, cache_dir=str(tmp_path)),
        "train_data")
