"""Validate a submission and add it to the board.

Every check runs (as far as the earlier ones allow) and every problem is collected, so a
rejected submitter fixes everything in one round:

1. schema (pydantic, every field error);
2. the benchmark (dataset name + version + split) is known and its checksum matches;
3. the results' dataset block describes exactly the benchmark's frames;
4. the predictions file: its sha256, readable CXI, every test frame covered exactly once
   (by event id: duplicates, missing and foreign events are listed);
5. the claimed numbers are consistent with themselves (metrics vs. the claimed per-frame
   outcomes) and with the predictions (claimed peaks per frame = stored peaks per frame);
6. the board recomputes every metric: it runs the evaluation harness with the
   precomputed-CXI method on its own frames and truth, with the submission's indexer,
   hit threshold and match radius, and compares with the claimed metrics.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import make_temp
from peaknet_bench.leaderboard.benchmarks import (
    Benchmark,
    expected_events,
    frame_source,
    identity_problems,
    load_registry,
)
from peaknet_bench.leaderboard.schema import SCHEMA_NAME, SCHEMA_VERSION, Submission, parse_submission

RATE_METRICS = ("hit_rate", "indexing_rate", "indexing_yield")
TRUTH_RATE_METRICS = ("peak_precision", "peak_recall", "peak_f1", "false_hit_rate", "correct_orientation_rate")
COUNT_METRICS = ("n_frames", "n_hits", "n_indexed")
PREDICTIONS_NAME = "predictions.cxi"
RECOMPUTED_NAME = "recomputed.json"
SUBMISSION_NAME = "submission.json"


@dataclass(frozen=True)
class ValidationConfig:
    rate_tolerance: float = 0.01  # |claimed − recomputed| allowed for every rate (float32 peak storage can flip a frame)
    cell_rel_tolerance: float = 0.01  # relative, for the mean cell lengths
    recompute: bool = True
    n_boot: int = 2000
    show_progress: bool | None = None


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # checks that ran
    submission: Submission | None = None
    benchmark: Benchmark | None = None
    recomputed: Any = None  # Results of the board's recomputation

    @property
    def ok(self) -> bool:
        return not self.problems


# ------------------------------------------------------------------ building a submission
def make_submission(results: dict[str, Any], predictions: str | os.PathLike, *, method_name: str | None = None,
                    authors: list[str] | None = None, code_url: str | None = None, description: str = "",
                    model_config: dict[str, Any] | None = None, n_parameters: int | None = None,
                    benchmark: Benchmark | None = None, submitted_utc: str | None = None,
                    reference: bool = False) -> dict[str, Any]:
    """A submission dict from a results dict and the entry's details (validated later, so that
    every problem is reported at once). A missing detail stays missing and is reported."""
    import datetime as _dt

    from peaknet_bench.evaluate.methods import sha256_file

    p = Path(predictions)
    n_pred = None
    if p.is_file():
        try:
            from peaknet_bench.io.cxi import CXIReader

            with CXIReader(p) as r:
                n_pred = len(r)
        except InputError:
            n_pred = None
    method = results.get("method") if isinstance(results.get("method"), dict) else {}
    entry: dict[str, Any] = {
        "method_name": method_name or method.get("name"),
        "authors": authors,
        "code_url": code_url,
        "description": description,
        "reference": reference,
        "model": {"config": model_config if model_config is not None else dict(method.get("params") or {}),
                  "n_parameters": n_parameters},
        "dataset": None if benchmark is None else {"name": benchmark.name, "version": benchmark.version,
                                                   "split": benchmark.split, "sha256": benchmark.sha256},
        "predictions": {"file": p.name, "sha256": sha256_file(p) if p.is_file() else None, "n_frames": n_pred},
        "submitted_utc": submitted_utc or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return {"schema_name": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
            "entry": {k: v for k, v in entry.items() if v is not None}, "results": results}


def match_benchmark(results: dict[str, Any], board: str | os.PathLike) -> Benchmark | None:
    """The registered benchmark whose frames a results file's dataset block describes."""
    ds = results.get("dataset") or {}
    for bench in load_registry(board).benchmarks:
        if bench.source == "simulated" and ds.get("kind") == "simulated":
            if (ds.get("seed"), ds.get("start"), ds.get("n_frames")) != (bench.seed, bench.start, bench.n_frames):
                continue
            try:
                if not identity_problems(bench, ds, frame_source(bench, board).identity()):
                    return bench
            except InputError:
                continue
        elif bench.source == "dataset" and (ds.get("name"), ds.get("version"), ds.get("split")) == (
                bench.name, bench.version, bench.split) and bench.experiment in (None, ds.get("experiment")):
            return bench  # one dataset version holds several benchmarks (splits, experiments)
    return None


# ------------------------------------------------------------------ predictions
def _event_row(event: str) -> int | None:
    m = re.fullmatch(r"//(\d+)", event)
    return int(m.group(1)) if m else None


def read_prediction_events(path: Path, geometry) -> tuple[list[str], list[int]]:
    """(event ids, peaks per row) of a CXI peak file."""
    from peaknet_bench.io.cxi import CXIReader

    with CXIReader(path, geometry) as r:
        if not r.has_peaks:
            raise InputError(str(path), "/entry_1/result_1/nPeaks", "missing: the file holds no peak lists")
        events = [r.event(i) for i in range(len(r))]
        counts = [len(r.peaks(i)) for i in range(len(r))]
    return events, counts


def coverage_problems(events: list[str], expected: list[str], label: str, limit: int = 5) -> list[str]:
    """Duplicated, missing and foreign event ids (each kind once, with examples)."""
    out = []
    counts = Counter(events)
    dup = [e for e, c in counts.items() if c > 1]
    if dup:
        out.append(f"{label}: {len(dup)} frame(s) appear more than once, e.g. "
                   + ", ".join(f"{e} ×{counts[e]}" for e in dup[:limit]))
    want = set(expected)
    missing = [e for e in expected if e not in counts]
    if missing:
        out.append(f"{label}: {len(missing)} of {len(expected)} test frames are missing, e.g. {missing[:limit]}")
    extra = [e for e in counts if e not in want]
    if extra:
        out.append(f"{label}: {len(extra)} event(s) are not test frames of the benchmark, e.g. {extra[:limit]}")
    return out


def canonical_predictions(path: Path, geometry, expected: list[str], out: Path) -> None:
    """Rewrite the predictions so that row k holds frame index k (what the harness's
    precomputed-CXI method looks up), whatever order the submitter wrote them in."""
    from peaknet_bench.frame import PeakList
    from peaknet_bench.io.cxi import CXIReader, write_peaks_cxi

    with CXIReader(path, geometry) as r:
        row_of = {r.event(i): i for i in range(len(r))}
        rows = [_event_row(e) for e in expected]
        if any(k is None for k in rows):
            raise InputError(str(path), "events", "expected CrystFEL events '//i' for a simulated benchmark")
        n = max(rows) + 1 if rows else 0
        lists = [PeakList.empty()] * n
        energy = np.full(n, r.photon_energy_ev(0) if len(r) else 0.0)
        clen = np.full(n, r.clen_m(0) if len(r) else 0.0)
        for e, k in zip(expected, rows):
            i = row_of[e]
            lists[k] = r.peaks(i)
            energy[k], clen[k] = r.photon_energy_ev(i), r.clen_m(i)
    write_peaks_cxi(out, lists, photon_energy_ev=energy, clen_m=clen, events=[f"//{k}" for k in range(n)])


# ------------------------------------------------------------------ claimed numbers
def consistency_problems(results) -> list[str]:
    """The claimed metrics must follow from the claimed per-frame outcomes."""
    from peaknet_bench.evaluate.metrics import FrameOutcome, rates, truth_metrics

    outcomes = [FrameOutcome(**{k: v for k, v in f.model_dump().items() if k != "cells"}) for f in results.frames]
    out = []
    derived = rates(outcomes)
    m = results.metrics
    for k in COUNT_METRICS + RATE_METRICS:
        if not np.isclose(getattr(m, k), derived[k], rtol=0, atol=1e-9):
            out.append(f"results.metrics.{k}: claimed {getattr(m, k)} but the claimed per-frame outcomes give {derived[k]}")
    truth = truth_metrics(outcomes)
    if truth and m.truth:
        for k in TRUTH_RATE_METRICS:
            if k in m.truth and not np.isclose(m.truth[k], truth[k], rtol=0, atol=1e-9):
                out.append(f"results.metrics.truth.{k}: claimed {m.truth[k]} but the per-frame outcomes give {truth[k]}")
    return out


def compare_metrics(claimed, recomputed, config: ValidationConfig) -> list[str]:
    """Claimed vs. recomputed metrics, each outside its tolerance named."""
    out = []
    cm, rm = claimed.metrics, recomputed.metrics
    for k in RATE_METRICS:
        a, b = getattr(cm, k), getattr(rm, k)
        if abs(a - b) > config.rate_tolerance:
            out.append(f"metrics.{k}: claimed {a:.4f} but recomputed from the predictions {b:.4f} "
                       f"(tolerance {config.rate_tolerance})")
    if rm.truth is not None:
        for k in TRUTH_RATE_METRICS:
            a = (cm.truth or {}).get(k)
            b = rm.truth[k]
            if a is None:
                out.append(f"metrics.truth.{k}: missing (recomputed {b:.4f})")
            elif abs(a - b) > config.rate_tolerance:
                out.append(f"metrics.truth.{k}: claimed {a:.4f} but recomputed from the predictions {b:.4f} "
                           f"(tolerance {config.rate_tolerance})")
    for k in ("a", "b", "c"):
        a, b = cm.cell[k].mean, rm.cell[k].mean
        if (a is None) != (b is None) or (a is not None and abs(a - b) > config.cell_rel_tolerance * abs(b)):
            out.append(f"metrics.cell.{k}.mean: claimed {a} but recomputed {b}")
    by_event = {f.event: (f.hit, f.indexed) for f in claimed.frames}
    flips = sum(by_event.get(g.event) != (g.hit, g.indexed) for g in recomputed.frames)
    if flips > int(config.rate_tolerance * len(recomputed.frames)):
        out.append(f"frames: {flips} of {len(recomputed.frames)} frames have another hit/indexed outcome when recomputed")
    return out


# ------------------------------------------------------------------ numbers
MAX_FRAMES_PER_SECOND = 1e6  # per worker; far beyond any detector or GPU today: a larger claim is a typo or a forgery


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_problems(data: dict[str, Any]) -> list[str]:
    """Every number the board stores and shows must be finite and in its range.

    NaN or ±Inf would be stored as null (strict JSON) and break rendering of the whole
    board later; a negative or absurd throughput would be drawn on its plots. So they are
    refused here, at submission, each named by its field."""
    out: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, float) and not math.isfinite(value):
            out.append(f"{where}: {value} is not a finite number")

    walk(data, "")
    results = data.get("results") if isinstance(data.get("results"), dict) else {}

    def check(where: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
        if not _number(value) or not math.isfinite(value):
            return  # missing / wrong type: the schema reports it; non-finite: reported above
        if value < lo or value > hi or (lo_open and value == lo):
            bracket = "(" if lo_open else "["
            out.append(f"{where}: {value} is out of range (expected a value in {bracket}{lo:g}, {hi:g}])")

    metrics = results.get("metrics") if isinstance(results.get("metrics"), dict) else {}
    for k in RATE_METRICS:
        check(f"results.metrics.{k}", metrics.get(k), 0.0, 1.0)
    for k in COUNT_METRICS:
        check(f"results.metrics.{k}", metrics.get(k), 0, math.inf)
    for name, ci in (metrics.get("ci") or {}).items() if isinstance(metrics.get("ci"), dict) else ():
        if not isinstance(ci, dict):
            continue
        for k in ("estimate", "low", "high"):
            check(f"results.metrics.ci.{name}.{k}", ci.get(k), 0.0, 1.0)
        check(f"results.metrics.ci.{name}.level", ci.get("level"), 0.0, 1.0, lo_open=True)
        lo, est, hi = ci.get("low"), ci.get("estimate"), ci.get("high")
        if all(_number(v) and math.isfinite(v) for v in (lo, est, hi)) and not lo <= est <= hi:
            out.append(f"results.metrics.ci.{name}: expected low <= estimate <= high, got {lo}, {est}, {hi}")
    for k, v in (metrics.get("truth") or {}).items() if isinstance(metrics.get("truth"), dict) else ():
        if k in TRUTH_RATE_METRICS:
            check(f"results.metrics.truth.{k}", v, 0.0, 1.0)
        elif k.startswith("n_"):
            check(f"results.metrics.truth.{k}", v, 0, math.inf)
    for axis, stat in (metrics.get("cell") or {}).items() if isinstance(metrics.get("cell"), dict) else ():
        if isinstance(stat, dict):
            if stat.get("mean") is not None:
                check(f"results.metrics.cell.{axis}.mean", stat.get("mean"), 0.0, math.inf, lo_open=True)
            check(f"results.metrics.cell.{axis}.sd", stat.get("sd"), 0.0, math.inf)
            check(f"results.metrics.cell.{axis}.n", stat.get("n"), 0, math.inf)
    tp = results.get("throughput") if isinstance(results.get("throughput"), dict) else {}
    for k in ("n_frames", "find_seconds", "find_wall_seconds", "index_seconds", "source_seconds"):
        check(f"results.throughput.{k}", tp.get(k), 0.0, math.inf)
    for k in ("workers", "threads", "batch_size"):
        check(f"results.throughput.{k}", tp.get(k), 1, math.inf)
    fps = tp.get("frames_per_second")
    if fps is not None:
        check("results.throughput.frames_per_second", fps, 0.0, MAX_FRAMES_PER_SECOND, lo_open=True)
    for k in ("ms_per_frame", "index_ms_per_hit"):
        if tp.get(k) is not None:
            check(f"results.throughput.{k}", tp.get(k), 0.0, math.inf, lo_open=True)
    n, secs = tp.get("n_frames"), tp.get("find_seconds")
    if all(_number(v) and math.isfinite(v) and v > 0 for v in (fps, n, secs)):
        if not math.isclose(fps, n / secs, rel_tol=0.01):
            out.append(f"results.throughput.frames_per_second: {fps} does not follow from n_frames / find_seconds "
                       f"= {n} / {secs} = {n / secs:.6g}")
    entry = data.get("entry") if isinstance(data.get("entry"), dict) else {}
    model = entry.get("model") if isinstance(entry.get("model"), dict) else {}
    if model.get("n_parameters") is not None:
        check("entry.model.n_parameters", model.get("n_parameters"), 0, 1e13)
    return out


# ------------------------------------------------------------------ the validator
def _part(model, value):
    """`value` validated as `model`, or None (its problems are already in the schema report)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def validate_submission(data: dict[str, Any], predictions: str | os.PathLike | None, board: str | os.PathLike,
                        config: ValidationConfig = ValidationConfig()) -> ValidationReport:
    """Run every check that the parts of the submission allow; collect every problem.

    A schema error in one part (say a missing author) does not stop the checks that need
    only the other parts (the benchmark, the predictions, the recomputation)."""
    from peaknet_bench.evaluate.methods import sha256_file
    from peaknet_bench.evaluate.results import Results
    from peaknet_bench.leaderboard.schema import BenchmarkRef, PredictionsRef

    rep = ValidationReport()
    rep.checks += ["schema", "numbers"]
    sub, problems = parse_submission(data)
    rep.problems += problems
    rep.problems += number_problems(data)
    pred_path = Path(predictions) if predictions is not None else None
    if pred_path is None or not pred_path.is_file():
        rep.problems.append(f"predictions: file {str(pred_path)!r} not found (the predicted peak lists are required)")
        pred_path = None
    if sub is not None:
        rep.submission = sub
        res, dataset, preds = sub.results, sub.entry.dataset, sub.entry.predictions
    else:
        if data.get("schema_name") != SCHEMA_NAME or data.get("schema_version") != SCHEMA_VERSION:
            return rep
        entry = data.get("entry") if isinstance(data.get("entry"), dict) else {}
        res = _part(Results, data.get("results"))
        dataset, preds = _part(BenchmarkRef, entry.get("dataset")), _part(PredictionsRef, entry.get("predictions"))
    if dataset is None:
        return rep

    rep.checks.append("benchmark")
    registry = load_registry(board)
    key = f"{dataset.name}/{dataset.version}/{dataset.split}"
    bench = registry.find(dataset.name, dataset.version, dataset.split)
    if bench is None:
        versions = sorted({b.version for b in registry.benchmarks if b.name == dataset.name})
        hint = f"known versions of {dataset.name}: {versions}" if versions else f"known benchmarks: {registry.known()}"
        rep.problems.append(f"entry.dataset: {key} is not a known benchmark version ({hint})")
        return rep
    rep.benchmark = bench
    if dataset.sha256 != bench.sha256:
        rep.problems.append(f"entry.dataset.sha256: checksum mismatch for {bench.key}: got {dataset.sha256[:12]}…, "
                            f"the benchmark's is {bench.sha256[:12]}…")
    try:
        source = frame_source(bench, board)
    except InputError as exc:
        rep.problems.append(f"benchmark {bench.key}: cannot load its frames ({exc})")
        return rep
    expected = expected_events(bench, source)
    claimed_events: list[str] = []
    if res is not None:
        rep.checks += ["dataset identity", "claimed consistency"]
        rep.problems += identity_problems(bench, res.dataset.model_dump(), source.identity())
        rep.problems += consistency_problems(res)
        claimed_events = [f.event for f in res.frames]
        rep.problems += coverage_problems(claimed_events, expected, "results.frames")

    covered = False
    if pred_path is not None:
        rep.checks.append("predictions")
        digest = sha256_file(pred_path)
        if preds is not None and digest != preds.sha256:
            rep.problems.append(f"predictions: sha256 mismatch: the file's is {digest[:12]}…, "
                                f"entry.predictions.sha256 says {preds.sha256[:12]}…")
        try:
            events, counts = read_prediction_events(pred_path, source.geometry)
        except InputError as exc:
            rep.problems.append(f"predictions: unreadable ({exc})")
            events, counts = None, None
        if events is not None:
            if preds is not None and len(events) != preds.n_frames:
                rep.problems.append(f"entry.predictions.n_frames: {preds.n_frames}, but the file has {len(events)} rows")
            cov = coverage_problems(events, expected, "predictions")
            rep.problems += cov
            covered = not cov
            if covered and res is not None and len(claimed_events) == len(set(claimed_events)):
                n_of = dict(zip(events, counts))
                bad = [f.event for f in res.frames if f.event in n_of and n_of[f.event] != f.n_peaks]
                if bad:
                    rep.problems.append(f"results.frames: n_peaks of {len(bad)} frame(s) differ from the peaks in "
                                        f"the predictions file, e.g. {bad[:5]}")

    if config.recompute and covered and res is not None:
        rep.checks.append("recompute")
        try:
            rep.recomputed = recompute(res, pred_path, source, expected, config)
        except (ValueError, OSError, RuntimeError) as exc:  # InputError is a ValueError; e.g. no indexamajig
            rep.problems.append(f"recompute: the board could not evaluate the predictions ({exc})")
        else:
            rep.problems += compare_metrics(res, rep.recomputed, config)
    return rep


def recompute(results, predictions: Path, source, expected: list[str], config: ValidationConfig):
    """The board's own evaluation of the predictions: same harness, indexer and hit rule."""
    from peaknet_bench.evaluate.harness import EvalConfig, evaluate
    from peaknet_bench.evaluate.methods import cxi_peaks_method

    with tempfile.TemporaryDirectory(prefix="peaknet-lb-") as tmp:
        canon = Path(tmp) / PREDICTIONS_NAME
        canonical_predictions(predictions, source.geometry, expected, canon)
        eval_config = EvalConfig(min_peaks=results.min_peaks, match_radius_px=results.match_radius_px,
                                 indexer=results.indexer.name, indexer_options=_indexer_options(results.indexer),
                                 n_boot=config.n_boot, show_progress=config.show_progress)
        method = cxi_peaks_method(canon, results.method.name)
        out = evaluate(method, source, eval_config)
    return out


def _indexer_options(indexer) -> dict[str, Any]:
    """The recorded indexer settings as config keyword arguments (JSON lists back to tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in indexer.settings.items()}


# ------------------------------------------------------------------ adding to the board
def entry_id(sub: Submission) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", sub.entry.method_name.lower()).strip("-") or "entry"
    return f"{slug}-{sub.entry.predictions.sha256[:8]}"


def benchmark_dir(board: str | os.PathLike, key: str) -> Path:
    return Path(board) / "submissions" / key.replace("/", "-")


def _stored_predictions(parent: Path) -> dict[str, str]:
    """Entry id -> predictions sha256 of every entry of one benchmark."""
    out = {}
    for sub_file in sorted(parent.glob(f"*/{SUBMISSION_NAME}")):
        if sub_file.parent.name.startswith("."):
            continue
        try:
            out[sub_file.parent.name] = json.loads(sub_file.read_text())["entry"]["predictions"]["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(str(sub_file), "entry.predictions.sha256", "unreadable stored entry") from None
    return out


def add_entry(rep: ValidationReport, predictions: str | os.PathLike, board: str | os.PathLike,
              replace: str | None = None) -> Path:
    """Write the entry folder (submission, predictions, the board's recomputed results)
    atomically: it is assembled in a temporary folder and renamed into place.

    One predictions file is one entry of a benchmark: predictions whose sha256 an entry
    already has are refused (under any method name) unless `replace` names that entry;
    `replace` removes the named entry when the new one is in place."""
    from peaknet_bench.evaluate.results import write_results

    sub = rep.submission
    assert sub is not None and rep.ok
    parent = benchmark_dir(board, sub.benchmark_key)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / entry_id(sub)
    stored_sha = _stored_predictions(parent)
    if replace is not None and replace not in stored_sha:
        raise InputError(replace, "--replace", f"no such entry on {sub.benchmark_key}; entries: {sorted(stored_sha)}")
    same = [eid for eid, sha in stored_sha.items() if sha == sub.entry.predictions.sha256 and eid != replace]
    if same:
        raise InputError(str(parent / same[0]), "entry.predictions.sha256",
                         f"these predictions are already on the board as entry {same[0]!r}; one predictions file "
                         f"is one entry (pass --replace {same[0]} to replace that entry)")
    if final.exists() and final.name != replace:
        raise InputError(str(final), None, f"an entry with this id exists already (pass --replace {final.name})")
    stored = sub.model_copy(deep=True)
    stored.entry.predictions.file = PREDICTIONS_NAME
    tmp = make_temp(final, directory=True)  # also removes entries of killed submissions
    try:
        shutil.copyfile(predictions, tmp / PREDICTIONS_NAME)
        (tmp / SUBMISSION_NAME).write_text(stored.model_dump_json(indent=1) + "\n")
        if rep.recomputed is not None:
            write_results(rep.recomputed, tmp / RECOMPUTED_NAME)
        os.chmod(tmp, 0o755)
        replaced = parent / replace if replace is not None else None
        if replaced is not None and replaced.exists():
            old = make_temp(replaced, directory=True, suffix=".old")
            os.replace(replaced, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


@dataclass
class Entry:
    """One stored entry: the submission and (when the board recomputed) its verified results."""

    id: str
    path: Path
    submission: Submission
    recomputed: Any = None

    @property
    def results(self):
        """The board-verified metrics and per-frame outcomes (the claimed ones when the board has no
        recomputation) with the submitter's method identity, throughput and environment: the
        recomputation read peak lists from a file, so its own timings say nothing about the method."""
        claimed = self.submission.results
        if self.recomputed is None:
            return claimed
        # Pixel metrics of a segmentation cannot be recomputed from peak lists: they stay as claimed.
        metrics = self.recomputed.metrics.model_copy(update={"segmentation": claimed.metrics.segmentation})
        return self.recomputed.model_copy(update={"metrics": metrics, **{k: getattr(claimed, k) for k in
                                                  ("method", "throughput", "environment", "created_utc")}})


def load_entries(board: str | os.PathLike) -> list[Entry]:
    """Every entry under `board/submissions/`, sorted by benchmark then id."""
    from peaknet_bench.evaluate.results import load_results
    from peaknet_bench.leaderboard.schema import load_submission

    out = []
    for sub_file in sorted((Path(board) / "submissions").glob(f"*/*/{SUBMISSION_NAME}")):
        if sub_file.parent.name.startswith("."):
            continue
        rec = sub_file.parent / RECOMPUTED_NAME
        out.append(Entry(sub_file.parent.name, sub_file.parent, load_submission(sub_file),
                         load_results(rec) if rec.is_file() else None))
    return out


def find_entry(board: str | os.PathLike, ref: str) -> Entry:
    """An entry by id (`pf8-default-1a2b3c4d`), unique id prefix, or path of its folder / submission.json."""
    p = Path(ref)
    if p.exists():
        folder = p.parent if p.is_file() else p
        return next(e for e in load_entries(folder.parents[1]) if e.path.resolve() == folder.resolve())
    entries = load_entries(board)
    hits = [e for e in entries if e.id == ref] or [e for e in entries if e.id.startswith(ref)
                                                    or e.submission.entry.method_name == ref]
    if len(hits) != 1:
        raise InputError(ref, None, f"{'no' if not hits else 'several'} leaderboard entries match; "
                         f"known: {[e.id for e in entries]}")
    return hits[0]


def dump_problems(problems: list[str]) -> str:
    return "\n".join(f"  - {p}" for p in problems)
