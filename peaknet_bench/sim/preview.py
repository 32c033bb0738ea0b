"""A quick look at one simulated frame: the assembled image with its true peaks circled."""

from __future__ import annotations

import os

import numpy as np

from peaknet_bench.frame import Frame
from peaknet_bench.util.atomic import atomic_path


def render_preview(frame: Frame, path: str | os.PathLike, title: str = "", dpi: int = 110) -> None:
    """Write a PNG: assembled image (log scale from the median to the 99.95th percentile of good
    pixels, so the background is dark and the spots stand out), found-able
    reflections circled in red, other kept reflections as small cyan dots; bad pixels grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from peaknet_bench.geometry import Assembler

    asm = Assembler(frame.geometry)
    image = asm.assemble(frame.data.astype(np.float32))
    good = asm.assembled_mask(frame.mask)
    values = image[good]
    lo, hi = np.percentile(values, [50.0, 99.95]) if values.size else (0.0, 1.0)
    scaled = np.log1p(np.clip(image - lo, 0, None)) / np.log1p(max(hi - lo, 1e-6))
    shown = np.ma.masked_array(np.clip(scaled, 0, 1), mask=~good)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="0.35")
    h, w = image.shape
    fig, ax = plt.subplots(figsize=(9.0, 9.0 * h / w + 0.4))
    ax.imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    truth = frame.truth
    n_refl = n_found = 0
    if truth is not None and len(truth.reflections):
        r = truth.reflections
        rows, cols = asm.slab_to_image(r.fs, r.ss, r.panel)
        f = truth.foundable
        n_refl, n_found = len(r), int(f.sum())
        ax.scatter(cols[~f], rows[~f], s=4, c="cyan", marker=".", linewidths=0, alpha=0.6)
        ax.scatter(cols[f], rows[f], s=60, facecolors="none", edgecolors="red", linewidths=0.7)
    ax.set_title(f"{title}  {frame.event}: {n_refl} reflections, {n_found} found-able (red)", fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
