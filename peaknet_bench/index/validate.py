"""Comparing lattices: the integer-matrix test of SPEC-physics §7.

Two real-space bases (rows a, b, c) describe the same lattice when M = A_found · A_true⁻¹ is
an integer matrix with |det M| = 1; this absorbs lattice symmetry and indexing ambiguity.
The remaining misorientation is measured after bringing A_found into the true setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaknet_bench.crystal.orientation import rotation_angle_deg
from peaknet_bench.util import detmath as dm


@dataclass
class LatticeMatch:
    """Outcome of comparing a found basis with a reference basis."""

    matrix: np.ndarray  # M rounded to integers
    max_deviation: float  # max |M − round(M)|
    determinant: int
    misorientation_deg: float  # after bringing the found basis into the reference setting

    def is_match(self, integer_tol: float = 0.1, max_misorientation_deg: float = 0.5) -> bool:
        return (
            self.max_deviation <= integer_tol
            and abs(self.determinant) == 1
            and self.misorientation_deg <= max_misorientation_deg
        )


def rotation_of(matrix: np.ndarray) -> np.ndarray:
    """Closest orthogonal matrix to a 3×3 matrix (its polar factor), by Newton's iteration
    X ← (X + X⁻ᵀ)/2: elementwise arithmetic only (no LAPACK SVD), so the misorientation
    that decides "correct orientation" is the same number on every CPU."""
    x = np.asarray(matrix, dtype=np.float64)
    for _ in range(60):
        nxt = 0.5 * (x + dm.inv3(x).T)
        if np.array_equal(nxt, x) or np.abs(nxt - x).max() <= 1e-15:
            return nxt
        x = nxt
    return x


def compare_lattices(found_real: np.ndarray, true_real: np.ndarray) -> LatticeMatch:
    """Integer-matrix comparison of two real-space bases (rows a, b, c, Å, lab frame)."""
    found_real = np.asarray(found_real, dtype=np.float64)
    true_real = np.asarray(true_real, dtype=np.float64)
    m = dm.matmul(found_real, dm.inv3(true_real))
    mi = np.rint(m)
    dev = float(np.abs(m - mi).max())
    det = int(round(float(dm.det3(mi))))
    if abs(det) != 1:
        return LatticeMatch(mi.astype(int), dev, det, 180.0)
    # M⁻¹ brings the found basis into the true setting whatever its handedness (det M = −1 means
    # the found basis is a left-handed choice of the same lattice, e.g. a, b, −c).
    setting = dm.matmul(dm.inv3(mi), found_real)
    # setting ≈ true_real @ Rᵀ (rows rotated by R): the rotation part of true⁻¹·setting.
    r = rotation_of(dm.matmul(dm.inv3(true_real), setting))
    return LatticeMatch(mi.astype(int), dev, det, rotation_angle_deg(r))
