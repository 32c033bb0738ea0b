"""Small synthetic frames for store tests, benchmarks and quick demos without the simulator.

Frames are Poisson backgrounds plus Gaussian spots on an arbitrary geometry, with labels
(pixels near a spot centre), bad pixels, a crystal per frame and found / predicted /
fitted peak tables shaped like the data engine's, all seeded. They exercise every field
of the store; they are not physics (the simulator in `peaknet_bench.sim` is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from peaknet_bench.data.store import CrystalTable, FrameRecord
from peaknet_bench.geometry import Geometry, Panel


def two_panel_geometry(height: int = 24, width: int = 32, gap: int = 2) -> Geometry:
    """Two panels stacked in the slab, side by side in the lab (a tiny non-trivial assembly)."""
    panels = [
        Panel("p0", 0, width - 1, 0, height - 1, corner_x=-width - gap / 2, corner_y=height / 2,
              fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), adu_per_photon=10.0),
        Panel("p1", 0, width - 1, height, 2 * height - 1, corner_x=gap / 2, corner_y=height / 2,
              fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), adu_per_photon=10.0),
    ]
    return Geometry(panels=panels, clen_m=0.1, photon_energy_ev=9500.0, source="two-panel")


def synthetic_record(geometry: Geometry, index: int, seed: int, *, experiment: str = "synthetic",
                     split: str = "train", max_peaks: int = 30, adu_per_photon: float = 10.0,
                     readout_noise_adu: float = 1.0) -> FrameRecord:
    """One seeded synthetic frame (deterministic in (seed, index))."""
    rng = np.random.default_rng([seed, index])
    n_ss, n_fs = geometry.slab_shape
    photons = rng.poisson(0.2, size=(n_ss, n_fs)).astype(np.float32)
    n_peaks = int(rng.integers(0, max_peaks + 1))
    fs = rng.uniform(2, n_fs - 3, n_peaks)
    ss = rng.uniform(2, n_ss - 3, n_peaks)
    amp = rng.uniform(5, 200, n_peaks)
    sigma = rng.uniform(0.6, 1.5, n_peaks)
    yy, xx = np.mgrid[0:n_ss, 0:n_fs]
    label = np.zeros((n_ss, n_fs), dtype=np.uint8)
    for f, s, a, w in zip(fs, ss, amp, sigma):
        r0, r1 = max(int(s) - 4, 0), min(int(s) + 5, n_ss)
        c0, c1 = max(int(f) - 4, 0), min(int(f) + 5, n_fs)
        d2 = (yy[r0:r1, c0:c1] - s) ** 2 + (xx[r0:r1, c0:c1] - f) ** 2
        photons[r0:r1, c0:c1] += rng.poisson(a * np.exp(-d2 / (2 * w * w)) / (2 * np.pi * w * w)).astype(np.float32)
        label[r0:r1, c0:c1][d2 <= (2 * w) ** 2] = 1
    image = photons * adu_per_photon + rng.normal(0, readout_noise_adu, size=photons.shape).astype(np.float32)
    mask = geometry.bad_pixel_mask() & (rng.random((n_ss, n_fs)) > 0.002)
    panel = geometry.panel_of(fs, ss) if n_peaks else np.zeros(0, np.int32)
    found = rng.random(n_peaks) < 0.9
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    cell = np.array([79.1, 79.1, 37.9, 90.0, 90.0, 90.0])
    astar = rotation @ np.diag(1.0 / cell[:3])
    return FrameRecord(
        image=image.astype(np.float32), label=label, mask=mask, event=f"//{index}", experiment=experiment,
        split=split, photon_energy_ev=float(geometry.photon_energy_ev or 9500.0),
        clen_m=float(geometry.clen_m or 0.1), seed=seed, index=index,
        precision=float(rng.uniform(0.5, 1.0)), recall=float(rng.uniform(0.5, 1.0)),
        selected=bool(n_peaks >= 3), reason="ok" if n_peaks >= 3 else "too few peaks",
        crystals=CrystalTable(cell=cell[None], astar=astar[None], lattice_type=["tetragonal"],
                              centering=["P"], space_group=["P 43 21 2"]),
        peaks={
            "found": {"fs": fs[found] + rng.normal(0, 0.2, found.sum()), "ss": ss[found] + rng.normal(0, 0.2, found.sum()),
                      "panel": panel[found].astype(np.int32), "intensity": amp[found] * adu_per_photon,
                      "snr": rng.uniform(5, 50, found.sum())},
            "predicted": {"fs": fs, "ss": ss, "panel": panel.astype(np.int32),
                          "hkl": rng.integers(-20, 21, size=(n_peaks, 3)).astype(np.int32),
                          "partiality": rng.uniform(0.1, 1.0, n_peaks)},
            "fitted": {"fs": fs[found], "ss": ss[found], "amplitude": amp[found], "sigma": sigma[found],
                       "eta": rng.uniform(0, 1, found.sum()), "background": np.full(found.sum(), 2.0),
                       "chi2": rng.uniform(0.5, 2.0, found.sum())},
        },
        extra={"n_peaks_true": n_peaks},
    )


def synthetic_source(geometries: dict[str, Geometry]) -> Callable:
    """A `build_dataset` record source: experiment name -> (detector name, geometry)."""
    def source(recipe, entry, splits) -> Iterator[tuple[str, Geometry, FrameRecord]]:
        detector = entry.name.split("-")[0]
        geometry = geometries[detector]
        for i, split in enumerate(splits):
            yield detector, geometry, synthetic_record(geometry, i, entry.seed, experiment=entry.name, split=split)
    return source


def one_panel_geometry(size: int = 40) -> Geometry:
    """A single square panel centred on the beam (a second detector with another slab shape)."""
    panel = Panel("p0", 0, size - 1, 0, size - 1, corner_x=-size / 2, corner_y=size / 2,
                  fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=5000.0, adu_per_photon=1.0)
    return Geometry(panels=[panel], clen_m=0.15, photon_energy_ev=12000.0, source="one-panel")


def tiny_recipe(frames: int = 6):
    """A recipe over the two synthetic detectors: in-distribution splits plus an OOD test split."""
    from peaknet_bench.data.manifest import Recipe

    return Recipe.model_validate({
        "name": "tiny", "version": "0.1", "description": "Synthetic frames for tests.", "seed": 1,
        "experiments": [
            {"name": "two-lysozyme", "frames": frames, "seed": 11,
             "splits": {"train": 0.5, "validation": 0.25, "test": 0.25}},
            {"name": "one-thermolysin", "frames": max(frames // 2, 1), "seed": 12, "splits": {"test_ood": 1.0}},
        ],
        "known_limitations": ["synthetic Gaussian spots, not physics"],
    })


def build_tiny(out, frames: int = 6, **kwargs):
    """Build the tiny synthetic dataset into `out` (tests, benchmarks, docs examples)."""
    from peaknet_bench.data.build import build_dataset

    source = synthetic_source({"two": two_panel_geometry(), "one": one_panel_geometry()})
    return build_dataset(None, out, recipe=tiny_recipe(frames), source=source, progress=False, **kwargs)
