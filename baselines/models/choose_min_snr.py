"""Choose the model's significance cuts (ExtractionConfig.min_snr, .min_pixel_snr) on
simulated frames.

    python baselines/models/choose_min_snr.py baselines/models/ref-student.safetensors
    python baselines/models/choose_min_snr.py MODEL --field min_pixel_snr

For each experiment, frames of a seed no dataset uses (999) are simulated; the *label rule*
spots are the dispersion finder's spots that PeakDiff matches to the true reflections (what
peaknet-train's labels are made from). The model segments each frame once; its peaks are then
extracted with the shipped defaults and `--field` set to each cut in turn, and matched
one-to-one within 2 px to the label-rule spots. Prints recall / precision / F1 per cut.
`min_snr` (Σz/√npix of a component) is the best F1 on the Pilatus experiment; `min_pixel_snr`
(at least min_spot_size pixels of a component and its neighbours above t local sigmas; applied
on charge-integrating detectors only) the best mean F1 over the charge-integrating ones.
Real stills play no part.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff
from peaknet_bench.infer.config import RunnerConfig
from peaknet_bench.infer.model_runner import ModelRunner
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
CUTS = {"min_snr": (0.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 25.0, 30.0),
        "min_pixel_snr": (0.0, 4.0, 6.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="model weights (.safetensors) or checkpoint directory")
    p.add_argument("-n", "--n-frames", type=int, default=12)
    p.add_argument("--seed", type=int, default=999)
    p.add_argument("--field", choices=sorted(CUTS), default="min_snr", help="the cut to scan")
    args = p.parse_args()
    cuts = CUTS[args.field]
    match = PeakDiffConfig(max_distance=2.0)
    f1_integrating = []
    for name, disp in EXPERIMENTS.items():
        sim = Simulator(load_experiment(name), seed=args.seed)
        finder = DispersionFinder(DispersionParams(**disp), sim.geometry)
        runner = ModelRunner(args.model, sim.geometry, RunnerConfig(batch_size=1))
        configs = [dataclasses.replace(runner.config, extraction=ExtractionConfig(**{args.field: cut})) for cut in cuts]
        counts = np.zeros((len(cuts), 3))  # matched, model peaks, label-rule spots
        for i in range(args.n_frames):
            frame = sim.frame(i)
            found = finder.find(frame)
            rule = found.subset(peakdiff(found, frame.truth.reflections, PeakDiffConfig(max_distance=3.0)).found_index)
            prepared = runner.prepare(frame.data[None], frame.mask[None])
            segmentation = runner.segment(prepared.images)
            for k, config in enumerate(configs):
                runner.config = config
                kept = runner.peaks(segmentation, prepared)[0]
                counts[k] += (peakdiff(kept, rule, match).n_matched, len(kept), len(rule))
        print(f"{name} (seed {args.seed}, {args.n_frames} frames, {int(counts[0, 2])} label-rule spots"
              f"{', photon counting' if sim.geometry.counts_photons else ''})")
        f1 = []
        for cut, (m, n_model, n_rule) in zip(cuts, counts):
            r, pr = m / max(n_rule, 1), m / max(n_model, 1)
            f1.append(2 * r * pr / max(r + pr, 1e-12))
            print(f"  {args.field} {cut:5.1f}: recall {r:.3f}  precision {pr:.3f}  F1 {f1[-1]:.3f}")
        if not sim.geometry.counts_photons:
            f1_integrating.append(f1)
    mean = np.mean(f1_integrating, axis=0)
    print("mean F1 over the charge-integrating experiments: "
          + "  ".join(f"{cut:g}: {v:.3f}" for cut, v in zip(cuts, mean)) + f"  (best {cuts[int(np.argmax(mean))]:g})")


if __name__ == "__main__":
    main()
