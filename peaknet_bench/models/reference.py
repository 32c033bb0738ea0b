"""The shipped reference models (`baselines/models/`) and the simulated crops they train on.

`ref-teacher` and `ref-student` are the paper's architecture (ConvNeXtV2 -> BiFPN ->
two-pathway head) at CPU scale: the registry's `cpu-student` costs 89 GFLOPs per 1920²
frame, seconds on a laptop core, while a reference model must segment a full frame in
well under a second on a 2-core CPU so `make demo` can run it next to peakfinder8.

`SimulatedCrops` is the training set of those weights: frames from the simulator's named
experiments, preprocessed exactly as the inference runner does it (slab z-scored over its
good pixels, then assembled), cut into fixed square crops; labels are the simulator's
truth label masks (half-maximum area of every found-able reflection). Crop positions are
a function of (seed, index) only, so the set is un-augmented and deterministic: the
trainer's exact resume and the distillation logit cache both rely on that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from peaknet_bench.errors import InputError
from peaknet_bench.models.bifpn import BiFPNConfig
from peaknet_bench.models.head import HeadConfig
from peaknet_bench.models.registry import BackboneSpec, ModelConfig, register_model
from peaknet_bench.util.atomic import atomic_path

REFERENCE_TEACHER = ModelConfig(
    name="ref-teacher",
    backbone=BackboneSpec("convnextv2", {"size": "atto", "widths": [32, 64, 128, 256], "depths": [2, 2, 4, 2]}),
    bifpn=BiFPNConfig(channels=64, num_blocks=2),
    head=HeadConfig(channels=64),
    description="reference teacher (baselines/models): ConvNeXtV2 32-64-128-256 / 2-2-4-2 + 2 BiFPN blocks x 64",
)
REFERENCE_STUDENT = ModelConfig(
    name="ref-student",
    backbone=BackboneSpec("convnextv2", {"size": "atto", "widths": [16, 32, 64, 128], "depths": [1, 1, 2, 1]}),
    bifpn=BiFPNConfig(channels=32, num_blocks=2),
    head=HeadConfig(channels=32),
    description="reference student (baselines/models), distilled from ref-teacher: "
                "ConvNeXtV2 16-32-64-128 / 1-1-2-1 + 2 BiFPN blocks x 32",
)
for _cfg in (REFERENCE_TEACHER, REFERENCE_STUDENT):
    register_model(_cfg)


@dataclass(frozen=True)
class CropConfig:
    """Which simulated frames, and how they are cut into training crops."""

    experiments: tuple[str, ...] = ("epix10k-lysozyme", "rayonix-orthorhombic", "epix10k-weak")
    frames_per_experiment: int = 16
    seed: int = 0  # simulator run seed (the same for every experiment) and crop-position seed
    crop: int = 256
    crops_per_frame: int = 8
    peak_fraction: float = 0.75  # share of crops centred on a labelled pixel (where a frame has any)

    def validate(self) -> None:
        if not self.experiments:
            raise InputError(None, "experiments", "expected at least one simulator experiment")
        for key in ("frames_per_experiment", "crop", "crops_per_frame"):
            if getattr(self, key) < 1:
                raise InputError(None, key, f"expected a positive integer, got {getattr(self, key)}")
        if self.crop % 32:
            raise InputError(None, "crop", f"expected a multiple of 32 (the network stride), got {self.crop}")
        if not 0.0 <= self.peak_fraction <= 1.0:
            raise InputError(None, "peak_fraction", f"expected a fraction in [0, 1], got {self.peak_fraction}")


def preprocess_frame(frame, plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scored image float32, label uint8, good mask bool) on `plan`'s canvas (a
    `CanvasPlan` of the frame's geometry, built once per detector), as the inference runner
    prepares a frame: mean/std over the slab's good pixels, bad pixels and gaps 0."""
    from peaknet_bench.data.canvas import good_moments, zscore_scale

    slab = np.ascontiguousarray(frame.data, dtype=np.float32)
    good = np.ascontiguousarray(frame.mask, dtype=bool) & (frame.geometry.panel_map >= 0)
    label = np.zeros(slab.shape, np.uint8) if frame.truth is None else frame.truth.label_mask.astype(np.uint8)
    _, mean, std = good_moments(slab, good)
    image = np.empty(plan.size, np.float32)
    out_label = np.empty(plan.size, np.uint8)
    out_mask = np.empty(plan.size, np.bool_)
    plan.fill(slab, good, image, out_mask, label=label, out_label=out_label, mean=mean, scale=zscore_scale(std))
    return image, out_label, out_mask


def crop_origins(label: np.ndarray, n: int, crop: int, peak_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(n, 2) top-left corners: a `peak_fraction` share centred (±crop/4) on random label
    pixels, the rest uniform over the image; always fully inside it."""
    h, w = label.shape
    if h < crop or w < crop:
        raise InputError(None, "crop", f"crop {crop} is larger than the assembled image {label.shape}")
    rows, cols = np.nonzero(label)
    n_peak = int(round(n * peak_fraction)) if rows.size else 0
    out = np.empty((n, 2), np.int64)
    if n_peak:
        pick = rng.integers(rows.size, size=n_peak)
        jitter = rng.integers(-crop // 4, crop // 4 + 1, size=(n_peak, 2))
        out[:n_peak, 0] = rows[pick] - crop // 2 + jitter[:, 0]
        out[:n_peak, 1] = cols[pick] - crop // 2 + jitter[:, 1]
    out[n_peak:, 0] = rng.integers(0, h - crop + 1, size=n - n_peak)
    out[n_peak:, 1] = rng.integers(0, w - crop + 1, size=n - n_peak)
    out[:, 0] = np.clip(out[:, 0], 0, h - crop)
    out[:, 1] = np.clip(out[:, 1], 0, w - crop)
    return out


class SimulatedCrops(Dataset):
    """Fixed crops of simulated, z-scored, assembled frames with truth labels.

    Items: ``image`` (1, crop, crop) float32, ``label`` (crop, crop) int64, ``mask``
    (crop, crop) bool (True = good pixel). All crops are made at construction (the
    simulator is the expensive part) and kept in memory as float16/uint8.

    `cache_dir` (optional) keeps the crops in `<cache_dir>/<key>.npz`, the key being the
    SHA-256 of the config and of every experiment's full YAML, so a teacher run, its
    distillation and an evaluation simulate the frames once.
    """

    def __init__(self, config: CropConfig | None = None, cache_dir: str | None = None, **overrides) -> None:
        if overrides and "experiments" in overrides:
            overrides["experiments"] = tuple(overrides["experiments"])
        self.config = cfg = CropConfig(**{**(config or CropConfig()).__dict__, **overrides})
        cfg.validate()
        cache = None if cache_dir is None else Path(cache_dir) / f"{self._key()}.npz"
        if cache is not None and cache.is_file():
            with np.load(cache) as z:
                self.images, self.labels, self.masks = z["images"], z["labels"], z["masks"]
                self.sources = [(str(e), int(i), int(r), int(c)) for e, i, r, c in z["sources"]]
            return
        self._simulate()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, images=self.images, labels=self.labels, masks=self.masks,
                         sources=np.array(self.sources, dtype=object).astype(str))

    def _key(self) -> str:
        from peaknet_bench.sim import load_experiment

        h = hashlib.sha256(json.dumps(dataclasses.asdict(self.config), sort_keys=True).encode())
        for name in self.config.experiments:
            h.update(load_experiment(name, validate=False).to_yaml().encode())
        return h.hexdigest()[:32]

    def _simulate(self) -> None:
        from peaknet_bench.data.canvas import CanvasPlan
        from peaknet_bench.geometry import Assembler
        from peaknet_bench.sim import Simulator, load_experiment

        cfg = self.config
        images, labels, masks, sources = [], [], [], []
        for e, name in enumerate(cfg.experiments):
            sim = Simulator(load_experiment(name), seed=cfg.seed)
            plan = None
            for i in range(cfg.frames_per_experiment):
                frame = sim.frame(i)
                if plan is None:
                    plan = CanvasPlan.build(Assembler(frame.geometry))
                image, label, mask = preprocess_frame(frame, plan)
                rng = np.random.default_rng([cfg.seed, e, i])
                for r, c in crop_origins(label, cfg.crops_per_frame, cfg.crop, cfg.peak_fraction, rng):
                    sl = (slice(r, r + cfg.crop), slice(c, c + cfg.crop))
                    images.append(image[sl].astype(np.float16))
                    labels.append(label[sl].copy())
                    masks.append(mask[sl].copy())
                    sources.append((name, i, int(r), int(c)))
        self.images = np.stack(images)
        self.labels = np.stack(labels)
        self.masks = np.stack(masks)
        self.sources = sources

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": torch.from_numpy(self.images[i].astype(np.float32))[None],
            "label": torch.from_numpy(self.labels[i].astype(np.int64)),
            "mask": torch.from_numpy(self.masks[i].copy()),
        }


def simulated_crops(experiments: Sequence[str] = CropConfig.experiments, **kwargs) -> SimulatedCrops:
    """Trainer factory (`factory: "peaknet_bench.models.reference:simulated_crops"`)."""
    return SimulatedCrops(experiments=tuple(experiments), **kwargs)


__all__ = ["REFERENCE_STUDENT", "REFERENCE_TEACHER", "CropConfig", "SimulatedCrops", "crop_origins",
           "preprocess_frame", "simulated_crops"]
