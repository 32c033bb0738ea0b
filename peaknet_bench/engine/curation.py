"""Curation: which frames enter the training set, and why the others do not.

The paper keeps high-precision frames (found peaks agree with the indexing prediction)
and also requires enough peaks so that trivial, nearly empty frames do not dominate.
Low recall is expected (many predicted reflections are too weak to see), so recall has
no threshold by default. Every rule is applied vectorised over a run, and every rejected
frame gets an explicit reason string naming each failed rule and the value that failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from peaknet_bench.engine.peakdiff import RunSummary


@dataclass(frozen=True)
class CurationConfig:
    """Thresholds (inclusive); None disables a rule. NaN precision/recall fails its rule."""

    min_precision: float | None = 0.8
    min_recall: float | None = None
    min_found: int | None = 15
    max_found: int | None = None
    min_predicted: int | None = 15
    max_predicted: int | None = None
    min_matched: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CurationResult:
    selected: np.ndarray  # (n_frames,) bool
    reasons: list[str]  # "" for selected frames, "; "-joined failed rules otherwise

    @property
    def n_selected(self) -> int:
        return int(self.selected.sum())

    def reason_counts(self) -> dict[str, int]:
        """How many frames failed each rule (a frame can fail several)."""
        out: dict[str, int] = {}
        for r in self.reasons:
            for part in filter(None, r.split("; ")):
                key = part.split(" ")[0]
                out[key] = out.get(key, 0) + 1
        return out


def curate(
    n_found: np.ndarray, n_predicted: np.ndarray, n_matched: np.ndarray,
    config: CurationConfig = CurationConfig(),
) -> CurationResult:
    """Apply the policy to per-frame counts (vectorised)."""
    n_found = np.asarray(n_found, np.int64)
    n_predicted = np.asarray(n_predicted, np.int64)
    n_matched = np.asarray(n_matched, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_found > 0, n_matched / np.maximum(n_found, 1), np.nan)
        recall = np.where(n_predicted > 0, n_matched / np.maximum(n_predicted, 1), np.nan)
    c = config
    # (name, values, failing mask, comparison text, threshold)
    rules = []
    if c.min_precision is not None:
        rules.append(("precision", precision, ~(precision >= c.min_precision), "<", c.min_precision))
    if c.min_recall is not None:
        rules.append(("recall", recall, ~(recall >= c.min_recall), "<", c.min_recall))
    if c.min_found is not None:
        rules.append(("found", n_found, n_found < c.min_found, "<", c.min_found))
    if c.max_found is not None:
        rules.append(("found", n_found, n_found > c.max_found, ">", c.max_found))
    if c.min_predicted is not None:
        rules.append(("predicted", n_predicted, n_predicted < c.min_predicted, "<", c.min_predicted))
    if c.max_predicted is not None:
        rules.append(("predicted", n_predicted, n_predicted > c.max_predicted, ">", c.max_predicted))
    if c.min_matched is not None:
        rules.append(("matched", n_matched, n_matched < c.min_matched, "<", c.min_matched))
    n = n_found.size
    failed = np.zeros(n, bool)
    parts: list[list[str]] = [[] for _ in range(n)]
    for name, values, fail, op, thr in rules:
        failed |= fail
        for i in np.flatnonzero(fail):
            parts[i].append(_reason(name, values[i], op, thr))
    return CurationResult(~failed, ["; ".join(p) for p in parts])


def curate_run(summary: RunSummary, config: CurationConfig = CurationConfig()) -> CurationResult:
    """The policy applied to a PeakDiff run summary."""
    return curate(summary.n_found, summary.n_predicted, summary.n_matched, config)


def _reason(name: str, value, op: str, threshold) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return f"{name} undefined (empty set)"
        return f"{name} {value:.3g} {op} {threshold}"
    return f"{name} {value} {op} {threshold}"
