"""`peaknet-bench engine ...`: the data engine (PeakDiff, curation, pseudo-Voigt labels) on files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from peaknet_bench.index.commands import add_indexer_arguments, indexer_options


def add_frame_arguments(parser: argparse.ArgumentParser) -> None:
    from peaknet_bench.io.frames import add_frame_arguments as add

    add(parser)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="data engine: PeakDiff, curation, pseudo-Voigt labels (Ray)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    r = verbs.add_parser("run", help="label a run: peaks + predictions -> PeakDiff -> curation -> fits -> label masks")
    r.add_argument("--frames", required=True, nargs="+",
                   help="frame files, globs or list files (CXI with --geom; CBF, imgCIF, NeXus carry their geometry)")
    add_frame_arguments(r)
    r.add_argument("--cell", default=None, help="target unit cell (.cell or .pdb) for the indexer (--indexer)")
    r.add_argument("--stream", default=None, help="CrystFEL stream with predictions (instead of --cell)")
    r.add_argument("--peaks", default="pf8", help="found peaks: 'pf8' (run peakfinder8) or a CXI peak file (default: pf8)")
    r.add_argument("--pf8-threshold", type=float, default=800.0, help="peakfinder8 ADU threshold (default 800)")
    r.add_argument("--pf8-min-snr", type=float, default=5.0, help="peakfinder8 minimum SNR (default 5)")
    r.add_argument("-o", "--out", required=True, help="output directory (batch HDF5 files + manifest.json); resumable")
    r.add_argument("--max-distance", type=float, default=3.0, help="PeakDiff match distance in pixels (default 3)")
    r.add_argument("--space", choices=("slab", "lab"), default="slab", help="PeakDiff distance space (default slab)")
    r.add_argument("--min-precision", type=float, default=0.8, help="curation: minimum precision (default 0.8)")
    r.add_argument("--min-found", type=int, default=15, help="curation: minimum found peaks (default 15)")
    r.add_argument("--min-predicted", type=int, default=15, help="curation: minimum predicted peaks (default 15)")
    r.add_argument("--fit-peaks", choices=("matched", "found"), default="matched",
                   help="which found peaks of a selected frame are fitted (default: matched)")
    r.add_argument("--window", type=int, default=9, help="fit window edge, odd (default 9)")
    r.add_argument("--chi2-max", type=float, default=3.0, help="reject fits with reduced chi2 above this (default 3)")
    r.add_argument("--batch-size", type=int, default=40, help="frames per batch task (default 40)")
    r.add_argument("--max-concurrent-batches", type=int, default=4, help="batch tasks in flight (default 4)")
    r.add_argument("--fit-chunk", type=int, default=2048, help="windows per second-level fit task (default 2048)")
    r.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    r.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all)")
    r.add_argument("--no-ray", action="store_true", help="run in this process without Ray")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_indexer_arguments(r)
    r.set_defaults(handler=run)
    s = verbs.add_parser("summary", help="PeakDiff/curation/fit statistics of an engine output directory")
    s.add_argument("out", help="engine output directory")
    s.add_argument("--plots", default=None, help="write Figure-3-style plots (PNG) into this directory")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    s.set_defaults(handler=summary)
    t = verbs.add_parser("truth", help="pixel IoU of the engine's labels against a simulator truth sidecar")
    t.add_argument("out", help="engine output directory")
    t.add_argument("--truth", required=True, help="simulator truth sidecar (<run>.truth.h5)")
    t.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    t.set_defaults(handler=truth)


def _job(args: argparse.Namespace):
    from peaknet_bench.engine.curation import CurationConfig
    from peaknet_bench.engine.peakdiff import PeakDiffConfig
    from peaknet_bench.engine.profile import FitConfig
    from peaknet_bench.engine.run import EngineConfig, EngineJob
    from peaknet_bench.engine.sources import (
        CXIPeaks, FileFrames, IndexerPredictions, Peakfinder8Peaks, StreamPredictions,
    )
    from peaknet_bench.errors import InputError
    from peaknet_bench.io.frames import open_frames

    # Absolute paths: Ray workers on other nodes (or in another directory) open the same files,
    # and a resumed run is recognised from any working directory.
    paths = [str(Path(p).resolve()) for p in open_frames(args.frames, reader=args.reader).paths]
    if args.geom is not None and Path(args.geom).exists():
        args.geom = str(Path(args.geom).resolve())
    for name in ("peaks", "cell", "stream"):
        value = getattr(args, name)
        if value is not None and value != "pf8" and Path(value).exists():
            setattr(args, name, str(Path(value).resolve()))
    frames = FileFrames(paths, args.geom, args.reader)
    if args.peaks == "pf8":
        peaks = Peakfinder8Peaks(args.geom, {"threshold": args.pf8_threshold, "min_snr": args.pf8_min_snr})
    elif Path(args.peaks).exists():
        peaks = CXIPeaks(args.peaks, args.geom)
    else:
        raise InputError(args.peaks, "--peaks", "expected 'pf8' or an existing CXI peak file")
    if (args.cell is None) == (args.stream is None):
        raise InputError(None, "--cell/--stream", "give exactly one source of predictions")
    if args.stream is not None:
        if not Path(args.stream).exists():
            raise InputError(args.stream, "--stream", "file not found")
        predictions = StreamPredictions(args.stream, args.geom)
    else:
        if not Path(args.cell).exists():
            raise InputError(args.cell, "--cell", "file not found")
        predictions = IndexerPredictions(args.cell, args.geom, indexer=args.indexer,
                                         indexer_options=indexer_options(args, args.indexer))
    config = EngineConfig(
        peakdiff=PeakDiffConfig(max_distance=args.max_distance, space=args.space),
        curation=CurationConfig(min_precision=args.min_precision, min_found=args.min_found,
                                min_predicted=args.min_predicted),
        fit=FitConfig(window=args.window, chi2_max=args.chi2_max),
        fit_peaks=args.fit_peaks,
    )
    return EngineJob(frames, peaks, predictions, config)


def run(args: argparse.Namespace) -> int:
    from peaknet_bench.engine.run import RunOptions, run_engine
    from peaknet_bench.util.output import emit

    job = _job(args)
    options = RunOptions(
        batch_size=args.batch_size, max_concurrent_batches=args.max_concurrent_batches, fit_chunk=args.fit_chunk,
        use_ray=not args.no_ray, address=args.address, num_cpus=args.num_cpus,
    )
    report = run_engine(job, args.out, options)
    d = report.to_dict()
    human = (
        f"engine: {d['n_frames']} frames in, {d['n_selected']} selected; "
        f"{d['n_fitted']} peaks fitted, {d['n_rejected']} fits rejected ({d['n_accepted']} labelled)\n"
        f"{d['n_batches']} batches ({d['n_batches_resumed']} resumed) in {d['seconds']:.1f} s: "
        f"{d['frames_per_s']:.2f} frames/s, {d['fits_per_s']:.0f} fits/s\n"
        f"output: {d['out_dir']}"
    )
    emit(d, human, args.json)
    return 0


def output_summary(out: str) -> dict[str, Any]:
    """Run-level statistics of an engine output directory."""
    import numpy as np

    from peaknet_bench.engine.run import iter_output

    cols: dict[str, list] = {k: [] for k in ("n_found", "n_predicted", "n_matched", "precision", "recall", "selected")}
    chi2, accepted = [], []
    for b in iter_output(out, labels=False):
        for k in cols:
            cols[k].append(b.frames[k])
        chi2.append(b.fitted["chi2_red"])
        accepted.append(b.fitted["accepted"])
    arr = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    c = np.concatenate(chi2) if chi2 else np.zeros(0)
    a = np.concatenate(accepted) if accepted else np.zeros(0, bool)
    fin = c[np.isfinite(c)]

    def nanstat(f, v):
        v = v[np.isfinite(v)]
        return float(f(v)) if v.size else float("nan")

    return {
        "n_frames": int(arr["selected"].size), "n_selected": int(arr["selected"].sum()),
        "n_fitted": int(a.size), "n_accepted": int(a.sum()), "n_rejected": int(a.size - a.sum()),
        "precision_median": nanstat(np.median, arr["precision"]), "recall_median": nanstat(np.median, arr["recall"]),
        "found_mean": nanstat(np.mean, arr["n_found"].astype(float)),
        "predicted_mean": nanstat(np.mean, arr["n_predicted"].astype(float)),
        "chi2_median": float(np.median(fin)) if fin.size else float("nan"),
        "_arrays": arr,
    }


def summary(args: argparse.Namespace) -> int:
    from peaknet_bench.util.output import emit

    s = output_summary(args.out)
    arr = s.pop("_arrays")
    if args.plots:
        import json

        from peaknet_bench.engine.plots import plot_counts_and_pr

        manifest = json.loads((Path(args.out) / "manifest.json").read_text())
        box = manifest["identity"]["config"]["curation"]["min_precision"]
        s["plots"] = plot_counts_and_pr(arr["n_found"], arr["n_predicted"], arr["precision"], arr["recall"],
                                        arr["selected"], Path(args.plots), min_precision=box if box is not None else 0.0)
    human = (
        f"{s['n_frames']} frames, {s['n_selected']} selected; precision median {s['precision_median']:.3f}, "
        f"recall median {s['recall_median']:.3f}\n"
        f"{s['n_fitted']} fits: {s['n_accepted']} accepted, {s['n_rejected']} rejected; chi2 median {s['chi2_median']:.3f}"
    )
    emit(s, human, args.json)
    return 0


def compare_to_truth(out: str, truth_path: str) -> dict[str, Any]:
    """Pixel IoU of the labels of every selected frame against the simulator's true label mask.

    `iou` compares with the whole true mask (every labelled reflection, found or not);
    `iou_fitted` only inside the fit windows of accepted peaks (the label *rule*, separated
    from which peaks the finder found); `pixel_precision` = labelled pixels that are true.
    """
    import numpy as np

    from peaknet_bench.engine.labels import label_iou
    from peaknet_bench.engine.run import iter_output
    from peaknet_bench.sim import TruthFile

    import json

    manifest = json.loads((Path(out) / "manifest.json").read_text())
    h = int(manifest["identity"]["config"]["fit"]["window"]) // 2
    rows = []
    truth = TruthFile(truth_path)
    try:
        for b in iter_output(out):
            fit = b.fitted
            for j, i in enumerate(b.frames["index"].tolist()):
                if not b.frames["selected"][j]:
                    continue
                t = np.asarray(truth.label_mask(i), bool)
                m = b.labels[j].astype(bool)
                sel = (fit["frame"] == j) & fit["accepted"]
                win = np.zeros_like(m)
                for s0, f0 in zip(fit["ss0"][sel], fit["fs0"][sel]):
                    win[max(s0 - h, 0) : s0 + h + 1, max(f0 - h, 0) : f0 + h + 1] = True
                n_lab = int(m.sum())
                rows.append({
                    "index": i, "iou": label_iou(m, t), "iou_fitted": label_iou(m, t & win),
                    "pixel_precision": float((m & t).sum() / n_lab) if n_lab else float("nan"),
                })
    finally:
        truth.close()

    def mean(key):
        v = np.array([r[key] for r in rows], float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    return {"n_frames": len(rows), "iou_mean": mean("iou"), "iou_fitted_mean": mean("iou_fitted"),
            "pixel_precision_mean": mean("pixel_precision"), "frames": rows}


def truth(args: argparse.Namespace) -> int:
    from peaknet_bench.errors import InputError
    from peaknet_bench.util.output import emit

    if not Path(args.truth).exists():
        raise InputError(args.truth, "--truth", "file not found")
    s = compare_to_truth(args.out, args.truth)
    human = (
        f"{s['n_frames']} selected frames: label IoU vs. truth {s['iou_mean']:.3f} (all true labels), "
        f"{s['iou_fitted_mean']:.3f} (inside accepted fit windows); pixel precision {s['pixel_precision_mean']:.3f}"
    )
    emit(s, human, args.json)
    return 0
