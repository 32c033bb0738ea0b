"""Compiled kernels of the fast pseudo-Voigt fitter (see engine/profile.py for the model).

Parameter order: A, η, cy, cx, σy, σx, γy, γx, a, b, c. One window = flat row-major arrays
of S×S pixels (data, weights); `off` holds the S pixel offsets from the window centre
(−S//2 … S//2), the same along y (rows) and x (columns).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from peaknet_bench.util.detmath import cholesky_solve

NP = 11
# No fast-math: reassociation, FMA contraction and approximate reciprocals make the sums
# depend on the host's SIMD width, and the fitted parameters (and so the labels) of a
# dataset must be the same bits on every CPU (util/detmath.py).
_FM = False


@njit(cache=True, inline="always")
def _dot(a, b, n):
    """Σ a[k]·b[k] over k < n with eight interleaved partial sums in a fixed order: the same
    bits on every CPU, and still vectorisable (across the eight sums) without fast-math."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = n - n % 8
    for k in range(0, m, 8):
        s0 += a[k] * b[k]
        s1 += a[k + 1] * b[k + 1]
        s2 += a[k + 2] * b[k + 2]
        s3 += a[k + 3] * b[k + 3]
        s4 += a[k + 4] * b[k + 4]
        s5 += a[k + 5] * b[k + 5]
        s6 += a[k + 6] * b[k + 6]
        s7 += a[k + 7] * b[k + 7]
    for k in range(m, n):
        s0 += a[k] * b[k]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True, fastmath=_FM)
def _axes(p, off, ey, ex, ly, lx):
    """Separable factors on the window axes: G = ey[a]·ex[b], L = 1/(1 + ly[a] + lx[b]).

    One exp per row and column instead of one per pixel.
    """
    for a in range(off.size):
        Y = off[a] - p[2]
        ey[a] = np.exp(-0.5 * Y * Y / (p[4] * p[4]))
        ly[a] = Y * Y / (p[6] * p[6])
        X = off[a] - p[3]
        ex[a] = np.exp(-0.5 * X * X / (p[5] * p[5]))
        lx[a] = X * X / (p[7] * p[7])


@njit(cache=True, fastmath=_FM)
def _cost(p, d, w, off, ey, ex, ly, lx):
    """½ Σ (w (f − d))² on the window grid."""
    _axes(p, off, ey, ex, ly, lx)
    s = off.size
    A, eta = p[0], p[1]
    cost = 0.0
    for a in range(s):
        for b in range(s):
            k = a * s + b
            L = 1.0 / (1.0 + ly[a] + lx[b])
            f = A * (eta * L + (1.0 - eta) * ey[a] * ex[b]) + p[8] * off[a] + p[9] * off[b] + p[10]
            rk = w[k] * (f - d[k])
            cost += rk * rk
    return 0.5 * cost


@njit(cache=True, fastmath=_FM)
def _residual_jacobian(p, d, w, off, r, J, ey, ex, ly, lx):
    """Weighted residuals r = w (f − d) and weighted Jacobian J (11, S·S: one contiguous row
    per parameter, so the normal-equation dot products vectorise) on the grid; returns ½ Σ r²."""
    _axes(p, off, ey, ex, ly, lx)
    s = off.size
    A, eta = p[0], p[1]
    isy2, isx2 = 1.0 / (p[4] * p[4]), 1.0 / (p[5] * p[5])
    igy2, igx2 = 1.0 / (p[6] * p[6]), 1.0 / (p[7] * p[7])
    for a in range(s):
        Y = off[a] - p[2]
        for b in range(s):
            k = a * s + b
            X = off[b] - p[3]
            wk = w[k]
            G = ey[a] * ex[b]
            L = 1.0 / (1.0 + ly[a] + lx[b])
            P = eta * L + (1.0 - eta) * G
            AG = A * (1.0 - eta) * G
            AL2 = A * eta * L * L
            J[0, k] = wk * P
            J[1, k] = wk * A * (L - G)
            J[2, k] = wk * (AL2 * 2.0 * Y * igy2 + AG * Y * isy2)
            J[3, k] = wk * (AL2 * 2.0 * X * igx2 + AG * X * isx2)
            J[4, k] = wk * AG * Y * Y * isy2 / p[4]
            J[5, k] = wk * AG * X * X * isx2 / p[5]
            J[6, k] = wk * AL2 * 2.0 * Y * Y * igy2 / p[6]
            J[7, k] = wk * AL2 * 2.0 * X * X * igx2 / p[7]
            J[8, k] = wk * off[a]
            J[9, k] = wk * off[b]
            J[10, k] = wk
            f = A * P + p[8] * off[a] + p[9] * off[b] + p[10]
            r[k] = wk * (f - d[k])
    return 0.5 * _dot(r, r, s * s)


@njit(cache=True, fastmath=_FM)
def lm_one(d, w, p, lo, hi, off, max_iter, ftol, xtol):
    """Bounded Levenberg–Marquardt for one window, in place on p. Returns (iterations, converged).

    Damping: Marquardt scaling by diag(JᵀJ) (floored), Nielsen's update of λ. Bounds: the
    step is projected onto the box; a parameter at a bound whose gradient points outward
    is held fixed for the step (active set), so a bounded optimum is reached exactly; a
    parameter with lo == hi is held throughout (how the staged protocol fixes η).
    """
    npix = d.size
    J = np.empty((NP, npix))
    r = np.empty(npix)
    js = np.empty(npix)
    JtJ = np.empty((NP, NP))
    M = np.empty((NP, NP))
    g = np.empty(NP)
    rhs = np.empty(NP)
    step = np.empty(NP)
    p_new = np.empty(NP)
    fixed = np.zeros(NP, np.bool_)
    ey, ex, ly, lx = np.empty(off.size), np.empty(off.size), np.empty(off.size), np.empty(off.size)
    cost = _residual_jacobian(p, d, w, off, r, J, ey, ex, ly, lx)
    lam, nu = 1e-3, 2.0
    need_normal = True
    for it in range(1, max_iter + 1):
        if need_normal:
            for i in range(NP):
                g[i] = _dot(J[i], r, npix)
                for j in range(i, NP):
                    JtJ[i, j] = _dot(J[i], J[j], npix)
            dmax = 0.0
            for i in range(NP):
                dmax = max(dmax, JtJ[i, i])
                for j in range(i + 1, NP):
                    JtJ[j, i] = JtJ[i, j]
            for i in range(NP):
                fixed[i] = (lo[i] == hi[i]) or (p[i] <= lo[i] + 1e-12 and g[i] > 0.0) or (
                    p[i] >= hi[i] - 1e-12 and g[i] < 0.0)
            need_normal = False
        for i in range(NP):
            for j in range(NP):
                M[i, j] = 0.0 if (fixed[i] or fixed[j]) else JtJ[i, j]
            if fixed[i]:
                M[i, i] = 1.0
                rhs[i] = 0.0
            else:
                M[i, i] += lam * max(JtJ[i, i], 1e-9 * dmax + 1e-300)
                rhs[i] = -g[i]
        if not cholesky_solve(M, rhs, step):
            lam *= nu
            nu *= 2.0
            if lam > 1e16:
                return it, False
            continue
        rel = 0.0
        for i in range(NP):
            v = min(max(p[i] + step[i], lo[i]), hi[i])
            step[i] = v - p[i]
            p_new[i] = v
            rel = max(rel, abs(step[i]) / (abs(p[i]) + 1e-6))
        # Actual and predicted (linear model) cost reduction of the projected step.
        cost_new = _cost(p_new, d, w, off, ey, ex, ly, lx)
        for k in range(npix):
            js[k] = 0.0
        for i in range(NP):
            si = step[i]
            for k in range(npix):
                js[k] += J[i, k] * si
        pred_lin = _dot(js, js, npix)
        gs = 0.0
        for i in range(NP):
            gs += g[i] * step[i]
        pred = -(gs + 0.5 * pred_lin)
        actual = cost - cost_new
        rho = actual / pred if pred > 0.0 else -1.0
        if rho > 0.0 and np.isfinite(cost_new):
            for i in range(NP):
                p[i] = p_new[i]
            cost = _residual_jacobian(p, d, w, off, r, J, ey, ex, ly, lx)
            need_normal = True
            lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            lam = max(lam, 1e-12)
            nu = 2.0
            if (actual <= ftol * cost and rel <= np.sqrt(xtol)) or rel <= xtol:
                return it, True
        else:
            if rel <= xtol:
                return it, True
            lam *= nu
            nu *= 2.0
            if lam > 1e16:
                return it, True  # no descent direction left: a (bounded) stationary point
    return max_iter, False


@njit(cache=True, parallel=True)
def lm_batch(d, w, p, lo, hi, off, max_iter, ftol, xtol):
    """lm_one over every row (parallel threads). Returns (params, iterations, converged)."""
    n = d.shape[0]
    out = p.copy()
    iters = np.zeros(n, np.int64)
    conv = np.zeros(n, np.bool_)
    for i in prange(n):
        it, ok = lm_one(d[i], w[i], out[i], lo, hi, off, max_iter, ftol, xtol)
        iters[i] = it
        conv[i] = ok
    return out, iters, conv


@njit(cache=True)
def model_jacobian_batch(p, off):
    """Model (N, S·S) and Jacobian (N, S·S, 11) from the fitter's own kernel (unit weights,
    zero data), so tests check exactly what the fitter uses."""
    n, npix = p.shape[0], off.size * off.size
    f = np.empty((n, npix))
    J = np.empty((n, npix, NP))
    ones, zeros = np.ones(npix), np.zeros(npix)
    Ji = np.empty((NP, npix))
    ey, ex, ly, lx = np.empty(off.size), np.empty(off.size), np.empty(off.size), np.empty(off.size)
    for i in range(n):
        _residual_jacobian(p[i], zeros, ones, off, f[i], Ji, ey, ex, ly, lx)
        J[i] = Ji.T
    return f, J


@njit(cache=True, parallel=True)
def inverse_normal_diag_batch(p, d, w, off):
    """Per row: diag((JᵀWJ)⁻¹) at p (inf where JᵀWJ is singular: a parameter the data do not
    determine) and Σ (w (f − d))². Parameter standard errors are √(diag · χ²_red)."""
    n, npix = p.shape[0], off.size * off.size
    diag = np.empty((n, NP))
    ssr = np.empty(n)
    for i in prange(n):
        J = np.empty((NP, npix))
        r = np.empty(npix)
        ey, ex, ly, lx = np.empty(off.size), np.empty(off.size), np.empty(off.size), np.empty(off.size)
        ssr[i] = 2.0 * _residual_jacobian(p[i], d[i], w[i], off, r, J, ey, ex, ly, lx)
        JtJ = np.empty((NP, NP))
        for a in range(NP):
            for b in range(a, NP):
                t = 0.0
                for k in range(npix):
                    t += J[a, k] * J[b, k]
                JtJ[a, b] = t
                JtJ[b, a] = t
        M = np.empty((NP, NP))
        e = np.zeros(NP)
        x = np.empty(NP)
        for j in range(NP):
            M[:, :] = JtJ
            e[j] = 1.0
            diag[i, j] = x[j] if cholesky_solve(M, e, x) else np.inf
            e[j] = 0.0
    return diag, ssr
