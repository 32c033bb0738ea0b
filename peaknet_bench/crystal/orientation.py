"""Oriented crystals (A* in the lab frame) and rotation utilities."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peaknet_bench.crystal.cell import UnitCell, parameters_of_basis
from peaknet_bench.util import detmath as dm


@dataclass
class Crystal:
    """A crystal on the beam: reciprocal basis rows a*, b*, c* in the lab frame (Å⁻¹).

    Fractional indices of a scattering vector q are A_real @ q, with A_real = (A*)⁻ᵀ.
    """

    astar: np.ndarray
    cell: UnitCell  # the nominal cell: lattice type, centring, space group

    def __post_init__(self) -> None:
        self.astar = np.asarray(self.astar, dtype=np.float64).reshape(3, 3)

    @classmethod
    def from_cell(cls, cell: UnitCell, rotation: np.ndarray) -> "Crystal":
        """The cell's standard-setting reciprocal basis rotated by `rotation` (3×3, proper)."""
        rotation = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
        return cls(astar=dm.matmul(rotation, cell.reciprocal_basis().T).T, cell=cell)

    def real_basis(self) -> np.ndarray:
        """Rows a, b, c in the lab frame (Å)."""
        return dm.inv3(self.astar).T

    def cell_parameters(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c, α, β, γ) of this crystal's actual basis (Å, degrees)."""
        return parameters_of_basis(self.real_basis())

    def fractional_hkl(self, q: np.ndarray) -> np.ndarray:
        """Fractional indices (n, 3) of scattering vectors q (n, 3)."""
        return dm.matmul(q, self.real_basis().T)

    def q_of(self, hkl: np.ndarray) -> np.ndarray:
        """Scattering vectors (n, 3) of Miller indices (n, 3)."""
        return dm.matmul(hkl, self.astar)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    q /= dm.norm(q)
    return quaternion_to_matrix(q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation by `angle_rad` about `axis` (Rodrigues)."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / dm.norm(u)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1 - math.cos(angle_rad)) * dm.matmul(k, k)


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle (degrees) of a rotation matrix, from atan2(2 sin θ, 2 cos θ).

    arccos((tr R − 1)/2) loses half the digits near 0° (a rounding error ε in the trace
    becomes √ε in the angle, ~1e-6° for an exact match); the antisymmetric part carries
    sin θ to full relative precision.
    """
    r = np.asarray(rotation, dtype=np.float64)
    two_sin = math.sqrt((r[2, 1] - r[1, 2]) ** 2 + (r[0, 2] - r[2, 0]) ** 2 + (r[1, 0] - r[0, 1]) ** 2)
    return math.degrees(math.atan2(two_sin, float(r[0, 0] + r[1, 1] + r[2, 2]) - 1.0))
