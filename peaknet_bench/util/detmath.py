"""CPU-independent arithmetic for everything that ends up in a dataset or a benchmark result.

NumPy picks SIMD kernels for transcendental functions at run time (AVX-512, AVX2 or
baseline, which differ in the last bits), and products of matrices go through BLAS, whose
kernels (and their summation order and FMA use) depend on the CPU. A one-ULP difference
is enough to flip a profile fit's convergence or a threshold, so a dataset rebuilt on
another CPU would not reproduce its checksums. The functions here avoid every
CPU-dependent kernel by construction:

* sums and products are written as elementwise IEEE operations in a fixed order (NumPy's
  elementwise add/multiply/divide/sqrt are correctly rounded on every SIMD path and never
  fused into FMAs);
* transcendental functions call the C library's scalar ``exp``/``log``/... for each
  element, from a compiled loop that is never vectorised (no fast-math, no vector math
  library): the same code on every x86-64 CPU with FMA (glibc selects its FMA variants on
  every such CPU: Intel since Haswell, AMD since Zen).

Use them on the data path (simulator truth, reflection prediction, profile fits, labels);
plain NumPy is fine where a result is only displayed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize

_UNARY = ["float64(float64)"]
_BINARY = ["float64(float64, float64)"]


@vectorize(_UNARY, cache=True)
def exp(x):  # pragma: no cover - compiled
    return math.exp(x)


@vectorize(_UNARY, cache=True)
def log(x):  # pragma: no cover - compiled
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@vectorize(_UNARY, cache=True)
def sin(x):  # pragma: no cover - compiled
    return math.sin(x)


@vectorize(_UNARY, cache=True)
def cos(x):  # pragma: no cover - compiled
    return math.cos(x)


@vectorize(_UNARY, cache=True)
def arccos(x):  # pragma: no cover - compiled
    return math.acos(x) if -1.0 <= x <= 1.0 else math.nan


@vectorize(_BINARY, cache=True)
def arctan2(y, x):  # pragma: no cover - compiled
    return math.atan2(y, x)


def hypot(x, y):
    """sqrt(x² + y²) from correctly rounded operations (no libm hypot variants)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return np.sqrt(x * x + y * y)


def dot(a, b, axis: int = -1) -> np.ndarray:
    """Σ a·b along `axis`, summed left to right (no BLAS, no pairwise reordering)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    total = a[0] * b[0]
    for i in range(1, a.shape[0]):
        total = total + a[i] * b[i]
    return total


def norm(x, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """Euclidean norm along `axis` (left-to-right sum of squares)."""
    n = np.sqrt(dot(x, x, axis))
    return np.expand_dims(n, axis) if keepdims else n


def matmul(a, b) -> np.ndarray:
    """a @ b for a short inner dimension (3 × 3 bases, (n, 3) vectors), without BLAS.

    Shapes follow np.matmul for 2-D operands and batches; a 1-D `a` or `b` is a row or a
    column vector as in np.matmul.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = a[None, :]
    if b_vec:
        b = b[:, None]
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    out = a[..., :, 0:1] * b[..., 0:1, :]
    for k in range(1, a.shape[-1]):
        out = out + a[..., :, k : k + 1] * b[..., k : k + 1, :]
    if a_vec:
        out = out[..., 0, :]
    if b_vec:
        out = out[..., 0]
    return out


def det3(m) -> np.ndarray:
    """Determinant of (…, 3, 3) matrices (rule of Sarrus, fixed order)."""
    m = np.asarray(m, np.float64)
    return dot(m[..., 0, :], np.cross(m[..., 1, :], m[..., 2, :]))


def inv3(m) -> np.ndarray:
    """Inverse of (…, 3, 3) matrices from the adjugate (no LAPACK)."""
    m = np.asarray(m, np.float64)
    r0, r1, r2 = m[..., 0, :], m[..., 1, :], m[..., 2, :]
    # Columns of the inverse are the cross products of pairs of rows over the determinant.
    cols = np.stack([np.cross(r1, r2), np.cross(r2, r0), np.cross(r0, r1)], axis=-1)
    det = dot(r0, cols[..., :, 0])
    if np.any(det == 0):
        raise np.linalg.LinAlgError("singular 3x3 matrix")
    return cols / np.asarray(det)[..., None, None]


def solve3(m, b) -> np.ndarray:
    """x with m x = b for (…, 3, 3) m and (…, 3) b, from the adjugate (no LAPACK)."""
    return matmul(inv3(m), np.asarray(b, np.float64)[..., None])[..., 0]


def _jacobi_eigh(a: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Eigenvalues and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi
    rotations in Python floats: correctly rounded operations in a fixed order."""
    n = len(a)
    a = [row[:] for row in a]
    v = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for _ in range(50):
        off = sum(a[i][j] * a[i][j] for i in range(n) for j in range(i + 1, n))
        scale = sum(a[i][i] * a[i][i] for i in range(n))
        if off <= 1e-34 * scale or off == 0.0:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if a[p][q] == 0.0:
                    continue
                theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):  # A ← Jᵀ A J
                    akp, akq = a[k][p], a[k][q]
                    a[k][p], a[k][q] = c * akp - s * akq, s * akp + c * akq
                for k in range(n):
                    apk, aqk = a[p][k], a[q][k]
                    a[p][k], a[q][k] = c * apk - s * aqk, s * apk + c * aqk
                for k in range(n):
                    vkp, vkq = v[k][p], v[k][q]
                    v[k][p], v[k][q] = c * vkp - s * vkq, s * vkp + c * vkq
    return [a[i][i] for i in range(n)], v


def nearest_rotation(m) -> np.ndarray:
    """The proper rotation R closest to a 3×3 matrix m (maximising tr(Rᵀ m)), from the top
    eigenvector of Horn's 4×4 quaternion matrix: no LAPACK SVD, the same bits on every CPU.
    Kabsch's rotation taking points p onto y (rows) is nearest_rotation(yᵀ p)."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = (tuple(float(x) for x in row) for row in np.asarray(m))
    n = [[m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01],
         [m21 - m12, m00 - m11 - m22, m01 + m10, m02 + m20],
         [m02 - m20, m01 + m10, -m00 + m11 - m22, m12 + m21],
         [m10 - m01, m02 + m20, m12 + m21, -m00 - m11 + m22]]
    values, vectors = _jacobi_eigh(n)
    k = max(range(4), key=lambda i: (values[i], -i))
    w, x, y, z = (vectors[i][k] for i in range(4))
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array([
        [w * w + x * x - y * y - z * z, 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), w * w - x * x + y * y - z * z, 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), w * w - x * x - y * y + z * z],
    ])


@njit(cache=True)
def cholesky_solve(M, b, out):  # pragma: no cover - compiled
    """Solve M out = b for a small symmetric positive-definite M by Cholesky in a fixed order
    (destroys M; no LAPACK). False if M is not positive definite. Compiled: callable from
    numba kernels (the profile fitter, the indexer's cell fit)."""
    n = M.shape[0]
    for j in range(n):
        s = M[j, j]
        for k in range(j):
            s -= M[j, k] * M[j, k]
        if not (s > 0.0):
            return False
        M[j, j] = np.sqrt(s)
        for i in range(j + 1, n):
            t = M[i, j]
            for k in range(j):
                t -= M[i, k] * M[j, k]
            M[i, j] = t / M[j, j]
    for i in range(n):
        t = b[i]
        for k in range(i):
            t -= M[i, k] * out[k]
        out[i] = t / M[i, i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, n):
            t -= M[k, i] * out[k]
        out[i] = t / M[i, i]
    return True
