"""The inputs of an engine run on files: frames, found peaks and predictions, all picklable.

Each source holds only paths and settings; the heavy objects (open HDF5 file, geometry,
peak finder, indexer, parsed stream) are created lazily in the process that uses them
and are never pickled, so the same source object works locally and on Ray workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from peaknet_bench.frame import Frame, PeakList


class _Lazy:
    """Mixin: attributes starting with '_' are process-local caches (dropped when pickled)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _geometry(self, frame: Frame | None = None):
        """The --geom geometry, or (without one) the frame's own."""
        if getattr(self, "geom", None) is None:
            return frame.geometry if frame is not None else None
        if getattr(self, "_geom", None) is None:
            from peaknet_bench.geometry import load_geometry

            self._geom = load_geometry(self.geom)
        return self._geom


@dataclass
class FramesFromFiles(_Lazy):
    """Frames of detector files read through `open_frames` (CXI + .geom, CBF, imgCIF, NeXus);
    `geom` (preset or .geom path) overrides the files' own geometry."""

    paths: list[str]
    geom: str | None = None
    reader: str | None = None

    def _set(self):
        if getattr(self, "_fs", None) is None:
            from peaknet_bench.io.frames import FrameSet

            self._fs = FrameSet(self.paths, self.geom, self.reader)
        return self._fs

    def __len__(self) -> int:
        return len(self._set())

    def frame(self, i: int) -> Frame:
        return self._set().frame(i)

    def describe(self) -> dict[str, Any]:
        return {"source": "files", "paths": list(self.paths), "geom": self.geom, "reader": self.reader}


@dataclass
class PeaksFromCXI(_Lazy):
    """Found peaks from a CXI peak list (any tool: Cheetah, psocake, a model's predictions)."""

    path: str
    geom: str | None = None

    def __call__(self, frame: Frame, i: int) -> PeakList:
        if getattr(self, "_rd", None) is None:
            from peaknet_bench.io import CXIReader

            self._rd = CXIReader(self.path, self._geometry())  # no geometry: panels filled from the frame
        return self._rd.peaks(i)

    def describe(self) -> dict[str, Any]:
        return {"source": "cxi-peaks", "path": self.path}


@dataclass
class PeaksFromFinder(_Lazy):
    """Found peaks from any registered peak finder run on each frame (`method`: a MethodSpec of
    peaknet_bench.peakfind.methods: peakfinder8, a model checkpoint, ...), one finder per
    distinct geometry. A `PeakFinder` itself."""

    method: Any  # MethodSpec

    @property
    def name(self) -> str:
        return self.method.name

    def find(self, frame: Frame) -> PeakList:
        if getattr(self, "_pf", None) is None:
            from peaknet_bench.peakfind.per_geometry import PerGeometryFinder

            self._pf = PerGeometryFinder(method=self.method)
        return self._pf.find(frame)

    def describe(self) -> dict[str, Any]:
        if self.method.kind == "pf8":
            return {"source": "peakfinder8", "params": dict(self.method.params)}
        return {"source": "peak-finder", **self.method.identity()}


def predict_lattices(lattices, frame: Frame, profile_radius: float | None = None) -> PeakList:
    """Predicted reflections of indexed lattices on `frame`, each with its own profile radius
    (the indexer's estimate, floored at 1e-4 Å⁻¹) unless `profile_radius` is given."""
    from peaknet_bench.crystal import PredictionConfig, predict_reflections

    out = []
    for lat in lattices:
        radius = profile_radius if profile_radius is not None else lat.profile_radius
        cfg = PredictionConfig() if not np.isfinite(radius) else PredictionConfig(profile_radius=max(radius, 1e-4))
        out.append(predict_reflections(lat.crystal, frame.geometry, frame.wavelength_a, clen_m=frame.clen_m, config=cfg))
    return PeakList.concatenate(out) if out else PeakList.empty()


@dataclass
class PredictionsFromIndexer(_Lazy):
    """Predicted reflections of every lattice an indexer of the registry (default: the built-in
    one) finds from the found peaks."""

    cell: str  # CrystFEL .cell (or .pdb CRYST1) file
    geom: str | None = None
    profile_radius: float | None = None  # Å⁻¹; None: the indexer's estimate per lattice
    indexer: str = "builtin"  # a name of peaknet_bench.index.registry
    indexer_options: dict[str, Any] = field(default_factory=dict)  # fields of that indexer's config

    def __call__(self, frame: Frame, i: int, found: PeakList) -> PeakList:
        if getattr(self, "_ix", None) is None:
            from peaknet_bench.index.registry import make_indexer, require_available

            self._ix = make_indexer(self.indexer, _read_cell(self.cell), **self.indexer_options)
            require_available(self._ix)
        lattices = self._ix.index(found, frame.geometry, frame.photon_energy_ev, frame.clen_m)
        return predict_lattices(lattices, frame, self.profile_radius)

    def describe(self) -> dict[str, Any]:
        out = {"source": f"{self.indexer}-indexer", **asdict(self)}
        if self.indexer == "builtin" and not self.indexer_options:  # as before the registry (resume fingerprints)
            del out["indexer"], out["indexer_options"]
        return out


@dataclass
class PredictionsFromStream(_Lazy):
    """Predicted reflections from a CrystFEL stream (every crystal of the frame's chunk).

    Chunks are looked up by event id (frame i of a CXI file is CrystFEL event `//i`).
    """

    path: str
    geom: str | None = None

    def __call__(self, frame: Frame, i: int, found: PeakList) -> PeakList:
        if getattr(self, "_by_event", None) is None:
            self._by_event = self._load(self._geometry(frame))
        return self._by_event.get(frame.event, PeakList.empty())

    def _load(self, geometry) -> dict[str, PeakList]:
        from peaknet_bench.io.stream import StreamReader

        out: dict[str, PeakList] = {}
        with StreamReader(self.path, geometry) as reader:
            for chunk in reader:
                lists = []
                for crystal in chunk.crystals:
                    r = crystal.reflections
                    if r is None or len(r) == 0:
                        continue
                    panel = np.array([geometry.panel_index(name) for name in r.panel_names], np.int32)
                    lists.append(PeakList(fs=r.fs, ss=r.ss, panel=panel, intensity=r.intensity, hkl=r.hkl))
                key = chunk.event if chunk.event is not None else f"//{chunk.serial or 0}"
                out[key] = PeakList.concatenate(lists) if lists else PeakList.empty()
        return out

    def describe(self) -> dict[str, Any]:
        return {"source": "crystfel-stream", "path": self.path}


def _read_cell(path: str):
    from peaknet_bench.crystal import cell_from_pdb, read_cell_file

    return cell_from_pdb(path) if str(path).lower().endswith(".pdb") else read_cell_file(path)
