"""Images stored as the detector's integers: lossless, smaller, and loaded bit for bit like float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from peaknet_bench.data.build import build_dataset
from peaknet_bench.data.store import STORE_DIRNAME, ImageEncoding, Store, StoreWriter
from synthetic_records import synthetic_source, tiny_recipe, two_panel_geometry, one_panel_geometry
from peaknet_bench.data.torch_dataset import PeakNetDataset
from peaknet_bench.errors import InputError


def _digitised_source(step: float | None):
    """The tiny synthetic frames rounded to whole ADC steps, stored as integers (or as float32
    when `step` is None: the same values, the old encoding)."""
    inner = synthetic_source({"two": two_panel_geometry(), "one": one_panel_geometry()})

    def source(recipe, entry, splits):
        for det, geometry, rec in inner(recipe, entry, splits):
            q = 0.25
            rec.image = (np.rint(rec.image / np.float32(q)) * np.float32(q) + np.float32(0.0)).astype(np.float32)
            rec.encoding = ImageEncoding.for_range(step, -4000.0, 4000.0)
            yield det, geometry, rec
    return source


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int")
    as_float = build_dataset(None, tmp / "float", recipe=tiny_recipe(6), source=_digitised_source(None), progress=False)
    as_int = build_dataset(None, tmp / "int", recipe=tiny_recipe(6), source=_digitised_source(0.25), progress=False)
    return as_float.path, as_int.path


def test_integer_images_round_trip_exactly(pair):
    f, i = (Store(p / STORE_DIRNAME) for p in pair)
    assert f.image_encoding("two") == ImageEncoding()
    assert i.image_encoding("two") == ImageEncoding("int16", 0.25)  # ±4000 ADU = ±16000 quarter steps
    for det in ("two", "one"):
        for j in range(f.n_frames(det)):
            raw = i.image_raw(det, j)
            assert raw.dtype == np.int16
            np.testing.assert_array_equal(raw.astype(np.float32) * np.float32(0.25), f.image(det, j))
            assert i.image(det, j).dtype == np.float32
            assert i.image(det, j).tobytes() == f.image(det, j).tobytes()
    # the z-score statistics are those of the float values
    np.testing.assert_array_equal(i.frames("two")["image_mean"], f.frames("two")["image_mean"])


def test_loader_items_are_bit_identical_to_float_storage(pair):
    a = PeakNetDataset(pair[0], split=["train", "validation", "test", "test_ood"], size=(48, 64))
    b = PeakNetDataset(pair[1], split=["train", "validation", "test", "test_ood"], size=(48, 64))
    assert len(a) == len(b) > 0
    for k in range(len(a)):
        x, y = a[k], b[k]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
        assert torch.equal(x["mask"], y["mask"])


def test_integer_images_are_smaller(pair):
    def size(path):
        return sum(p.stat().st_size for p in (path / STORE_DIRNAME).rglob("image/c/*/*/*"))
    assert size(pair[1]) < 0.8 * size(pair[0])


def test_encoding_choice_and_refusals(tmp_path):
    assert ImageEncoding.for_range(None, -1.0, 1.0) == ImageEncoding()
    assert ImageEncoding.for_range(1.0, -30000, 30000).dtype == "int16"
    assert ImageEncoding.for_range(1.0, -65535, 65535).dtype == "int32"
    assert ImageEncoding.for_range(1 / 32, -120000, 120000).dtype == "int32"
    geometry = two_panel_geometry()
    from synthetic_records import synthetic_record

    rec = synthetic_record(geometry, 0, 1)  # float read noise: not whole steps
    rec.encoding = ImageEncoding("int16", 1.0)
    with pytest.raises(InputError, match=r"frame 0 .*not a whole number of adc_step 1.0 within int16"):
        with StoreWriter(tmp_path / "s.zarr") as w:
            w.append("two", geometry, rec)
    assert not (tmp_path / "s.zarr").exists()  # nothing half-written
