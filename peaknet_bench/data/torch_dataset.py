"""PyTorch access to a store split: assembled, padded/cropped around the beam, z-scored.

Each item is the detector slab placed in a fixed canvas (default 1920 x 1920) through the
group's geometry so that the beam sits at the canvas centre (crop where the detector is
larger, zero padding where smaller), normalised per image to zero mean and unit variance
over its good pixels (bad pixels and padding are 0 afterwards), and optionally
flipped/rotated by multiples of 90° with image, label and mask moved together.

Speed (a GPU eats 1920² frames fast): a frame is decoded straight from its chunk file
into a reused buffer, the z-score statistics come from the store (computed when it was
written), and one pass (`CanvasPlan.fill`) writes the canvas. With a DataLoader, batches
are filled in place inside the workers' shared memory (`__getitems__` + `collate`), so no
item is copied again on its way to the training loop; `PeakNetDataset.loader` sets this up.

The store is opened lazily in each process, so the dataset works with any number of
DataLoader workers (each worker opens its own file handles on first use).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torch.utils.data._utils.collate import default_collate

from peaknet_bench.data.canvas import CanvasPlan, beam_offsets, good_moments, zscore_scale
from peaknet_bench.data.store import Store
from peaknet_bench.errors import InputError

TENSORS = ("image", "label", "mask")


def _empty(shape: tuple[int, ...], dtype: torch.dtype, shared: bool) -> torch.Tensor:
    """An uninitialised tensor, allocated directly in shared memory when `shared` (inside a
    DataLoader worker, so sending it to the main process copies nothing)."""
    if not shared:
        return torch.empty(shape, dtype=dtype)
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    return torch.empty(0, dtype=dtype).set_(torch.UntypedStorage._new_shared(nbytes), 0, shape)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """`default_collate`, minus the copy when the items are the rows of one batch made by
    `PeakNetDataset.__getitems__` (then the batch tensors are returned as they are)."""
    batch: dict[str, Any] = {}
    for key in TENSORS:
        parts = [it[key] for it in items]
        base = parts[0]._base
        if (base is not None and base.shape[0] == len(parts)
                and all(p._base is base and p.data_ptr() == base[k].data_ptr() for k, p in enumerate(parts))):
            batch[key] = base
        else:
            batch[key] = default_collate(parts)
    batch["metadata"] = default_collate([it["metadata"] for it in items])
    return batch


@dataclass(frozen=True)
class LoaderConfig:
    """How items are shaped: canvas size, normalisation, augmentation."""

    size: tuple[int, int] = (1920, 1920)
    normalize: bool = True  # per-image z-score over good pixels
    augment: bool = False  # random flips and 90° rotations (image, label, mask together)
    seed: int = 0
    selected_only: bool = False  # only frames the curation kept
    # uint8 moves 8x fewer bytes than int64; cast on the device (label.long()) for a loss that needs it.
    label_dtype: torch.dtype = torch.uint8


class PeakNetDataset(Dataset):
    """A split of a store as a map-style PyTorch dataset.

    Items: ``image`` (1, H, W) float32, ``label`` (H, W) uint8 (`label_dtype`), ``mask``
    (H, W) bool (True = good pixel) and ``metadata`` (scalars: detector, frame, split,
    experiment, event, photon_energy_ev, clen_m, offset_row/col of the placement, rot90, flip).
    """

    def __init__(self, path: str | os.PathLike | Store, split: str | list[str] | None = "train",
                 config: LoaderConfig | None = None, **overrides: Any) -> None:
        base = config or LoaderConfig()
        self.config = LoaderConfig(**{**base.__dict__, **overrides}) if overrides else base
        self.store = path if isinstance(path, Store) else Store(path)
        self.split = split
        self.items = self.store.index(split, selected_only=self.config.selected_only)
        self.epoch = 0
        self._scratch: dict[Any, Any] = {}  # per process: canvas plans; per thread: slab buffers
        if not self.items:
            raise InputError(str(self.store.path), f"split {split!r}", "has no frames")
        if self.config.size[0] <= 0 or self.config.size[1] <= 0:
            raise InputError(None, "size", f"expected a positive canvas size, got {self.config.size}")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_scratch": {}}

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (same epoch and seed -> same augmentations)."""
        self.epoch = int(epoch)

    def loader(self, batch_size: int = 4, num_workers: int = 2, shuffle: bool = False, **kwargs: Any) -> DataLoader:
        """A DataLoader that fills batches in the workers' shared memory (no per-item copies)."""
        if num_workers > 0:
            kwargs.setdefault("persistent_workers", True)
            kwargs.setdefault("prefetch_factor", 4)
        return DataLoader(self, batch_size=batch_size, num_workers=num_workers, shuffle=shuffle,
                          collate_fn=collate, **kwargs)

    def _augmentation(self, i: int) -> tuple[int, bool]:
        if not self.config.augment:
            return 0, False
        rng = np.random.default_rng([self.config.seed, self.epoch, i])
        square = self.config.size[0] == self.config.size[1]
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        return k, bool(rng.integers(2))

    def _detector(self, detector: str) -> tuple[CanvasPlan, np.ndarray, np.ndarray, np.ndarray]:
        """The canvas plan and this thread's slab buffers for a detector group."""
        key = (detector, threading.get_ident())
        if key not in self._scratch:
            if detector not in self._scratch:
                off = beam_offsets(self.store.group_attrs(detector)["beam_rc"], self.config.size)
                self._scratch[detector] = CanvasPlan.build(self.store.assembler(detector), self.config.size, off)
            plan = self._scratch[detector]
            shape = plan.slab_shape
            stored = np.dtype(self.store.image_encoding(detector).dtype)
            self._scratch[key] = (plan, np.empty(shape, stored), np.empty(shape, np.uint8), np.empty(shape, np.bool_))
        return self._scratch[key]

    def _zscore(self, detector: str, j: int, slab: np.ndarray, mask: np.ndarray, step: float) -> tuple[float, float]:
        """(mean, 1/σ) of the frame in its float units."""
        if not self.config.normalize:
            return 0.0, 1.0
        f = self.store.frames(detector)
        if "image_mean" in f:  # computed by the store writer
            return float(f["image_mean"][j]), zscore_scale(float(f["image_std"][j]))
        _, mean, std = good_moments(slab, mask)
        return mean * step, zscore_scale(std * step)

    def _fill(self, i: int, image: torch.Tensor, label: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
        """Item i into (1, H, W) / (H, W) / (H, W) output tensors; returns its metadata."""
        detector, j = self.items[i]
        store = self.store
        plan, slab, slab_label, slab_mask = self._detector(detector)
        store.image_raw(detector, j, out=slab)  # the stored integers (or float32): no conversion pass
        store.label(detector, j, out=slab_label)
        store.mask(detector, j, out=slab_mask)
        step = store.image_encoding(detector).adc_step
        mean, scale = self._zscore(detector, j, slab, slab_mask, step)
        mean, scale = mean / step, scale * step  # (v·step − mean)·scale, bit for bit: step is a power of two
        k, flip = self._augmentation(i)
        direct = not (k or flip) and label.dtype == torch.uint8
        if direct:
            targets = (image[0], label, mask)
        else:
            targets = (torch.empty(plan.size, dtype=torch.float32), torch.empty(plan.size, dtype=torch.uint8),
                       torch.empty(plan.size, dtype=torch.bool))
        plan.fill(slab, slab_mask, targets[0].numpy(), targets[2].numpy(), label=slab_label,
                  out_label=targets[1].numpy(), mean=mean, scale=scale)
        if not direct:
            moved = targets
            if k:
                moved = tuple(torch.rot90(t, k, dims=(-2, -1)) for t in moved)
            if flip:
                moved = tuple(torch.flip(t, dims=(-1,)) for t in moved)
            image[0].copy_(moved[0])
            label.copy_(moved[1])
            mask.copy_(moved[2])
        f = store.frames(detector)
        return {
            "detector": detector, "frame": j, "split": str(f["split"][j]), "experiment": str(f["experiment"][j]),
            "event": str(f["event"][j]), "photon_energy_ev": float(f["photon_energy_ev"][j]),
            "clen_m": float(f["clen_m"][j]), "offset_row": plan.offset[0], "offset_col": plan.offset[1],
            "rot90": k, "flip": flip,
        }

    def _outputs(self, n: int | None, shared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        H, W = self.config.size
        lead = () if n is None else (n,)
        return (_empty((*lead, 1, H, W), torch.float32, shared), _empty((*lead, H, W), self.config.label_dtype, shared),
                _empty((*lead, H, W), torch.bool, shared))

    def __getitem__(self, i: int) -> dict[str, Any]:
        image, label, mask = self._outputs(None, shared=False)
        metadata = self._fill(i, image, label, mask)
        return {"image": image, "label": label, "mask": mask, "metadata": metadata}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """A whole batch filled in place; items are rows of the batch tensors (see `collate`)."""
        image, label, mask = self._outputs(len(indices), shared=get_worker_info() is not None)
        return [{"image": image[k], "label": label[k], "mask": mask[k],
                 "metadata": self._fill(i, image[k], label[k], mask[k])} for k, i in enumerate(indices)]
