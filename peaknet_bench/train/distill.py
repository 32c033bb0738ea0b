"""Distillation (paper §2.2.3.1): cache teacher logits once, then train a student on them.

The cache is a Zarr v3 array `logits` of shape (N, C, H, W), float16, one chunk per
frame (Blosc zstd), with the teacher's config and weights checksum in its attributes
so a stale cache (other teacher, other data) is detected instead of silently reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import make_temp


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@torch.no_grad()
def cache_teacher_logits(teacher: nn.Module, dataset: Dataset, path: str | Path, batch_size: int = 4,
                         attrs: dict[str, Any] | None = None, device: str = "cpu",
                         progress: bool = True) -> Path:
    """Run `teacher` over `dataset` once and store its pre-activation logits (atomic write)."""
    import zarr
    from zarr.codecs import BloscCodec

    from peaknet_bench.util.progress import bar

    path = Path(path)
    n = len(dataset)
    if n == 0:
        raise InputError(None, "dataset", "cannot cache teacher logits of an empty dataset")
    first = dataset[0]["image"]
    h, w = first.shape[-2:]
    teacher = teacher.to(device).eval()
    n_cls = int(teacher(first[None].to(device)).shape[1])
    tmp = make_temp(path, directory=True)  # also removes caches of killed runs
    try:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        arr = root.create_array("logits", shape=(n, n_cls, h, w), chunks=(1, n_cls, h, w), dtype="float16",
                                compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
        root.attrs.update({"n_frames": n, "shape": [n_cls, h, w], **(attrs or {})})
        pbar = bar(n, desc="teacher logits", disable=None if progress else True)
        for start in range(0, n, batch_size):
            items = [dataset[i]["image"] for i in range(start, min(n, start + batch_size))]
            x = torch.stack(items).to(device)
            if x.shape[-2:] != (h, w):
                raise InputError(None, f"frame {start}", f"all frames must be {h}x{w} to cache, got {tuple(x.shape[-2:])}")
            arr[start:start + len(items)] = teacher(x).float().cpu().numpy().astype(np.float16)
            pbar.update(len(items))
        pbar.close()
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def cache_attrs(path: str | Path) -> dict[str, Any]:
    import zarr

    return dict(zarr.open_group(str(path), mode="r").attrs)


class TeacherCacheDataset(Dataset):
    """Wrap a frame dataset, adding "teacher_logits" (C, H, W) float32 from the cache."""

    def __init__(self, base: Dataset, cache_path: str | Path | None) -> None:
        import zarr

        if cache_path is None or not Path(cache_path).exists():
            raise InputError(str(cache_path), None, "teacher-logit cache not found (run distill to create it)")
        if getattr(getattr(base, "config", None), "augment", False):
            raise InputError(None, "augment", "teacher logits are cached per un-augmented frame; "
                                              "turn dataset augmentation off for distillation")
        self.base = base
        self.logits = zarr.open_group(str(cache_path), mode="r")["logits"]
        if self.logits.shape[0] != len(base):
            raise InputError(str(cache_path), "logits", f"cache holds {self.logits.shape[0]} frames, "
                             f"dataset has {len(base)}")

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """Teacher logits are cached without augmentation, so the base must not augment;
        this only forwards the epoch for APIs that expect it."""
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = dict(self.base[i])
        t = torch.from_numpy(np.asarray(self.logits[i], dtype=np.float32))
        if t.shape[-2:] != item["image"].shape[-2:]:
            raise InputError(None, f"frame {i}", "cached teacher logits and image differ in size")
        item["teacher_logits"] = t
        return item


@dataclass
class DistillPlan:
    teacher: str  # weights file or checkpoint directory
    cache: str
    rebuild: bool = False
    batch_size: int = 4


def ensure_cache(plan: DistillPlan, dataset: Dataset, data_key: str, device: str = "cpu",
                 progress: bool = True) -> tuple[Path, bool]:
    """Create the teacher-logit cache unless one for the same teacher and data exists.
    Returns (path, rebuilt)."""
    from peaknet_bench.models.peaknet import load_model, weights_file

    wfile = weights_file(plan.teacher)
    digest = file_sha256(wfile)
    cache = Path(plan.cache)
    if cache.exists() and not plan.rebuild:
        a = cache_attrs(cache)
        if a.get("teacher_sha256") == digest and a.get("data_key") == data_key:
            return cache, False
    teacher = load_model(wfile)
    cache_teacher_logits(teacher, dataset, cache, plan.batch_size, device=device, progress=progress,
                         attrs={"teacher_sha256": digest, "teacher": str(wfile), "data_key": data_key,
                                "teacher_config": teacher.config.to_dict() if teacher.config else None})
    return cache, True
