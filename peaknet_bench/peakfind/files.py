"""`find_peaks_in_files`: a peak finder over detector files into a CrystFEL-compatible CXI peak
list (SPEC-crystfel §2) — what `peaknet-bench peaks find` runs."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import HIT_MIN_PEAKS


def find_peaks_in_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    method: Any = None,
    geom: Any = None,
    reader: str | None = None,
    n_frames: int | None = None,
    with_data: bool = False,
    min_peaks: int = HIT_MIN_PEAKS,
    workers: int = 1,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Find peaks in every frame of `inputs` (files, globs or list files: CXI with `geom`; miniCBF,
    imgCIF/CBF and NeXus/NXmx with the geometry they carry, or `geom`) and write them to
    `output` (default: the first input with the suffix .peaks.cxi) in the layout
    `indexamajig --peaks=cxi` reads.

    `method`: a `MethodSpec` of any registered finder kind (`peakfind.methods.parse_method`:
    peakfinder8 with its parameters, a model checkpoint, a CXI peak file, the oracle); default
    peakfinder8 with CrystFEL's parameters. `n_frames` stops after that many frames (None:
    all); `with_data` also copies image data and mask; `min_peaks` is the hit rule of the
    summary; `workers` > 1 finds in threads (the kernels release the GIL). Returns the summary.
    """
    from peaknet_bench.io import CXIWriter, open_frames
    from peaknet_bench.peakfind.base import run_finder
    from peaknet_bench.peakfind.methods import pf8_method
    from peaknet_bench.peakfind.per_geometry import PerGeometryFinder
    from peaknet_bench.util.progress import bar

    if workers < 1:
        raise InputError(None, "--workers", f"got {workers}, expected >= 1")
    if n_frames is not None and n_frames < 1:
        raise InputError(None, "--n-frames", f"got {n_frames}, expected >= 1 (or none for all)")
    method = method if method is not None else pf8_method()
    t_start = time.perf_counter()
    frames = open_frames(inputs, geom=geom, reader=reader, max_frames=n_frames or 0)
    first = Path(frames.paths[0])
    output = Path(output) if output else first.with_suffix(".peaks.cxi")
    if any(output.resolve() == Path(p).resolve() for p in frames.paths):
        raise InputError(str(output), "--output", "must differ from the input files")
    counts: list[int] = []
    finder_seconds = finder_cpu_seconds = read_seconds = 0.0
    with frames:
        t0 = time.perf_counter()
        n = len(frames)
        geometry = frames.geometry  # opens (and for CBF decodes) the first file
        read_seconds += time.perf_counter() - t0
        finder = PerGeometryFinder(method=method)
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

        max_peaks = int(method.params.get("max_peaks", 2048))
        disable = None if show_progress is None else not show_progress
        with CXIWriter(output, slab_shape=geometry.slab_shape, max_peaks=max_peaks,
                       write_data=with_data, write_mask=with_data) as writer, \
                bar(n, desc=method.name, disable=disable) as progress:
            for result in run_finder(finder, timed_frames(), workers=workers):
                frame = result.frame
                writer.append(data=frame.data if with_data else None, mask=frame.mask if with_data else None,
                              peaks=result.peaks, photon_energy_ev=frame.photon_energy_ev, clen_m=frame.clen_m,
                              event=frame.event)
                counts.append(len(result.peaks))
                finder_seconds += result.seconds
                finder_cpu_seconds += result.cpu_seconds
                progress.update(1)
                progress.set_postfix(peaks=len(result.peaks), refresh=False)
            if not counts:
                raise InputError(str(frames.paths[0]), None, "no frames to process")
    seconds = time.perf_counter() - t_start
    c = np.asarray(counts)
    hits = int((c >= min_peaks).sum())
    summary = {
        "input": [str(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)],
        "n_files": len(frames.paths), "output": str(output),
        "method": method.kind, "method_name": method.name, "geometry": str(geom) if geom else "from the files",
        "frames": int(c.size), "peaks": int(c.sum()), "peaks_per_frame": float(c.mean()),
        "median_peaks_per_frame": float(np.median(c)), "min_peaks": min_peaks, "hits": hits,
        "hit_rate": hits / c.size, "workers": workers, "seconds": seconds,
        "ms_per_frame": 1e3 * finder_seconds / c.size, "cpu_ms_per_frame": 1e3 * finder_cpu_seconds / c.size,
        "read_ms_per_frame": 1e3 * read_seconds / c.size,
        "frames_per_second": c.size / seconds,
    }
    summary["params"] = dict(method.params)
    return summary
