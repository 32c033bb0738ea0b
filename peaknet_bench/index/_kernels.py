"""Numba kernels of the built-in indexer's two scans (fused loops, no (dirs × peaks) temporaries).

No fast-math: an FMA-contracted index can land on the other side of the tolerance, and the
counts decide which lattice is kept; only integer counts are reduced, so the loops still
vectorise.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def axis_scores(
    directions: np.ndarray, qx: np.ndarray, qy: np.ndarray, qz: np.ndarray, length: float, tol: float
) -> np.ndarray:
    """Per direction u: number of peaks with |L·(q·u) − nearest integer| < tol.

    q comes as three contiguous component arrays (float32) so the inner loop vectorises.
    """
    n_dir = directions.shape[0]
    n = qx.shape[0]
    out = np.zeros(n_dir, np.int32)
    for d in range(n_dir):
        ux = directions[d, 0] * length
        uy = directions[d, 1] * length
        uz = directions[d, 2] * length
        count = 0
        for i in range(n):
            x = ux * qx[i] + uy * qy[i] + uz * qz[i]
            count += abs(x - np.rint(x)) < tol
        out[d] = count
    return out


@njit(cache=True)
def spin_scores(
    frac: np.ndarray, slack: np.ndarray, cos_phi: np.ndarray, sin_phi: np.ndarray, tol: float
) -> np.ndarray:
    """Score every (candidate, spin angle): peaks whose three fractional indices are near integers.

    frac[c, m, t, i] holds the three terms (fixed, ×cos φ, ×sin φ) of fractional index m of
    peak i for candidate c; slack[c, m, t, i] the same for the extra tolerance that a bounded
    excitation error allows (|n̂·axis_m| · e_max). hkl = 000 is never counted.
    """
    n_c = frac.shape[0]
    n = frac.shape[3]
    n_phi = cos_phi.shape[0]
    out = np.zeros((n_c, n_phi), np.int32)
    for c in range(n_c):
        for p in range(n_phi):
            cp = cos_phi[p]
            sp = sin_phi[p]
            count = 0
            for i in range(n):
                ok = True
                nonzero = False
                for m in range(3):
                    f = frac[c, m, 0, i] + cp * frac[c, m, 1, i] + sp * frac[c, m, 2, i]
                    r = f - np.rint(f)
                    s = slack[c, m, 0, i] + cp * slack[c, m, 1, i] + sp * slack[c, m, 2, i]
                    if abs(r) >= tol + abs(s):
                        ok = False
                        break
                    if abs(f) >= 0.5:
                        nonzero = True
                if ok and nonzero:
                    count += 1
            out[c, p] = count
    return out
