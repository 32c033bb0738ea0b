"""The Ray producer/consumer inference pipeline (paper §2.2.3.2, §3.4), with the stage
overlap, fault recovery and monitoring the paper lists as missing.

    source actors ──put──▶ frame queue (bounded) ──▶ coordinator ──▶ inference workers
                                                        │   (≤ k calls in flight per worker)
                    writer actors ◀── result queue (bounded) ◀──┘

* Sources (`peaknet_bench.infer.sources`) read disjoint shards of chunks (chunk c goes to
  actor c mod n) and `ray.put` each chunk, so the queue carries only object references;
  a full queue blocks them (back-pressure, never unbounded memory).
* The coordinator (this process) takes chunk references off the queue and calls
  `InferenceWorker.process` with several calls in flight per worker: Ray moves the next
  chunk while the current one computes, and inside the worker (a threaded actor) the host
  preprocessing of batch k+1, the device work of batch k and the peak extraction of batch
  k-1 run at the same time, each stage behind its own lock.
* Exactly once: a chunk is acknowledged only when its result comes back. If a worker dies,
  its actor is replaced and every chunk it held is sent again; writers also drop any
  sequence number they have already seen, so a frame can never be written twice.
* Writers aggregate results into CXI files (`peaknet_bench.io.cxi.CXIWriter`, SPEC-crystfel
  §2) of `frames_per_file` frames each, sorted by sequence number, written atomically.
  At the end (or on Ctrl-C) each writer writes what it holds as a last, complete file.
* Monitoring: queue depths, frames/s per stage and worker utilisation every
  `monitor_interval_s`, as a line on stderr and a JSON line in `metrics.jsonl`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import HIT_MIN_PEAKS, PeakList
from peaknet_bench.infer.config import RunnerConfig, check_model_spec
from peaknet_bench.infer.sources import Chunk, ChunkSource
from peaknet_bench.util.atomic import remove_stale_temporaries, write_text_atomic
from peaknet_bench.util.outdir import INCOMPLETE_NAME, OutputClaim
from peaknet_bench.util.output import to_json


@dataclass
class PipelineConfig:
    """Shape of the pipeline. Queue capacities are in frames (the paper used 3 200)."""

    n_sources: int = 2
    n_workers: int = 1
    n_writers: int = 1
    queue_size: int = 3200
    result_queue_size: int = 3200
    chunk_frames: int | None = None  # frames per queue item; default: the model batch size
    in_flight_per_worker: int = 3  # calls per worker: one per overlapped stage
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None  # None: 1 when the runner's device is CUDA, else 0
    frames_per_file: int = 1000
    max_peaks: int = 2048
    write_data: bool = False  # also store image data + mask (self-contained files for indexamajig)
    compression: str | None = "gzip"
    prefix: str = "peaks"
    hit_min_peaks: int = HIT_MIN_PEAKS  # a frame with at least this many peaks counts as a hit
    max_retries: int = 3  # resubmissions of one chunk before the run fails
    monitor_interval_s: float = 2.0
    live: bool = True  # print monitor lines on stderr
    resume: bool = False  # finish an interrupted run in the same directory: skip events already written
    address: str | None = None  # Ray cluster to join when Ray is not running yet (None: start a local one)

    def validate(self) -> None:
        for name in ("n_sources", "n_workers", "n_writers", "queue_size", "result_queue_size", "in_flight_per_worker",
                     "frames_per_file", "max_peaks"):
            if int(getattr(self, name)) < 1:
                raise InputError(None, name, f"expected >= 1, got {getattr(self, name)}")
        if self.chunk_frames is not None and self.chunk_frames < 1:
            raise InputError(None, "chunk_frames", f"expected >= 1, got {self.chunk_frames}")


# ---------------------------------------------------------------------- actors
class SourceActor:
    """Reads its shard of chunks into the object store and queues their references."""

    def __init__(self, source: ChunkSource, skip: frozenset[str] = frozenset()) -> None:
        self.source = source
        self.skip = skip  # events already written by the run being resumed
        self.frames = 0
        self.skipped = 0
        self.busy_s = 0.0  # reading, not waiting on a full queue
        self.blocked_s = 0.0
        self._stop = threading.Event()

    def run(self, queue, shard: int, n_shards: int, chunk_frames: int) -> int:
        import ray
        from ray.util.queue import Full

        n = self.source.n_frames()
        c = shard
        while not self._stop.is_set():
            lo = c * chunk_frames
            if n is not None and lo >= n:
                break
            hi = lo + chunk_frames if n is None else min(lo + chunk_frames, n)
            t0 = time.perf_counter()
            chunk = self.source.read(range(lo, hi))
            if self.skip:
                chunk = _drop_events(chunk, self.skip)
                self.skipped += (hi - lo) - len(chunk["seq"])
                if len(chunk["seq"]) == 0:
                    self.busy_s += time.perf_counter() - t0
                    c += n_shards
                    continue
            k = len(chunk["seq"])
            ref = ray.put(chunk)
            t1 = time.perf_counter()
            # The reference is wrapped in a list so the queue stores the reference, not the
            # frames; the timeout loop lets `stop` end a source blocked on a full queue.
            while not self._stop.is_set():
                try:
                    queue.put([ref, k], timeout=0.5)
                    break
                except Full:
                    pass
            self.busy_s += t1 - t0
            self.blocked_s += time.perf_counter() - t1
            self.frames += k
            c += n_shards
        return self.frames

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> dict[str, float]:
        return {"frames": self.frames, "skipped": self.skipped, "busy_s": self.busy_s, "blocked_s": self.blocked_s}


def _drop_events(chunk: Chunk, skip: frozenset[str]) -> Chunk:
    """The chunk without the frames whose event id is in `skip` (per-frame arrays and lists)."""
    keep = [i for i, e in enumerate(chunk["event"]) if e not in skip]
    n = len(chunk["event"])
    if len(keep) == n:
        return chunk
    out = {}
    for key, value in chunk.items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n:
            out[key] = value[keep]
        elif isinstance(value, list) and len(value) == n:
            out[key] = [value[i] for i in keep]
        else:
            out[key] = value
    return out


class InferenceWorker:
    """One model instance (one GPU, or a group of CPU cores); a threaded actor whose three
    stages (host preprocessing → device segmentation → host peak extraction) overlap
    across consecutive calls."""

    def __init__(self, model: Any, geometry, runner_config: RunnerConfig) -> None:
        from peaknet_bench.infer.model_runner import ModelRunner

        # An exception raised here would reach the driver only as the text of Ray's
        # ActorDiedError; kept and raised by `ready()` it arrives as itself (InputError intact).
        self._init_error: BaseException | None = None
        try:
            self.runner = ModelRunner(model, geometry, runner_config)
        except Exception as exc:
            self._init_error = exc
        self._locks = {stage: threading.Lock() for stage in ("prepare", "segment", "peaks")}
        self._count_lock = threading.Lock()
        self.batches = 0

    def ready(self) -> dict[str, Any]:
        if self._init_error is not None:
            raise self._init_error
        self.runner.warmup()
        return self.runner.describe()

    def process(self, chunk: Chunk) -> dict[str, Any]:
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        with self._locks["prepare"]:
            prepared = self.runner.prepare(chunk["data"], chunk["mask"])
            uploaded = self.runner.upload(prepared.images)
        t1 = time.perf_counter()
        with self._locks["segment"]:
            t1b = time.perf_counter()
            seg = self.runner.segment(uploaded)
        t2 = time.perf_counter()
        with self._locks["peaks"]:
            t2b = time.perf_counter()
            peaks = self.runner.peaks(seg, prepared)
        t3 = time.perf_counter()
        times = {"prepare_s": t1 - t0, "segment_s": t2 - t1b, "peaks_s": t3 - t2b, "wait_s": (t1b - t1) + (t2b - t2)}
        with self._count_lock:
            self.batches += 1
        return {"seq": chunk["seq"], "event": chunk["event"], "photon_energy_ev": chunk["photon_energy_ev"],
                "clen_m": chunk["clen_m"], "peaks": peaks, "times": times, "pid": os.getpid(),
                "nonfinite": prepared.nonfinite}


class WriterActor:
    """Aggregates results into CXI files of `frames_per_file` frames (sorted by sequence
    number), each written atomically; drops sequence numbers already seen."""

    def __init__(self, outdir: str, index: int, config: PipelineConfig, slab_shape: tuple[int, int],
                 first_file: int = 0) -> None:
        self.outdir = Path(outdir)
        self.index = index
        self.first_file = first_file  # a resumed run numbers its files after the interrupted run's
        self.cfg = config
        self.slab_shape = tuple(slab_shape)
        self.buffer: list[tuple[int, dict[str, Any]]] = []
        self.seen: set[int] = set()
        self.files: list[dict[str, Any]] = []
        self.frames = 0
        self.duplicates = 0
        self.busy_s = 0.0

    def run(self, queue) -> dict[str, Any]:
        """Consume results until a `None` sentinel, then write what is left."""
        from ray.util.queue import Empty

        while True:
            try:
                item = queue.get(timeout=0.5)
            except Empty:
                continue
            if item is None:
                break
            t0 = time.perf_counter()
            self._add(item)
            while len(self.buffer) >= self.cfg.frames_per_file:
                self._write(self.cfg.frames_per_file)
            self.busy_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.buffer:
            self._write(len(self.buffer))
        self.busy_s += time.perf_counter() - t0
        return self.stats()

    def _add(self, result: dict[str, Any]) -> None:
        data = None
        if self.cfg.write_data:
            import ray

            data = ray.get(result["chunk"][0])
        for i, seq in enumerate(result["seq"].tolist()):
            if seq in self.seen:
                self.duplicates += 1
                continue
            self.seen.add(seq)
            row = {"event": result["event"][i], "photon_energy_ev": float(result["photon_energy_ev"][i]),
                   "clen_m": float(result["clen_m"][i]), "peaks": result["peaks"][i]}
            if data is not None:
                row["data"], row["mask"] = data["data"][i], data["mask"][i]
            self.buffer.append((seq, row))

    def _write(self, n: int) -> None:
        from peaknet_bench.io.cxi import CXIWriter

        self.buffer.sort(key=lambda item: item[0])
        rows, self.buffer = self.buffer[:n], self.buffer[n:]
        path = self.outdir / f"{self.cfg.prefix}-w{self.index:02d}-{self.first_file + len(self.files):05d}.cxi"
        with CXIWriter(path, slab_shape=self.slab_shape, max_peaks=self.cfg.max_peaks, write_data=self.cfg.write_data,
                       write_mask=self.cfg.write_data, compression=self.cfg.compression) as w:
            for _, r in rows:
                w.append(data=r.get("data"), mask=r.get("mask"), peaks=r["peaks"], photon_energy_ev=r["photon_energy_ev"],
                         clen_m=r["clen_m"], event=r["event"])
        seqs = [s for s, _ in rows]
        self.files.append({"path": str(path), "frames": len(rows), "first_seq": seqs[0], "last_seq": seqs[-1],
                           "peaks": int(sum(len(r["peaks"]) for _, r in rows)),
                           "hits": int(sum(len(r["peaks"]) >= self.cfg.hit_min_peaks for _, r in rows))})
        self.frames += len(rows)

    def stats(self) -> dict[str, Any]:
        return {"frames": self.frames, "buffered": len(self.buffer), "duplicates": self.duplicates,
                "busy_s": self.busy_s, "files": list(self.files)}


# ------------------------------------------------------------------ monitoring
@dataclass
class StageMeter:
    """Frames through one stage and the seconds it was busy."""

    frames: int = 0
    busy_s: float = 0.0

    def rate(self, elapsed: float) -> float:
        return self.frames / elapsed if elapsed > 0 else 0.0


@dataclass
class _WorkerSlot:
    actor: Any
    index: int
    generation: int = 0
    in_flight: int = 0
    frames: int = 0
    segment_s: float = 0.0
    prepare_s: float = 0.0
    peaks_s: float = 0.0


@dataclass
class _RunState:
    """The coordinator's bookkeeping for one run."""

    frame_q: Any
    result_q: Any
    cap_items: int  # frame-queue capacity in chunks
    workers: list[_WorkerSlot]
    sources: list[Any]
    writers: list[Any]
    described: dict[str, Any]  # the model, as the first worker describes it
    monitor: Monitor
    t_start: float  # before the workers loaded the model
    t0: float = 0.0  # every actor up: the throughput clock starts
    t_infer_end: float = 0.0
    t_end: float = 0.0
    src_refs: list[Any] = field(default_factory=list)
    writer_refs: list[Any] = field(default_factory=list)
    pending: deque = field(default_factory=deque)  # [chunk_ref, n_frames, retries] waiting for a worker
    in_flight: dict[Any, tuple[_WorkerSlot, int, list]] = field(default_factory=dict)  # result ref -> (slot, gen, item)
    sources_done: set[int] = field(default_factory=set)
    infer: StageMeter = field(default_factory=StageMeter)
    replaced: int = 0
    retries: int = 0


class Monitor:
    """Live metrics: one stderr line and one JSON line per interval."""

    def __init__(self, path: Path | None, interval_s: float, live: bool) -> None:
        self.interval_s = interval_s
        self.live = live
        self._file = open(path, "w", buffering=1) if path is not None else None  # a log, written line by line
        self._last = 0.0
        self._last_frames = 0
        self.samples = 0

    def due(self, now: float) -> bool:
        return now - self._last >= self.interval_s

    def record(self, now: float, metrics: dict[str, Any]) -> None:
        dt = now - self._last if self._last else metrics["elapsed_s"]
        metrics["interval_fps"] = (metrics["inferred"] - self._last_frames) / dt if dt > 0 else 0.0
        self._last, self._last_frames = now, metrics["inferred"]
        self.samples += 1
        if self._file is not None:
            self._file.write(json.dumps(metrics) + "\n")
        if self.live:
            util = " ".join(f"{u:.0%}" for u in metrics["worker_utilisation"])
            print(f"[infer {metrics['elapsed_s']:7.1f}s] read {metrics['source_fps']:7.1f} f/s | "
                  f"q1 {metrics['frame_queue_frames']}/{metrics['frame_queue_capacity']} | "
                  f"infer {metrics['interval_fps']:7.1f} f/s (util {util}) | q2 {metrics['result_queue_items']} | "
                  f"written {metrics['written']}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# ------------------------------------------------------------------ coordinator
def _actor_died(exc: BaseException) -> bool:
    import ray.exceptions as rex

    return isinstance(exc, (rex.RayActorError, rex.WorkerCrashedError, rex.ObjectLostError,
                            rex.OwnerDiedError))


def _worker_error(exc: BaseException) -> BaseException:
    """What made an inference worker fail to start, without Ray's wrapping: the worker's own
    exception when Ray carries it, else the first line of Ray's message."""
    inner = _unwrap(exc)
    if inner is not exc:
        return inner
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RuntimeError(f"an inference worker could not start: {first}")


def _unwrap(exc: BaseException) -> BaseException:
    """The user-level error inside a RayTaskError (InputError reaches the CLI intact)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


class Pipeline:
    """Run a source through a model into CXI peak files. `run()` returns the summary.

    `worker_class` is the inference actor (a subclass may wrap `InferenceWorker.process`,
    e.g. to test recovery from a dying worker)."""

    worker_class: type = InferenceWorker

    def __init__(self, source: ChunkSource, model: Any, outdir: str | os.PathLike,
                 runner: RunnerConfig | None = None, config: PipelineConfig | None = None) -> None:
        self.source = source
        self.model = model
        self.outdir = Path(outdir)
        self.runner = runner or RunnerConfig()
        self.cfg = config or PipelineConfig()
        self.cfg.validate()
        self.runner.validate()
        check_model_spec(model)
        self.chunk_frames = int(self.cfg.chunk_frames or self.runner.batch_size)
        self._stop = threading.Event()
        self.progress: dict[str, int] = {"inferred": 0}
        self.nonfinite = {"pixels": 0, "frames": 0}  # NaN/±Inf pixels the masks called good (treated as bad)

    def stop(self) -> None:
        """Ask a running pipeline (from another thread) to shut down as on Ctrl-C."""
        self._stop.set()

    # -------------------------------------------------------------- set-up
    def _worker_options(self) -> dict[str, Any]:
        gpus = self.cfg.gpus_per_worker
        if gpus is None:
            gpus = 1.0 if self.runner.device.startswith("cuda") else 0.0
        return {"num_cpus": self.cfg.cpus_per_worker, "num_gpus": gpus, "max_concurrency": self.cfg.in_flight_per_worker}

    def _new_worker(self, index: int, generation: int = 0) -> _WorkerSlot:
        import ray

        runner = self.runner
        if runner.threads is None and self.runner.device == "cpu":
            runner = replace(runner, threads=max(1, int(self.cfg.cpus_per_worker)))
        cls = ray.remote(self.worker_class).options(**self._worker_options())
        return _WorkerSlot(cls.remote(self.model, self.geometry, runner), index, generation)

    def _identity(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one."""
        model = self.model if isinstance(self.model, (str, os.PathLike)) else type(self.model).__name__
        return {"source": self.source.name, "n_frames": self.source.n_frames(), "model": str(model),
                "prefix": self.cfg.prefix, "write_data": self.cfg.write_data}

    def _claim_output(self) -> tuple[OutputClaim, frozenset[str], list[str], int]:
        """Claim the output directory (a second writer is refused) and find what an interrupted
        run left there: (claim, events written, their files, first free file number)."""
        cfg = self.cfg
        claim = OutputClaim(self.outdir, f"peaknet-bench infer ({cfg.prefix})")
        try:
            # Temporaries of output files whose writer was killed (SIGKILL, power cut); a resumed
            # run numbers its files anew, so these names would never be written (and cleaned) again.
            remove_stale_temporaries(self.outdir / "x", rf"{re.escape(cfg.prefix)}-w\d+-\d+\.cxi")
            existing = sorted(str(p) for p in self.outdir.glob(f"{cfg.prefix}-w*.cxi"))
            identity = self._identity()
            if existing and not cfg.resume:
                raise InputError(str(self.outdir), None,
                                 f"already holds {len(existing)} {cfg.prefix}-w*.cxi files from another run; pass "
                                 "--resume to finish an interrupted run, or choose another output directory or prefix")
            done: frozenset[str] = frozenset()
            first_file = 0
            if existing:
                before = claim.incomplete()
                if before is None:
                    raise InputError(str(self.outdir), None, f"the run that wrote {cfg.prefix}-w*.cxi here finished; "
                                                             "there is nothing to resume")
                if before.get("identity", identity) != identity:
                    raise InputError(str(self.outdir / INCOMPLETE_NAME), "identity",
                                     f"the interrupted run here had {before.get('identity')}, this one has {identity}; "
                                     "resume it with the same input, model and prefix")
                events = read_events(existing)
                if len(set(events)) != len(events):
                    raise InputError(str(self.outdir), None, "event ids repeat in the files written so far; a run "
                                                             "over a source without unique event ids cannot be resumed")
                done = frozenset(events)
                first_file = 1 + max(int(Path(p).stem.rsplit("-", 1)[1]) for p in existing)
            claim.mark_incomplete({"identity": identity, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        except BaseException:
            claim.release()
            raise
        return claim, done, existing, first_file

    def run(self) -> dict[str, Any]:
        """Claim the output directory, run, write summary.json; the directory stays marked
        INCOMPLETE unless the run finished (not interrupted, no error)."""
        from peaknet_bench.util.raysession import ray_session

        self.geometry = self.source.geometry()
        claim, done, existing, first_file = self._claim_output()
        try:
            with ray_session(self.cfg.address, log_to_driver=True):  # a local Ray started here is also stopped here
                summary = self._run(done, first_file)
            summary["resumed"] = {"frames": len(done), "files": existing}
            write_text_atomic(self.outdir / "summary.json", to_json(summary, indent=1) + "\n")
            if not summary["interrupted"]:
                claim.mark_complete()
            return summary
        finally:
            claim.release()

    def _run(self, done: frozenset[str], first_file: int) -> dict[str, Any]:
        """Start the actors, run the coordinator loop, shut down; the summary."""
        run = self._start(done, first_file)
        interrupted = False
        error: BaseException | None = None
        try:
            self._coordinate(run)
            interrupted = self._stop.is_set()
        except KeyboardInterrupt:
            interrupted = True
            print("[infer] interrupted: stopping sources, writing what has been processed", file=sys.stderr, flush=True)
        except BaseException as exc:
            error = exc
        run.t_infer_end = time.perf_counter()
        source_stats, writer_stats = self._shut_down(run)
        if error is not None:
            raise error
        return self._summary(run, source_stats, writer_stats, interrupted)

    # ------------------------------------------------------------- steps
    def _start(self, done: frozenset[str], first_file: int) -> _RunState:
        """Queues, inference workers (models loaded), sources and writers; the clock starts when
        every actor is up."""
        import ray
        from ray.util.queue import Queue

        cfg = self.cfg
        cap_items = max(1, cfg.queue_size // self.chunk_frames)
        frame_q = Queue(maxsize=cap_items)
        result_q = Queue(maxsize=max(1, cfg.result_queue_size // self.chunk_frames))
        t_start = time.perf_counter()
        workers = [self._new_worker(i) for i in range(cfg.n_workers)]
        # Model loading happens before the clock for throughput starts.
        try:
            described = ray.get([w.actor.ready.remote() for w in workers])[0]
        except Exception as exc:  # the worker's own error (InputError for a bad model), not Ray's wrapper
            for w in workers:
                ray.kill(w.actor, no_restart=True)
            frame_q.shutdown(force=True)
            result_q.shutdown(force=True)
            raise _worker_error(exc) from None
        src_cls = ray.remote(SourceActor).options(num_cpus=0, max_concurrency=2)
        sources = [src_cls.remote(self.source, done) for _ in range(cfg.n_sources)]
        writer_cls = ray.remote(WriterActor).options(num_cpus=0, max_concurrency=2)
        writers = [writer_cls.remote(str(self.outdir), k, cfg, tuple(self.geometry.slab_shape), first_file)
                   for k in range(cfg.n_writers)]
        # Every actor is up (processes started, imports done) before the clock starts.
        ray.get([a.stats.remote() for a in (*sources, *writers)])
        run = _RunState(frame_q=frame_q, result_q=result_q, cap_items=cap_items, workers=workers, sources=sources,
                        writers=writers, described=described, t_start=t_start,
                        monitor=Monitor(self.outdir / "metrics.jsonl", cfg.monitor_interval_s, cfg.live))
        run.t0 = time.perf_counter()
        run.src_refs = [s.run.remote(frame_q, k, cfg.n_sources, self.chunk_frames) for k, s in enumerate(sources)]
        run.writer_refs = [w.run.remote(result_q) for w in writers]
        return run

    def _coordinate(self, run: _RunState) -> None:
        """The coordinator loop: sources → intake → dispatch → results, until the input ends
        (or `stop()`), with a monitor sample every interval."""
        while not self._stop.is_set():
            self._check_sources(run)
            self._take_chunks(run)
            self._dispatch(run)
            self._collect_results(run)
            if self._input_done(run):
                break
            now = time.perf_counter()
            if run.monitor.due(now):
                run.monitor.record(now, self._metrics(run, now - run.t0))

    def _check_sources(self, run: _RunState) -> None:
        """Source errors surface here; a source is done when it has queued its whole shard."""
        import ray

        from peaknet_bench.util.raysession import finished

        open_refs = [r for k, r in enumerate(run.src_refs) if k not in run.sources_done]
        for ref in finished(open_refs, timeout=0):
            try:
                ray.get(ref)
            except Exception as exc:
                raise _unwrap(exc) from None
            run.sources_done.add(run.src_refs.index(ref))

    def _take_chunks(self, run: _RunState) -> None:
        """Intake: as many chunks off the frame queue as there are free worker slots."""
        from ray.util.queue import Empty

        free = sum(self.cfg.in_flight_per_worker - w.in_flight for w in run.workers) - len(run.pending)
        if free > 0 and not run.pending and not run.in_flight:
            # Idle: block briefly on the queue instead of spinning.
            try:
                item = run.frame_q.get(timeout=0.05)
                run.pending.append([item[0], item[1], 0])
                free -= 1
            except Empty:
                pass
        if free > 0:
            n_avail = min(free, run.frame_q.qsize())
            if n_avail > 0:
                run.pending.extend([item[0], item[1], 0] for item in run.frame_q.get_nowait_batch(n_avail))

    def _dispatch(self, run: _RunState) -> None:
        """Pending chunks to the least loaded workers (at most `in_flight_per_worker` each)."""
        while run.pending:
            slot = min(run.workers, key=lambda w: w.in_flight)
            if slot.in_flight >= self.cfg.in_flight_per_worker:
                break
            item = run.pending.popleft()
            ref = slot.actor.process.remote(item[0])
            slot.in_flight += 1
            run.in_flight[ref] = (slot, slot.generation, item)

    def _collect_results(self, run: _RunState) -> None:
        """Finished calls: results go to the writers; a dead worker's chunks are retried."""
        import ray

        from peaknet_bench.util.raysession import finished

        for ref in finished(list(run.in_flight), timeout=0.01):
            slot, gen, item = run.in_flight.pop(ref)
            if gen == slot.generation:  # calls to a replaced actor no longer count
                slot.in_flight -= 1
            try:
                result = ray.get(ref)
            except Exception as exc:
                if not _actor_died(exc):
                    raise _unwrap(exc) from None
                self._retry(run, slot, gen, item, exc)
                continue
            self._forward(run, slot, item, result)

    def _retry(self, run: _RunState, slot: _WorkerSlot, gen: int, item: list, exc: BaseException) -> None:
        """Queue a chunk whose worker died again (at most `max_retries` times); replace the worker
        on the first failure seen from it."""
        import ray

        if item[2] >= self.cfg.max_retries:
            raise RuntimeError(f"a chunk failed {item[2] + 1} times; giving up") from exc
        item[2] += 1
        run.retries += 1
        run.pending.appendleft(item)
        if gen == slot.generation:
            ray.kill(slot.actor, no_restart=True)
            fresh = self._new_worker(slot.index, gen + 1)
            slot.actor, slot.generation, slot.in_flight = fresh.actor, fresh.generation, 0
            run.replaced += 1
            print(f"[infer] worker {slot.index} died; replaced (generation {slot.generation}), "
                  f"its batches are retried", file=sys.stderr, flush=True)

    def _forward(self, run: _RunState, slot: _WorkerSlot, item: list, result: dict[str, Any]) -> None:
        """Count a chunk's result and hand it to the writers."""
        n = len(result["seq"])
        run.infer.frames += n
        self.nonfinite["pixels"] += int(result["nonfinite"].sum())
        self.nonfinite["frames"] += int(np.count_nonzero(result["nonfinite"]))
        self.progress["inferred"] = run.infer.frames
        t = result["times"]
        slot.frames += n
        slot.segment_s += t["segment_s"]
        slot.prepare_s += t["prepare_s"]
        slot.peaks_s += t["peaks_s"]
        if self.cfg.write_data:
            result["chunk"] = [item[0]]
        run.result_q.put(result)

    def _input_done(self, run: _RunState) -> bool:
        """Every source finished, the queue drained, nothing outstanding."""
        return (len(run.sources_done) == len(run.src_refs) and not run.pending and not run.in_flight
                and run.frame_q.qsize() == 0)

    def _shut_down(self, run: _RunState) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Stop the sources, let the writers finish their last files, release every actor;
        (source stats, writer stats)."""
        import ray

        for s in run.sources:
            s.stop.remote()
        for _ in run.writers:
            run.result_q.put(None)
        writer_stats = ray.get(run.writer_refs)
        run.t_end = time.perf_counter()
        source_stats = ray.get([s.stats.remote() for s in run.sources])
        run.monitor.record(run.t_end, self._metrics(run, run.t_end - run.t0))
        run.monitor.close()
        for a in [*run.sources, *run.writers, *(w.actor for w in run.workers)]:
            ray.kill(a, no_restart=True)
        for q in (run.frame_q, run.result_q):
            q.shutdown(force=True)
        return source_stats, writer_stats

    # ------------------------------------------------------------- reporting
    def _metrics(self, run: _RunState, elapsed: float) -> dict[str, Any]:
        import ray

        src = ray.get([s.stats.remote() for s in run.sources])
        produced = sum(s["frames"] for s in src)
        written = sum(w["frames"] for w in ray.get([w.stats.remote() for w in run.writers]))
        depth = run.frame_q.qsize()
        return {
            "time": time.time(), "elapsed_s": elapsed, "produced": produced, "inferred": run.infer.frames,
            "written": written, "frame_queue_items": depth, "frame_queue_frames": depth * self.chunk_frames,
            "frame_queue_capacity": run.cap_items * self.chunk_frames, "result_queue_items": run.result_q.qsize(),
            "source_fps": produced / elapsed if elapsed > 0 else 0.0,
            "infer_fps": run.infer.rate(elapsed), "write_fps": written / elapsed if elapsed > 0 else 0.0,
            "worker_utilisation": [min(1.0, w.segment_s / elapsed) if elapsed > 0 else 0.0 for w in run.workers],
        }

    def _summary(self, run: _RunState, source_stats, writer_stats, interrupted: bool) -> dict[str, Any]:
        workers, infer, t0, t_infer_end, t_end = run.workers, run.infer, run.t0, run.t_infer_end, run.t_end
        files = sorted((f for w in writer_stats for f in w["files"]), key=lambda f: f["path"])
        n_frames = sum(f["frames"] for f in files)
        n_peaks = sum(f["peaks"] for f in files)
        n_hits = sum(f["hits"] for f in files)
        seconds = t_end - t0
        produced = sum(s["frames"] for s in source_stats)
        source_busy = max((s["busy_s"] for s in source_stats), default=0.0)
        seg_s = sum(w.segment_s for w in workers)
        write_busy = max((w["busy_s"] for w in writer_stats), default=0.0)

        def per_s(frames: float, s: float) -> float:
            return frames / s if s > 0 else 0.0

        stages = {
            "read": {"frames": produced, "busy_s": sum(s["busy_s"] for s in source_stats),
                     "blocked_s": sum(s["blocked_s"] for s in source_stats),
                     "fps": per_s(produced, t_infer_end - t0),
                     "capacity_fps": per_s(produced, source_busy) * len(source_stats)},
            "prepare": {"busy_s": sum(w.prepare_s for w in workers),
                        "capacity_fps": per_s(infer.frames, sum(w.prepare_s for w in workers)) * len(workers)},
            "segment": {"busy_s": seg_s, "capacity_fps": per_s(infer.frames, seg_s) * len(workers)},
            "peaks": {"busy_s": sum(w.peaks_s for w in workers),
                      "capacity_fps": per_s(infer.frames, sum(w.peaks_s for w in workers)) * len(workers)},
            "infer": {"frames": infer.frames, "fps": per_s(infer.frames, t_infer_end - t0)},
            "write": {"frames": n_frames, "busy_s": sum(w["busy_s"] for w in writer_stats),
                      "fps": per_s(n_frames, seconds), "capacity_fps": per_s(n_frames, write_busy) * len(writer_stats)},
        }
        return {
            "n_frames": n_frames, "n_peaks": n_peaks, "n_hits": n_hits,
            "hit_rate": n_hits / n_frames if n_frames else 0.0,
            "mean_peaks_per_frame": n_peaks / n_frames if n_frames else 0.0,
            "seconds": seconds, "startup_seconds": t0 - run.t_start,
            "frames_per_second": per_s(n_frames, seconds),
            "stages": stages,
            "worker_utilisation": [per_s(w.segment_s, t_infer_end - t0) for w in workers],
            "workers": len(workers), "workers_replaced": run.replaced, "batches_retried": run.retries,
            "duplicates_dropped": sum(w["duplicates"] for w in writer_stats),
            "nonfinite_pixels": self.nonfinite["pixels"], "frames_with_nonfinite": self.nonfinite["frames"],
            "interrupted": interrupted, "files": [f["path"] for f in files], "file_details": files,
            "outdir": str(self.outdir), "metrics": str(self.outdir / "metrics.jsonl"), "monitor_samples": run.monitor.samples,
            "source": self.source.name, "model": run.described,
            "pipeline": asdict(self.cfg) | {"chunk_frames": self.chunk_frames},
        }


def read_events(paths: list[str]) -> list[str]:
    """Event ids of every frame in the pipeline's output files (for exactly-once checks)."""
    from peaknet_bench.io.cxi import CXIReader

    events: list[str] = []
    for p in paths:
        with CXIReader(p) as r:
            events.extend(r.event(i) for i in range(len(r)))
    return events


def peaks_by_event(paths: list[str], geometry=None) -> dict[str, PeakList]:
    """Every output frame's peak list keyed by its event id."""
    from peaknet_bench.io.cxi import CXIReader

    out: dict[str, PeakList] = {}
    for p in paths:
        with CXIReader(p, geometry) as r:
            for i in range(len(r)):
                out[r.event(i)] = r.peaks(i)
    return out


__all__ = ["InferenceWorker", "Pipeline", "PipelineConfig", "peaks_by_event", "read_events"]
