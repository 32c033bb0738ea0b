"""`peaknet-bench infer run`: a model over a run through the Ray pipeline into CXI peak files (a thin
layer over `peaknet_bench.infer.pipeline.Pipeline`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SIMULATED_FRAMES = 100  # `infer run --experiment` without -n


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.infer.config import RunnerConfig
    from peaknet_bench.infer.pipeline import PipelineConfig
    from peaknet_bench.util.cli import add_address, add_json, add_n_frames, add_output, deprecated_alias, field_option, verbs

    p = verbs(sub, "infer", help="Ray inference of a PeakNet model into CXI peak files").add_parser(
        "run",
        help="run a PeakNet model over frames with the Ray pipeline; write CrystFEL-compatible CXI peak files",
        description=(
            "Sources → bounded frame queue → inference workers → result queue → CXI writers. Output: "
            "OUTPUT/PREFIX-wWW-NNNNN.cxi (peak lists in the layout `indexamajig --peaks=cxi` reads; with "
            "--write-data also the frames), OUTPUT/metrics.jsonl (live metrics) and OUTPUT/summary.json. "
            "The Python equivalent is Pipeline(source, model, outdir, RunnerConfig(...), PipelineConfig(...)).run()."
        ),
    )
    model = p.add_argument("--method", dest="model", default=None,
                           help="the peak finder, a model (the pipeline runs models): checkpoint (.safetensors file or "
                                "checkpoint directory), exported .onnx file, or a registry model name / config file "
                                "(untrained weights from --seed: for plumbing and speed tests) (required)")
    deprecated_alias(p, model, "--model")
    src = p.add_argument_group("input (one of --frames, --store, --experiment)")
    src.add_argument("--frames", nargs="+", default=None, metavar="FILE",
                     help="frame files, globs or list files: CXI (+ .geom), miniCBF, imgCIF/CBF, NeXus/NXmx")
    src.add_argument("--geom", default=None,
                     help="CrystFEL .geom file or detector preset for --frames (default: RUN.geom beside the first "
                          "file, else the geometry the files carry)")
    src.add_argument("--reader", default=None, help="force a frame reader: minicbf, imgcif, nexus, cxi (default: by content)")
    src.add_argument("--store", default=None, help="dataset store directory (Zarr) to read a split from")
    src.add_argument("--split", default="test", help="store split for --store (default: test)")
    src.add_argument("--detector", default=None, help="store detector group (default: the only one)")
    experiment = src.add_argument("--experiment", default=None, metavar="NAME",
                                  help="live simulator source: experiment name or YAML file")
    deprecated_alias(src, experiment, "--simulate")
    add_n_frames(src, SIMULATED_FRAMES, "frames to simulate with --experiment")
    src.add_argument("--seed", type=int, default=0, help="simulator seed, and initial weights for a registry name (default: 0)")
    m = p.add_argument_group("model")
    m.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="fixed model input canvas, centred on the beam (default: the whole assembled detector)")
    m.add_argument("--no-crop", action="store_true", help="the whole assembled image as the canvas (the default now; "
                                                          "overrides --size)")
    field_option(m, "--batch-size", RunnerConfig, "batch_size", "frames per model call")
    m.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    m.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    m.add_argument("--compile", action="store_true", help="torch.compile the model")
    backend = field_option(m, "--backend", RunnerConfig, "backend", "run the model with torch, or the exported graph "
                                                                     "with onnxruntime", choices=["torch", "onnx"])
    deprecated_alias(m, backend, "--onnx", switch_value="onnx")
    field_option(m, "--host-threads", RunnerConfig, "host_threads",
                 "threads per worker for the host stages (assembly/z-score, peak extraction)")
    threshold = m.add_argument("--prob-threshold", type=float, default=None, dest="threshold",
                               help="peak-probability threshold (default: arg-max of the two classes)")
    deprecated_alias(m, threshold, "--threshold")
    m.add_argument("--params", default=None, metavar="EXTRACT.yaml",
                   help="peak extraction parameters (YAML/JSON of ExtractionConfig: min_snr, min_pixels, max_pixels, "
                        "background_gap, background_ring, max_peaks) (default: ExtractionConfig's)")
    r = p.add_argument_group("pipeline")
    add_output(r, "infer-out", "output directory", "--outdir")
    field_option(r, "--workers", PipelineConfig, "n_workers", "inference workers: one per GPU, or CPU workers")
    field_option(r, "--cpus-per-worker", PipelineConfig, "cpus_per_worker", "CPU cores per worker")
    field_option(r, "--sources", PipelineConfig, "n_sources", "source actors reading in parallel")
    field_option(r, "--writers", PipelineConfig, "n_writers", "CXI writer actors")
    field_option(r, "--queue-size", PipelineConfig, "queue_size", "frame queue capacity in frames")
    field_option(r, "--frames-per-file", PipelineConfig, "frames_per_file", "frames per output CXI file")
    r.add_argument("--write-data", action="store_true",
                   help="also store the frames and masks (self-contained files indexamajig can process directly)")
    r.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "zstd", "none"],
                   help="HDF5 compression of the output (default: gzip)")
    field_option(r, "--prefix", PipelineConfig, "prefix", "output file name prefix")
    r.add_argument("--resume", action="store_true",
                   help="finish an interrupted run in OUTPUT: frames whose events it already wrote are skipped, new "
                        "files are numbered after its files (same input, model and prefix required)")
    min_peaks = field_option(r, "--min-peaks", PipelineConfig, "hit_min_peaks", "peaks for a frame to count as a hit",
                             dest="hit_min_peaks")
    deprecated_alias(r, min_peaks, "--hit-min-peaks")
    field_option(r, "--monitor-interval", PipelineConfig, "monitor_interval_s", "seconds between metric lines",
                 dest="monitor_interval")
    add_address(r)
    add_json(p)
    p.set_defaults(handler=run_infer)


def _source(args: argparse.Namespace):
    from peaknet_bench.errors import InputError
    from peaknet_bench.infer.sources import FileSource, SimulatorSource, StoreSource

    chosen = [name for name in ("frames", "store", "experiment") if getattr(args, name)]
    if len(chosen) != 1:
        raise InputError(None, "input", f"give exactly one of --frames, --store, --experiment (got {chosen or 'none'})")
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
    return SimulatorSource(load_experiment(args.experiment), args.seed, args.n_frames)


def _model(args: argparse.Namespace) -> str:
    from peaknet_bench.errors import InputError

    if args.model is None:
        raise InputError(None, "--method", "required: the model to run (a checkpoint, .onnx file or registry name)")
    if args.model in ("pf8", "oracle") or args.model.endswith((".cxi", ".h5")):
        raise InputError(None, "--method", f"infer run runs models, not {args.model!r}; "
                                           "use `peaks find --method` for peakfinder8 or stored peak lists")
    return args.model


def _extraction(path: str | None):
    from peaknet_bench.infer.peaks import ExtractionConfig
    from peaknet_bench.util.structured import read_mapping

    if path is None:
        return ExtractionConfig()
    return ExtractionConfig.from_dict(read_mapping(path, "peak extraction parameters"), source=path)


def run_infer(args: argparse.Namespace) -> int:
    from peaknet_bench.infer.config import RunnerConfig
    from peaknet_bench.infer.pipeline import Pipeline, PipelineConfig
    from peaknet_bench.util.output import emit, table

    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    runner = RunnerConfig(size=None if args.no_crop or args.size is None else tuple(args.size), batch_size=args.batch_size, device=device,
                          precision="bf16" if args.bf16 else "fp32", compile=args.compile,
                          backend=args.backend, threshold=args.threshold, seed=args.seed,
                          host_threads=args.host_threads, extraction=_extraction(args.params))
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
    summary = Pipeline(source, _model(args), args.output, runner, config).run()
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
