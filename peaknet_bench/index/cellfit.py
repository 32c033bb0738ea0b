"""Cell refinement under the lattice's symmetry, jointly with the orientation.

A refined cell that breaks its lattice symmetry (a tetragonal cell with a ≠ b, a hexagonal one
with γ = 120.3°) is not a measurement of the crystal: only the parameters the lattice type
leaves free may move — cubic a; tetragonal and hexagonal a, c; rhombohedral a, α;
orthorhombic a, b, c; monoclinic a, b, c and the angle about the unique axis; triclinic all
six. A* = B(p) · Uᵀ (rows a*, b*, c* in the lab), with p the free parameters and U a proper
rotation; Gauss–Newton steps update a small rotation and p together, each peak weighted
tightly across its ray and loosely along it (a still measures a reflection's direction, not
its excitation error), with Huber weights against outliers and a Gaussian prior that keeps
parameters one still barely constrains near the target.

The normal equations are accumulated and solved by compiled loops in a fixed order (no BLAS,
no LAPACK, no fast-math), so the same peaks give the same bits on every CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from peaknet_bench.crystal import UnitCell
from peaknet_bench.util import detmath as dm
from peaknet_bench.util.detmath import cholesky_solve

_AXES = {"a": 0, "b": 1, "c": 2}


class CellModel:
    """The free parameters of a target cell's lattice type and how they map onto (a, b, c, α, β, γ).

    `groups[j]` lists the indices (0-5 of a, b, c, α, β, γ) that free parameter j sets; every
    other parameter keeps the target's value.
    """

    def __init__(self, cell: UnitCell) -> None:
        self.cell = cell
        lt = cell.lattice_type
        default_axis = "b" if lt == "monoclinic" else "c"
        u = _AXES.get(cell.unique_axis, _AXES[default_axis])
        pair = [i for i in range(3) if i != u]
        if lt == "cubic":
            groups = [(0, 1, 2)]
        elif lt in ("tetragonal", "hexagonal"):
            groups = [tuple(pair), (u,)]
        elif lt == "rhombohedral":
            groups = [(0, 1, 2), (3, 4, 5)]
        elif lt == "orthorhombic":
            groups = [(0,), (1,), (2,)]
        elif lt == "monoclinic":
            groups = [(0,), (1,), (2,), (3 + u,)]
        else:
            groups = [(0,), (1,), (2,), (3,), (4,), (5,)]
        self.groups: list[tuple[int, ...]] = groups
        self.target = np.array(cell.parameters, np.float64)
        self.free0 = np.array([self.target[g[0]] for g in groups])
        self.is_angle = np.array([g[0] >= 3 for g in groups])

    @property
    def n_free(self) -> int:
        return len(self.groups)

    def parameters(self, free: np.ndarray) -> np.ndarray:
        """(a, b, c, α, β, γ) for free parameter values `free`."""
        out = self.target.copy()
        for value, group in zip(free, self.groups):
            out[list(group)] = value
        return out

    def free_of(self, params: np.ndarray) -> np.ndarray:
        """Free parameters of a full parameter set (the mean over each tied group)."""
        p = np.asarray(params, np.float64)
        return np.array([p[list(g)].mean() for g in self.groups])

    def reciprocal(self, free: np.ndarray) -> np.ndarray:
        """(3, 3) rows a*, b*, c* (Å⁻¹) of the cell in CrystFEL's standard setting."""
        return _reciprocal_basis(self.parameters(free))

    def reciprocal_derivatives(self, free: np.ndarray) -> np.ndarray:
        """(k, 3, 3) ∂B/∂p_j by central differences (lengths: 1e-6 relative, angles: 1e-6°)."""
        out = np.empty((self.n_free, 3, 3))
        for j in range(self.n_free):
            h = 1e-6 * (1.0 if self.is_angle[j] else free[j])
            up, down = free.copy(), free.copy()
            up[j] += h
            down[j] -= h
            out[j] = (self.reciprocal(up) - self.reciprocal(down)) / (2.0 * h)
        return out

    def prior_sigma(self, length_rel: float, angle_deg: float) -> np.ndarray:
        """Prior σ of each free parameter: relative for lengths, absolute for angles."""
        return np.where(self.is_angle, angle_deg, length_rel * self.free0)


def _reciprocal_basis(p: np.ndarray) -> np.ndarray:
    """Rows a*, b*, c* of a cell in CrystFEL's standard setting (a along x, b in the xy plane).

    The real basis L is lower triangular there, so A* = (L⁻¹)ᵀ has a closed form; scalar
    IEEE operations and libm only (the same bits on every CPU, and fast for 3 × 3).
    """
    a, b, c = (float(x) for x in p[:3])
    al, be, ga = (math.radians(float(x)) for x in p[3:])
    ca, cb, cg, sg = math.cos(al), math.cos(be), math.cos(ga), math.sin(ga)
    l21, l22 = b * cg, b * sg
    l31 = c * cb
    l32 = c * (ca - cb * cg) / sg
    l33 = math.sqrt(max(c * c - l31 * l31 - l32 * l32, 0.0))
    i11, i22, i33 = 1.0 / a, 1.0 / l22, 1.0 / l33
    i21 = -l21 * i11 * i22
    i32 = -l32 * i22 * i33
    i31 = (l21 * l32 - l22 * l31) * i11 * i22 * i33
    return np.array([[i11, i21, i31], [0.0, i22, i32], [0.0, 0.0, i33]])


def orientation_of(astar: np.ndarray, recip: np.ndarray) -> np.ndarray:
    """Proper rotation U with astar ≈ recip · Uᵀ (the polar part of (recip⁻¹ · astar)ᵀ)."""
    m = dm.matmul(dm.inv3(recip), astar).T
    return dm.nearest_rotation(m)


@njit(cache=True)
def _normal_equations(p, dp, ray, resid, weight, a_w, b_w):  # b_w: (n,) per peak  # pragma: no cover - compiled
    """Σ Jᵀ W J and Σ Jᵀ W r over peaks, in input order.

    Per peak: J = [−[p]× | ∂p/∂free] (3 × (3 + k)), W = w · (a I + b n nᵀ); p the predicted
    q, n the peak's ray, r the observed minus predicted q.
    """
    n, k = dp.shape[0], dp.shape[1]
    m = 3 + k
    big = np.zeros((m, m))
    rhs = np.zeros(m)
    jac = np.zeros((3, m))
    wj = np.zeros((3, m))
    for i in range(n):
        px, py, pz = p[i, 0], p[i, 1], p[i, 2]
        # ω × p = −[p]× ω: columns of −[p]×
        jac[0, 0] = 0.0
        jac[0, 1] = pz
        jac[0, 2] = -py
        jac[1, 0] = -pz
        jac[1, 1] = 0.0
        jac[1, 2] = px
        jac[2, 0] = py
        jac[2, 1] = -px
        jac[2, 2] = 0.0
        for j in range(k):
            for x in range(3):
                jac[x, 3 + j] = dp[i, j, x]
        nx, ny, nz = ray[i, 0], ray[i, 1], ray[i, 2]
        w = weight[i]
        bw = b_w[i]
        for c in range(m):
            proj = nx * jac[0, c] + ny * jac[1, c] + nz * jac[2, c]
            wj[0, c] = w * (a_w * jac[0, c] + bw * nx * proj)
            wj[1, c] = w * (a_w * jac[1, c] + bw * ny * proj)
            wj[2, c] = w * (a_w * jac[2, c] + bw * nz * proj)
        for r in range(m):
            rhs[r] += wj[0, r] * resid[i, 0] + wj[1, r] * resid[i, 1] + wj[2, r] * resid[i, 2]
            for c in range(r, m):
                big[r, c] += wj[0, r] * jac[0, c] + wj[1, r] * jac[1, c] + wj[2, r] * jac[2, c]
    for r in range(m):
        for c in range(r):
            big[r, c] = big[c, r]
    return big, rhs


@njit(cache=True)
def _solve_spd(big, rhs):  # pragma: no cover - compiled
    """Solve a symmetric positive-definite system (detmath's fixed-order Cholesky); NaNs if not SPD."""
    x = np.empty(rhs.size)
    if not cholesky_solve(big.copy(), rhs, x):
        return np.full(rhs.size, np.nan)
    return x


def _dot3(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (n, 3) arrays in a fixed order (elementwise IEEE operations)."""
    return x[:, 0] * y[:, 0] + x[:, 1] * y[:, 1] + x[:, 2] * y[:, 2]


def _small_rotation(omega: np.ndarray) -> np.ndarray:
    """Rotation by |ω| about ω (Rodrigues, from correctly rounded operations and libm)."""
    angle = math.sqrt(float(omega[0] * omega[0] + omega[1] * omega[1] + omega[2] * omega[2]))
    if angle < 1e-15:
        return np.eye(3)
    k = omega / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * dm.matmul(kx, kx)


def refine_cell_and_orientation(
    model: CellModel, free: np.ndarray, rot: np.ndarray, hkl: np.ndarray, q: np.ndarray, ray: np.ndarray, *,
    position_sigma: float, excitation_sigma: float | np.ndarray, prior_sigma: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
    prior_centre: np.ndarray | None = None,
    huber: float = 2.0, n_iter: int = 4, fit_cell: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Newton on (rotation, free cell parameters) for fixed hkl; returns (free, U).

    `excitation_sigma` is the along-ray σ, one value or one per peak.

    `prior_sigma` pulls each free parameter towards `prior_centre` (default: the target,
    model.free0); `bounds` clip it.
    Peaks whose across-ray residual exceeds `huber` × position_sigma get Huber weights.
    """
    a_w = 1.0 / position_sigma**2
    b_w = np.broadcast_to(1.0 / np.asarray(excitation_sigma, np.float64) ** 2 - a_w, (hkl.shape[0],)).copy()
    h = hkl.astype(np.float64)
    free = free.astype(np.float64).copy()
    k = model.n_free if fit_cell else 0
    prior_w = 1.0 / np.asarray(prior_sigma, np.float64) ** 2
    centre = model.free0 if prior_centre is None else np.asarray(prior_centre, np.float64)
    for _ in range(n_iter):
        recip = model.reciprocal(free)
        pred = dm.matmul(h, dm.matmul(recip, rot.T))
        resid = q - pred
        along = _dot3(resid, ray)
        off = resid - along[:, None] * ray
        perp = np.sqrt(_dot3(off, off))
        weight = np.minimum(1.0, huber * position_sigma / np.maximum(perp, 1e-300))
        if k:
            deriv = model.reciprocal_derivatives(free)  # (k, 3, 3)
            dp = np.stack([dm.matmul(h, dm.matmul(deriv[j], rot.T)) for j in range(k)], axis=1)  # (n, k, 3)
        else:
            dp = np.zeros((h.shape[0], 0, 3))
        big, rhs = _normal_equations(pred, dp, ray, resid, weight, a_w, b_w)
        if k:
            big[3:, 3:] += np.diag(prior_w)
            rhs[3:] += prior_w * (centre - free)
        big += np.diag(np.full(big.shape[0], 1e-12 * np.trace(big) / big.shape[0]))
        step = _solve_spd(big, rhs)
        if not np.all(np.isfinite(step)):
            break
        rot = dm.matmul(_small_rotation(step[:3]), rot)
        if k:
            free = np.clip(free + step[3:], bounds[0], bounds[1])
        if float(step[0] ** 2 + step[1] ** 2 + step[2] ** 2) < 1e-16 and (not k or np.all(np.abs(step[3:]) < 1e-7 * np.abs(free))):
            break
    return free, rot
