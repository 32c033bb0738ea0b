"""ConvNeXt V2 backbone (Woo et al., CVPR 2023), written here for 1-channel detector images.

Follows the reference implementation (facebookresearch/ConvNeXt-V2): a 4x4 stride-4
patchify stem, three LayerNorm + 2x2 stride-2 downsampling layers, and blocks of
depthwise 7x7 conv -> LayerNorm -> Linear(4x) -> GELU -> GRN -> Linear -> drop path.
Instead of the classification head it returns the four stage outputs (strides 4, 8,
16, 32), each passed through its own LayerNorm so that every level reaching the
BiFPN is on a comparable scale (as the Hugging Face ConvNextV2Backbone does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Published ConvNeXt V2 sizes: widths per stage, depths per stage.
CONVNEXTV2_SIZES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = {
    "atto": ((40, 80, 160, 320), (2, 2, 6, 2)),
    "femto": ((48, 96, 192, 384), (2, 2, 6, 2)),
    "pico": ((64, 128, 256, 512), (2, 2, 6, 2)),
    "nano": ((80, 160, 320, 640), (2, 2, 8, 2)),
    "tiny": ((96, 192, 384, 768), (3, 3, 9, 3)),
    "base": ((128, 256, 512, 1024), (3, 3, 27, 3)),
    "large": ((192, 384, 768, 1536), (3, 3, 27, 3)),
    "huge": ((352, 704, 1408, 2816), (3, 3, 27, 3)),
}


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an (N, C, H, W) tensor ("channels_first")."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.normalized_shape = (channels,)  # a constant, so traced/exported graphs stay shape-generic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalisation on channels-last input (N, H, W, C).

    Gx = ||x||_2 over the spatial axes, Nx = Gx / mean_c(Gx); out = gamma * x * Nx + beta + x.
    gamma and beta start at zero, so a fresh GRN is the identity.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # vector_norm (not sqrt(sum x^2)): its gradient is 0, not NaN, for an all-zero channel.
        gx = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return self.gamma * (x * nx) + self.beta + x


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample with probability p."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


class Block(nn.Module):
    """ConvNeXt V2 block: dwconv 7x7 -> LN -> pw 4x -> GELU -> GRN -> pw -> drop path + residual."""

    def __init__(self, dim: int, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


@dataclass
class ConvNeXtV2Config:
    """Widths/depths per stage; `size` picks a published one unless both are given."""

    size: str = "atto"
    in_chans: int = 1
    drop_path_rate: float = 0.0
    widths: tuple[int, ...] | None = None
    depths: tuple[int, ...] | None = None

    def resolved(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if self.widths is not None and self.depths is not None:
            return tuple(self.widths), tuple(self.depths)
        if self.size not in CONVNEXTV2_SIZES:
            raise ValueError(f"unknown ConvNeXtV2 size {self.size!r}; expected one of {sorted(CONVNEXTV2_SIZES)}")
        return CONVNEXTV2_SIZES[self.size]


class ConvNeXtV2(nn.Module):
    """Multi-scale ConvNeXt V2 feature extractor: (N, in_chans, H, W) -> 4 maps at strides 4..32.

    `widths` (a tuple, one per returned level) is the attribute the BiFPN reads; any
    user backbone with the same contract can replace this one (see `registry`).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (40, 80, 160, 320),
        depths: tuple[int, ...] = (2, 2, 6, 2),
        in_chans: int = 1,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if len(widths) != 4 or len(depths) != 4:
            raise ValueError("ConvNeXtV2 needs 4 widths and 4 depths (strides 4, 8, 16, 32)")
        self.widths = tuple(int(w) for w in widths)
        self.depths = tuple(int(d) for d in depths)
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(
            nn.Sequential(nn.Conv2d(in_chans, widths[0], kernel_size=4, stride=4), LayerNorm2d(widths[0]))
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(LayerNorm2d(widths[i]), nn.Conv2d(widths[i], widths[i + 1], kernel_size=2, stride=2))
            )
        # Linearly increasing drop-path rate over all blocks, as the reference.
        n = sum(depths)
        rates = [drop_path_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        self.stages = nn.ModuleList()
        k = 0
        for w, d in zip(widths, depths):
            self.stages.append(nn.Sequential(*[Block(w, rates[k + j]) for j in range(d)]))
            k += d
        self.out_norms = nn.ModuleList(LayerNorm2d(w) for w in widths)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for down, stage, norm in zip(self.downsample_layers, self.stages, self.out_norms):
            x = stage(down(x))
            feats.append(norm(x))
        return feats


def convnextv2(cfg: ConvNeXtV2Config) -> ConvNeXtV2:
    widths, depths = cfg.resolved()
    return ConvNeXtV2(widths, depths, cfg.in_chans, cfg.drop_path_rate)
