"""`peaknet-bench evaluate --frames FILES --reference PATH`: real frames against a reference spot list.

The handler behind `evaluate` when `--reference` is given (flags registered in
`evaluate/commands.py`); the work is `evaluate.reference.evaluate_against_reference`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

MAX_FRAME_ROWS = 20  # more frames than this: the summary shows detectors only (frames are in the file)


def _reject(args: argparse.Namespace) -> None:
    """Options of `evaluate` that mean nothing against a reference."""
    from peaknet_bench.errors import InputError

    if not getattr(args, "frames", None):
        raise InputError(None, "--reference", "needs real frame files: --frames FILE... (miniCBF, imgCIF/CBF, NeXus, CXI + --geom)")
    for flag, value in (("--experiment", args.experiment), ("--dataset", getattr(args, "dataset", None)),
                        ("--truth", args.truth)):
        if value is not None:
            raise InputError(None, f"{flag}/--reference", f"{flag} does not go with --reference (real frames have no truth; "
                                                          "evaluate against the reference, or drop --reference)")
    if args.method == "oracle":
        raise InputError(None, "--method", "the oracle needs truth; against a reference give pf8, a peak-list CXI or a model")
    if args.resume:
        raise InputError(None, "--resume", "not supported with --reference (the frames run in one pass)")


def _cell(args: argparse.Namespace, reference):
    from peaknet_bench.crystal import read_cell_file

    if args.cell is not None:
        return read_cell_file(args.cell)
    from peaknet_bench.io.frames import expand_spec

    paths = expand_spec(args.frames)
    if all(reference.target_cell([p]) is not None for p in paths):
        return None  # each frame's known cell as the reference records it (DIALS' known symmetry, a stream's cell)
    beside = Path(paths[0])
    for candidate in (beside.with_suffix(".cell"), beside.parent / (beside.name.split(".")[0] + ".cell")):
        if candidate.is_file():
            return read_cell_file(candidate)
    return None  # evaluate_against_reference names what is missing


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _yes(indexed: bool | None, lattices: int | None) -> str:
    if indexed is None:
        return "-"
    return f"yes ({lattices})" if indexed else "no"


def human_summary(d: dict[str, Any], output: str) -> str:
    """One screen: per frame (up to MAX_FRAME_ROWS), per detector, and overall."""
    from peaknet_bench.util.output import table

    ref = d["reference"]
    cfg = d["config"]
    lines = [f"{d['method']['name']} against {ref['kind']} {ref['path']} (one-to-one within {cfg['match_radius_px']:g} px; "
             f"hit >= {cfg['min_peaks']} peaks; indexer {d['indexer']['name']})"]
    frames = d["frames"]
    if len(frames) <= MAX_FRAME_ROWS:
        rows = [[Path(f["file"]).name + ("" if f["index"] == 0 else f" {f['event']}"), f["detector"][:24], f["n_found"],
                 _fmt(f["n_reference"]), f["n_matched"], _fmt(f["recall"]), _fmt(f["precision"]),
                 _yes(f["indexed"], f["n_lattices"]) if f["hit"] else "not a hit",
                 _yes(f["reference_indexed"], f["reference_n_lattices"]),
                 _fmt(f["misorientation_deg"], 2)] for f in frames]
        lines += ["", table(rows, ["frame", "detector", "found", "ref", "matched", "recall", "precision", "indexed",
                                   "ref indexed", "vs ref (deg)"])]
    else:
        lines += ["", f"({len(frames)} frames: per-frame rows are in {output})"]
    det_rows = []
    groups = list(d["agreement"]["by_detector"].items())
    if len(groups) != 1:
        groups.append(("all", d["agreement"]["pooled"]))
    for name, a in groups:
        m = d["metrics"] if name == "all" else d["metrics"]["by_detector"][name]
        det_rows.append([name[:24], a["n_frames"], a["n_found"], a["n_reference"], a["n_matched"], _fmt(a["recall"]),
                         _fmt(a["precision"]), f"{m['n_hits']}/{m['n_frames']}", f"{m['n_indexed']}/{m['n_hits']}",
                         _fmt(m["indexing_yield"])])
    lines += ["", table(det_rows, ["detector", "frames", "found", "ref", "matched", "recall", "precision", "hits",
                                   "indexed", "yield"])]
    ri = d["reference_indexing"]
    if ri is not None:
        agree = "" if ri["n_in_reference_lattice"] is None else f", {ri['n_in_reference_lattice']} in its lattice"
        lines.append(f"reference indexed {ri['n_reference_indexed']} of {ri['n_frames_known']} frames; we index "
                     f"{ri['n_indexed_of_those']} of those{agree} (and {ri['n_indexed_reference_did_not']} it did not)")
    for name, a in groups:
        lat = a.get("unmatched_on_reference_lattice")
        if lat and lat["n_unmatched"]:
            lines.append(f"{name[:24]}: of {lat['n_unmatched']} peaks without a reference spot, {lat['n_on_lattice']} "
                         f"({100 * lat['fraction']:.0f} %) lie within {cfg['match_radius_px']:g} px of a reflection "
                         f"predicted from the reference's lattice (peaks with a reference spot: "
                         f"{100 * lat['fraction_of_matched']:.0f} %; a random position: {100 * lat['fraction_by_chance']:.1f} %)")
    by_detector = d["metrics"]["by_detector"]
    cells = [("", d["metrics"]["cell"])] if len(by_detector) == 1 else [(f"{k[:24]}: ", v["cell"]) for k, v in by_detector.items()]
    for label, cell in cells:
        if cell["a"]["n"]:
            lines.append(f"{label}cell ({cell['a']['n']} lattices): " + "  ".join(
                f"{k} {cell[k]['mean']:.2f}±{cell[k]['sd']:.2f}" for k in ("a", "b", "c", "alpha", "beta", "gamma")))
    lines.append(f"wrote {output}")
    return "\n".join(lines)


def run_evaluate_reference(args: argparse.Namespace) -> int:
    from peaknet_bench.evaluate.methods import parse_method
    from peaknet_bench.evaluate.reference import (
        ReferenceConfig,
        evaluate_against_reference,
        frames_identity,
        write_reference_results,
    )
    from peaknet_bench.index.commands import indexer_options
    from peaknet_bench.io.frames import expand_spec
    from peaknet_bench.io.spots import open_reference
    from peaknet_bench.util.output import emit

    _reject(args)
    method = parse_method(args.method, args.params, args.name, args.device)
    reference = open_reference(args.reference, getattr(args, "reference_format", None))
    radius = args.match_radius if args.match_radius is not None else ReferenceConfig.match_radius_px
    config = ReferenceConfig(match_radius_px=radius, min_peaks=args.min_peaks, indexer=args.indexer,
                             indexer_options=indexer_options(args, args.indexer), workers=args.workers,
                             address=args.address, chunk_size=args.chunk_size)
    if args.params and not args.allow_overlap:
        from peaknet_bench.evaluate.tune import refuse_tuning_overlap

        start = args.start
        n = args.n_frames if args.n_frames is not None else 10**9
        ident = frames_identity(expand_spec(args.frames), [start], args.geom, args.reader)
        refuse_tuning_overlap(args.params, ident, range(start, start + n), "evaluate on other frames")
    results = evaluate_against_reference(method, args.frames, reference, config, cell=_cell(args, reference),
                                         geom=args.geom, reader=args.reader, start=args.start, n_frames=args.n_frames,
                                         predictions=args.predictions)
    write_reference_results(results, args.output)
    d = results.to_dict()
    pooled = d["agreement"]["pooled"]
    m = d["metrics"]
    summary = {"output": args.output, "method": results.method["name"], "reference": d["reference"]["path"],
               "reference_kind": d["reference"]["kind"], "match_radius_px": config.match_radius_px,
               **{k: pooled[k] for k in ("n_frames", "n_frames_in_reference", "n_found", "n_reference", "n_matched",
                                         "recall", "precision", "f1")},
               **{k: m[k] for k in ("n_hits", "n_indexed", "hit_rate", "indexing_rate", "indexing_yield")},
               "reference_indexing": d["reference_indexing"],
               "by_detector": {name: {k: a[k] for k in ("n_frames", "n_found", "n_reference", "n_matched", "recall",
                                                        "precision")} for name, a in d["agreement"]["by_detector"].items()},
               "frames_per_second": d["throughput"]["frames_per_second"],
               "seconds": d["throughput"]["find_wall_seconds"] + d["throughput"]["index_seconds"]}
    emit(summary, human_summary(d, args.output), args.json)
    return 0
