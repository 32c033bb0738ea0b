"""Frame sources for the inference pipeline, behind one interface.

A source is a small picklable description (file names, a store path, an experiment) that
each source actor opens for itself; `read(indices)` returns a *chunk*: a dict of stacked
frames that travels through the pipeline as one Ray object. Frame `i` of a source always
has sequence number `i`, which is the key the pipeline uses to prove that every frame
comes out exactly once.

Sources:
* `FileSource` — detector files through `open_frames` (CXI + .geom, CBF, imgCIF, NeXus: the
  facility's recorded runs);
* `StoreSource` — a split of a dataset store (`peaknet_bench.data.Store`);
* `SimulatorSource` — the live simulator, a stand-in for the facility's data system
  (optionally endless: `n_frames=None` runs until interrupted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.geometry import Geometry

Chunk = dict[str, Any]  # seq (k,) int64, event list[str], data (k,ss,fs) f32, mask (k,ss,fs) bool, photon_energy_ev, clen_m


class ChunkSource(Protocol):
    """What the pipeline needs from a source."""

    name: str

    def geometry(self) -> Geometry: ...

    def n_frames(self) -> int | None:
        """Number of frames, or None for an endless (live) source."""
        ...

    def read(self, indices: Sequence[int]) -> Chunk: ...


def make_chunk(seq: Sequence[int], events: list[str], data: list[np.ndarray], mask: list[np.ndarray],
               photon_energy_ev: Sequence[float], clen_m: Sequence[float]) -> Chunk:
    return {
        "seq": np.asarray(seq, dtype=np.int64), "event": list(events),
        "data": np.stack(data).astype(np.float32, copy=False), "mask": np.stack(mask).astype(bool, copy=False),
        "photon_energy_ev": np.asarray(photon_energy_ev, np.float64), "clen_m": np.asarray(clen_m, np.float64),
    }


class FileSource:
    """Frames of detector files read through `open_frames` (CXI + `.geom`, miniCBF, imgCIF,
    NeXus/NXmx; `geom` overrides the files' own geometry).

    Sequence numbers run over the files in order. Event ids are the files' own (``//i`` by
    default); with several files they are prefixed by the file name (``run2.cxi//17``) so
    they stay unique in the output. The pipeline assembles every frame with the first file's
    geometry (files of one run share it).
    """

    def __init__(self, paths: Sequence[str | os.PathLike] | str, geom: Geometry | str | os.PathLike | None = None,
                 reader: str | None = None) -> None:
        from peaknet_bench.io.frames import open_frames

        if not paths:
            raise InputError(None, "--frames", "no frame files given")
        spec = [str(p) for p in paths] if not isinstance(paths, (str, os.PathLike)) else str(paths)
        self._set = open_frames(spec, geom, reader=reader)
        self.paths = list(self._set.paths)
        self.name = Path(self.paths[0]).name if len(self.paths) == 1 else f"{len(self.paths)} files"
        self._geometry = self._set.geometry
        self._starts = np.concatenate([[0], np.cumsum(self._set.counts())]).astype(np.int64)

    def geometry(self) -> Geometry:
        return self._geometry

    def n_frames(self) -> int:
        return int(self._starts[-1])

    def read(self, indices: Sequence[int]) -> Chunk:
        frames = []  # (pickling: the FrameSet drops its open files itself)
        for i in indices:
            k, _ = self._set.locate(int(i))
            frame = self._set.frame(int(i))
            if len(self.paths) > 1:
                frame.event = f"{Path(self.paths[k]).name}{frame.event}"
            frames.append(frame)
        return make_chunk(indices, [f.event for f in frames], [f.data for f in frames], [f.mask for f in frames],
                          [f.photon_energy_ev for f in frames], [f.clen_m for f in frames])

    def close(self) -> None:
        self._set.close()


def CXISource(paths: Sequence[str | os.PathLike], geometry: Geometry) -> FileSource:  # noqa: N802
    """The former CXI-only source: a `FileSource` with a given geometry."""
    return FileSource(paths, geometry)


class StoreSource:
    """Frames of one detector group of a dataset store, restricted to a split."""

    def __init__(self, path: str | os.PathLike, split: str | None = "test", detector: str | None = None) -> None:
        from peaknet_bench.data.store import Store

        store = Store(path)
        detectors = store.detectors
        if detector is None:
            if len(detectors) != 1:
                raise InputError(str(path), "detector", f"the store holds {detectors}; name one")
            detector = detectors[0]
        elif detector not in detectors:
            raise InputError(str(path), "detector", f"no group {detector!r}; the store holds {detectors}")
        self.path, self.split, self.detector = str(path), split, detector
        self.name = f"{Path(self.path).name}:{detector}:{split}"
        self._items = np.asarray([j for d, j in store.index(split) if d == detector], dtype=np.int64)
        if self._items.size == 0:
            raise InputError(self.path, f"split {split!r}", f"has no frames of detector {detector!r}")
        self._store = store

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"] = None
        return state

    def _open(self):
        from peaknet_bench.data.store import Store

        if self._store is None:
            self._store = Store(self.path)
        return self._store

    def geometry(self) -> Geometry:
        return self._open().geometry(self.detector)

    def n_frames(self) -> int:
        return int(self._items.size)

    def read(self, indices: Sequence[int]) -> Chunk:
        store = self._open()
        rows = self._items[np.asarray(indices, dtype=np.int64)]
        meta = store.frames(self.detector)
        return make_chunk(indices, [str(meta["event"][j]) for j in rows],
                          [store.image(self.detector, int(j)) for j in rows],
                          [store.mask(self.detector, int(j)) for j in rows],
                          [float(meta["photon_energy_ev"][j]) for j in rows], [float(meta["clen_m"][j]) for j in rows])


class SimulatorSource:
    """The simulator as a live frame source (frame i is deterministic in (seed, i))."""

    def __init__(self, experiment, seed: int = 0, n_frames: int | None = None) -> None:
        self.experiment = experiment
        self.seed = int(seed)
        self._n = n_frames
        self.name = f"simulator:{experiment.name}"
        self._sim = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_sim"] = None
        return state

    def _simulator(self):
        from peaknet_bench.sim import Simulator

        if self._sim is None:
            self._sim = Simulator(self.experiment, self.seed)
        return self._sim

    def geometry(self) -> Geometry:
        return self._simulator().geometry

    def n_frames(self) -> int | None:
        return self._n

    def read(self, indices: Sequence[int]) -> Chunk:
        sim = self._simulator()
        frames = [sim.frame(int(i)) for i in indices]
        return make_chunk(indices, [f.event for f in frames], [f.data for f in frames], [f.mask for f in frames],
                          [f.photon_energy_ev for f in frames], [f.clen_m for f in frames])
