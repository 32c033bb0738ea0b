"""`peaknet-bench engine ...`: the data engine (PeakDiff, curation, pseudo-Voigt labels) on files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from peaknet_bench.index.commands import add_indexer_arguments, indexer_options

# option -> (settings section, config class name, field, help); defaults are the dataclasses'
# (--config may set them too: options given here win)
_ENGINE_OPTIONS = [
    ("--max-distance", "peakdiff", "PeakDiffConfig", "max_distance", "PeakDiff match distance in pixels"),
    ("--space", "peakdiff", "PeakDiffConfig", "space", "PeakDiff distance space: slab or lab"),
    ("--min-precision", "curation", "CurationConfig", "min_precision", "curation: minimum precision"),
    ("--min-found", "curation", "CurationConfig", "min_found", "curation: minimum found peaks"),
    ("--min-predicted", "curation", "CurationConfig", "min_predicted", "curation: minimum predicted peaks"),
    ("--fit-peaks", None, "EngineConfig", "fit_peaks", "which found peaks of a selected frame are fitted: matched or found"),
    ("--unfit-label", None, "EngineConfig", "unfit_label", "a rejected fit's peak: none (unlabelled) or half_max (labelled from its pixels)"),
    ("--window", "fit", "FitConfig", "window", "fit window edge, odd"),
    ("--chi2-max", "fit", "FitConfig", "chi2_max", "reject fits with reduced chi2 above this"),
]


def _classes() -> dict[str, type]:
    from peaknet_bench.engine.curation import CurationConfig
    from peaknet_bench.engine.peakdiff import PeakDiffConfig
    from peaknet_bench.engine.profile import FitConfig
    from peaknet_bench.engine.run import EngineConfig, RunOptions

    return {c.__name__: c for c in (PeakDiffConfig, CurationConfig, FitConfig, EngineConfig, RunOptions)}


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.io.frames import add_frame_arguments
    from peaknet_bench.peakfind.commands import add_finder_arguments
    from peaknet_bench.util.cli import add_address, add_json, add_output, deprecated_alias, field_option, verbs

    engine = verbs(sub, "engine", help="data engine: PeakDiff, curation, pseudo-Voigt labels (Ray)")
    r = engine.add_parser(
        "run", help="label a run: peaks + predictions -> PeakDiff -> curation -> fits -> label masks",
        description="Settings: the dataclass defaults < --config (a recipe's `engine` block) < options given here. "
                    "The Python equivalent is peaknet_bench.engine.run_engine(EngineJob(...), out_dir, RunOptions(...)).")
    r.add_argument("--frames", required=True, nargs="+",
                   help="frame files, globs or list files (CXI with --geom; CBF, imgCIF, NeXus carry their geometry)")
    add_frame_arguments(r)
    r.add_argument("--cell", default=None, help="target unit cell (.cell or .pdb) for the indexer (--indexer)")
    r.add_argument("--stream", default=None, help="CrystFEL stream with predictions (instead of --cell)")
    finder = add_finder_arguments(r)
    deprecated_alias(r, finder["method"], "--peaks")
    deprecated_alias(r, finder["threshold"], "--pf8-threshold")
    deprecated_alias(r, finder["min_snr"], "--pf8-min-snr")
    r.add_argument("--device", default="cpu", help="torch device for a model --method (default: cpu)")
    r.add_argument("--config", default=None, metavar="ENGINE.yaml",
                   help="engine settings (YAML/JSON: peakfinder8, dispersion, peakdiff, curation, fit, fit_peaks, unfit_label, photon_scale; "
                        "a dataset recipe's `engine` block) (default: the dataclasses' defaults)")
    add_output(r, None, "output directory (batch HDF5 files + manifest.json); resumable", "--out", required=True)
    classes = _classes()
    for flag, _, cls, field, text in _ENGINE_OPTIONS:
        field_option(r, flag, classes[cls], field, text, overridable=True, dest=f"engine_{field}")
    field_option(r, "--batch-size", classes["RunOptions"], "batch_size", "frames per batch task")
    field_option(r, "--max-concurrent-batches", classes["RunOptions"], "max_concurrent_batches", "batch tasks in flight")
    field_option(r, "--fit-chunk", classes["RunOptions"], "fit_chunk", "windows per second-level fit task")
    add_address(r)
    workers = r.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    deprecated_alias(r, workers, "--num-cpus")
    r.add_argument("--no-ray", action="store_true", help="run in this process without Ray")
    add_json(r)
    add_indexer_arguments(r)
    r.set_defaults(handler=run)
    s = engine.add_parser("summary", help="PeakDiff/curation/fit statistics of an engine output directory")
    s.add_argument("out", metavar="RUN_DIR", help="engine output directory")
    s.add_argument("--plots", default=None, help="write Figure-3-style plots (PNG) into this directory")
    add_json(s)
    s.set_defaults(handler=summary)
    t = engine.add_parser("truth", help="pixel IoU of the engine's labels against a simulator truth sidecar")
    t.add_argument("out", metavar="RUN_DIR", help="engine output directory")
    t.add_argument("--truth", required=True, help="simulator truth sidecar (<run>.truth.h5)")
    add_json(t)
    t.set_defaults(handler=truth)


def engine_settings(args: argparse.Namespace) -> dict:
    """The engine settings block: --config, then the options given."""
    from peaknet_bench.engine.settings import read_engine_settings

    settings = read_engine_settings(args.config) if args.config else {}
    for _, section, _, field, _ in _ENGINE_OPTIONS:
        value = getattr(args, f"engine_{field}")
        if value is None:
            continue
        if section is None:
            settings[field] = value
        else:
            settings[section] = {**settings.get(section, {}), field: value}
    return settings


def _job(args: argparse.Namespace):
    from peaknet_bench.engine.inputs import (
        FramesFromFiles, PeaksFromCXI, PeaksFromFinder, PredictionsFromIndexer, PredictionsFromStream,
    )
    from peaknet_bench.engine.run import EngineJob
    from peaknet_bench.engine.settings import dispersion_spec, engine_config
    from peaknet_bench.errors import InputError
    from peaknet_bench.io.frames import open_frames
    from peaknet_bench.peakfind.commands import finder_method

    # Absolute paths: Ray workers on other nodes (or in another directory) open the same files,
    # and a resumed run is recognised from any working directory.
    paths = [str(Path(p).resolve()) for p in open_frames(args.frames, reader=args.reader).paths]
    if args.geom is not None and Path(args.geom).exists():
        args.geom = str(Path(args.geom).resolve())
    for name in ("method", "cell", "stream"):
        value = getattr(args, name)
        if value is not None and value != "pf8" and Path(value).exists():
            setattr(args, name, str(Path(value).resolve()))
    settings = engine_settings(args)
    config, pf8_params = engine_config(settings, args.config or "--config")
    frames = FramesFromFiles(paths, args.geom, args.reader)
    if Path(args.method).suffix in (".cxi", ".h5") and Path(args.method).is_file():
        peaks = PeaksFromCXI(args.method, args.geom)  # stored lists, by position in the run
    elif args.method == "dispersion" and args.params is None:  # the --config block's parameters
        peaks = PeaksFromFinder(dispersion_spec(settings, args.config or "--config"))
    else:  # pf8 starts from the --config block (a --params file replaces it; options given win)
        peaks = PeaksFromFinder(finder_method(args, args.device, pf8_base=pf8_params))
    if (args.cell is None) == (args.stream is None):
        raise InputError(None, "--cell/--stream", "give exactly one source of predictions")
    if args.stream is not None:
        if not Path(args.stream).exists():
            raise InputError(args.stream, "--stream", "file not found")
        predictions = PredictionsFromStream(args.stream, args.geom)
    else:
        if not Path(args.cell).exists():
            raise InputError(args.cell, "--cell", "file not found")
        predictions = PredictionsFromIndexer(args.cell, args.geom, indexer=args.indexer,
                                             indexer_options=indexer_options(args, args.indexer))
    return EngineJob(frames, peaks, predictions, config)


def run(args: argparse.Namespace) -> int:
    from peaknet_bench.engine.run import RunOptions, run_engine
    from peaknet_bench.util.cli import require_output
    from peaknet_bench.util.output import emit

    require_output(args)
    job = _job(args)
    options = RunOptions(
        batch_size=args.batch_size, max_concurrent_batches=args.max_concurrent_batches, fit_chunk=args.fit_chunk,
        use_ray=not args.no_ray, address=args.address, num_cpus=args.workers,
    )
    report = run_engine(job, require_output(args), options)
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
