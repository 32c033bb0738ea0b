"""Dataset loader throughput and store size (issue 8).

Targets:
* loader: >= 200 frames/s of 1920 x 1920 items (image (1,H,W) float32, label (H,W) uint8,
  mask (H,W) bool) from a local store with 2 DataLoader workers (`PeakNetDataset.loader`:
  batches filled in the workers' shared memory);
* store size per frame versus raw float32 (reported, no target).

Frames are synthetic (Poisson photons x 1 ADU/photon plus Gaussian readout noise, spots,
labels) on the Rayonix MX340 4x4 preset (slab 1920 x 1920) and the Epix10k 2M preset
(slab 5632 x 384, assembled 1588 x 1588, padded to 1920 x 1920). Run:
``pytest benchmarks/bench_data.py --benchmark-only``; numbers are in extra_info.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from peaknet_bench.data.store import Store, StoreWriter
from peaknet_bench.data.synthetic import synthetic_record
from peaknet_bench.data.torch_dataset import PeakNetDataset
from peaknet_bench.geometry import preset

N_FRAMES = int(os.environ.get("PEAKNET_BENCH_DATA_FRAMES", "32"))
WORKERS = int(os.environ.get("PEAKNET_BENCH_DATA_WORKERS", "2"))


@pytest.fixture(scope="module", params=["rayonix-mx340-4x4", "epix10k2m"])
def store(request, tmp_path_factory):
    geometry = preset(request.param)
    path = tmp_path_factory.mktemp("store") / "data.zarr"
    with StoreWriter(path, name="bench", version="0") as w:
        for i in range(N_FRAMES):
            rec = synthetic_record(geometry, i, seed=1, max_peaks=200,
                                   adu_per_photon=float(geometry.panels[0].adu_per_photon or 1.0))
            w.append(request.param, geometry, rec)
    return Store(path)


def _store_bytes(store: Store) -> int:
    return sum(p.stat().st_size for p in store.path.rglob("*") if p.is_file())


def test_loader_throughput(benchmark, store):
    ds = PeakNetDataset(store, split="train", size=(1920, 1920))
    loader = ds.loader(batch_size=4, num_workers=WORKERS)
    list(loader)  # warm up: fork workers, open the store, compile kernels

    def epoch() -> int:
        n = 0
        for batch in loader:
            n += batch["image"].shape[0]
        return n

    n = benchmark.pedantic(epoch, rounds=3, iterations=1)
    assert n == len(ds)
    det = store.detectors[0]
    raw = int(np.prod(store.group_attrs(det)["slab_shape"])) * 4
    per_frame = _store_bytes(store) / len(ds)
    benchmark.extra_info.update({
        "detector": det, "frames": len(ds), "workers": WORKERS, "torch_threads": torch.get_num_threads(),
        "frames_per_s": len(ds) / benchmark.stats.stats.mean,
        "store_bytes_per_frame": per_frame, "raw_float32_bytes_per_frame": raw,
        "compression_ratio": raw / per_frame,
    })
    print(f"\n{det}: {len(ds) / benchmark.stats.stats.mean:.1f} frames/s with {WORKERS} workers; "
          f"store {per_frame / 1e6:.2f} MB/frame vs raw float32 {raw / 1e6:.2f} MB ({raw / per_frame:.2f}x)")


def test_single_item(benchmark, store):
    """One item in the main process (decode + assemble + z-score + place): the per-worker cost.

    Also records the CPU time per item (process time, one torch thread): on a shared, loaded
    machine wall time mostly measures waiting, and `workers / cpu_s_per_item` is the rate two
    dedicated cores would give (before DataLoader transfer costs)."""
    import time

    torch.set_num_threads(1)
    ds = PeakNetDataset(store, split="train", size=(1920, 1920))
    ds[0]
    n = 8
    t0 = time.process_time()
    for i in range(n):
        ds[i % len(ds)]
    cpu = (time.process_time() - t0) / n
    benchmark(lambda: ds[1])
    benchmark.extra_info.update({"cpu_s_per_item": cpu, "cpu_bound_frames_per_s_2_workers": WORKERS / cpu})
    print(f"\n{store.detectors[0]}: {cpu * 1e3:.1f} ms CPU per item -> {WORKERS / cpu:.0f} frames/s "
          f"with {WORKERS} dedicated cores")
