"""Frames to evaluate on, each with a stable identity and (when simulated) ground truth.

A frame source is small and picklable: the heavy parts (the simulator's detector model and
structure factors, an open HDF5 file) are built lazily in the process that reads frames,
so the same source object can be shipped to Ray workers.

* `SimulatedFrames` – frames `start .. start+n-1` of a simulator experiment and seed,
  generated on the fly with their truth attached; identified by the experiment's name, the
  sha256 of its full YAML, the seed and the frame range.
* `FileFrames` (alias `CXIFrames`) – detector files through `open_frames` (CXI + `.geom`,
  miniCBF, imgCIF, NeXus; target `.cell` and, for simulated CXI runs, a truth sidecar);
  identified by path and sha256 of the file(s). A geometry whose slab does not match the data
  shape is rejected up front (InputError).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.util import detmath as dm


@dataclass
class TruthView:
    """What evaluation needs from ground truth, whatever file or object it came from."""

    blank: bool  # no crystal in the beam
    foundable: PeakList  # found-able reflections (the reference for peak precision / recall)
    real_bases: list[np.ndarray]  # (3, 3) rows a, b, c (Å, lab frame) of every true crystal
    label_mask: np.ndarray | None = None  # (n_ss, n_fs) bool slab label


def truth_from_frame_truth(truth) -> TruthView:
    """TruthView of a simulator `FrameTruth`."""
    return TruthView(
        blank=not truth.is_hit, foundable=truth.foundable_peaks(),
        real_bases=[c.real_basis() for c in truth.crystals], label_mask=truth.label_mask,
    )


class _FrameRange:
    """Frames `start .. start + n_frames - 1` of a run; subclasses load frame `index` of the run."""

    start: int
    n_frames: int

    def _load(self, index: int) -> Frame:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n_frames

    def indices(self) -> range:
        """Frame indices in the run (for disjointness checks between tuning and evaluation)."""
        return range(self.start, self.start + self.n_frames)

    def frame(self, i: int) -> Frame:
        if not 0 <= i < self.n_frames:
            raise IndexError(i)
        return self._load(self.start + i)


class SimulatedFrames(_FrameRange):
    """Frames of a simulated experiment, generated on demand (deterministic per seed and index)."""

    kind = "simulated"

    def __init__(self, experiment: str, seed: int, n_frames: int, start: int = 0) -> None:
        from peaknet_bench.sim import load_experiment

        if n_frames < 0 or start < 0:
            raise InputError(None, "-n", f"expected n_frames >= 0 and start >= 0, got {n_frames}, {start}")
        self.experiment_ref = str(experiment)
        self.experiment = load_experiment(experiment)
        self.seed = int(seed)
        self.n_frames = int(n_frames)
        self.start = int(start)
        self.geometry = self.experiment.geometry()
        self.cell = self.experiment.unit_cell()
        self._sim = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_sim"] = None  # rebuilt where frames are read
        return state

    @property
    def simulator(self):
        if self._sim is None:
            from peaknet_bench.sim import Simulator

            self._sim = Simulator(self.experiment, self.seed)
        return self._sim

    def _load(self, index: int) -> Frame:
        return self.simulator.frame(index)

    def truth(self, frame: Frame) -> TruthView | None:
        return None if frame.truth is None else truth_from_frame_truth(frame.truth)

    def identity(self) -> dict[str, Any]:
        from peaknet_bench.evaluate.methods import sha256_text

        return {
            "kind": self.kind, "name": self.experiment.name, "experiment": self.experiment_ref,
            "experiment_sha256": sha256_text(self.experiment.to_yaml()), "seed": self.seed,
            "start": self.start, "n_frames": self.n_frames,
        }


class FileFrames(_FrameRange):
    """Frames of detector files read through `open_frames` (CXI + `.geom`; miniCBF, imgCIF and
    NeXus with the geometry they carry, `geom` overriding it); truth from a `.truth.h5` sidecar
    of a simulated CXI run if present. A geometry whose slab does not match the data is rejected
    up front (InputError). Identified by path(s) and the sha256 of the file(s)."""

    kind = "cxi"  # the results schema's name for "frames from files"

    def __init__(self, files: str | os.PathLike | list, geom: str | os.PathLike | None = None,
                 cell: str | os.PathLike | None = None, truth: str | os.PathLike | None = None, start: int = 0,
                 n_frames: int | None = None, reader: str | None = None) -> None:
        from peaknet_bench.crystal import read_cell_file
        from peaknet_bench.io.frames import open_frames
        from peaknet_bench.sim import truth_path_for

        spec = [str(f) for f in files] if isinstance(files, (list, tuple)) else str(files)
        self.reader = reader
        paths = open_frames(spec, reader=reader).paths
        self.paths = [str(p) for p in paths]
        self.cxi = Path(self.paths[0])  # the first file: names the run, and finds its sidecars
        if geom is None and self.cxi.with_suffix(".geom").is_file():
            geom = self.cxi.with_suffix(".geom")  # a simulated run's geometry beside it
        self.geom_path = str(geom) if geom is not None else None
        cell_path = Path(cell) if cell is not None else self.cxi.with_suffix(".cell")
        if not cell_path.is_file():
            raise InputError(str(cell_path), None, "target unit cell file not found (give --cell)")
        self.cell_path = str(cell_path)
        self.cell = read_cell_file(cell_path)
        self._set = None
        fs = self._frames()
        self.geometry = fs.geometry
        total = len(fs)
        fs.frame(0)  # validates the data shape against the geometry
        self.start = int(start)
        self.n_frames = total - self.start if n_frames is None else int(n_frames)
        if self.start < 0 or self.n_frames < 0 or self.start + self.n_frames > total:
            raise InputError(str(self.cxi), "frames", f"range {self.start}+{self.n_frames} outside the files' {total} frames")
        truth_path = Path(truth) if truth is not None else truth_path_for(self.cxi)
        self.truth_path = str(truth_path) if truth_path.is_file() else None
        if truth is not None and self.truth_path is None:
            raise InputError(str(truth), None, "truth sidecar not found")
        if self.truth_path is not None:
            from peaknet_bench.sim import TruthFile

            with TruthFile(self.truth_path) as tf:
                if len(tf) != total or tuple(tf.slab_shape) != tuple(self.geometry.slab_shape):
                    raise InputError(self.truth_path, "frames", f"{len(tf)} frames of {tf.slab_shape}, expected "
                                     f"{total} of {self.geometry.slab_shape} to match {self.cxi}")
        self._truth = None
        self._sha256: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_set"] = state["_truth"] = None  # file handles do not travel; reopened lazily
        return state

    def _frames(self):
        if self._set is None:
            from peaknet_bench.io.frames import FrameSet

            self._set = FrameSet(self.paths, self.geom_path, self.reader)
        return self._set

    def _load(self, index: int) -> Frame:
        frame = self._frames().frame(index)
        frame.meta["index"] = index  # run-wide index (truth sidecar row)
        return frame

    def truth(self, frame: Frame) -> TruthView | None:
        if self.truth_path is None:
            return None
        if self._truth is None:
            from peaknet_bench.sim import TruthFile

            self._truth = TruthFile(self.truth_path)
        tf, i = self._truth, int(frame.meta["index"])
        return TruthView(
            blank=not bool(tf.is_hit[i]), foundable=tf.foundable_peaks(i),
            real_bases=[dm.inv3(a).T for a in tf.astar(i)], label_mask=tf.label_mask(i),
        )

    def identity(self) -> dict[str, Any]:
        from peaknet_bench.evaluate.methods import sha256_file, sha256_text

        if self._sha256 is None:
            hashes = [sha256_file(p) for p in self.paths]
            self._sha256 = hashes[0] if len(hashes) == 1 else sha256_text("\n".join(hashes))
        name = self.cxi.stem if len(self.paths) == 1 else f"{self.cxi.stem}+{len(self.paths) - 1}"
        out = {
            "kind": self.kind, "name": name, "path": str(self.cxi.resolve()), "sha256": self._sha256,
            "geometry": self.geom_path, "truth": self.truth_path, "start": self.start, "n_frames": self.n_frames,
        }
        if self.truth_path is not None:  # a simulated run: record what made it (tuning-overlap checks use it)
            from peaknet_bench.sim import TruthFile

            with TruthFile(self.truth_path) as tf:
                if "experiment" in tf.attrs and "seed" in tf.attrs:
                    out["experiment"] = str(tf.attrs.get("experiment_name", ""))
                    out["experiment_sha256"] = sha256_text(str(tf.attrs["experiment"]))
                    out["seed"] = int(tf.attrs["seed"])
        return out


CXIFrames = FileFrames  # the name older code and notebooks use


class DatasetFrames(_FrameRange):
    """Frames of one split of a peaknet-bench dataset, with the truth the store keeps.

    The evaluation harness works on one detector geometry and one target cell, so the view
    is one (detector, experiment) group of the split: pick it with `experiment` when the
    split holds several (the built-in `test_ood` holds one). The target cell is the
    experiment's (from the dataset's recipe) unless `cell` names a CrystFEL cell file.
    Truth (hit or blank, found-able reflections, true crystal bases) comes from the store's
    `peaks/truth` table, `is_hit` column and crystals; stores without a truth table
    evaluate without truth metrics.
    """

    kind = "dataset"

    def __init__(self, root: str | os.PathLike, split: str = "test", experiment: str | None = None,
                 cell: str | os.PathLike | None = None, start: int = 0, n_frames: int | None = None) -> None:
        from peaknet_bench.data.store import Store

        self.root = Path(root)
        self.store = Store(self.root)
        self.split = split
        rows = self.store.index(split)
        groups: dict[tuple[str, str], list[int]] = {}
        for det, j in rows:
            groups.setdefault((det, str(self.store.frames(det)["experiment"][j])), []).append(j)
        if experiment is not None:
            groups = {k: v for k, v in groups.items() if k[1] == experiment}
        if len(groups) != 1:
            if groups:
                what = f"holds {len(groups)} experiments {sorted(e for _, e in groups)}; choose one (--experiment)"
            else:
                have = sorted({str(self.store.frames(d)["experiment"][j]) for d, j in rows})
                what = "has no frames" + (f" of experiment {experiment!r}" if experiment else "") + f" (experiments: {have})"
            raise InputError(str(self.root), f"split {split!r}", what)
        (self.detector, self.experiment_name), self.rows = next(iter(groups.items()))
        self.geometry = self.store.geometry(self.detector)
        self.recipe_entry = self._recipe_entry()
        self.true_crystals = self._true_crystals()
        self.cell_path = None if cell is None else str(cell)
        self.cell = self._target_cell()
        self.start = int(start)
        self.n_frames = len(self.rows) - self.start if n_frames is None else int(n_frames)
        if self.start < 0 or self.n_frames < 0 or self.start + self.n_frames > len(self.rows):
            raise InputError(str(self.root), "frames", f"range {self.start}+{self.n_frames} outside the "
                                                      f"{len(self.rows)} frames of {split}/{self.experiment_name}")
        self._sha256: str | None = None

    def _recipe_entry(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(recipe, experiment entry) from the store's provenance, when a recipe made it."""
        recipe = (self.store.attrs.get("provenance") or {}).get("recipe") or {}
        for entry in recipe.get("experiments", []):
            if entry.get("name") == self.experiment_name:
                return recipe, entry
        return None

    def _target_cell(self):
        from peaknet_bench.crystal import read_cell_file

        if self.cell_path is not None:
            return read_cell_file(self.cell_path)
        if self.recipe_entry is not None:
            from peaknet_bench.sim import load_experiment

            try:
                return load_experiment(self.experiment_name).unit_cell()
            except InputError:
                pass
        raise InputError(str(self.root), f"experiment {self.experiment_name!r}",
                         "no known target cell (not a built-in experiment): give one with --cell")

    def _true_crystals(self) -> bool:
        """Whether the stored crystals are the true ones (recipe predictions from the truth)."""
        if self.recipe_entry is None:
            return False
        recipe, entry = self.recipe_entry
        mode = {**(recipe.get("engine") or {}), **(entry.get("engine") or {})}.get("predictions", "truth")
        return mode == "truth"

    def _load(self, index: int) -> Frame:
        det, j = self.detector, self.rows[index]
        f = self.store.frames(det)
        return Frame(data=self.store.image(det, j), mask=self.store.mask(det, j), geometry=self.geometry,
                     photon_energy_ev=float(f["photon_energy_ev"][j]), clen_m=float(f["clen_m"][j]),
                     event=str(f["event"][j]), meta={"index": j, "position": index})

    def truth(self, frame: Frame) -> TruthView | None:
        from peaknet_bench.data.store import columns_to_peaklist

        det, j = self.detector, int(frame.meta["index"])
        if "truth" not in self.store.peak_tables(det):
            return None
        cols = self.store.peaks(det, j, "truth")
        keep = np.asarray(cols["foundable"], bool) if "foundable" in cols else np.ones(len(cols["fs"]), bool)
        frames = self.store.frames(det)
        crystals = self.store.crystals(det, j)
        blank = not bool(frames["is_hit"][j]) if "is_hit" in frames else len(crystals) == 0
        bases = [dm.inv3(a).T for a in crystals.astar] if self.true_crystals else []
        return TruthView(blank=blank, foundable=columns_to_peaklist({k: v[keep] for k, v in cols.items()}),
                         real_bases=bases)

    def indices(self) -> list[int]:
        """Run indices of the frames (the simulator's frame numbers for a recipe-built dataset)."""
        index = self.store.frames(self.detector)["index"]
        return [int(index[j]) for j in self.rows[self.start: self.start + self.n_frames]]

    def events(self) -> list[str]:
        event = self.store.frames(self.detector)["event"]
        return [str(event[j]) for j in self.rows[self.start: self.start + self.n_frames]]

    def identity(self) -> dict[str, Any]:
        from peaknet_bench.data.manifest import MANIFEST_NAME
        from peaknet_bench.evaluate.methods import sha256_file, sha256_text

        manifest = self.root / MANIFEST_NAME
        if self._sha256 is None and manifest.is_file():
            self._sha256 = sha256_file(manifest)
        attrs = self.store.attrs
        out = {
            "kind": self.kind, "name": str(attrs.get("name") or self.root.name), "version": attrs.get("version"), "split": self.split, "detector": self.detector,
            "experiment": self.experiment_name, "path": str(self.root.resolve()), "sha256": self._sha256,
            "start": self.start, "n_frames": self.n_frames,
        }
        if self.recipe_entry is not None:  # recipe-built: what made the frames (tuning-overlap checks use it)
            from peaknet_bench.sim import load_experiment

            out["experiment_sha256"] = sha256_text(load_experiment(self.experiment_name).to_yaml())
            out["seed"] = int(self.recipe_entry[1].get("seed", 0))
        return out
