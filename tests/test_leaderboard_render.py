"""Rendering: Markdown and the self-contained HTML page, checked in headless Chromium.

Entries here are built from hand-made per-frame outcomes (no harness run), so the file is fast;
the validator's tests cover entries made by real evaluations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.evaluate.harness import confidence_intervals
from peaknet_bench.evaluate.metrics import FrameOutcome, cell_statistics, rates
from peaknet_bench.evaluate.methods import pf8_method
from peaknet_bench.evaluate.results import Results
from peaknet_bench.frame import PeakList
from peaknet_bench.leaderboard.benchmarks import load_registry
from peaknet_bench.leaderboard.render import pareto_front, render_board, svg_plot
from tiny_board import make_tiny_board
from peaknet_bench.leaderboard.validate import ValidationReport, add_entry, load_entries, make_submission
from peaknet_bench.leaderboard.schema import Submission

# name, indexed frames of 10, frames/s: B is dominated by A (slower and lower yield).
ENTRIES = [("method-A", 8, 20.0), ("method-B", 6, 5.0), ("method-C", 3, 400.0), ("method-D", 9, 2.0)]
REFERENCE = ("ceiling-E", 10, 9000.0)  # a reference point: shown, not ranked, not a point of the plot
FORGED = ("claims-F", 10, 50.0)  # submitted with --no-recompute: the board never verified it


def _results(name: str, n_indexed: int, fps: float, n: int = 10) -> Results:
    outcomes = [FrameOutcome(event=f"//{i}", n_peaks=30, hit=True, indexed=i < n_indexed, index=i,
                             cells=[(40.0, 50.0, 60.0, 90.0, 90.0, 90.0)] if i < n_indexed else []) for i in range(n)]
    cells = cell_statistics(outcomes)
    method = pf8_method(name=name)
    hw = {"cpu": "test cpu", "n_cpus": 2, "gpu": None, "device": "cpu"}
    return Results.model_validate({
        "created_utc": "2026-11-24T00:00:00+00:00", "method": method.identity(),
        "dataset": {"kind": "simulated", "name": "tiny-board", "n_frames": n, "seed": 3},
        "indexer": {"name": "builtin", "settings": {}, "target_cell": [40, 50, 60, 90, 90, 90], "lattice": "orthorhombic P"},
        "min_peaks": 10, "match_radius_px": 3.0,
        "metrics": {**rates(outcomes), "ci": confidence_intervals(outcomes, n_boot=100),
                    "cell": {k: {**v, "mean": None if not np.isfinite(v["mean"]) else v["mean"]} for k, v in cells.items()}},
        "throughput": {"n_frames": n, "find_seconds": n / fps, "frames_per_second": fps, "ms_per_frame": 1e3 / fps,
                       "find_wall_seconds": n / fps, "index_seconds": 1.0, "index_ms_per_hit": 100.0,
                       "source_seconds": 0.1, "workers": 1, "threads": 1, "batch_size": 1, "hardware": hw},
        "environment": {"package_version": "0", "python": "3", "platform": "x", "numpy": "2", "torch": None,
                        "ray": None, "crystfel": None},
        "frames": [{**o.to_dict(), "cells": [list(c) for c in o.cells]} for o in outcomes],
    })


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    from peaknet_bench.io.cxi import write_peaks_cxi

    board = make_tiny_board(tmp_path_factory.mktemp("board"))
    bench = load_registry(board).benchmarks[0]
    for name, k, fps in ENTRIES + [REFERENCE, FORGED]:
        pred = board / f"{name}.cxi"
        write_peaks_cxi(pred, [PeakList.empty()], photon_energy_ev=9500.0, clen_m=0.04, events=[f"//{name}"])
        results = _results(name, k, fps)
        data = make_submission(results.model_dump(mode="json"), pred, authors=["Tester <t@x>"],
                               code_url="https://example.org/<code>", benchmark=bench, reference=name == REFERENCE[0])
        recomputed = None if name == FORGED[0] else results  # the board's recomputation agreed with the claim
        add_entry(ValidationReport(submission=Submission.model_validate(data), recomputed=recomputed), pred, board)
    render_board(board)
    return board


def test_pareto_front():
    pts = [(20.0, 0.8), (5.0, 0.6), (400.0, 0.3), (2.0, 0.9), (400.0, 0.1)]
    assert pareto_front(pts) == [3, 0, 2]  # by increasing throughput; (5, .6) and (400, .1) dominated
    assert pareto_front([]) == []


def test_markdown_ranks_by_yield_and_links_entries(board):
    md = (board / "LEADERBOARD.md").read_text()
    rows = [line for line in md.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [re.search(r"\[(method-\w)\]", r).group(1) for r in rows] == ["method-D", "method-A", "method-B", "method-C"]
    assert "## tiny/1/test" in md and "submission.json" in md and "90.0 [" in md
    assert "| ref | [ceiling-E]" in md and "9,000" not in md


def test_unverified_claims_never_rank_among_verified_entries(board):
    """A 100 % yield claimed with --no-recompute sits below every verified entry, unranked."""
    md = (board / "LEADERBOARD.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and "](submissions/" in line]
    names = [re.search(r"\[([\w-]+)\]", r).group(1) for r in table]
    assert names == ["method-D", "method-A", "method-B", "method-C", "claims-F", "ceiling-E"]
    assert table[4].startswith("| unverified | [claims-F]") and table[4].rstrip().endswith("| – |")


def test_html_is_self_contained_and_escaped(board):
    page = (board / "index.html").read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "&lt;code&gt;" in page and "<code>\"" not in page  # user text is escaped
    assert len(load_entries(board)) == 6
    assert page.count('<tr data-id="') == 6 and page.count('<details id="entry-') == 6
    # the reference is a level line; the unverified claim is listed but not a point of the plot
    assert page.count('class="pt"') == 4 and page.count('class="ref"') == 1
    svg = svg_plot([{"id": "x", "method": "x", "frames_per_second": None, "indexing_yield": 0.5}])
    assert "no entries with a throughput" in svg


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _chromium(*args: str) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _row_order(dom: str) -> list[str]:
    return [m.upper() for m in re.findall(r'<tr data-id="method-(\w)-', dom)]  # entry ids are lower-case slugs


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_page_in_headless_chromium_sorts_and_shows_the_plot(board, tmp_path):
    url = (board / "index.html").resolve().as_uri()
    assert _row_order((board / "index.html").read_text()) == ["D", "A", "B", "C"]  # rendered by yield
    # Clicking the frames/s header (driven through the page's #sort= hook, which clicks the header).
    dom = _chromium("--dump-dom", url + "#sort=frames_per_second")
    assert _row_order(dom) == ["D", "B", "A", "C"]
    assert 'class="asc"' in dom
    dom = _chromium("--dump-dom", url + "#sort=-frames_per_second")
    assert _row_order(dom) == ["C", "A", "B", "D"]
    dom = _chromium("--dump-dom", url + "#sort=method")
    assert _row_order(dom) == ["A", "B", "C", "D"]
    assert dom.count('class="pt"') == 4 and 'class="pareto"' in dom
    entry = re.search(r'<details id="(entry-method-a-[0-9a-f]+)"', dom).group(1)
    dom = _chromium("--dump-dom", f"{url}#{entry}")  # an entry link opens its details
    assert re.search(f'<details id="{entry}" open', dom) and dom.count("<details") - dom.count("open=") >= 4
    shot = tmp_path / "board.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,900", url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
