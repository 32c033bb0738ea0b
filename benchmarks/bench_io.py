"""Benchmarks for CrystFEL-compatible files (issue 2).

Targets:
* stream parsing: >= 50 MB/s on a generated ~50 MB stream (CrystFEL-style chunks with
  ~40 peaks and one crystal of ~500 reflections per indexed frame);
* CXI peak lists: write and read of 10 000 frames (seconds reported; no fixed target).

Run: pytest benchmarks/bench_io.py --benchmark-only
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import preset
from peaknet_bench.io.cxi import CXIReader, write_peaks_cxi
from peaknet_bench.io.stream import (
    StreamChunk,
    StreamCrystal,
    StreamReader,
    StreamReflections,
    StreamWriter,
)

STREAM_MB = 50
CXI_FRAMES = 10_000


def make_stream(path: Path, target_mb: float, seed: int = 0) -> int:
    """Write a realistic stream of about `target_mb` MB; returns the number of chunks."""
    rng = np.random.default_rng(seed)
    g = preset("epix10k2m")
    names = g.panel_names()
    n_ss, n_fs = g.slab_shape
    cell = np.diag([1 / 79.1, 1 / 79.1, 1 / 37.9])
    i = 0
    with StreamWriter(path, geometry_text="; epix10k2m preset\nclen = 0.1\n", cell_text=None) as w:
        while True:
            n = int(rng.integers(10, 70))
            panel = rng.integers(0, len(names), n)
            peaks = PeakList(fs=rng.uniform(0, n_fs - 1, n), ss=rng.uniform(0, n_ss - 1, n), panel=panel,
                             intensity=rng.uniform(100, 1e4, n))
            crystals = []
            if i % 3 != 2:
                m = int(rng.integers(300, 700))
                q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
                refl = StreamReflections(
                    hkl=rng.integers(-40, 40, (m, 3)), intensity=rng.normal(500, 300, m), sigma=rng.uniform(10, 100, m),
                    peak=rng.uniform(0, 2000, m), background=rng.uniform(0, 100, m), fs=rng.uniform(0, n_fs - 1, m),
                    ss=rng.uniform(0, n_ss - 1, m), panel_names=[names[k] for k in rng.integers(0, len(names), m)])
                crystals.append(StreamCrystal(astar=(q @ cell.T).T, lattice_type="tetragonal", unique_axis="c",
                                              profile_radius=1e-4, resolution_limit_a=2.0, reflections=refl))
            w.write_chunk(StreamChunk("run.cxi", event=f"//{i}", serial=i + 1, hit=n >= 15,
                                      indexed_by="xgandalf" if crystals else "none", photon_energy_ev=9500.0,
                                      clen_m=0.1, peaks=peaks, peak_panel_names=[names[k] for k in panel],
                                      peak_inv_d_a=rng.uniform(0.05, 0.4, n), crystals=crystals))
            i += 1
            if i % 50 == 0 and w.bytes_written > target_mb * 1e6:
                break
    return i


@pytest.fixture(scope="module")
def big_stream(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("streams") / "bench.stream"
    make_stream(path, STREAM_MB)
    return path


def test_stream_parse_speed(benchmark, big_stream: Path) -> None:
    """Target: parsing >= 50 MB/s (full chunks: peaks, crystals, reflection tables)."""
    size_mb = big_stream.stat().st_size / 1e6
    cpu_seconds: list[float] = []

    def parse() -> int:
        c0 = time.process_time()
        n = sum(1 for _ in StreamReader(big_stream, resolve_panels=False))
        cpu_seconds.append(time.process_time() - c0)
        return n

    n = benchmark.pedantic(parse, rounds=3, iterations=1)
    mb_per_s = size_mb / benchmark.stats.stats.min
    # CPU time as well: on a shared machine the wall clock also counts other processes' time.
    cpu_mb_per_s = size_mb / min(cpu_seconds)
    benchmark.extra_info.update(size_mb=size_mb, chunks=n, mb_per_s=mb_per_s, cpu_mb_per_s=cpu_mb_per_s,
                                target_mb_per_s=50)
    print(f"\nstream parse: {size_mb:.1f} MB, {n} chunks, {mb_per_s:.1f} MB/s wall (best of 3), "
          f"{cpu_mb_per_s:.1f} MB/s of CPU time (target >= 50)")


@pytest.fixture(scope="module")
def peak_lists() -> list[PeakList]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(CXI_FRAMES):
        n = int(rng.integers(0, 80))
        out.append(PeakList(fs=rng.uniform(0, 383, n), ss=rng.uniform(0, 5631, n), panel=np.zeros(n),
                            intensity=rng.uniform(100, 1e4, n), snr=rng.uniform(5, 50, n),
                            npix=rng.integers(2, 40, n), max_intensity=rng.uniform(50, 3000, n)))
    return out


def test_cxi_peak_write_10k(benchmark, tmp_path: Path, peak_lists: list[PeakList]) -> None:
    """CXI peak-list write of 10 000 frames (report seconds)."""
    path = tmp_path / "peaks.cxi"
    benchmark.pedantic(write_peaks_cxi, args=(path, peak_lists),
                       kwargs=dict(photon_energy_ev=9500.0, clen_m=0.1), rounds=3, iterations=1)
    print(f"\nCXI write {CXI_FRAMES} frames: {benchmark.stats.stats.mean:.2f} s")


def test_cxi_peak_read_10k(benchmark, tmp_path: Path, peak_lists: list[PeakList]) -> None:
    """CXI peak-list read of 10 000 frames, frame by frame through the lazy reader (report seconds)."""
    path = tmp_path / "peaks.cxi"
    write_peaks_cxi(path, peak_lists, photon_energy_ev=9500.0, clen_m=0.1)

    def read() -> int:
        with CXIReader(path) as r:
            return sum(len(r.peaks(i)) for i in range(len(r)))

    total = benchmark.pedantic(read, rounds=3, iterations=1)
    assert total == sum(len(p) for p in peak_lists)
    print(f"\nCXI read {CXI_FRAMES} frames: {benchmark.stats.stats.mean:.2f} s")
