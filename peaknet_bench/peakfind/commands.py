"""`peaknet-bench peaks find`: a peak finder (peakfinder8, a model checkpoint, ...) over detector
files into CrystFEL-compatible peak lists — a thin layer over `find_peaks_in_files`.

The pf8 options are shared with `engine run` (`add_finder_arguments`, `finder_method`)."""

from __future__ import annotations

import argparse
from typing import Any

# indexamajig option -> (Peakfinder8Params field, help); defaults are the dataclass's
PF8_OPTIONS: list[tuple[str, str, str]] = [
    ("--threshold", "threshold", "ADC threshold, floor of the per-bin detection threshold"),
    ("--min-snr", "min_snr", "sigma-clipping width and minimum peak SNR"),
    ("--min-pix-count", "min_pix_count", "minimum pixels per peak"),
    ("--max-pix-count", "max_pix_count", "maximum pixels per peak"),
    ("--local-bg-radius", "local_bg_radius", "R; local background in a disc of radius 2R"),
    ("--min-res", "min_res", "ignore pixels at radius <= this many pixels from the beam"),
    ("--max-res", "max_res", "ignore pixels at radius >= this many pixels; 0 = no limit"),
    ("--max-peaks", "max_peaks", "peak budget per frame"),
]


def add_finder_arguments(p: argparse.ArgumentParser, method_help_extra: str = "") -> dict[str, argparse.Action]:
    """--method (any registered peak finder), --params and the peakfinder8 options (indexamajig's
    names; defaults from Peakfinder8Params, CrystFEL's). Precedence: CrystFEL defaults <
    --params file < options given."""
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params
    from peaknet_bench.util.cli import field_option

    method = p.add_argument("--method", default="pf8",
                            help="peak finder: pf8 (peakfinder8), dispersion (DIALS' spot finder), a model checkpoint (.safetensors or checkpoint "
                                 f"directory), a CXI peak-list file, or oracle (needs truth){method_help_extra} "
                                 "(default: pf8)")
    g = p.add_argument_group("peakfinder8 (--method pf8)", "CrystFEL defaults < --params file < these options")
    g.add_argument("--params", default=None, metavar="PF8.json",
                   help="peakfinder8 parameters (JSON, e.g. from `peaks tune`) (default: CrystFEL's); with "
                        "--method dispersion its parameters (JSON/YAML of DispersionParams; default: DIALS'); with a "
                        "model checkpoint its peak extraction (JSON/YAML of ExtractionConfig, e.g. {min_snr: 6})")
    actions = {"method": method}
    for flag, field, text in PF8_OPTIONS:
        actions[field] = field_option(g, flag, Peakfinder8Params, field, text, overridable=True, dest=f"pf8_{field}",
                                      metavar=field.upper())
    actions["fast"] = field_option(g, "--peakfinder8-fast", Peakfinder8Params, "fast",
                                   "radial statistics from <= 100 random pixels per bin", overridable=True,
                                   dest="pf8_fast", action="store_const", const=True)
    actions["seed"] = field_option(g, "--pf8-seed", Peakfinder8Params, "seed", "seed of the fast mode's pixel subsample",
                                   overridable=True, dest="pf8_seed", metavar="SEED")
    return actions


def resolve_params(args: argparse.Namespace, base: Any = None) -> Any:
    """peakfinder8 parameters: `base` (default: CrystFEL's), replaced by the --params file when
    one is given, then the options given."""
    from peaknet_bench.peakfind.methods import load_pf8_params
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params

    base = load_pf8_params(args.params).to_dict() if args.params or base is None else base.to_dict()
    explicit = {field: getattr(args, f"pf8_{field}") for _, field, _ in PF8_OPTIONS}
    explicit.update(fast=args.pf8_fast, seed=args.pf8_seed)
    base.update({k: v for k, v in explicit.items() if v is not None})
    return Peakfinder8Params.from_dict(base, source="command line")


def finder_method(args: argparse.Namespace, device: str = "cpu", name: str | None = None, pf8_base: Any = None):
    """The MethodSpec of --method (for pf8: `pf8_base` or CrystFEL's parameters < --params < the
    pf8 options given)."""
    from peaknet_bench.errors import InputError
    from peaknet_bench.peakfind.methods import parse_method

    given = [flag for flag, field, _ in PF8_OPTIONS if getattr(args, f"pf8_{field}") is not None]
    if args.method == "pf8":
        return parse_method("pf8", args.params, name or ("pf8-custom" if given else None), device,
                            pf8_params=resolve_params(args, pf8_base))
    if given:
        raise InputError(None, given[0], f"peakfinder8 options apply to --method pf8 only, not {args.method!r}")
    return parse_method(args.method, args.params, name, device)


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.frame import HIT_MIN_PEAKS
    from peaknet_bench.io.frames import add_frame_arguments
    from peaknet_bench.util.cli import add_json, add_n_frames, add_output, deprecated_alias, verbs

    peaks = verbs(sub, "peaks", help="peak finding: peakfinder8, models, the expert's tuning")
    p = peaks.add_parser(
        "find",
        help="find peaks in every frame of detector files and write a CXI peak list",
        description=(
            "Run a peak finder (peakfinder8 by default, or a model checkpoint) on every frame of the input "
            "files (CXI with --geom; miniCBF, imgCIF/CBF and NeXus/NXmx with the geometry they carry, or "
            "--geom) and write the peak lists in the layout `indexamajig --peaks=cxi` reads "
            "(/entry_1/result_1). The Python equivalent is peaknet_bench.peakfind.find_peaks_in_files."
        ),
    )
    p.add_argument("input", nargs="+", help="frame files, globs or list files (one path per line)")
    add_frame_arguments(p)
    finder = add_finder_arguments(p)
    deprecated_alias(p, finder["seed"], "--seed")  # --seed now means a simulation / initial-weights seed
    p.add_argument("--device", default="cpu", help="torch device for a model --method (default: cpu)")
    add_output(p, None, "output CXI file (default: the first INPUT with its suffix replaced by .peaks.cxi)")
    p.add_argument("--with-data", action="store_true",
                   help="also copy the image data and mask into the output, so that indexamajig "
                        "--peaks=cxi can read images and peaks from one file (default: peaks only)")
    p.add_argument("--min-peaks", type=int, default=HIT_MIN_PEAKS,
                   help=f"a frame with at least this many peaks counts as a hit in the summary (default: {HIT_MIN_PEAKS})")
    add_n_frames(p, None, "process only the first N frames", "--max-frames", convert=lambda v: v or None)
    p.add_argument("--workers", type=int, default=1,
                   help="frames processed in parallel threads (the numba kernels release the GIL; "
                        "reading and writing stay in the main thread) (default: 1)")
    add_json(p)
    p.set_defaults(handler=run_find)


def run_find(args: argparse.Namespace) -> int:
    from peaknet_bench.peakfind.files import find_peaks_in_files
    from peaknet_bench.util.output import emit

    s = find_peaks_in_files(args.input, args.output, method=finder_method(args, args.device), geom=args.geom,
                            reader=args.reader, n_frames=args.n_frames, with_data=args.with_data,
                            min_peaks=args.min_peaks, workers=args.workers)
    human = (
        f"{s['frames']} frames from {s['n_files']} file(s) -> {s['output']}\n"
        f"peaks: {s['peaks']} total, {s['peaks_per_frame']:.1f} per frame (median {s['median_peaks_per_frame']:.0f})\n"
        f"hits (>= {s['min_peaks']} peaks): {s['hits']} ({100.0 * s['hit_rate']:.1f} %)\n"
        f"{s['method_name']}: {s['ms_per_frame']:.1f} ms/frame ({s['cpu_ms_per_frame']:.1f} ms CPU); "
        f"reading {s['read_ms_per_frame']:.1f} ms/frame; {s['seconds']:.1f} s total, {s['workers']} worker(s)"
    )
    emit(s, human, args.json)
    return 0
