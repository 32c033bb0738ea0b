"""A tiny in-memory dataset of Gaussian spots on noise with exact labels.

For tests, smoke runs and examples without the simulator: it returns the same dict
as the real dataset loader ({"image": (1,H,W) float32 z-scored, "label": (H,W) int64,
"mask": (H,W) bool}). A pixel is labelled "peak" when it lies within `label_radius`
spot sigmas of a spot centre, so labels are exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class SyntheticConfig:
    n_frames: int = 8
    height: int = 64
    width: int = 64
    peaks_min: int = 4
    peaks_max: int = 12
    sigma_px: tuple[float, float] = (0.7, 1.3)
    amplitude: tuple[float, float] = (6.0, 20.0)  # in units of the noise sigma
    label_radius: float = 1.5  # in spot sigmas
    background_slope: float = 0.5  # smooth background gradient amplitude (noise sigmas)
    bad_pixel_fraction: float = 0.002
    seed: int = 0


def make_frame(cfg: SyntheticConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One frame as numpy arrays (image already z-scored over good pixels)."""
    h, w = cfg.height, cfg.width
    n = int(rng.integers(cfg.peaks_min, cfg.peaks_max + 1))
    cy = rng.uniform(2, h - 3, n)
    cx = rng.uniform(2, w - 3, n)
    sig = rng.uniform(*cfg.sigma_px, n)
    amp = rng.uniform(*cfg.amplitude, n)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    spots = amp[:, None, None] * np.exp(-r2 / (2 * sig[:, None, None] ** 2))
    label = (r2 <= (cfg.label_radius * sig[:, None, None]) ** 2).any(axis=0)
    gy, gx = rng.uniform(-1, 1, 2) * cfg.background_slope
    background = gy * yy / h + gx * xx / w
    image = background + spots.sum(axis=0) + rng.standard_normal((h, w))
    mask = rng.random((h, w)) >= cfg.bad_pixel_fraction
    good = image[mask]
    image = (image - good.mean()) / max(good.std(), 1e-6)
    image[~mask] = 0.0
    label &= mask
    return {"image": image.astype(np.float32)[None], "label": label.astype(np.int64), "mask": mask}


class SyntheticPeaks(Dataset):
    """`n_frames` frames generated once from `seed` (frame i depends only on seed and i)."""

    def __init__(self, cfg: SyntheticConfig | None = None, **overrides) -> None:
        self.cfg = cfg or SyntheticConfig(**overrides)
        self.frames = [make_frame(self.cfg, np.random.default_rng([self.cfg.seed, i])) for i in range(self.cfg.n_frames)]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f = self.frames[i]
        return {"image": torch.from_numpy(f["image"]), "label": torch.from_numpy(f["label"]),
                "mask": torch.from_numpy(f["mask"])}
