"""The evaluation harness: method → peaks → hit decision → indexing → outcomes → metrics.

Three phases, so that every method meets exactly the same indexer:

1. **peak finding** in chunks of frames, each frame timed on its own inside the worker
   (frame generation / reading is timed separately and is not the method's cost); truth
   comparisons that need only the peaks (Hungarian matching to the found-able reflections
   via `engine.peakdiff`, pixel counts of a model's segmentation) are done here too, so
   images never travel back;
2. **indexing** of the hits (≥ `min_peaks` peaks) through `peaknet_bench.index.index_frames`
   with one indexer built from the same name, target cell and settings for every method;
3. **outcomes and metrics**: per-frame `FrameOutcome`s, rates with bootstrap intervals,
   unit-cell statistics, truth metrics (orientation correctness by the integer-matrix +
   misorientation test of SPEC-physics §7) and throughput.

`workers=1` and no `address` runs everything in-process; otherwise phase 1 runs on Ray
actors (one per worker, each keeping its simulator / finder between chunks) and phase 2
on Ray tasks. Results depend only on the inputs: frames are processed independently and
reassembled in order, so the results file is the same apart from timings and timestamp.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from peaknet_bench.data.canvas import count_nonfinite
from peaknet_bench.evaluate.metrics import (
    CELL_NAMES,
    FrameOutcome,
    bootstrap_rates_ci,
    cell_statistics,
    rates,
    truth_metrics,
)
from peaknet_bench.evaluate.methods import MethodSpec, build_finder
from peaknet_bench.frame import HIT_MIN_PEAKS, PeakList
from peaknet_bench.util.progress import bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides the numbers (plus how the work is spread)."""

    min_peaks: int = HIT_MIN_PEAKS  # hit: at least this many peaks (part of the method's declared configuration)
    match_radius_px: float = 3.0  # found peak ↔ found-able reflection match radius (slab pixels)
    indexer: str = "builtin"  # "builtin" or "crystfel"
    indexer_options: dict[str, Any] = field(default_factory=dict)  # the indexer's config fields
    integer_tol: float = 0.1  # orientation test: |M − round(M)| bound
    max_misorientation_deg: float = 0.5  # orientation test: misorientation bound
    workers: int = 1
    address: str | None = None  # Ray cluster; None = local
    chunk_size: int = 8  # frames per task
    n_boot: int = 2000
    ci_level: float = 0.95
    seed: int = 0  # bootstrap seed
    show_progress: bool | None = None


@dataclass
class FoundFrame:
    """Phase-1 result of one frame (small: no image)."""

    position: int
    index: int
    event: str
    peaks: PeakList
    find_s: float
    source_s: float
    photon_energy_ev: float
    clen_m: float
    blank: bool | None = None
    n_foundable: int | None = None
    n_matched: int | None = None
    real_bases: list[np.ndarray] | None = None
    seg_counts: np.ndarray | None = None  # tp, fp, tn, fn over good pixels
    nonfinite: int = 0  # pixels the mask called good that held NaN/±Inf (every finder treats them as bad)


class FindWorker:
    """Holds one frame source and one finder; finds peaks of chunks of frame positions."""

    def __init__(self, source, method: MethodSpec, match_radius_px: float) -> None:
        self.source = source
        self.finder = build_finder(method, source.geometry, getattr(source, "truth", None))
        self.match_radius_px = match_radius_px

    def run(self, positions: Sequence[int]) -> list[FoundFrame]:
        from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff

        out = []
        config = PeakDiffConfig(max_distance=self.match_radius_px)
        for pos in positions:
            t0 = time.perf_counter()
            frame = self.source.frame(pos)
            _check_beam(frame, self.source)
            t1 = time.perf_counter()
            seg = None
            if hasattr(self.finder, "find_with_segmentation"):
                peaks, seg = self.finder.find_with_segmentation(frame)
            else:
                peaks = self.finder.find(frame)
            t2 = time.perf_counter()
            index = int(frame.meta.get("index", pos))
            found = FoundFrame(pos, index, frame.event, peaks, t2 - t1, t1 - t0, float(frame.photon_energy_ev),
                               float(frame.clen_m))
            found.nonfinite = count_nonfinite(np.ascontiguousarray(frame.data, np.float32),
                                              np.ascontiguousarray(frame.mask, np.bool_))
            truth = self.source.truth(frame)
            if truth is not None:
                found.blank = truth.blank
                found.n_foundable = len(truth.foundable)
                found.n_matched = peakdiff(peaks, truth.foundable, config).n_matched
                found.real_bases = truth.real_bases
                if seg is not None and truth.label_mask is not None:
                    found.seg_counts = _segmentation_counts(self.finder, frame, seg, truth.label_mask)
            out.append(found)
        return out


def _check_beam(frame, source) -> None:
    from peaknet_bench.geometry.model import check_frame_beam

    label = frame.meta.get("source") or getattr(source, "name", None) or type(source).__name__
    check_frame_beam(frame.geometry, frame.photon_energy_ev, frame.clen_m, label, f"frame {frame.event}")


def _segmentation_counts(finder, frame, seg_slab: np.ndarray, label_slab: np.ndarray) -> np.ndarray:
    """tp, fp, tn, fn of a slab segmentation against the slab truth label, over good pixels;
    torchmetrics' `binary_stat_scores` when installed, the same counts in numpy otherwise."""
    good = np.asarray(frame.mask, bool) & (frame.geometry.panel_map >= 0) & np.isfinite(frame.data)
    pred, target = np.asarray(seg_slab, bool)[good], np.asarray(label_slab, bool)[good]
    try:
        import torch
        from torchmetrics.functional.classification import binary_stat_scores
    except ImportError:
        return np.array([np.sum(pred & target), np.sum(pred & ~target), np.sum(~pred & ~target),
                         np.sum(~pred & target)], dtype=np.int64)
    stats = binary_stat_scores(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target.astype(np.int64)))
    return stats[:4].numpy().astype(np.int64)


# ------------------------------------------------------------------ phase 1
def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(s, min(s + size, n))) for s in range(0, n, max(1, size))]


def _find_all(source, method: MethodSpec, config: EvalConfig, use_ray: bool,
              checkpoint=None) -> tuple[list[FoundFrame], float]:
    """Phase 1 on every frame; with a `Checkpoint`, frames it holds are taken from it and each
    finished chunk is saved to it (so an interrupted evaluation resumes)."""
    n = len(source)
    results: list[FoundFrame | None] = [None] * n
    for f in checkpoint.load() if checkpoint is not None else []:
        if 0 <= f.position < n:
            results[f.position] = f
    chunks = [c for c in _chunks(n, config.chunk_size) if any(results[p] is None for p in c)]
    save = checkpoint.save if checkpoint is not None else (lambda found: None)
    t0 = time.perf_counter()
    disable = None if config.show_progress is None else not config.show_progress
    with bar(n, desc=f"find ({method.name})", disable=disable) as pbar:
        pbar.update(n - sum(len(c) for c in chunks))
        if not use_ray or not chunks:
            worker = FindWorker(source, method, config.match_radius_px) if chunks else None
            for chunk in chunks:
                found = worker.run(chunk)
                save(found)
                for f in found:
                    results[f.position] = f
                pbar.update(len(chunk))
        else:
            import ray
            from ray.util import ActorPool

            actor_cls = ray.remote(num_cpus=1)(FindWorker)
            n_actors = max(1, min(config.workers, len(chunks)))
            source_ref = ray.put(source)
            actors = [actor_cls.remote(source_ref, method, config.match_radius_px) for _ in range(n_actors)]
            try:
                pool = ActorPool(actors)
                for found in pool.map_unordered(lambda actor, chunk: actor.run.remote(chunk), chunks):
                    save(found)
                    for f in found:
                        results[f.position] = f
                    pbar.update(len(found))
            finally:  # free their CPUs for the indexing tasks
                for actor in actors:
                    ray.kill(actor)
    return results, time.perf_counter() - t0  # type: ignore[return-value]


# ------------------------------------------------------------------ phase 3
def _orientation(found_crystals, real_bases, config: EvalConfig) -> tuple[bool | None, float | None]:
    """Correct iff every found lattice matches a true crystal; misorientation of the worst one."""
    from peaknet_bench.index import compare_lattices

    if not found_crystals:
        return None, None
    if not real_bases:
        return False, None
    worst = 0.0
    for c in found_crystals:
        best = 180.0
        found = c.crystal.real_basis()
        for tb in real_bases:
            m = compare_lattices(found, tb)
            if m.max_deviation <= config.integer_tol and abs(m.determinant) == 1:
                best = min(best, m.misorientation_deg)
        worst = max(worst, best)
    return worst <= config.max_misorientation_deg, worst


def _outcome(f: FoundFrame, lattices, config: EvalConfig) -> FrameOutcome:
    hit = len(f.peaks) >= config.min_peaks
    lattices = lattices if hit else []
    cells = [tuple(float(getattr(c.cell, k)) for k in CELL_NAMES) for c in lattices]
    o = FrameOutcome(event=f.event, n_peaks=len(f.peaks), hit=hit, indexed=bool(lattices), cells=cells, index=f.index)
    if f.n_foundable is not None:
        o.blank, o.n_foundable, o.n_matched = f.blank, f.n_foundable, f.n_matched
        o.correct_orientation, o.misorientation_deg = _orientation(lattices, f.real_bases or [], config)
    return o


def data_quality(found: Sequence[FoundFrame]) -> dict[str, int] | None:
    """Counts of NaN/±Inf pixels the masks called good (None when there were none), with a
    warning on stderr: such pixels are treated as bad, but the user should know."""
    bad = [f.nonfinite for f in found if f.nonfinite]
    if not bad:
        return None
    print(f"[evaluate] warning: {len(bad)} frame(s) hold {sum(bad)} NaN/Inf pixel(s) not in the bad-pixel mask; "
          "they were treated as bad pixels", file=sys.stderr, flush=True)
    return {"nonfinite_pixels": int(sum(bad)), "frames_with_nonfinite": len(bad)}


def confidence_intervals(outcomes: Sequence[FrameOutcome], level: float = 0.95, n_boot: int = 2000,
                         seed: int = 0) -> dict[str, dict[str, float]]:
    """Frame-resampling bootstrap intervals of every rate (and, with truth, the truth rates)."""
    hit = np.array([o.hit for o in outcomes], float)
    idx = np.array([o.hit and o.indexed for o in outcomes], float)
    pairs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        "hit_rate": (hit, None), "indexing_rate": (idx, hit), "indexing_yield": (idx, None),
    }
    if any(o.n_foundable is not None for o in outcomes):  # frames without truth add 0 / 0
        matched = np.array([o.n_matched or 0 for o in outcomes], float)
        has = np.array([o.n_foundable is not None for o in outcomes], float)
        pairs["peak_precision"] = (matched, has * np.array([o.n_peaks for o in outcomes], float))
        pairs["peak_recall"] = (matched, np.array([o.n_foundable or 0 for o in outcomes], float))
        ind = has * idx
        pairs["correct_orientation_rate"] = (np.array([bool(o.correct_orientation) for o in outcomes], float) * ind, ind)
    n = len(outcomes)
    succ = np.column_stack([p[0] for p in pairs.values()]) if n else np.zeros((0, len(pairs)))
    trials = np.column_stack([np.ones(n) if p[1] is None else p[1] for p in pairs.values()]) if n else succ
    cis = bootstrap_rates_ci(succ, trials, n_boot=n_boot, level=level, seed=seed)
    out = {name: {"estimate": e, "low": lo, "high": hi, "level": level} for name, (e, lo, hi) in zip(pairs, cis)}
    return out


def segmentation_metrics(counts: Sequence[np.ndarray]) -> dict[str, float | int] | None:
    """Pooled pixel IoU / F1 / precision / recall of the peak class (None without counts)."""
    if not counts:
        return None
    tp, fp, tn, fn = (int(x) for x in np.sum(counts, axis=0))
    iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"pixel_iou": iou, "pixel_f1": f1, "pixel_precision": tp / (tp + fp) if tp + fp else 0.0,
            "pixel_recall": tp / (tp + fn) if tp + fn else 0.0, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "n_frames": len(counts)}


# ------------------------------------------------------------------ environment
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment(indexer: str) -> dict[str, Any]:
    import shutil
    import subprocess

    from peaknet_bench import __version__

    crystfel = None
    exe = shutil.which("indexamajig")
    if indexer == "crystfel" and exe:
        try:
            crystfel = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            crystfel = "unknown"
    return {"package_version": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "numpy": np.__version__, "torch": _version("torch"), "ray": _version("ray"), "crystfel": crystfel}


def gpu_models() -> str | None:
    """NVIDIA GPUs of this machine from the driver's /proc files (no CUDA initialisation needed)."""
    import glob

    names = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            with open(info) as f:
                names += [line.split(":", 1)[1].strip() for line in f if line.startswith("Model:")]
        except OSError:
            continue
    return ", ".join(names) or None


def _hardware(method: MethodSpec) -> tuple[dict[str, Any], int]:
    gpu, device, threads = gpu_models(), "cpu", 1  # peakfinder8's kernels run on one thread per worker
    if method.kind == "model":
        import torch

        device = method.params.get("device", "cpu")
        threads = torch.get_num_threads()
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return {"cpu": cpu_model(), "n_cpus": os.cpu_count() or 1, "gpu": gpu, "device": device}, threads


# ------------------------------------------------------------------ main entry
def build_indexer(name: str, cell, options: dict[str, Any] | None = None):
    """The indexer every method meets; a missing indexamajig is an input error, not a crash mid-run."""
    from peaknet_bench.errors import InputError
    from peaknet_bench.index import make_indexer

    try:
        indexer = make_indexer(name, cell, **(options or {}))
    except TypeError as exc:
        raise InputError(None, "indexer options", str(exc)) from None
    if hasattr(indexer, "available") and not indexer.available():
        raise InputError(None, "--indexer", f"{name}: {getattr(indexer.config, 'executable', name)} is not on PATH")
    return indexer


def evaluate(method: MethodSpec, source, config: EvalConfig = EvalConfig(), cell=None, checkpoint=None,
             predictions: str | os.PathLike | None = None):
    """Evaluate `method` on the frames of `source`; returns a validated `Results`.

    `cell` overrides the source's target cell (the indexer's known cell). A `Checkpoint`
    (peaknet_bench.evaluate.checkpoint) keeps phase 1 chunk by chunk, so a stopped
    evaluation resumes where it stopped. `predictions` names a CXI file for the peak lists
    found (one row per frame, with its event id): the file a leaderboard submission needs,
    written from the same pass instead of running a model twice.
    """
    from peaknet_bench.evaluate.results import Results
    from peaknet_bench.index import index_frames

    cell = cell or source.cell
    indexer = build_indexer(config.indexer, cell, config.indexer_options)
    use_ray = config.workers > 1 or config.address is not None
    with contextlib.ExitStack() as stack:
        if use_ray and len(source):
            from peaknet_bench.util.raysession import ray_session

            stack.enter_context(ray_session(config.address, num_cpus=config.workers))
        found, find_wall = _find_all(source, method, config, use_ray, checkpoint)
        if predictions is not None:
            from peaknet_bench.io.cxi import write_peaks_cxi

            write_peaks_cxi(predictions, [f.peaks for f in found], photon_energy_ev=np.array([f.photon_energy_ev for f in found]),
                            clen_m=np.array([f.clen_m for f in found]), events=[f.event for f in found])
        hits = [f for f in found if len(f.peaks) >= config.min_peaks]
        t0 = time.perf_counter()
        lattices = index_frames(
            [f.peaks for f in hits], source.geometry, [f.photon_energy_ev for f in hits], indexer,
            clen_m=[f.clen_m for f in hits], workers=config.workers, address=config.address,
            chunk_size=config.chunk_size, show_progress=config.show_progress,
        ) if hits else []
        index_s = time.perf_counter() - t0
    by_pos = {f.position: lat for f, lat in zip(hits, lattices)}
    outcomes = [_outcome(f, by_pos.get(f.position, []), config) for f in found]
    r = rates(outcomes)
    cells = cell_statistics(outcomes)
    find_s = float(sum(f.find_s for f in found))
    hardware, threads = _hardware(method)
    settings = asdict(indexer.config) if hasattr(indexer, "config") else {}
    metrics = {
        **r, "ci": confidence_intervals(outcomes, config.ci_level, config.n_boot, config.seed),
        "cell": {k: {**v, "mean": None if not np.isfinite(v["mean"]) else v["mean"]} for k, v in cells.items()},
        "truth": truth_metrics(outcomes),
        "segmentation": segmentation_metrics([f.seg_counts for f in found if f.seg_counts is not None]),
        "data_quality": data_quality(found),
    }
    n = len(found)
    results = Results(
        created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=method.identity(),
        dataset=source.identity(),
        indexer={"name": config.indexer, "settings": _jsonable(settings),
                 "target_cell": [float(getattr(cell, k)) for k in CELL_NAMES],
                 "lattice": f"{cell.lattice_type} {cell.centering} {cell.space_group or ''}".strip()},
        min_peaks=config.min_peaks, match_radius_px=config.match_radius_px, metrics=metrics,
        throughput={
            "n_frames": n, "find_seconds": find_s,
            "frames_per_second": n / find_s if find_s > 0 else None,
            "ms_per_frame": 1e3 * find_s / n if n else None, "find_wall_seconds": find_wall,
            "index_seconds": index_s, "index_ms_per_hit": 1e3 * index_s / len(hits) if hits else None,
            "source_seconds": float(sum(f.source_s for f in found)), "workers": config.workers,
            "threads": threads, "batch_size": 1, "hardware": hardware,
        },
        environment=environment(config.indexer),
        frames=[_record(o) for o in outcomes],
    )
    return results


def _record(o: FrameOutcome) -> dict[str, Any]:
    d = o.to_dict()
    d["cells"] = [list(c) for c in o.cells]
    return d


def _jsonable(value: Any) -> Any:
    """Config values as JSON (tuples → lists, paths → str)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
