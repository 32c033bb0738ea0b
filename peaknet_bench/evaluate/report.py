"""Reports from results files: the paper's Table 1, Figure 6 and a yield-vs-throughput plot.

`render_report(results, out_dir)` writes

* ``table1.md`` and ``index.html`` – one row per (dataset, method): hit rate, indexing rate,
  indexing yield (with bootstrap intervals), the method's parameters, throughput; a
  unit-cell table (mean ± sd against the target cell) and, for simulated data, the
  truth table (peak precision / recall / F1, correct orientations, false hits);
* ``figure6_cells.png`` – unit-cell histograms per method (a, b, c, α, β, γ; μ and σ in
  the legend; the target cell as a dashed line), as in the paper's Figure 6; one file per
  dataset (``figure6_cells_<dataset>.png``) when the results cover several;
* ``yield_vs_throughput.png`` – indexing yield (with its interval) against frames/s.

Every number is recomputed from nothing but the results files.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from peaknet_bench.evaluate.metrics import CELL_NAMES
from peaknet_bench.evaluate.results import Results

CELL_LABELS = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "alpha": "α (°)", "beta": "β (°)", "gamma": "γ (°)"}


def params_summary(r: Results) -> str:
    """A short human description of a method's parameters."""
    p = r.method.params
    if r.method.kind == "pf8":
        return (f"thr={p['threshold']:g} snr={p['min_snr']:g} pix={p['min_pix_count']}-{p['max_pix_count']} "
                f"bg={p['local_bg_radius']}")
    if r.method.kind == "dispersion":
        return (f"gain={p['gain']} sigma_b={p['sigma_background']:g} sigma_s={p['sigma_strong']:g} "
                f"thr={p['global_threshold']:g} pix={p['min_spot_size']}-{p['max_spot_size']}")
    if r.method.kind in ("peaks-cxi", "model"):
        return f"{r.method.kind} sha256:{p.get('sha256', r.method.params_sha256)[:12]}"
    return r.method.kind


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(r: Results, key: str) -> str:
    ci = r.metrics.ci.get(key)
    value = getattr(r.metrics, key)
    return _pct(value) if ci is None else f"{_pct(value)} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"


def _label(r: Results) -> str:
    return r.method.name


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")


def dataset_label(r: Results) -> str:
    d = r.dataset
    if d.kind == "simulated":
        return f"{d.name} seed {d.seed} frames {d.start}–{d.start + d.n_frames - 1}"
    return f"{d.name} ({d.n_frames} frames)"


def table1_rows(results: Sequence[Results]) -> list[list[str]]:
    rows = []
    for r in results:
        t = r.throughput
        fps = "—" if t.frames_per_second is None else f"{t.frames_per_second:.3g}"
        ms = "—" if t.ms_per_frame is None else f"{t.ms_per_frame:.3g}"
        rows.append([dataset_label(r), _label(r), str(r.metrics.n_frames), _ci(r, "hit_rate"), _ci(r, "indexing_rate"),
                     _ci(r, "indexing_yield"), params_summary(r), f"{fps} ({ms} ms, {t.hardware.device})"])
    return rows


TABLE1_HEADER = ["dataset", "method", "frames", "hit rate", "indexing rate", "indexing yield", "parameters",
                 "throughput frames/s (ms/frame, device)"]


def cell_rows(results: Sequence[Results]) -> list[list[str]]:
    rows = []
    for r in results:
        row = [dataset_label(r), _label(r), str(r.metrics.cell["a"].n)]
        for k, target in zip(CELL_NAMES, r.indexer.target_cell):
            s = r.metrics.cell[k]
            if s.mean is None:
                row.append("—")
            else:
                dev = 100 * (s.mean - target) / target
                row.append(f"{s.mean:.3f} ± {s.sd:.3f} ({dev:+.2f}%)")
        rows.append(row)
    return rows


CELL_HEADER = ["dataset", "method", "lattices"] + [f"{CELL_LABELS[k]} μ ± σ (vs target)" for k in CELL_NAMES]


def truth_rows(results: Sequence[Results]) -> list[list[str]]:
    rows = []
    for r in results:
        t = r.metrics.truth
        if t is None:
            continue
        rows.append([dataset_label(r), _label(r), f"{t['peak_precision']:.3f}", f"{t['peak_recall']:.3f}",
                     f"{t['peak_f1']:.3f}", _pct(t["correct_orientation_rate"]), str(t["n_wrong_orientation"]),
                     f"{_pct(t['false_hit_rate'])} of {t['n_blank_frames']}"])
    return rows


TRUTH_HEADER = ["dataset", "method", "peak precision", "peak recall", "peak F1", "correct orientations",
                "wrong orientations", "false hits (blank frames)"]


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cells(r: Results) -> np.ndarray:
    return np.array([c for f in r.frames if f.indexed for c in f.cells], dtype=np.float64).reshape(-1, 6)


def plot_cells(results: Sequence[Results], path: str | os.PathLike) -> None:
    """Figure 6: histograms of a, b, c, α, β, γ per method, μ and σ in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cells = [_cells(r) for r in results]
    for j, (k, ax) in enumerate(zip(CELL_NAMES, axes.ravel())):
        values = [c[:, j] for c in cells if len(c)]
        targets = sorted({round(r.indexer.target_cell[j], 4) for r in results})
        lo = min([v.min() for v in values] + targets) if values else (targets[0] - 1)
        hi = max([v.max() for v in values] + targets) if values else (targets[0] + 1)
        # At least ±1 % of the target: a cell fixed by the indexer shows as a spike, not as noise.
        span = max(hi - lo, 0.02 * max(abs(t) for t in targets))
        lo, hi = min(lo, targets[0] - span / 2), max(hi, targets[-1] + span / 2)
        bins = np.linspace(lo - 0.05 * span, hi + 0.05 * span, 41)
        for i, (r, c) in enumerate(zip(results, cells)):
            if not len(c):
                continue
            v = c[:, j]
            sd = v.std(ddof=1) if v.size > 1 else 0.0
            ax.hist(v, bins=bins, histtype="step", linewidth=1.6, color=colours[i % len(colours)],
                    label=f"{_label(r)}: μ={v.mean():.3f} σ={sd:.3f} (n={v.size})")
        for t in targets:
            ax.axvline(t, color="k", linestyle="--", linewidth=0.9)
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.set_xlabel(CELL_LABELS[k])
        ax.set_ylabel("lattices")
        if any(len(c) for c in cells):
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no indexed frames", transform=ax.transAxes, ha="center")
    names = sorted({r.dataset.name for r in results})
    fig.suptitle(f"Unit-cell parameters of indexed lattices, {', '.join(names)} (dashed: target cell)")
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def plot_yield_vs_throughput(results: Sequence[Results], path: str | os.PathLike) -> None:
    """Indexing yield (bootstrap interval) against the method's frames/s (log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8), constrained_layout=True)
    markers = "osD^v<>ph*"
    datasets = sorted({dataset_label(r) for r in results})
    for r in results:
        fps = r.throughput.frames_per_second
        if fps is None:
            continue
        ci = r.metrics.ci["indexing_yield"]
        y = 100 * r.metrics.indexing_yield
        m = markers[datasets.index(dataset_label(r)) % len(markers)]
        ax.errorbar([fps], [y], yerr=[[y - 100 * ci.low], [100 * ci.high - y]], fmt=m, capsize=3,
                    label=f"{_label(r)} — {r.dataset.name}")
        ax.annotate(_label(r), (fps, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    fps_all = [r.throughput.frames_per_second for r in results if r.throughput.frames_per_second]
    if fps_all:
        ax.set_xlim(min(fps_all) / 3, max(fps_all) * 3)
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda x, _: f"{x:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if str(f"{x:g}")[0] in "25" else ""))
    ax.set_xlabel("peak finding throughput (frames/s per worker)")
    ax.set_ylabel("indexing yield (%)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    if results:
        ax.legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def render_report(results: Sequence[Results], out_dir: str | os.PathLike) -> dict[str, str]:
    """Write the Markdown/HTML tables and the PNG figures; returns the written paths."""
    from peaknet_bench.util.atomic import atomic_path, write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t1, cr, tr = table1_rows(results), cell_rows(results), truth_rows(results)
    # Figure 6 per dataset: cells of different crystals on one axis would be unreadable.
    groups: dict[str, list[Results]] = {}
    for r in results:
        groups.setdefault(dataset_label(r), []).append(r)
    cell_files = {label: ("figure6_cells.png" if len(groups) == 1 else f"figure6_cells_{_slug(label)}.png")
                  for label in groups}
    paths = {"markdown": out / "table1.md", "html": out / "index.html",
             "yield_vs_throughput": out / "yield_vs_throughput.png"}
    paths.update({f"cells:{label}": out / name for label, name in cell_files.items()})
    md = ["# peaknet-bench evaluation report", "", "## Table 1: hit rate, indexing rate, indexing yield", "",
          markdown_table(t1, TABLE1_HEADER), "",
          "Rates with 95 % frame-bootstrap intervals in brackets. Throughput is peak finding alone "
          "(indexing timed separately), per worker.", "", "## Unit cells of indexed lattices", "",
          markdown_table(cr, CELL_HEADER), ""]
    if tr:
        md += ["## Against the simulator's ground truth", "", markdown_table(tr, TRUTH_HEADER), ""]
    md += [f"![Figure 6: {label}]({name})\n" for label, name in cell_files.items()]
    md += ["![Yield vs throughput](yield_vs_throughput.png)", ""]
    write_text_atomic(paths["markdown"], "\n".join(md))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #bbb;padding:4px 8px;font-size:13px}th{background:#eee}")
    body = [f"<h1>peaknet-bench evaluation report</h1><h2>Table 1</h2>{html_table(t1, TABLE1_HEADER)}",
            f"<h2>Unit cells</h2>{html_table(cr, CELL_HEADER)}"]
    if tr:
        body.append(f"<h2>Ground truth</h2>{html_table(tr, TRUTH_HEADER)}")
    body += [f'<h2>Figure 6: {html.escape(label)}</h2><img src="{name}" width="100%">' for label, name in cell_files.items()]
    body.append('<h2>Yield vs throughput</h2><img src="yield_vs_throughput.png">')
    write_text_atomic(paths["html"], f"<!doctype html><html><head><meta charset='utf-8'><title>peaknet-bench report"
                                     f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n")
    plots = [(paths[f"cells:{label}"], plot_cells, group) for label, group in groups.items()]
    plots.append((paths["yield_vs_throughput"], plot_yield_vs_throughput, list(results)))
    for path, fn, subset in plots:
        with atomic_path(path) as tmp:
            fn(subset, tmp)
    return {k: str(v) for k, v in paths.items()}
