"""Submission schema and validation on a tiny board (one 200×200 panel, 8 simulated frames)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from peaknet_bench.cli import main
from peaknet_bench.evaluate.harness import EvalConfig, evaluate
from peaknet_bench.evaluate.methods import pf8_method
from peaknet_bench.leaderboard.benchmarks import frame_source, load_registry
from peaknet_bench.leaderboard.predict import write_predictions
from peaknet_bench.leaderboard.schema import SCHEMA_FILE, Submission, schema_json
from tiny_board import make_tiny_board
from peaknet_bench.leaderboard.validate import (
    ValidationConfig,
    load_entries,
    make_submission,
    match_benchmark,
    validate_submission,
)
from peaknet_bench.peakfind import Peakfinder8Params

FAST = ValidationConfig(n_boot=200, show_progress=False)
PF8 = pf8_method(Peakfinder8Params(threshold=30.0, min_snr=5.0), name="pf8-tiny")


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    return make_tiny_board(tmp_path_factory.mktemp("board"))


@pytest.fixture(scope="module")
def bench(board):
    return load_registry(board).benchmarks[0]


@pytest.fixture(scope="module")
def source(board, bench):
    return frame_source(bench, board)


@pytest.fixture(scope="module")
def entry(board, bench, source, tmp_path_factory):
    """(results dict, predictions path) of peakfinder8 on the tiny benchmark."""
    folder = tmp_path_factory.mktemp("entry")
    results = evaluate(PF8, source, EvalConfig(n_boot=200, show_progress=False))
    pred = folder / "peaks.cxi"
    write_predictions(PF8, source, pred, show_progress=False)
    return json.loads(results.model_dump_json()), pred


def submission(entry, bench, **overrides):
    results, pred = entry
    kw = {"authors": ["A. Tester"], "code_url": "https://example.org/pf8", "benchmark": bench,
          "submitted_utc": "2026-11-24T00:00:00+00:00"}
    kw.update(overrides)
    return make_submission(copy.deepcopy(results), pred, **kw)


def with_predictions(entry, bench, pred):
    """The entry's results submitted with another predictions file."""
    return submission((entry[0], pred), bench)


def check(data, pred, board, **config):
    return validate_submission(data, pred, board, ValidationConfig(n_boot=200, show_progress=False, **config))


# ------------------------------------------------------------------ schema
def test_published_schema_is_current():
    assert SCHEMA_FILE.read_text() == schema_json(), "run: python -m peaknet_bench.leaderboard.schema"
    schema = json.loads(schema_json())
    assert "predictions" in schema["$defs"]["EntryInfo"]["required"]
    assert {"results", "entry"} <= set(schema["required"])


def test_registry_checksum_is_pinned_and_the_results_find_their_benchmark(board, bench, entry):
    from peaknet_bench.leaderboard.benchmarks import compute_sha256

    assert compute_sha256(bench, board) == bench.sha256
    assert match_benchmark(entry[0], board).key == "tiny/1/test"


def test_results_find_their_split_and_experiment_among_one_dataset_s_benchmarks(tmp_path):
    """One dataset version carries several benchmarks (test, test_ood; one experiment each):
    results go to the one whose split and experiment they evaluated."""
    import yaml

    board = tmp_path / "board"
    board.mkdir()
    rows = [{"name": "ds", "version": "1", "split": s, "source": "dataset", "experiment": e, "sha256": "0" * 64,
             "path": str(tmp_path)} for s, e in (("test", "lyso"), ("test_ood", "thermo"))]
    (board / "benchmarks.yaml").write_text(yaml.safe_dump({"benchmarks": rows}))
    results = {"dataset": {"kind": "dataset", "name": "ds", "version": "1", "split": "test_ood", "experiment": "thermo"}}
    assert match_benchmark(results, board).key == "ds/1/test_ood"
    results["dataset"].update(split="test", experiment="lyso")
    assert match_benchmark(results, board).key == "ds/1/test"
    results["dataset"]["experiment"] = "other"
    assert match_benchmark(results, board) is None


# ------------------------------------------------------------------ valid
def test_a_valid_submission_passes_and_is_recomputed(board, bench, entry):
    data = submission(entry, bench)
    rep = check(data, entry[1], board)
    assert rep.ok, rep.problems
    assert {"schema", "benchmark", "predictions", "recompute"} <= set(rep.checks)
    claimed = Submission.model_validate(data).results.metrics
    assert rep.recomputed.metrics.indexing_yield == pytest.approx(claimed.indexing_yield, abs=0.01)
    assert rep.recomputed.metrics.n_indexed >= 2  # the tiny benchmark is not trivially empty


def test_predictions_in_another_order_are_still_valid(board, bench, entry, source, tmp_path):
    from peaknet_bench.io.cxi import CXIReader, write_peaks_cxi

    with CXIReader(entry[1], source.geometry) as r:
        order = list(range(len(r)))[::-1]
        lists, events = [r.peaks(i) for i in order], [r.event(i) for i in order]
    shuffled = tmp_path / "reversed.cxi"
    write_peaks_cxi(shuffled, lists, photon_energy_ev=9500.0, clen_m=0.04, events=events)
    rep = check(with_predictions(entry, bench, shuffled), shuffled, board)
    assert rep.ok, rep.problems


# ------------------------------------------------------------------ invalid: one message per kind
def test_missing_field_is_named(board, bench, entry):
    data = submission(entry, bench)
    del data["entry"]["authors"]
    del data["results"]["metrics"]["hit_rate"]
    data["entry"]["code_url"] = "javascript:alert(1)"  # links on the page must be http(s)
    rep = check(data, entry[1], board)
    assert any(p.startswith("entry.code_url: String should match pattern") for p in rep.problems), rep.problems
    assert any(p.startswith("entry.authors: Field required") for p in rep.problems), rep.problems
    assert any(p.startswith("results.metrics.hit_rate: Field required") for p in rep.problems), rep.problems


def test_unknown_dataset_version_is_rejected(board, bench, entry):
    data = submission(entry, bench)
    data["entry"]["dataset"]["version"] = "9"
    rep = check(data, entry[1], board)
    assert any("tiny/9/test is not a known benchmark version" in p and "['1']" in p for p in rep.problems), rep.problems


def test_checksum_mismatches_are_rejected(board, bench, entry, tmp_path):
    data = submission(entry, bench)
    data["entry"]["dataset"]["sha256"] = "f" * 64
    data["entry"]["predictions"]["sha256"] = "e" * 64
    rep = check(data, entry[1], board)
    assert any(p.startswith("entry.dataset.sha256: checksum mismatch") for p in rep.problems), rep.problems
    assert any(p.startswith("predictions: sha256 mismatch") for p in rep.problems), rep.problems
    data = submission(entry, bench)
    data["results"]["dataset"]["seed"] = 4  # results computed on other frames
    rep = check(data, entry[1], board, recompute=False)
    assert any(p.startswith("results.dataset.seed: 4 is not the benchmark's 3") for p in rep.problems), rep.problems


def _rewrite(pred, source, out, rows, events=None):
    from peaknet_bench.io.cxi import CXIReader, write_peaks_cxi

    with CXIReader(pred, source.geometry) as r:
        lists = [r.peaks(i) for i in rows]
        events = events or [r.event(i) for i in rows]
    write_peaks_cxi(out, lists, photon_energy_ev=9500.0, clen_m=0.04, events=events)
    return out


def test_duplicated_and_missing_frames_are_rejected(board, bench, entry, source, tmp_path):
    dup = _rewrite(entry[1], source, tmp_path / "dup.cxi", [0, 1, 2, 3, 4, 5, 6, 6])  # frame 7 missing, 6 twice
    rep = check(with_predictions(entry, bench, dup), dup, board)
    assert any(p.startswith("predictions: 1 frame(s) appear more than once, e.g. //6 ×2") for p in rep.problems), rep.problems
    assert any(p.startswith("predictions: 1 of 8 test frames are missing, e.g. ['//7']") for p in rep.problems)
    assert "recompute" not in rep.checks
    foreign = _rewrite(entry[1], source, tmp_path / "foreign.cxi", list(range(8)),
                       events=[f"//{i}" for i in range(7)] + ["//99"])
    rep = check(with_predictions(entry, bench, foreign), foreign, board)
    assert any("1 event(s) are not test frames of the benchmark, e.g. ['//99']" in p for p in rep.problems), rep.problems


def test_claimed_metrics_that_differ_from_the_recomputed_ones_are_rejected(board, bench, entry):
    data = submission(entry, bench)
    frames = data["results"]["frames"]
    n = len(frames)
    for f in frames:  # a consistent but false claim: every frame a hit and indexed
        f["hit"] = f["indexed"] = True
    m = data["results"]["metrics"]
    m.update(n_hits=n, n_indexed=n, hit_rate=1.0, indexing_rate=1.0, indexing_yield=1.0)
    rep = check(data, entry[1], board)
    assert not any("claimed per-frame outcomes give" in p for p in rep.problems), rep.problems
    assert any(p.startswith("metrics.indexing_yield: claimed 1.0000 but recomputed from the predictions")
               for p in rep.problems), rep.problems
    assert any(p.startswith("frames: ") and "another hit/indexed outcome" in p for p in rep.problems)
    # An inconsistent claim (metrics that do not follow from the claimed frames) is caught without the harness.
    data = submission(entry, bench)
    data["results"]["metrics"]["indexing_yield"] = 0.99
    rep = check(data, entry[1], board, recompute=False)
    assert any(p.startswith("results.metrics.indexing_yield: claimed 0.99 but the claimed per-frame outcomes give")
               for p in rep.problems), rep.problems


def test_every_problem_is_listed_at_once(board, bench, entry, tmp_path):
    data = submission(entry, bench)
    data["entry"]["dataset"]["sha256"] = "f" * 64
    data["results"]["metrics"]["hit_rate"] = 0.123
    rep = check(data, tmp_path / "nowhere.cxi", board)
    assert len(rep.problems) >= 3
    assert any(p.startswith("predictions: file") and "not found" in p for p in rep.problems)


# ------------------------------------------------------------------ the board
def test_submit_cli_adds_an_entry_atomically_and_rejects_with_every_problem(board, bench, entry, tmp_path, capsys):
    results = entry[0]
    pred = tmp_path / "predicted.cxi"
    params = tmp_path / "pf8.json"
    params.write_text(json.dumps(PF8.params))
    assert main(["leaderboard", "predict", "--params", str(params), "--benchmark", "tiny/1/test", "--board", str(board),
                 "-o", str(pred), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_frames"] == 8
    rfile = tmp_path / "results.json"
    rfile.write_text(json.dumps(results))
    args = ["leaderboard", "submit", str(rfile), "--predictions", str(pred), "--authors", "A. Tester",
            "--code-url", "https://example.org", "--board", str(board), "--json"]
    assert main(["leaderboard", "validate", *args[2:], "--no-recompute"]) == 0  # checks only: nothing added
    assert json.loads(capsys.readouterr().out)["entry"] is None and not load_entries(board)
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and Path(out["entry"], "predictions.cxi").is_file()
    entries = load_entries(board)
    assert [e.id for e in entries] == [Path(out["entry"]).name] and entries[0].recomputed is not None
    assert not [p for p in (board / "submissions").rglob(".*")]  # no temporary leftovers
    assert main(args) == 1  # the same predictions again: refused (InputError → exit 1)
    capsys.readouterr()
    bad = dict(results, metrics={**results["metrics"], "indexing_yield": 0.777})
    rfile.write_text(json.dumps(bad))
    assert main(["leaderboard", "submit", str(rfile), "--predictions", str(pred), "--board", str(board), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["ok"] and out["entry"] is None
    assert any(p.startswith("entry.authors") for p in out["problems"])
    assert any(p.startswith("entry.code_url") for p in out["problems"])
    # ...and the schema errors of the entry block do not stop the checks of the rest:
    assert any(p.startswith("results.metrics.indexing_yield: claimed 0.777") for p in out["problems"])
    assert any(p.startswith("metrics.indexing_yield: claimed 0.7770 but recomputed") for p in out["problems"])
    assert len(load_entries(board)) == 1
    assert main(["leaderboard", "render", "--board", str(board), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_entries"] == 1


@pytest.mark.slow
def test_the_repository_board_is_consistent():
    """Pinned benchmark checksums are current and every committed entry holds together: its
    predictions file is the one it names, and the board's stored recomputation agrees with
    the claims. Where a benchmark's dataset is in the cache (`dataset build`), every check
    that needs no re-evaluation runs too (frame coverage, dataset identity); the benchmark
    version (6 GB) is not rebuilt by the test suite."""
    from peaknet_bench.errors import InputError
    from peaknet_bench.evaluate.methods import sha256_file
    from peaknet_bench.evaluate.results import Results
    from peaknet_bench.leaderboard.benchmarks import compute_sha256
    from peaknet_bench.leaderboard.schema import BOARD_DIR
    from peaknet_bench.leaderboard.validate import compare_metrics

    registry = load_registry(BOARD_DIR)
    assert registry.benchmarks
    for b in registry.benchmarks:
        assert compute_sha256(b, BOARD_DIR) == b.sha256, f"{b.key}: the frames changed: bump the version"
    available = set()
    for b in registry.benchmarks:
        try:
            frame_source(b, BOARD_DIR)
            available.add(b.key)
        except InputError:
            pass  # the benchmark's frames are not built here
    entries = load_entries(BOARD_DIR)
    assert entries
    for e in entries:
        data = json.loads((e.path / "submission.json").read_text())
        sub = Submission.model_validate(data)
        assert sha256_file(e.path / "predictions.cxi") == sub.entry.predictions.sha256, e.id
        assert e.recomputed is not None, e.id
        assert compare_metrics(sub.results, Results.model_validate(e.recomputed.model_dump()), ValidationConfig()) == [], e.id
        assert sub.results.metrics.n_frames >= 1000, f"{e.id}: a benchmark too small to rank methods"
        if sub.benchmark_key not in available:
            continue
        rep = validate_submission(data, e.path / "predictions.cxi", BOARD_DIR, ValidationConfig(recompute=False))
        assert rep.ok, (e.id, rep.problems)


def test_a_model_entry_records_its_configuration_and_size(tmp_path):
    from peaknet_bench.leaderboard.commands import model_details
    from peaknet_bench.models.peaknet import build_model, count_parameters, save_model

    model = build_model("cpu-student")
    save_model(model, tmp_path / "m.safetensors")
    method = {"kind": "model", "params": {"checkpoint": str(tmp_path / "m.safetensors"), "sha256": "ab" * 32}}
    config, n = model_details({"method": method})
    assert n == count_parameters(model) > 0
    assert config["name"] == "cpu-student" and config["checkpoint_sha256"] == "ab" * 32
    assert model_details({"method": {"kind": "pf8", "params": {}}}) == (None, None)
