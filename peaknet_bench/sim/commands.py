"""`peaknet-bench sim list | run`: the named experiments, and a simulated run to CXI + truth."""

from __future__ import annotations

import argparse

DEFAULT_FRAMES = 200
DEFAULT_SEED = 1


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import add_json, add_n_frames, add_output, verbs

    sim = verbs(sub, "sim", help="the serial-crystallography simulator: list experiments, simulate a run")
    ls = sim.add_parser("list", help="the named experiments (detector, energy, cell, space group, intensities)")
    add_json(ls)
    ls.set_defaults(handler=run_list)
    p = sim.add_parser(
        "run", help="simulate a serial-crystallography run with ground truth",
        description="Simulate frames of a named experiment (or a YAML file) into a CXI file, with the "
        "detector .geom, the target .cell and a ground-truth sidecar <run>.truth.h5 beside it.",
    )
    p.add_argument("experiment", nargs="?", default=None, help="experiment name (see `sim list`) or a YAML file")
    p.add_argument("--list", action="store_true", help=argparse.SUPPRESS)  # deprecated: `sim list`
    add_n_frames(p, DEFAULT_FRAMES, "number of frames", "--frames")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"random seed: same seed, same bytes (default: {DEFAULT_SEED})")
    add_output(p, "run.cxi", "output CXI file")
    p.add_argument("--preview", default=None, metavar="PNG", help="also render one hit frame with its true peaks circled")
    p.add_argument("--compression", default="none", choices=["none", "gzip", "lzf", "zstd", "bitshuffle-lz4"],
                   help="CXI data compression (default: none; noisy float frames shrink only ~15 %% with gzip, "
                   "at ~1 s per Epix10ka2M frame)")
    p.add_argument("--truth-peaks", action="store_true",
                   help="also write the found-able reflections as the CXI peak list (index the truth with CrystFEL)")
    add_json(p)
    p.set_defaults(handler=run)


def _describe(name: str) -> dict:
    from peaknet_bench.sim.experiment import load_experiment

    exp = load_experiment(name, validate=False)  # listing needs no pixel maps
    cell = exp.unit_cell()
    return {
        "name": exp.name, "detector": exp.detector.geometry, "clen_m": exp.detector.clen_m,
        "photon_energy_ev": exp.beam.photon_energy_ev, "cell": list(cell.parameters),
        "space_group": cell.space_group, "intensities": exp.crystal.intensities,
        "hit_fraction": exp.run.hit_fraction, "multi_lattice_fraction": exp.run.multi_lattice_fraction,
        "description": exp.description,
    }


def run_list(args: argparse.Namespace) -> int:
    from peaknet_bench.sim.experiment import list_experiments
    from peaknet_bench.util.output import emit, table

    rows = [_describe(n) for n in list_experiments()]
    human = table(
        [[r["name"], r["detector"], f"{r['photon_energy_ev'] / 1000:.1f}", " ".join(f"{x:.2f}" for x in r["cell"]),
          r["space_group"] or "", r["intensities"]] for r in rows],
        ["name", "detector", "keV", "cell (Å, °)", "space group", "|F|²"],
    )
    if args.json:
        import json
        import sys

        from peaknet_bench.util.output import _jsonable

        sys.stdout.write(json.dumps(_jsonable(rows)) + "\n")
    else:
        emit({}, human, False)
    return 0


def run(args: argparse.Namespace) -> int:
    from peaknet_bench.errors import InputError
    from peaknet_bench.util.cli import warn
    from peaknet_bench.util.output import emit

    if args.list:
        warn("--list is deprecated; use `peaknet-bench sim list`")
        return run_list(args)
    if args.experiment is None:
        raise InputError(None, "EXPERIMENT", "name an experiment (see `peaknet-bench sim list`) or a YAML file")
    if args.n_frames < 1:
        raise InputError(None, "--n-frames", f"expected a positive number of frames, got {args.n_frames}")
    from peaknet_bench.sim.experiment import load_experiment
    from peaknet_bench.sim.run import simulate_run

    exp = load_experiment(args.experiment)
    summary = simulate_run(exp, args.n_frames, args.seed, args.output, preview_path=args.preview,
                           compression=None if args.compression == "none" else args.compression,
                           truth_peaks=args.truth_peaks)
    human = (
        f"{summary['experiment']}: {summary['frames']} frames, {summary['hits']} hits "
        f"({summary['hit_rate']:.0%}), {summary['multi_lattice']} multi-lattice\n"
        f"mean reflections / hit {summary['mean_reflections_per_hit']:.1f}, "
        f"mean found-able / hit {summary['mean_foundable_per_hit']:.1f}\n"
        f"{summary['seconds']:.1f} s ({summary['frames_per_second']:.1f} frames/s)\n"
        + "\n".join(f"  {k:6s} {v}" for k, v in summary["files"].items())
        + (f"\n  preview {summary['preview']} ({summary['preview_event']})" if summary["preview"] else "")
    )
    emit(summary, human, args.json)
    return 0
