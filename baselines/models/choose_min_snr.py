"""Choose the model's significance cut (ExtractionConfig.min_snr) on simulated frames.

    python baselines/models/choose_min_snr.py baselines/models/ref-student.safetensors

For each experiment, frames of a seed no dataset uses (999) are simulated; the *label rule*
spots are the dispersion finder's spots that PeakDiff matches to the true reflections (what
peaknet-train's labels are made from). The model runs once with no cut; its peaks are then
kept at Σz/√npix >= t for each t and matched one-to-one within 2 px to the label-rule spots.
Prints recall / precision / F1 per cut; the shipped default is the best F1 on the Pilatus
experiment (the photon-counting detector, where the cut matters). Real stills play no part.
"""

from __future__ import annotations

import argparse

import numpy as np

from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff
from peaknet_bench.infer.config import RunnerConfig
from peaknet_bench.infer.model_runner import ModelPeakFinder
from peaknet_bench.infer.peaks import ExtractionConfig
from peaknet_bench.peakfind.dispersion import DispersionFinder, DispersionParams
from peaknet_bench.sim import Simulator, load_experiment

# The dispersion settings of datasets/peaknet-train/1.3 (the label rule) per experiment.
EXPERIMENTS = {
    "pilatus6m-thaumatin": {"gain": 1.0},
    "cspad-lysozyme": {"gain": 25.0, "global_threshold": 100.0, "min_spot_size": 2},
    "cspad-thermolysin": {"gain": 25.0, "global_threshold": 100.0, "min_spot_size": 2},
    "epix10k-lysozyme": {"gain": 10.0},
}
CUTS = (0.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 25.0, 30.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="model weights (.safetensors) or checkpoint directory")
    p.add_argument("-n", "--n-frames", type=int, default=12)
    p.add_argument("--seed", type=int, default=999)
    args = p.parse_args()
    match = PeakDiffConfig(max_distance=2.0)
    for name, disp in EXPERIMENTS.items():
        sim = Simulator(load_experiment(name), seed=args.seed)
        finder = DispersionFinder(DispersionParams(**disp), sim.geometry)
        model = ModelPeakFinder(args.model, sim.geometry, RunnerConfig(extraction=ExtractionConfig(min_snr=0.0)))
        counts = np.zeros((len(CUTS), 3))  # matched, model peaks, label-rule spots
        for i in range(args.n_frames):
            frame = sim.frame(i)
            found = finder.find(frame)
            rule = found.subset(peakdiff(found, frame.truth.reflections, PeakDiffConfig(max_distance=3.0)).found_index)
            peaks = model.find(frame)
            for k, cut in enumerate(CUTS):
                kept = peaks.subset(np.flatnonzero(peaks.snr >= cut))
                counts[k] += (peakdiff(kept, rule, match).n_matched, len(kept), len(rule))
        print(f"{name} (seed {args.seed}, {args.n_frames} frames, {int(counts[0, 2])} label-rule spots)")
        for cut, (m, n_model, n_rule) in zip(CUTS, counts):
            r, pr = m / max(n_rule, 1), m / max(n_model, 1)
            print(f"  min_snr {cut:5.1f}: recall {r:.3f}  precision {pr:.3f}  F1 {2 * r * pr / max(r + pr, 1e-12):.3f}")


if __name__ == "__main__":
    main()
