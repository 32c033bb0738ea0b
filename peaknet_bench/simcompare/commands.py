"""`peaknet-bench sim compare FILES... --experiment NAME`: real frames against a simulated
experiment, measured the same way — a thin layer over
`simcompare.compare_real_and_simulated`. The verb joins the `sim` noun's table (`sim list`,
`sim run` come from `sim/commands.py`); it lives here because the comparison needs the peak
finders and the data engine's fitter, which `sim` may not import."""

from __future__ import annotations

import argparse

DEFAULT_OUTPUT = "sim-compare"


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.io.frames import add_frame_arguments
    from peaknet_bench.peakfind.commands import add_finder_arguments
    from peaknet_bench.simcompare.compare import CompareConfig
    from peaknet_bench.util.cli import add_json, add_output, field_option, verbs

    p = verbs(sub, "sim", help="").add_parser(
        "compare", help="real frames versus a simulated experiment, measured the same way (calibrate the YAML)",
        description="Measure real frames (FILES) and frames simulated from --experiment the same way: radial "
                    "background profile in |q| bins, pixel-value histogram, spots of the peak finder and their "
                    "pseudo-Voigt fits (FWHM, aspect, pixels, intensity), spots per frame; print median [IQR] of "
                    "each side by side with sim/real and a verdict naming the YAML fields to change, and write "
                    "OUTPUT/compare.json and OUTPUT/compare.png. The Python equivalent is "
                    "peaknet_bench.simcompare.compare_real_and_simulated(files, experiment, CompareConfig(...)).",
    )
    p.add_argument("files", nargs="+", metavar="FILES",
                   help="real frame files, globs or list files (miniCBF, imgCIF/CBF, NeXus; CXI with --geom)")
    p.add_argument("--experiment", required=True, metavar="NAME",
                   help="the simulated experiment to compare with: a name (see `sim list`) or a YAML file (required)")
    field_option(p, ("-n", "--n-frames"), CompareConfig, "n_frames", "simulated frames", metavar="N")
    field_option(p, "--seed", CompareConfig, "seed", "simulation seed")
    add_frame_arguments(p)
    finder = add_finder_arguments(p)
    # This command's peakfinder8 threshold follows the detector's gain (CompareConfig), not
    # CrystFEL's 800 ADU: the option's help says so, and --threshold-photons carries the default.
    threshold = finder["threshold"]
    del threshold.field
    threshold.help = ("ADC threshold (ADU), floor of the per-bin detection threshold; when neither this nor "
                      "--params sets it: --threshold-photons times the experiment's ADU per photon")
    field_option(p, "--threshold-photons", CompareConfig, "threshold_photons",
                 "peakfinder8's threshold, in photons of the experiment's detector, when --threshold and --params "
                 "leave it open")
    field_option(p, "--real-adu-per-photon", CompareConfig, "real_adu_per_photon",
                 "ADU per photon of the real frames (none: their geometry's, else assumed to be the experiment's)",
                 type=float, metavar="ADU")
    field_option(p, "--q-bins", CompareConfig, "q_bins", "|q| bins of the radial background profile")
    add_output(p, DEFAULT_OUTPUT, "output folder (compare.json, compare.png)")
    add_json(p)
    p.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from peaknet_bench.peakfind.commands import finder_method
    from peaknet_bench.sim import load_experiment
    from peaknet_bench.simcompare.compare import (
        CompareConfig, compare_real_and_simulated, default_pf8_params, format_summary, summary_json,
    )
    from peaknet_bench.util.output import emit

    config = CompareConfig(n_frames=args.n_frames, seed=args.seed, threshold_photons=args.threshold_photons,
                           real_adu_per_photon=args.real_adu_per_photon, q_bins=args.q_bins)
    experiment = load_experiment(args.experiment)
    method = finder_method(args, "cpu", "pf8" if args.method == "pf8" else None,
                           pf8_base=default_pf8_params(experiment, config))
    result = compare_real_and_simulated(args.files, experiment, config, method=method, geom=args.geom,
                                        reader=args.reader, output=args.output)
    emit(summary_json(result), format_summary(result), args.json)
    return 0
