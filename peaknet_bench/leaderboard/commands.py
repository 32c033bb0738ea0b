"""`peaknet-bench leaderboard submit | validate | render | predict | regress`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _board_option(p: argparse.ArgumentParser) -> None:
    from peaknet_bench.leaderboard.schema import BOARD_DIR

    p.add_argument("--board", default=str(BOARD_DIR),
                   help=f"leaderboard folder; one without benchmarks.yaml uses the shipped registry (default: {BOARD_DIR})")


def _entry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results file from `evaluate` (or a complete submission JSON)")
    p.add_argument("--predictions", required=True, metavar="PEAKS.cxi",
                   help="the predicted peak lists (CXI), one row per test frame (required)")
    from peaknet_bench.util.cli import deprecated_alias

    name = p.add_argument("--name", dest="method_name", default=None,
                          help="display name (default: the results' method name)")
    deprecated_alias(p, name, "--method-name")
    p.add_argument("--authors", action="append", default=None, metavar="NAME",
                   help="an author (repeat for several); required for a new submission")
    p.add_argument("--code-url", default=None, help="link to the code and weights; required for a new submission")
    p.add_argument("--description", default="", help="one-line description (default empty)")
    p.add_argument("--model-config", default=None, metavar="CONFIG.json",
                   help="model configuration, JSON or YAML (default: a model checkpoint's embedded configuration, "
                        "else the method's parameters)")
    p.add_argument("--reference", action="store_true",
                   help="mark the entry as a reference point (e.g. the oracle ceiling): shown, not ranked (default off)")
    p.add_argument("--n-parameters", type=int, default=None,
                   help="trainable parameters (default: counted from a model method's checkpoint; none for classic finders)")
    p.add_argument("--benchmark", default=None, metavar="NAME/VERSION/SPLIT",
                   help="benchmark the results claim (default: the registered one whose frames the results describe)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="allowed |claimed − recomputed| of every rate (default 0.01)")
    p.add_argument("--no-recompute", action="store_true", help="skip recomputing the metrics (validate only; default off)")
    _board_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.peakfind.commands import add_finder_arguments
    from peaknet_bench.util.cli import add_json, add_output, verbs as verbs_of

    verbs = verbs_of(sub, "leaderboard", help="validate and add submissions, render the leaderboard, regression tests")

    s = verbs.add_parser("submit", help="validate a submission (recomputing its metrics) and add it to the board")
    _entry_options(s)
    s.add_argument("--replace", default=None, metavar="ENTRY_ID",
                   help="replace this entry of the benchmark (predictions already on the board are refused otherwise, "
                        "under any method name)")
    s.set_defaults(handler=run_submit, add=True)

    v = verbs.add_parser("validate", help="run every check of `submit` without adding the entry")
    _entry_options(v)
    v.set_defaults(handler=run_submit, add=False, replace=None)

    r = verbs.add_parser("render", help="write LEADERBOARD.md and the self-contained index.html")
    _board_option(r)
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.set_defaults(handler=run_render)

    p = verbs.add_parser("predict", help="write a method's predicted peak lists (CXI) for a benchmark's frames")
    add_finder_arguments(p)
    p.add_argument("--name", default=None, help="method name (default: from the method)")
    p.add_argument("--device", default="cpu", help="torch device for model methods (default: cpu)")
    p.add_argument("--benchmark", required=True, metavar="NAME/VERSION/SPLIT", help="a registered benchmark")
    add_output(p, "predictions.cxi", "output CXI")
    _board_option(p)
    add_json(p)
    p.set_defaults(handler=run_predict)

    g = verbs.add_parser("regress", help="compare a candidate's results with a baseline; exit 1 on a regression")
    g.add_argument("candidate", help="results or submission JSON of the candidate")
    g.add_argument("--against", required=True,
                   help="baseline: a results/submission JSON or a leaderboard entry id (e.g. pf8-default)")
    g.add_argument("--tolerance-file", default=None, metavar="TOL.yaml",
                   help="per-metric tolerances overriding the shipped defaults (peaknet_bench/leaderboard/tolerances.yaml)")
    _board_option(g)
    g.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    g.set_defaults(handler=run_regress)


def _benchmark(board: str, ref: str | None):
    from peaknet_bench.errors import InputError
    from peaknet_bench.leaderboard.benchmarks import load_registry

    if ref is None:
        return None
    parts = ref.strip("/").split("/")
    registry = load_registry(board)
    bench = registry.find(*parts) if len(parts) == 3 else None
    if bench is None:
        raise InputError(None, "--benchmark", f"{ref!r} is not a registered benchmark; known: {registry.known()}")
    return bench


def submission_data(args: argparse.Namespace) -> dict:
    """The submission to check: the file itself when it is one, else built from results + options."""
    from peaknet_bench.errors import InputError
    from peaknet_bench.leaderboard.schema import SCHEMA_NAME, read_json
    from peaknet_bench.leaderboard.validate import make_submission, match_benchmark

    data = read_json(args.results)
    if data.get("schema_name") == SCHEMA_NAME:
        return data
    config = _read_config(args.model_config) if args.model_config else None
    bench = _benchmark(args.board, args.benchmark)
    if bench is None:
        bench = match_benchmark(data, args.board)
        if bench is None:
            raise InputError(args.results, "dataset", "the results' frames match no registered benchmark "
                             "(evaluate on a benchmark's frames, or name one with --benchmark)")
    model_config, n_parameters = model_details(data)
    return make_submission(data, args.predictions, method_name=args.method_name, authors=args.authors,
                           code_url=args.code_url, description=args.description,
                           model_config=config if config is not None else model_config,
                           n_parameters=args.n_parameters if args.n_parameters is not None else n_parameters,
                           benchmark=bench, reference=args.reference)


def _read_config(path: str) -> dict:
    """A model configuration file: JSON, or YAML (.yaml/.yml, e.g. NAME.model.yaml)."""
    import yaml

    from peaknet_bench.errors import InputError
    from peaknet_bench.leaderboard.schema import read_json

    if Path(path).suffix not in (".yaml", ".yml"):
        return read_json(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, None, f"cannot read the model configuration ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a mapping")
    return data


def model_details(results: dict) -> tuple[dict | None, int | None]:
    """(configuration, parameter count) of a model method's checkpoint; (None, None) for other
    kinds or a checkpoint that is not on this machine."""
    method = results.get("method") if isinstance(results.get("method"), dict) else {}
    checkpoint = (method.get("params") or {}).get("checkpoint")
    if method.get("kind") != "model" or not checkpoint or not Path(checkpoint).exists():
        return None, None
    from peaknet_bench.models import load_model
    from peaknet_bench.models.peaknet import count_parameters

    model = load_model(checkpoint)
    return {**model.config.to_dict(), "checkpoint_sha256": method["params"].get("sha256")}, count_parameters(model)


def run_submit(args: argparse.Namespace) -> int:
    from peaknet_bench.leaderboard.validate import ValidationConfig, add_entry, dump_problems, validate_submission
    from peaknet_bench.util.output import emit

    data = submission_data(args)
    config = ValidationConfig(rate_tolerance=args.tolerance, recompute=not args.no_recompute)
    rep = validate_submission(data, args.predictions, args.board, config)
    summary = {"ok": rep.ok, "problems": rep.problems, "checks": rep.checks,
               "benchmark": rep.benchmark.key if rep.benchmark else None, "entry": None}
    if not rep.ok:
        human = f"submission rejected: {len(rep.problems)} problem(s)\n{dump_problems(rep.problems)}"
        emit(summary, human, args.json)
        return 1
    m = (rep.recomputed or rep.submission.results).metrics
    summary.update({k: getattr(m, k) for k in ("n_frames", "hit_rate", "indexing_rate", "indexing_yield")})
    human = (f"submission valid ({', '.join(rep.checks)}): {rep.submission.entry.method_name} on {rep.benchmark.key}: "
             f"yield {100 * m.indexing_yield:.1f}% over {m.n_frames} frames")
    if args.add:
        path = add_entry(rep, args.predictions, args.board, replace=args.replace)
        summary["entry"] = str(path)
        human += f"\nadded {path}\nrun `peaknet-bench leaderboard render` to update the board"
    emit(summary, human, args.json)
    return 0


def run_render(args: argparse.Namespace) -> int:
    from peaknet_bench.leaderboard.render import render_board
    from peaknet_bench.util.output import emit

    summary = render_board(args.board)
    human = (f"{summary['n_entries']} entries on {len(summary['benchmarks'])} benchmark(s)\n"
             f"wrote {summary['markdown']}\nwrote {summary['html']}")
    emit(summary, human, args.json)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import time

    from peaknet_bench.peakfind.commands import finder_method
    from peaknet_bench.leaderboard.benchmarks import frame_source
    from peaknet_bench.leaderboard.predict import write_predictions
    from peaknet_bench.util.output import emit

    bench = _benchmark(args.board, args.benchmark)
    method = finder_method(args, args.device, args.name)
    source = frame_source(bench, args.board)
    t0 = time.perf_counter()
    n = write_predictions(method, source, args.output)
    seconds = time.perf_counter() - t0
    summary = {"output": args.output, "benchmark": bench.key, "method": method.name, "n_frames": n, "seconds": seconds}
    emit(summary, f"wrote {n} peak lists of {method.name} on {bench.key} to {args.output} ({seconds:.1f} s)", args.json)
    return 0


def run_regress(args: argparse.Namespace) -> int:
    from peaknet_bench.leaderboard.regress import compare, load_tolerances
    from peaknet_bench.leaderboard.schema import load_results_or_submission
    from peaknet_bench.leaderboard.validate import find_entry
    from peaknet_bench.util.output import emit

    candidate, _ = load_results_or_submission(args.candidate)
    if Path(args.against).is_file():
        baseline, _ = load_results_or_submission(args.against)
        label = args.against
    else:
        entry = find_entry(args.board, args.against)
        baseline, label = entry.results, f"leaderboard entry {entry.id}"
    report = compare(candidate, baseline, load_tolerances(args.tolerance_file))
    summary = {"candidate": args.candidate, "against": label, **report.to_dict()}
    human = f"{args.candidate} vs {label}\n{report.table()}"
    emit(summary, human, args.json)
    return 0 if report.ok else 1

