"""Slab <-> assembled image mapping.

The model sees an *assembled* image: panels placed by their lab x, y (nearest pixel of
the reference pixel size), gaps filled with 0. Row index grows downward in the image,
i.e. towards -y in the lab, so an image shown with row 0 at the top has +y up.

Axis-aligned panels (every common detector) are copied as whole blocks (a slice plus a
transpose/flip), which is several times faster than a per-pixel gather; tilted panels
fall back to a gather through the pixel map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaknet_bench.geometry.model import Geometry


@dataclass
class _Block:
    panel: int
    src: tuple[slice, slice]  # slab slice (ss, fs)
    dst: tuple[slice, slice]  # assembled slice (row, col)
    transpose: bool  # panel ss runs along image columns
    flip_rows: bool
    flip_cols: bool


class Assembler:
    """Pixel maps between a geometry's slab and its assembled image (both directions)."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        ref_res = geometry.panels[0].res
        xy = geometry.lab_pixels_xy()  # panel pixel units
        scale = np.ones(geometry.slab_shape)
        for p in geometry.panels:
            scale[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = ref_res / p.res
        x = xy[..., 0] * scale
        y = xy[..., 1] * scale
        inside = geometry.panel_map >= 0
        self.x_min = float(np.nanmin(x[inside]))
        self.y_max = float(np.nanmax(y[inside]))
        col_exact = x - self.x_min
        row_exact = self.y_max - y
        self._col_exact = col_exact
        self._row_exact = row_exact
        self.row = np.where(inside, np.rint(row_exact), -1).astype(np.int64)
        self.col = np.where(inside, np.rint(col_exact), -1).astype(np.int64)
        self.shape = (int(self.row.max()) + 1, int(self.col.max()) + 1)
        self.slab_shape = geometry.slab_shape
        # Inverse maps: for each assembled pixel the slab pixel it shows (-1 in gaps).
        self.inv_ss = np.full(self.shape, -1, dtype=np.int64)
        self.inv_fs = np.full(self.shape, -1, dtype=np.int64)
        ss_idx, fs_idx = np.nonzero(inside)
        self.inv_ss[self.row[inside], self.col[inside]] = ss_idx
        self.inv_fs[self.row[inside], self.col[inside]] = fs_idx
        self._src_flat = (ss_idx * self.slab_shape[1] + fs_idx)
        self._dst_flat = self.row[inside] * self.shape[1] + self.col[inside]
        self._blocks = self._find_blocks()

    # ------------------------------------------------------------ fast blocks
    def _find_blocks(self) -> list[_Block] | None:
        blocks = []
        for i, p in enumerate(self.geometry.panels):
            r = self.row[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1]
            c = self.col[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1]
            dr_fs, dc_fs = r[0, 1] - r[0, 0] if p.width > 1 else 0, c[0, 1] - c[0, 0] if p.width > 1 else 1
            dr_ss, dc_ss = r[1, 0] - r[0, 0] if p.height > 1 else 1, c[1, 0] - c[0, 0] if p.height > 1 else 0
            if dr_fs == 0 and abs(dc_fs) == 1 and dc_ss == 0 and abs(dr_ss) == 1:
                transpose = False
                flip_rows, flip_cols = dr_ss < 0, dc_fs < 0
            elif dc_fs == 0 and abs(dr_fs) == 1 and dr_ss == 0 and abs(dc_ss) == 1:
                transpose = True
                flip_rows, flip_cols = dr_fs < 0, dc_ss < 0
            else:
                return None
            r0, r1, c0, c1 = r.min(), r.max(), c.min(), c.max()
            block = _Block(
                i, (slice(p.min_ss, p.max_ss + 1), slice(p.min_fs, p.max_fs + 1)),
                (slice(r0, r1 + 1), slice(c0, c1 + 1)), transpose, flip_rows, flip_cols,
            )
            # Verify the block reproduces the exact pixel map (else use the gather path).
            test = np.arange(p.width * p.height).reshape(p.height, p.width)
            if not np.array_equal(self._orient(test, block), self._place_reference(r, c, test, r0, c0)):
                return None
            blocks.append(block)
        return blocks

    @staticmethod
    def _place_reference(r, c, values, r0, c0):
        out = np.empty((r.max() - r0 + 1, c.max() - c0 + 1), dtype=values.dtype)
        out[r - r0, c - c0] = values
        return out

    @staticmethod
    def _orient(a: np.ndarray, b: _Block) -> np.ndarray:
        """Panel array (..., ss, fs) -> its view in image orientation (..., rows, cols)."""
        if b.transpose:
            a = np.swapaxes(a, -1, -2)
        if b.flip_rows:
            a = a[..., ::-1, :]
        if b.flip_cols:
            a = a[..., :, ::-1]
        return a

    # ------------------------------------------------------------ public API
    def assemble(self, slab: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(..., n_ss, n_fs) slab -> (..., H, W) assembled image; gaps get `fill`."""
        slab = np.asarray(slab)
        lead = slab.shape[:-2]
        out = np.full(lead + self.shape, fill, dtype=slab.dtype)
        if self._blocks is not None:
            for b in self._blocks:
                out[(...,) + b.dst] = self._orient(slab[(...,) + b.src], b)
        else:
            flat = out.reshape(lead + (-1,))
            flat[..., self._dst_flat] = slab.reshape(lead + (-1,))[..., self._src_flat]
        return out

    def disassemble(self, image: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(..., H, W) assembled image -> (..., n_ss, n_fs) slab (pixels outside panels get `fill`)."""
        image = np.asarray(image)
        lead = image.shape[:-2]
        out = np.full(lead + self.slab_shape, fill, dtype=image.dtype)
        if self._blocks is not None:
            for b in self._blocks:
                view = image[(...,) + b.dst]
                if b.flip_cols:
                    view = view[..., :, ::-1]
                if b.flip_rows:
                    view = view[..., ::-1, :]
                if b.transpose:
                    view = np.swapaxes(view, -1, -2)
                out[(...,) + b.src] = view
        else:
            flat = out.reshape(lead + (-1,))
            flat[..., self._src_flat] = image.reshape(lead + (-1,))[..., self._dst_flat]
        return out

    def assembled_mask(self, slab_mask: np.ndarray | None = None) -> np.ndarray:
        """Assembled good-pixel mask: True on good panel pixels, False in gaps and bad pixels."""
        if slab_mask is None:
            slab_mask = self.geometry.panel_map >= 0
        return self.assemble(np.asarray(slab_mask, dtype=bool), fill=False)

    def slab_to_image(self, fs: np.ndarray, ss: np.ndarray, panel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact (sub-pixel) assembled (row, col) of slab coordinates."""
        fs = np.asarray(fs, dtype=np.float64)
        ss = np.asarray(ss, dtype=np.float64)
        if panel is None:
            panel = self.geometry.panel_of(fs, ss)
        g = self.geometry
        a = g._arrays()
        panel = np.asarray(panel, dtype=np.int64)
        u = fs - a["min_fs"][panel] + 0.5
        v = ss - a["min_ss"][panel] + 0.5
        scale = g.panels[0].res / a["res"][panel]
        x = (a["corner"][panel, 0] + u * a["fs"][panel, 0] + v * a["ss"][panel, 0]) * scale
        y = (a["corner"][panel, 1] + u * a["fs"][panel, 1] + v * a["ss"][panel, 1]) * scale
        return self.y_max - y, x - self.x_min

    def image_to_slab(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Assembled (row, col), sub-pixel -> (panel, fs, ss); panel -1 in gaps/outside."""
        row = np.asarray(row, dtype=np.float64)
        col = np.asarray(col, dtype=np.float64)
        r0 = np.rint(row).astype(np.int64)
        c0 = np.rint(col).astype(np.int64)
        ok = (r0 >= 0) & (r0 < self.shape[0]) & (c0 >= 0) & (c0 < self.shape[1])
        s0 = np.full(row.shape, -1, np.int64)
        f0 = np.full(row.shape, -1, np.int64)
        s0[ok] = self.inv_ss[r0[ok], c0[ok]]
        f0[ok] = self.inv_fs[r0[ok], c0[ok]]
        ok &= s0 >= 0
        panel = np.full(row.shape, -1, np.int32)
        fs = np.full(row.shape, np.nan)
        ss = np.full(row.shape, np.nan)
        if not np.any(ok):
            return panel, fs, ss
        g = self.geometry
        a = g._arrays()
        p = g.panel_map[s0[ok], f0[ok]].astype(np.int64)
        scale = g.panels[0].res / a["res"][p]
        dx = (col[ok] - self._col_exact[s0[ok], f0[ok]]) / scale
        dy = -(row[ok] - self._row_exact[s0[ok], f0[ok]]) / scale
        # Solve [fs_xy ss_xy] [dfs dss]^T = [dx dy]^T per point.
        fx, fy = a["fs"][p, 0], a["fs"][p, 1]
        sx, sy = a["ss"][p, 0], a["ss"][p, 1]
        det = fx * sy - sx * fy
        dfs = (dx * sy - sx * dy) / det
        dss = (fx * dy - dx * fy) / det
        panel[ok] = p
        fs[ok] = f0[ok] + dfs
        ss[ok] = s0[ok] + dss
        return panel, fs, ss
