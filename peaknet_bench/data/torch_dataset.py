"""PyTorch access to a store split: assembled, padded/cropped around the beam, z-scored.

Each item is the detector slab assembled with the group's geometry, placed in a fixed
canvas (default 1920 x 1920) so that the beam sits at the canvas centre (crop where the
detector is larger, zero padding where smaller), normalised per image to zero mean and
unit variance over its good pixels (bad pixels and padding are 0 afterwards), and
optionally flipped/rotated by multiples of 90° with image, label and mask moved together.

The store is opened lazily in each process, so the dataset works with any number of
DataLoader workers (each worker opens its own Zarr handles on first use).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch
from torch.utils.data import Dataset

from peaknet_bench.data.store import Store
from peaknet_bench.errors import InputError


@numba.njit(cache=True, nogil=True)
def good_moments(image: np.ndarray, mask: np.ndarray) -> tuple[int, float, float]:
    """Count, mean and standard deviation over good pixels in one pass (float64 sums of
    values shifted by the first good value, which keeps the variance accurate)."""
    flat_i = image.reshape(-1)
    flat_m = mask.reshape(-1)
    shift = 0.0
    for k in range(flat_i.size):
        if flat_m[k]:
            shift = flat_i[k]
            break
    n = 0
    s1 = 0.0
    s2 = 0.0
    for k in range(flat_i.size):
        if flat_m[k]:
            d = flat_i[k] - shift
            n += 1
            s1 += d
            s2 += d * d
    if n == 0:
        return 0, 0.0, 1.0
    mean = s1 / n
    var = max(s2 / n - mean * mean, 0.0)
    return n, mean + shift, np.sqrt(var)


@numba.njit(cache=True, nogil=True)
def place_on_canvas(image, label, mask, off_r, off_c, mean, scale, out_image, out_label, out_mask):
    """Write every canvas pixel once: (image - mean) * scale, label and mask for good pixels
    of the source placed at (off_r, off_c); 0 / 0 / False elsewhere. Branch-free inner loop
    (multiplication by the mask) so it vectorises; no separate zero fill of the canvases."""
    h, w = image.shape
    H, W = out_image.shape
    m32, s32 = np.float32(mean), np.float32(scale)  # float32 arithmetic: twice the SIMD width
    c_lo, c_hi = min(max(off_c, 0), W), max(min(off_c + w, W), 0)
    c_lo = min(c_lo, c_hi)
    for r in range(H):
        sr = r - off_r
        if sr < 0 or sr >= h:
            out_image[r, :] = 0.0
            out_label[r, :] = 0
            out_mask[r, :] = False
            continue
        out_image[r, :c_lo] = 0.0
        out_label[r, :c_lo] = 0
        out_mask[r, :c_lo] = False
        out_image[r, c_hi:] = 0.0
        out_label[r, c_hi:] = 0
        out_mask[r, c_hi:] = False
        for c in range(c_lo, c_hi):
            good = mask[sr, c - off_c]
            out_image[r, c] = (image[sr, c - off_c] - m32) * s32 * np.float32(good)
            out_label[r, c] = label[sr, c - off_c] * np.uint8(good)
            out_mask[r, c] = good


def beam_offsets(beam_rc: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """Integer shift that puts the beam (row, col in the assembled image) at the canvas centre."""
    return (int(np.rint((size[0] - 1) / 2 - beam_rc[0])), int(np.rint((size[1] - 1) / 2 - beam_rc[1])))


@dataclass(frozen=True)
class LoaderConfig:
    """How items are shaped: canvas size, normalisation, augmentation."""

    size: tuple[int, int] = (1920, 1920)
    normalize: bool = True  # per-image z-score over good pixels
    augment: bool = False  # random flips and 90° rotations (image, label, mask together)
    seed: int = 0
    selected_only: bool = False  # only frames the curation kept
    label_dtype: torch.dtype = torch.int64


class PeakNetDataset(Dataset):
    """A split of a store as a map-style PyTorch dataset.

    Items: ``image`` (1, H, W) float32, ``label`` (H, W) int64, ``mask`` (H, W) bool (True =
    good pixel) and ``metadata`` (scalars: detector, frame, split, experiment, event,
    photon_energy_ev, clen_m, offset_row/col of the placement, rot90, flip).
    """

    def __init__(self, path: str | os.PathLike | Store, split: str | list[str] | None = "train",
                 config: LoaderConfig | None = None, **overrides: Any) -> None:
        base = config or LoaderConfig()
        self.config = LoaderConfig(**{**base.__dict__, **overrides}) if overrides else base
        self.store = path if isinstance(path, Store) else Store(path)
        self.split = split
        self.items = self.store.index(split, selected_only=self.config.selected_only)
        self.epoch = 0
        self._buffers: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if not self.items:
            raise InputError(str(self.store.path), f"split {split!r}", "has no frames")
        if self.config.size[0] <= 0 or self.config.size[1] <= 0:
            raise InputError(None, "size", f"expected a positive canvas size, got {self.config.size}")

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (same epoch and seed -> same augmentations)."""
        self.epoch = int(epoch)

    def _augmentation(self, i: int) -> tuple[int, bool]:
        if not self.config.augment:
            return 0, False
        rng = np.random.default_rng([self.config.seed, self.epoch, i])
        square = self.config.size[0] == self.config.size[1]
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        return k, bool(rng.integers(2))

    def __getitem__(self, i: int) -> dict[str, Any]:
        detector, j = self.items[i]
        store = self.store
        asm = store.assembler(detector)
        attrs = store.group_attrs(detector)
        slab = store.image(detector, j)
        slab_mask = store.mask(detector, j)
        if self.config.normalize:
            n, mean, std = good_moments(slab, slab_mask)
            scale = 1.0 / std if std > 0 else 1.0
        else:
            mean, scale = 0.0, 1.0
        # Assembled buffers are reused between items (one set per detector and process).
        if detector not in self._buffers:
            self._buffers[detector] = (np.empty(asm.shape, np.float32), np.empty(asm.shape, np.uint8),
                                       np.empty(asm.shape, np.bool_))
        buf_image, buf_label, buf_mask = self._buffers[detector]
        asm.assemble(slab, out=buf_image)
        asm.assemble(store.label(detector, j), out=buf_label)
        asm.assemble(slab_mask, fill=False, out=buf_mask)
        H, W = self.config.size
        off_r, off_c = beam_offsets(attrs["beam_rc"], (H, W))
        out_image = torch.empty((1, H, W), dtype=torch.float32)
        out_label = torch.empty((H, W), dtype=self.config.label_dtype)
        out_mask = torch.empty((H, W), dtype=torch.bool)
        place_on_canvas(buf_image, buf_label, buf_mask, off_r, off_c, mean, scale,
               out_image.numpy()[0], out_label.numpy(), out_mask.numpy())
        k, flip = self._augmentation(i)
        if k or flip:
            tensors = [out_image, out_label, out_mask]
            if k:
                tensors = [torch.rot90(t, k, dims=(-2, -1)) for t in tensors]
            if flip:
                tensors = [torch.flip(t, dims=(-1,)) for t in tensors]
            out_image, out_label, out_mask = (t.contiguous() for t in tensors)
        f = store.frames(detector)
        metadata = {
            "detector": detector, "frame": j, "split": str(f["split"][j]), "experiment": str(f["experiment"][j]),
            "event": str(f["event"][j]), "photon_energy_ev": float(f["photon_energy_ev"][j]),
            "clen_m": float(f["clen_m"][j]), "offset_row": off_r, "offset_col": off_c, "rot90": k, "flip": flip,
        }
        return {"image": out_image, "label": out_label, "mask": out_mask, "metadata": metadata}
