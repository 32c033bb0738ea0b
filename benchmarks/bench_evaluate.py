"""Speed of the evaluation harness (issue 6). Run: pytest benchmarks/bench_evaluate.py --benchmark-only

Targets (the harness must never be the bottleneck next to peak finding and indexing):

* truth matching of one frame (300 found peaks vs 250 found-able reflections, Hungarian
  within 3 px): < 5 ms;
* metrics of a 10 000-frame run (rates, cell statistics, truth metrics, 6 bootstrap
  intervals with 2000 resamples): < 2 s;
* harness overhead per frame on a tiny simulated run (oracle peaks: no peak-finding cost),
  everything included (simulation, matching, indexing, metrics): reported, no target;
* quickstart (`make demo`: 60-frame epix10k-lysozyme run, 24-frame / 16-trial tuning, two
  evaluations): a few minutes on 2 cores (measured by hand: see docs/evaluation.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff  # noqa: E402
from peaknet_bench.evaluate.harness import EvalConfig, confidence_intervals, evaluate  # noqa: E402
from peaknet_bench.evaluate.metrics import FrameOutcome, cell_statistics, rates, truth_metrics  # noqa: E402
from peaknet_bench.frame import PeakList  # noqa: E402


def test_truth_matching_per_frame(benchmark):
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1000, size=(250, 2))
    found = np.concatenate([true + rng.normal(0, 0.7, true.shape), rng.uniform(0, 1000, size=(50, 2))])
    a = PeakList(fs=found[:, 0], ss=found[:, 1], panel=np.zeros(300, np.int32), intensity=np.ones(300))
    b = PeakList(fs=true[:, 0], ss=true[:, 1], panel=np.zeros(250, np.int32), intensity=np.ones(250))
    m = benchmark(peakdiff, a, b, PeakDiffConfig(max_distance=3.0))
    assert m.n_matched >= 240


def test_metrics_of_a_large_run(benchmark):
    rng = np.random.default_rng(1)
    outcomes = []
    for i in range(10_000):
        n = int(rng.poisson(30))
        hit = n >= 10
        indexed = hit and rng.random() < 0.8
        cells = [tuple(np.array([40.0, 70.9, 91.1, 90.0, 90.0, 90.0]) * (1 + 0.002 * rng.standard_normal(6)))] if indexed else []
        outcomes.append(FrameOutcome(event=f"//{i}", n_peaks=n, hit=hit, indexed=indexed, cells=cells, blank=not hit,
                                     n_foundable=n, n_matched=int(0.9 * n), correct_orientation=indexed))

    def run():
        return rates(outcomes), cell_statistics(outcomes), truth_metrics(outcomes), confidence_intervals(outcomes)

    r, _, _, ci = benchmark(run)
    assert ci["indexing_yield"]["low"] <= r["indexing_yield"] <= ci["indexing_yield"]["high"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from test_evaluate_harness import tiny_experiment

    from peaknet_bench.evaluate.frames import SimulatedFrames

    return SimulatedFrames(str(tiny_experiment(tmp_path_factory.mktemp("bench"))), seed=3, n_frames=8)


def test_tiny_run_end_to_end(benchmark, tiny):
    from peaknet_bench.evaluate.methods import oracle_method

    r = benchmark.pedantic(evaluate, args=(oracle_method(), tiny, EvalConfig(show_progress=False)), rounds=2, iterations=1)
    assert r.metrics.n_frames == 8
