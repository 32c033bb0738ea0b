"""Training crops: detector frames normalised exactly as inference does it, cut into squares.

Two sources, one item format (``image`` (1, crop, crop) float32, ``label`` (crop, crop)
int64, ``mask`` (crop, crop) bool):

* `StoreCrops`: frames of a dataset store (`peaknet-bench dataset build ...`) with the
  **data engine's labels** — the paper's setting: peakfinder8 peaks matched to predicted
  reflections, fitted, painted at half maximum. Frames the curation selected give labelled
  crops; frames on which no lattice was predicted give background-only crops; frames the
  curation rejected with a lattice (their spots would be unlabelled) are skipped.
* `SimulatedCrops`: frames simulated on the fly with the **simulator's truth** labels
  (half-maximum area of every found-able reflection), as a comparison.

Every frame is normalised with the model's `InputNorm` on the whole slab (so a crop's
background and noise come from the full frame, as at inference), assembled with its
geometry, and cut into fixed crops (a `peak_fraction` centred near label pixels; for
StoreCrops a `negative_fraction` near predicted reflections the labels left out — weak
spots below the label rule's cut, drawn in proportion to their predicted intensity: the
hard negatives that teach a model where the rule stops, which random crops of sparse
frames rarely show). Domain
randomisation that the simulator does not already provide is applied to the raw slab
before normalisation: unmasked hot pixels (single pixels 10^2.5–10^5 σ above the
background: brighter than the peak pixel of nearly every Bragg spot, and alone — a spot of
two or more pixels stays a spot, as for DIALS and peakfinder8) and NaN pixels, at random places, never labelled — real frames have both —
and a random flip / quarter turn of each crop. All draws depend on (seed, frame, crop)
only, so the set is deterministic, as exact resume and the distillation logit cache require.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from peaknet_bench.data.canvas import CanvasPlan
from peaknet_bench.data.normalise import InputNorm, normalised_slab, panel_rects
from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import atomic_path
from peaknet_bench.util.progress import progress


@dataclass(frozen=True)
class CropConfig:
    """How frames are cut into training crops (shared by both sources)."""

    crop: int = 64
    crops_per_frame: int = 32
    peak_fraction: float = 0.75  # share of crops centred near a labelled pixel (where a frame has any)
    negative_fraction: float = 0.0  # share centred near an unlabelled predicted reflection (hard negatives)
    seed: int = 0  # crop positions, defects and flips (and the simulator's run seed for SimulatedCrops)
    input_norm: dict[str, Any] = field(default_factory=lambda: InputNorm().to_dict())
    hot_pixels_per_mpx: float = 4.0  # injected unmasked hot pixels per megapixel (0: none)
    nan_pixels_per_mpx: float = 2.0  # injected NaN pixels (mask says good) per megapixel
    augment: bool = True  # random flip / quarter turn per crop

    def norm(self) -> InputNorm:
        return InputNorm.from_dict(self.input_norm)

    def validate(self) -> None:
        for key in ("crop", "crops_per_frame"):
            if getattr(self, key) < 1:
                raise InputError(None, key, f"expected a positive integer, got {getattr(self, key)}")
        if self.crop % 32:
            raise InputError(None, "crop", f"expected a multiple of 32 (the network stride), got {self.crop}")
        if not 0.0 <= self.peak_fraction <= 1.0:
            raise InputError(None, "peak_fraction", f"expected a fraction in [0, 1], got {self.peak_fraction}")
        if not 0.0 <= self.negative_fraction <= 1.0 - self.peak_fraction:
            raise InputError(None, "negative_fraction",
                             f"expected a fraction in [0, 1 - peak_fraction], got {self.negative_fraction}")
        if self.hot_pixels_per_mpx < 0 or self.nan_pixels_per_mpx < 0:
            raise InputError(None, "hot_pixels_per_mpx", "expected rates ≥ 0")
        self.norm().validate()


def crop_origins(label: np.ndarray, n: int, crop: int, peak_fraction: float,
                 rng: np.random.Generator, negatives: np.ndarray | None = None,
                 negative_fraction: float = 0.0) -> np.ndarray:
    """(n, 2) top-left corners: a `peak_fraction` share centred (±crop/4) on random label
    pixels, a `negative_fraction` share on the positive pixels of `negatives` (a weight image
    of unlabelled reflections, drawn in proportion to the weight), the rest uniform over the
    image; always fully inside it."""
    h, w = label.shape
    if h < crop or w < crop:
        raise InputError(None, "crop", f"crop {crop} is larger than the assembled image {label.shape}")
    out = np.empty((n, 2), np.int64)
    start = 0
    rows, cols = np.nonzero(label)
    k = int(round(n * peak_fraction)) if rows.size else 0
    if k:
        pick = rng.integers(rows.size, size=k)
        start = _centred(out, start, rows[pick], cols[pick], crop, rng)
    if negatives is not None and negative_fraction > 0:
        rows, cols = np.nonzero(negatives > 0)
        k = min(int(round(n * negative_fraction)), n - start) if rows.size else 0
        if k:
            weight = negatives[rows, cols].astype(np.float64)
            pick = rng.choice(rows.size, size=k, p=weight / weight.sum())
            start = _centred(out, start, rows[pick], cols[pick], crop, rng)
    out[start:, 0] = rng.integers(0, h - crop + 1, size=n - start)
    out[start:, 1] = rng.integers(0, w - crop + 1, size=n - start)
    out[:, 0] = np.clip(out[:, 0], 0, h - crop)
    out[:, 1] = np.clip(out[:, 1], 0, w - crop)
    return out


def _centred(out: np.ndarray, start: int, rows: np.ndarray, cols: np.ndarray, crop: int,
             rng: np.random.Generator) -> int:
    """Write crops centred (±crop/4) on (rows, cols) into out[start:]; the next free row."""
    k = rows.size
    jitter = rng.integers(-crop // 4, crop // 4 + 1, size=(k, 2))
    out[start:start + k, 0] = rows - crop // 2 + jitter[:, 0]
    out[start:start + k, 1] = cols - crop // 2 + jitter[:, 1]
    return start + k


def mark_negatives(label: np.ndarray, fs: np.ndarray, ss: np.ndarray, weight: np.ndarray | None,
                   clearance: int = 3) -> np.ndarray:
    """Slab float32 image with each reflection's weight (1 when None) at its pixel, for the
    reflections with no label pixel within `clearance` pixels: the spots the label rule left
    out (too weak to be strong, or not found), the hard negatives of a label rule."""
    from scipy import ndimage

    out = np.zeros(label.shape, np.float32)
    if len(fs) == 0:
        return out
    r = np.clip(np.rint(ss).astype(np.int64), 0, label.shape[0] - 1)
    c = np.clip(np.rint(fs).astype(np.int64), 0, label.shape[1] - 1)
    near = ndimage.maximum_filter(label > 0, size=2 * clearance + 1)
    keep = ~near[r, c]
    w = np.ones(len(fs)) if weight is None else np.clip(np.nan_to_num(np.asarray(weight, np.float64)), 0.0, None)
    np.maximum.at(out, (r[keep], c[keep]), w[keep].astype(np.float32))
    return out


def inject_defects(slab: np.ndarray, mask: np.ndarray, label: np.ndarray, config: CropConfig,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(slab, label) with unmasked hot pixels and NaN pixels at random good pixels; their
    label is 0. The inputs are not modified."""
    good = np.flatnonzero(mask.reshape(-1) & np.isfinite(slab.reshape(-1)))
    if good.size == 0:
        return slab, label
    mpx = slab.size / 1e6
    n_hot = int(rng.poisson(config.hot_pixels_per_mpx * mpx))
    n_nan = int(rng.poisson(config.nan_pixels_per_mpx * mpx))
    if n_hot + n_nan == 0:
        return slab, label
    out = slab.astype(np.float32, copy=True).reshape(-1)
    lab = label.copy().reshape(-1)
    values = out[good]
    centre = float(np.median(values))
    spread = float(np.median(np.abs(values - centre))) * 1.4826 or float(np.std(values)) or 1.0
    where = rng.choice(good, size=n_hot + n_nan, replace=False)
    hot, nan = where[:n_hot], where[n_hot:]
    out[hot] = centre + spread * 10.0 ** rng.uniform(2.5, 5.0, size=n_hot)
    lab[hot] = 0
    out[nan] = np.nan
    lab[nan] = 0
    return out.reshape(slab.shape), lab.reshape(label.shape)


def prepare_frame(slab: np.ndarray, mask: np.ndarray, label: np.ndarray, geometry, plan: CanvasPlan,
                  norm: InputNorm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model input float32, label uint8, good mask bool) on `plan`'s canvas, normalised as
    the inference runner does it (`normalised_slab` on the whole slab, then assembled)."""
    good = np.ascontiguousarray(mask, dtype=bool) & (geometry.panel_map >= 0)
    data = np.ascontiguousarray(slab)
    image_slab, mean, scale = normalised_slab(data, good, panel_rects(geometry), norm)
    image = np.empty(plan.size, np.float32)
    out_label = np.empty(plan.size, np.uint8)
    out_mask = np.empty(plan.size, np.bool_)
    plan.fill(image_slab, good, image, out_mask, label=np.ascontiguousarray(label, dtype=np.uint8),
              out_label=out_label, mean=mean, scale=scale)
    return image, out_label, out_mask


class _CropSet(Dataset):
    """Crops held in memory (float16 image, uint8 label, bool mask), optionally cached in
    `<cache_dir>/<key>.npz` (key: SHA-256 of the source's full description)."""

    def _load_or_make(self, cache_dir: str | None) -> None:
        cache = None if cache_dir is None else Path(cache_dir) / f"{self._key()}.npz"
        if cache is not None and cache.is_file():
            with np.load(cache) as z:
                self.images, self.labels, self.masks = z["images"], z["labels"], z["masks"]
                self.sources = [tuple(s) for s in z["sources"].tolist()]
            return
        self._images: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self.sources = []
        self._make()
        if not self._images:
            raise InputError(None, "crops", "no frame gave a training crop")
        self.images, self.labels, self.masks = np.stack(self._images), np.stack(self._labels), np.stack(self._masks)
        del self._images, self._labels, self._masks
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, images=self.images, labels=self.labels, masks=self.masks,
                         sources=np.array(self.sources, dtype=str))

    def _key(self) -> str:
        h = hashlib.sha256(json.dumps(self._identity(), sort_keys=True, default=str).encode())
        return h.hexdigest()[:32]

    def _cut(self, frame_key: Sequence[int], slab, mask, label, geometry, plan, source: tuple,
             reflections: dict[str, np.ndarray] | None = None) -> None:
        """Defects, normalisation, assembly and crops of one frame (`reflections`: the frame's
        predicted reflections, fs/ss[/intensity], whose unlabelled ones are hard negatives)."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, *frame_key])
        negatives = None
        if cfg.negative_fraction > 0 and reflections is not None and len(reflections["fs"]):
            marks = mark_negatives(label, reflections["fs"], reflections["ss"], reflections.get("intensity"))
            negatives = np.empty(plan.size, np.float32)
            plan.fill(marks, np.ones(marks.shape, bool), negatives, np.empty(plan.size, np.bool_))
        slab, label = inject_defects(slab, mask, label, cfg, rng)
        image, out_label, out_mask = prepare_frame(slab, mask, label, geometry, plan, cfg.norm())
        for r, c in crop_origins(out_label, cfg.crops_per_frame, cfg.crop, cfg.peak_fraction, rng,
                                 negatives, cfg.negative_fraction):
            sl = (slice(r, r + cfg.crop), slice(c, c + cfg.crop))
            parts = [image[sl], out_label[sl], out_mask[sl]]
            if cfg.augment:
                k, flip = int(rng.integers(4)), bool(rng.integers(2))
                parts = [np.rot90(p, k) for p in parts]
                if flip:
                    parts = [p[:, ::-1] for p in parts]
            self._images.append(parts[0].astype(np.float16))
            self._labels.append(np.ascontiguousarray(parts[1]))
            self._masks.append(np.ascontiguousarray(parts[2]))
            self.sources.append((*map(str, source), str(int(r)), str(int(c))))

    @property
    def input_norm(self) -> InputNorm:
        """The normalisation of these crops (the trainer checks the model's against it)."""
        return self.config.norm()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": torch.from_numpy(self.images[i].astype(np.float32))[None],
            "label": torch.from_numpy(self.labels[i].astype(np.int64)),
            "mask": torch.from_numpy(self.masks[i].copy()),
        }


class StoreCrops(_CropSet):
    """Crops of a dataset store split with the data engine's labels (see the module docstring).

    `store`: a store directory, or "name/version" of a dataset in the cache
    (`peaknet-bench dataset build datasets/<name>/<version>` makes it).
    """

    def __init__(self, store: str, split: str = "train", config: CropConfig | None = None,
                 cache_dir: str | None = None, experiments: Sequence[str] | None = None, **overrides: Any) -> None:
        self.config = cfg = dataclasses.replace(config or CropConfig(), **overrides)
        cfg.validate()
        self.store_path = _store_path(store)
        self.split = split
        self.experiments = None if experiments is None else tuple(experiments)
        self._load_or_make(cache_dir)

    def _identity(self) -> dict[str, Any]:
        manifest = self.store_path / "manifest.json"
        stamp = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else str(self.store_path)
        return {"kind": "store", "store": stamp, "split": self.split, "experiments": self.experiments,
                "config": dataclasses.asdict(self.config)}

    def _make(self) -> None:
        from peaknet_bench.data.store import Store

        store = Store(self.store_path)
        items = store.index(self.split)
        plans: dict[str, CanvasPlan] = {}
        for detector, j in progress(items, total=len(items), desc=f"crops from {self.store_path.name}/{self.split}"):
            f = store.frames(detector)
            experiment = str(f["experiment"][j])
            if self.experiments is not None and experiment not in self.experiments:
                continue
            selected = bool(f["selected"][j])
            blank = len(store.peaks(detector, j, "predicted")["fs"]) == 0
            if not (selected or blank):
                continue  # a lattice the curation rejected: its spots are unlabelled
            geometry = store.geometry(detector)
            if detector not in plans:
                plans[detector] = CanvasPlan.build(store.assembler(detector))
            label = store.label(detector, j) if selected else np.zeros(geometry.slab_shape, np.uint8)
            key = (int(hashlib.sha256(f"{detector}/{j}".encode()).hexdigest()[:8], 16),)
            self._cut(key, store.image(detector, j), store.mask(detector, j), label, geometry, plans[detector],
                      (experiment, detector, j), store.peaks(detector, j, "predicted") if selected else None)


class SimulatedCrops(_CropSet):
    """Crops of frames simulated on the fly with the simulator's truth labels.

    The same experiments and seeds as a store's recipe give the same frames, so the two
    label sources can be compared on identical images.
    """

    def __init__(self, experiments: Sequence[str] = ("epix10k-lysozyme", "rayonix-orthorhombic", "epix10k-weak"),
                 frames_per_experiment: int = 16, run_seeds: Sequence[int] | None = None,
                 config: CropConfig | None = None, cache_dir: str | None = None, **overrides: Any) -> None:
        self.config = cfg = dataclasses.replace(config or CropConfig(), **overrides)
        cfg.validate()
        if not experiments:
            raise InputError(None, "experiments", "expected at least one simulator experiment")
        if frames_per_experiment < 1:
            raise InputError(None, "frames_per_experiment", f"expected ≥ 1, got {frames_per_experiment}")
        self.experiments = tuple(experiments)
        self.frames_per_experiment = int(frames_per_experiment)
        self.run_seeds = tuple(run_seeds) if run_seeds is not None else (cfg.seed,) * len(self.experiments)
        if len(self.run_seeds) != len(self.experiments):
            raise InputError(None, "run_seeds", "expected one simulator seed per experiment")
        self._load_or_make(cache_dir)

    def _identity(self) -> dict[str, Any]:
        from peaknet_bench.sim import load_experiment

        return {"kind": "simulated", "experiments": [load_experiment(e, validate=False).to_yaml() for e in self.experiments],
                "frames": self.frames_per_experiment, "run_seeds": self.run_seeds,
                "config": dataclasses.asdict(self.config)}

    def _make(self) -> None:
        from peaknet_bench.geometry import Assembler
        from peaknet_bench.sim import Simulator, load_experiment

        for e, (name, seed) in enumerate(zip(self.experiments, self.run_seeds)):
            sim = Simulator(load_experiment(name), seed=seed)
            plan = CanvasPlan.build(Assembler(sim.geometry))
            for i in progress(range(self.frames_per_experiment), total=self.frames_per_experiment, desc=name):
                frame = sim.frame(i)
                label = frame.truth.label_mask.astype(np.uint8)
                self._cut((e, i), frame.data, frame.mask, label, frame.geometry, plan, (name, seed, i))


def _store_path(store: str) -> Path:
    p = Path(store)
    if p.is_dir():
        return p
    from peaknet_bench.data.download import cache_root

    cached = cache_root() / store
    if cached.is_dir():
        return cached
    raise InputError(store, "store", "no such dataset store: expected a store directory or 'name/version' in the "
                                     f"cache ({cache_root()}); build it with `peaknet-bench dataset build datasets/{store}`")


def store_crops(store: str, **kwargs: Any) -> StoreCrops:
    """Trainer factory (`factory: "peaknet_bench.train.crops:store_crops"`)."""
    return StoreCrops(store, **_split_config(kwargs))


def simulated_crops(**kwargs: Any) -> SimulatedCrops:
    """Trainer factory (`factory: "peaknet_bench.train.crops:simulated_crops"`)."""
    return SimulatedCrops(**_split_config(kwargs))


def _split_config(kwargs: dict[str, Any]) -> dict[str, Any]:
    """YAML kwargs: CropConfig fields go into `config`, the rest to the dataset."""
    names = {f.name for f in dataclasses.fields(CropConfig)}
    crop = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
    return {**kwargs, "config": CropConfig(**crop)}
