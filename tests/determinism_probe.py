"""Digest of everything a dataset build computes, for comparing two CPUs (or two emulated ones).

Run as a script (``python tests/determinism_probe.py OUT.json [N_FRAMES]``) or call
`probe(n_frames)`: the first frames of every experiment of the built-in recipe go through
the simulator, peakfinder8, the data engine (PeakDiff, curation, profile fits, labels) and
the built-in indexer, and every resulting array is reduced to the sha256 of its bytes.
Two runs agree key for key only when every stored number is bit-identical. The indexer's
refined A* matrices and explained peaks are compared too, on the simulated frames and, where
the real stills of shared/real are present, on peakfinder8's peaks of the Pilatus and CSPAD
files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from peaknet_bench.frame import PeakList

REPO = Path(__file__).resolve().parents[1]


def _digest(value) -> str:
    a = np.ascontiguousarray(value)
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()


def probe(n_frames: int = 3) -> dict[str, str]:
    from peaknet_bench.data.manifest import load_recipe, split_assignment
    from peaknet_bench.data.normalise import InputNorm, local_snr, panel_rects
    from peaknet_bench.data.simulated_records import simulated_records
    from peaknet_bench.index.builtin import BuiltinIndexer
    from peaknet_bench.sim import Simulator, load_experiment

    recipe = load_recipe(REPO / "datasets" / "peaknet-sim" / "1.2")
    out: dict[str, str] = {}
    for entry in recipe.experiments:
        entry = entry.model_copy(update={"frames": n_frames})
        found_lists = []
        for _, geometry, rec in simulated_records(recipe, entry, split_assignment(entry)):
            key = f"{entry.name}/{rec.index}"
            out[f"{key}/image"] = _digest(rec.image)
            out[f"{key}/label"] = _digest(rec.label)
            if rec.index == 0:
                out[f"{key}/local_snr"] = _digest(local_snr(rec.image, rec.mask, panel_rects(geometry), InputNorm()))
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
            out[f"{entry.name}/{i}/indexed_astar"] = _digest(np.array([lat.crystal.astar for lat in lattices]).reshape(-1, 3))
    out.update(_real_stills())
    return out


def _real_stills() -> dict[str, str]:
    """Digests of peakfinder8 peaks and built-in indexing on the real stills (when present)."""
    real = REPO.parent / "shared" / "real"
    if not real.is_dir():
        return {}
    from peaknet_bench.crystal import UnitCell
    from peaknet_bench.data.normalise import InputNorm, local_snr, panel_rects
    from peaknet_bench.index.builtin import BuiltinIndexer
    from peaknet_bench.io import open_frames
    from peaknet_bench.peakfind.dispersion import DispersionFinder, DispersionParams
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8, Peakfinder8Params

    cells = {"thau": UnitCell(58.6, 58.6, 151.5, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 41 21 2"),
             "idx": UnitCell(92.9, 92.9, 130.4, 90, 90, 120, "hexagonal", unique_axis="c", space_group="P 61 2 2")}
    settings = {"thau": {"threshold": 10.0, "min_snr": 5.0, "min_pix_count": 2},
                "idx": {"threshold": 100.0, "min_snr": 5.0, "min_pix_count": 2}}
    dispersion = {"thau": {}, "idx": {"gain": 25.0, "global_threshold": 100.0, "min_spot_size": 2}}
    out = {}
    for path in sorted((real / "cbf").iterdir()):
        kind = path.name.split("_")[0].split("-")[0]
        frame = next(iter(open_frames(str(path))))
        cols = Peakfinder8(Peakfinder8Params(**settings[kind]), frame.geometry).find_arrays(frame.data, frame.mask)
        out[f"real/{path.name}/peaks"] = _digest(np.column_stack([cols["fs"], cols["ss"], cols["intensity"]]))
        peaks = PeakList(fs=cols["fs"], ss=cols["ss"], panel=cols["panel"], intensity=cols["intensity"])
        lattices = BuiltinIndexer(cells[kind]).index(peaks, frame.geometry, frame.photon_energy_ev, frame.clen_m)
        out[f"real/{path.name}/indexed_astar"] = _digest(np.array([lat.crystal.astar for lat in lattices]).reshape(-1, 3))
        # The models' input: local signal-to-noise (hot pixels, gaps, ADU pedestals and all).
        rects = panel_rects(frame.geometry)
        out[f"real/{path.name}/local_snr"] = _digest(local_snr(frame.data, frame.mask, rects, InputNorm()))
        # The label rule of peaknet-train (DIALS' strong spots).
        spots = DispersionFinder(DispersionParams(**dispersion[kind]), frame.geometry).find(frame)
        out[f"real/{path.name}/dispersion"] = _digest(np.column_stack([spots.fs, spots.ss, spots.intensity]))
    return out


if __name__ == "__main__":
    result = probe(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    Path(sys.argv[1]).write_text(json.dumps(result, indent=0, sort_keys=True))
