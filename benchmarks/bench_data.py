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

from peaknet_bench.data.store import ImageEncoding, Store, StoreWriter
from synthetic_records import synthetic_record
from peaknet_bench.data.torch_dataset import PeakNetDataset
from peaknet_bench.geometry import preset

N_FRAMES = int(os.environ.get("PEAKNET_BENCH_DATA_FRAMES", "32"))
WORKERS = int(os.environ.get("PEAKNET_BENCH_DATA_WORKERS", "2"))


# (detector, ADC range): float32 images with float read noise (stores before integer
# storage), or the detector's integers (digitised to 1 ADU: int32 for the 16-bit Rayonix,
# int16 for the ePix's ±30000 ADU), as the simulator and real detectors deliver them.
STORES = [("rayonix-mx340-4x4", None), ("rayonix-mx340-4x4", 65535.0), ("epix10k2m", None), ("epix10k2m", 30000.0)]


@pytest.fixture(scope="module", params=STORES, ids=[f"{d}-{'int' if r else 'float32'}" for d, r in STORES])
def store(request, tmp_path_factory):
    detector, adc_range = request.param
    geometry = preset(detector)
    encoding = ImageEncoding.for_range(None if adc_range is None else 1.0, -(adc_range or 0), adc_range or 0)
    path = tmp_path_factory.mktemp("store") / "data.zarr"
    with StoreWriter(path, name="bench", version="0") as w:
        for i in range(N_FRAMES):
            rec = synthetic_record(geometry, i, seed=1, max_peaks=200,
                                   adu_per_photon=float(geometry.panels[0].adu_per_photon or 1.0))
            if encoding.is_integer:
                rec.image = np.rint(rec.image) + np.float32(0.0)
                rec.encoding = encoding
            w.append(detector, geometry, rec)
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
        "detector": det, "image_dtype": store.image_encoding(det).dtype, "frames": len(ds), "workers": WORKERS, "torch_threads": torch.get_num_threads(),
        "frames_per_s": len(ds) / benchmark.stats.stats.mean,
        "store_bytes_per_frame": per_frame, "raw_float32_bytes_per_frame": raw,
        "compression_ratio": raw / per_frame,
    })
    print(f"\n{det} ({store.image_encoding(det).dtype}): {len(ds) / benchmark.stats.stats.mean:.1f} frames/s with {WORKERS} workers; "
          f"store {per_frame / 1e6:.2f} MB/frame vs raw float32 {raw / 1e6:.2f} MB ({raw / per_frame:.2f}x)")


def _cpu_ms(fn, n: int = 8) -> float:
    """Mean CPU (process) time of fn in ms: wall time on a shared machine mostly measures waiting."""
    import time

    fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e3


def test_single_item(benchmark, store):
    """One item in the main process, and where its time goes: the per-worker cost.

    Stages (CPU ms, one thread): image decode (Blosc zstd + bitshuffle, as stored), label +
    mask decode, the one-pass canvas fill, and the whole item (which also pays the page
    faults of fresh output tensors). `workers / item` is the rate two dedicated cores would
    give; `workers / image decode` is the ceiling the codec alone allows."""
    torch.set_num_threads(1)
    ds = PeakNetDataset(store, split="train", size=(1920, 1920))
    det, j = ds.items[1]
    plan, slab, slab_label, slab_mask = ds._detector(det)
    canvas = np.empty(plan.size, np.float32), np.empty(plan.size, np.uint8), np.empty(plan.size, np.bool_)
    stages = {
        "image_decode": _cpu_ms(lambda: store.image_raw(det, j, out=slab)),
        "label_mask_decode": _cpu_ms(lambda: (store.label(det, j, out=slab_label), store.mask(det, j, out=slab_mask))),
        "canvas_fill": _cpu_ms(lambda: plan.fill(slab, slab_mask, canvas[0], canvas[2], label=slab_label,
                                                 out_label=canvas[1], mean=1.0, scale=0.5)),
        "item": _cpu_ms(lambda: ds[1]),
    }
    benchmark(lambda: ds[1])
    benchmark.extra_info.update({f"cpu_ms_{k}": v for k, v in stages.items()})
    benchmark.extra_info.update({"cpu_bound_frames_per_s_2_workers": WORKERS * 1e3 / stages["item"],
                                 "codec_ceiling_frames_per_s_2_workers": WORKERS * 1e3 / stages["image_decode"]})
    print(f"\n{det}: CPU ms per item " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
          + f" -> {WORKERS * 1e3 / stages['item']:.0f} frames/s with {WORKERS} dedicated cores "
          f"(image codec alone: {WORKERS * 1e3 / stages['image_decode']:.0f})")


def test_shared_memory_ceiling(benchmark):
    """The machine's ceiling for any multi-worker loader of 1920² items: workers that only
    allocate and write the output batch (image float32 + label uint8 + mask bool) in shared
    memory, no data at all. Page faults on fresh shared memory bound it."""
    from torch.utils.data import Dataset, get_worker_info

    from peaknet_bench.data.torch_dataset import _empty, collate

    class Blank(Dataset):
        def __len__(self) -> int:
            return N_FRAMES

        def __getitems__(self, idx):
            shared = get_worker_info() is not None
            out = (_empty((len(idx), 1, 1920, 1920), torch.float32, shared),
                   _empty((len(idx), 1920, 1920), torch.uint8, shared), _empty((len(idx), 1920, 1920), torch.bool, shared))
            for t in out:
                t.zero_()
            return [{"image": out[0][k], "label": out[1][k], "mask": out[2][k], "metadata": {"i": i}}
                    for k, i in enumerate(idx)]

    from torch.utils.data import DataLoader

    loader = DataLoader(Blank(), batch_size=4, num_workers=WORKERS, collate_fn=collate,
                        persistent_workers=True, prefetch_factor=4)
    list(loader)
    n = benchmark.pedantic(lambda: sum(b["image"].shape[0] for b in loader), rounds=3, iterations=1)
    rate = n / benchmark.stats.stats.mean
    benchmark.extra_info.update({"frames_per_s": rate, "workers": WORKERS})
    print(f"\nshared-memory ceiling: {rate:.0f} frames/s with {WORKERS} workers (outputs written, no data)")
