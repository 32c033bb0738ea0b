"""Pseudo-Voigt peak-profile fitting on small windows (the paper's §2.1.2 model, exactly).

    I(y, x) = A [η L(y, x) + (1 − η) G(y, x)] + a·y + b·x + c
    G = exp(−(y−cy)²/(2σy²) − (x−cx)²/(2σx²))
    L = 1 / (1 + (y−cy)²/γy² + (x−cx)²/γx²)

Residuals (model − data) are weighted by 1/√(I + 1), I the pixel intensity clipped at 0
(the paper's weighting; with I in photons this is the Poisson weight, so the reduced χ²
is ≈ 1 for a good fit). Masked and off-panel pixels get weight 0.

Window coordinates: `y` (rows, along ss) and `x` (columns, along fs) are offsets from the
window's centre pixel, so a 9×9 window spans −4..4 and the centre bound is |cy|, |cx| ≤ 4.

Two fitters share the model, the bounds, the starting point (image moments) and the
start protocol (`_fit`: staged branches, extra branches for ambiguous windows), so that a
comparison between them compares optimisers, not start policies:

* `fit_lmfit`: the reference (lmfit `Minimizer`, bounded trust-region `least_squares` with
  the analytic Jacobian and Jacobian scaling), one window at a time, as the paper does;
* `fit_batched`: a vectorised, bounded Levenberg–Marquardt over all windows at once with
  the analytic Jacobian, per-window damping (Nielsen's rule) and per-window convergence;
  parameters at a bound whose gradient points outward are held fixed for that step
  (active-set projection), so the bounded optimum is found exactly, as trust-region
  reflective does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.util import detmath as dm

PARAM_NAMES: tuple[str, ...] = (
    "amplitude", "eta", "cy", "cx", "sigma_y", "sigma_x", "gamma_y", "gamma_x", "a", "b", "c",
)
N_PARAMS = len(PARAM_NAMES)
_IDX = {name: i for i, name in enumerate(PARAM_NAMES)}
HWHM_PER_SIGMA = math.sqrt(2.0 * math.log(2.0))  # Gaussian HWHM / σ


@dataclass(frozen=True)
class FitConfig:
    """Window size, parameter bounds, convergence and the χ² acceptance threshold."""

    window: int = 9  # odd edge length of the square window (pixels)
    min_width: float = 0.25  # lower bound on σ and γ (pixels): a narrower spot is a hot pixel
    max_width_factor: float = 1.0  # upper bound on σ and γ = factor × window
    max_iter: int = 200
    # Tight tolerances: the η ↔ width valley is flat, and a loose stop leaves widths a few
    # per cent short of the minimum (the fitters are then compared on where they stopped).
    ftol: float = 1e-10  # stop when the relative cost decrease of an accepted step is below this
    xtol: float = 1e-10  # ... and the relative parameter step is below this
    hold_tol: float = 1e-6  # ftol = xtol of the η-held first stage of a branch (a start: see `_branch`)
    chi2_max: float = 3.0  # reject fits with reduced χ² above this (weights in photons: 1 ≈ Poisson)
    min_valid_fraction: float = 0.5  # windows with fewer usable pixels are not fitted
    start_eta: float = 0.5  # η of the first branch (every window)
    restart_etas: tuple[float, ...] = (0.2, 0.8)  # η of the extra branches of ambiguous windows
    max_restarts: int = 2  # extra branches per ambiguous window (farthest η from the first fit first)
    ambiguous_eta_error: float = 0.3  # σ(η) above this (or η/a width on a bound): ambiguous

    def __post_init__(self) -> None:
        if self.window < 3 or self.window % 2 == 0:
            raise InputError(None, "window", f"must be an odd integer >= 3, got {self.window}")
        if not (0 < self.min_width < self.max_width_factor * self.window):
            raise InputError(None, "min_width", "must be positive and below the upper width bound")
        for eta in (self.start_eta, *self.restart_etas):
            if not 0.0 <= eta <= 1.0:
                raise InputError(None, "restart_etas", f"η of a branch must lie in [0, 1], got {eta}")

    @property
    def half(self) -> int:
        return self.window // 2

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) arrays in PARAM_NAMES order (±inf = unbounded)."""
        h, wmax = float(self.half), self.max_width_factor * self.window
        lo = np.array([0.0, 0.0, -h, -h] + [self.min_width] * 4 + [-np.inf] * 3)
        hi = np.array([np.inf, 1.0, h, h] + [wmax] * 4 + [np.inf] * 3)
        return lo, hi


@dataclass
class Windows:
    """Square windows cut from slabs around peaks (all arrays have N rows).

    `data` is float64 (already divided by `scale`, e.g. ADU per photon); `valid` is False on
    masked pixels, pixels of another panel and pixels outside the slab (they get weight 0).
    `ss0`, `fs0` are the slab coordinates of each window's centre pixel; `frame` says which
    frame of a batch a window came from.
    """

    data: np.ndarray  # (N, S, S)
    valid: np.ndarray  # (N, S, S) bool
    ss0: np.ndarray  # (N,) int
    fs0: np.ndarray  # (N,) int
    panel: np.ndarray  # (N,) int
    frame: np.ndarray  # (N,) int

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])

    def pixel_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Slab (ss, fs) of every window pixel, (N, S, S) each (may lie outside the slab)."""
        h = self.size // 2
        off = np.arange(-h, h + 1)
        ss = self.ss0[:, None, None] + off[None, :, None]
        fs = self.fs0[:, None, None] + off[None, None, :]
        return np.broadcast_to(ss, self.data.shape), np.broadcast_to(fs, self.data.shape)

    @classmethod
    def concatenate(cls, items: list["Windows"], size: int) -> "Windows":
        if not items:
            z = np.zeros(0, np.int64)
            return cls(np.zeros((0, size, size)), np.zeros((0, size, size), bool), z, z, z.astype(np.int32), z)
        return cls(*(np.concatenate([getattr(w, f) for w in items]) for f in ("data", "valid", "ss0", "fs0", "panel", "frame")))


def extract_windows(
    slab: np.ndarray,
    fs: np.ndarray,
    ss: np.ndarray,
    panel: np.ndarray,
    panel_map: np.ndarray,
    mask: np.ndarray | None = None,
    size: int = 9,
    scale: float | np.ndarray = 1.0,
    frame_index: int = 0,
) -> Windows:
    """Cut `size`×`size` windows centred on the nearest pixel of each peak (one gather).

    Pixels outside the slab, on another panel than the peak's, or bad in `mask`
    (True = good) are marked invalid. `scale` (scalar or per-panel array) divides the data,
    e.g. ADU per photon so that the fit weights are Poisson weights.
    """
    slab = np.asarray(slab)
    if slab.ndim != 2 or slab.shape != panel_map.shape:
        raise InputError(None, "slab", f"expected a 2-D slab of shape {panel_map.shape}, got {slab.shape}")
    if size < 3 or size % 2 == 0:
        raise InputError(None, "window", f"must be an odd integer >= 3, got {size}")
    fs = np.asarray(fs, np.float64).reshape(-1)
    ss = np.asarray(ss, np.float64).reshape(-1)
    panel = np.asarray(panel, np.int64).reshape(-1)
    n = fs.size
    ss0 = np.rint(ss).astype(np.int64)
    fs0 = np.rint(fs).astype(np.int64)
    h = size // 2
    off = np.arange(-h, h + 1)
    ssi = ss0[:, None, None] + off[None, :, None]
    fsi = fs0[:, None, None] + off[None, None, :]
    n_ss, n_fs = slab.shape
    inside = (ssi >= 0) & (ssi < n_ss) & (fsi >= 0) & (fsi < n_fs)
    ssc = np.clip(ssi, 0, n_ss - 1)
    fsc = np.clip(fsi, 0, n_fs - 1)
    valid = inside & (panel_map[ssc, fsc] == panel[:, None, None])
    if mask is not None:
        valid &= np.asarray(mask, bool)[ssc, fsc]
    data = slab[ssc, fsc].astype(np.float64)
    scale_arr = np.asarray(scale, np.float64)
    if scale_arr.ndim == 1:  # per panel
        scale_arr = scale_arr[np.clip(panel, 0, scale_arr.size - 1)][:, None, None]
    data = np.where(valid, data / scale_arr, 0.0)
    valid &= np.isfinite(data)
    data = np.where(valid, data, 0.0)
    return Windows(data, valid, ss0, fs0, panel.astype(np.int32), np.full(n, frame_index, np.int64))


@dataclass
class FitResult:
    """Fitted parameters (PARAM_NAMES order, window coordinates) and fit statistics per window."""

    params: np.ndarray  # (N, 11)
    chi2_red: np.ndarray  # (N,) reduced χ² of the weighted residuals; NaN when not fitted
    n_valid: np.ndarray  # (N,) usable pixels
    n_iter: np.ndarray  # (N,) iterations (batched) or function evaluations (lmfit)
    fitted: np.ndarray  # (N,) bool: enough usable pixels and a finite result
    converged: np.ndarray  # (N,) bool: stopped on a tolerance, not on max_iter
    method: str

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.params[:, _IDX[name]]

    def accepted(self, chi2_max: float) -> np.ndarray:
        """Fits that count: fitted, converged and reduced χ² ≤ chi2_max."""
        with np.errstate(invalid="ignore"):
            return self.fitted & self.converged & (self.chi2_red <= chi2_max)

    def centres(self, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
        """Fitted centres in slab coordinates (fs, ss)."""
        return windows.fs0 + self["cx"], windows.ss0 + self["cy"]


# ----------------------------------------------------------------------------- model
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    h = size // 2
    y, x = np.mgrid[-h : h + 1, -h : h + 1].astype(np.float64)
    return y.ravel(), x.ravel()


def profile_components(params: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(G, L, Y, X) for params (N, 11) on points y, x (P,) -> each (N, P)."""
    p = np.asarray(params, np.float64)
    Y = y[None, :] - p[:, 2:3]
    X = x[None, :] - p[:, 3:4]
    G = dm.exp(-0.5 * (Y * Y / (p[:, 4:5] ** 2) + X * X / (p[:, 5:6] ** 2)))
    L = 1.0 / (1.0 + Y * Y / (p[:, 6:7] ** 2) + X * X / (p[:, 7:8] ** 2))
    return G, L, Y, X


def pseudo_voigt(params: np.ndarray, y: np.ndarray, x: np.ndarray, background: bool = True) -> np.ndarray:
    """Evaluate the model for params (N, 11) at points y, x (P,) -> (N, P)."""
    p = np.atleast_2d(np.asarray(params, np.float64))
    G, L, _, _ = profile_components(p, y, x)
    out = p[:, 0:1] * (p[:, 1:2] * L + (1.0 - p[:, 1:2]) * G)
    if background:
        out = out + p[:, 8:9] * y[None, :] + p[:, 9:10] * x[None, :] + p[:, 10:11]
    return out


def fit_weights(windows: Windows) -> np.ndarray:
    """The paper's weights 1/√(I+1) (I clipped at 0), zero on invalid pixels. (N, S, S)."""
    return np.where(windows.valid, 1.0 / np.sqrt(np.clip(windows.data, 0.0, None) + 1.0), 0.0)


def initial_guess(windows: Windows, config: FitConfig = FitConfig()) -> np.ndarray:
    """Starting parameters from image moments (shared by both fitters). (N, 11)."""
    d, v = windows.data, windows.valid
    n, s = d.shape[0], d.shape[-1]
    y, x = _grid(s)
    dflat = d.reshape(n, -1)
    vflat = v.reshape(n, -1)
    ring = np.zeros((s, s), bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    ring_ok = vflat & ring.ravel()[None, :]
    # Background: median of the valid ring pixels (else the minimum valid pixel, else 0).
    ring_vals = np.where(ring_ok, dflat, np.inf)
    n_ring = ring_ok.sum(axis=1)
    srt = np.sort(ring_vals, axis=1)
    rows = np.arange(n)
    lo_mid, hi_mid = np.clip((n_ring - 1) // 2, 0, None), np.clip(n_ring // 2, 0, srt.shape[1] - 1)
    c0 = np.where(n_ring > 0, 0.5 * (srt[rows, lo_mid] + srt[rows, hi_mid]), np.nan)
    fallback = np.where(vflat.any(axis=1), np.where(vflat, dflat, np.inf).min(axis=1), np.nan)
    c0 = np.where(np.isfinite(c0), c0, fallback)
    c0 = np.where(np.isfinite(c0), c0, 0.0)
    sig = np.where(vflat, dflat - c0[:, None], 0.0)
    amp = np.max(sig, axis=1)
    amp = np.where(amp > 0, amp, 1.0)
    core = np.where(sig >= 0.2 * amp[:, None], sig, 0.0)
    tot = core.sum(axis=1)
    tot = np.where(tot > 0, tot, 1.0)
    h = config.half
    cy = np.clip((core * y).sum(axis=1) / tot, -h + 0.5, h - 0.5)
    cx = np.clip((core * x).sum(axis=1) / tot, -h + 0.5, h - 0.5)
    lo, hi = config.bounds()
    wlo, whi = lo[4] * 1.5, min(hi[4] * 0.5, h)
    sy = np.clip(np.sqrt((core * (y - cy[:, None]) ** 2).sum(axis=1) / tot), wlo, whi)
    sx = np.clip(np.sqrt((core * (x - cx[:, None]) ** 2).sum(axis=1) / tot), wlo, whi)
    p = np.empty((n, N_PARAMS))
    p[:, 0] = amp
    p[:, 1] = 0.5
    p[:, 2], p[:, 3] = cy, cx
    p[:, 4], p[:, 5] = sy, sx
    p[:, 6], p[:, 7] = np.clip(sy * HWHM_PER_SIGMA, wlo, whi), np.clip(sx * HWHM_PER_SIGMA, wlo, whi)
    p[:, 8] = p[:, 9] = 0.0
    p[:, 10] = c0
    return p


def _chi2_red(resid_w: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
    dof = n_valid - N_PARAMS
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dof > 0, (resid_w**2).sum(axis=1) / dof, np.nan)


# A core fits rows of flat data d (n, P) with weights w from starts p0 (n, 11) inside bounds;
# it returns (params, iterations or evaluations, converged).
Core = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, FitConfig], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _at_bound(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fits whose η or a width ended on a bound (the sign of a competing local minimum).

    "On" means within 1e-4 of the bounded range: the projected LM lands exactly on a bound,
    but trust-region reflective stays strictly inside the box and only approaches it
    (measured up to ~1e-5 of the range away); both must flag the same windows.
    """
    sel = np.r_[1, 4, 5, 6, 7]
    tol = 1e-4 * (hi[sel] - lo[sel])
    return np.any((p[:, sel] <= lo[sel] + tol) | (p[:, sel] >= hi[sel] - tol), axis=1)


def _cost(p: np.ndarray, d: np.ndarray, w: np.ndarray, size: int) -> np.ndarray:
    y, x = _grid(size)
    return (((pseudo_voigt(p, y, x) - d) * w) ** 2).sum(axis=1)


def _standard_errors(p: np.ndarray, d: np.ndarray, w: np.ndarray, n_valid: np.ndarray, size: int) -> np.ndarray:
    """Standard errors (n, 11) from the weighted Jacobian at p: √(diag (Jᵀ W J)⁻¹ · χ²_red);
    inf for a parameter of a singular Jᵀ W J (the data do not determine it)."""
    from peaknet_bench.engine._lm_numba import inverse_normal_diag_batch

    if len(p) == 0:
        return np.zeros((0, N_PARAMS))
    off = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    diag, ssr = inverse_normal_diag_batch(np.ascontiguousarray(p, dtype=np.float64), np.ascontiguousarray(d),
                                          np.ascontiguousarray(w), off)
    chi2 = _chi2_red(np.sqrt(ssr)[:, None], n_valid)
    return np.sqrt(np.clip(diag * chi2[:, None], 0, None))


def _branch(core: Core, d: np.ndarray, w: np.ndarray, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            eta: float, config: FitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One start branch: fit with η held at `eta`, then everything free from that fit.

    With η held the shape is well conditioned (one minimum in practice), so both fitters
    reach the same stage-1 point (to `hold_tol`); the free fit then starts next to a minimum
    and descends into the same basin whichever optimiser runs it. Started from the moments
    directly, the free fit crosses the flat η ↔ width valley, where two optimisers take
    different paths into different local minima (measured on realistic windows: 94–95 %
    agreed that way, ~99.3 % with this protocol).
    """
    lo1, hi1 = lo.copy(), hi.copy()
    lo1[1] = hi1[1] = eta
    start = np.clip(p0, lo, hi)
    start[:, 1] = eta
    p1, it1, _ = core(d, w, start, lo1, hi1, replace(config, ftol=config.hold_tol, xtol=config.hold_tol))
    p2, it2, conv = core(d, w, p1, lo, hi, config)
    return p2, it1 + it2, conv


def _fit(windows: Windows, config: FitConfig, core: Core, method: str) -> FitResult:
    """The protocol both fitters share: weights, moment start, staged branches, χ².

    Every window is fitted on the branch η = `start_eta` (see `_branch`). A window is
    *ambiguous* when its fit ends with η or a width on a bound, or with σ(η) above
    `ambiguous_eta_error` (the η ↔ width valley is shallow and may hold competing minima);
    ambiguous windows are also fitted on up to `max_restarts` branches of `restart_etas`
    (the η farthest from the first result first), and the lowest cost wins. The decision
    uses only the fitter's own result, so the reference runs the identical policy.
    """
    if windows.size != config.window:
        raise InputError(None, "window", f"windows are {windows.size} px, config says {config.window}")
    n = len(windows)
    if n == 0:
        z = np.zeros(0)
        return FitResult(np.zeros((0, N_PARAMS)), z, z.astype(np.int64), z.astype(np.int64),
                         z.astype(bool), z.astype(bool), method)
    w = fit_weights(windows).reshape(n, -1)
    n_valid = windows.valid.reshape(n, -1).sum(axis=1)
    enough = (n_valid >= config.min_valid_fraction * config.window**2) & (n_valid > N_PARAMS)
    p0 = initial_guess(windows, config)
    lo, hi = config.bounds()
    d = windows.data.reshape(n, -1)
    params = p0.copy()
    n_iter = np.zeros(n, np.int64)
    converged = np.zeros(n, bool)
    idx = np.nonzero(enough)[0]
    if idx.size:
        p, it, conv = _branch(core, d[idx], w[idx], p0[idx], lo, hi, config.start_eta, config)
        params[idx], n_iter[idx], converged[idx] = p, it, conv
        etas = np.asarray(config.restart_etas, np.float64)
        n_extra = min(max(config.max_restarts, 0), etas.size)
        if n_extra:
            ambiguous = _at_bound(p, lo, hi)
            inner = np.nonzero(~ambiguous)[0]
            se_eta = _standard_errors(p[inner], d[idx[inner]], w[idx[inner]], n_valid[idx[inner]], config.window)[:, 1]
            with np.errstate(invalid="ignore"):
                ambiguous[inner] = ~(se_eta <= config.ambiguous_eta_error)
            redo = idx[ambiguous]
            best = _cost(params[redo], d[redo], w[redo], config.window)
            # The branch farthest from where the first one ended goes first.
            order = np.argsort(-np.abs(etas[None, :] - params[redo, 1:2]), axis=1, kind="stable")
            for r in range(n_extra):
                for k, eta in enumerate(etas):
                    sub = np.nonzero(order[:, r] == k)[0]
                    if not sub.size:
                        continue
                    rows = redo[sub]
                    p, it, conv = _branch(core, d[rows], w[rows], p0[rows], lo, hi, float(eta), config)
                    c = _cost(p, d[rows], w[rows], config.window)
                    better = np.isfinite(c) & (c < best[sub] * (1 - 1e-9))
                    n_iter[rows] += it
                    params[rows[better]], converged[rows[better]] = p[better], conv[better]
                    best[sub] = np.where(better, c, best[sub])
    y, x = _grid(config.window)
    resid = (pseudo_voigt(params, y, x) - d) * w
    chi2 = _chi2_red(resid, n_valid)
    fitted = enough & np.all(np.isfinite(params), axis=1) & np.isfinite(chi2)
    return FitResult(params, np.where(fitted, chi2, np.nan), n_valid, n_iter, fitted, converged & fitted, method)


# ----------------------------------------------------------------------- fast fitter
def _batched_core(d, w, p0, lo, hi, config):
    from peaknet_bench.engine._lm_numba import lm_batch

    h = config.half
    return lm_batch(
        np.ascontiguousarray(d), np.ascontiguousarray(w), np.ascontiguousarray(p0),
        lo, hi, np.arange(-h, h + 1, dtype=np.float64), config.max_iter, config.ftol, config.xtol,
    )


def fit_batched(windows: Windows, config: FitConfig = FitConfig()) -> FitResult:
    """Bounded Levenberg–Marquardt on every window in one call (numba, parallel over windows).

    Each window runs its own damping and convergence test (so hard peaks do not hold up
    easy ones) with the analytic Jacobian; the numpy-vectorised parts (moments, weights,
    χ²) bracket one compiled kernel that loops over windows in parallel threads.
    """
    return _fit(windows, config, _batched_core, "batched-lm")


def model_jacobian(params: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Model (N, P) and the analytic Jacobian (N, P, 11) used by the fast fitter (unit weights)."""
    from peaknet_bench.engine._lm_numba import model_jacobian_batch

    h = size // 2
    off = np.arange(-h, h + 1, dtype=np.float64)
    return model_jacobian_batch(np.ascontiguousarray(np.atleast_2d(params), dtype=np.float64), off)


# ---------------------------------------------------------------------- lmfit fitter
def _lmfit_core(d, w, p0, lo, hi, config, method="least_squares"):
    """lmfit on each row; a parameter with lo == hi is held fixed (vary=False).

    Invalid pixels stay in with weight 0 (zero residual and Jacobian rows). `least_squares`
    (trust-region reflective) gets the analytic Jacobian of the weighted residuals and
    x_scale='jac' (the parameters span A ~ 10³ to widths ~ 1: without scaling the trust
    region creeps through the η ↔ width valley in ~10³ evaluations); `leastsq` (MINPACK,
    bounds by lmfit's transformation) uses finite differences.
    """
    import lmfit

    from peaknet_bench.engine._lm_numba import model_jacobian_batch

    y, x = _grid(config.window)
    off = np.arange(-config.half, config.half + 1, dtype=np.float64)
    free = lo != hi
    out = p0.copy()
    n_eval = np.zeros(len(d), np.int64)
    ok = np.zeros(len(d), bool)

    def values(pars) -> np.ndarray:
        return np.array([[pars[name].value for name in PARAM_NAMES]])

    def residual(pars, di, wi):
        return (pseudo_voigt(values(pars), y, x)[0] - di) * wi

    def jacobian(pars, di, wi):
        _, J = model_jacobian_batch(values(pars), off)
        return J[0][:, free] * wi[:, None]

    for i in range(len(d)):
        pars = lmfit.Parameters()
        for k, name in enumerate(PARAM_NAMES):
            if free[k]:
                pars.add(name, value=float(p0[i, k]), min=lo[k], max=hi[k])
            else:
                pars.add(name, value=float(lo[k]), vary=False)
        mini = lmfit.Minimizer(residual, pars, fcn_args=(d[i], w[i]), calc_covar=False)
        if method == "least_squares":
            res = mini.least_squares(jac=jacobian, x_scale="jac", ftol=config.ftol, xtol=config.xtol, gtol=config.ftol)
        else:
            res = mini.leastsq(ftol=config.ftol, xtol=config.xtol)
        out[i] = [res.params[name].value for name in PARAM_NAMES]
        n_eval[i] = res.nfev
        ok[i] = bool(res.success)
    return out, n_eval, ok


def fit_lmfit(windows: Windows, config: FitConfig = FitConfig(), method: str = "least_squares") -> FitResult:
    """Reference fit with lmfit (bounded `least_squares` by default, or `leastsq`), one
    window at a time, with the same model, weights, bounds, starts and branches."""
    core = functools.partial(_lmfit_core, method=method)
    return _fit(windows, config, core, f"lmfit-{method}")


# ---------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class AgreementTolerance:
    """When two fits of the same window agree (the fast fitter is validated against lmfit)."""

    centre_px: float = 0.02  # |Δcy|, |Δcx|
    relative: float = 0.01  # amplitude and widths, relative to the reference
    eta: float = 0.01  # absolute (η lives in [0, 1])
    background: float = 0.01  # a, b, c, relative to the reference amplitude
    degenerate_eta: float = 0.01  # η ≤ this: γ undetermined; η ≥ 1 − this: σ undetermined


def compare_fits(fit: FitResult, ref: FitResult, tol: AgreementTolerance = AgreementTolerance()) -> dict[str, np.ndarray]:
    """Per-window, per-parameter agreement of `fit` with `ref` (both on the same windows).

    Returns boolean arrays: `params` (N, 11) (True where a parameter agrees or is
    undetermined by the reference's η), `window` (N,) all parameters agree, and `same_min`
    (N,) both reached the same cost within 1e-6 relative.
    """
    p, q = fit.params, ref.params
    A = np.abs(q[:, 0])
    ok = np.empty(p.shape, bool)
    ok[:, 0] = np.abs(p[:, 0] - q[:, 0]) <= tol.relative * A
    ok[:, 1] = np.abs(p[:, 1] - q[:, 1]) <= tol.eta
    ok[:, 2:4] = np.abs(p[:, 2:4] - q[:, 2:4]) <= tol.centre_px
    ok[:, 4:8] = np.abs(p[:, 4:8] - q[:, 4:8]) <= tol.relative * np.abs(q[:, 4:8])
    ok[:, 8:11] = np.abs(p[:, 8:11] - q[:, 8:11]) <= tol.background * A[:, None]
    ok[:, 6:8] |= (q[:, 1] <= tol.degenerate_eta)[:, None]
    ok[:, 4:6] |= (q[:, 1] >= 1 - tol.degenerate_eta)[:, None]
    both = fit.fitted & ref.fitted
    with np.errstate(invalid="ignore", divide="ignore"):
        same = np.abs(fit.chi2_red - ref.chi2_red) <= 1e-6 * np.abs(ref.chi2_red)
    return {"params": ok & both[:, None], "window": ok.all(axis=1) & both, "same_min": same & both}


def parameter_errors(fit: FitResult, windows: Windows) -> np.ndarray:
    """Standard errors (N, 11) from the weighted Jacobian at the solution:
    √(diag (Jᵀ W J)⁻¹ · χ²_red); inf for an undetermined parameter, NaN where not fitted."""
    n = len(windows)
    se = _standard_errors(fit.params, windows.data.reshape(n, -1), fit_weights(windows).reshape(n, -1),
                          fit.n_valid, windows.size)
    return np.where(fit.fitted[:, None], se, np.nan)


def well_determined(fit: FitResult, windows: Windows, config: FitConfig = FitConfig(),
                    max_eta_error: float = 0.2, max_width_rel_error: float = 0.4) -> np.ndarray:
    """Windows whose fit is unambiguous: fitted, no η/width on a bound, σ(η) ≤ max_eta_error
    and every width's relative standard error ≤ max_width_rel_error. Elsewhere the η ↔ width
    valley can hold competing minima and parameter-level agreement between optimisers is
    not expected (centres still agree)."""
    lo, hi = config.bounds()
    se = parameter_errors(fit, windows)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = se[:, 4:8] / np.abs(fit.params[:, 4:8])
        ok = (se[:, 1] <= max_eta_error) & np.all(rel <= max_width_rel_error, axis=1)
    return fit.fitted & ok & ~_at_bound(fit.params, lo, hi)
