"""Configuration of the built-in indexer: every threshold, its default and its help, in one place.

Kept free of NumPy and numba so that the CLI can build its options (`peaknet-bench index
--min-significance ...`) from these fields without loading the indexer.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class BuiltinConfig:
    """Every threshold of the built-in indexer (defaults follow SPEC-physics §7 and issue 17)."""

    n_search_peaks: int = _opt(140, "lowest-|q| peaks used for the axis and spin searches")
    n_directions: int = _opt(10000, "Fibonacci half-sphere size of the axis search")
    axis_tolerance: float = _opt(0.2, "|L·(q·u) − integer| for a peak to score")
    n_axis_candidates: int = _opt(24, "best directions refined per cell length")
    axis_refine_tolerances: tuple[float, ...] = _opt((0.2, 0.15, 0.1), "shrinking thresholds of the axis least-squares refinement")
    axis_length_tolerance: float = _opt(0.08, "refined axis length must be within this of L")
    axis_duplicate_deg: float = _opt(2.0, "refined axes closer than this are one axis")
    n_axes: int = _opt(6, "refined axes taken into the spin search")
    n_spin_steps: int = _opt(240, "spin angles scanned about each refined axis")
    scale_from_axis: bool = _opt(True, "spin the target cell scaled to the refined axis length (distance errors)")
    spin_tolerance: float = _opt(0.2, "all three fractional residuals below this")
    spin_excitation: float = _opt(0.001, "Å⁻¹: extra along-ray slack of the spin score (small: it costs discrimination)")
    n_refine: int = _opt(4, "best spin candidates refined")
    min_spin_score: float = _opt(0.5, "refine only candidates scoring ≥ this × the inliers acceptance needs")
    candidate_duplicate_deg: float = _opt(1.0, "a spin candidate this close to a refined one is skipped")
    stop_fraction: float = _opt(0.9, "stop refining candidates once one explains this fraction of the peaks")
    max_excitation: float = _opt(0.005, "Å⁻¹, bound on |excitation error| (≈1.7 × largest profile radius + bandwidth)")
    n_excitation_trials: int = _opt(5, "lattice points tried along each peak's ray when assigning hkl")
    refine_tolerances: tuple[float, ...] = _opt((0.3, 0.2, 0.15, 0.1), "across-ray thresholds × |a*|min, shrinking")
    n_trim_refits: int = _opt(2, "refits without the worst-fitting inliers (see _refine)")
    trim_cost_fraction: float = _opt(0.5, "inliers costing more than this × the outlier cost are left out")
    full_fit_from_step: int = _opt(1, "the cell fit starts from the fixed-cell solution after this step")
    full_refine_tolerances: tuple[float, ...] = _opt((0.3, 0.2, 0.15, 0.1), "assignment thresholds of the cell fit")
    position_sigma: float = _opt(3e-4, "Å⁻¹, expected across-ray scatter (weights of the fits)")
    excitation_sigma: float = _opt(3e-4, "Å⁻¹, along-ray scatter at q = 0, in quadrature with mosaicity × |q|")
    mosaicity: float = _opt(0.003, "rad; a mosaic crystal's rocking width grows with |q|: this weighting decides the rotation about axes across the beam")
    fit_cell: bool = _opt(True, "refine the free cell parameters of the lattice type with the orientation (index/cellfit.py)")
    min_cell_fit_inliers: int = _opt(10, "fewer explained peaks: the target cell is kept")
    cell_prior: float = _opt(0.02, "prior σ of the free cell lengths, relative to the target")
    cell_prior_angle_deg: float = _opt(1.0, "prior σ of the free cell angles")
    huber: float = _opt(2.0, "across-ray residuals beyond this × position_sigma are down-weighted")
    max_length_change: float = _opt(0.03, "refined cell lengths (and the search's cell scale) within 3 % of the target")
    further_cell_change: float = _opt(0.005, "further lattices: free cell lengths within this relative change (angles: × 100 degrees) of the first lattice's refined cell")
    max_angle_change_deg: float = _opt(3.0, "refined angles within 3° of the target")
    accept_tolerance: float = _opt(0.1, "nominal across-ray inlier threshold × |a*|min (search and first fit)")
    tolerance_scale: float = _opt(3.0, "final across-ray threshold = this × the robust σ of the lattice's own residuals (tolerance scaled to the data)")
    min_accept_tolerance: float = _opt(0.05, "lower bound of the scaled threshold, × |a*|min")
    max_accept_tolerance: float = _opt(0.2, "upper bound of the scaled threshold, × |a*|min")
    min_significance: float = _opt(20.0, "a lattice is accepted when −log10 P(a random orientation explains as many of the peaks) reaches this (index/significance.py)")
    min_inliers: int = _opt(8, "distinct peaks a lattice must explain")
    min_fraction: float = _opt(0.3, "all lattices together explain at least this fraction of the peaks: a floor "
                               "under the significance test, whose chance model does not see that peaks of a real "
                               "crystal lie on a grid a wrong cell can partly match (measured: up to 21 %)")
    min_peak_separation_px: float = _opt(1.0, "closer peaks (slab pixels) are one piece of evidence")
    max_lattices: int = _opt(4, "most lattices per frame (explained peaks removed between searches)")
    min_domain_deg: float = _opt(0.3, "degrees: a further lattice closer than this to an earlier one is that crystal's mosaic tail; its peaks are set aside")
    max_tail_searches: int = _opt(2, "searches beyond max_lattices spent on setting tails aside")
    domain_overlap_tolerance: float = _opt(1.0, "a further lattice must be significant on the peaks it explains outside this × every earlier lattice's threshold (a second domain passes, one crystal's residual tail fails)")


def option_fields(config_type: type) -> list:
    """Fields of a config dataclass that a command line can set (scalars: int, float, bool, str)."""
    out = []
    for f in fields(config_type):
        if f.default is MISSING or not isinstance(f.default, (int, float, bool, str)):
            continue
        out.append(f)
    return out
