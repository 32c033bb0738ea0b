"""`peaknet-bench quickstart` (what `make demo` runs): the benchmark's main job, small.

1. simulate a run of a named experiment (or reuse the one cached in the output folder when
   it was made with the same experiment, seed and size);
2. tune peakfinder8 for indexing yield on *other* frames of the same experiment (another
   seed: the expert baseline, with its search cost);
3. evaluate peakfinder8 with CrystFEL's default and with the tuned parameters on the run,
   with the same indexer;
4. print Table 1 and write the report (Markdown, HTML, Figure 6, yield vs throughput).

A few minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


from peaknet_bench.util.shipped import default_model

SHIPPED_STUDENT = default_model()  # the shipped reference student (package data; baselines/models/ in a checkout)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="simulate a small run, tune and evaluate peakfinder8, print Table 1 (make demo)")
    p.add_argument("--experiment", default="epix10k-lysozyme", help="named experiment (default epix10k-lysozyme)")
    p.add_argument("-n", "--n-frames", type=int, default=60, help="evaluation frames (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation run (default 0)")
    p.add_argument("--tune-frames", type=int, default=24, help="tuning frames, from seed+1 (default 24)")
    p.add_argument("--budget", type=int, default=16, help="tuner trials (default 16)")
    p.add_argument("--workers", type=int, default=1, help="Ray workers for evaluation (1 = in-process; default 1)")
    p.add_argument("--model", default=str(SHIPPED_STUDENT),
                   help="model checkpoint evaluated next to peakfinder8 (default: the shipped reference student "
                        f"{SHIPPED_STUDENT.name}); 'none' skips it")
    p.add_argument("-o", "--output", default="out/quickstart", help="output folder (default out/quickstart)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=run)


def _cached_run(exp, seed: int, n: int, folder: Path) -> Path:
    """The run's CXI path, simulating it unless an identical run is already there."""
    from peaknet_bench.evaluate.methods import sha256_text
    from peaknet_bench.sim import simulate_run
    from peaknet_bench.util.atomic import write_text_atomic

    cxi = folder / "run.cxi"
    stamp = folder / "run.stamp.json"
    key = {"experiment_sha256": sha256_text(exp.to_yaml()), "seed": seed, "n_frames": n}
    if cxi.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return cxi
    simulate_run(exp, n, seed, cxi)
    write_text_atomic(stamp, json.dumps(key) + "\n")
    return cxi


def run(args: argparse.Namespace) -> int:
    import time

    from peaknet_bench.errors import InputError
    from peaknet_bench.evaluate.commands import SUMMARY_HEADER, summary_row
    from peaknet_bench.evaluate.frames import CXIFrames, SimulatedFrames
    from peaknet_bench.evaluate.harness import EvalConfig, evaluate
    from peaknet_bench.evaluate.methods import model_method, pf8_method
    from peaknet_bench.evaluate.report import render_report
    from peaknet_bench.evaluate.results import write_results
    from peaknet_bench.evaluate.tune import TuneConfig, tune_pf8
    from peaknet_bench.peakfind import Peakfinder8Params
    from peaknet_bench.sim import load_experiment
    from peaknet_bench.util.atomic import write_text_atomic
    from peaknet_bench.util.output import emit, table, to_json

    use_model = args.model.lower() != "none"
    if use_model and not Path(args.model).exists():
        raise InputError(args.model, "--model", "no such checkpoint (pass --model none to skip the model)")
    t0 = time.perf_counter()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    exp = load_experiment(args.experiment)
    cxi = _cached_run(exp, args.seed, args.n_frames, out)
    tuned = tune_pf8(SimulatedFrames(args.experiment, args.seed + 1, args.tune_frames), TuneConfig(budget=args.budget))
    write_text_atomic(out / "tuned.json", to_json(tuned, indent=2) + "\n")
    frames = CXIFrames(cxi, cxi.with_suffix(".geom"))
    config = EvalConfig(workers=args.workers)
    results = []
    methods = [pf8_method(Peakfinder8Params(), "pf8-default"),
               pf8_method(Peakfinder8Params.from_dict(tuned["peakfinder8"]), "pf8-tuned")]
    if use_model:
        methods.append(model_method(args.model, Path(args.model).name.split(".")[0]))
    for method in methods:
        r = evaluate(method, frames, config)
        write_results(r, out / f"results-{method.name}.json")
        results.append(r)
    paths = render_report(results, out / "report")
    rows = [summary_row(r) for r in results]
    cost = tuned["tuning"]["cost"]
    summary = {
        "experiment": exp.name, "frames": args.n_frames, "run": str(cxi), "tuned_params": tuned["peakfinder8"],
        "tuning_cost": cost, "methods": [dict(zip(SUMMARY_HEADER, row)) for row in rows],
        "cell_a_mean": [r.metrics.cell["a"].mean for r in results], "report": paths,
        "seconds": time.perf_counter() - t0,
    }
    human = (f"{exp.name}: {args.n_frames} frames (seed {args.seed}); peakfinder8 tuned on {args.tune_frames} other "
             f"frames in {cost['trials']} trials ({cost['seconds']:.0f} s)\n\n"
             + table(rows, SUMMARY_HEADER) + f"\n\nreport: {paths['markdown']}, {paths['html']}")
    emit(summary, human, args.json)
    return 0
