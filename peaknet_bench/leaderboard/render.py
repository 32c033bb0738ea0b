"""Render the board: `leaderboard/LEADERBOARD.md` and a self-contained `leaderboard/index.html`.

The page works offline (facility and cluster machines often are): CSS, the sorting script
and the yield-vs-throughput plots (SVG, drawn here) are inline; nothing is fetched. Numbers
shown are the board's own recomputation from the submitted predictions where it has one;
throughput is the submitter's (the board cannot re-time someone else's hardware).
"""

from __future__ import annotations

import html
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from peaknet_bench.leaderboard.validate import Entry, load_entries


# ------------------------------------------------------------------ rows
def entry_row(e: Entry) -> dict[str, Any]:
    r, s = e.results, e.submission
    m, tp = r.metrics, s.results.throughput
    ci = m.ci.get("indexing_yield")
    truth = m.truth or {}
    hw = tp.hardware
    return {
        "id": e.id, "method": s.entry.method_name, "authors": ", ".join(s.entry.authors),
        "code_url": s.entry.code_url, "hit_rate": m.hit_rate, "indexing_rate": m.indexing_rate,
        "indexing_yield": m.indexing_yield, "yield_low": ci.low if ci else None, "yield_high": ci.high if ci else None,
        # A reference point's timing (e.g. the oracle reading the truth) says nothing about a method.
        "peak_f1": truth.get("peak_f1"), "frames_per_second": None if s.entry.reference else tp.frames_per_second,
        "hardware": hw.gpu or hw.cpu, "device": hw.device, "n_parameters": s.entry.model.n_parameters,
        "verified": e.recomputed is not None, "n_frames": m.n_frames, "submitted": s.entry.submitted_utc[:10],
        "reference": s.entry.reference,
    }


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both throughput and yield (higher is
    better for both), ordered by increasing throughput."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front[::-1]


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "✓" if v else "–"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else (f"{v:.3g}" if v < 1000 else f"{v:,.0f}")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
_MD_PUNCT = set("\\`*_[]|~")  # the marks of inline Markdown constructs (no link without brackets)


def _md(text: Any) -> str:
    """Submitter text as plain text in a Markdown table cell.

    Markdown renderers (code-hosting sites included) pass inline HTML through and turn
    brackets into links, so a name like ``<img onerror=…>`` or ``[x](javascript:…)`` would
    become markup: HTML characters become entities, the marks of inline constructs
    (emphasis, code, links, images, strike-through, escapes, cell pipes) are
    backslash-escaped (CommonMark shows an escaped mark literally), and line breaks
    (which would end the table row) become spaces."""
    out = []
    for ch in " ".join(str(text).splitlines()):
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_PUNCT:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(" ")  # control characters
    return "".join(out)


def _standing(e: Entry) -> int:
    """0: ranked (the board recomputed its metrics), 1: listed apart, unranked (claims the board
    did not verify: `--no-recompute`), 2: a reference point."""
    if e.submission.entry.reference:
        return 2
    return 0 if e.recomputed is not None else 1


def group_entries(entries: list[Entry]) -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        groups[e.submission.benchmark_key].append(e)
    # Verified entries ranked by yield, then unverified claims, then the reference points.
    return {k: sorted(v, key=lambda e: (_standing(e), -e.results.metrics.indexing_yield))
            for k, v in sorted(groups.items())}


def ranks(group: list[Entry]) -> list[str]:
    """'1', '2', … for verified entries, 'unverified' for claims the board did not recompute
    (never ranked among verified ones) and 'ref' for reference points."""
    out, n = [], 0
    for e in group:
        if _standing(e) == 2:
            out.append("ref")
        elif _standing(e) == 1:
            out.append("unverified")
        else:
            n += 1
            out.append(str(n))
    return out


# ------------------------------------------------------------------ Markdown
def render_markdown(entries: list[Entry]) -> str:
    lines = ["# peaknet-bench leaderboard", "",
             "Generated by `peaknet-bench leaderboard render` from `leaderboard/submissions/`; do not edit by hand.",
             "Rates are the board's recomputation from each entry's submitted peak lists (✓ verified), in %; "
             "the yield interval is a 95 % frame bootstrap; throughput (frames/s per worker) is the submitter's.",
             "Interactive version with the yield-vs-throughput plot: [index.html](index.html).", ""]
    for key, group in group_entries(entries).items():
        lines += [f"## {key}", "",
                  "| # | method | authors | hit rate | indexing rate | yield [95% CI] | peak F1 | frames/s | hardware "
                  "| params | verified |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for rank, e in zip(ranks(group), group):
            r = entry_row(e)
            link = f"[{_md(r['method'])}](submissions/{e.path.parent.name}/{e.id}/submission.json)"
            ci = f"{_fmt(r['indexing_yield'], True)} [{_fmt(r['yield_low'], True)}, {_fmt(r['yield_high'], True)}]"
            lines.append(f"| {rank} | {link} | {_md(r['authors'])} | {_fmt(r['hit_rate'], True)} | "
                         f"{_fmt(r['indexing_rate'], True)} | {ci} | {_fmt(r['peak_f1'], True)} | "
                         f"{_fmt(r['frames_per_second'])} | {_md(r['hardware'])} ({_md(r['device'])}) | "
                         f"{_fmt(r['n_parameters'])} | {_fmt(r['verified'])} |")
        lines.append("")
    if not entries:
        lines += ["No entries yet.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{padding:.35em .6em;border-bottom:1px solid #e4e4e4;text-align:right}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
th{cursor:pointer;background:#f4f6f8;user-select:none;white-space:nowrap}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
tr:hover td{background:#fafbfd}td a{white-space:nowrap}.muted{color:#777;font-size:.9em}
svg text{font-size:11px;fill:#333}.pt{cursor:pointer}.pt:hover{stroke:#000;stroke-width:2}
details{margin:.6em 0;padding:.4em .8em;border:1px solid #e4e4e4;border-radius:4px}
details:target{border-color:#2a6fdb;box-shadow:0 0 0 2px #2a6fdb33}
summary{cursor:pointer;font-weight:600}pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:.85em}
"""

JS = """
function sortTable(tbl, th, col) {
  var asc = !th.classList.contains('asc');
  tbl.querySelectorAll('th').forEach(function(h){ h.classList.remove('asc', 'desc'); });
  th.classList.add(asc ? 'asc' : 'desc');
  var body = tbl.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var num = th.dataset.type === 'num';
  rows.sort(function(a, b){
    var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    if (num) { x = x === '' ? -Infinity : parseFloat(x); y = y === '' ? -Infinity : parseFloat(y); }
    else { x = x.toLowerCase(); y = y.toLowerCase(); }
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
  });
  rows.forEach(function(r){ body.appendChild(r); });
}
document.querySelectorAll('table.board').forEach(function(tbl){
  tbl.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){ sortTable(tbl, th, col); });
  });
});
document.querySelectorAll('.pt').forEach(function(p){
  p.addEventListener('click', function(){ var d = document.getElementById(p.dataset.target);
    if (d) { d.open = true; location.hash = p.dataset.target; } });
});
// A link to an entry (#entry-ID, from the table or the plot) opens its details.
function openTarget() {
  var d = location.hash.length > 1 && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (d && d.tagName === 'DETAILS') { d.open = true; d.scrollIntoView(); }
}
window.addEventListener('hashchange', openTarget);
openTarget();
// Shareable sorted views: index.html#sort=KEY (ascending) or #sort=-KEY (descending).
(function(){
  var m = location.hash.match(/^#sort=(-?)([a-z_]+)$/);
  if (!m) return;
  document.querySelectorAll('th[data-key="' + m[2] + '"]').forEach(function(th){ th.click(); if (m[1]) th.click(); });
})();
"""

COLUMNS = [  # key, header, numeric, percent
    ("rank", "#", True, False), ("method", "method", False, False), ("authors", "authors", False, False),
    ("hit_rate", "hit rate %", True, True), ("indexing_rate", "indexing rate %", True, True),
    ("indexing_yield", "yield %", True, True), ("peak_f1", "peak F1 %", True, True),
    ("frames_per_second", "frames/s", True, False), ("n_parameters", "params", True, False),
    ("hardware", "hardware", False, False), ("verified", "verified", False, False),
]


def svg_plot(rows: list[dict[str, Any]], width: int = 640, height: int = 360) -> str:
    """Indexing yield vs. throughput (log x), Pareto front as a dashed step line."""
    refs = [r for r in rows if r.get("reference")]
    # Only verified entries are points (and Pareto candidates): a claim the board did not
    # recompute must not stand on the front.
    # A log axis takes positive, finite throughputs only (submit refuses others; a hand-edited
    # entry must not stop the page).
    pts = [(r["frames_per_second"], r["indexing_yield"], r) for r in rows
           if r["frames_per_second"] is not None and 0 < r["frames_per_second"] < math.inf
           and not r.get("reference") and r.get("verified", True)]
    left, right, top, bottom = 60, 20, 20, 45
    pw, ph = width - left - right, height - top - bottom
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="indexing yield versus throughput">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fcfcfd" stroke="#999"/>']
    if not pts:
        parts.append(f'<text x="{left + 10}" y="{top + 20}">no entries with a throughput</text></svg>')
        return "".join(parts)
    lx = [math.log10(p[0]) for p in pts]
    x0, x1 = math.floor(min(lx) - 0.1), math.ceil(max(lx) + 0.1)
    top_y = max([p[1] for p in pts] + [p[2].get("yield_high") or 0.0 for p in pts] + [r["indexing_yield"] for r in refs])
    step = 0.1 if top_y < 0.45 else 0.2
    y1 = min(1.0, step * math.ceil((top_y + 0.02) / step))  # a round upper limit with ticks every 10 or 20 %

    def X(v: float) -> float:
        return left + pw * (math.log10(v) - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return top + ph * (1 - v / y1)

    for d in range(x0, x1 + 1):
        parts.append(f'<line x1="{X(10 ** d):.1f}" x2="{X(10 ** d):.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>'
                     f'<text x="{X(10 ** d):.1f}" y="{top + ph + 16}" text-anchor="middle">{10 ** d:g}</text>')
    for k in range(int(round(y1 / step)) + 1):
        v = k * step
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">throughput (frames/s per worker, log)</text>'
                 f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">indexing yield (%)</text>')
    for r in refs:  # a reference (e.g. the oracle ceiling) is a level, not a point: its timing means nothing
        parts.append(f'<line class="ref" x1="{left}" x2="{left + pw}" y1="{Y(r["indexing_yield"]):.1f}" '
                     f'y2="{Y(r["indexing_yield"]):.1f}" stroke="#555" stroke-dasharray="2,3"/>'
                     f'<text x="{left + 6}" y="{Y(r["indexing_yield"]) - 5:.1f}" fill="#555">{html.escape(r["method"])} '
                     f'(reference) {100 * r["indexing_yield"]:.1f} %</text>')
    front = pareto_front([(p[0], p[1]) for p in pts])
    if front:
        path = []
        for j, i in enumerate(front):
            x, y = X(pts[i][0]), Y(pts[i][1])
            path.append(f"{'M' if j == 0 else 'L'}{x:.1f},{y:.1f}")
            if j + 1 < len(front):
                path.append(f"L{X(pts[front[j + 1]][0]):.1f},{y:.1f}")
        parts.append(f'<path class="pareto" d="{" ".join(path)}" fill="none" stroke="#d9480f" stroke-dasharray="5,4" '
                     'stroke-width="1.5"/>')
    on_front = set(front)
    for i, (fps, yld, r) in enumerate(pts):
        colour = "#d9480f" if i in on_front else "#2a6fdb"
        if r.get("yield_low") is not None:  # the 95 % bootstrap interval of the yield
            parts.append(f'<line class="ci" x1="{X(fps):.1f}" x2="{X(fps):.1f}" y1="{Y(r["yield_low"]):.1f}" '
                         f'y2="{Y(r["yield_high"]):.1f}" stroke="{colour}" stroke-opacity="0.5" stroke-width="2"/>')
        parts.append(f'<circle class="pt" data-target="entry-{html.escape(r["id"])}" cx="{X(fps):.1f}" cy="{Y(yld):.1f}" '
                     f'r="6" fill="{colour}"><title>{html.escape(r["method"])}: yield {100 * yld:.1f} %, '
                     f'{fps:.3g} frames/s</title></circle>'
                     f'<text x="{X(fps) + 8:.1f}" y="{Y(yld) - 8:.1f}">{html.escape(r["method"])}</text>')
    parts.append(f'<text x="{left + pw - 4}" y="{top + 14}" text-anchor="end" fill="#d9480f">- - Pareto front · bars: 95 % CI</text></svg>')
    return "".join(parts)


def _details(e: Entry) -> str:
    import json

    s, r = e.submission, e.results
    info = {
        "benchmark": s.benchmark_key, "authors": s.entry.authors, "code": s.entry.code_url,
        "description": s.entry.description, "model": s.entry.model.model_dump(),
        "method": s.results.method.model_dump(), "indexer": s.results.indexer.model_dump(),
        "min_peaks": s.results.min_peaks, "match_radius_px": s.results.match_radius_px,
        "metrics (board-recomputed)" if e.recomputed is not None else "metrics (claimed)": r.metrics.model_dump(),
        "throughput (claimed)": s.results.throughput.model_dump(), "predictions": s.entry.predictions.model_dump(),
        "environment": s.results.environment.model_dump(), "submitted_utc": s.entry.submitted_utc,
    }
    return (f'<details id="entry-{html.escape(e.id)}"><summary>{html.escape(s.entry.method_name)} '
            f'<span class="muted">({html.escape(e.id)})</span></summary>'
            f'<p><a href="submissions/{html.escape(e.path.parent.name)}/{html.escape(e.id)}/submission.json">submission.json</a>'
            f' · <a href="{html.escape(s.entry.code_url)}" rel="nofollow">code</a></p>'
            f'<pre>{html.escape(json.dumps(info, indent=1, default=str))}</pre></details>')


def render_html(entries: list[Entry]) -> str:
    sections = []
    for key, group in group_entries(entries).items():
        rows = [entry_row(e) for e in group]
        head = "".join(f'<th data-key="{k}" data-type="{"num" if num else "text"}">{html.escape(h)}</th>'
                       for k, h, num, _ in COLUMNS)
        body = []
        for rank, r in zip(ranks(group), rows):
            r = {**r, "rank": rank}
            cells = []
            for k, _, num, pct in COLUMNS:
                v = r[k]
                sort_v = "" if v is None else (str(int(v)) if isinstance(v, bool) else str(v))
                if k == "rank" and v in ("ref", "unverified"):
                    sort_v = "1e9" if v == "ref" else "1e8"  # after every ranked entry
                shown = _fmt(v, pct)
                if k == "method":
                    shown = f'<a href="#entry-{html.escape(r["id"])}">{html.escape(str(v))}</a>'
                elif k == "indexing_yield" and r["yield_low"] is not None:
                    shown = f'{shown} <span class="muted">[{_fmt(r["yield_low"], True)}, {_fmt(r["yield_high"], True)}]</span>'
                else:
                    shown = html.escape(shown)
                cells.append(f'<td data-v="{html.escape(sort_v)}">{shown}</td>')
            body.append(f'<tr data-id="{html.escape(r["id"])}">{"".join(cells)}</tr>')
        sections.append(
            f'<section class="benchmark" data-benchmark="{html.escape(key)}"><h2>{html.escape(key)}</h2>'
            f'<p class="muted">{len(rows)} entries on {rows[0]["n_frames"]} test frames; click a column to sort, '
            f'a point or method for details.</p>'
            f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<h3>Indexing yield vs. throughput</h3>{svg_plot(rows)}'
            f'<h3>Entries</h3>{"".join(_details(e) for e in group)}</section>')
    if not sections:
        sections.append("<p>No entries yet.</p>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>peaknet-bench leaderboard</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
            f'<h1>peaknet-bench leaderboard</h1><p class="muted">Rates (%) recomputed by the board from each entry\'s '
            f'submitted peak lists; yield intervals are 95 % frame bootstraps; throughput is the submitter\'s. '
            f'Generated by <code>peaknet-bench leaderboard render</code>.</p>{"".join(sections)}'
            f'<script>{JS}</script></body></html>\n')


def render_board(board: str | os.PathLike) -> dict[str, Any]:
    """Write LEADERBOARD.md and index.html of `board`; returns what was written."""
    from peaknet_bench.util.atomic import write_text_atomic

    board = Path(board)
    entries = load_entries(board)
    md, page = board / "LEADERBOARD.md", board / "index.html"
    texts = render_markdown(entries), render_html(entries)  # both rendered before either is written
    write_text_atomic(md, texts[0])
    write_text_atomic(page, texts[1])
    groups = group_entries(entries)
    return {"markdown": str(md), "html": str(page), "n_entries": len(entries),
            "benchmarks": {k: [e.id for e in v] for k, v in groups.items()}}
