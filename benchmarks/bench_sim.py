"""Simulator throughput (issue 3).

Target: ≥ 10 frames/s for an Epix10ka2M frame (2.16 M pixels) with ~200 reflections on the
2-core CI machine; the 1920 × 1920 Rayonix MX340 (4x4) frame is reported alongside.
Run: `pytest benchmarks/bench_sim.py --benchmark-only`.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import yaml

from peaknet_bench.sim import Simulator, experiment_from_dict
from peaknet_bench.sim.experiment import EXPERIMENTS_DIR


def _all_hits(name: str, profile_radius: float) -> Simulator:
    """A named experiment where every frame is a single-lattice hit with the given mosaicity."""
    path = EXPERIMENTS_DIR / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["run"].update(hit_fraction=1.0, multi_lattice_fraction=0.0)
    data["crystals"]["profile_radius"] = {"median": profile_radius, "sigma_log": 0.0}
    return Simulator(experiment_from_dict(data, str(path)), seed=1)


@pytest.mark.parametrize("name,profile_radius", [("epix10k-lysozyme", 0.00025), ("rayonix-orthorhombic", 0.00018)])
def test_bench_frame(benchmark, name, profile_radius):
    sim = _all_hits(name, profile_radius)
    counter = itertools.count()
    n_refl = [len(sim.frame(i).truth.reflections) for i in range(5)]  # also compiles the kernels
    benchmark.extra_info.update(
        pixels=int(np.prod(sim.geometry.slab_shape)), mean_reflections=float(np.mean(n_refl)),
    )
    frame = benchmark(lambda: sim.frame(next(counter)))
    assert frame.data.shape == sim.geometry.slab_shape
    benchmark.extra_info["frames_per_second"] = 1.0 / benchmark.stats["mean"]
    # CPU seconds per frame (all threads): what a frame costs when the cores are not shared.
    t0 = time.process_time()
    for i in range(100, 105):
        sim.frame(i)
    benchmark.extra_info["cpu_seconds_per_frame"] = (time.process_time() - t0) / 5
