"""The benchmark's measurements (SPEC-physics §8, paper §3.1), as pure functions of per-frame outcomes.

A frame is a *hit* when the method found at least `min_peaks` peaks; only hits are
indexed. hit rate = hits / frames, indexing rate = indexed hits / hits, indexing
yield = indexed / frames (= hit rate × indexing rate). Empty denominators give 0.0
with the count reported beside it, never a crash or a NaN in a results file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

CELL_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


@dataclass
class FrameOutcome:
    """What one method did with one frame (the unit every metric is computed from)."""

    event: str
    n_peaks: int
    hit: bool
    indexed: bool = False
    cells: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)
    # Ground truth, when the frame is simulated (None otherwise).
    blank: bool | None = None  # no crystal in the beam
    n_foundable: int | None = None  # found-able true reflections
    n_matched: int | None = None  # found peaks matched to found-able reflections
    correct_orientation: bool | None = None  # indexed and the orientation matches the truth
    misorientation_deg: float | None = None  # worst found lattice vs its closest true crystal (180: no match)
    index: int | None = None  # the frame's index in its run

    def to_dict(self) -> dict:
        return asdict(self)


def _rate(num: int, den: int) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def rates(outcomes: Sequence[FrameOutcome]) -> dict[str, float | int]:
    """Hit rate, indexing rate and indexing yield with their counts."""
    n = len(outcomes)
    hits = sum(o.hit for o in outcomes)
    indexed = sum(o.hit and o.indexed for o in outcomes)
    return {
        "n_frames": n,
        "n_hits": hits,
        "n_indexed": indexed,
        "hit_rate": _rate(hits, n),
        "indexing_rate": _rate(indexed, hits),
        "indexing_yield": _rate(indexed, n),
    }


def cell_statistics(outcomes: Sequence[FrameOutcome]) -> dict[str, dict[str, float]]:
    """Mean ± sd of a, b, c (Å) and α, β, γ (°) over every crystal of the indexed frames."""
    cells = np.array([c for o in outcomes if o.indexed for c in o.cells], dtype=np.float64).reshape(-1, 6)
    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(CELL_NAMES):
        col = cells[:, i]
        out[name] = {
            "mean": float(col.mean()) if col.size else float("nan"),
            "sd": float(col.std(ddof=1)) if col.size > 1 else 0.0,
            "n": int(col.size),
        }
    return out


def truth_metrics(outcomes: Sequence[FrameOutcome]) -> dict[str, float | int] | None:
    """Metrics that need the simulator's truth; None when no frame carries truth.

    Peak precision/recall/F1 are micro-averaged (pooled counts over frames), so that frames
    with many peaks weigh more, as they do for indexing.
    """
    with_truth = [o for o in outcomes if o.n_foundable is not None]
    if not with_truth:
        return None
    found = sum(o.n_peaks for o in with_truth)
    foundable = sum(o.n_foundable or 0 for o in with_truth)
    matched = sum(o.n_matched or 0 for o in with_truth)
    precision = _rate(matched, found)
    recall = _rate(matched, foundable)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    blanks = [o for o in with_truth if o.blank]
    indexed = [o for o in with_truth if o.indexed and o.hit]
    return {
        "peak_precision": precision,
        "peak_recall": recall,
        "peak_f1": f1,
        "n_found_peaks": found,
        "n_foundable_peaks": foundable,
        "n_matched_peaks": matched,
        "n_blank_frames": len(blanks),
        "false_hit_rate": _rate(sum(o.hit for o in blanks), len(blanks)),
        "correct_orientation_rate": _rate(sum(bool(o.correct_orientation) for o in indexed), len(indexed)),
        "n_wrong_orientation": sum(not o.correct_orientation for o in indexed),
    }


def bootstrap_rate_ci(
    successes: np.ndarray, trials: np.ndarray | None = None, *, n_boot: int = 2000,
    level: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of a pooled rate Σsuccesses / Σtrials, resampling frames.

    `successes` and `trials` are per-frame counts (trials defaults to 1 per frame, i.e. a
    plain proportion). Returns (estimate, low, high).
    """
    s = np.asarray(successes, dtype=np.float64).reshape(-1, 1)
    t = np.ones_like(s) if trials is None else np.asarray(trials, dtype=np.float64).reshape(-1, 1)
    return bootstrap_rates_ci(s, t, n_boot=n_boot, level=level, seed=seed)[0]


def bootstrap_rates_ci(
    successes: np.ndarray, trials: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
) -> list[tuple[float, float, float]]:
    """Bootstrap CIs of k pooled rates at once, all from the same frame resamples.

    `successes` and `trials` are (n_frames, k). Each resample is stored as per-frame
    multiplicities (a bincount of the drawn indices), so every rate's resampled sums are one
    matrix product instead of k fancy-indexing passes over n_boot × n_frames indices.
    """
    s = np.asarray(successes, dtype=np.float64)
    t = np.asarray(trials, dtype=np.float64)
    n, k = s.shape
    if n == 0:
        return [(0.0, 0.0, 0.0)] * k
    rng = np.random.default_rng(seed)
    alpha = (1.0 - level) / 2
    num = np.empty((n_boot, k))
    den = np.empty((n_boot, k))
    rows = max(1, min(n_boot, 2_000_000 // n))  # bounded memory: ~2M indices per block
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
        num[start : start + m] = counts @ s
        den[start : start + m] = counts @ t
    boot = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    out = []
    for j in range(k):
        total = t[:, j].sum()
        if total == 0:
            out.append((0.0, 0.0, 0.0))
            continue
        lo, hi = np.quantile(boot[:, j], [alpha, 1 - alpha])
        out.append((float(s[:, j].sum() / total), float(lo), float(hi)))
    return out
