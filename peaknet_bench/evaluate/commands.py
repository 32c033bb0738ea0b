"""`peaknet-bench evaluate run | report` and `peaknet-bench peaks tune` (thin layers over
`evaluate.evaluate`, `evaluate.render_report` and `evaluate.tune.tune_pf8`)."""

from __future__ import annotations

import argparse
from pathlib import Path


EVALUATE_SIMULATED_FRAMES = 100  # `evaluate run --experiment` without -n
TUNE_SIMULATED_FRAMES = 40  # `peaks tune --experiment` without -n


def _add_frames_options(p: argparse.ArgumentParser, default_seed: int, simulated_frames: int) -> None:
    g = p.add_argument_group("frames (detector files, a simulated experiment, or a dataset split)")
    g.add_argument("--frames", metavar="FILE", nargs="+",
                   help="frame files, globs or list files: CXI (+ .geom), miniCBF, imgCIF/CBF, NeXus/NXmx")
    g.add_argument("--geom", metavar="DET.geom",
                   help="geometry of --frames (default: RUN.geom beside a CXI run, else the files' own)")
    g.add_argument("--reader", default=None, help="force a frame reader: minicbf, imgcif, euxfel, nexus, cxi (default: by content)")
    g.add_argument("--cell", metavar="TARGET.cell",
                   help="target unit cell (default: RUN.cell beside --frames, or the experiment's cell)")
    g.add_argument("--truth", metavar="RUN.truth.h5", help="truth sidecar (default: RUN.truth.h5 beside --frames if present)")
    g.add_argument("--experiment", metavar="NAME", help="simulated experiment name or YAML (see `sim list`); "
                   "with --dataset: which experiment of the split")
    g.add_argument("--dataset", metavar="DIR|NAME[:VER]",
                   help="a built or downloaded dataset (directory, or name[:version] from the cache), e.g. peaknet-sim:1.2")
    g.add_argument("--split", default="test",
                   help="dataset split with --dataset: train, validation, test or test_ood (default: test)")
    g.add_argument("-n", "--n-frames", type=int, default=None, metavar="N",
                   help=f"number of frames (default: {simulated_frames} simulated; all of --frames or the split)")
    g.add_argument("--seed", type=int, default=default_seed, help=f"simulation seed (default: {default_seed})")
    g.add_argument("--start", type=int, default=0, help="first frame index (default: 0)")


def _frames(args: argparse.Namespace, default_n: int):
    from peaknet_bench.errors import InputError
    from peaknet_bench.evaluate.frames import DatasetFrames, FileFrames, SimulatedFrames

    if getattr(args, "dataset", None) is not None:
        if args.frames is not None:
            raise InputError(None, "--dataset/--frames", "give one of --dataset or --frames")
        return DatasetFrames(_dataset_dir(args.dataset), args.split, args.experiment, args.cell, args.start, args.n_frames)
    if (args.frames is None) == (args.experiment is None):
        raise InputError(None, "--frames/--experiment/--dataset",
                         "give exactly one of --frames FILE..., --experiment NAME or --dataset NAME")
    if args.frames is not None:
        return FileFrames(args.frames, args.geom, args.cell, args.truth, args.start, args.n_frames,
                          getattr(args, "reader", None))
    return SimulatedFrames(args.experiment, args.seed, default_n if args.n_frames is None else args.n_frames, args.start)


def _dataset_dir(spec: str) -> Path:
    """A dataset directory as given, or NAME[:VERSION] from the local cache (fetched if it has a URL)."""
    p = Path(spec)
    if p.exists():
        return p
    from peaknet_bench.data.download import fetch, parse_spec

    name, version = parse_spec(spec)
    return fetch(name, version)


def _cell(args: argparse.Namespace):
    if args.cell is None or args.frames is not None or getattr(args, "dataset", None) is not None:
        return None
    from peaknet_bench.crystal import read_cell_file

    return read_cell_file(args.cell)


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.evaluate.harness import EvalConfig
    from peaknet_bench.evaluate.tune import TuneConfig
    from peaknet_bench.index.commands import add_indexer_arguments
    from peaknet_bench.peakfind.commands import add_finder_arguments
    from peaknet_bench.util.cli import add_address, add_json, add_output, field_option, verbs

    evaluate = verbs(sub, "evaluate", help="the benchmark: evaluate a peak finder, render the report")
    p = evaluate.add_parser("run", help="evaluate a peak-finding method: hit rate, indexing rate, yield, cells, throughput",
                            description="The Python equivalent is peaknet_bench.evaluate.evaluate(method, frames, "
                                        "EvalConfig(...)).")
    add_finder_arguments(p)
    p.add_argument("--name", help="method name in the results and report (default: from the method)")
    p.add_argument("--device", default="cpu", help="torch device for model methods (default: cpu)")
    _add_frames_options(p, default_seed=0, simulated_frames=EVALUATE_SIMULATED_FRAMES)
    add_indexer_arguments(p)
    field_option(p, "--min-peaks", EvalConfig, "min_peaks", "a hit has at least this many peaks")
    p.add_argument("--match-radius", type=float, default=None,
                   help="peak ↔ true reflection (or --reference spot) match radius, px (default 3; 2 with --reference)")
    p.add_argument("--reference", metavar="PATH",
                   help="real --frames without truth: compare with a reference spot list (a folder of DIALS "
                        "NAME.spots.csv + summary.json, a DIALS .refl, or a CrystFEL .stream): recall/precision, "
                        "and how many of the frames it indexed we index")
    p.add_argument("--reference-format", default=None,
                   help="force the reference's format: dials-csv, dials-refl, stream (default: by content)")
    field_option(p, "--workers", EvalConfig, "workers", "Ray workers (1 = in-process)")
    add_address(p)
    field_option(p, "--chunk-size", EvalConfig, "chunk_size", "frames per task")
    p.add_argument("--allow-overlap", action="store_true",
                   help="allow evaluating on frames the --params were tuned on (default: refuse)")
    add_output(p, "results.json", "results file")
    p.add_argument("--predictions", metavar="PEAKS.cxi",
                   help="also write the peak lists found (one CXI row per frame): a leaderboard submission's "
                        "--predictions, without running the method a second time")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted evaluation into the same --output from the frames it finished "
                        "(kept in OUTPUT.partial/)")
    add_json(p)
    p.set_defaults(handler=run_evaluate)

    t = verbs(sub, "peaks", help="").add_parser(
        "tune", help="tune peakfinder8 for indexing yield on a tuning subset (the expert baseline)",
        description="The Python equivalent is peaknet_bench.evaluate.tune.tune_pf8(frames, TuneConfig(...)).")
    _add_frames_options(t, default_seed=1, simulated_frames=TUNE_SIMULATED_FRAMES)
    field_option(t, "--budget", TuneConfig, "budget", "parameter sets tried")
    field_option(t, "--search-seed", TuneConfig, "seed", "seed of the random search")
    add_indexer_arguments(t)
    field_option(t, "--min-peaks", TuneConfig, "min_peaks", "a hit has at least this many peaks")
    add_output(t, "tuned.json", "tuned parameters JSON, usable by --params")
    add_json(t)
    t.set_defaults(handler=run_tune)

    r = evaluate.add_parser("report", help="render Table 1 (Markdown, HTML), Figure 6 and yield-vs-throughput (PNG)")
    r.add_argument("results", nargs="+", help="results files written by `evaluate run`")
    add_output(r, "report", "output folder")
    add_json(r)
    r.set_defaults(handler=run_report)


def summary_row(results) -> list:
    m = results.metrics
    return [results.method.name, m.n_frames, m.hit_rate, m.indexing_rate, m.indexing_yield,
            results.throughput.frames_per_second or 0.0]


SUMMARY_HEADER = ["method", "frames", "hit rate", "indexing rate", "yield", "frames/s"]


def run_evaluate(args: argparse.Namespace) -> int:
    from peaknet_bench.errors import InputError
    from peaknet_bench.index.commands import indexer_options
    from peaknet_bench.evaluate.checkpoint import Checkpoint, checkpoint_dir
    from peaknet_bench.evaluate.harness import EvalConfig, evaluate
    from peaknet_bench.evaluate.results import write_results
    from peaknet_bench.peakfind.commands import finder_method
    from peaknet_bench.evaluate.tune import refuse_tuning_overlap
    from peaknet_bench.util.output import emit, table

    if getattr(args, "reference", None) is not None:
        from peaknet_bench.evaluate.reference_command import run_evaluate_reference

        return run_evaluate_reference(args)
    method = finder_method(args, args.device, args.name)
    source = _frames(args, default_n=EVALUATE_SIMULATED_FRAMES)
    if args.params and not args.allow_overlap:
        refuse_tuning_overlap(args.params, source.identity(), source.indices(),
                              "evaluate on disjoint frames (another --seed or --start)")
    if args.workers < 1:
        raise InputError(None, "--workers", f"expected >= 1, got {args.workers}")
    radius = EvalConfig.match_radius_px if args.match_radius is None else args.match_radius
    config = EvalConfig(min_peaks=args.min_peaks, match_radius_px=radius, indexer=args.indexer,
                        indexer_options=indexer_options(args, args.indexer), workers=args.workers,
                        address=args.address, chunk_size=args.chunk_size)
    run = {"method": method.identity(), "frames": source.identity(), "match_radius_px": config.match_radius_px}
    checkpoint = Checkpoint(checkpoint_dir(args.output), run, resume=args.resume)
    results = evaluate(method, source, config, cell=_cell(args), checkpoint=checkpoint, predictions=args.predictions)
    write_results(results, args.output)
    checkpoint.remove()
    m = results.metrics
    summary = {"output": args.output, "method": results.method.name, "params_sha256": results.method.params_sha256,
               "dataset": results.dataset.name, **{k: getattr(m, k) for k in
               ("n_frames", "n_hits", "n_indexed", "hit_rate", "indexing_rate", "indexing_yield")},
               "truth": m.truth, "frames_per_second": results.throughput.frames_per_second,
               "seconds": results.throughput.find_wall_seconds + results.throughput.index_seconds}
    human = table([summary_row(results)], SUMMARY_HEADER) + f"\nwrote {args.output}"
    emit(summary, human, args.json)
    return 0


def run_tune(args: argparse.Namespace) -> int:
    from peaknet_bench.evaluate.tune import TuneConfig, tune_pf8
    from peaknet_bench.index.commands import indexer_options
    from peaknet_bench.util.atomic import write_text_atomic
    from peaknet_bench.util.output import emit, to_json

    source = _frames(args, default_n=TUNE_SIMULATED_FRAMES)
    record = tune_pf8(source, TuneConfig(budget=args.budget, seed=args.search_seed, min_peaks=args.min_peaks,
                                         indexer=args.indexer, indexer_options=indexer_options(args, args.indexer)),
                     cell=_cell(args))
    write_text_atomic(args.output, to_json(record, indent=2) + "\n")
    t = record["tuning"]
    summary = {"output": args.output, "peakfinder8": record["peakfinder8"], "best_yield": t["best"]["indexing_yield"],
               "default_yield": t["default"]["indexing_yield"], "n_frames": len(source), **t["cost"]}
    p = record["peakfinder8"]
    human = (f"tuned peakfinder8 on {len(source)} frames of {source.identity()['name']}: "
             f"{t['cost']['trials']} trials in {t['cost']['seconds']:.1f} s\n"
             f"  yield {100 * t['default']['indexing_yield']:.1f}% (defaults) -> {100 * t['best']['indexing_yield']:.1f}%"
             f" with threshold={p['threshold']:g} min_snr={p['min_snr']:g} pix={p['min_pix_count']}-{p['max_pix_count']}"
             f" local_bg_radius={p['local_bg_radius']}\nwrote {args.output}")
    emit(summary, human, args.json)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from peaknet_bench.evaluate.report import TABLE1_HEADER, render_report, table1_rows
    from peaknet_bench.evaluate.results import load_results
    from peaknet_bench.util.output import emit, table

    results = [load_results(p) for p in args.results]
    paths = render_report(results, args.output)
    summary = {"n_results": len(results), "files": paths,
               "rows": [dict(zip(TABLE1_HEADER, row)) for row in table1_rows(results)]}
    emit(summary, table(table1_rows(results), TABLE1_HEADER) + f"\nwrote {args.output}/", args.json)
    return 0
