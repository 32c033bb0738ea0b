"""Reflection prediction on stills (SPEC-physics §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peaknet_bench.crystal import (
    DEFAULT_MIN_PARTIALITY,
    Crystal,
    PredictionConfig,
    UnitCell,
    ewald_reflections,
    predict_reflections,
    random_rotation,
)
from peaknet_bench.geometry import preset

WAVELENGTH = 12398.42 / 9500.0
LYSO = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 43 21 2")


def brute_force(crystal: Crystal, wavelength: float, d_min: float, config: PredictionConfig) -> set[tuple[int, int, int]]:
    """Every lattice point in the resolution sphere, partiality computed directly."""
    lim = np.floor(np.linalg.norm(crystal.real_basis(), axis=1) / d_min).astype(int)
    grids = np.meshgrid(*[np.arange(-m, m + 1) for m in lim], indexing="ij")
    hkl = np.stack([g.ravel() for g in grids], axis=1)
    q = hkl @ crystal.astar
    k = 1.0 / wavelength
    ray = q + [0, 0, k]
    length = np.linalg.norm(ray, axis=1)
    e = k - length
    sigma_b = (1 - ray[:, 2] / length) * config.bandwidth * k
    p = np.exp(-0.5 * e**2 / (config.profile_radius**2 + sigma_b**2))
    keep = (np.linalg.norm(q, axis=1) <= 1 / d_min) & (p >= config.min_partiality) & ~crystal.cell.is_absent(hkl)
    return set(map(tuple, hkl[keep]))


@pytest.mark.parametrize("cell", [LYSO, UnitCell(31.0, 42.0, 55.0, 82.0, 101.0, 95.0), UnitCell(60, 60, 60, 90, 90, 90, "cubic", "F")])
@pytest.mark.parametrize("seed", [0, 1])
def test_ewald_enumeration_is_exact(cell, seed):
    crystal = Crystal.from_cell(cell, random_rotation(np.random.default_rng(seed)))
    config = PredictionConfig(profile_radius=0.002, bandwidth=2e-3)
    found = ewald_reflections(crystal.astar, WAVELENGTH, 2.0, config, cell=cell)
    assert set(map(tuple, found.hkl)) == brute_force(crystal, WAVELENGTH, 2.0, config)
    assert len(found) > 50
    np.testing.assert_allclose(found.q, found.hkl @ crystal.astar)
    assert np.all(found.partiality >= DEFAULT_MIN_PARTIALITY)


def test_predicted_positions_lie_on_the_ray():
    geometry = preset("epix10k2m")
    crystal = Crystal.from_cell(LYSO, random_rotation(np.random.default_rng(5)))
    peaks = predict_reflections(crystal, geometry, WAVELENGTH)
    assert len(peaks) > 100
    # Gaps dropped: every spot sits inside the panel it was assigned to.
    np.testing.assert_array_equal(geometry.panel_of(peaks.fs, peaks.ss), peaks.panel)
    assert np.all(peaks.intensity == 0)
    # The detector position maps back to the direction of q_hkl + k0.
    k = 1 / WAVELENGTH
    ray = peaks.hkl @ crystal.astar + [0, 0, k]
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    q_det = geometry.q_vectors(peaks.fs, peaks.ss, WAVELENGTH, peaks.panel) + [0, 0, k]
    q_det /= np.linalg.norm(q_det, axis=1, keepdims=True)
    assert np.abs(ray - q_det).max() < 1e-9
    # Screw-axis absences of P 43 21 2 never appear.
    assert not np.any(LYSO.is_absent(peaks.hkl))


def test_resolution_limit_and_partiality_knobs():
    geometry = preset("epix10k2m")
    crystal = Crystal.from_cell(LYSO, random_rotation(np.random.default_rng(2)))
    full = predict_reflections(crystal, geometry, WAVELENGTH, config=PredictionConfig())
    limited = predict_reflections(crystal, geometry, WAVELENGTH, config=PredictionConfig(d_min_a=3.0))
    assert 0 < len(limited) < len(full)
    d = 1 / np.linalg.norm(limited.hkl @ crystal.astar, axis=1)
    assert d.min() >= 3.0
    wide = predict_reflections(crystal, geometry, WAVELENGTH, config=PredictionConfig(profile_radius=0.003))
    assert len(wide) > 1.5 * len(full)
    # partiality follows the Gaussian model: one reflection checked by hand
    q = full.hkl[0] @ crystal.astar
    k = 1 / WAVELENGTH
    e = k - np.linalg.norm(q + [0, 0, k])
    two_theta_cos = (q[2] + k) / np.linalg.norm(q + [0, 0, k])
    sb = (1 - two_theta_cos) * 1e-3 * k
    assert math.isclose(full.partiality[0], math.exp(-0.5 * e * e / (0.001**2 + sb**2)), rel_tol=1e-9)


def test_camera_length_moves_spots_outwards():
    geometry = preset("rayonix-mx340-4x4")
    crystal = Crystal.from_cell(LYSO, random_rotation(np.random.default_rng(4)))
    cfg = PredictionConfig(d_min_a=4.0)
    near = predict_reflections(crystal, geometry, WAVELENGTH, clen_m=0.1, config=cfg)
    far = predict_reflections(crystal, geometry, WAVELENGTH, clen_m=0.2, config=cfg)
    common = set(map(tuple, near.hkl)) & set(map(tuple, far.hkl))
    assert len(common) > 20
    centre = np.array([959.5, 959.5])
    rn = {tuple(h): np.hypot(*(p - centre)) for h, p in zip(near.hkl, near.positions())}
    rf = {tuple(h): np.hypot(*(p - centre)) for h, p in zip(far.hkl, far.positions())}
    ratios = np.array([rf[h] / rn[h] for h in common])
    assert np.all(ratios > 1.9) and np.all(ratios < 2.1)  # tan(2θ) geometry: distance doubles


def test_nothing_to_predict():
    geometry = preset("rayonix-mx340-4x4")
    crystal = Crystal.from_cell(LYSO, np.eye(3))
    peaks = predict_reflections(crystal, geometry, WAVELENGTH, config=PredictionConfig(d_min_a=100.0))
    assert len(peaks) == 0 and peaks.hkl.shape == (0, 3)
