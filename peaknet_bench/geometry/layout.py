"""What `peaknet-bench geom show|render|write` print, draw and write: a geometry's summary
numbers, its panel layout as a PNG, and a copy with another beam (the commands are in
`peaknet_bench.io.commands`, which also reads geometries from detector files)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError


def panel_corners_m(geometry, panel=None, fs0=None, fs1=None, ss0=None, ss1=None) -> np.ndarray:
    """(n, 4, 2) lab x, y in metres of the outer corners of panel rectangles (whole panels
    by default, or slab sub-rectangles fs0..fs1, ss0..ss1 inclusive of panels `panel`)."""
    a = geometry._arrays()
    if panel is None:
        panel = np.arange(geometry.n_panels)
        fs0, ss0 = a["min_fs"], a["min_ss"]
        fs1, ss1 = fs0 + a["width"] - 1, ss0 + a["height"] - 1
    u0, u1 = fs0 - a["min_fs"][panel], fs1 - a["min_fs"][panel] + 1
    v0, v1 = ss0 - a["min_ss"][panel], ss1 - a["min_ss"][panel] + 1
    u = np.stack([u0, u1, u1, u0], 1)
    v = np.stack([v0, v0, v1, v1], 1)
    fs, ss = a["fs"][panel, None, :2], a["ss"][panel, None, :2]
    xy = a["corner"][panel, None, :] + u[..., None] * fs + v[..., None] * ss
    return xy / a["res"][panel, None, None]


def slab_region_corners_mm(geometry, region) -> np.ndarray:
    """Lab polygons (mm) of a slab-form bad region, clipped to each panel it touches."""
    names = [region.panel] if region.panel is not None else geometry.panel_names()
    polys = []
    for name in names:
        i = geometry.panel_index(name)
        p = geometry.panels[i]
        fs0, fs1 = max(region.min_fs, p.min_fs), min(region.max_fs, p.max_fs)
        ss0, ss1 = max(region.min_ss, p.min_ss), min(region.max_ss, p.max_ss)
        if fs1 >= fs0 and ss1 >= ss0:
            polys.append(panel_corners_m(geometry, np.array([i]), np.array([fs0]), np.array([fs1]),
                                          np.array([ss0]), np.array([ss1]))[0] * 1e3)
    return np.array(polys).reshape(-1, 4, 2)


def summarize(geometry, photon_energy_ev: float | None = None, clen_m: float | None = None) -> dict[str, Any]:
    """The numbers `geom show` prints (also used by the tests)."""
    from peaknet_bench.frame import wavelength_a
    from peaknet_bench.geometry import Assembler

    from peaknet_bench.geometry.model import check_photon_energy

    g = geometry
    if photon_energy_ev is not None:
        check_photon_energy(photon_energy_ev, None, "--photon-energy")
    if clen_m is not None:
        g.panel_clen_m(clen_m)  # a camera length that puts a panel at or behind the sample is an error
    corners_mm = panel_corners_m(g) * 1e3
    energy = photon_energy_ev if photon_energy_ev is not None else g.photon_energy_ev
    clen = clen_m if clen_m is not None else g.clen_m
    has_clen = clen is not None or all(p.clen_m is not None for p in g.panels)
    resolution = None
    if energy is not None and has_clen:
        resolution = g.max_resolution_a(wavelength_a(energy), clen)
    asm = Assembler(g)
    return {
        "source": g.source,
        "n_panels": g.n_panels,
        "pixel_size_um": sorted({round(p.pixel_size_m * 1e6, 4) for p in g.panels}),
        "clen_m": clen,
        "clen_path": g.clen_path if clen_m is None else None,
        "photon_energy_ev": energy,
        "photon_energy_path": g.photon_energy_path if photon_energy_ev is None else None,
        "extent_mm": {"x": [float(corners_mm[..., 0].min()), float(corners_mm[..., 0].max())],
                      "y": [float(corners_mm[..., 1].min()), float(corners_mm[..., 1].max())]},
        "slab_shape": list(g.slab_shape),
        "assembled_shape": list(asm.shape),
        "edge_resolution_a": resolution,
        "n_bad_regions": len(g.bad_regions),
        "n_groups": len(g.groups),
        "n_rigid_groups": len(g.rigid_groups),
        "n_good_pixels": int(g.bad_pixel_mask().sum()),
    }


def render_layout(geometry, output: str, dpi: int = 150, names: bool = True) -> dict[str, Any]:
    """Draw the panels (names, fs arrows, bad regions, the beam) in lab coordinates to a PNG,
    written atomically; the summary of what was drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from peaknet_bench.util.atomic import atomic_path

    g = geometry
    corners = panel_corners_m(g) * 1e3  # mm
    fig, ax = plt.subplots(figsize=(9, 9))
    ax.add_collection(PolyCollection(corners, facecolors="#dbe7f3", edgecolors="#1f4e79", linewidths=0.6))
    span = float(np.ptp(corners[..., 0].ravel().tolist() + corners[..., 1].ravel().tolist()))
    a = g._arrays()
    for i, p in enumerate(g.panels):
        c = corners[i]
        if names and g.n_panels <= 256:
            ax.text(*c.mean(axis=0), p.name, ha="center", va="center", fontsize=max(3.0, 9.0 - g.n_panels / 32))
        # fs arrow from the first pixel's corner, a third of the panel long.
        fs_mm = a["fs"][i, :2] / a["res"][i] * 1e3 * p.width / 3
        ax.annotate("", xy=c[0] + fs_mm, xytext=c[0],
                    arrowprops={"arrowstyle": "->", "color": "#c0392b", "lw": 0.8})
    mask = g.bad_pixel_mask()
    n_lab = 0
    slab_polys = [slab_region_corners_mm(g, r) for r in g.bad_regions if not r.is_lab]
    if slab_polys:
        ax.add_collection(PolyCollection(np.concatenate(slab_polys), facecolors="#e74c3c", alpha=0.5, linewidths=0))
    for region in g.bad_regions:
        if region.is_lab:  # lab pixel units of the first panel
            p0 = g.panels[0]
            x0, x1 = region.min_x / p0.res * 1e3, region.max_x / p0.res * 1e3
            y0, y1 = region.min_y / p0.res * 1e3, region.max_y / p0.res * 1e3
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, hatch="///", color="#7f0000", lw=0.6))
            n_lab += 1
    ax.plot([0], [0], marker="+", color="red", markersize=14, mew=2, label="beam (0, 0)")
    ax.set_xlim(corners[..., 0].min() - 0.03 * span, corners[..., 0].max() + 0.03 * span)
    ax.set_ylim(corners[..., 1].min() - 0.03 * span, corners[..., 1].max() + 0.03 * span)
    ax.set_aspect("equal")
    ax.set_xlabel("lab x (mm)")
    ax.set_ylabel("lab y (mm)")
    ax.set_title(f"{g.source}: {g.n_panels} panels, {int(mask.sum())} good pixels\n"
                 "(arrows: fs from each panel's first pixel; red: bad regions)", fontsize=10)
    ax.legend(loc="best")
    out = str(output)
    if not out.lower().endswith(".png"):
        raise InputError(out, None, "expected an output file name ending in .png")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return {"output": out, "n_panels": g.n_panels, "n_lab_bad_regions": n_lab,
            "n_slab_bad_regions": len(slab_polys), "dpi": dpi}


def with_beam(geometry, clen_m: float | None = None, photon_energy_ev: float | None = None):
    """The geometry with a fixed camera length and/or photon energy (values read from the data
    are replaced); None keeps what it has."""
    from peaknet_bench.geometry.model import check_camera_length, check_photon_energy

    g = geometry
    if photon_energy_ev is not None:
        check_photon_energy(photon_energy_ev, None, "--photon-energy")
    if clen_m is not None:
        check_camera_length(clen_m, None, "--clen")
        g = replace(g, clen_m=clen_m, clen_path=None,
                    panels=[replace(p, clen_m=None, clen_path=None) for p in g.panels])
    if photon_energy_ev is not None:
        g = replace(g, photon_energy_ev=photon_energy_ev, photon_energy_path=None, photon_energy_scale=None)
    return g
