"""`peaknet-bench infer`: run a model over a run through the Ray pipeline into CXI peak files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="run a PeakNet model over frames with the Ray pipeline; write CrystFEL-compatible CXI peak files",
        description=(
            "Sources → bounded frame queue → inference workers → result queue → CXI writers. Output: "
            "OUTDIR/PREFIX-wWW-NNNNN.cxi (peak lists in the layout `indexamajig --peaks=cxi` reads; with "
            "--write-data also the frames), OUTDIR/metrics.jsonl (live metrics) and OUTDIR/summary.json."
        ),
    )
    p.add_argument("--model", required=True,
                   help="checkpoint (.safetensors file or checkpoint directory), exported .onnx file, or a registry "
                        "model name / config file (untrained weights from --seed: for plumbing and speed tests)")
    src = p.add_argument_group("input (one of --frames, --store, --simulate)")
    src.add_argument("--frames", nargs="+", default=None, metavar="FILE",
                     help="frame files, globs or list files: CXI (+ .geom), miniCBF, imgCIF/CBF, NeXus/NXmx")
    src.add_argument("--geom", default=None,
                     help="CrystFEL .geom file or detector preset for --frames (default: RUN.geom beside the first "
                          "file, else the geometry the files carry)")
    src.add_argument("--reader", default=None, help="force a frame reader: minicbf, imgcif, nexus, cxi (default: by content)")
    src.add_argument("--store", default=None, help="dataset store directory (Zarr) to read a split from")
    src.add_argument("--split", default="test", help="store split for --store (default: test)")
    src.add_argument("--detector", default=None, help="store detector group (default: the only one)")
    src.add_argument("--simulate", default=None, metavar="EXPERIMENT",
                     help="live simulator source: experiment name or YAML file")
    src.add_argument("--n-frames", type=int, default=100, help="frames to simulate with --simulate (default: 100)")
    src.add_argument("--seed", type=int, default=0, help="simulator seed, and initial weights for a registry name (default: 0)")
    m = p.add_argument_group("model")
    m.add_argument("--size", type=int, nargs=2, default=(1920, 1920), metavar=("H", "W"),
                   help="model input canvas, centred on the beam as in training (default: 1920 1920)")
    m.add_argument("--no-crop", action="store_true", help="use the whole assembled image as the canvas")
    m.add_argument("--batch-size", type=int, default=8, help="frames per model call (default: 8)")
    m.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    m.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    m.add_argument("--compile", action="store_true", help="torch.compile the model")
    m.add_argument("--onnx", action="store_true", help="run the model through onnxruntime")
    m.add_argument("--host-threads", type=int, default=1,
                   help="threads per worker for the host stages (assembly/z-score, peak extraction) (default: 1)")
    m.add_argument("--threshold", type=float, default=None,
                   help="peak-probability threshold (default: arg-max of the two classes)")
    r = p.add_argument_group("pipeline")
    r.add_argument("-o", "--outdir", default="infer-out", help="output directory (default: infer-out)")
    r.add_argument("--workers", type=int, default=1, help="inference workers: one per GPU, or CPU workers (default: 1)")
    r.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPU cores per worker (default: 1)")
    r.add_argument("--sources", type=int, default=2, help="source actors reading in parallel (default: 2)")
    r.add_argument("--writers", type=int, default=1, help="CXI writer actors (default: 1)")
    r.add_argument("--queue-size", type=int, default=3200, help="frame queue capacity in frames (default: 3200)")
    r.add_argument("--frames-per-file", type=int, default=1000, help="frames per output CXI file (default: 1000)")
    r.add_argument("--write-data", action="store_true",
                   help="also store the frames and masks (self-contained files indexamajig can process directly)")
    r.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "zstd", "none"],
                   help="HDF5 compression of the output (default: gzip)")
    r.add_argument("--prefix", default="peaks", help="output file name prefix (default: peaks)")
    r.add_argument("--resume", action="store_true",
                   help="finish an interrupted run in OUTDIR: frames whose events it already wrote are skipped, new "
                        "files are numbered after its files (same input, model and prefix required)")
    r.add_argument("--hit-min-peaks", type=int, default=10, help="peaks for a frame to count as a hit (default: 10)")
    r.add_argument("--monitor-interval", type=float, default=2.0, help="seconds between metric lines (default: 2)")
    r.add_argument("--address", default=None, help="Ray cluster to join (ray://host:10001 or auto; default: local)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=run_infer)


def _source(args: argparse.Namespace):
    from peaknet_bench.errors import InputError
    from peaknet_bench.infer.sources import FileSource, SimulatorSource, StoreSource

    chosen = [name for name in ("frames", "store", "simulate") if getattr(args, name)]
    if len(chosen) != 1:
        raise InputError(None, "input", f"give exactly one of --frames, --store, --simulate (got {chosen or 'none'})")
    if args.frames:
        geom = args.geom
        if geom is None and Path(args.frames[0]).with_suffix(".geom").is_file():
            geom = str(Path(args.frames[0]).with_suffix(".geom"))
        return FileSource(args.frames, geom, args.reader)
    if args.store:
        return StoreSource(args.store, args.split, args.detector)
    from peaknet_bench.sim import load_experiment

    if args.n_frames < 1:
        raise InputError(None, "--n-frames", f"expected >= 1, got {args.n_frames}")
    return SimulatorSource(load_experiment(args.simulate), args.seed, args.n_frames)


def run_infer(args: argparse.Namespace) -> int:
    from peaknet_bench.infer.config import RunnerConfig
    from peaknet_bench.infer.pipeline import Pipeline, PipelineConfig
    from peaknet_bench.util.output import emit, table

    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    runner = RunnerConfig(size=None if args.no_crop else tuple(args.size), batch_size=args.batch_size, device=device,
                          precision="bf16" if args.bf16 else "fp32", compile=args.compile,
                          backend="onnx" if args.onnx else "torch", threshold=args.threshold, seed=args.seed,
                          host_threads=args.host_threads)
    runner.validate()  # a device this machine lacks is refused here, not by an actor waiting for a GPU
    config = PipelineConfig(n_sources=args.sources, n_workers=args.workers, n_writers=args.writers,
                            queue_size=args.queue_size, result_queue_size=args.queue_size,
                            cpus_per_worker=args.cpus_per_worker, frames_per_file=args.frames_per_file,
                            write_data=args.write_data, compression=None if args.compression == "none" else args.compression,
                            prefix=args.prefix, hit_min_peaks=args.hit_min_peaks, resume=args.resume,
                            address=args.address,
                            monitor_interval_s=args.monitor_interval)
    source = _source(args)
    # The model and the output directory are checked before Ray starts; Ray is stopped on every exit path.
    summary = Pipeline(source, args.model, args.outdir, runner, config).run()
    emit(summary, _human(summary, table), args.json)
    return 130 if summary["interrupted"] else 0


def _human(s: dict[str, Any], table) -> str:
    st = s["stages"]
    rows = [
        ["read", st["read"]["frames"], st["read"]["fps"], st["read"]["capacity_fps"]],
        ["prepare", s["stages"]["infer"]["frames"], "", st["prepare"]["capacity_fps"]],
        ["segment", s["stages"]["infer"]["frames"], "", st["segment"]["capacity_fps"]],
        ["peaks", s["stages"]["infer"]["frames"], "", st["peaks"]["capacity_fps"]],
        ["infer", st["infer"]["frames"], st["infer"]["fps"], ""],
        ["write", st["write"]["frames"], st["write"]["fps"], st["write"]["capacity_fps"]],
    ]
    util = ", ".join(f"{u:.0%}" for u in s["worker_utilisation"])
    head = (f"{s['n_frames']} frames from {s['source']} in {s['seconds']:.1f} s: {s['frames_per_second']:.1f} frames/s "
            f"(model {s['model']['model']}, {s['workers']} worker(s), utilisation {util})\n"
            f"{s['n_peaks']} peaks ({s['mean_peaks_per_frame']:.1f}/frame), {s['n_hits']} hits "
            f"(hit rate {s['hit_rate']:.1%}); workers replaced {s['workers_replaced']}, batches retried "
            f"{s['batches_retried']}{'; INTERRUPTED' if s['interrupted'] else ''}\n")
    files = f"\n{len(s['files'])} CXI file(s) in {s['outdir']}; metrics in {s['metrics']}"
    if s["resumed"]["frames"]:
        files += (f"\nresumed: {s['resumed']['frames']} frame(s) already in {len(s['resumed']['files'])} file(s) "
                  "were skipped")
    if s["nonfinite_pixels"]:
        files += (f"\nWARNING: {s['frames_with_nonfinite']} frame(s) held {s['nonfinite_pixels']} NaN/Inf pixel(s) "
                  "outside the bad-pixel mask; they were treated as bad pixels")
    if s["interrupted"]:
        files += "\nthe directory is marked INCOMPLETE: rerun the same command with --resume to finish it"
    return head + table(rows, ["stage", "frames", "frames/s", "capacity frames/s"]) + files
