"""The data engine pipeline and its Ray scheduling.

Per batch of frames: peaks (any source) + predictions (an indexer or a stream) → PeakDiff
→ curation → windows around the matched found peaks of the selected frames → one batched
pseudo-Voigt fit → χ² filter → half-maximum labels → one HDF5 file per batch.

Scheduling follows the paper's two levels. Top: the frames are cut into batches
(`batch_size`, e.g. 40) and at most `max_concurrent_batches` batch tasks are in flight
(a `ray.wait` window). Inside a batch, the fits are split into chunks of `fit_chunk`
windows that run as their own Ray tasks wherever CPUs are free (a batch task blocked on
them gives its CPU back to Ray), so a batch with many peaks spreads over the cluster.

Resumability and fault tolerance: each batch file is written atomically by its task and
recorded by the driver in `manifest.json` (also atomic). A restarted run with the same
output directory and the same inputs/configuration skips recorded batches (and adopts
complete batch files that were written but not yet recorded), so no frame is processed
twice into the output and none is lost. A batch task whose worker dies is retried by Ray
(`max_retries`); its file is simply written again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from peaknet_bench.engine.curation import CurationConfig, curate
from peaknet_bench.engine.labels import data_labels, paint_labels, window_labels
from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff
from peaknet_bench.engine.profile import PARAM_NAMES, FitConfig, FitResult, Windows, extract_windows, fit_batched
from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.util.atomic import atomic_path, write_text_atomic
from peaknet_bench.util.outdir import OutputClaim
from peaknet_bench.util.output import to_json
from peaknet_bench.util.stamp import file_stamp

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


# ------------------------------------------------------------------------ sources
class RandomAccessFrames(Protocol):
    """Random access to a run's frames (picklable: it travels to Ray workers)."""

    def __len__(self) -> int: ...
    def frame(self, i: int) -> Frame: ...
    def describe(self) -> dict[str, Any]: ...


# Found peaks: a PeakFinder (`find(frame)`: peakfinder8, a model, any kind of
# peaknet_bench.peakfind.methods), or a callable (frame, index) -> peaks for lists stored by
# run position (a CXI peak file, a synthetic run's own peaks).
PeakSource = Any


def found_peaks(source: PeakSource, frame: Frame, i: int) -> PeakList:
    """The found peaks of frame `i` from either kind of peak source."""
    find = getattr(source, "find", None)
    return find(frame) if callable(find) else source(frame, i)
PredictionSource = Callable[[Frame, int, PeakList], PeakList]  # (frame, index, found) -> predicted


UNFIT_LABELS = ("none", "half_max")  # EngineConfig.unfit_label


@dataclass(frozen=True)
class EngineConfig:
    """Everything that decides the output (recorded in the manifest; a resume must match)."""

    peakdiff: PeakDiffConfig = field(default_factory=PeakDiffConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    fit_peaks: str = "matched"  # "matched": found peaks with a predicted partner; "found": all found peaks
    photon_scale: bool = True  # divide by the panel's adu_per_photon so 1/√(I+1) are Poisson weights
    # A fitted peak whose fit is rejected: "none" leaves it unlabelled (the paper's rule);
    # "half_max" labels it by the half-maximum rule on its pixels (engine.labels.data_labels),
    # so a sharp real spot the smooth profile misfits is not taught as background.
    unfit_label: str = "none"

    def __post_init__(self) -> None:
        if self.fit_peaks not in ("matched", "found"):
            raise InputError(None, "fit_peaks", f"expected 'matched' or 'found', got {self.fit_peaks!r}")
        if self.unfit_label not in UNFIT_LABELS:
            raise InputError(None, "unfit_label", f"expected one of {list(UNFIT_LABELS)}, got {self.unfit_label!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.unfit_label == "none":  # older runs' identities (and datasets) stay as they were
            del d["unfit_label"]
        return d


# --------------------------------------------------------------------- batch work
@dataclass
class BatchResult:
    """Everything the engine decided about a batch of frames (columns; ragged tables with a
    `frame` column holding the position in the batch)."""

    frames: dict[str, np.ndarray]  # per frame
    found: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    fitted: dict[str, np.ndarray]
    labels: np.ndarray  # (n, n_ss, n_fs) uint8

    def summary(self) -> dict[str, int]:
        acc = self.fitted["accepted"]
        return {
            "n_frames": int(self.frames["index"].size),
            "n_selected": int(self.frames["selected"].sum()),
            "n_fitted": int(acc.size),
            "n_accepted": int(acc.sum()),
            "n_rejected": int(acc.size - acc.sum()),
            "n_label_pixels": int(np.count_nonzero(self.labels)),
        }


def _panel_scale(geometry) -> np.ndarray:
    return np.array([p.adu_per_photon if p.adu_per_photon else 1.0 for p in geometry.panels])


def _peak_table(lists: Sequence[PeakList]) -> dict[str, np.ndarray]:
    table = {
        "frame": np.concatenate([np.full(len(p), i, np.int32) for i, p in enumerate(lists)]) if lists else np.zeros(0, np.int32),
        "fs": np.concatenate([p.fs for p in lists]) if lists else np.zeros(0),
        "ss": np.concatenate([p.ss for p in lists]) if lists else np.zeros(0),
        "panel": np.concatenate([p.panel for p in lists]).astype(np.int32) if lists else np.zeros(0, np.int32),
        "intensity": np.concatenate([p.intensity for p in lists]) if lists else np.zeros(0),
    }
    if lists and all(p.hkl is not None for p in lists):
        table["hkl"] = np.concatenate([p.hkl for p in lists]).astype(np.int32)
    return table


def process_batch(
    frames: Sequence[Frame], found: Sequence[PeakList], predicted: Sequence[PeakList],
    indices: Sequence[int], config: EngineConfig = EngineConfig(),
    fit: Callable[[Windows, FitConfig], FitResult] = fit_batched,
) -> BatchResult:
    """The engine on one batch (pure: no Ray, no files). `fit` may dispatch to workers."""
    n = len(frames)
    if not (len(found) == len(predicted) == len(indices) == n):
        raise ValueError("frames, found, predicted and indices must have the same length")
    geometry = frames[0].geometry if n else None
    assembler = None
    if config.peakdiff.space == "lab" and geometry is not None:
        from peaknet_bench.geometry import Assembler

        assembler = Assembler(geometry)
    found = [_with_panels(p, f.geometry) for p, f in zip(found, frames)]
    predicted = [_with_panels(p, f.geometry) for p, f in zip(predicted, frames)]
    matches = [peakdiff(a, b, config.peakdiff, assembler) for a, b in zip(found, predicted)]
    n_found = np.array([m.n_found for m in matches], np.int64)
    n_pred = np.array([m.n_predicted for m in matches], np.int64)
    n_match = np.array([m.n_matched for m in matches], np.int64)
    cur = curate(n_found, n_pred, n_match, config.curation)
    # Windows of the peaks to fit, all selected frames together (one fit call per batch).
    win_list, which = [], []
    for i in np.flatnonzero(cur.selected):
        f, peaks = frames[i], found[i]
        sel = matches[i].found_index if config.fit_peaks == "matched" else np.arange(len(peaks))
        sub = peaks.subset(sel)
        scale = _panel_scale(f.geometry) if config.photon_scale else 1.0
        win_list.append(extract_windows(
            f.data, sub.fs, sub.ss, sub.panel, f.geometry.panel_map, f.mask, config.fit.window, scale, int(i),
        ))
        which.append(sel)
    windows = Windows.concatenate(win_list, config.fit.window)
    result = fit(windows, config.fit)
    accepted = result.accepted(config.fit.chi2_max)
    slab_shape = frames[0].data.shape if n else (0, 0)
    window_masks = window_labels(result, windows, accepted)
    data_labelled = None
    if config.unfit_label == "half_max":
        data_labelled = ~accepted
        window_masks |= data_labels(windows, data_labelled)
    labels = paint_labels(slab_shape, windows, window_masks, n_frames=n)
    fit_fs, fit_ss = result.centres(windows)
    fitted = {
        "frame": windows.frame.astype(np.int32),
        "found_index": np.concatenate(which).astype(np.int64) if which else np.zeros(0, np.int64),
        "fs": fit_fs, "ss": fit_ss, "panel": windows.panel.astype(np.int32),
        "fs0": windows.fs0, "ss0": windows.ss0,
        **{f"p_{name}": result.params[:, k] for k, name in enumerate(PARAM_NAMES)},
        "chi2_red": result.chi2_red, "n_valid": result.n_valid.astype(np.int32),
        "n_iter": result.n_iter.astype(np.int32), "converged": result.converged, "accepted": accepted,
    }
    if data_labelled is not None:
        fitted["data_labelled"] = data_labelled
    found_tab = _peak_table(found)
    found_tab["matched"] = np.concatenate([m.matched_found() for m in matches]) if n else np.zeros(0, bool)
    pred_tab = _peak_table(predicted)
    frames_tab = {
        "index": np.asarray(indices, np.int64),
        "event": np.array([f.event for f in frames], dtype=object),
        "photon_energy_ev": np.array([f.photon_energy_ev for f in frames], np.float64),
        "clen_m": np.array([f.clen_m for f in frames], np.float64),
        "n_found": n_found, "n_predicted": n_pred, "n_matched": n_match,
        "precision": np.array([m.precision for m in matches]), "recall": np.array([m.recall for m in matches]),
        "selected": cur.selected, "reason": np.array(cur.reasons, dtype=object),
        "n_accepted": np.bincount(windows.frame[accepted], minlength=n).astype(np.int64),
    }
    return BatchResult(frames_tab, found_tab, pred_tab, fitted, labels)


def _with_panels(peaks: PeakList, geometry) -> PeakList:
    """Fill unknown panel numbers from the geometry (CXI peak lists carry none)."""
    if len(peaks) and np.any(peaks.panel < 0):
        p = peaks.subset(slice(None))
        unknown = p.panel < 0
        p.panel[unknown] = geometry.panel_of(p.fs[unknown], p.ss[unknown])
        return p
    return peaks


# ------------------------------------------------------------------------ batch files
def write_batch(path: str | os.PathLike, batch: BatchResult) -> None:
    """One HDF5 file per batch, written atomically (labels gzip-compressed, one chunk per frame)."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as h5:
            h5.attrs["format"] = "peaknet-bench engine batch"
            h5.attrs["format_version"] = FORMAT_VERSION
            for group, table in (("frames", batch.frames), ("found", batch.found),
                                 ("predicted", batch.predicted), ("fitted", batch.fitted)):
                g = h5.create_group(group)
                for name, col in table.items():
                    if col.dtype == object:
                        g.create_dataset(name, data=np.array([str(v) for v in col], dtype=h5py.string_dtype()))
                    else:
                        g.create_dataset(name, data=col)
            n, *shape = batch.labels.shape
            chunks = (1, *shape) if n else None
            h5.create_dataset("labels", data=batch.labels, chunks=chunks,
                              compression="gzip" if n else None, compression_opts=1 if n else None)


def read_batch(path: str | os.PathLike, labels: bool = True) -> BatchResult:
    """Read a batch file back (strings decoded)."""
    import h5py

    with h5py.File(path, "r") as h5:
        def table(name):
            out = {}
            for k, ds in h5[name].items():
                v = ds[()]
                if ds.dtype.kind == "O" or h5py.check_string_dtype(ds.dtype) is not None:
                    v = np.array([s.decode() if isinstance(s, bytes) else s for s in v], dtype=object)
                out[k] = v
            return out

        lab = h5["labels"][()] if labels else np.zeros((0, 0, 0), np.uint8)
        return BatchResult(table("frames"), table("found"), table("predicted"), table("fitted"), lab)


def iter_output(out_dir: str | os.PathLike, labels: bool = True) -> Iterator[BatchResult]:
    """Batches of a finished (or partial) output directory, in frame order."""
    manifest = _read_manifest(Path(out_dir))
    if manifest is None:
        raise InputError(str(out_dir), MANIFEST, "no engine manifest here")
    for key in sorted(manifest["batches"], key=int):
        yield read_batch(Path(out_dir) / manifest["batches"][key]["file"], labels=labels)


# ------------------------------------------------------------------------ the run
@dataclass
class RunOptions:
    batch_size: int = 40
    max_concurrent_batches: int = 4
    fit_chunk: int = 2048  # windows per second-level fit task
    use_ray: bool = True
    address: str | None = None  # None: local ray.init(); else a cluster address
    num_cpus: int | None = None  # local Ray only
    max_retries: int = 3
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError(None, "batch_size", f"must be >= 1, got {self.batch_size}")
        if self.max_concurrent_batches < 1:
            raise InputError(None, "max_concurrent_batches", f"must be >= 1, got {self.max_concurrent_batches}")


@dataclass
class EngineJob:
    """The inputs of a run: frames, a peak source and a prediction source (all picklable)."""

    frames: RandomAccessFrames
    peaks: PeakSource
    predictions: PredictionSource
    config: EngineConfig = field(default_factory=EngineConfig)

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the original (inputs and configuration)."""
        return {
            "frames": self.frames.describe(),
            "peaks": _describe(self.peaks),
            "predictions": _describe(self.predictions),
            "config": self.config.to_dict(),
            "format_version": FORMAT_VERSION,
        }


def _describe(source: Any) -> Any:
    describe = getattr(source, "describe", None)
    if callable(describe):
        return describe()
    return getattr(source, "__qualname__", type(source).__qualname__)


def run_batch(job: EngineJob, start: int, stop: int, path: str, fit: Callable | None = None) -> dict[str, int]:
    """Load, find, predict, fit, label and write frames [start, stop) (one batch task)."""
    frames = [job.frames.frame(i) for i in range(start, stop)]
    for f, i in zip(frames, range(start, stop)):
        _check_beam(f, i, job.frames)
    found = [found_peaks(job.peaks, f, i) for f, i in zip(frames, range(start, stop))]
    predicted = [job.predictions(f, i, p) for f, i, p in zip(frames, range(start, stop), found)]
    batch = process_batch(frames, found, predicted, list(range(start, stop)), job.config, fit or fit_batched)
    write_batch(path, batch)
    return batch.summary()


def _check_beam(frame: Frame, i: int, source: Any) -> None:
    from peaknet_bench.geometry.model import check_frame_beam

    described = _describe(source)
    label = frame.meta.get("source") or (described.get("path") if isinstance(described, dict) else None) or str(described)
    check_frame_beam(frame.geometry, frame.photon_energy_ev, frame.clen_m, label, f"frame {i} ({frame.event})")


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"line {exc.lineno}", "not a valid engine manifest (JSON)") from None


def _fingerprint(identity: dict[str, Any]) -> str:
    return hashlib.sha256(to_json(identity).encode()).hexdigest()


def _input_files(identity: Any) -> list[str]:
    """Every string in the identity that names an existing file (frames, peak lists, streams,
    geometry, cell files): their content, not only their names, decides the output."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value and len(value) < 4096 and os.path.isfile(value):
            found.add(value)

    walk(identity)
    return sorted(found)


def _input_stamps(identity: dict[str, Any], known: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Content stamps of the input files (size + mtime + sha256; the hash is recomputed only
    for a file whose size or mtime changed since the stamp in `known`)."""
    return {p: file_stamp(p, known.get(p)) for p in _input_files(identity)}


@dataclass
class RunReport:
    n_frames: int
    n_selected: int
    n_fitted: int
    n_accepted: int
    n_rejected: int
    n_batches: int
    n_batches_resumed: int
    seconds: float
    out_dir: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frames_per_s"] = self.n_frames / self.seconds if self.seconds > 0 else float("nan")
        d["fits_per_s"] = self.n_fitted / self.seconds if self.seconds > 0 else float("nan")
        return d


def run_engine(job: EngineJob, out_dir: str | os.PathLike, options: RunOptions = RunOptions()) -> RunReport:
    """Run (or resume) the engine over all frames of `job` into `out_dir` (claimed for the
    run: a second run into the same directory is refused while this one writes)."""
    with OutputClaim(out_dir, "peaknet-bench engine run"):
        return _run_engine(job, Path(out_dir), options)


def _run_engine(job: EngineJob, out: Path, options: RunOptions) -> RunReport:
    from peaknet_bench.util.progress import bar

    t0 = time.perf_counter()
    identity = job.identity()
    n = len(job.frames)
    manifest = _read_manifest(out)
    stamps = _input_stamps(identity, (manifest or {}).get("inputs") or {})
    content = {p: [s["size"], s["sha256"]] for p, s in stamps.items()}
    fingerprint = _fingerprint({**identity, "batch_size": options.batch_size, "n_frames": n, "content": content})
    if manifest is None:
        manifest = {"format": "peaknet-bench engine output", "format_version": FORMAT_VERSION,
                    "fingerprint": fingerprint, "identity": identity, "inputs": stamps, "n_frames": n,
                    "batch_size": options.batch_size, "batches": {}}
    elif manifest.get("fingerprint") != fingerprint:
        before = manifest.get("inputs") or {}
        changed = [p for p, s in stamps.items() if p in before and before[p].get("sha256") != s["sha256"]]
        what = (f"input file(s) changed since that run: {', '.join(changed)}" if changed
                else "it had other inputs, configuration or batch size")
        raise InputError(str(out / MANIFEST), "fingerprint",
                         f"the output directory holds a run that cannot be resumed with these inputs ({what}); "
                         "use a new output directory")
    else:
        manifest["inputs"] = stamps  # same content; keep the new mtimes so the next check is cheap
    spans = {b: (s, min(s + options.batch_size, n)) for b, s in enumerate(range(0, n, options.batch_size))}
    done = manifest["batches"]
    # Adopt complete batch files written by tasks whose result the driver never recorded.
    for b, (s, e) in spans.items():
        name = _batch_name(b)
        if str(b) not in done and (out / name).exists():
            try:
                summary = read_batch(out / name, labels=False).summary()
            except Exception:  # an unreadable file is recomputed
                continue
            done[str(b)] = {"file": name, "frames": [s, e], "summary": summary}
    write_text_atomic(out / MANIFEST, to_json(manifest, indent=1) + "\n")
    resumed = len(done)
    todo = [b for b in spans if str(b) not in done]

    def record(b: int, summary: dict[str, int]) -> None:
        done[str(b)] = {"file": _batch_name(b), "frames": list(spans[b]), "summary": summary}
        write_text_atomic(out / MANIFEST, to_json(manifest, indent=1) + "\n")

    with bar(n, desc="engine", disable=None if options.progress is None else not options.progress) as pbar:
        pbar.update(sum(e - s for b, (s, e) in spans.items() if str(b) in done))
        if options.use_ray:
            _run_ray(job, out, todo, spans, options, record, pbar)
        else:
            for b in todo:
                s, e = spans[b]
                record(b, run_batch(job, s, e, str(out / _batch_name(b))))
                pbar.update(e - s)
    totals = {k: sum(v["summary"][k] for v in done.values()) for k in ("n_frames", "n_selected", "n_fitted", "n_accepted", "n_rejected")}
    return RunReport(**totals, n_batches=len(spans), n_batches_resumed=resumed, seconds=time.perf_counter() - t0, out_dir=str(out))


def _batch_name(b: int) -> str:
    return f"batch_{b:06d}.h5"


# ----------------------------------------------------------------------------- Ray
def _ray_fit(windows: Windows, config: FitConfig, chunk: int, fit_task: Any) -> FitResult:
    """Second level: fit chunks of windows as Ray tasks (inline when one chunk suffices)."""
    if len(windows) <= chunk:
        return fit_batched(windows, config)
    import ray

    refs = []
    for s in range(0, len(windows), chunk):
        sub = Windows(*(getattr(windows, k)[s : s + chunk] for k in ("data", "valid", "ss0", "fs0", "panel", "frame")))
        refs.append(fit_task.remote(sub, config))
    parts = ray.get(refs)
    return FitResult(
        np.concatenate([p.params for p in parts]), np.concatenate([p.chi2_red for p in parts]),
        np.concatenate([p.n_valid for p in parts]), np.concatenate([p.n_iter for p in parts]),
        np.concatenate([p.fitted for p in parts]), np.concatenate([p.converged for p in parts]), parts[0].method,
    )


def _set_threads_from_ray() -> None:
    """Numba threads = the CPUs Ray gave this task (no oversubscription)."""
    import numba
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    numba.set_num_threads(max(1, min(int(cpus), numba.config.NUMBA_NUM_THREADS)))


def _fit_task_fn(windows: Windows, config: FitConfig) -> FitResult:
    _set_threads_from_ray()
    return fit_batched(windows, config)


def _batch_task_fn(job: EngineJob, start: int, stop: int, path: str, chunk: int, fit_task: Any) -> dict[str, int]:
    _set_threads_from_ray()
    return run_batch(job, start, stop, path, fit=lambda w, c: _ray_fit(w, c, chunk, fit_task))


def _run_ray(job, out: Path, todo: list[int], spans, options: RunOptions, record, pbar) -> None:
    import ray

    from peaknet_bench.util.raysession import map_windowed, ray_session

    with ray_session(options.address, num_cpus=options.num_cpus):
        fit_task = ray.remote(num_cpus=1, max_retries=options.max_retries)(_fit_task_fn)
        batch_task = ray.remote(num_cpus=1, max_retries=options.max_retries)(_batch_task_fn)
        job_ref = ray.put(job)

        def submit(b: int):
            s, e = spans[b]
            return batch_task.remote(job_ref, s, e, str(out / _batch_name(b)), options.fit_chunk, fit_task)

        for b, summary in map_windowed(todo, submit, options.max_concurrent_batches):
            record(b, summary)
            s, e = spans[b]
            pbar.update(e - s)
