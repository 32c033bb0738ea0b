"""PeakNet = backbone -> BiFPN -> two-pathway head; plus self-describing weight files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from peaknet_bench.errors import InputError
from peaknet_bench.models.bifpn import BiFPN
from peaknet_bench.models.head import SegmentationHead
from peaknet_bench.models.registry import ModelConfig, build_backbone, get_config
from peaknet_bench.util.atomic import atomic_path

CONFIG_KEY = "peaknet_config"


class PeakNet(nn.Module):
    """(N, 1, H, W) z-scored image -> (N, 2, H, W) logits (background, peak).

    Any H x W is accepted: the input is zero-padded (zero = the mean of a z-scored
    image) on the bottom/right to a multiple of `pad_multiple` and the logits are
    cropped back. `segment` is the unpadded network (needs multiples of 32).
    """

    def __init__(self, backbone: nn.Module, bifpn: BiFPN, head: SegmentationHead,
                 pad_multiple: int = 32, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.bifpn = bifpn
        self.head = head
        self.pad_multiple = pad_multiple
        self.config = config

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bifpn(self.backbone(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        y = self.segment(x)
        return y[..., :h, :w] if (ph or pw) else y


def build_model(name_or_config: str | ModelConfig | dict[str, Any]) -> PeakNet:
    """Instantiate a registered model name, a config file, a dict or a ModelConfig.

    Honour the ambient device (e.g. `with torch.device("meta"):` builds a weightless
    model for parameter counting).
    """
    cfg = get_config(name_or_config)
    backbone = build_backbone(cfg.backbone)
    widths = tuple(backbone.widths)
    bifpn = BiFPN(widths, cfg.bifpn)
    head = SegmentationHead(cfg.bifpn.channels, len(widths), cfg.head)
    return PeakNet(backbone, bifpn, head, cfg.pad_multiple, cfg)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def save_model(model: nn.Module, path: str | Path, extra_metadata: dict[str, str] | None = None) -> None:
    """Write weights as safetensors (atomically) with the model config in the metadata."""
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    cfg = getattr(model, "config", None)
    meta = {CONFIG_KEY: cfg.to_json()} if cfg is not None else {}
    meta.update(extra_metadata or {})
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def weights_file(path: str | Path) -> Path:
    """A .safetensors file, or a checkpoint directory holding model.safetensors."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.safetensors"
    if not p.is_file():
        raise InputError(str(path), None, "expected a .safetensors weights file or a checkpoint directory")
    return p


def load_model(path: str | Path, config: str | ModelConfig | None = None, map_location: str = "cpu") -> PeakNet:
    """Load a model saved by `save_model` (or the trainer); `config` overrides the embedded one."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = weights_file(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise InputError(str(p), "header", f"not a readable safetensors file ({exc})") from exc
    if config is None:
        if CONFIG_KEY not in meta:
            raise InputError(str(p), f"metadata.{CONFIG_KEY}", "no model config embedded; pass config=NAME")
        try:
            embedded = json.loads(meta[CONFIG_KEY])
        except json.JSONDecodeError as exc:
            raise InputError(str(p), f"metadata.{CONFIG_KEY}",
                             f"the embedded model config is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(embedded, dict):
            raise InputError(str(p), f"metadata.{CONFIG_KEY}", "expected a JSON object (the model config)")
        cfg = ModelConfig.from_dict(embedded, str(p))
    else:
        cfg = get_config(config)
    model = build_model(cfg)
    try:
        state = load_file(str(p), device=map_location)
    except Exception as exc:  # truncated data, bad offsets: safetensors' own error types
        raise InputError(str(p), "tensors", f"not readable ({exc})") from None
    check_state(model, state, str(p), cfg.name)
    model.load_state_dict(state, strict=True)
    return model.eval()


def check_state(model: nn.Module, state: dict[str, torch.Tensor], source: str, config_name: str) -> None:
    """Refuse weights that do not fit the model, before torch does so in a long traceback:
    missing or unexpected tensors, tensors of another shape (teacher weights under a
    student config), and non-finite values (a diverged or damaged checkpoint would
    otherwise segment every frame as noise)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise InputError(source, "tensors", f"weights do not match config {config_name!r}: "
                         f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                         f"(e.g. {unexpected[:3]}); were they saved from another model?")
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if shapes:
        k, got, want = shapes[0]
        raise InputError(source, f"tensor {k}", f"shape {got}, but config {config_name!r} expects {want} "
                         f"({len(shapes)} tensor(s) differ; weights of another model size?)")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            n = int((~torch.isfinite(v)).sum())
            raise InputError(source, f"tensor {k}", f"{n} NaN/Inf value(s); refusing to load a damaged or "
                             "diverged checkpoint")
