"""Shared fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test session (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    import importlib

    import ray.cloudpickle

    from peaknet_bench.util.raysession import ray_session as session

    # Ray workers cannot import modules of tests/: the synthetic-data helpers travel by value.
    for name in ("synthetic_peaks", "synthetic_records", "synthetic_windows", "tiny_board"):
        ray.cloudpickle.register_pickle_by_value(importlib.import_module(name))
    with session(num_cpus=2):
        yield ray


# The newest version of the built-in dataset (the one the leaderboard uses).
BUILTIN_VERSION = "1.2"


@pytest.fixture(scope="session")
def builtin_dataset(tmp_path_factory):
    """The built-in dataset, peaknet-sim BUILTIN_VERSION, rebuilt from its recipe (simulator + engine,
    about a minute) into a private download cache, which `PEAKNET_BENCH_CACHE` points to for
    the rest of the session, so `fetch("peaknet-sim", BUILTIN_VERSION)` finds it. Yields the
    BuildResult (whose `.reproduces` compares the build with the published manifest)."""
    import shutil
    from pathlib import Path

    from peaknet_bench.data.build import build_dataset
    from peaknet_bench.data.download import fetch

    version_dir = Path(__file__).resolve().parents[1] / "datasets" / "peaknet-sim" / BUILTIN_VERSION
    cache = tmp_path_factory.mktemp("cache")
    result = build_dataset(version_dir, cache / "peaknet-sim" / BUILTIN_VERSION, progress=False)
    patch = pytest.MonkeyPatch()
    patch.setenv("PEAKNET_BENCH_CACHE", str(cache))
    if result.reproduces:
        fetch("peaknet-sim", BUILTIN_VERSION, progress=False)  # checks the copy and marks it verified
    yield result
    patch.undo()
    shutil.rmtree(cache, ignore_errors=True)  # 2 GB: do not keep it among pytest's old temp dirs
