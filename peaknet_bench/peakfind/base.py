"""The peak-finder interface shared by the classic baseline and the neural networks.

Anything that turns a `Frame` into a `PeakList` (slab coordinates, centre of pixel (0, 0)
at 0.0, real integrated intensities) is a `PeakFinder`; evaluation, the data engine and
the CLI only talk to this protocol, so a new method plugs in without touching them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from peaknet_bench.frame import Frame, PeakList


@runtime_checkable
class PeakFinder(Protocol):
    """A peak-finding method: `find(frame)` returns the frame's peaks."""

    name: str

    def find(self, frame: Frame) -> PeakList:
        """Peaks of one frame in slab coordinates, with the panel index of each peak."""
        ...


@dataclass
class FinderResult:
    """One frame's peaks and the time spent finding them (finder only, no I/O): wall seconds,
    and CPU seconds of the calling thread (the fair number on a shared machine, for finders
    that do not spawn threads of their own)."""

    index: int
    frame: Frame
    peaks: PeakList
    seconds: float
    cpu_seconds: float


def _timed_find(finder: PeakFinder, index: int, frame: Frame) -> FinderResult:
    t0, c0 = time.perf_counter(), time.thread_time()
    peaks = finder.find(frame)
    return FinderResult(index, frame, peaks, time.perf_counter() - t0, time.thread_time() - c0)


def run_finder(finder: PeakFinder, frames: Iterable[Frame], workers: int = 1) -> Iterator[FinderResult]:
    """Run `finder` over `frames`, yielding results in input order.

    With `workers > 1` frames are processed by a thread pool while the caller's thread keeps
    reading: finders whose heavy work releases the GIL (peakfinder8's numba kernels are
    compiled with `nogil=True`, torch ops release it too) then scale across cores without
    copying frames between processes. At most `2 * workers` frames are in flight, so memory
    stays bounded on long runs.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        for i, frame in enumerate(frames):
            yield _timed_find(finder, i, frame)
        return
    pending: deque[Future[FinderResult]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peakfind") as pool:
        for i, frame in enumerate(frames):
            pending.append(pool.submit(_timed_find, finder, i, frame))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
