"""The PeakNet training loop (paper §2.2.2): focal loss or distillation, exact resume.

* AdamW; linear warm-up then cosine decay to `min_lr`; gradient accumulation;
  gradient-norm clipping (1.0); bf16 autocast where the hardware supports it.
* Data from any torch Dataset returning {"image": (1,H,W) float32 z-scored,
  "label": (H,W) int64, "mask": (H,W) bool}; the order is a seeded permutation per
  epoch, so the position in the data stream is two integers (epoch, batch).
* Checkpoints: `model.safetensors` (weights + model config) and `state.pt`
  (optimiser, scheduler, step, data position, every RNG) in one directory, written to
  a temporary directory and renamed. Resuming continues bit-exactly on CPU.
* Distributed: launched by `torchrun` (WORLD_SIZE > 1) -> DDP (gloo on CPU, NCCL on
  GPU) or FSDP2 (`distributed: fsdp`, gradients and optimiser state sharded).
* Logs: JSON lines in `out_dir/log.jsonl`; a progress bar on stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from peaknet_bench.errors import InputError
from peaknet_bench.models.peaknet import build_model
from peaknet_bench.models.registry import ModelConfig
from peaknet_bench.train.losses import DEFAULT_ALPHA, DEFAULT_GAMMA, DistillWeights, distillation_loss, focal_loss
from peaknet_bench.util.atomic import write_text_atomic


@dataclass
class DataSpec:
    """Where frames come from: the built-in synthetic set, or `factory` = "module:callable"
    called with `kwargs` that returns a torch Dataset (e.g. the dataset store's loader)."""

    kind: str = "synthetic"  # "synthetic" | "factory"
    synthetic: dict[str, Any] = field(default_factory=dict)
    factory: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Dataset:
        if self.kind == "synthetic":
            from peaknet_bench.train.synthetic import SyntheticConfig, SyntheticPeaks

            kw = dict(self.synthetic)
            for k in ("sigma_px", "amplitude"):
                if k in kw:
                    kw[k] = tuple(kw[k])
            try:
                return SyntheticPeaks(SyntheticConfig(**kw))
            except TypeError as exc:
                raise InputError(None, "data.synthetic", str(exc)) from exc
        if self.kind == "factory":
            if not self.factory or ":" not in self.factory:
                raise InputError(None, "data.factory", "expected 'module:callable'")
            mod, attr = self.factory.split(":", 1)
            try:
                fn = getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as exc:
                raise InputError(None, "data.factory", f"cannot import {self.factory!r}: {exc}") from exc
            return fn(**self.kwargs)
        raise InputError(None, "data.kind", f"expected 'synthetic' or 'factory', got {self.kind!r}")


@dataclass
class TrainConfig:
    model: str | dict[str, Any] = "cpu-student"
    train_data: DataSpec = field(default_factory=DataSpec)
    val_data: DataSpec | None = None
    out_dir: str = "runs/train"
    steps: int = 100  # optimiser steps
    batch_size: int = 4  # per process, per micro-batch
    grad_accum: int = 1
    lr: float = 3e-4
    min_lr: float = 1e-7
    warmup_steps: int = 20
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad_norm: float = 1.0
    bf16: str = "auto"  # auto (on for bf16-capable GPUs, off on CPU) | on | off
    seed: int = 0
    log_every: int = 10
    val_every: int = 0  # 0: validate only at the end
    ckpt_every: int = 0  # 0: checkpoint only at the end
    keep_checkpoints: int = 2
    num_workers: int = 0
    distributed: str = "ddp"  # used only under torchrun: ddp | fsdp
    device: str = "auto"  # auto | cpu | cuda
    objective: str = "focal"  # focal | distill
    focal_alpha: tuple[float, float] = DEFAULT_ALPHA
    focal_gamma: float = DEFAULT_GAMMA
    teacher_cache: str | None = None  # Zarr cache of teacher logits (objective: distill)
    distill_weights: DistillWeights = field(default_factory=DistillWeights)
    progress: bool = True
    plot: bool = True  # write OUT/curves.png (loss, lr, validation) at the end

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> TrainConfig:
        if not isinstance(d, Mapping):
            raise InputError(source, None, "expected a mapping of training options")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(d) - known
        if extra:
            raise InputError(source, ", ".join(sorted(extra)), f"unknown training option(s); expected {sorted(known)}")
        kw = dict(d)
        try:
            for key in ("train_data", "val_data"):
                if isinstance(kw.get(key), Mapping):
                    kw[key] = DataSpec(**kw[key])
            if isinstance(kw.get("distill_weights"), Mapping):
                kw["distill_weights"] = DistillWeights(**kw["distill_weights"])
            for key in ("betas", "focal_alpha"):
                if key in kw:
                    kw[key] = tuple(kw[key])
            cfg = cls(**kw)
        except TypeError as exc:
            raise InputError(source, None, f"bad training option: {exc}") from exc
        cfg.validate(source)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), None, "training config file not found")
        try:
            data = json.loads(p.read_text()) if p.suffix == ".json" else yaml.safe_load(p.read_text())
        except (ValueError, yaml.YAMLError) as exc:
            raise InputError(str(p), None, f"not valid YAML/JSON: {exc}") from exc
        return cls.from_dict(data or {}, str(p))

    def validate(self, source: str | None = None) -> None:
        checks = [
            (self.steps >= 1, "steps", "must be >= 1"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.grad_accum >= 1, "grad_accum", "must be >= 1"),
            (self.lr > 0 and 0 <= self.min_lr <= self.lr, "lr/min_lr", "need lr > 0 and 0 <= min_lr <= lr"),
            (self.warmup_steps >= 0, "warmup_steps", "must be >= 0"),
            (self.bf16 in ("auto", "on", "off"), "bf16", "must be auto, on or off"),
            (self.distributed in ("ddp", "fsdp"), "distributed", "must be ddp or fsdp"),
            (self.objective in ("focal", "distill"), "objective", "must be focal or distill"),
            (self.objective != "distill" or bool(self.teacher_cache), "teacher_cache", "needed for objective: distill"),
        ]
        for ok, where, msg in checks:
            if not ok:
                raise InputError(source, where, msg)


def lr_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from 1 to `floor` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def check_input_norm(model: nn.Module, dataset: Any, where: str) -> None:
    """A model must train on inputs normalised as it will see them at inference: refuse a
    dataset whose declared `input_norm` differs from the model config's."""
    base = getattr(dataset, "base", getattr(dataset, "dataset", dataset))  # through cache and subset wrappers
    norm = getattr(base, "input_norm", None)
    cfg = getattr(model, "config", None)
    if norm is None or cfg is None or norm == cfg.input_norm:
        return
    raise InputError(None, where, f"the data are normalised as {norm} but the model {cfg.name!r} expects "
                                  f"{cfg.input_norm}; set the data's input_norm to the model's")


class _LrLambda:
    """Picklable schedule callable (so LambdaLR can sit in a checkpoint)."""

    def __init__(self, warmup: int, total: int, floor: float) -> None:
        self.warmup, self.total, self.floor = warmup, total, floor

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.warmup, self.total, self.floor)


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's sample order for `epoch`: a seeded permutation, split round-robin
    so every rank gets the same count (the remainder is dropped)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    per_rank = n // world
    return perm[rank::world][:per_rank]


class _Batches:
    """A batch sampler over a fixed list of index batches."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class DataStream:
    """Endless batches in a reproducible order; the position is (epoch, batch index)."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int, world: int,
                 num_workers: int = 0, collate: Callable | None = None) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world, self.num_workers = rank, world, num_workers
        self.collate = collate
        self.epoch, self.pos = 0, 0
        n = len(dataset)
        self.per_epoch = (n // world) // batch_size
        if self.per_epoch < 1:
            raise InputError(None, "batch_size", f"dataset of {n} frames over {world} process(es) "
                             f"cannot fill one batch of {batch_size}")
        self._it: Iterator | None = None

    def _start(self) -> None:
        if hasattr(self.dataset, "set_epoch"):  # per-epoch augmentation draws (data loader API)
            self.dataset.set_epoch(self.epoch)
        order = epoch_order(len(self.dataset), self.seed, self.epoch, self.rank, self.world)
        batches = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.pos, self.per_epoch)]
        # A private generator: DataLoader draws a worker base seed from it, not from the
        # global RNG (which would otherwise shift the drop-path stream on resume).
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch * 104729 + self.pos)
        loader = DataLoader(self.dataset, batch_sampler=_Batches(batches), num_workers=self.num_workers,
                            generator=g, collate_fn=self.collate)
        self._it = iter(loader)

    def next(self) -> dict[str, torch.Tensor]:
        if self._it is None:
            self._start()
        try:
            batch = next(self._it)
        except StopIteration:
            self.epoch, self.pos = self.epoch + 1, 0
            self._start()
            batch = next(self._it)
        self.pos += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        if self.pos >= self.per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        self._it = None


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistEnv:
    """Join the process group torchrun set up (env://); a single process needs none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


class Trainer:
    """Build everything from a TrainConfig; `fit()` trains (resuming if a checkpoint exists)."""

    def __init__(self, cfg: TrainConfig, train_dataset: Dataset | None = None, val_dataset: Dataset | None = None,
                 model: nn.Module | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        if cfg.device != "auto":
            from peaknet_bench.util.device import check_device

            check_device(cfg.device, "device")
        want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        self.env = init_distributed("cuda" if want_cuda else "cpu")
        self.device = torch.device(f"cuda:{self.env.local_rank}" if want_cuda else "cpu")
        if want_cuda:
            torch.cuda.set_device(self.device)
        self.use_bf16 = cfg.bf16 == "on" or (cfg.bf16 == "auto" and want_cuda and torch.cuda.is_bf16_supported())
        self.out_dir = Path(cfg.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        seed_everything(cfg.seed)  # identical initial weights on every rank
        self.model_cfg = ModelConfig.from_dict(cfg.model) if isinstance(cfg.model, Mapping) else None
        self.raw_model: nn.Module = model if model is not None else build_model(self.model_cfg or cfg.model)
        self.raw_model.to(self.device)
        self.model = self._wrap(self.raw_model)
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=cfg.lr, betas=cfg.betas,
                                           weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _LrLambda(cfg.warmup_steps, cfg.steps, cfg.min_lr / cfg.lr))
        train_ds = train_dataset if train_dataset is not None else cfg.train_data.build()
        if cfg.objective == "distill":
            from peaknet_bench.train.distill import TeacherCacheDataset

            train_ds = TeacherCacheDataset(train_ds, cfg.teacher_cache)
        self.train_ds = train_ds
        self.val_ds = val_dataset if val_dataset is not None else (cfg.val_data.build() if cfg.val_data else None)
        for name, ds in (("train_data", train_ds), ("val_data", self.val_ds)):
            check_input_norm(self.raw_model, ds, name)
        self.stream = DataStream(train_ds, cfg.batch_size, cfg.seed, self.env.rank, self.env.world, cfg.num_workers)
        self.step = 0

    # -- setup -------------------------------------------------------------------------
    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.env.world <= 1:
            return model
        if self.cfg.distributed == "fsdp":
            # FSDP2 (per-parameter sharding; works with gloo on CPU and NCCL on GPU).
            # reshard_after_forward=False keeps parameters gathered between forward and
            # backward: gradients and optimiser state are sharded (ZeRO-2), as the paper.
            from torch.distributed.fsdp import fully_shard

            units = [*model.backbone.stages, model.bifpn, model.head] if hasattr(model, "bifpn") else []
            for unit in units:
                fully_shard(unit, reshard_after_forward=False)
            fully_shard(model, reshard_after_forward=False)
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                   gradient_as_bucket_view=True)  # grads live in the buckets: no copy, no stride mismatch

    @property
    def _fsdp(self) -> bool:
        return self.env.world > 1 and self.cfg.distributed == "fsdp"

    def _param_groups(self) -> list[dict[str, Any]]:
        """No weight decay on biases, norms, GRN and fusion weights (1-D tensors), as is usual."""
        decay, no_decay = [], []
        for _, p in self.model.named_parameters():
            if p.requires_grad:
                (no_decay if sum(d > 1 for d in p.shape) <= 1 else decay).append(p)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    # -- one step ------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16)

    def _loss(self, logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cfg.objective == "distill":
            return distillation_loss(logits, batch["teacher_logits"], self.cfg.distill_weights,
                                     self.cfg.focal_alpha, self.cfg.focal_gamma)
        return {"loss": focal_loss(logits, batch["label"], batch.get("mask"), self.cfg.focal_alpha,
                                   self.cfg.focal_gamma)}

    def train_step(self) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        parts: dict[str, float] = {}
        for micro in range(self.cfg.grad_accum):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in self.stream.next().items()
                     if isinstance(v, torch.Tensor)}  # drops non-tensor extras such as "metadata"
            sync = micro == self.cfg.grad_accum - 1
            if self._fsdp:
                self.model.set_requires_gradient_sync(sync)
            skip_sync = not sync and hasattr(self.model, "no_sync")  # DDP
            with (self.model.no_sync() if skip_sync else contextlib.nullcontext()):
                with self._autocast():
                    logits = self.model(batch["image"])
                losses = self._loss(logits, batch)
                (losses["loss"] / self.cfg.grad_accum).backward()
            for k, v in losses.items():
                parts[k] = parts.get(k, 0.0) + float(v.detach()) / self.cfg.grad_accum
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
        if hasattr(gnorm, "full_tensor"):  # FSDP2: a DTensor norm over all shards
            gnorm = gnorm.full_tensor()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {**parts, "grad_norm": float(gnorm), "lr": lr}

    # -- validation -----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, dataset: Dataset | None = None) -> dict[str, float]:
        """Pixel F1 / IoU of the peak class over good pixels, pooled over the whole set
        (and over ranks); also the mean focal loss."""
        from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex, BinaryPrecision, BinaryRecall

        ds = dataset if dataset is not None else self.val_ds
        if ds is None:
            return {}
        self.model.eval()
        metrics = {n: m().to(self.device) for n, m in (("f1", BinaryF1Score), ("iou", BinaryJaccardIndex),
                                                         ("precision", BinaryPrecision), ("recall", BinaryRecall))}
        idx = list(range(self.env.rank, len(ds), self.env.world))
        loss_sum, n_batches = torch.zeros((), device=self.device), 0
        for i in range(0, len(idx), self.cfg.batch_size):
            items = [ds[j] for j in idx[i:i + self.cfg.batch_size]]
            batch = {k: torch.stack([it[k] for it in items]).to(self.device) for k in ("image", "label", "mask")}
            with self._autocast():
                logits = self.model(batch["image"]).float()
            loss_sum += focal_loss(logits, batch["label"], batch["mask"], self.cfg.focal_alpha, self.cfg.focal_gamma)
            n_batches += 1
            pred = logits.argmax(1)[batch["mask"]]
            target = batch["label"][batch["mask"]]
            for m in metrics.values():
                m.update(pred, target)
        out = {f"val_{k}": float(m.compute()) for k, m in metrics.items()}
        counts = torch.tensor([float(n_batches)], device=self.device)
        if self.env.world > 1:
            dist.all_reduce(loss_sum)
            dist.all_reduce(counts)
        out["val_loss"] = float(loss_sum) / max(1.0, float(counts[0]))
        return out

    # -- checkpoints ------------------------------------------------------------------------
    def _full_states(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if self._fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            return get_state_dict(self.model, self.optimizer,
                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.raw_model.state_dict(), self.optimizer.state_dict()

    def save_checkpoint(self) -> Path | None:
        model_sd, optim_sd = self._full_states()  # collective under FSDP: every rank calls it
        final = self.ckpt_dir / f"step_{self.step:08d}"
        if self.env.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp_ckpt_", dir=self.ckpt_dir))
            try:
                from safetensors.torch import save_file

                meta = {}
                cfg = getattr(self.raw_model, "config", None)
                if cfg is not None:
                    meta["peaknet_config"] = cfg.to_json()
                meta["step"] = str(self.step)
                save_file({k: v.detach().contiguous().cpu() for k, v in model_sd.items()},
                          str(tmp / "model.safetensors"), metadata=meta)
                torch.save({"optimizer": optim_sd, "scheduler": self.scheduler.state_dict(), "step": self.step,
                            "data": self.stream.state_dict(), "rng": rng_state(), "world": self.env.world,
                            "train_config": self.cfg.to_dict()}, tmp / "state.pt")
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
            write_text_atomic(self.ckpt_dir / "latest", final.name + "\n")
            old = sorted(p for p in self.ckpt_dir.glob("step_*") if p.is_dir())
            for p in old[:-self.cfg.keep_checkpoints] if self.cfg.keep_checkpoints > 0 else []:
                shutil.rmtree(p)
        if self.env.world > 1:
            dist.barrier()
        return final if self.env.is_main else None

    def latest_checkpoint(self) -> Path | None:
        f = self.ckpt_dir / "latest"
        if not f.is_file():
            return None
        p = self.ckpt_dir / f.read_text().strip()
        return p if p.is_dir() else None

    def load_checkpoint(self, path: str | Path) -> None:
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / "state.pt").is_file() or not (path / "model.safetensors").is_file():
            raise InputError(str(path), None, "not a checkpoint directory (needs model.safetensors and state.pt)")
        model_sd = load_file(str(path / "model.safetensors"))
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
        if state.get("world", 1) != self.env.world:
            raise InputError(str(path), "world", f"checkpoint written by {state.get('world')} process(es); "
                             f"exact resume needs the same number, got {self.env.world}")
        if self._fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(self.model, self.optimizer, model_state_dict=model_sd,
                           optim_state_dict=state["optimizer"], options=StateDictOptions(full_state_dict=True))
        else:
            self.raw_model.load_state_dict(model_sd)
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.stream.load_state_dict(state["data"])
        set_rng_state(state["rng"])

    # -- the loop ----------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.env.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, resume: bool = True, stop_at: int | None = None) -> dict[str, Any]:
        """Train to `cfg.steps` (or to `stop_at`, for a deliberate interruption).

        With `resume`, continue from the latest checkpoint in `out_dir` if there is one.
        Returns the last training and validation records."""
        from peaknet_bench.util.outdir import OutputClaim

        # Two runs in one out_dir would interleave logs and checkpoints: the second is refused.
        what = f"model training of {self.cfg.model if isinstance(self.cfg.model, str) else 'a model config'}"
        claim = OutputClaim(self.out_dir, what) if self.env.is_main else None
        try:
            return self._fit(resume, stop_at)
        finally:
            if claim is not None:
                claim.release()

    def _fit(self, resume: bool, stop_at: int | None) -> dict[str, Any]:
        from peaknet_bench.util.progress import bar

        if resume and (ckpt := self.latest_checkpoint()) is not None:
            self.load_checkpoint(ckpt)
            self._log({"event": "resume", "step": self.step, "checkpoint": str(ckpt)})
        elif self.env.is_main and self.step == 0 and (self.out_dir / "log.jsonl").exists():
            (self.out_dir / "log.jsonl").unlink()  # a fresh run starts a fresh log
        end = min(self.cfg.steps, stop_at) if stop_at is not None else self.cfg.steps
        t0 = time.perf_counter()
        last: dict[str, Any] = {}
        val: dict[str, float] = {}
        pbar = bar(end - self.step, desc="train", disable=None if (self.cfg.progress and self.env.is_main) else True)
        start = self.step
        while self.step < end:
            rec = self.train_step()
            pbar.update(1)
            pbar.set_postfix(loss=f"{rec['loss']:.4g}")
            last = {"step": self.step, **rec, "epoch": self.stream.epoch,
                    "seconds": time.perf_counter() - t0}
            if self.step % self.cfg.log_every == 0 or self.step == end:
                self._log(last)
            if self.cfg.val_every and self.step % self.cfg.val_every == 0 and self.step != end:
                val = self.validate()
                self._log({"step": self.step, **val})
            if self.cfg.ckpt_every and self.step % self.cfg.ckpt_every == 0 and self.step != end:
                self.save_checkpoint()
        pbar.close()
        if self.step > start or self.latest_checkpoint() is None:
            if self.val_ds is not None:
                val = self.validate()
                self._log({"step": self.step, **val})
            self.save_checkpoint()
            if self.env.is_main and self.cfg.plot:
                from peaknet_bench.train.curves import plot_training_curves

                plot_training_curves(self.out_dir / "log.jsonl", self.out_dir / "curves.png")
        steps_done = self.step - start
        return {"step": self.step, "train": last, "val": val, "seconds": time.perf_counter() - t0,
                "steps_per_second": steps_done / max(1e-9, time.perf_counter() - t0),
                "checkpoint": str(self.ckpt_dir / f"step_{self.step:08d}")}

    def close(self) -> None:
        """Leave the process group together and for good.

        The barrier keeps a rank from closing its connections while a peer still talks on them, and
        the DDP wrapper (its reducer holds the group) goes first: a group that outlives
        `destroy_process_group` is torn down at interpreter exit, where gloo's threads abort.
        """
        if self.env.world > 1 and dist.is_initialized():
            dist.barrier()
            self.model = self.raw_model
            gc.collect()
            dist.destroy_process_group()


def train(cfg: TrainConfig, **kwargs: Any) -> dict[str, Any]:
    trainer = Trainer(cfg, **kwargs)
    try:
        return trainer.fit()
    finally:
        trainer.close()


__all__ = ["DataSpec", "TrainConfig", "Trainer", "train", "lr_factor", "epoch_order"]
