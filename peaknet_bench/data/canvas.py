"""Slab → fixed-size, z-scored canvas in one pass: the preprocessing shared by the dataset
loader, the inference runner and the reference-weight data.

A :class:`CanvasPlan` is built once per (geometry, canvas size, offset): for every canvas
row it lists the runs of canvas pixels that show consecutive slab pixels (a constant slab
step: ±1 along fs, ±n_fs along ss for quarter-turned panels, single pixels for tilted
ones). Filling a canvas then reads each slab pixel it shows once and writes every canvas
pixel once — no assembled intermediate, no separate zero fill, no gather index per pixel —
which is what makes 1920 × 1920 items cheap enough for a data loader.

Non-finite pixel values (NaN, ±Inf: a broken readout, a failed calibration) are bad
pixels here, whatever the mask says: one such value would otherwise turn the z-score of
the whole frame into NaN and erase every peak a model could find in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from peaknet_bench.geometry import Assembler


@numba.njit(cache=True, nogil=True)
def good_moments(image: np.ndarray, mask: np.ndarray) -> tuple[int, float, float]:
    """Count, mean and standard deviation over good pixels (masked good and finite) in one
    pass (float64 sums of values shifted by the first good value, which keeps the variance
    accurate)."""
    flat_i = image.reshape(-1)
    flat_m = mask.reshape(-1)
    shift = 0.0
    for k in range(flat_i.size):
        if flat_m[k] and np.isfinite(flat_i[k]):
            shift = flat_i[k]
            break
    n = 0
    s1 = 0.0
    s2 = 0.0
    for k in range(flat_i.size):
        if flat_m[k] and np.isfinite(flat_i[k]):
            d = flat_i[k] - shift
            n += 1
            s1 += d
            s2 += d * d
    if n == 0:
        return 0, 0.0, 1.0
    mean = s1 / n
    var = max(s2 / n - mean * mean, 0.0)
    return n, mean + shift, np.sqrt(var)


@numba.njit(cache=True, nogil=True)
def count_nonfinite(image: np.ndarray, mask: np.ndarray) -> int:
    """Pixels the mask calls good whose value is NaN or ±Inf (treated as bad; reported)."""
    flat_i = image.reshape(-1)
    flat_m = mask.reshape(-1)
    n = 0
    for k in range(flat_i.size):
        if flat_m[k] and not np.isfinite(flat_i[k]):
            n += 1
    return n


def zscore_scale(std: float) -> float:
    """1/σ, or 1 for a constant image (which then becomes all zeros, not NaN)."""
    return 1.0 / std if std > 0 else 1.0


def beam_offsets(beam_rc: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """Integer shift that puts the beam (row, col in the assembled image) at the canvas centre."""
    return (int(np.rint((size[0] - 1) / 2 - beam_rc[0])), int(np.rint((size[1] - 1) / 2 - beam_rc[1])))


@numba.njit(cache=True)
def _runs(index: np.ndarray):
    """(row_ptr, col, length, src, step): per canvas row, the runs of a (H, W) map of flat slab
    indices (-1 = nothing shown) in which the slab index advances by a constant step."""
    H, W = index.shape
    row_ptr = np.zeros(H + 1, np.int64)
    col = np.empty(H * W // 2 + 1, np.int32)
    length = np.empty_like(col)
    src = np.empty(H * W // 2 + 1, np.int64)
    step = np.empty_like(src)
    n = 0
    for r in range(H):
        c = 0
        while c < W:
            s0 = index[r, c]
            if s0 < 0:
                c += 1
                continue
            st = 1
            if c + 1 < W and index[r, c + 1] >= 0:
                st = index[r, c + 1] - s0
            k = 1
            while c + k < W and index[r, c + k] >= 0 and index[r, c + k] - index[r, c + k - 1] == st:
                k += 1
            if n == col.size:  # worst case: isolated pixels everywhere
                col = np.concatenate((col, np.empty_like(col)))
                length = np.concatenate((length, np.empty_like(length)))
                src = np.concatenate((src, np.empty_like(src)))
                step = np.concatenate((step, np.empty_like(step)))
            col[n], length[n], src[n], step[n] = c, k, s0, st
            n += 1
            c += k
        row_ptr[r + 1] = n
    return row_ptr, col[:n].copy(), length[:n].copy(), src[:n].copy(), step[:n].copy()


@numba.njit(cache=True, nogil=True)
def _fill(row_ptr, col, length, src, step, image, label, mask, mean, scale, out_image, out_label, out_mask):
    """Every canvas pixel written once: (image − mean)·scale, label and mask for good slab
    pixels (masked good and finite), 0 / 0 / False for bad pixels, gaps and padding. `label` may be empty (no labels)."""
    fi, fm = image.reshape(-1), mask.reshape(-1)
    fl = label.reshape(-1)
    with_label = fl.size > 0
    H, W = out_image.shape
    m32, s32 = np.float32(mean), np.float32(scale)  # float32 arithmetic: twice the SIMD width
    for r in range(H):
        c = 0
        for q in range(row_ptr[r], row_ptr[r + 1]):
            c0, n, s0, st = col[q], length[q], src[q], step[q]
            out_image[r, c:c0] = 0.0
            out_label[r, c:c0] = 0
            out_mask[r, c:c0] = False
            if st == 1:  # the common case: contiguous slices, 0-based indices, so it vectorises
                src_i, src_m = fi[s0: s0 + n], fm[s0: s0 + n]
                dst_i, dst_m = out_image[r, c0: c0 + n], out_mask[r, c0: c0 + n]
                for k in range(n):
                    v = np.float32(src_i[k])
                    good = src_m[k] and np.isfinite(v)
                    dst_i[k] = (v - m32) * s32 if good else np.float32(0.0)
                    dst_m[k] = good
                if with_label:
                    src_l, dst_l = fl[s0: s0 + n], out_label[r, c0: c0 + n]
                    for k in range(n):
                        dst_l[k] = src_l[k] if dst_m[k] else np.uint8(0)
            else:
                dst_i, dst_m = out_image[r, c0: c0 + n], out_mask[r, c0: c0 + n]
                for k in range(n):
                    j = s0 + k * st
                    v = np.float32(fi[j])
                    good = fm[j] and np.isfinite(v)
                    dst_i[k] = (v - m32) * s32 if good else np.float32(0.0)
                    dst_m[k] = good
                if with_label:
                    dst_l = out_label[r, c0: c0 + n]
                    for k in range(n):
                        dst_l[k] = fl[s0 + k * st] if dst_m[k] else np.uint8(0)
            c = c0 + n
        out_image[r, c:] = 0.0
        out_label[r, c:] = 0
        out_mask[r, c:] = False


@dataclass(frozen=True)
class CanvasPlan:
    """Where each canvas pixel comes from, as runs (see the module docstring).

    `offset` is the canvas position of assembled pixel (0, 0): canvas (r, c) shows assembled
    (r − off_r, c − off_c); parts of the detector outside the canvas are cropped.
    """

    slab_shape: tuple[int, int]
    size: tuple[int, int]
    offset: tuple[int, int]
    row_ptr: np.ndarray
    col: np.ndarray
    length: np.ndarray
    src: np.ndarray
    step: np.ndarray

    @classmethod
    def build(cls, assembler: Assembler, size: tuple[int, int] | None = None,
              offset: tuple[int, int] = (0, 0)) -> "CanvasPlan":
        """Plan for a canvas of `size` (default: the assembled shape) at `offset`."""
        H, W = tuple(size) if size is not None else tuple(assembler.shape)
        inv = assembler._inverse_flat
        index = np.full((H, W), -1, dtype=np.int64)
        h, w = inv.shape
        r0, c0 = max(offset[0], 0), max(offset[1], 0)
        r1, c1 = min(offset[0] + h, H), min(offset[1] + w, W)
        if r1 > r0 and c1 > c0:
            index[r0:r1, c0:c1] = inv[r0 - offset[0]: r1 - offset[0], c0 - offset[1]: c1 - offset[1]]
        return cls(tuple(assembler.slab_shape), (H, W), (int(offset[0]), int(offset[1])), *_runs(index))

    def fill(self, slab: np.ndarray, mask: np.ndarray, out_image: np.ndarray, out_mask: np.ndarray,
             label: np.ndarray | None = None, out_label: np.ndarray | None = None,
             mean: float = 0.0, scale: float = 1.0) -> None:
        """Write (slab − mean)·scale, the good-pixel mask and (optionally) the label into the
        canvases (float32, bool, uint8; C-contiguous, shape `size`). The slab may be float32 or
        a store's integers (int16, int32: read as they are, so pass mean and scale in steps)."""
        for name, a in (("slab", slab), ("mask", mask), ("label", label)):
            if a is not None and a.shape != self.slab_shape:
                raise ValueError(f"{name} has shape {a.shape}, expected the slab shape {self.slab_shape}")
        no_label = np.zeros(0, np.uint8)
        keep = slab.dtype in (np.float32, np.int16, np.int32)
        _fill(self.row_ptr, self.col, self.length, self.src, self.step,
              np.ascontiguousarray(slab, dtype=slab.dtype if keep else np.float32),
              no_label if label is None else np.ascontiguousarray(label, dtype=np.uint8),
              np.ascontiguousarray(mask, dtype=np.bool_), float(mean), float(scale), out_image, out_label if out_label is not None else
              np.empty(self.size, np.uint8), out_mask)
