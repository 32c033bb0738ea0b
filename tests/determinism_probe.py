"""Digest of everything a dataset build computes, for comparing two CPUs (or two emulated ones).

Run as a script (``python tests/determinism_probe.py OUT.json [N_FRAMES]``) or call
`probe(n_frames)`: the first frames of every experiment of the built-in recipe go through
the simulator, peakfinder8, the data engine (PeakDiff, curation, profile fits, labels) and
the built-in indexer, and every resulting array is reduced to the sha256 of its bytes.
Two runs agree key for key only when every stored number is bit-identical. The indexer is
not a dataset stage (and still uses LAPACK), so only its decisions are compared: lattices
found and the peaks each explains.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _digest(value) -> str:
    a = np.ascontiguousarray(value)
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()


def probe(n_frames: int = 3) -> dict[str, str]:
    from peaknet_bench.data.manifest import load_recipe, split_assignment
    from peaknet_bench.data.sources import simulated_records
    from peaknet_bench.index.builtin import BuiltinIndexer
    from peaknet_bench.sim import Simulator, load_experiment

    recipe = load_recipe(REPO / "datasets" / "peaknet-sim" / "1.2")
    out: dict[str, str] = {}
    for entry in recipe.experiments:
        entry = entry.model_copy(update={"frames": n_frames})
        found_lists = []
        for _, _, rec in simulated_records(recipe, entry, split_assignment(entry)):
            key = f"{entry.name}/{rec.index}"
            out[f"{key}/image"] = _digest(rec.image)
            out[f"{key}/label"] = _digest(rec.label)
            out[f"{key}/astar"] = _digest(rec.crystals.astar)
            for table, columns in rec.peaks.items():
                for column, values in columns.items():
                    out[f"{key}/{table}/{column}"] = _digest(values)
            found_lists.append(rec.peaks["found"])
        sim = Simulator(load_experiment(entry.name), seed=entry.seed)
        indexer = BuiltinIndexer(sim.cell)
        for i in range(n_frames):
            frame = sim.frame(i)
            lattices = indexer.index(frame.truth.foundable_peaks(), frame.geometry, frame.photon_energy_ev, frame.clen_m)
            out[f"{entry.name}/{i}/indexed"] = _digest(np.array([lat.n_inliers for lat in lattices], np.int64))
    return out


if __name__ == "__main__":
    result = probe(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    Path(sys.argv[1]).write_text(json.dumps(result, indent=0, sort_keys=True))
