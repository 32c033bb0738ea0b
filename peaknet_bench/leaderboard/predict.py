"""Write a method's predicted peak lists for a benchmark's frames (the file a submission needs)."""

from __future__ import annotations

import os

import numpy as np


def write_predictions(method, source, path: str | os.PathLike, show_progress: bool | None = None) -> int:
    """Run `method` on every frame of `source`; write one CXI peak row per frame with its event
    id, photon energy and camera length. Returns the number of frames.

    `method` is a `MethodSpec` (pf8, model checkpoint, …) or any object with
    `find(frame) -> PeakList` (the PeakFinder protocol), so an architecture that is not a
    registered method kind can still be evaluated through its peak lists.
    """
    from peaknet_bench.evaluate.methods import MethodSpec, build_finder
    from peaknet_bench.io.cxi import write_peaks_cxi
    from peaknet_bench.util.progress import progress

    finder = build_finder(method, source.geometry, getattr(source, "truth", None)) if isinstance(method, MethodSpec) else method
    name = getattr(method, "name", type(method).__name__)
    peaks, events, energy, clen = [], [], [], []
    disable = None if show_progress is None else not show_progress
    for i in progress(range(len(source)), total=len(source), desc=f"predict ({name})", disable=disable):
        frame = source.frame(i)
        peaks.append(finder.find(frame))
        events.append(frame.event)
        energy.append(float(frame.photon_energy_ev))
        clen.append(float(frame.clen_m))
    write_peaks_cxi(path, peaks, photon_energy_ev=np.array(energy), clen_m=np.array(clen), events=events)
    return len(peaks)
