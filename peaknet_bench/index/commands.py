"""`peaknet-bench index peaks.cxi --geom det.geom --cell target.cell -o out.stream`."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index", help="index peak lists (CXI) against a known cell and write a CrystFEL stream",
        description=(
            "Index the peak lists of a CXI file with a backend of the indexer registry — the built-in "
            "known-cell indexer (default), CrystFEL's indexamajig or DIALS' dials.index — and write a "
            "CrystFEL-format stream with peaks, crystals (refined cell, astar/bstar/cstar) and predicted "
            "reflections. The built-in indexer accepts a lattice by its significance against chance and "
            "looks for further lattices (split crystals) among the peaks it leaves."
        ),
    )
    p.add_argument("peaks", help="CXI file with peak lists (/entry_1/result_1)")
    p.add_argument("--geom", required=True, help="detector geometry: CrystFEL .geom file or preset name")
    p.add_argument("--cell", required=True, help="target unit cell: CrystFEL .cell file (or PDB file with CRYST1)")
    p.add_argument("-o", "--output", default="indexed.stream", help="output stream (default: indexed.stream)")
    add_indexer_arguments(p)
    p.add_argument("-j", "--workers", type=int, default=1,
                   help="parallel workers: Ray tasks for builtin, indexamajig -j for crystfel, dials.index runs "
                        "for dials (default: 1)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray when --workers > 1)")
    p.add_argument("--min-peaks", type=int, default=0, help="a frame is a hit with at least this many peaks (default: 0, as CrystFEL)")
    p.add_argument("--limit", type=int, default=None, help="index only the first N frames (default: all)")
    p.add_argument("--no-predictions", action="store_true", help="do not write predicted reflections in the stream")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(handler=run_index)


def add_indexer_arguments(p: argparse.ArgumentParser, method_flag: str = "--method") -> None:
    """--indexer NAME (from the registry), --method, and one option per threshold of the built-in
    indexer, its default and help read from BuiltinConfig (defined once there)."""
    from dataclasses import MISSING

    from peaknet_bench.index.config import BuiltinConfig, option_fields
    from peaknet_bench.index.registry import INDEXERS, indexer_names

    names = indexer_names()
    p.add_argument("--indexer", choices=names, default="builtin",
                   help="indexing backend: " + "; ".join(f"{n}: {INDEXERS.get(n).description}" for n in names)
                        + " (default: builtin)")
    p.add_argument(method_flag, dest="indexer_method", default=None,
                   help="indexing method of the external backend: indexamajig --indexing for crystfel (default: "
                        "xgandalf), indexing.method for dials (default: fft1d)")
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


def _predicted(result, geometry, energy: float, clen: float):
    """Predicted reflections of an indexed crystal, for the stream (not integrated: I = 0)."""
    from peaknet_bench.crystal import PredictionConfig, predict_reflections
    from peaknet_bench.frame import wavelength_a
    from peaknet_bench.io.stream import StreamReflections

    radius = result.profile_radius if np.isfinite(result.profile_radius) else 0.001
    pred = predict_reflections(
        result.crystal, geometry, wavelength_a(energy), clen_m=clen,
        config=PredictionConfig(profile_radius=float(np.clip(radius, 5e-4, 5e-3))),
    )
    z = np.zeros(len(pred))
    names = geometry.panel_names()
    return StreamReflections(hkl=pred.hkl, intensity=z, sigma=z, peak=z, background=z, fs=pred.fs, ss=pred.ss,
                             panel_names=[names[i] for i in pred.panel])


def _cell_stats(results: list[list[Any]]) -> dict[str, dict[str, float | None]]:
    params = np.array([r.cell.parameters for frame in results for r in frame]).reshape(-1, 6)
    out = {}
    for k, name in enumerate(("a", "b", "c", "alpha", "beta", "gamma")):
        col = params[:, k]
        out[name] = {"mean": float(col.mean()) if col.size else None,
                     "sd": float(col.std(ddof=1)) if col.size > 1 else None}
    return out


def run_index(args: argparse.Namespace) -> int:
    from peaknet_bench.crystal import format_cell, read_cell_file
    from peaknet_bench.errors import InputError
    from peaknet_bench.geometry import format_geom, load_geometry
    from peaknet_bench.index.batch import index_frames
    from peaknet_bench.index.registry import make_indexer, require_available
    from peaknet_bench.io.cxi import CXIReader
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamWriter
    from peaknet_bench.util.output import emit, table
    from peaknet_bench.util.progress import bar

    geometry = load_geometry(args.geom)
    cell = read_cell_file(args.cell)
    if args.workers < 1:
        raise InputError(None, "--workers", f"expected at least 1, got {args.workers}")
    indexer = make_indexer(args.indexer, cell, **indexer_options(args, args.indexer, args.workers))
    require_available(indexer)

    with CXIReader(args.peaks, geometry) as reader:
        if not reader.has_peaks:
            raise InputError(args.peaks, "/entry_1/result_1", "no peak lists in this file")
        n = len(reader) if args.limit is None else min(args.limit, len(reader))
        peak_lists = [reader.peaks(i) for i in range(n)]
        energies = np.array([reader.photon_energy_ev(i) for i in range(n)])
        clens = np.array([reader.clen_m(i) for i in range(n)])
        events = [reader.event(i) for i in range(n)]

    t0 = time.perf_counter()
    results = index_frames(peak_lists, geometry, energies, indexer, clen_m=clens, workers=args.workers,
                           address=args.address)
    seconds = time.perf_counter() - t0

    with StreamWriter(args.output, geometry_text=format_geom(geometry), cell_text=format_cell(cell),
                      geometry=geometry) as writer, bar(n, desc="write stream") as pbar:
        for i in range(n):
            peaks = peak_lists[i]
            on_panel = peaks.panel >= 0
            crystals = []
            for r in results[i]:
                refl = None if args.no_predictions else _predicted(r, geometry, energies[i], clens[i])
                crystals.append(StreamCrystal.from_crystal(
                    r.crystal, profile_radius=r.profile_radius if np.isfinite(r.profile_radius) else None,
                    reflections=refl,
                ))
            writer.write_chunk(StreamChunk(
                filename=str(args.peaks), event=events[i], serial=i + 1, hit=len(peaks) >= args.min_peaks,
                indexed_by=(results[i][0].method if results[i] else "none"), photon_energy_ev=float(energies[i]),
                clen_m=float(clens[i]), peaks=peaks.subset(on_panel), crystals=crystals,
            ))
            pbar.update(1)

    hits = sum(len(p) >= args.min_peaks for p in peak_lists)
    indexed = sum(bool(r) for r in results)
    summary = {
        "file": str(args.peaks), "output": str(args.output), "indexer": indexer.name,
        "frames": n, "hits": hits, "indexed": indexed,
        "crystals": sum(len(r) for r in results),
        "indexing_rate": indexed / hits if hits else None,
        "indexing_yield": indexed / n if n else None,
        "seconds": seconds, "frames_per_s": n / seconds if seconds > 0 else None,
        "unit_cell": _cell_stats(results),
    }
    rate = "-" if summary["indexing_rate"] is None else f"{100 * summary['indexing_rate']:.1f} %"
    lines = [
        f"{args.peaks}: {n} frames, {hits} hits, {indexed} indexed ({rate} of hits), "
        f"{summary['crystals']} crystals; {seconds:.2f} s ({summary['frames_per_s'] or 0:.1f} frames/s) with {indexer.name}",
        f"stream written to {args.output}",
    ]
    if summary["crystals"]:
        units = {"a": " Å", "b": " Å", "c": " Å", "alpha": "°", "beta": "°", "gamma": "°"}
        rows = [[k, f"{v['mean']:.2f}{units[k]}", "-" if v["sd"] is None else f"{v['sd']:.2f}{units[k]}", f"{t:.2f}{units[k]}"]
                for (k, v), t in zip(summary["unit_cell"].items(), cell.parameters)]
        lines += ["", table(rows, ["", "mean", "sd", "target"])]
    emit(summary, "\n".join(lines), args.json)
    return 0
