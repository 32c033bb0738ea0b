"""Data-engine fitting throughput (issue 7).

Targets (this 2-core machine):
* fast batched fitter, END TO END (windows extracted, fitted, χ² filtered, label masks
  painted and the batch file written): >= 5000 peaks/s on 2 cores;
* lmfit reference: reported (the paper reached ~600 peaks/s on 200 cores, 3 peaks/s/core),
  together with the fast fitter on the same windows and their agreement (issue 7: fast
  parameters within 1 %, centres 0.02 px, of lmfit on >= 99 % of windows; extra_info
  `agreement`, `same_minimum`, `lmfit_fits_per_s`, `fast_fits_per_s`).

Windows are synthetic pseudo-Voigt spots with Poisson noise (photons), σ 0.6–1.3 px;
the end-to-end batch is 10 Epix10k2M frames with ~500 spots each, fitted with the
default protocol (staged branches, extra branches for ambiguous windows). Run:
``pytest benchmarks/bench_engine.py --benchmark-only``; rates are in extra_info:
`peaks_per_s` (wall clock) and `peaks_per_cpu_s` (peaks per CPU-second, summed over the
numba threads: the rate two idle cores give is about twice this number, which is the
figure to compare with the target when the machine is shared).
"""

from __future__ import annotations

import os
import time

import pytest

from peaknet_bench.engine.profile import compare_fits, fit_batched, fit_lmfit
from peaknet_bench.engine.run import EngineConfig, process_batch, write_batch
from synthetic_windows import SyntheticWindowsConfig, SyntheticRun, SyntheticRunConfig, synthetic_windows
from peaknet_bench.geometry import preset

N_FAST = int(os.environ.get("PEAKNET_BENCH_ENGINE_WINDOWS", "20000"))
N_LMFIT = int(os.environ.get("PEAKNET_BENCH_ENGINE_LMFIT", "400"))
REALISTIC = SyntheticWindowsConfig(width=(0.6, 1.3))


def _rate(benchmark, n: int, cpu: float | None = None) -> None:
    best = benchmark.stats.stats.min
    benchmark.extra_info["items"] = n
    benchmark.extra_info["peaks_per_s"] = n / best
    if cpu is not None:
        benchmark.extra_info["peaks_per_cpu_s"] = n / cpu


def test_fast_fitter(benchmark):
    windows, _ = synthetic_windows(N_FAST, seed=1, config=REALISTIC)
    fit_batched(synthetic_windows(16, seed=2)[0])  # compile outside the timing
    cpu = []

    def run():
        t = time.process_time()
        fit_batched(windows)
        cpu.append(time.process_time() - t)

    benchmark.pedantic(run, rounds=3, iterations=1)
    _rate(benchmark, N_FAST, min(cpu))


def test_lmfit_reference(benchmark):
    windows, _ = synthetic_windows(N_LMFIT, seed=1, config=REALISTIC)
    fit_batched(synthetic_windows(16, seed=2)[0])
    t = time.perf_counter()
    fast = fit_batched(windows)
    fast_s = time.perf_counter() - t
    out = {}
    benchmark.pedantic(lambda: out.setdefault("ref", fit_lmfit(windows)), rounds=1, iterations=1)
    _rate(benchmark, N_LMFIT)
    agree = compare_fits(fast, out["ref"])
    benchmark.extra_info["lmfit_fits_per_s"] = N_LMFIT / benchmark.stats.stats.min
    benchmark.extra_info["fast_fits_per_s"] = N_LMFIT / fast_s  # small batch: startup included
    benchmark.extra_info["agreement"] = float(agree["window"].mean())
    benchmark.extra_info["same_minimum"] = float(agree["same_min"].mean())
    benchmark.extra_info["centres_agree"] = float(agree["params"][:, 2:4].all(axis=1).mean())
    assert agree["window"].mean() >= 0.99


@pytest.fixture(scope="module")
def batch_inputs():
    geom = preset("epix10k2m")
    src = SyntheticRun(geom, seed=7, config=SyntheticRunConfig(n_frames=10, spots=(450, 550), blank_every=0))
    frames = [src.frame(i) for i in range(10)]
    found = [src.found(f, i) for i, f in enumerate(frames)]
    pred = [src.predicted(f, i, p) for i, (f, p) in enumerate(zip(frames, found))]
    return frames, found, pred


def test_end_to_end_batch(benchmark, batch_inputs, tmp_path):
    frames, found, pred = batch_inputs
    config = EngineConfig()
    fit_batched(synthetic_windows(16, seed=2)[0])
    out = {}
    cpu = []

    def run():
        t = time.process_time()
        b = process_batch(frames, found, pred, list(range(len(frames))), config)
        write_batch(tmp_path / "batch.h5", b)
        cpu.append(time.process_time() - t)
        out["summary"] = b.summary()

    benchmark.pedantic(run, rounds=3, iterations=1)
    s = out["summary"]
    benchmark.extra_info.update(s)
    _rate(benchmark, s["n_fitted"], min(cpu))
    assert s["n_fitted"] > 3000 and s["n_accepted"] > 0.8 * s["n_fitted"]
