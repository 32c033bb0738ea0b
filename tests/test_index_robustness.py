"""The built-in indexer under real-world imperfections (issue 17, item 3), on synthetic peak lists:
a detector distance 1 % off, a beam centre 1 px off, a photon energy 0.3 % off (SASE jitter),
and spurious peaks from an ice ring, hot pixels and an ASIC edge. Each case: at least 9 of 10
frames indexed in the true lattice (within 0.5°), none wrong.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from peaknet_bench.crystal import UnitCell
from peaknet_bench.frame import PeakList, wavelength_a
from peaknet_bench.geometry import preset
from peaknet_bench.index import BuiltinIndexer
from synthetic_peaks import SyntheticPeaksConfig, score_results, synthetic_frame

ENERGY = 9500.0
CELL = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 43 21 2")
N_FRAMES = 10


@pytest.fixture(scope="module")
def geometry():
    return preset("epix10k2m")


def _shifted(geometry, dx_px: float):
    """The same detector with every panel moved by dx_px pixels along x (a beam-centre error)."""
    return dataclasses.replace(geometry, panels=[dataclasses.replace(p, corner_x=p.corner_x + dx_px) for p in geometry.panels])


def _ring(geometry, d_a: float, n: int, rng) -> PeakList:
    """n peaks on the powder ring of spacing d_a (ice: 3.67 Å), random azimuths."""
    lam = wavelength_a(ENERGY)
    two_theta = 2.0 * np.arcsin(lam / (2.0 * d_a))
    phi = rng.uniform(0, 2 * np.pi, 4 * n)
    direction = np.stack([np.sin(two_theta) * np.cos(phi), np.sin(two_theta) * np.sin(phi),
                          np.full(phi.size, np.cos(two_theta))], axis=1)
    panel, fs, ss = geometry.ray_to_slab(direction)
    keep = np.nonzero(panel >= 0)[0][:n]
    return PeakList(fs=fs[keep], ss=ss[keep], panel=panel[keep], intensity=np.full(keep.size, 5e3))


def _edge(geometry, n: int) -> PeakList:
    """n peaks along the first row of one panel (an ASIC edge lighting up)."""
    p = geometry.panels[3]
    fs = np.linspace(p.min_fs + 2, p.max_fs - 2, n)
    return PeakList(fs=fs, ss=np.full(n, float(p.min_ss)), panel=np.full(n, 3), intensity=np.full(n, 2e3))


def _hot(geometry, rng) -> PeakList:
    """Five hot pixels at fixed places (the same on every frame)."""
    fixed = np.random.default_rng(99)
    panel = fixed.integers(0, geometry.n_panels, 5)
    fs = np.array([geometry.panels[i].min_fs + 40.0 for i in panel])
    ss = np.array([geometry.panels[i].min_ss + 60.0 for i in panel])
    return PeakList(fs=fs, ss=ss, panel=panel, intensity=np.full(5, 1e5))


CASES = {
    "distance +1 %": dict(clen_scale=1.01),
    "distance -1 %": dict(clen_scale=0.99),
    "beam centre 1 px": dict(shift_px=1.0),
    "photon energy +0.3 %": dict(energy_scale=1.003),
    "ice ring + hot pixels + ASIC edge": dict(spurious=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_imperfect_geometry_and_spurious_peaks(case, geometry):
    opts = CASES[case]
    indexer = BuiltinIndexer(CELL)
    rng = np.random.default_rng(sum(map(ord, case)))
    clen = float(geometry.panel_clen_m()[0])
    told = _shifted(geometry, opts.get("shift_px", 0.0))
    correct = wrong = 0
    for _ in range(N_FRAMES):
        frame = synthetic_frame(CELL, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(40, 100)))
        peaks = frame.peaks
        if opts.get("spurious"):
            peaks = PeakList.concatenate([peaks, _ring(geometry, 3.67, 30, rng), _hot(geometry, rng), _edge(geometry, 15)])
        found = indexer.index(peaks, told, ENERGY * opts.get("energy_scale", 1.0), clen * opts.get("clen_scale", 1.0))
        score = score_results(found, frame, geometry, ENERGY)
        correct += score.correct
        wrong += score.n_wrong
    assert wrong == 0, f"{case}: {wrong} wrong lattices"
    assert correct >= N_FRAMES - 1, f"{case}: {correct} of {N_FRAMES} correct"
