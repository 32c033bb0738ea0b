"""Geometry transforms: pixel -> lab -> q, rays -> slab, slab <-> assembled image, bad-pixel masks."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaknet_bench.errors import InputError
from peaknet_bench.geometry import PRESETS, Assembler, BadRegion, Geometry, Panel, load_geometry, preset

DATA = Path(__file__).parent / "data" / "geom"


def _tilted_epix() -> Geometry:
    """The Epix preset with every module tilted by 0.6° out of the detector plane (fs gains a z
    component), so no panel is an exact image block and assembly takes the gather path."""
    t = math.radians(0.6)
    g = preset("epix10k2m")
    panels = [replace(p, fs=(p.fs[0] * math.cos(t), p.fs[1] * math.cos(t), math.sin(t))) for p in g.panels]
    return replace(g, panels=panels, source="tilted")


def test_q_matches_hand_calculation():
    g = preset("epix10k2m", clen_m=0.1, photon_energy_ev=9500.0)
    p = g.panels[0]  # quadrant 0: fs = +x, ss = -y
    fs, ss = 10.0, 20.0
    # Pixel centre in lab pixels: the corner plus (i + 0.5) steps along fs and ss (SPEC-crystfel §3).
    x_px = p.corner_x + (fs + 0.5) * 1.0
    y_px = p.corner_y - (ss + 0.5) * 1.0
    x, y, z = x_px / 10000.0, y_px / 10000.0, 0.1
    wavelength = 12398.42 / 9500.0
    two_theta = math.atan2(math.hypot(x, y), z)
    phi = math.atan2(y, x)
    k = 1.0 / wavelength
    # q = k_out - k_in with |k| = 1/λ (no 2π), SPEC-physics §1, written via angles.
    expected = np.array([k * math.sin(two_theta) * math.cos(phi), k * math.sin(two_theta) * math.sin(phi),
                         k * math.cos(two_theta) - k])
    q = g.q_vectors(np.array([fs]), np.array([ss]), wavelength)[0]
    np.testing.assert_allclose(q, expected, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(q) == pytest.approx(2 * math.sin(two_theta / 2) / wavelength, rel=1e-12)
    np.testing.assert_allclose(g.lab_position_m(np.array([fs]), np.array([ss]))[0], [x, y, z], rtol=1e-12)


def test_q_on_tilted_panel_with_coffset():
    # Panel with a z component on fs and a coffset: z = (clen + coffset)·res + u·fs_z + v·ss_z.
    p = Panel("t", 0, 99, 0, 49, corner_x=-50.0, corner_y=30.0, fs=(0.9999, 0.0016, -0.002),
              ss=(0.0016, -0.9999, 0.001), res=5000.0, coffset=0.003)
    g = Geometry(panels=[p], clen_m=0.2)
    u, v = 7.25 + 0.5, 3.5 + 0.5
    pos = np.array([-50.0 + u * 0.9999 + v * 0.0016, 30.0 + u * 0.0016 - v * 0.9999,
                    0.203 * 5000.0 - u * 0.002 + v * 0.001]) / 5000.0
    np.testing.assert_allclose(g.lab_position_m(np.array([7.25]), np.array([3.5]))[0], pos, rtol=1e-12)


# Presets on a pixel grid; `cspad` carries a real metrology (small rotations: a few pixels
# collide, as test_facility_file_hidden_pixels_are_the_only_losses checks for such a file).
@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"cspad"}))
def test_assemble_disassemble_identity_presets(name, rng):
    g = preset(name)
    asm = Assembler(g)
    assert asm.n_hidden == 0 and len(asm._blocks) == g.n_panels  # every preset panel is a block
    slab = rng.random(g.slab_shape, dtype=np.float32)
    image = asm.assemble(slab)
    inside = g.panel_map >= 0
    back = asm.disassemble(image, fill=-1.0)
    np.testing.assert_array_equal(back[inside], slab[inside])
    assert np.all(back[~inside] == -1.0)
    # Gaps are exactly the pixels that show no panel, and hold the fill value.
    mask = asm.assembled_mask()
    assert mask.sum() == inside.sum()
    assert np.all(image[~mask] == 0)
    # Values are where the pixel map says.
    ss, fs = rng.integers(0, g.slab_shape[0], 50), rng.integers(0, g.slab_shape[1], 50)
    ok = inside[ss, fs]
    np.testing.assert_array_equal(image[asm.row[ss[ok], fs[ok]], asm.col[ss[ok], fs[ok]]], slab[ss[ok], fs[ok]])


def test_assemble_gather_fallback_identity(rng):
    g = _tilted_epix()
    asm = Assembler(g)
    assert len(asm._blocks) == 0 and asm._src_flat.size == 64 * 192 * 176
    assert asm.n_hidden == 0
    slab = rng.random(g.slab_shape)
    back = asm.disassemble(asm.assemble(slab))
    np.testing.assert_array_equal(back, slab)
    # Stacked frames (..., ss, fs) and a preallocated output give the same image.
    stack = np.stack([slab, 2 * slab]).astype(np.float32)
    out = np.empty((2,) + asm.shape, np.float32)
    asm.assemble(stack, out=out)
    np.testing.assert_array_equal(out[1], asm.assemble(stack[1]))


@pytest.mark.parametrize("source", ["file", "preset"])
def test_facility_file_hidden_pixels_are_the_only_losses(rng, source):
    # 0.15° rotations: a few pixels collide
    g = load_geometry(str(DATA / "cspad_cxi.geom")) if source == "file" else preset("cspad")
    asm = Assembler(g)
    slab = rng.random(g.slab_shape)
    back = asm.disassemble(asm.assemble(slab))
    assert 0 < asm.n_hidden < 100
    assert np.count_nonzero(back != slab) == asm.n_hidden


def test_assemble_rejects_wrong_shape():
    asm = Assembler(preset("rayonix-mx340-4x4"))
    with pytest.raises(InputError, match=r"expected an array of shape \(\.\.\., 1920, 1920\)"):
        asm.assemble(np.zeros((10, 10)))


@pytest.mark.parametrize("make", [lambda: preset("epix10k2m"), _tilted_epix,
                                  lambda: load_geometry(str(DATA / "agipd1m_spb.geom"))])
def test_slab_image_subpixel_round_trip(make, rng):
    g = make()
    asm = Assembler(g)
    n = 400
    panel = rng.integers(0, g.n_panels, n)
    a = g._arrays()
    fs = a["min_fs"][panel] + rng.uniform(0, 1, n) * (a["width"][panel] - 1)
    ss = a["min_ss"][panel] + rng.uniform(0, 1, n) * (a["height"][panel] - 1)
    row, col = asm.slab_to_image(fs, ss, panel)
    p2, fs2, ss2 = asm.image_to_slab(row, col)
    found = p2 >= 0
    assert found.mean() > 0.99  # only points on a collided pixel may land on the neighbour panel
    np.testing.assert_array_equal(p2[found], panel[found])
    np.testing.assert_allclose(fs2[found], fs[found], atol=1e-9)
    np.testing.assert_allclose(ss2[found], ss[found], atol=1e-9)
    # Off-detector points map to panel -1.
    p3, fs3, _ = asm.image_to_slab(np.array([-5.0, asm.shape[0] + 3.0]), np.array([0.0, 0.0]))
    assert p3.tolist() == [-1, -1] and np.isnan(fs3).all()


@pytest.mark.parametrize("make", [lambda: preset("jungfrau4m"), _tilted_epix,
                                  lambda: load_geometry(str(DATA / "epix10ka2m_mfx.geom"))])
def test_ray_to_slab_inverts_lab_position(make, rng):
    g = make()
    a = g._arrays()
    panel = rng.integers(0, g.n_panels, 300)
    fs = a["min_fs"][panel] + rng.uniform(-0.49, a["width"][panel] - 0.51)
    ss = a["min_ss"][panel] + rng.uniform(-0.49, a["height"][panel] - 0.51)
    pos = g.lab_position_m(fs, ss, panel, clen_m=0.12)
    p2, fs2, ss2 = g.ray_to_slab(pos * 3.7, clen_m=0.12)  # any positive scale is the same ray
    np.testing.assert_array_equal(p2, panel)
    np.testing.assert_allclose(fs2, fs, atol=1e-7)
    np.testing.assert_allclose(ss2, ss, atol=1e-7)
    miss, _, _ = g.ray_to_slab(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), clen_m=0.12)
    assert miss.tolist() == [-1, -1]  # through the central hole, and backwards


def test_bad_pixel_mask_both_forms():
    p = Panel("p", 0, 99, 0, 49, corner_x=-50.0, corner_y=25.0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0))
    q = replace(p, name="q", min_ss=50, max_ss=99, corner_y=-30.0)
    regions = [
        BadRegion("bad_slab", panel="q", min_fs=10, max_fs=19, min_ss=60, max_ss=64),
        BadRegion("bad_lab", min_x=-2.0, max_x=2.0, min_y=0.0, max_y=100.0),
    ]
    g = Geometry(panels=[p, q], bad_regions=regions, clen_m=0.1)
    good = g.bad_pixel_mask()
    expected = np.ones((100, 100), bool)
    expected[60:65, 10:20] = False
    # Lab form: pixel centres x = -50 + fs + 0.5 in [-2, 2] -> fs 48..51; y = 25 - ss - 0.5 >= 0 -> ss 0..24.
    expected[0:25, 48:52] = False
    np.testing.assert_array_equal(good, expected)
    g2 = replace(g, panels=[p, replace(q, no_index=True)])
    assert not g2.bad_pixel_mask()[50:].any()


def test_preset_panels_do_not_overlap_in_the_lab():
    for name in PRESETS:
        g = preset(name)
        a = g._arrays()
        # Presets are axis aligned: each panel is a lab rectangle [x0, x1) x [y0, y1) in metres.
        c0 = a["corner"] / a["res"][:, None]
        far = a["corner"] + a["width"][:, None] * a["fs"][:, :2] + a["height"][:, None] * a["ss"][:, :2]
        c1 = far / a["res"][:, None]
        lo, hi = np.minimum(c0, c1), np.maximum(c0, c1)
        overlap = np.all((lo[:, None] < hi[None] - 1e-12) & (lo[None] < hi[:, None] - 1e-12), axis=-1)
        np.fill_diagonal(overlap, False)
        assert not overlap.any(), name
        # The beam passes through the central hole of the tiled detectors and hits the
        # single-panel one in its middle.
        hit, fs, ss = g.ray_to_slab(np.array([[0.0, 0.0, 1.0]]))
        if g.n_panels > 1:
            assert hit[0] == -1, name
        else:
            assert (fs[0], ss[0]) == pytest.approx((959.5, 959.5)), name


def test_epix_preset_layout_numbers():
    g = preset("epix10k2m")
    assert g.n_panels == 64 and g.slab_shape == (5632, 384)
    assert {(p.width, p.height) for p in g.panels} == {(192, 176)}
    j = preset("jungfrau4m")
    assert j.n_panels == 64 and j.slab_shape == (4096, 1024) and j.panels[0].pixel_size_m == pytest.approx(75e-6)
    r = preset("rayonix-mx340-4x4")
    assert r.slab_shape == (1920, 1920) and r.panels[0].pixel_size_m == pytest.approx(177e-6)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_gap_runs_cover_exactly_the_mask(rows, cols, seed):
    from peaknet_bench.geometry.assemble import _runs

    mask = np.random.default_rng(seed).random((rows, cols)) < 0.5
    back = np.zeros_like(mask)
    for r, c0, c1 in _runs(mask):
        assert c1 > c0
        back[r, c0:c1] = True
    np.testing.assert_array_equal(back, mask)


def test_ray_to_slab_chunks_agree(rng):
    g = preset("epix10k2m")
    n = (1 << 22) // g.n_panels + 500  # just over one chunk of rays
    d = np.column_stack([rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), np.ones(n)])
    whole = g.ray_to_slab(d)
    tail = g.ray_to_slab(d[-1000:])
    for a, b in zip(whole, tail):
        np.testing.assert_array_equal(a[-1000:], b)
    assert 0.3 < (whole[0] >= 0).mean() < 1.0
