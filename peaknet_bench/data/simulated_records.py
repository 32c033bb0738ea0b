"""The default record source of `build_dataset`: simulator -> peakfinder8 -> data engine.

For each experiment of a recipe, frames come from `peaknet_bench.sim.Simulator` (seeded by
the experiment entry), peaks from the classic finder (`engine.finder`: peakfinder8 or
the dispersion finder), predictions from the true crystal
orientations (the simulator's reflection list, made by the same prediction code the
indexer uses) or from the built-in indexer, and labels, PeakDiff statistics, curation and
pseudo-Voigt fits from `peaknet_bench.engine.run.process_batch`. The store keeps the
engine's label mask as the training label, and the simulator's truth alongside it.

The recipe's `engine` settings are those of `peaknet_bench.engine.settings` (the same block
`engine run --config` reads), plus `predictions: truth | indexer` and `batch_size`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from peaknet_bench.data.manifest import ExperimentEntry, Recipe
from peaknet_bench.data.store import CrystalTable, FrameRecord, ImageEncoding
from peaknet_bench.engine.settings import engine_config, label_finder
from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList

def _rows(table: dict[str, np.ndarray], k: int, drop: tuple[str, ...] = ("frame",)) -> dict[str, np.ndarray]:
    sel = table["frame"] == k
    return {c: v[sel] for c, v in table.items() if c not in drop}


def _truth_table(truth) -> dict[str, np.ndarray]:
    r: PeakList = truth.reflections
    cols = {"fs": r.fs, "ss": r.ss, "panel": r.panel, "intensity": r.intensity,
            "lattice": np.asarray(truth.lattice, np.int32), "foundable": np.asarray(truth.foundable, bool)}
    for name in ("hkl", "partiality", "max_intensity", "snr"):
        value = getattr(r, name)
        if value is not None:
            cols[name] = value
    return cols


def _detector_group(experiment) -> str:
    from pathlib import Path

    return Path(experiment.detector.geometry).stem


def simulated_records(recipe: Recipe, entry: ExperimentEntry, splits: list[str]) -> Iterator[tuple[str, Any, FrameRecord]]:
    """(detector group, geometry, record) for every frame of one recipe experiment."""
    from peaknet_bench.engine.run import process_batch
    from peaknet_bench.peakfind import build_finder
    from peaknet_bench.sim import Simulator, load_experiment

    settings = entry.engine_settings(recipe.engine)
    config, pf8_params = engine_config(settings)
    mode = settings.get("predictions", "truth")
    if mode not in ("truth", "indexer"):
        raise InputError("recipe.yaml", "engine.predictions", f"expected 'truth' or 'indexer', got {mode!r}")
    batch_size = int(settings.get("batch_size", 16))
    experiment = load_experiment(entry.name)
    sim = Simulator(experiment, seed=entry.seed)
    geometry = sim.geometry
    detector = entry.group or _detector_group(experiment)
    finder = build_finder(label_finder(settings, pf8_params), geometry)
    max_adu = sim.detector.max_adu  # the readout saturates at ±max_adu
    encoding = ImageEncoding.for_range(experiment.detector.adc_step_adu, -max_adu, max_adu)
    indexer = None
    if mode == "indexer":
        from peaknet_bench.index.builtin import BuiltinIndexer

        indexer = BuiltinIndexer(sim.cell)
    for start in range(0, entry.frames, batch_size):
        indices = list(range(start, min(start + batch_size, entry.frames)))
        frames = [sim.frame(i) for i in indices]
        found = [finder.find(f) for f in frames]
        crystals, predicted = [], []
        for f, peaks in zip(frames, found):
            if indexer is None:
                crystals.append(list(f.truth.crystals))
                predicted.append(f.truth.reflections)
            else:
                crys, pred = _indexed(indexer, f, peaks)
                crystals.append(crys)
                predicted.append(pred)
        batch = process_batch(frames, found, predicted, indices, config)
        ft = batch.frames
        for k, (i, f) in enumerate(zip(indices, frames)):
            yield detector, geometry, FrameRecord(
                image=f.data, label=batch.labels[k], mask=f.mask, event=f.event, experiment=entry.name,
                split=splits[i], photon_energy_ev=float(f.photon_energy_ev), clen_m=float(f.clen_m),
                seed=entry.seed, index=i, precision=float(ft["precision"][k]), recall=float(ft["recall"][k]),
                selected=bool(ft["selected"][k]), reason=str(ft["reason"][k]),
                crystals=CrystalTable.from_crystals(crystals[k]),
                peaks={"found": _rows(batch.found, k), "predicted": _rows(batch.predicted, k),
                       "fitted": _rows(batch.fitted, k), "truth": _truth_table(f.truth)},
                extra={"n_matched": int(ft["n_matched"][k]), "n_accepted": int(ft["n_accepted"][k]),
                       "is_hit": bool(f.truth.is_hit), "n_foundable": int(f.truth.n_foundable)},
                encoding=encoding,
            )


def _indexed(indexer, frame, found: PeakList):
    from peaknet_bench.engine.inputs import predict_lattices

    lattices = indexer.index(found, frame.geometry, frame.photon_energy_ev, frame.clen_m)
    return [lat.crystal for lat in lattices], predict_lattices(lattices, frame)
