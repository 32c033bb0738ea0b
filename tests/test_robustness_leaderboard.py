"""Leaderboard submissions that would break or deface the board (issue 20: defects 6, 7, 13)."""

from __future__ import annotations

import copy
import math

import pytest

from test_leaderboard_submit import bench, board, check, entry, source, submission  # noqa: F401 (fixtures)

from peaknet_bench.errors import InputError
from peaknet_bench.leaderboard.render import render_board, render_markdown
from tiny_board import make_tiny_board
from peaknet_bench.leaderboard.validate import add_entry, load_entries


@pytest.fixture
def fresh_board(tmp_path):
    return make_tiny_board(tmp_path / "board")


def _with(data, path: str, value):
    out = copy.deepcopy(data)
    *head, last = path.split(".")
    node = out
    for k in head:
        node = node[k]
    node[last] = value
    return out


# ------------------------------------------------------------ 6: numbers checked at submission
@pytest.mark.parametrize(("path", "value", "message"), [
    ("results.metrics.ci.hit_rate.low", math.nan, "results.metrics.ci.hit_rate.low: nan is not a finite number"),
    ("results.metrics.ci.indexing_yield.high", math.inf, "indexing_yield.high: inf is not a finite number"),
    ("results.throughput.frames_per_second", -5.0, "frames_per_second: -5.0 is out of range"),
    ("results.throughput.frames_per_second", 1e12, "frames_per_second: 1000000000000.0 is out of range"),
    ("results.throughput.find_seconds", -1.0, "find_seconds: -1.0 is out of range"),
    ("results.metrics.ci.hit_rate.estimate", 1.5, "ci.hit_rate.estimate: 1.5 is out of range"),
])
def test_nonfinite_and_out_of_range_numbers_are_refused(board, bench, entry, path, value, message):
    data = _with(submission(entry, bench), path, value)
    rep = check(data, entry[1], board, recompute=False)
    assert not rep.ok and any(message in p for p in rep.problems), rep.problems


def test_a_throughput_that_does_not_follow_from_its_timings_is_refused(board, bench, entry):
    data = submission(entry, bench)
    fps = data["results"]["throughput"]["frames_per_second"]
    rep = check(_with(data, "results.throughput.frames_per_second", fps * 1000), entry[1], board, recompute=False)
    assert any("does not follow from n_frames / find_seconds" in p for p in rep.problems), rep.problems


def test_what_submit_accepts_renders(fresh_board, bench, entry):
    rep = check(submission(entry, bench), entry[1], fresh_board, recompute=False)
    assert rep.ok, rep.problems
    add_entry(rep, entry[1], fresh_board)
    summary = render_board(fresh_board)
    assert summary["n_entries"] == 1


# ------------------------------------------------------------ 7: one predictions file, one entry
def test_the_same_predictions_under_another_name_are_refused_unless_replacing(fresh_board, bench, entry):
    first = check(submission(entry, bench), entry[1], fresh_board, recompute=False)
    path = add_entry(first, entry[1], fresh_board)
    again = check(submission(entry, bench, method_name="renamed-method"), entry[1], fresh_board, recompute=False)
    assert again.ok  # valid on its own ...
    with pytest.raises(InputError, match=rf"already on the board as entry '{path.name}'.*--replace {path.name}"):
        add_entry(again, entry[1], fresh_board)  # ... but not a second entry
    with pytest.raises(InputError, match="no such entry"):
        add_entry(again, entry[1], fresh_board, replace="not-an-entry")
    new = add_entry(again, entry[1], fresh_board, replace=path.name)
    assert [e.id for e in load_entries(fresh_board)] == [new.name] and new.name.startswith("renamed-method")
    assert not path.exists() and not [p for p in new.parent.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------ 13: submitter text is not markup
def test_names_are_escaped_in_the_markdown_board(fresh_board, bench, entry):
    data = submission(entry, bench, method_name="<img src=x onerror=alert(1)>",
                      authors=["[x](javascript:alert(1))", "**bold** `code` | pipe"])
    rep = check(data, entry[1], fresh_board, recompute=False)
    assert rep.ok, rep.problems
    add_entry(rep, entry[1], fresh_board)
    md = render_markdown(load_entries(fresh_board))
    row = next(line for line in md.splitlines() if "onerror" in line)
    assert "<img" not in row and "&lt;img src=x onerror=alert(1)&gt;" in row
    assert "[x](" not in row and "\\[x\\](javascript:alert(1))" in row
    assert "\\*\\*bold\\*\\* \\`code\\` \\| pipe" in row
    assert row.count(" | ") == 10  # the pipe in a name did not add a column


def test_the_plot_skips_a_throughput_a_log_axis_cannot_show():
    from peaknet_bench.leaderboard.render import svg_plot

    row = {"frames_per_second": 10.0, "indexing_yield": 0.5, "yield_low": 0.4, "yield_high": 0.6, "method": "ok",
           "id": "ok-1", "verified": True}
    bad = [dict(row, frames_per_second=v, method=f"bad{i}", id=f"bad-{i}")
           for i, v in enumerate([-5.0, 0.0, math.inf, math.nan])]
    svg = svg_plot([row, *bad])  # a negative throughput crashed the page after LEADERBOARD.md was written
    assert "bad" not in svg and svg.count("<circle") == 1
