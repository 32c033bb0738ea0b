"""`index_files`: index the peak lists of a CXI file against a known cell into a CrystFEL stream
— what `peaknet-bench index run` runs."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import HIT_MIN_PEAKS


def index_files(
    peaks: str | os.PathLike,
    geometry: Any,
    cell: Any,
    output: str | os.PathLike = "indexed.stream",
    *,
    indexer: str = "builtin",
    indexer_options: dict[str, Any] | None = None,
    workers: int = 1,
    address: str | None = None,
    min_peaks: int = HIT_MIN_PEAKS,
    n_frames: int | None = None,
    predictions: bool = True,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Index every hit (>= `min_peaks` peaks) of the CXI peak file `peaks` with backend `indexer`
    of the registry (`indexer_options`: fields of its config) and write a CrystFEL stream with
    peaks, crystals and (with `predictions`) predicted reflections of every frame.

    `geometry`: a Geometry, preset name or .geom path; `cell`: a UnitCell or .cell/.pdb path.
    `workers` > 1 (or a Ray `address`) spreads the frames over Ray tasks (indexamajig -j /
    parallel dials.index runs for those backends). `n_frames`: only the first N (None: all).
    Returns the summary (hits, indexed, rates, unit-cell statistics, timing).
    """
    from peaknet_bench.crystal import format_cell, read_cell_file
    from peaknet_bench.geometry import Geometry, format_geom, load_geometry
    from peaknet_bench.index.batch import index_frames
    from peaknet_bench.index.registry import make_indexer, require_available
    from peaknet_bench.io.cxi import CXIReader
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamWriter
    from peaknet_bench.util.progress import bar

    geometry = geometry if isinstance(geometry, Geometry) else load_geometry(geometry)
    cell = read_cell_file(cell) if isinstance(cell, (str, os.PathLike)) else cell
    if workers < 1:
        raise InputError(None, "--workers", f"expected at least 1, got {workers}")
    backend = make_indexer(indexer, cell, **(indexer_options or {}))
    require_available(backend)

    with CXIReader(peaks, geometry) as reader:
        if not reader.has_peaks:
            raise InputError(str(peaks), "/entry_1/result_1", "no peak lists in this file")
        n = len(reader) if n_frames is None else min(n_frames, len(reader))
        peak_lists = [reader.peaks(i) for i in range(n)]
        energies = np.array([reader.photon_energy_ev(i) for i in range(n)])
        clens = np.array([reader.clen_m(i) for i in range(n)])
        events = [reader.event(i) for i in range(n)]

    hit = [len(p) >= min_peaks for p in peak_lists]
    t0 = time.perf_counter()
    found = index_frames([p for p, h in zip(peak_lists, hit) if h], geometry, energies[hit], backend,
                         clen_m=clens[hit], workers=workers, address=address, show_progress=show_progress)
    seconds = time.perf_counter() - t0
    lattices = iter(found)
    results = [next(lattices) if h else [] for h in hit]

    with StreamWriter(output, geometry_text=format_geom(geometry), cell_text=format_cell(cell),
                      geometry=geometry) as writer, \
            bar(n, desc="write stream", disable=None if show_progress is None else not show_progress) as pbar:
        for i in range(n):
            on_panel = peak_lists[i].panel >= 0
            crystals = []
            for r in results[i]:
                refl = _predicted(r, geometry, energies[i], clens[i]) if predictions else None
                crystals.append(StreamCrystal.from_crystal(
                    r.crystal, profile_radius=r.profile_radius if np.isfinite(r.profile_radius) else None,
                    reflections=refl,
                ))
            writer.write_chunk(StreamChunk(
                filename=str(peaks), event=events[i], serial=i + 1, hit=hit[i],
                indexed_by=(results[i][0].method if results[i] else "none"), photon_energy_ev=float(energies[i]),
                clen_m=float(clens[i]), peaks=peak_lists[i].subset(on_panel), crystals=crystals,
            ))
            pbar.update(1)

    hits = sum(hit)
    indexed = sum(bool(r) for r in results)
    return {
        "file": str(peaks), "output": str(output), "indexer": backend.name,
        "frames": n, "min_peaks": min_peaks, "hits": hits, "indexed": indexed,
        "crystals": sum(len(r) for r in results),
        "indexing_rate": indexed / hits if hits else None,
        "indexing_yield": indexed / n if n else None,
        "seconds": seconds, "frames_per_s": n / seconds if seconds > 0 else None,
        "unit_cell": _cell_stats(results), "target_cell": list(cell.parameters),
    }


def _predicted(result, geometry, energy: float, clen: float):
    """Predicted reflections of an indexed crystal, for the stream (not integrated: I = 0)."""
    from peaknet_bench.crystal import PredictionConfig, predict_reflections
    from peaknet_bench.frame import wavelength_a
    from peaknet_bench.io.stream import StreamReflections

    radius = result.profile_radius if np.isfinite(result.profile_radius) else 0.001
    pred = predict_reflections(
        result.crystal, geometry, wavelength_a(energy), clen_m=clen,
        config=PredictionConfig(profile_radius=float(np.clip(radius, 5e-4, 5e-3))),
    )
    z = np.zeros(len(pred))
    names = geometry.panel_names()
    return StreamReflections(hkl=pred.hkl, intensity=z, sigma=z, peak=z, background=z, fs=pred.fs, ss=pred.ss,
                             panel_names=[names[i] for i in pred.panel])


def _cell_stats(results: list[list[Any]]) -> dict[str, dict[str, float | None]]:
    params = np.array([r.cell.parameters for frame in results for r in frame]).reshape(-1, 6)
    out = {}
    for k, name in enumerate(("a", "b", "c", "alpha", "beta", "gamma")):
        col = params[:, k]
        out[name] = {"mean": float(col.mean()) if col.size else None,
                     "sd": float(col.std(ddof=1)) if col.size > 1 else None}
    return out
