"""A tiny self-contained leaderboard (one 200×200-pixel detector, a few simulated frames) for
tests, examples and trying the submit → render → regress cycle in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

TINY_CELL = [40.0, 50.0, 60.0, 90.0, 90.0, 90.0]


def write_tiny_experiment(folder: str | os.PathLike, n_px: int = 200) -> Path:
    """A simulator experiment on one n×n panel at 4 cm: strong P212121 crystals on 70 % of shots."""
    from peaknet_bench.geometry import Geometry, Panel, write_geom

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    panel = Panel(name="p0", min_fs=0, max_fs=n_px - 1, min_ss=0, max_ss=n_px - 1, corner_x=-n_px / 2,
                  corner_y=n_px / 2, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=5000.0, adu_per_photon=1.0,
                  max_adu=1e7)
    write_geom(Geometry(panels=[panel], clen_m=0.04, photon_energy_ev=9500.0, source="tiny"), folder / "tiny.geom")
    data = {
        "name": "tiny-board",
        "detector": {"geometry": "tiny.geom", "clen_m": 0.04, "adu_per_photon": 1.0, "max_adu": 1e7,
                     "read_noise_adu": 0.3, "dead_fraction": 0.0, "hot_fraction": 0.0, "bad_asics": 0,
                     "beamstop_radius_mm": 1.0, "beamstop_arm_width_mm": 0.0},
        "beam": {"photon_energy_ev": 9500.0, "bandwidth": 1e-3, "pulse_energy_jitter": 0.0},
        "crystal": {"cell": TINY_CELL, "space_group": "P 21 21 21", "intensities": "wilson", "b_factor": 10.0},
        "crystals": {"spot_photons": 3000.0, "size_um": {"median": 5.0, "sigma_log": 0.0},
                     "profile_radius": {"median": 0.001, "sigma_log": 0.0},
                     "fluence": {"median": 1.0, "sigma_log": 0.6}, "eta": 0.3},
        "run": {"n_frames": 100, "hit_fraction": 0.7, "multi_lattice_fraction": 0.0},
        "background": {"water_photons": 1.0, "diffuse_photons": 0.2, "air_photons": 0.0, "jitter_sigma_log": 0.0},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def make_tiny_board(folder: str | os.PathLike, n_frames: int = 8, seed: int = 3) -> Path:
    """A leaderboard folder with one simulated benchmark `tiny/1/test` (checksum pinned)."""
    from peaknet_bench.leaderboard.benchmarks import Benchmark, compute_sha256

    board = Path(folder)
    (board / "submissions").mkdir(parents=True, exist_ok=True)
    write_tiny_experiment(board / "experiments")
    bench = {"name": "tiny", "version": "1", "split": "test", "source": "simulated",
             "experiment": "experiments/tiny.yaml", "seed": seed, "start": 0, "n_frames": n_frames,
             "description": "tiny test benchmark", "sha256": "0" * 64}
    bench["sha256"] = compute_sha256(Benchmark.model_validate(bench), board)
    (board / "benchmarks.yaml").write_text(yaml.safe_dump({"benchmarks": [bench]}, sort_keys=False))
    return board
