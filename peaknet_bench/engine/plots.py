"""PeakDiff plots in the style of the paper's Figures 2 and 3 (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from peaknet_bench.util.atomic import atomic_path

if TYPE_CHECKING:
    from peaknet_bench.engine.peakdiff import FrameMatch
    from peaknet_bench.frame import Frame, PeakList


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return str(path)


def plot_frame_matches(
    frame: "Frame", found: "PeakList", predicted: "PeakList", match: "FrameMatch", path: str | Path,
    labels: tuple[str, str] = ("found", "predicted"),
) -> str:
    """Figure 2: the assembled image with found peaks (squares), predictions (triangles) and
    matched pairs circled."""
    from peaknet_bench.geometry import Assembler

    plt = _pyplot()
    asm = Assembler(frame.geometry)
    img = asm.assemble(np.where(frame.mask, frame.data, 0.0))
    fig, ax = plt.subplots(figsize=(8, 8))
    good = img[img > 0]
    vmax = float(np.percentile(good, 99.5)) if good.size else 1.0
    ax.imshow(img, cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
    fr, fc = asm.slab_to_image(found.fs, found.ss, found.panel if np.all(found.panel >= 0) else None)
    pr, pc = asm.slab_to_image(predicted.fs, predicted.ss, predicted.panel if np.all(predicted.panel >= 0) else None)
    ax.scatter(fc, fr, marker="s", s=40, facecolors="none", edgecolors="gold", linewidths=1.0, label=f"{labels[0]} ({len(found)})")
    ax.scatter(pc, pr, marker="^", s=40, facecolors="none", edgecolors="red", linewidths=1.0, label=f"{labels[1]} ({len(predicted)})")
    if match.n_matched:
        mr, mc = fr[match.found_index], fc[match.found_index]
        ax.scatter(mc, mr, marker="o", s=160, facecolors="none", edgecolors="cyan", linewidths=1.2,
                   label=f"matched ({match.n_matched})")
    ax.set_title(f"{frame.event}: precision {match.precision:.2f}, recall {match.recall:.2f}")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_axis_off()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_counts_and_pr(
    n_found: np.ndarray, n_predicted: np.ndarray, precision: np.ndarray, recall: np.ndarray,
    selected: np.ndarray, out_dir: str | Path, min_precision: float = 0.8,
) -> list[str]:
    """Figure 3: found vs. predicted counts, and precision vs. recall with the selection box."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5))
    sel = np.asarray(selected, bool)
    a.scatter(n_predicted[~sel], n_found[~sel], s=6, c="0.6", label="rejected")
    a.scatter(n_predicted[sel], n_found[sel], s=6, c="C0", label="selected")
    top = max(1, int(np.max(np.r_[n_found, n_predicted, 1])))
    a.plot([0, top], [0, top], "k--", lw=0.8)
    a.set_xlabel("predicted peaks (indexing)")
    a.set_ylabel("found peaks")
    a.legend()
    ok = np.isfinite(precision) & np.isfinite(recall)
    b.scatter(recall[ok & ~sel], precision[ok & ~sel], s=6, c="0.6")
    b.scatter(recall[ok & sel], precision[ok & sel], s=6, c="C0")
    b.add_patch(plt.Rectangle((0, min_precision), 1.0, 1.0 - min_precision, fill=False, ls="--", ec="k"))
    b.set_xlim(0, 1.02)
    b.set_ylim(0, 1.02)
    b.set_xlabel("recall (matched / predicted)")
    b.set_ylabel("precision (matched / found)")
    path = _save(fig, out_dir / "peakdiff_counts_pr.png")
    plt.close(fig)
    return [path]
