"""The PyTorch dataset: placement around the beam, z-score, augmentation, multi-worker loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from peaknet_bench.data.canvas import beam_offsets
from peaknet_bench.data.store import Store
from synthetic_records import build_tiny
from peaknet_bench.data.torch_dataset import PeakNetDataset, collate
from peaknet_bench.errors import InputError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("ds") / "tiny", frames=8).path


def _expected(store: Store, det: str, j: int, size: tuple[int, int]):
    """Reference placement with plain numpy (independent of the numba kernel)."""
    asm = store.assembler(det)
    slab, slab_mask = store.image(det, j), store.mask(det, j)
    good = slab[slab_mask].astype(np.float64)
    norm = ((asm.assemble(slab) - good.mean()) / good.std()).astype(np.float32)
    label, mask = asm.assemble(store.label(det, j)), asm.assemble(slab_mask, fill=False)
    off_r, off_c = beam_offsets(store.group_attrs(det)["beam_rc"], size)
    img_c = np.zeros(size, np.float32)
    lab_c = np.zeros(size, np.int64)
    mask_c = np.zeros(size, bool)
    for r in range(size[0]):
        sr = r - off_r
        if not 0 <= sr < norm.shape[0]:
            continue
        for c in range(size[1]):
            sc = c - off_c
            if 0 <= sc < norm.shape[1] and mask[sr, sc]:
                img_c[r, c], lab_c[r, c], mask_c[r, c] = norm[sr, sc], label[sr, sc], True
    return img_c, lab_c, mask_c


@pytest.mark.parametrize("size", [(64, 96), (20, 30)])  # pad (canvas larger) and crop (smaller)
def test_item_matches_reference(tiny, size):
    ds = PeakNetDataset(tiny, split=["train", "test_ood"], size=size)
    for i in range(len(ds)):
        item = ds[i]
        det, j = ds.items[i]
        img, lab, mask = _expected(ds.store, det, j, size)
        assert item["image"].shape == (1, *size) and item["image"].dtype == torch.float32
        assert item["label"].shape == size and item["label"].dtype == torch.uint8
        assert item["mask"].shape == size and item["mask"].dtype == torch.bool
        np.testing.assert_allclose(item["image"][0].numpy(), img, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(item["label"].numpy(), lab)
        np.testing.assert_array_equal(item["mask"].numpy(), mask)
        assert item["metadata"]["detector"] == det and item["metadata"]["frame"] == j


def test_zscore_and_beam_centre(tiny):
    ds = PeakNetDataset(tiny, split="train", size=(64, 96))
    item = ds[0]
    img, mask = item["image"][0], item["mask"]
    assert abs(float(img[mask].mean())) < 1e-4 and abs(float(img[mask].std(unbiased=False)) - 1) < 1e-3
    assert float(img[~mask].abs().max()) == 0.0
    # The two-panel detector is symmetric about the beam: its good-pixel box is centred.
    rows, cols = np.nonzero(ds.store.assembler("two").assembled_mask())
    off_r, off_c = item["metadata"]["offset_row"], item["metadata"]["offset_col"]
    assert abs((rows.min() + rows.max()) / 2 + off_r - (64 - 1) / 2) <= 0.5
    assert abs((cols.min() + cols.max()) / 2 + off_c - (96 - 1) / 2) <= 0.5


def test_augmentation_moves_image_label_mask_together(tiny):
    plain = PeakNetDataset(tiny, split="train", size=(64, 64))
    aug = PeakNetDataset(tiny, split="train", size=(64, 64), augment=True, seed=3)
    seen = set()
    for epoch in range(3):
        aug.set_epoch(epoch)
        for i in range(len(aug)):
            a, p = aug[i], plain[i]
            k, flip = a["metadata"]["rot90"], a["metadata"]["flip"]
            seen.add((k, flip))
            for key in ("image", "label", "mask"):
                want = torch.rot90(p[key], k, dims=(-2, -1))
                if flip:
                    want = torch.flip(want, dims=(-1,))
                assert torch.equal(a[key], want), key
            assert torch.equal(aug[i]["image"], a["image"])  # same (seed, epoch, i) -> same draw
    assert len(seen) > 2


def test_two_worker_dataloader_matches_single_process(tiny):
    ds = PeakNetDataset(tiny, split=None, size=(48, 64))
    single = [ds[i] for i in range(len(ds))]
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    images = torch.cat([b["image"] for b in batches])
    labels = torch.cat([b["label"] for b in batches])
    assert images.shape == (len(ds), 1, 48, 64)
    for i, item in enumerate(single):
        assert torch.equal(images[i], item["image"]) and torch.equal(labels[i], item["label"])
    events = [e for b in batches for e in b["metadata"]["event"]]
    assert events == [s["metadata"]["event"] for s in single]


def test_empty_split_is_an_error(tiny):
    with pytest.raises(InputError, match="no frames"):
        PeakNetDataset(tiny, split=[], size=(8, 8))
    kept = PeakNetDataset(tiny, split=None, size=(8, 8), selected_only=True)
    assert 0 < len(kept) < len(PeakNetDataset(tiny, split=None, size=(8, 8)))


def test_loader_fills_batches_in_place_and_matches_items(tiny):
    ds = PeakNetDataset(tiny, split=None, size=(48, 64))
    single = [ds[i] for i in range(len(ds))]
    items = ds.__getitems__([2, 0, 5])
    batch = collate(items)
    assert batch["image"].shape == (3, 1, 48, 64) and batch["label"].dtype == torch.uint8
    assert batch["image"].data_ptr() == items[0]["image"].data_ptr()  # the batch itself, not a copy
    for k, i in enumerate([2, 0, 5]):
        for key in ("image", "label", "mask"):
            assert torch.equal(batch[key][k], single[i][key]), key
    assert batch["metadata"]["frame"].tolist() == [single[i]["metadata"]["frame"] for i in (2, 0, 5)]
    # Items from elsewhere still collate (with a copy).
    mixed = collate([single[0], single[1]])
    assert torch.equal(mixed["image"][1], single[1]["image"])
    batches = list(ds.loader(batch_size=3, num_workers=2))
    images = torch.cat([b["image"] for b in batches])
    masks = torch.cat([b["mask"] for b in batches])
    for i, item in enumerate(single):
        assert torch.equal(images[i], item["image"]) and torch.equal(masks[i], item["mask"])


def test_wide_labels_and_augmentation_through_the_batch_path(tiny):
    ds = PeakNetDataset(tiny, split=None, size=(64, 64), augment=True, seed=2, label_dtype=torch.int64)
    batch = collate(ds.__getitems__(list(range(len(ds)))))
    assert batch["label"].dtype == torch.int64
    for i in range(len(ds)):
        item = ds[i]
        assert torch.equal(batch["image"][i], item["image"]) and torch.equal(batch["label"][i], item["label"])


def test_store_statistics_are_used_and_match_the_image(tiny):
    ds = PeakNetDataset(tiny, split=None, size=(48, 64))
    det, j = ds.items[0]
    f = ds.store.frames(det)
    slab, mask = ds.store.image(det, j), ds.store.mask(det, j)
    good = slab[mask].astype(np.float64)
    assert f["good_pixels"][j] == mask.sum()
    assert f["image_mean"][j] == pytest.approx(good.mean(), rel=1e-9)
    assert f["image_std"][j] == pytest.approx(good.std(), rel=1e-6)


def test_items_from_several_threads_match(tiny):
    from concurrent.futures import ThreadPoolExecutor

    ds = PeakNetDataset(tiny, split=None, size=(48, 64))
    serial = [ds[i] for i in range(len(ds))]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(ds.__getitem__, list(range(len(ds))) * 3))
    for k, item in enumerate(threaded):
        assert torch.equal(item["image"], serial[k % len(ds)]["image"])
