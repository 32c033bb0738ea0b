"""`peaknet-bench peaks find`: run a classic peak finder over a CXI run and write CrystFEL-
compatible peak lists (SPEC-crystfel §2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# indexamajig option -> (Peakfinder8Params field, type, help)
PF8_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--threshold", "threshold", float, "ADC threshold, floor of the per-bin detection threshold (CrystFEL: 800)"),
    ("--min-snr", "min_snr", float, "sigma-clipping width and minimum peak SNR (CrystFEL: 5)"),
    ("--min-pix-count", "min_pix_count", int, "minimum pixels per peak (CrystFEL: 2)"),
    ("--max-pix-count", "max_pix_count", int, "maximum pixels per peak (CrystFEL: 200)"),
    ("--local-bg-radius", "local_bg_radius", int, "R; local background in a disc of radius 2R (CrystFEL: 3)"),
    ("--min-res", "min_res", float, "ignore pixels at radius <= this many pixels from the beam (CrystFEL: 0)"),
    ("--max-res", "max_res", float, "ignore pixels at radius >= this many pixels; 0 = no limit (default 0)"),
    ("--max-peaks", "max_peaks", int, "peak budget per frame (CrystFEL: 2048)"),
]


def add_frame_arguments(parser: argparse.ArgumentParser) -> None:
    from peaknet_bench.io.frames import add_frame_arguments as add

    add(parser)


def register(sub: argparse._SubParsersAction) -> None:
    peaks = sub.add_parser("peaks", help="classic peak finding (peakfinder8)")
    verbs = peaks.add_subparsers(dest="peaks_command", metavar="VERB")
    p = verbs.add_parser(
        "find",
        help="find peaks in every frame of detector files and write a CXI peak list",
        description=(
            "Run peakfinder8 on every frame of the input files (CXI with --geom; miniCBF, imgCIF/CBF and "
            "NeXus/NXmx with the geometry they carry, or --geom) and write the peak lists in the layout "
            "`indexamajig --peaks=cxi` reads (/entry_1/result_1). Parameter precedence: "
            "CrystFEL defaults < --params file < options given here."
        ),
    )
    p.add_argument("input", nargs="+", help="frame files, globs or list files (one path per line)")
    add_frame_arguments(p)
    p.add_argument("--method", choices=["pf8"], default="pf8", help="peak finder (default: pf8 = peakfinder8)")
    p.add_argument("-o", "--output", default=None,
                   help="output CXI file (default: the first INPUT with its suffix replaced by .peaks.cxi)")
    p.add_argument("--params", default=None, help="JSON file of peakfinder8 parameters (e.g. from the tuner)")
    for flag, _, kind, text in PF8_OPTIONS:
        p.add_argument(flag, type=kind, default=None, help=text)
    p.add_argument("--peakfinder8-fast", dest="fast", action="store_const", const=True, default=None,
                   help="radial statistics from <= 100 random pixels per bin (default: off)")
    p.add_argument("--seed", type=int, default=None, help="seed of the fast mode's pixel subsample (default 0)")
    p.add_argument("--with-data", action="store_true",
                   help="also copy the image data and mask into the output, so that indexamajig "
                        "--peaks=cxi can read images and peaks from one file (default: peaks only)")
    p.add_argument("--min-peaks", type=int, default=10,
                   help="a frame with at least this many peaks counts as a hit in the summary (default 10)")
    p.add_argument("--max-frames", type=int, default=0, help="process only the first N frames (default 0 = all)")
    p.add_argument("--workers", type=int, default=1,
                   help="frames processed in parallel threads (the numba kernels release the GIL; "
                        "reading and writing stay in the main thread) (default 1)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(handler=run_find)
    peaks.set_defaults(handler=lambda args: peaks.print_help() or 2)


def resolve_params(args: argparse.Namespace) -> Any:
    """CrystFEL defaults, then the --params file, then explicit options."""
    from peaknet_bench.peakfind import Peakfinder8Params

    base = Peakfinder8Params.from_json(args.params).to_dict() if args.params else Peakfinder8Params().to_dict()
    explicit = {field: getattr(args, field) for _, field, _, _ in PF8_OPTIONS}
    explicit.update(fast=args.fast, seed=args.seed)
    base.update({k: v for k, v in explicit.items() if v is not None})
    return Peakfinder8Params.from_dict(base, source="command line")


def run_find(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from peaknet_bench.errors import InputError
    from peaknet_bench.io import CXIWriter, open_frames
    from peaknet_bench.peakfind import run_finder
    from peaknet_bench.peakfind.per_geometry import PerGeometryFinder
    from peaknet_bench.util.output import emit
    from peaknet_bench.util.progress import bar

    if args.workers < 1:
        raise InputError(None, "--workers", f"got {args.workers}, expected >= 1")
    if args.max_frames < 0:
        raise InputError(None, "--max-frames", f"got {args.max_frames}, expected >= 0")
    t_start = time.perf_counter()
    params = resolve_params(args)
    frames = open_frames(args.input, geom=args.geom, reader=args.reader, max_frames=args.max_frames)
    first = Path(frames.paths[0])
    output = Path(args.output) if args.output else first.with_suffix(".peaks.cxi")
    if any(output.resolve() == Path(p).resolve() for p in frames.paths):
        raise InputError(str(output), "--output", "must differ from the input files")
    counts: list[int] = []
    finder_seconds = 0.0
    finder_cpu_seconds = 0.0
    read_seconds = 0.0
    with frames:
        t0 = time.perf_counter()
        n = len(frames)
        geometry = frames.geometry  # opens (and for CBF decodes) the first file
        read_seconds += time.perf_counter() - t0
        finder = PerGeometryFinder(params)
        finder.finder_for(geometry)

        def timed_frames():
            nonlocal read_seconds
            it = iter(frames)
            while True:
                t0 = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    return
                read_seconds += time.perf_counter() - t0
                yield frame

        with CXIWriter(output, slab_shape=geometry.slab_shape, max_peaks=params.max_peaks,
                       write_data=args.with_data, write_mask=args.with_data) as writer, \
                bar(n, desc="peakfinder8") as progress:
            for result in run_finder(finder, timed_frames(), workers=args.workers):
                frame = result.frame
                writer.append(data=frame.data if args.with_data else None, mask=frame.mask if args.with_data else None,
                              peaks=result.peaks, photon_energy_ev=frame.photon_energy_ev, clen_m=frame.clen_m,
                              event=frame.event)
                counts.append(len(result.peaks))
                finder_seconds += result.seconds
                finder_cpu_seconds += result.cpu_seconds
                progress.update(1)
                progress.set_postfix(peaks=len(result.peaks), refresh=False)
            if not counts:
                raise InputError(str(args.input[0]), None, "no frames to process")
    seconds = time.perf_counter() - t_start
    c = np.asarray(counts)
    hits = int((c >= args.min_peaks).sum())
    summary = {
        "input": [str(p) for p in args.input], "n_files": len(frames.paths), "output": str(output),
        "method": args.method, "geometry": args.geom or "from the files",
        "frames": int(c.size), "peaks": int(c.sum()), "peaks_per_frame": float(c.mean()),
        "median_peaks_per_frame": float(np.median(c)), "min_peaks": args.min_peaks, "hits": hits,
        "hit_rate": hits / c.size, "workers": args.workers, "seconds": seconds,
        "ms_per_frame": 1e3 * finder_seconds / c.size, "cpu_ms_per_frame": 1e3 * finder_cpu_seconds / c.size,
        "read_ms_per_frame": 1e3 * read_seconds / c.size,
        "frames_per_second": c.size / seconds,
        "params": params.to_dict(),
    }
    human = (
        f"{c.size} frames from {len(frames.paths)} file(s) -> {output}\n"
        f"peaks: {int(c.sum())} total, {c.mean():.1f} per frame (median {np.median(c):.0f})\n"
        f"hits (>= {args.min_peaks} peaks): {hits} ({100.0 * hits / c.size:.1f} %)\n"
        f"peakfinder8: {summary['ms_per_frame']:.1f} ms/frame ({summary['cpu_ms_per_frame']:.1f} ms CPU); "
        f"reading {summary['read_ms_per_frame']:.1f} ms/frame; {seconds:.1f} s total, "
        f"{args.workers} worker(s)"
    )
    emit(summary, human, args.json)
    return 0
