"""The two-pathway segmentation head (paper §2.2.1).

Per-level 1x1 laterals are summed at stride 4 (coarser levels upsampled bilinearly).
Pathway one predicts logits at stride 4 with a 1x1 conv and upsamples them x4
bilinearly (cheap, good for large peaks); pathway two is a learned ConvTranspose2d
(kernel 4, stride 4) straight to full resolution (single-pixel precision). The output
is their sum. The head is the same for every model size.

Input size: the full-resolution output has exactly 4x the stride-4 size, so it equals
the image size only when H and W are multiples of 32 (the backbone's coarsest stride).
`PeakNet` pads to a multiple of 32 and crops back, so callers can pass any H x W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class HeadConfig:
    channels: int | None = None  # None: same as the BiFPN channels
    num_classes: int = 2
    # Initial foreground probability (RetinaNet's prior init): start predicting "almost no
    # peaks", so the first focal-loss steps are not swamped by the background pixels.
    prior_peak: float = 0.01


class SegmentationHead(nn.Module):
    def __init__(self, in_channels: int, n_levels: int, cfg: HeadConfig) -> None:
        super().__init__()
        ch = cfg.channels or in_channels
        self.lateral = nn.ModuleList(nn.Conv2d(in_channels, ch, kernel_size=1) for _ in range(n_levels))
        self.coarse = nn.Conv2d(ch, cfg.num_classes, kernel_size=1)
        self.fine = nn.ConvTranspose2d(ch, cfg.num_classes, kernel_size=4, stride=4)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        if cfg.num_classes == 2 and 0.0 < cfg.prior_peak < 1.0:
            with torch.no_grad():  # the two pathways are summed, so each gets half the logit gap
                self.coarse.bias[1] = 0.5 * math.log(cfg.prior_peak / (1.0 - cfg.prior_peak))
                self.fine.bias[1] = 0.5 * math.log(cfg.prior_peak / (1.0 - cfg.prior_peak))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        fused = self.lateral[0](feats[0])
        for lat, f in zip(self.lateral[1:], feats[1:]):
            fused = fused + F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
        full = (size[0] * 4, size[1] * 4)
        coarse = F.interpolate(self.coarse(fused), size=full, mode="bilinear", align_corners=False)
        return coarse + self.fine(fused)
