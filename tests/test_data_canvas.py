"""CanvasPlan: one-pass slab → canvas placement against a plain assemble-and-shift reference."""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.data.canvas import CanvasPlan, beam_offsets, good_moments
from peaknet_bench.geometry import Assembler, Geometry, Panel


def _quarter_turned() -> Geometry:
    """Four panels: plain, fs→-x (flipped), fs→+y and fs→-y (transposed), with gaps."""
    kw = dict(res=5000.0, adu_per_photon=1.0)
    panels = [
        Panel("a", 0, 11, 0, 7, corner_x=-14, corner_y=12, fs=(1, 0, 0), ss=(0, -1, 0), **kw),
        Panel("b", 0, 11, 8, 15, corner_x=14, corner_y=-2, fs=(-1, 0, 0), ss=(0, 1, 0), **kw),
        Panel("c", 0, 11, 16, 23, corner_x=2, corner_y=1, fs=(0, 1, 0), ss=(1, 0, 0), **kw),
        Panel("d", 0, 11, 24, 31, corner_x=-12, corner_y=-1, fs=(0, -1, 0), ss=(-1, 0, 0), **kw),
    ]
    return Geometry(panels=panels, clen_m=0.1, photon_energy_ev=9500.0, source="quarter-turned")


def _tilted() -> Geometry:
    """A panel rotated by 30°: not a block, so every canvas run is short (gather path)."""
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    panel = Panel("t", 0, 15, 0, 9, corner_x=-8, corner_y=6, fs=(c, s, 0), ss=(s, -c, 0), res=5000.0)
    return Geometry(panels=[panel], clen_m=0.1, photon_energy_ev=9500.0, source="tilted")


def _reference(asm: Assembler, slab, mask, label, size, offset, mean, scale):
    img = asm.assemble(slab)
    m = asm.assemble(mask, fill=False)
    lab = asm.assemble(label)
    out = np.zeros(size, np.float32), np.zeros(size, np.uint8), np.zeros(size, bool)
    for r in range(size[0]):
        for c in range(size[1]):
            sr, sc = r - offset[0], c - offset[1]
            if 0 <= sr < img.shape[0] and 0 <= sc < img.shape[1] and m[sr, sc]:
                out[0][r, c] = (img[sr, sc] - np.float32(mean)) * np.float32(scale)
                out[1][r, c], out[2][r, c] = lab[sr, sc], True
    return out


@pytest.mark.parametrize("geometry", [_quarter_turned(), _tilted()], ids=["quarter-turned", "tilted"])
@pytest.mark.parametrize("size,offset", [(None, (0, 0)), ((48, 40), (7, 3)), ((12, 10), (-5, -9)), ((8, 8), (60, 0))])
def test_fill_matches_assemble_and_shift(geometry, size, offset):
    rng = np.random.default_rng(0)
    asm = Assembler(geometry)
    slab = rng.normal(10, 3, geometry.slab_shape).astype(np.float32)
    mask = rng.random(geometry.slab_shape) > 0.1
    label = rng.integers(0, 3, geometry.slab_shape).astype(np.uint8)
    plan = CanvasPlan.build(asm, size, offset)
    H, W = plan.size
    out = np.full((H, W), np.nan, np.float32), np.full((H, W), 7, np.uint8), np.ones((H, W), bool)
    plan.fill(slab, mask, out[0], out[2], label=label, out_label=out[1], mean=10.0, scale=0.5)
    want = _reference(asm, slab, mask, label, (H, W), offset, 10.0, 0.5)
    for got, exp in zip(out, want):
        np.testing.assert_array_equal(got, exp)  # every pixel written, padding included


def test_runs_are_long_for_block_panels():
    asm = Assembler(_quarter_turned())
    plan = CanvasPlan.build(asm)
    # Plain and flipped panels: one run per panel row; transposed ones: one per panel column.
    assert plan.col.size == 8 + 8 + 12 + 12
    assert set(np.abs(plan.step).tolist()) == {1, 12}


def test_good_moments_and_beam_offsets():
    rng = np.random.default_rng(1)
    image = rng.normal(1e4, 2.0, (30, 20)).astype(np.float32)  # large offset: shifted sums stay exact
    mask = rng.random((30, 20)) > 0.3
    n, mean, std = good_moments(image, mask)
    good = image[mask].astype(np.float64)
    assert n == mask.sum() and mean == pytest.approx(good.mean(), rel=1e-12) and std == pytest.approx(good.std(), rel=1e-9)
    assert good_moments(image, np.zeros_like(mask)) == (0, 0.0, 1.0)
    assert beam_offsets((10.0, 20.0), (64, 96)) == (22, 28)  # beam lands on ((64-1)/2, (96-1)/2) rounded
