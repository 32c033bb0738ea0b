"""Model input normalisation: how a detector slab becomes the numbers a network sees.

Two rules, chosen per model (`ModelConfig.input_norm`, stored in every weights file):

* ``global``: one mean and standard deviation over the frame's good pixels (the models
  trained before local normalisation existed). Real frames break it: two hot pixels at
  ~10⁵ counts inflate σ 5–24× and every peak fades into zero; a detector in ADU, with a
  pedestal or a steep background, gives the network numbers it never saw in training.
* ``local``: background and noise per tile. Each panel is cut into `tile` × `tile` blocks;
  in each block the background (mean) and noise (σ) are estimated by iterative
  κ-σ clipping over its good pixels, so Bragg spots, hot and saturated pixels do not bias
  them; the two maps are interpolated bilinearly between tile centres (within a panel, so
  ASIC-wise pedestals and common mode are followed but never mixed across a gap). The
  input is then the local signal-to-noise (x − background)/σ, compressed beyond `squash`
  σ by s·asinh(z/s): linear where spots are weak, logarithmic for a 10⁵-count hot pixel.
  That quantity means the same thing on a photon-counting Pilatus, a CSPAD in ADU with a
  pedestal, or a Rayonix with kapton rings, which is what lets a model trained on
  simulated detectors read real ones.

σ is floored (`noise_floor` × the frame's median tile σ, and never below 1e-6 of the
frame's data scale) so that a block of all-zero photon-counting pixels does not turn one
photon into infinity. Non-finite values are bad pixels. Everything is float64 in fixed
order, libm only: the same frame gives the same input on every CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numba
import numpy as np

from peaknet_bench.errors import InputError

NORM_KINDS = ("global", "local")


@dataclass(frozen=True)
class InputNorm:
    """How a slab is normalised for a model (see the module docstring)."""

    kind: str = "local"
    tile: int = 32  # block edge (pixels) of the background / noise estimate
    clip_sigma: float = 3.0  # κ of the κ-σ clipping
    iterations: int = 4  # clipping passes after the first estimate
    noise_floor: float = 0.25  # σ ≥ this × the frame's median tile σ
    squash: float = 10.0  # z beyond ±squash is compressed as squash·asinh(z/squash)

    def validate(self, source: str | None = None) -> None:
        if self.kind not in NORM_KINDS:
            raise InputError(source, "input_norm.kind", f"expected one of {list(NORM_KINDS)}, got {self.kind!r}")
        if self.tile < 4:
            raise InputError(source, "input_norm.tile", f"expected a block edge ≥ 4 pixels, got {self.tile}")
        if not self.clip_sigma > 1.0:
            raise InputError(source, "input_norm.clip_sigma", f"expected κ > 1, got {self.clip_sigma}")
        if self.iterations < 0:
            raise InputError(source, "input_norm.iterations", f"expected ≥ 0, got {self.iterations}")
        if not 0.0 <= self.noise_floor <= 1.0:
            raise InputError(source, "input_norm.noise_floor", f"expected a fraction in [0, 1], got {self.noise_floor}")
        if not self.squash > 0.0:
            raise InputError(source, "input_norm.squash", f"expected > 0, got {self.squash}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str | None = None) -> "InputNorm":
        """From a stored config; a config without the key predates local normalisation: ``global``."""
        if d is None:
            return cls(kind="global")
        try:
            out = cls(**dict(d))
        except TypeError as exc:
            raise InputError(source, "input_norm", f"bad field: {exc}") from None
        out.validate(source)
        return out


GLOBAL = InputNorm(kind="global")


@numba.njit(cache=True, nogil=True)
def _tile_stats(image, mask, rects, tile, kappa, iterations):
    """Per tile of every panel: (mean, σ, n) of the good finite pixels after κ-σ clipping.
    rects: (n_panels, 4) min_ss, max_ss, min_fs, max_fs (inclusive). Tiles are numbered
    panel by panel, row-major; a tile with fewer than 8 surviving pixels has n < 8."""
    n_panels = rects.shape[0]
    n_tiles = 0
    for p in range(n_panels):
        h = rects[p, 1] - rects[p, 0] + 1
        w = rects[p, 3] - rects[p, 2] + 1
        n_tiles += ((h + tile - 1) // tile) * ((w + tile - 1) // tile)
    mean = np.zeros(n_tiles)
    sigma = np.zeros(n_tiles)
    count = np.zeros(n_tiles, np.int64)
    t0 = 0
    for p in range(n_panels):
        ss0, ss1, fs0, fs1 = rects[p, 0], rects[p, 1], rects[p, 2], rects[p, 3]
        nty = (ss1 - ss0 + tile) // tile
        ntx = (fs1 - fs0 + tile) // tile
        for ty in range(nty):
            for tx in range(ntx):
                t = t0 + ty * ntx + tx
                r0 = ss0 + ty * tile
                r1 = min(r0 + tile, ss1 + 1)
                c0 = fs0 + tx * tile
                c1 = min(c0 + tile, fs1 + 1)
                lo = -np.inf
                hi = np.inf
                m = 0.0
                s = 0.0
                n = 0
                for it in range(iterations + 1):
                    shift = np.nan
                    n = 0
                    s1 = 0.0
                    s2 = 0.0
                    for r in range(r0, r1):
                        for c in range(c0, c1):
                            v = image[r, c]
                            if mask[r, c] and np.isfinite(v) and v >= lo and v <= hi:
                                if n == 0:
                                    shift = v
                                d = v - shift
                                n += 1
                                s1 += d
                                s2 += d * d
                    if n == 0:
                        break
                    mu = s1 / n
                    var = s2 / n - mu * mu
                    m = mu + shift
                    s = math.sqrt(var) if var > 0.0 else 0.0
                    lo = m - kappa * s
                    hi = m + kappa * s
                mean[t] = m
                sigma[t] = s
                count[t] = n
        t0 += nty * ntx
    return mean, sigma, count


@numba.njit(cache=True, nogil=True)
def _fill_missing(mean, sigma, valid, rects, tile):
    """Tiles with too few pixels take their panel's median valid tile (else the frame's)."""
    all_m = mean[valid]
    all_s = sigma[valid]
    gm = np.median(all_m) if all_m.size else 0.0
    gs = np.median(all_s) if all_s.size else 0.0
    t0 = 0
    for p in range(rects.shape[0]):
        nty = (rects[p, 1] - rects[p, 0] + tile) // tile
        ntx = (rects[p, 3] - rects[p, 2] + tile) // tile
        t1 = t0 + nty * ntx
        pv = valid[t0:t1]
        pm = mean[t0:t1][pv]
        ps = sigma[t0:t1][pv]
        fm = np.median(pm) if pm.size else gm
        fs = np.median(ps) if ps.size else gs
        for t in range(t0, t1):
            if not valid[t]:
                mean[t] = fm
                sigma[t] = fs
        t0 = t1


@numba.njit(cache=True, nogil=True)
def _apply(image, mask, rects, tile, mean, sigma, squash, out):
    """out = squash·asinh(((x − bg)/σ)/squash) with bg, σ bilinear between tile centres of
    the pixel's panel; 0 at bad and non-finite pixels (and outside every panel)."""
    out[:] = 0.0
    t0 = 0
    inv_s = 1.0 / squash
    for p in range(rects.shape[0]):
        ss0, ss1, fs0, fs1 = rects[p, 0], rects[p, 1], rects[p, 2], rects[p, 3]
        nty = (ss1 - ss0 + tile) // tile
        ntx = (fs1 - fs0 + tile) // tile
        for r in range(ss0, ss1 + 1):
            y = (r - ss0 + 0.5) / tile - 0.5
            iy0 = min(max(int(math.floor(y)), 0), nty - 1)
            iy1 = min(iy0 + 1, nty - 1)
            wy = min(max(y - iy0, 0.0), 1.0)
            for c in range(fs0, fs1 + 1):
                v = image[r, c]
                if not (mask[r, c] and np.isfinite(v)):
                    continue
                x = (c - fs0 + 0.5) / tile - 0.5
                ix0 = min(max(int(math.floor(x)), 0), ntx - 1)
                ix1 = min(ix0 + 1, ntx - 1)
                wx = min(max(x - ix0, 0.0), 1.0)
                a = t0 + iy0 * ntx
                b = t0 + iy1 * ntx
                bg = ((1 - wy) * ((1 - wx) * mean[a + ix0] + wx * mean[a + ix1])
                      + wy * ((1 - wx) * mean[b + ix0] + wx * mean[b + ix1]))
                sg = ((1 - wy) * ((1 - wx) * sigma[a + ix0] + wx * sigma[a + ix1])
                      + wy * ((1 - wx) * sigma[b + ix0] + wx * sigma[b + ix1]))
                z = (v - bg) / sg * inv_s
                out[r, c] = squash * math.log(z + math.sqrt(z * z + 1.0)) if z >= 0 else \
                    -squash * math.log(-z + math.sqrt(z * z + 1.0))
        t0 += nty * ntx


def panel_rects(geometry) -> np.ndarray:
    """(n_panels, 4) int64 min_ss, max_ss, min_fs, max_fs of each panel in the slab."""
    return np.array([[p.min_ss, p.max_ss, p.min_fs, p.max_fs] for p in geometry.panels], np.int64)


def local_snr(slab: np.ndarray, mask: np.ndarray, rects: np.ndarray, norm: InputNorm,
              out: np.ndarray | None = None) -> np.ndarray:
    """The ``local`` input (float32, slab shape): squashed (x − background)/σ per pixel, 0
    at bad pixels. `rects` from `panel_rects(geometry)`; `slab` any real dtype."""
    image = np.ascontiguousarray(slab)
    if image.dtype not in (np.float32, np.float64, np.int16, np.int32):
        image = image.astype(np.float32)
    good = np.ascontiguousarray(mask, dtype=np.bool_)
    mean, sigma, count = _tile_stats(image, good, rects, int(norm.tile), float(norm.clip_sigma), int(norm.iterations))
    valid = count >= 8
    _fill_missing(mean, sigma, valid, rects, int(norm.tile))
    positive = sigma[sigma > 0]
    typical = float(np.median(positive)) if positive.size else 1.0
    scale = float(np.max(np.abs(mean))) if mean.size else 0.0
    floor = max(norm.noise_floor * typical, 1e-6 * scale, 1e-12)
    sigma = np.sqrt(sigma * sigma + floor * floor)
    if out is None:
        out = np.empty(image.shape, np.float32)
    _apply(image, good, rects, int(norm.tile), mean, sigma, float(norm.squash), out)
    return out


def normalised_slab(slab: np.ndarray, mask: np.ndarray, rects: np.ndarray,
                    norm: InputNorm) -> tuple[np.ndarray, float, float]:
    """(image, mean, scale) such that `CanvasPlan.fill(image, mask, ..., mean=mean,
    scale=scale)` writes the model input: the ``local`` signal-to-noise slab with (0, 1), or
    the raw slab with the ``global`` z-score's mean and 1/σ over good finite pixels."""
    if norm.kind == "local":
        return local_snr(slab, mask, rects, norm), 0.0, 1.0
    from peaknet_bench.data.canvas import good_moments, zscore_scale

    _, mean, std = good_moments(slab, mask)
    return slab, mean, zscore_scale(std)
