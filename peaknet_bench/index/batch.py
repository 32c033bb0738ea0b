"""Indexing many frames: in-process for small inputs, Ray tasks for large ones.

Frames are independent, so they are cut into chunks and each chunk runs as one Ray task
(one CPU each); the indexer and geometry travel once through the object store. Results
come back in input order. Ray runs through `peaknet_bench.util.raysession.ray_session`: a
local instance unless `address` names a cluster, shut down again when this call started it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from peaknet_bench.frame import PeakList
from peaknet_bench.index.base import IndexedCrystal, Indexer
from peaknet_bench.util.progress import bar

log = logging.getLogger(__name__)


def _per_frame(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or {n} values, got shape {arr.shape}")
    return arr


def _index_chunk(indexer: Indexer, geometry, peak_lists, energies, clens) -> list[list[IndexedCrystal]]:
    return [
        indexer.index(p, geometry, float(e), None if np.isnan(c) else float(c))
        for p, e, c in zip(peak_lists, energies, clens)
    ]


def index_frames(
    peak_lists: Sequence[PeakList],
    geometry,
    photon_energy_ev: float | Sequence[float],
    indexer: Indexer,
    *,
    clen_m: float | Sequence[float] | None = None,
    workers: int = 1,
    address: str | None = None,
    chunk_size: int = 32,
    min_frames_for_ray: int = 64,
    show_progress: bool | None = None,
) -> list[list[IndexedCrystal]]:
    """Index every peak list; element i holds the lattices of frame i (empty: not indexed).

    `workers` > 1 (or a cluster `address`) runs chunks of `chunk_size` frames as Ray tasks
    when there are at least `min_frames_for_ray` frames; smaller inputs run in-process.
    Indexers that batch natively (the CrystFEL backend) receive all frames at once.
    """
    n = len(peak_lists)
    energies = _per_frame(photon_energy_ev, n, "photon_energy_ev")
    clens = _per_frame(np.nan if clen_m is None else clen_m, n, "clen_m")
    if hasattr(indexer, "index_many"):
        return indexer.index_many(list(peak_lists), geometry, energies, None if clen_m is None else clens)
    use_ray = (workers > 1 or address is not None) and n >= min_frames_for_ray
    if not use_ray:
        out: list[list[IndexedCrystal]] = []
        with bar(n, desc=f"index ({indexer.name})", disable=None if show_progress is None else not show_progress) as pbar:
            for start in range(0, n, chunk_size):
                stop = min(start + chunk_size, n)
                out.extend(_index_chunk(indexer, geometry, peak_lists[start:stop], energies[start:stop], clens[start:stop]))
                pbar.update(stop - start)
        return out
    return _index_with_ray(peak_lists, geometry, energies, clens, indexer, workers, address, chunk_size, show_progress)


def _index_with_ray(peak_lists, geometry, energies, clens, indexer, workers, address, chunk_size, show_progress):
    import ray

    from peaknet_bench.util.raysession import map_windowed, ray_session

    with ray_session(address, num_cpus=workers):
        task = ray.remote(num_cpus=1)(_index_chunk)
        indexer_ref = ray.put(indexer)
        geometry_ref = ray.put(geometry)
        n = len(peak_lists)

        def submit(span: tuple[int, int]):
            start, stop = span
            return task.remote(indexer_ref, geometry_ref, list(peak_lists[start:stop]), energies[start:stop],
                               clens[start:stop])

        spans = [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]
        results: list[list[IndexedCrystal] | None] = [None] * n
        with bar(n, desc=f"index ({indexer.name}, ray)", disable=None if show_progress is None else not show_progress) as pbar:
            for (start, stop), lattices in map_windowed(spans, submit):
                results[start:stop] = lattices
                pbar.update(stop - start)
        return results  # type: ignore[return-value]
