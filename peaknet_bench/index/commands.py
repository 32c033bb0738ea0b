"""`peaknet-bench index run peaks.cxi --geom det.geom --cell target.cell -o out.stream` (a thin layer over
`peaknet_bench.index.index_files`), and the indexer options other commands share."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.frame import HIT_MIN_PEAKS
    from peaknet_bench.util.cli import add_address, add_json, add_n_frames, add_output, verbs

    p = verbs(sub, "index", help="indexing: peak lists against a known cell -> CrystFEL stream").add_parser(
        "run", help="index peak lists (CXI) against a known cell and write a CrystFEL stream",
        description=(
            "Index the peak lists of a CXI file with a backend of the indexer registry — the built-in "
            "known-cell indexer (default), CrystFEL's indexamajig or DIALS' dials.index — and write a "
            "CrystFEL-format stream with peaks, crystals (refined cell, astar/bstar/cstar) and predicted "
            "reflections. The built-in indexer accepts a lattice by its significance against chance and "
            "looks for further lattices (split crystals) among the peaks it leaves. Only hits (--min-peaks) "
            "are indexed, as indexamajig --min-peaks. The Python equivalent is peaknet_bench.index.index_files."
        ),
    )
    p.add_argument("peaks", help="CXI file with peak lists (/entry_1/result_1)")
    p.add_argument("--geom", required=True, help="detector geometry: CrystFEL .geom file or preset name")
    p.add_argument("--cell", required=True, help="target unit cell: CrystFEL .cell file (or PDB file with CRYST1)")
    add_output(p, "indexed.stream", "output stream")
    add_indexer_arguments(p, "--method")
    p.add_argument("-j", "--workers", type=int, default=1,
                   help="parallel workers: Ray tasks for builtin, indexamajig -j for crystfel, dials.index runs "
                        "for dials (default: 1)")
    add_address(p)
    p.add_argument("--min-peaks", type=int, default=HIT_MIN_PEAKS,
                   help=f"a frame is a hit, and is indexed, with at least this many peaks (default: {HIT_MIN_PEAKS}; "
                        "0 indexes every frame, as CrystFEL's default)")
    add_n_frames(p, None, "index only the first N frames", "--limit")
    p.add_argument("--no-predictions", action="store_true", help="do not write predicted reflections in the stream")
    add_json(p)
    p.set_defaults(handler=run_index)


def add_indexer_arguments(p: argparse.ArgumentParser, *old_method_flags: str) -> None:
    """--indexer NAME (from the registry), --indexer-method, and one option per threshold of the
    built-in indexer, its default and help read from BuiltinConfig (defined once there).
    `old_method_flags` (`--method` of `index run` before --method meant the peak finder) stay
    as deprecated aliases of --indexer-method."""
    from dataclasses import MISSING

    from peaknet_bench.index.config import BuiltinConfig, option_fields
    from peaknet_bench.index.registry import INDEXERS, indexer_names

    names = indexer_names()
    p.add_argument("--indexer", choices=names, default="builtin",
                   help="indexing backend: " + "; ".join(f"{n}: {INDEXERS.get(n).description}" for n in names)
                        + " (default: builtin)")
    method = p.add_argument("--indexer-method", dest="indexer_method", default=None,
                            help="indexing method of the external backend: indexamajig --indexing for crystfel "
                                 "(default: xgandalf), indexing.method for dials (default: fft1d)")
    if old_method_flags:
        from peaknet_bench.util.cli import deprecated_alias

        deprecated_alias(p, method, *old_method_flags)
    group = p.add_argument_group("built-in indexer", "thresholds of the built-in indexer (BuiltinConfig); "
                                 "--max-lattices also sets crystfel --multi and dials' multiple-lattice search")
    for f in option_fields(BuiltinConfig):
        default = f.default if f.default is not MISSING else None
        flag = "--" + f.name.replace("_", "-")
        help_ = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(flag, dest=f"builtin_{f.name}", action=argparse.BooleanOptionalAction, default=None,
                               help=help_)
        else:
            group.add_argument(flag, dest=f"builtin_{f.name}", type=type(default), default=None, metavar="X", help=help_)


def indexer_options(args: argparse.Namespace, name: str, workers: int = 1) -> dict[str, Any]:
    """Config options of backend `name` from the parsed arguments (only what was given)."""
    given = {k[len("builtin_"):]: v for k, v in vars(args).items() if k.startswith("builtin_") and v is not None}
    if name == "builtin":
        return given
    lattices = given.get("max_lattices")
    options: dict[str, Any] = {"cores": workers}
    if getattr(args, "indexer_method", None):
        options["method"] = args.indexer_method
    if name == "crystfel" and lattices is not None:
        options["multi"] = lattices > 1
    if name == "dials" and lattices is not None:
        options["max_lattices"] = lattices
    return options


def run_index(args: argparse.Namespace) -> int:
    from peaknet_bench.index.files import index_files
    from peaknet_bench.util.output import emit, table

    summary = index_files(args.peaks, args.geom, args.cell, args.output, indexer=args.indexer,
                          indexer_options=indexer_options(args, args.indexer, args.workers), workers=args.workers,
                          address=args.address, min_peaks=args.min_peaks, n_frames=args.n_frames,
                          predictions=not args.no_predictions)
    n, hits, indexed, seconds = summary["frames"], summary["hits"], summary["indexed"], summary["seconds"]
    rate = "-" if summary["indexing_rate"] is None else f"{100 * summary['indexing_rate']:.1f} %"
    lines = [
        f"{args.peaks}: {n} frames, {hits} hits, {indexed} indexed ({rate} of hits), "
        f"{summary['crystals']} crystals; {seconds:.2f} s ({summary['frames_per_s'] or 0:.1f} frames/s) with "
        f"{summary['indexer']}",
        f"stream written to {args.output}",
    ]
    if summary["crystals"]:
        units = {"a": " Å", "b": " Å", "c": " Å", "alpha": "°", "beta": "°", "gamma": "°"}
        rows = [[k, f"{v['mean']:.2f}{units[k]}", "-" if v["sd"] is None else f"{v['sd']:.2f}{units[k]}", f"{t:.2f}{units[k]}"]
                for (k, v), t in zip(summary["unit_cell"].items(), summary["target_cell"])]
        lines += ["", table(rows, ["", "mean", "sd", "target"])]
    emit(summary, "\n".join(lines), args.json)
    return 0
