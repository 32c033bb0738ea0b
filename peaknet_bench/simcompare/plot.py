"""The `sim compare` figure (matplotlib, Agg): real and simulated side by side in six panels —
radial background profile, pixel-value histogram, spot FWHM, spot intensity, spots per frame
and the spots' resolution (spots per frame per |q| bin)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.util.atomic import atomic_path

COLOURS = {"real": "#1f4e9c", "simulated": "#d9622b"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _steps(ax, hist: dict[str, Any], xlabel: str, log_x: bool = False, scale: dict[str, float] | None = None) -> None:
    edges = np.asarray(hist["edges"], np.float64)
    for name in ("real", "simulated"):
        h = hist[name]
        e = edges / (scale or {}).get(name, 1.0)
        frac = np.asarray(h["fraction"], np.float64)
        ax.stairs(frac, e, color=COLOURS[name], lw=1.4, label=f"{name} (n={h['n']})")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=7, frameon=False)


def plot_comparison(result: dict[str, Any], path: str | os.PathLike, dpi: int = 80) -> str:
    """Write the figure of a `compare_real_and_simulated` result to `path` (atomically)."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 7.6))
    real, sim = result["real"], result["simulated"]
    gains = {"real": real["gain"]["adu_per_photon"], "simulated": sim["gain"]["adu_per_photon"]}
    q = np.asarray(result["q_centres"], np.float64)

    ax = axes[0, 0]  # radial profile, photons
    for name, s in (("real", real), ("simulated", sim)):
        p = {k: np.asarray(v, np.float64) / gains[name] for k, v in s["profile"].items() if k != "n_pixels"}
        ax.fill_between(q, p["p16"], p["p84"], color=COLOURS[name], alpha=0.2, lw=0)
        ax.plot(q, p["median"], color=COLOURS[name], lw=1.6, label=f"{name} median (16-84 %)")
        ax.plot(q, p["trimmed_mean"], color=COLOURS[name], lw=1.0, ls="--", label=f"{name} trimmed mean")
    ax.set_xlabel("|q| = 1/d (1/Å)")
    ax.set_ylabel("pixel value (photons)")
    ax.set_title("radial background profile")
    top = np.nanmax([np.nanmax(np.asarray(s["profile"]["p84"], np.float64) / gains[n])
                     for n, s in (("real", real), ("simulated", sim))])
    if np.isfinite(top) and top > 0:
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.15 * top)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[0, 1]  # pixel values, ADU, log counts
    _steps(ax, result["histograms"]["pixel_adu"], "pixel value (ADU)")
    ax.set_yscale("log")
    ax.set_title("pixel values (good pixels)")

    ax = axes[0, 2]
    _steps(ax, result["histograms"]["fwhm"], "FWHM (px, pseudo-Voigt fit)")
    ax.set_title("spot size (accepted fits)")

    ax = axes[1, 0]
    _steps(ax, result["histograms"]["intensity_photons"], "intensity in fit window (photons)", log_x=True)
    ax.set_title("spot intensity")

    ax = axes[1, 1]  # spots per frame
    for k, (name, s) in enumerate((("real", real), ("simulated", sim))):
        n = np.array([f["n_spots"] for f in s["frames"]], np.float64)
        x = k + np.linspace(-0.15, 0.15, n.size) if n.size > 1 else np.array([float(k)])
        ax.scatter(x, n, color=COLOURS[name], s=22, zorder=3)
        if n.size:
            ax.hlines(np.median(n), k - 0.3, k + 0.3, color=COLOURS[name], lw=2)
    ax.set_xticks([0, 1], [f"real ({real['n_frames']})", f"simulated ({sim['n_frames']})"])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel("spots per frame")
    ax.set_title("spots per frame (bar: median)")

    ax = axes[1, 2]  # where the spots are: spots per frame per |q| bin
    h = result["histograms"]["spot_q"]
    for name in ("real", "simulated"):
        ax.stairs(np.asarray(h[name]["per_frame"], np.float64), np.asarray(h["edges"], np.float64),
                  color=COLOURS[name], lw=1.4, label=f"{name} ({h[name]['n']} spots)")
    ax.set_xlabel("|q| = 1/d (1/Å)")
    ax.set_ylabel("spots per frame")
    ax.set_title("spot resolution")
    ax.legend(fontsize=7, frameon=False)

    finder = result["finder"]
    thr = finder.get("params", {}).get("threshold")
    files = result.get("real_files") or []
    name = (result.get("experiment") or {}).get("name", "simulated")
    fig.suptitle(f"{', '.join(Path(p).name for p in files[:4]) or 'real'}"
                 f"{' ...' if len(files) > 4 else ''} vs {name} "
                 f"(finder {finder['name']}{f', threshold {thr:g} ADU' if thr is not None else ''})", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return str(path)
