"""Slab <-> assembled image mapping.

The model sees an *assembled* image: panels placed by their lab x, y (nearest pixel of
the reference pixel size, the first panel's), gaps filled with 0. Row index grows
downward in the image, i.e. towards -y in the lab, so an image shown with row 0 at the
top has +y up.

Axis-aligned panels (every common detector, also rotated by quarter turns) are copied as
whole blocks by a numba kernel that writes in the destination's memory order; tilted
panels fall back to a per-pixel gather through the pixel map. The maps are computed panel
by panel from the panel vectors, never as whole-detector floating-point arrays, so building
an Assembler is cheap.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.geometry.model import Geometry

@numba.njit(cache=True, nogil=True)
def _copy_blocks(slab, image, blocks):  # pragma: no cover - compiled
    """Copy every axis-aligned panel from the slab into the image, on flat arrays.

    blocks rows: src_ss0, src_fs0, height, width, row0, col0, drow_dss, drow_dfs, dcol_dss, dcol_dfs
    (image row = row0 + drow_dss * i + drow_dfs * j for panel pixel (i, j), likewise col).
    The inner loop runs along image rows so that writes are contiguous (measured: 2x faster
    than tiling for the transposed quadrants of an Epix10ka2M, and faster than numpy's
    strided copy).
    """
    n_fs = slab.shape[1]
    width = image.shape[1]
    s = slab.ravel()
    im = image.ravel()
    for b in range(blocks.shape[0]):
        s0, f0, h, w, r0, c0, rs, rf, cs, cf = blocks[b]
        base = r0 * width + c0
        step_i = rs * width + cs  # image flat step per panel ss
        step_j = rf * width + cf  # image flat step per panel fs
        if rf != 0:  # transposed panel: panel ss runs along image rows
            for j in range(w):
                src = s0 * n_fs + f0 + j
                dst = base + step_j * j
                if step_i == 1:
                    for i in range(h):
                        im[dst + i] = s[src + i * n_fs]
                else:
                    for i in range(h):
                        im[dst - i] = s[src + i * n_fs]
        else:
            for i in range(h):
                src = (s0 + i) * n_fs + f0
                dst = base + step_i * i
                if step_j == 1:
                    im[dst : dst + w] = s[src : src + w]
                else:
                    for j in range(w):
                        im[dst - j] = s[src + j]


def _image_view(image: np.ndarray, block: np.ndarray) -> np.ndarray:
    """The (height, width) view of a 2-D image that shows a block's panel in slab orientation."""
    _, _, h, w, r0, c0, rs, rf, cs, cf = (int(v) for v in block)

    def axis(start: int, step: int, n: int) -> slice:
        stop = start + step * n
        return slice(start, stop if stop >= 0 else None, step)

    if rf == 0:  # rows follow ss, columns follow fs
        return image[axis(r0, rs, h), axis(c0, cf, w)]
    return image[axis(r0, rf, w), axis(c0, cs, h)].T


@numba.njit(cache=True, nogil=True)
def _gather(dst, dst_index, src, src_index):  # pragma: no cover - compiled
    """dst[dst_index[k]] = src[src_index[k]] on flat arrays (tilted panels)."""
    for k in range(dst_index.size):
        dst[dst_index[k]] = src[src_index[k]]


@numba.njit(cache=True, nogil=True)
def _fill_runs(image, runs, fill):  # pragma: no cover - compiled
    """Set image[row, c0:c1] = fill for every run (row, c0, c1)."""
    for k in range(runs.shape[0]):
        r, c0, c1 = runs[k]
        image[r, c0:c1] = fill


_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class Assembler:
    """Pixel maps between a geometry's slab and its assembled image (both directions)."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        self.slab_shape = geometry.slab_shape
        a = geometry._arrays()
        self._scale = geometry.panels[0].res / a["res"]  # panel pixel -> reference pixel
        # Extremes of pixel centres are at the four corner pixels of each panel (affine map).
        w0, w1 = np.full_like(a["width"], 0.5), a["width"] - 0.5
        h0, h1 = np.full_like(a["height"], 0.5), a["height"] - 0.5
        u = np.stack([w0, w1, w0, w1], 1)
        v = np.stack([h0, h0, h1, h1], 1)
        x, y = self._lab_xy(np.arange(geometry.n_panels)[:, None], u, v)
        self.x_min = float(x.min())
        self.y_max = float(y.max())
        self.shape = (int(_nearest(self.y_max - y.min())) + 1, int(_nearest(x.max() - self.x_min)) + 1)
        blocks, gather_src, gather_dst = [], [], []
        coverage = np.zeros(self.shape, dtype=np.int32)
        for i, p in enumerate(geometry.panels):
            block = self._block(i)
            if block is not None:
                blocks.append([p.min_ss, p.min_fs, p.height, p.width, *block])
                r0, c0, rs, rf, cs, cf = block
                r1 = r0 + rs * (p.height - 1) + rf * (p.width - 1)
                c1 = c0 + cs * (p.height - 1) + cf * (p.width - 1)
                coverage[min(r0, r1) : max(r0, r1) + 1, min(c0, c1) : max(c0, c1) + 1] += 1
            else:
                row, col = self._panel_pixels(i)
                ss, fs = np.mgrid[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1]
                gather_src.append((ss * self.slab_shape[1] + fs).ravel())
                gather_dst.append((row * self.shape[1] + col).ravel())
        self._blocks = np.array(blocks, dtype=np.int64).reshape(-1, 10)
        # Flat pixel indices of the gather path (int32 halves the memory traffic; detectors
        # have far fewer than 2**31 pixels).
        index_type = np.int32 if max(coverage.size, self.slab_shape[0] * self.slab_shape[1]) < 2**31 else np.int64
        self._src_flat = np.concatenate(gather_src).astype(index_type) if gather_src else np.zeros(0, index_type)
        self._dst_flat = np.concatenate(gather_dst).astype(index_type) if gather_dst else np.zeros(0, index_type)
        coverage.ravel()[:] += np.bincount(self._dst_flat, minlength=coverage.size).astype(np.int32)
        # Slab pixels hidden behind another one (tilted panels, overlapping projections).
        self.n_hidden = int(np.sum(np.maximum(coverage - 1, 0)))
        self._gap_runs = _runs(coverage == 0)
        self._slab_gap_runs = _runs(geometry.panel_map < 0)

    # ------------------------------------------------------------ maps
    def _lab_xy(self, panel: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lab x, y in reference pixels of panel-relative corner-convention coordinates."""
        a = self.geometry._arrays()
        s = self._scale[panel]
        x = (a["corner"][panel, 0] + u * a["fs"][panel, 0] + v * a["ss"][panel, 0]) * s
        y = (a["corner"][panel, 1] + u * a["fs"][panel, 1] + v * a["ss"][panel, 1]) * s
        return x, y

    def _panel_pixels(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest assembled (row, col) of every pixel of panel i, (height, width) int64 each."""
        p = self.geometry.panels[i]
        v = np.arange(p.height, dtype=np.float64)[:, None] + 0.5
        u = np.arange(p.width, dtype=np.float64)[None, :] + 0.5
        x, y = self._lab_xy(np.array(i), u, v)
        return _nearest(self.y_max - y), _nearest(x - self.x_min)

    def _block(self, i: int) -> list[int] | None:
        """(row0, col0, drow/dss, drow/dfs, dcol/dss, dcol/dfs) when panel i is an image block: its
        scaled fs and ss steps are exact unit steps along the image axes (quarter turns), so that
        floor rounding maps it to a rectangle; None for tilted panels."""
        p = self.geometry.panels[i]
        fs = np.array(p.fs[:2]) * self._scale[i]
        ss = np.array(p.ss[:2]) * self._scale[i]
        steps = []
        for v in (ss, fs):  # image (drow, dcol) of one panel step
            d = (-float(v[1]), float(v[0]))
            if sorted(abs(c) for c in d) != [0.0, 1.0]:
                return None
            steps.append((int(d[0]), int(d[1])))
        x, y = self._lab_xy(np.array(i), np.array(0.5), np.array(0.5))
        r0, c0 = int(_nearest(self.y_max - y)), int(_nearest(x - self.x_min))
        (rs, cs), (rf, cf) = steps
        return [r0, c0, int(rs), int(rf), int(cs), int(cf)]

    @functools.cached_property
    def row(self) -> np.ndarray:
        """(n_ss, n_fs) assembled row of each slab pixel, -1 outside panels."""
        return self._slab_maps()[0]

    @functools.cached_property
    def col(self) -> np.ndarray:
        """(n_ss, n_fs) assembled column of each slab pixel, -1 outside panels."""
        return self._slab_maps()[1]

    def _slab_maps(self) -> tuple[np.ndarray, np.ndarray]:
        row = np.full(self.slab_shape, -1, dtype=np.int64)
        col = np.full(self.slab_shape, -1, dtype=np.int64)
        for i, p in enumerate(self.geometry.panels):
            r, c = self._panel_pixels(i)
            row[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = r
            col[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = c
        return row, col

    @functools.cached_property
    def _inverse_flat(self) -> np.ndarray:
        """Assembled (H, W): flat slab index shown at each pixel, -1 in gaps."""
        index = np.arange(self.slab_shape[0] * self.slab_shape[1], dtype=np.int64).reshape(self.slab_shape)
        index[self.geometry.panel_map < 0] = -1
        return self.assemble(index, fill=-1)

    @property
    def inv_ss(self) -> np.ndarray:
        """Assembled (H, W): slab ss shown at each pixel, -1 in gaps."""
        inv = self._inverse_flat
        return np.where(inv >= 0, inv // self.slab_shape[1], -1)

    @property
    def inv_fs(self) -> np.ndarray:
        """Assembled (H, W): slab fs shown at each pixel, -1 in gaps."""
        inv = self._inverse_flat
        return np.where(inv >= 0, inv % self.slab_shape[1], -1)

    # ------------------------------------------------------------ public API
    def _check(self, array: np.ndarray, shape: tuple[int, int], what: str) -> None:
        if array.ndim < 2 or array.shape[-2:] != shape:
            raise InputError(self.geometry.source, what,
                             f"expected an array of shape (..., {shape[0]}, {shape[1]}), got {array.shape}")

    def assemble(self, slab: np.ndarray, fill: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
        """(..., n_ss, n_fs) slab -> (..., H, W) assembled image; gaps get `fill`.

        Pass a preallocated `out` (same dtype, shape (..., H, W)) to reuse memory between frames.
        """
        slab = np.ascontiguousarray(slab)
        self._check(slab, self.slab_shape, "slab")
        lead = slab.shape[:-2]
        if out is None:
            out = np.empty(lead + self.shape, dtype=slab.dtype)
        elif out.shape != lead + self.shape or out.dtype != slab.dtype or not out.flags.c_contiguous:
            raise InputError(None, "out", f"expected a C-contiguous array of shape {lead + self.shape} and "
                                          f"dtype {slab.dtype}, got {out.shape} {out.dtype}")
        self._transfer(slab, out, fill, forward=True)
        return out

    def disassemble(self, image: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(..., H, W) assembled image -> (..., n_ss, n_fs) slab: each panel pixel takes the value
        of its nearest assembled pixel (so a pixel hidden by a tilted neighbour takes the value
        shown there); slab pixels outside every panel get `fill`."""
        image = np.ascontiguousarray(image)
        self._check(image, self.shape, "assembled image")
        out = np.empty(image.shape[:-2] + self.slab_shape, dtype=image.dtype)
        self._transfer(out, image, fill, forward=False)
        return out

    def _transfer(self, slab: np.ndarray, image: np.ndarray, fill: float, forward: bool) -> None:
        """Fill the destination's gaps, then copy blocks and gathered pixels, frame by frame.

        The kernels see same-size unsigned-integer views of the data: a copy does not care
        about the type, and one compiled kernel per item size (not per dtype) keeps numba's
        first-call compilation short.
        """
        if slab.dtype.itemsize not in _UINT:
            raise InputError(None, "data", f"expected items of 1, 2, 4 or 8 bytes, got dtype {slab.dtype}")
        uint = _UINT[slab.dtype.itemsize]
        fill_bits = np.array(fill, dtype=slab.dtype).view(uint)[()]
        s3 = slab.reshape((-1,) + self.slab_shape).view(uint)
        i3 = image.reshape((-1,) + self.shape).view(uint)
        for k in range(s3.shape[0]):
            if forward:
                _fill_runs(i3[k], self._gap_runs, fill_bits)
                _copy_blocks(s3[k], i3[k], self._blocks)
                if self._src_flat.size:
                    _gather(i3[k].ravel(), self._dst_flat, s3[k].ravel(), self._src_flat)
            else:
                # numpy's strided copy beats a numba loop in this direction (measured).
                _fill_runs(s3[k], self._slab_gap_runs, fill_bits)
                for block in self._blocks:
                    s0, f0, h, w = block[:4]
                    s3[k, s0 : s0 + h, f0 : f0 + w] = _image_view(i3[k], block)
                if self._src_flat.size:
                    _gather(s3[k].ravel(), self._src_flat, i3[k].ravel(), self._dst_flat)

    def assembled_mask(self, slab_mask: np.ndarray | None = None) -> np.ndarray:
        """Assembled good-pixel mask: True on good panel pixels, False in gaps and bad pixels."""
        if slab_mask is None:
            slab_mask = self.geometry.panel_map >= 0
        return self.assemble(np.asarray(slab_mask, dtype=bool), fill=False)

    def slab_to_image(
        self, fs: np.ndarray, ss: np.ndarray, panel: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact (sub-pixel) assembled (row, col) of slab coordinates."""
        fs = np.asarray(fs, dtype=np.float64)
        ss = np.asarray(ss, dtype=np.float64)
        if panel is None:
            panel = self.geometry.panel_of(fs, ss)
        panel = np.asarray(panel, dtype=np.int64)
        if np.any(panel < 0):
            raise InputError(self.geometry.source, "slab coordinates", "some positions are outside every panel")
        a = self.geometry._arrays()
        x, y = self._lab_xy(panel, fs - a["min_fs"][panel] + 0.5, ss - a["min_ss"][panel] + 0.5)
        return self.y_max - y, x - self.x_min

    def image_to_slab(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Assembled (row, col), sub-pixel -> (panel, fs, ss); panel -1 in gaps/outside."""
        row = np.asarray(row, dtype=np.float64)
        col = np.asarray(col, dtype=np.float64)
        r0 = _nearest(row)
        c0 = _nearest(col)
        ok = (r0 >= 0) & (r0 < self.shape[0]) & (c0 >= 0) & (c0 < self.shape[1])
        flat = np.full(row.shape, -1, np.int64)
        flat[ok] = self._inverse_flat[r0[ok], c0[ok]]
        ok &= flat >= 0
        panel = np.full(row.shape, -1, np.int32)
        fs = np.full(row.shape, np.nan)
        ss = np.full(row.shape, np.nan)
        if not np.any(ok):
            return panel, fs, ss
        g = self.geometry
        a = g._arrays()
        s0, f0 = np.divmod(flat[ok], self.slab_shape[1])
        p = g.panel_map[s0, f0].astype(np.int64)
        row_exact, col_exact = self.slab_to_image(f0, s0, p)
        scale = self._scale[p]
        dx = (col[ok] - col_exact) / scale
        dy = -(row[ok] - row_exact) / scale
        # Solve [fs_xy ss_xy] [dfs dss]^T = [dx dy]^T per point.
        fx, fy = a["fs"][p, 0], a["fs"][p, 1]
        sx, sy = a["ss"][p, 0], a["ss"][p, 1]
        det = fx * sy - sx * fy
        panel[ok] = p
        fs[ok] = f0 + (dx * sy - sx * dy) / det
        ss[ok] = s0 + (fx * dy - dx * fy) / det
        return panel, fs, ss


def _nearest(x: np.ndarray) -> np.ndarray:
    """Nearest integer with halves rounded up: shift-invariant (unlike np.rint's half-to-even),
    so a panel whose pixel steps are whole image pixels maps to an exact rectangle."""
    return np.floor(np.asarray(x) + 0.5).astype(np.int64)


def _runs(mask: np.ndarray) -> np.ndarray:
    """(n, 3) int64 runs (row, c0, c1) of True pixels, row by row (c1 exclusive)."""
    n_rows, n_cols = mask.shape
    padded = np.zeros((n_rows, n_cols + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded.ravel())  # the zero padding keeps runs from crossing row ends
    starts = np.flatnonzero(d == 1) + 1
    ends = np.flatnonzero(d == -1) + 1
    row, c0 = np.divmod(starts, n_cols + 2)
    return np.column_stack([row, c0 - 1, ends % (n_cols + 2) - 1]).astype(np.int64)
