"""BiFPN (Tan et al., EfficientDet 2020) with LayerNorm instead of BatchNorm.

Levels are ordered fine -> coarse (strides 4, 8, 16, 32). One block runs a top-down
path (coarse information flows to fine levels) and then a bottom-up path; every node
fuses its inputs with *fast normalised fusion* (ReLU(w) / (sum ReLU(w) + eps)) and
refines the result with a depthwise-separable 3x3 convolution, LayerNorm and GELU.
LayerNorm keeps inference a function of the parameters only (no running statistics),
as the paper requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peaknet_bench.models.convnextv2 import LayerNorm2d

UPSAMPLE_MODES = ("nearest", "bilinear")
DOWNSAMPLE_MODES = ("maxpool", "stride")


@dataclass
class BiFPNConfig:
    channels: int = 64
    num_blocks: int = 2
    upsample: str = "nearest"
    downsample: str = "maxpool"
    fusion_eps: float = 1e-4

    def validate(self) -> None:
        if self.channels < 1 or self.num_blocks < 0:
            raise ValueError("BiFPN channels must be >= 1 and num_blocks >= 0")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"BiFPN upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")
        if self.downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f"BiFPN downsample must be one of {DOWNSAMPLE_MODES}, got {self.downsample!r}")


def resize_to(x: torch.Tensor, ref: torch.Tensor, up_mode: str, down_mode: str) -> torch.Tensor:
    """Bring `x` to the spatial size of `ref` (one pyramid level up or down)."""
    h, w = ref.shape[-2:]
    if x.shape[-2:] == (h, w):
        return x
    if x.shape[-2] < h:  # coarser -> finer
        if up_mode == "nearest":
            return F.interpolate(x, size=(h, w), mode="nearest")
        return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    if down_mode == "maxpool":
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    else:
        x = x[..., ::2, ::2]
    return x[..., :h, :w]


class SeparableConvNode(nn.Module):
    """A fused BiFPN node: weighted fusion -> depthwise 3x3 -> pointwise 1x1 -> LayerNorm -> GELU."""

    def __init__(self, channels: int, n_inputs: int, eps: float) -> None:
        super().__init__()
        self.fusion_weight = nn.Parameter(torch.ones(n_inputs))
        self.eps = eps
        self.depthwise = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, kernel_size=1)
        self.norm = LayerNorm2d(channels)
        self.act = nn.GELU()

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        w = F.relu(self.fusion_weight)
        w = w / (w.sum() + self.eps)
        x = inputs[0] * w[0]
        for i in range(1, len(inputs)):
            x = x + inputs[i] * w[i]
        return self.act(self.norm(self.pointwise(self.depthwise(x))))


class BiFPNBlock(nn.Module):
    """One bidirectional pass over L levels: L-1 top-down nodes then L-1 bottom-up nodes."""

    def __init__(self, channels: int, n_levels: int, cfg: BiFPNConfig) -> None:
        super().__init__()
        self.up, self.down = cfg.upsample, cfg.downsample
        # top_down[i] produces level i (i = L-2 .. 0) from input_i and td_{i+1}.
        self.top_down = nn.ModuleList(SeparableConvNode(channels, 2, cfg.fusion_eps) for _ in range(n_levels - 1))
        # bottom_up[i-1] produces level i (i = 1 .. L-1) from input_i, td_i (not on the top level), out_{i-1}.
        self.bottom_up = nn.ModuleList(
            SeparableConvNode(channels, 3 if i < n_levels - 1 else 2, cfg.fusion_eps) for i in range(1, n_levels)
        )

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(feats)
        td = list(feats)
        for i in range(n - 2, -1, -1):
            td[i] = self.top_down[i]([feats[i], resize_to(td[i + 1], feats[i], self.up, self.down)])
        out = [td[0]]
        for i in range(1, n):
            below = resize_to(out[i - 1], feats[i], self.up, self.down)
            ins = [feats[i], td[i], below] if i < n - 1 else [feats[i], below]
            out.append(self.bottom_up[i - 1](ins))
        return out


class BiFPN(nn.Module):
    """Lateral 1x1 projections from backbone widths to `channels`, then `num_blocks` BiFPN blocks."""

    def __init__(self, in_widths: tuple[int, ...], cfg: BiFPNConfig) -> None:
        super().__init__()
        cfg.validate()
        self.channels = cfg.channels
        self.lateral = nn.ModuleList(nn.Conv2d(w, cfg.channels, kernel_size=1) for w in in_widths)
        self.blocks = nn.ModuleList(BiFPNBlock(cfg.channels, len(in_widths), cfg) for _ in range(cfg.num_blocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.lateral):
            raise ValueError(f"BiFPN expects {len(self.lateral)} feature maps, got {len(feats)}")
        x = [lat(f) for lat, f in zip(self.lateral, feats)]
        for block in self.blocks:
            x = block(x)
        return x
