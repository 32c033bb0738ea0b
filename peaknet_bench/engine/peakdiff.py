"""PeakDiff: match two peak sets (found vs. predicted, method A vs. method B) per frame.

Matching is a linear sum assignment (scipy) on Euclidean distance, with a maximum match
distance: candidate pairs are the pairs closer than `max_distance` (a k-d tree query, so
large sets stay cheap), the bipartite candidate graph is split into connected components,
and each component is assigned with `linear_sum_assignment` on a cost matrix where
non-candidate pairs cost `BIG`. Pairs that end up on a `BIG` entry are discarded. The
result is, within each component, the matching with the most pairs and, among those, the
smallest total distance (BIG exceeds any sum of real distances).

Distances are in slab pixels (`space="slab"`; only peaks on the same panel can match when
both panels are known) or in assembled-image pixels (`space="lab"`, through the
geometry's Assembler, so peaks on neighbouring panels can match across a gap).

Empty-set conventions: precision = matched / found is NaN when nothing was found;
recall = matched / predicted is NaN when nothing was predicted. Curation treats NaN as
failing any threshold on it; run summaries ignore NaN (nanmean / nanmedian).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList

if TYPE_CHECKING:
    from peaknet_bench.geometry import Assembler


@dataclass(frozen=True)
class PeakDiffConfig:
    max_distance: float = 3.0  # pixels; farther pairs are never matches
    space: str = "slab"  # "slab" (same panel only) or "lab" (assembled-image pixels)

    def __post_init__(self) -> None:
        if not self.max_distance > 0:
            raise InputError(None, "max_distance", f"must be > 0, got {self.max_distance}")
        if self.space not in ("slab", "lab"):
            raise InputError(None, "space", f"expected 'slab' or 'lab', got {self.space!r}")


@dataclass
class FrameMatch:
    """PeakDiff result for one frame: index pairs into (found, predicted), and the rates."""

    found_index: np.ndarray  # (m,) int, sorted
    predicted_index: np.ndarray  # (m,) int
    distance: np.ndarray  # (m,) pixels
    n_found: int
    n_predicted: int

    @property
    def n_matched(self) -> int:
        return int(self.found_index.size)

    @property
    def precision(self) -> float:
        """matched / found; NaN when nothing was found."""
        return self.n_matched / self.n_found if self.n_found else float("nan")

    @property
    def recall(self) -> float:
        """matched / predicted; NaN when nothing was predicted."""
        return self.n_matched / self.n_predicted if self.n_predicted else float("nan")

    def matched_found(self) -> np.ndarray:
        """Boolean (n_found,) mask of found peaks that have a partner."""
        out = np.zeros(self.n_found, bool)
        out[self.found_index] = True
        return out


def _points(peaks: PeakList, space: str, assembler: "Assembler | None") -> np.ndarray:
    if space == "slab":
        return np.stack([peaks.ss, peaks.fs], axis=1)
    if assembler is None:
        raise InputError(None, "space", "space='lab' needs a geometry (assembler)")
    panel = peaks.panel if np.all(peaks.panel >= 0) else None
    row, col = assembler.slab_to_image(peaks.fs, peaks.ss, panel)
    return np.stack([row, col], axis=1)


def match_points(
    a: np.ndarray, b: np.ndarray, max_distance: float,
    group_a: np.ndarray | None = None, group_b: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of point sets a (n, d) and b (m, d) with a distance cut.

    Points only match within the same group when groups are given (-1 = any group).
    Returns (index_a, index_b, distance), sorted by index_a.
    """
    a = np.asarray(a, np.float64).reshape(-1, 2) if np.size(a) else np.zeros((0, 2))
    b = np.asarray(b, np.float64).reshape(-1, 2) if np.size(b) else np.zeros((0, 2))
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(a) == 0 or len(b) == 0:
        return empty
    pairs = cKDTree(a).sparse_distance_matrix(cKDTree(b), max_distance, output_type="ndarray")
    ia, ib, dist = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"]
    keep = dist <= max_distance
    if group_a is not None and group_b is not None:
        ga, gb = np.asarray(group_a)[ia], np.asarray(group_b)[ib]
        keep &= (ga == gb) | (ga < 0) | (gb < 0)
    ia, ib, dist = ia[keep], ib[keep], dist[keep]
    if ia.size == 0:
        return empty
    n, m = len(a), len(b)
    graph = coo_matrix((np.ones(ia.size), (ia, n + ib)), shape=(n + m, n + m))
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[ia]
    # Components with one candidate edge (most of them) match trivially, in bulk; only the
    # contested ones go through the assignment solver.
    size = np.bincount(edge_comp, minlength=n + m)[edge_comp]
    alone = size == 1
    out_a, out_b, out_d = [ia[alone]], [ib[alone]], [dist[alone]]
    ia, ib, dist, edge_comp = ia[~alone], ib[~alone], dist[~alone], edge_comp[~alone]
    order = np.argsort(edge_comp, kind="stable")
    ia, ib, dist, edge_comp = ia[order], ib[order], dist[order], edge_comp[order]
    bounds = np.flatnonzero(np.diff(edge_comp)) + 1
    for sa, sb, sd in (zip(np.split(ia, bounds), np.split(ib, bounds), np.split(dist, bounds)) if ia.size else ()):
        ua, ra = np.unique(sa, return_inverse=True)
        ub, rb = np.unique(sb, return_inverse=True)
        big = max_distance * (min(ua.size, ub.size) + 1) + 1.0
        cost = np.full((ua.size, ub.size), big)
        cost[ra, rb] = sd
        r, c = linear_sum_assignment(cost)
        real = cost[r, c] < big
        out_a.append(ua[r[real]]), out_b.append(ub[c[real]]), out_d.append(cost[r[real], c[real]])
    fa, fb, fd = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)
    order = np.argsort(fa, kind="stable")
    return fa[order], fb[order], fd[order]


def peakdiff(
    found: PeakList, predicted: PeakList, config: PeakDiffConfig = PeakDiffConfig(),
    assembler: "Assembler | None" = None,
) -> FrameMatch:
    """Match one frame's found peaks to its predicted peaks (or any two peak sets)."""
    pa = _points(found, config.space, assembler) if len(found) else np.zeros((0, 2))
    pb = _points(predicted, config.space, assembler) if len(predicted) else np.zeros((0, 2))
    groups = (found.panel, predicted.panel) if config.space == "slab" else (None, None)
    ia, ib, dist = match_points(pa, pb, config.max_distance, *groups)
    return FrameMatch(ia, ib, dist, len(found), len(predicted))


@dataclass
class RunSummary:
    """PeakDiff over a run: per-frame arrays and their summary statistics."""

    n_found: np.ndarray
    n_predicted: np.ndarray
    n_matched: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    distances: np.ndarray  # every matched pair's distance, concatenated
    stats: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_matches(cls, matches: list[FrameMatch]) -> "RunSummary":
        n_found = np.array([m.n_found for m in matches], np.int64)
        n_pred = np.array([m.n_predicted for m in matches], np.int64)
        n_match = np.array([m.n_matched for m in matches], np.int64)
        prec = np.array([m.precision for m in matches], np.float64)
        rec = np.array([m.recall for m in matches], np.float64)
        dist = np.concatenate([m.distance for m in matches]) if matches else np.zeros(0)
        s = cls(n_found, n_pred, n_match, prec, rec, dist)
        s.stats = s._stats()
        return s

    def _stats(self) -> dict[str, float]:
        def nan_stat(f, v):
            v = v[np.isfinite(v)]
            return float(f(v)) if v.size else float("nan")

        return {
            "n_frames": int(self.n_found.size),
            "found_mean": nan_stat(np.mean, self.n_found.astype(float)),
            "predicted_mean": nan_stat(np.mean, self.n_predicted.astype(float)),
            "matched_total": int(self.n_matched.sum()),
            "precision_mean": nan_stat(np.mean, self.precision),
            "precision_median": nan_stat(np.median, self.precision),
            "recall_mean": nan_stat(np.mean, self.recall),
            "recall_median": nan_stat(np.median, self.recall),
            "distance_median_px": nan_stat(np.median, self.distances),
            "distance_p90_px": nan_stat(lambda v: np.percentile(v, 90), self.distances),
        }

    def histogram(self, values: str, bins: int = 20, range_: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
        """Counts and edges of a per-frame quantity ('precision' or 'recall'), NaN skipped."""
        v = getattr(self, values)
        return np.histogram(v[np.isfinite(v)], bins=bins, range=range_)
