"""`simulate_run`: a simulated run on disk, ready for indexing and evaluation.

Writes, beside `run.cxi`: `run.geom` (the detector, CrystFEL format), `run.cell` (the
target cell, CrystFEL format) and `run.truth.h5` (ground truth, layout in
`peaknet_bench.sim.truth`). Every file is written atomically.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.frame import PeakList
from peaknet_bench.sim.experiment import Experiment
from peaknet_bench.sim.simulator import Simulator
from peaknet_bench.sim.truth import TruthWriter, truth_path_for

FOUNDABLE_RULE = (
    "foundable: core photons S (pixels >= label_fraction x peak pixel, noiseless) >= min_photons and "
    "S / sqrt(S + N (b + read_noise_photons^2)) >= snr_floor, with N core pixels and b the local "
    "background photons per pixel; peak pixel must be good"
)
LABEL_RULE = "label: good pixels where a foundable reflection's noiseless signal >= label_fraction x its peak pixel"


def run_paths(out_cxi_path: str | os.PathLike) -> dict[str, Path]:
    """The files a run writes, keyed cxi / geom / cell / truth."""
    p = Path(out_cxi_path)
    return {"cxi": p, "geom": p.with_suffix(".geom"), "cell": p.with_suffix(".cell"), "truth": truth_path_for(p)}


def simulate_run(
    experiment: Experiment,
    n_frames: int,
    seed: int,
    out_cxi_path: str | os.PathLike,
    *,
    show_progress: bool | None = None,
    compression: str | None = None,
    preview_path: str | os.PathLike | None = None,
    simulator: Simulator | None = None,
    truth_peaks: bool = False,
) -> dict[str, Any]:
    """Simulate `n_frames` frames and write the CXI file, `.geom`, `.cell` and truth sidecar.

    With `truth_peaks`, the found-able reflections (intensities in ADU) are also written as the
    CXI peak list (/entry_1/result_1), so CrystFEL can index the truth (`--peaks=cxi`).

    Returns a summary: frames, hits, multi_lattice, mean reflections / found-able per hit,
    seconds, frames_per_second, the written paths and (with `preview_path`) the previewed frame.
    """
    from peaknet_bench.crystal import write_cell_file
    from peaknet_bench.geometry import write_geom
    from peaknet_bench.io.cxi import CXIWriter
    from peaknet_bench.util.progress import bar

    t0 = time.perf_counter()
    sim = simulator or Simulator(experiment, seed)
    paths = run_paths(out_cxi_path)
    geom = sim.geometry
    attrs = {
        "experiment_name": experiment.name, "experiment": experiment.to_yaml(), "seed": int(seed),
        "photon_energy_ev": experiment.beam.photon_energy_ev, "clen_m": experiment.detector.clen_m,
        "foundable_rule": FOUNDABLE_RULE, "label_rule": LABEL_RULE,
    }
    truth_writer = TruthWriter(paths["truth"], attrs, geom.slab_shape)
    hits = multi = 0
    n_refl: list[int] = []
    n_found: list[int] = []
    preview_frame = None
    progress = bar(n_frames, desc=f"simulate {experiment.name}", disable=None if show_progress is None else not show_progress)
    try:
        with CXIWriter(paths["cxi"], slab_shape=geom.slab_shape, compression=compression) as writer:
            for i in range(n_frames):
                frame = sim.frame(i)
                truth = frame.truth
                peaks = None
                if truth_peaks:
                    found = truth.foundable_peaks()
                    adu = sim.detector.adu_per_photon
                    peaks = PeakList(fs=found.fs, ss=found.ss, panel=found.panel, intensity=found.intensity * adu,
                                     snr=found.snr, max_intensity=found.max_intensity * adu)
                writer.append(data=frame.data, mask=frame.mask, peaks=peaks, photon_energy_ev=frame.photon_energy_ev,
                              clen_m=frame.clen_m, event=frame.event)
                truth_writer.add(truth)
                if truth.is_hit:
                    hits += 1
                    multi += len(truth.crystals) > 1
                    n_refl.append(len(truth.reflections))
                    n_found.append(truth.n_foundable)
                    if preview_path is not None and preview_frame is None and len(truth.crystals) == 1:
                        preview_frame = frame
                progress.update(1)
    finally:
        progress.close()
    truth_writer.close()
    write_geom(geom, paths["geom"])
    write_cell_file(sim.cell, paths["cell"])
    previewed = None
    if preview_path is not None:
        from peaknet_bench.sim.preview import render_preview

        if preview_frame is None:  # no single-lattice hit in the run: show the first frame
            preview_frame = sim.frame(0)
        render_preview(preview_frame, preview_path, title=experiment.name)
        previewed = preview_frame.event
    seconds = time.perf_counter() - t0
    return {
        "experiment": experiment.name, "seed": int(seed), "frames": n_frames, "hits": hits, "multi_lattice": multi,
        "hit_rate": hits / n_frames if n_frames else 0.0,
        "mean_reflections_per_hit": float(np.mean(n_refl)) if n_refl else 0.0,
        "mean_foundable_per_hit": float(np.mean(n_found)) if n_found else 0.0,
        "seconds": seconds, "frames_per_second": n_frames / seconds if seconds > 0 else 0.0,
        "files": {k: str(v) for k, v in paths.items()}, "preview": None if preview_path is None else str(preview_path),
        "preview_event": previewed,
    }


__all__ = ["simulate_run", "run_paths", "FOUNDABLE_RULE", "LABEL_RULE"]
