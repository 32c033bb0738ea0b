"""Training curves (loss, learning rate, validation F1/IoU) from a trainer's log.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import atomic_path


def read_log(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), None, "training log not found")
    records = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(str(p), f"line {n}", f"not JSON ({exc})") from exc
    return records


def plot_training_curves(log_path: str | Path, png_path: str | Path, title: str = "") -> Path:
    """Write a 3-panel PNG: training loss (log scale), learning rate, validation metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = read_log(log_path)
    train = [r for r in recs if "loss" in r and "step" in r]
    val = [r for r in recs if "val_f1" in r]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1, label="total")
    for part in ("mse", "kl", "focal"):
        if train and part in train[0]:
            ax.plot([r["step"] for r in train], [r[part] for r in train], lw=0.8, label=part)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    axes[1].plot([r["step"] for r in train], [r["lr"] for r in train], lw=1)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("learning rate")
    ax = axes[2]
    for key in ("val_f1", "val_iou", "val_precision", "val_recall"):
        if val:
            ax.plot([r["step"] for r in val], [r[key] for r in val], marker="o", ms=3, label=key[4:])
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("validation (peak pixels)")
    if val:
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return png_path
