"""The built-in known-cell indexer for stills (SPEC-physics §7).

One axis, then a spin about it: the axis most perpendicular to the beam is well
determined from a single still, while assembling three axes independently is fragile.

1. peaks → q; the lowest-|q| peaks are used for the search;
2. axis search over a Fibonacci half-sphere for every distinct cell length, refined by
   least squares with the integer indices held fixed;
3. spin search about every refined axis (both signs, every cell axis of that length);
4. refinement of the best candidates: Kabsch rotation of the target cell, then a
   weighted 9-parameter fit of A* kept within 5 % / 3° of the target;
5. acceptance: enough peaks explained; inliers removed and the search repeated for
   further lattices.

Stills only sample the Ewald sphere, so an observed q differs from its lattice point by
the excitation error along the peak's ray (up to ~1.7 × profile radius). Every residual
here is split into that along-ray part (bounded by `max_excitation`) and the part across
the ray, which is what the detector measures precisely.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from peaknet_bench.crystal import Crystal, UnitCell, axis_angle_matrix
from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.index._kernels import axis_scores, spin_scores
from peaknet_bench.index.base import IndexedCrystal, distinct_peaks, peaks_to_q, prediction_rms_px, ray_directions
from peaknet_bench.index.config import BuiltinConfig
from peaknet_bench.index.cellfit import CellModel, orientation_of, refine_cell_and_orientation
from peaknet_bench.index.significance import chance_probability, min_explained, significance
from peaknet_bench.index.validate import compare_lattices
from peaknet_bench.util import detmath as dm

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def fibonacci_half_sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit vectors with z ≥ 0 (a lattice axis and its negative are one axis)."""
    i = np.arange(n, dtype=np.float64)
    z = (i + 0.5) / n
    r = np.sqrt(1.0 - z * z)
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    out = np.stack([r * dm.cos(phi), r * dm.sin(phi), z], axis=1)
    out.setflags(write=False)
    return out


def _rotations_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n, 3, 3) smallest rotations taking unit vectors u[i] onto unit vectors v[i]."""
    c = np.einsum("ix,ix->i", u, v)
    w = np.cross(u, v)
    kx = np.zeros((u.shape[0], 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = w[:, 2], -w[:, 1], w[:, 0]
    opposite = c < -1.0 + 1e-9
    scale = 1.0 / np.where(opposite, 1.0, 1.0 + c)
    out = np.eye(3)[None] + kx + dm.matmul(kx, kx) * scale[:, None, None]
    for i in np.nonzero(opposite)[0]:  # 180° about any axis perpendicular to u (rare)
        perp = np.cross(u[i], [1.0, 0.0, 0.0] if abs(u[i, 0]) < 0.9 else [0.0, 1.0, 0.0])
        perp /= dm.norm(perp)
        out[i] = 2.0 * np.outer(perp, perp) - np.eye(3)
    return out


def _kabsch(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rotation R minimising Σ|R p_i − y_i|² (rows are points)."""
    return dm.nearest_rotation(np.einsum("ni,nj->ij", y, p))


def _same_lattice(real_a: np.ndarray, real_b: np.ndarray, max_deg: float) -> bool:
    """Two bases describe the same lattice, oriented within `max_deg`."""
    match = compare_lattices(real_a, real_b)
    return match.max_deviation <= 0.25 and abs(match.determinant) == 1 and match.misorientation_deg <= max_deg


@dataclass
class _Fit:
    astar: np.ndarray
    hkl: np.ndarray  # (n, 3) for all peaks offered
    inliers: np.ndarray  # (n,) bool
    perp: np.ndarray  # (n,) across-ray distance
    along: np.ndarray  # (n,) along-ray distance (≈ excitation error)
    cost: np.ndarray  # (n,) weighted squared residual (perp/σ)² + (along/σ_e)²
    outlier_cost: np.ndarray  # (n,) what each peak costs outside the tolerances (its cost at the boundary)
    tol_perp: float = 0.0  # Å⁻¹, the across-ray threshold that defined the inliers
    free: np.ndarray | None = None  # free cell parameters (CellModel) when the cell was refined
    significance: float = float("nan")  # −log10 chance probability (set at acceptance)
    new_evidence: int = -1  # peaks no earlier lattice explains (further lattices only)

    @property
    def robust_cost(self) -> float:
        """Truncated χ² (MLESAC): inliers cost their weighted residual, others a constant.

        Unlike the inlier count it prefers a tight fit of the true peaks to a looser one that
        also swallows a spurious peak.
        """
        return float(self.cost[self.inliers].sum() + self.outlier_cost[~self.inliers].sum())


@dataclass(frozen=True)
class _CellConstraint:
    """Where the free cell parameters are pulled (prior centre and σ) and how far they may go."""

    centre: np.ndarray
    sigma: np.ndarray
    low: np.ndarray
    high: np.ndarray


class BuiltinIndexer:
    """Known-cell still indexer; see the module docstring for the method."""

    name = "builtin"

    def __init__(self, cell: UnitCell, config: BuiltinConfig = BuiltinConfig()) -> None:
        self.cell = cell
        self.config = config
        self._real = cell.real_basis()
        self._recip = cell.reciprocal_basis()
        self._axis_lengths = dm.norm(self._real)
        self._astar_min = float(dm.norm(self._recip).min())
        self._lengths = cell.unique_lengths()
        self._model = CellModel(cell)
        change = np.where(self._model.is_angle, config.max_angle_change_deg, config.max_length_change * self._model.free0)
        self._target_constraint = _CellConstraint(
            self._model.free0, self._model.prior_sigma(config.cell_prior, config.cell_prior_angle_deg),
            self._model.free0 - change, self._model.free0 + change)
        self._directions = fibonacci_half_sphere(config.n_directions)
        self._directions32 = self._directions.astype(np.float32)
        phi = np.linspace(0.0, 2.0 * math.pi, config.n_spin_steps, endpoint=False)
        self._cos_phi, self._sin_phi = dm.cos(phi), dm.sin(phi)

    # ------------------------------------------------------------------ public
    def index(
        self, peaks: PeakList, geometry, photon_energy_ev: float, clen_m: float | None = None
    ) -> list[IndexedCrystal]:
        """Lattices on one frame; an empty list when the frame does not index."""
        cfg = self.config
        if not (math.isfinite(photon_energy_ev) and photon_energy_ev > 0):
            raise InputError(None, "photon_energy_ev", f"expected a positive photon energy in eV, got {photon_energy_ev!r}")
        q, usable = peaks_to_q(peaks, geometry, photon_energy_ev, clen_m)
        distinct = distinct_peaks(peaks.subset(usable), cfg.min_peak_separation_px)
        n_total = len(peaks) - (usable.size - distinct.size)  # copies of a peak are not peaks
        q, usable = q[distinct], usable[distinct]
        if usable.size < max(3, cfg.min_inliers):
            return []
        ray = ray_directions(q, photon_energy_ev)
        remaining = np.ones(usable.size, bool)
        found: list[tuple[_Fit, np.ndarray]] = []  # fit, indices into usable
        for _ in range(cfg.max_lattices + cfg.max_tail_searches):
            if len(found) >= cfg.max_lattices:
                break
            idx = np.nonzero(remaining)[0]
            required = self.required_inliers(idx.size)
            if idx.size < required:
                break
            try:
                fit = self._find_lattice(q[idx], ray[idx], required, self._constraint(found))
            except np.linalg.LinAlgError:  # a degenerate peak set (e.g. all coplanar): not indexable
                log.debug("degenerate peak geometry; frame not indexed", exc_info=True)
                fit = None
            if fit is None or not self._significant(fit, idx.size):
                break
            if found and not self._new_evidence(fit, q[idx], ray[idx], found):
                break
            if self._near_earlier(fit, found):
                # the same crystal's mosaic tail: its peaks are set aside, the search goes on
                remaining[idx[fit.inliers]] = False
                continue
            found.append((fit, idx))
            remaining[idx[fit.inliers]] = False
        explained = int((~remaining).sum())
        if not found or explained < cfg.min_fraction * n_total:
            return []
        return [self._result(fit, idx, usable, peaks, geometry, photon_energy_ev, clen_m, n_total) for fit, idx in found]

    def chance_probability(self, tol_perp: float) -> float:
        """Probability that a random peak is explained by this cell at across-ray tolerance `tol_perp`."""
        return chance_probability(tol_perp, self.config.max_excitation, self.cell.volume)

    def required_inliers(self, n: int) -> int:
        """Explained peaks that make a lattice significant among n peaks at the nominal tolerance."""
        cfg = self.config
        p = self.chance_probability(cfg.accept_tolerance * self._astar_min)
        return max(cfg.min_inliers, min_explained(n, p, cfg.min_significance, cfg.min_inliers))

    def _significant(self, fit: "_Fit", n: int) -> bool:
        cfg = self.config
        k = int(fit.inliers.sum())
        fit.significance = significance(k, n, self.chance_probability(fit.tol_perp))
        return k >= cfg.min_inliers and fit.significance >= cfg.min_significance

    def _near_earlier(self, fit: "_Fit", found: list) -> bool:
        """A further lattice within `min_domain_deg` of an earlier one is that crystal's tail."""
        real = dm.inv3(fit.astar).T
        return any(_same_lattice(real, dm.inv3(f.astar).T, self.config.min_domain_deg) for f, _ in found)

    def _new_evidence(self, fit: "_Fit", q: np.ndarray, ray: np.ndarray, found: list) -> bool:
        """A further lattice must explain, on its own, a significant number of peaks that no
        earlier lattice explains even at `domain_overlap_tolerance` × its threshold: the residual
        tail of one crystal fails, a second domain a fraction of a degree away passes (its
        high-resolution peaks are far from the first lattice's predictions)."""
        cfg = self.config
        own = fit.inliers.copy()
        for earlier, _ in found:
            other = self._assign(earlier.astar, q, ray, cfg.domain_overlap_tolerance * earlier.tol_perp)
            own &= ~other.inliers
        k = int(own.sum())
        fit.new_evidence = k
        return k >= cfg.min_inliers and significance(k, q.shape[0], self.chance_probability(fit.tol_perp)) >= cfg.min_significance

    # ----------------------------------------------------------------- helpers
    def _constraint(self, found: list) -> _CellConstraint:
        """The target's cell constraint for the first lattice; for further ones, the first
        lattice's refined cell within `further_cell_change` (crystals of one sample on one
        frame share the cell and the geometry error, and a chance lattice gains nothing from
        stretching its cell)."""
        cfg = self.config
        first = found[0][0].free if found else None
        if first is None:
            return self._target_constraint
        target = self._target_constraint
        change = np.where(self._model.is_angle, cfg.further_cell_change * 100.0, cfg.further_cell_change * first)
        low, high = np.maximum(first - change, target.low), np.minimum(first + change, target.high)
        return _CellConstraint(first, np.minimum(target.sigma, change / 2.0), low, high)

    def _find_lattice(self, q: np.ndarray, ray: np.ndarray, required: float, constraint: _CellConstraint) -> _Fit | None:
        """Best lattice among the remaining peaks, or None when no candidate can be accepted."""
        cfg = self.config
        order = np.argsort(dm.norm(q), kind="stable")[: cfg.n_search_peaks]
        qs, rays = np.ascontiguousarray(q[order]), ray[order]
        axes = self._axis_search(qs)
        if not axes:
            return None
        # A candidate whose spin score is far below what acceptance needs is not worth refining.
        min_score = cfg.min_spin_score * required * qs.shape[0] / q.shape[0]
        good_enough = cfg.stop_fraction * qs.shape[0]
        best: _Fit | None = None
        # Candidates are compared on the search subset; only the winner is refined on every peak.
        refined: list[np.ndarray] = []  # real bases of the candidates refined so far
        for astar, score in self._spin_search(axes, qs, rays):
            if score < min_score:
                break
            real = dm.inv3(astar).T
            # Symmetry-equivalent spin candidates (equal axes, both signs) refine to the same lattice.
            if any(_same_lattice(real, other, cfg.candidate_duplicate_deg) for other in refined):
                continue
            fit = self._refine(astar, qs, rays, constraint)
            if fit is not None:
                refined.append(dm.inv3(fit.astar).T)
            if fit is not None and (best is None or fit.robust_cost < best.robust_cost):
                best = fit
                if fit.inliers.sum() >= good_enough:
                    break
        if best is None:
            return None
        fit = self._refine(best.astar, q, ray, constraint, best.free)
        return None if fit is None else self._scale_tolerance(fit, q, ray, constraint)

    def _scale_tolerance(self, fit: "_Fit", q: np.ndarray, ray: np.ndarray, constraint: _CellConstraint) -> "_Fit":
        """Inliers at a threshold scaled to this lattice's own across-ray scatter (real data:
        centroid errors, detector distance and parallax; simulation: ~0.3 px), refitted there.

        The scatter is the Rayleigh σ of the inliers' across-ray residuals (median / 1.1774),
        which a truncated sample underestimates, hence two rounds.
        """
        cfg = self.config
        lo, hi = cfg.min_accept_tolerance * self._astar_min, cfg.max_accept_tolerance * self._astar_min
        for _ in range(2):
            if fit.inliers.sum() < cfg.min_inliers:
                return fit
            sigma = float(np.median(fit.perp[fit.inliers])) / 1.1774
            tol = min(hi, max(lo, cfg.tolerance_scale * sigma))
            trial = self._assign(fit.astar, q, ray, tol)
            if trial.inliers.sum() < 3:
                return fit
            astar, free = self._fit_inliers(trial, q, ray, fit.free, constraint)
            fit = self._assign(astar, q, ray, tol)
            fit.free = free
        return fit

    def _excitation_sigma(self, q: np.ndarray) -> np.ndarray:
        """Per-peak along-ray σ: a constant in quadrature with mosaicity × |q|."""
        cfg = self.config
        qq = q[:, 0] * q[:, 0] + q[:, 1] * q[:, 1] + q[:, 2] * q[:, 2]
        return np.sqrt(cfg.excitation_sigma**2 + cfg.mosaicity**2 * qq)

    def _fit_inliers(self, fit: "_Fit", q: np.ndarray, ray: np.ndarray, free: np.ndarray | None,
                     constraint: _CellConstraint):
        """(A*, free cell parameters or None) fitted to a fit's inliers, cell and orientation
        together when there are enough of them."""
        cfg = self.config
        inl = fit.inliers
        if not cfg.fit_cell or inl.sum() < cfg.min_cell_fit_inliers:
            return self._fit_rotation(fit.astar, fit.hkl[inl], q[inl], ray[inl]), free
        model = self._model
        free0 = constraint.centre if free is None else free
        rot = orientation_of(fit.astar, model.reciprocal(free0))
        free, rot = refine_cell_and_orientation(
            model, free0, rot, fit.hkl[inl], q[inl], ray[inl], position_sigma=cfg.position_sigma,
            excitation_sigma=self._excitation_sigma(q[inl]), prior_centre=constraint.centre, prior_sigma=constraint.sigma,
            bounds=(constraint.low, constraint.high), huber=cfg.huber,
        )
        return dm.matmul(model.reciprocal(free), rot.T), free

    def _axis_search(self, q: np.ndarray) -> list[np.ndarray]:
        """Refined real-space axis vectors (length ≈ a cell length), best first."""
        cfg = self.config
        found: list[tuple[int, np.ndarray]] = []
        q32 = [np.ascontiguousarray(q[:, i], dtype=np.float32) for i in range(3)]
        for length in self._lengths:
            scores = axis_scores(self._directions32, *q32, np.float32(length), np.float32(cfg.axis_tolerance))
            n_best = min(cfg.n_axis_candidates, scores.size)
            # Stable: NumPy's partition/sort kernels (AVX-512, AVX2 or none) order ties differently.
            top = np.argsort(-scores, kind="stable")[:n_best]
            v = self._directions[top] * length
            for tol in cfg.axis_refine_tolerances:
                v = self._refine_axes(v, q, tol)
            x = dm.matmul(q, v.T)
            score = (np.abs(x - np.rint(x)) < cfg.axis_tolerance).sum(axis=0)
            norms = dm.norm(v)
            ok = np.abs(norms / length - 1.0) <= cfg.axis_length_tolerance
            found.extend((int(s), vec) for s, vec, good in zip(score, v, ok) if good)
        found.sort(key=lambda item: -item[0])
        kept: list[np.ndarray] = []
        cos_dup = math.cos(math.radians(cfg.axis_duplicate_deg))
        for _, vec in found:
            unit = vec / dm.norm(vec)
            if all(abs(float(dm.dot(unit, w / dm.norm(w)))) < cos_dup for w in kept):
                kept.append(vec)
            if len(kept) >= cfg.n_axes:
                break
        return kept

    @staticmethod
    def _refine_axes(v: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
        """Least-squares update of axis vectors with the integer projections held fixed (batched)."""
        x = dm.matmul(q, v.T)  # (n, K)
        nint = np.rint(x)
        w = (np.abs(x - nint) < tol).astype(np.float64)
        wq = w.T[:, :, None] * q[None]  # (K, n, 3)
        m = np.einsum("kni,nj->kij", wq, q)  # (K, 3, 3)
        b = np.einsum("nk,kni->ki", nint, wq)  # (K, 3)
        # A weak pull towards the current vector keeps under-determined systems solvable.
        ridge = 1e-3 * np.trace(m, axis1=1, axis2=2)[:, None, None] / 3.0 + 1e-12
        m = m + ridge * np.eye(3)
        b = b + ridge[:, :, 0] * v
        return dm.solve3(m, b)

    def _spin_search(
        self, axes: list[np.ndarray], q: np.ndarray, ray: np.ndarray
    ) -> list[tuple[np.ndarray, int]]:
        """(A*, score) candidates, best first, from spinning the target cell about each refined axis."""
        cfg = self.config
        targets, cell_axes, scales = [], [], []
        for vec in axes:
            length = float(dm.norm(vec))
            matching = np.nonzero(np.abs(self._axis_lengths / length - 1.0) <= cfg.axis_length_tolerance)[0]
            for sign in (1.0, -1.0):
                for j in matching:
                    targets.append(sign * vec / length)
                    cell_axes.append(j)
                    scale = length / self._axis_lengths[j] if cfg.scale_from_axis else 1.0
                    scales.append(min(1.0 + cfg.max_length_change, max(1.0 - cfg.max_length_change, scale)))
        if not targets:
            return []
        t = np.array(targets)  # (C, 3) spin axes
        r0 = _rotations_between(self._real[cell_axes] / self._axis_lengths[cell_axes, None], t)
        # cell axes with axis j on t, (C, 3, 3), the cell scaled to the refined axis length (a
        # detector distance or wavelength error scales every q alike)
        rows = np.einsum("mx,cyx->cmy", self._real, r0) * np.array(scales)[:, None, None]
        par = np.einsum("cm,cx->cmx", np.einsum("cmx,cx->cm", rows, t), t)
        perp = rows - par
        cross = np.cross(t[:, None, :], perp)
        terms = np.stack([par, perp, cross], axis=2)  # (C, 3 axes, 3 terms, 3)
        frac = np.einsum("cmtx,ix->cmti", terms, q)
        slack = np.einsum("cmtx,ix->cmti", terms, ray) * cfg.spin_excitation
        scores = spin_scores(frac, slack, self._cos_phi, self._sin_phi, cfg.spin_tolerance)
        best_phi = scores.argmax(axis=1)
        best_score = scores[np.arange(t.shape[0]), best_phi]
        out = []
        for c in np.argsort(-best_score, kind="stable")[: cfg.n_refine]:
            spin = axis_angle_matrix(t[c], math.atan2(float(self._sin_phi[best_phi[c]]), float(self._cos_phi[best_phi[c]])))
            real = dm.matmul(rows[c], spin.T)
            out.append((dm.inv3(real).T, int(best_score[c])))
        return out

    def _assign(self, astar: np.ndarray, q: np.ndarray, ray: np.ndarray, tol_perp: float) -> _Fit:
        """Integer indices for every peak: the lattice point most likely to have produced it.

        A peak may sit up to `max_excitation` off its lattice point along its ray, so several
        lattice points can be candidates (an axis near the beam); the one with the smallest
        weighted residual (across-ray / position_sigma, along-ray / excitation_sigma) wins.
        """
        cfg = self.config
        real = dm.inv3(astar).T
        shifts = np.linspace(-cfg.max_excitation, cfg.max_excitation, cfg.n_excitation_trials)
        hkl = np.rint(dm.matmul(q[None] + shifts[:, None, None] * ray[None], real.T))  # (S, n, 3)
        diff = dm.matmul(hkl, astar) - q[None]
        along = (diff * ray[None]).sum(axis=2)
        perp = dm.norm(diff - along[..., None] * ray[None])
        sigma_e = self._excitation_sigma(q)
        cost = (perp / cfg.position_sigma) ** 2 + (along / sigma_e) ** 2
        pick = np.argmin(cost, axis=0)
        cols = np.arange(q.shape[0])
        hkl, along, perp, cost = hkl[pick, cols], along[pick, cols], perp[pick, cols], cost[pick, cols]
        inliers = (perp <= tol_perp) & (np.abs(along) <= cfg.max_excitation) & np.any(hkl != 0, axis=1)
        outlier_cost = (tol_perp / cfg.position_sigma) ** 2 + (cfg.max_excitation / sigma_e) ** 2
        return _Fit(astar, hkl.astype(np.int64), inliers, perp, along, cost, outlier_cost, tol_perp)

    def _weight_terms(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        """Each peak's inverse covariance is a·I + b·n nᵀ (n: its ray): tight across the ray,
        loose along it. Returns (a, b per peak)."""
        a = 1.0 / self.config.position_sigma**2
        return a, 1.0 / self._excitation_sigma(q) ** 2 - a

    def _fit_rotation(self, astar: np.ndarray, hkl: np.ndarray, q: np.ndarray, ray: np.ndarray) -> np.ndarray:
        """Fixed-cell orientation refinement: weighted Gauss–Newton steps on a small rotation ω.

        With p + ω × p ≈ q the normal matrix is Σ [p]×ᵀ W [p]× = a Σ(|p|² I − p pᵀ) +
        b Σ (p × n)(p × n)ᵀ and the right-hand side Σ p × (W (q − p)).
        """
        a, b = self._weight_terms(q)
        for _ in range(2):
            p = dm.matmul(hkl, astar)
            r0 = q - p
            pn = np.cross(p, ray)
            m = a * (np.einsum("ij,ij->", p, p) * np.eye(3) - np.einsum("ni,nj->ij", p, p)) + np.einsum("ni,nj->ij", pn * b[:, None], pn)
            wr = a * r0 + (b * np.einsum("ij,ij->i", ray, r0))[:, None] * ray
            rhs = np.cross(p, wr).sum(axis=0)
            omega = dm.solve3(m + 1e-9 * np.trace(m) * np.eye(3), rhs)
            angle = float(dm.norm(omega))
            if angle < 1e-12:
                break
            astar = dm.matmul(astar, axis_angle_matrix(omega, angle).T)
        return astar

    def _refine(self, astar: np.ndarray, q: np.ndarray, ray: np.ndarray, constraint: _CellConstraint,
                free0: np.ndarray | None = None) -> _Fit | None:
        """Rotation of the target cell with shrinking thresholds (Kabsch, then weighted), then
        the 9-parameter fit, alternated with hkl assignment; the better of the two is kept."""
        cfg = self.config
        seed = astar
        # The candidate's isotropic scale relative to the target (see _spin_search) is kept.
        scale = float(np.mean(dm.norm(dm.inv3(astar).T) / self._axis_lengths))
        recip = self._recip / scale
        if free0 is None and cfg.scale_from_axis:
            scaled = np.where(self._model.is_angle, self._model.free0, self._model.free0 * scale)
            free0 = np.clip(scaled, constraint.low, constraint.high)
        for step, factor in enumerate(cfg.refine_tolerances):
            fit = self._assign(astar, q, ray, factor * self._astar_min)
            if fit.inliers.sum() < 3:
                return None
            h = fit.hkl[fit.inliers]
            if step == 0:
                # Coarse: Kabsch on observations slid along their rays onto the prediction.
                y = q[fit.inliers] + fit.along[fit.inliers, None] * ray[fit.inliers]
                rot = _kabsch(dm.matmul(h, recip), y)
                astar = dm.matmul(rot, recip.T).T
            else:
                astar = self._fit_rotation(astar, h, q[fit.inliers], ray[fit.inliers])
            if step == cfg.full_fit_from_step:
                seed = astar
        best = self._assign(astar, q, ray, cfg.accept_tolerance * self._astar_min)
        # Trimmed refits: a spurious peak that sits just inside the tolerance pulls a fit of
        # 15-20 peaks by tenths of a degree; refit on the well-fitting core and keep the result
        # when the truncated χ² improves.
        for _ in range(cfg.n_trim_refits):
            core = best.inliers & (best.cost < cfg.trim_cost_fraction * best.outlier_cost)
            if core.sum() < 3 or core.sum() == best.inliers.sum():
                break
            trial_astar = self._fit_rotation(astar, best.hkl[core], q[core], ray[core])
            trial = self._assign(trial_astar, q, ray, cfg.accept_tolerance * self._astar_min)
            if trial.robust_cost >= best.robust_cost:
                break
            astar, best = trial_astar, trial
        # Cell path, started from a coarse fixed-cell solution: when the target cell is off by
        # ~1 %, tight fixed-cell thresholds keep only low-resolution peaks and bias the
        # orientation; alternating assignment and fits of the free cell parameters (under the
        # lattice symmetry) with the orientation brings the others back.
        if not cfg.fit_cell:
            return best
        full, free = seed, free0
        for factor in cfg.full_refine_tolerances:
            fit = self._assign(full, q, ray, factor * self._astar_min)
            if fit.inliers.sum() < cfg.min_cell_fit_inliers:
                return best
            full, free = self._fit_inliers(fit, q, ray, free, constraint)
        fit = self._assign(full, q, ray, cfg.accept_tolerance * self._astar_min)
        fit.free = free
        return fit if fit.robust_cost <= best.robust_cost else best

    def _result(
        self, fit: _Fit, idx: np.ndarray, usable: np.ndarray, peaks: PeakList, geometry, photon_energy_ev: float,
        clen_m: float | None, n_total: int,
    ) -> IndexedCrystal:
        members = usable[idx[fit.inliers]]
        hkl = fit.hkl[fit.inliers]
        crystal = Crystal(astar=fit.astar, cell=self.cell)
        # The refined cell is the model's parameters (symmetric by construction), not a fit of
        # the basis, which would carry rounding into the tied parameters.
        params = self.cell.parameters if fit.free is None else self._model.parameters(fit.free)
        return IndexedCrystal(
            crystal=crystal, cell=replace(self.cell, **dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), map(float, params)))),
            peak_indices=members, hkl=hkl, residuals=fit.perp[fit.inliers], excitation=fit.along[fit.inliers],
            n_peaks=n_total, rms_px=prediction_rms_px(fit.astar, hkl, peaks.subset(members), geometry, photon_energy_ev, clen_m),
            method=self.name,
            meta={"significance": fit.significance, "tolerance_inv_a": fit.tol_perp, "peaks_searched": int(idx.size),
                  "cell_refined": fit.free is not None, "new_evidence": fit.new_evidence},
        )
