"""Pieces of the built-in indexer: symmetry-constrained cell model and fit, and the significance test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from peaknet_bench.crystal import UnitCell, axis_angle_matrix, random_rotation
from peaknet_bench.index.cellfit import CellModel, refine_cell_and_orientation
from peaknet_bench.index.significance import chance_probability, min_explained, significance

CELLS = {
    "cubic": (UnitCell(50, 50, 50, 90, 90, 90, "cubic"), 1),
    "tetragonal": (UnitCell(58.6, 58.6, 151.5, 90, 90, 90, "tetragonal", unique_axis="c"), 2),
    "tetragonal unique a": (UnitCell(70, 40, 40, 90, 90, 90, "tetragonal", unique_axis="a"), 2),
    "hexagonal": (UnitCell(92.9, 92.9, 130.4, 90, 90, 120, "hexagonal", unique_axis="c"), 2),
    "rhombohedral": (UnitCell(60, 60, 60, 80, 80, 80, "rhombohedral", centering="R", unique_axis="*"), 2),
    "orthorhombic": (UnitCell(40.07, 70.9, 91.1, 90, 90, 90, "orthorhombic"), 3),
    "monoclinic": (UnitCell(61.2, 38.5, 72.3, 90, 106.5, 90, "monoclinic", unique_axis="b"), 4),
    "triclinic": (UnitCell(30, 40, 50, 80, 95, 105), 6),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_free_parameters_of_each_lattice_type(name):
    cell, n_free = CELLS[name]
    model = CellModel(cell)
    assert model.n_free == n_free
    assert np.allclose(model.reciprocal(model.free0), cell.reciprocal_basis(), atol=1e-15)
    moved = model.parameters(model.free0 * 1.01)
    UnitCell.from_parameters(moved, lattice_type=cell.lattice_type, unique_axis=cell.unique_axis,
                             centering=cell.centering).check_lattice()  # still the same lattice type


@pytest.mark.parametrize("name", ["tetragonal", "hexagonal", "monoclinic"])
def test_joint_fit_recovers_cell_and_orientation(name):
    """Exact reflections of a crystal whose free parameters are 0.8 % off the target and whose
    orientation is 0.3° off the start: the fit lands on both, and the cell stays symmetric."""
    cell, _ = CELLS[name]
    model = CellModel(cell)
    rng = np.random.default_rng(1)
    true_free = model.free0 * np.where(model.is_angle, 1.0, 1.0 + 0.008 * rng.choice([-1, 1], model.n_free))
    true_rot = random_rotation(rng)
    hkl = rng.integers(-12, 13, (300, 3))
    hkl = hkl[np.any(hkl != 0, axis=1)]
    q = hkl @ (model.reciprocal(true_free) @ true_rot.T)
    ray = q + np.array([0.0, 0.0, 1.0])
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    start = axis_angle_matrix(np.array([0.3, -0.5, 0.8]), math.radians(0.3)) @ true_rot
    change = np.where(model.is_angle, 3.0, 0.03 * model.free0)
    free, rot = refine_cell_and_orientation(
        model, model.free0, start, hkl, q, ray, position_sigma=3e-4, excitation_sigma=2e-3,
        prior_sigma=model.prior_sigma(0.02, 1.0), bounds=(model.free0 - change, model.free0 + change), n_iter=8)
    assert np.allclose(free, true_free, rtol=2e-4)
    angle = math.degrees(math.acos(min(1.0, (np.trace(rot.T @ true_rot) - 1) / 2)))
    assert angle < 0.005
    params = model.parameters(free)
    assert params[0] == params[1] or name == "monoclinic"


def test_significance_is_the_binomial_tail():
    for k, n, p in [(5, 50, 0.01), (30, 200, 0.02), (12, 18, 0.01)]:
        assert significance(k, n, p) == pytest.approx(-math.log10(binom.sf(k - 1, n, p)), rel=1e-9)
    assert significance(0, 10, 0.1) == 0.0 and significance(11, 10, 0.1) == math.inf
    # deep tails (beyond double precision) stay finite and ordered
    assert 1000 < significance(900, 1000, 0.01) < significance(950, 1000, 0.01) < math.inf
    k = min_explained(300, 0.01, 20.0)
    assert significance(k, 300, 0.01) >= 20.0 > significance(k - 1, 300, 0.01)
    assert min_explained(5, 0.5, 20.0) == 6  # unreachable: n + 1


def test_chance_probability_scales_with_tolerance_and_volume():
    p = chance_probability(1e-3, 5e-3, 2e5)
    assert p == pytest.approx(-math.expm1(-2 * math.pi * 1e-6 * 5e-3 * 2e5), rel=1e-12)  # Poisson: 1 - exp(-mean)
    assert chance_probability(2e-3, 5e-3, 2e5) > 3.9 * p and chance_probability(1e-3, 5e-3, 4e5) > 1.99 * p
