"""Regression testing: a candidate's results against a baseline's, metric by metric.

Every rate the benchmark reports is a pooled ratio Σsᵢ / Σtᵢ over frames (hit rate: s = hit,
t = 1; indexing rate: s = indexed hit, t = hit; peak precision: s = matched peaks, t = found
peaks; …), so its uncertainty comes from which frames happened to be in the test set. When
both results hold the same frames (same event ids) the difference of a rate is bootstrapped
*paired*: one resample of frames is applied to both methods, which cancels the frame-to-frame
variation the two share (a hard frame is hard for both) and gives much tighter intervals than
two independent intervals would. With different frames the two sides are resampled
independently.

A metric regresses when the candidate is worse than the baseline by more than its tolerance
AND (for per-frame rates with `significance`) the bootstrap interval of the difference lies
entirely on the worse side of zero. Tolerances come from `tolerances.yaml` beside this module
or a user file with the same layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peaknet_bench.errors import InputError

DEFAULT_TOLERANCES = Path(__file__).with_name("tolerances.yaml")


class MetricTolerance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["higher", "lower"] = "higher"
    abs: float = Field(0.0, ge=0)
    rel: float = Field(0.0, ge=0)
    significance: bool = True
    gate: bool = True  # False: reported, never fails the comparison (e.g. timings on shared machines)

    def allowed_drop(self, baseline: float) -> float:
        return max(self.abs, self.rel * abs(baseline))


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: float = Field(0.95, gt=0, lt=1)
    n_boot: int = Field(2000, ge=100)
    seed: int = 0
    metrics: dict[str, MetricTolerance]


def load_tolerances(path: str | os.PathLike | None = None) -> Tolerances:
    """Tolerances from a YAML file; a user file's metrics override the shipped defaults one by one."""
    default = _read_tolerances(DEFAULT_TOLERANCES)
    if path is None:
        return default
    user = _read_tolerances(Path(path))
    merged = {**default.metrics, **user.metrics}
    return user.model_copy(update={"metrics": merged})


def _read_tolerances(path: Path) -> Tolerances:
    from peaknet_bench.util.structured import read_yaml

    data = read_yaml(path, "tolerance file")
    try:
        return Tolerances.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(str(path), ".".join(str(x) for x in err["loc"]), err["msg"]) from None


# ------------------------------------------------------------------ per-frame rates
def frame_rates(results) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Per-frame (successes, trials, events) of every pooled rate a results file supports."""
    frames = results.frames
    ev = [f.event for f in frames]
    hit = np.array([f.hit for f in frames], float)
    idx = np.array([f.hit and f.indexed for f in frames], float)
    ones = np.ones(len(frames))
    out = {"hit_rate": (hit, ones, ev), "indexing_rate": (idx, hit, ev), "indexing_yield": (idx, ones, ev)}
    truth = [f for f in frames if f.n_foundable is not None]
    if truth:
        tev = [f.event for f in truth]
        matched = np.array([f.n_matched or 0 for f in truth], float)
        found = np.array([f.n_peaks for f in truth], float)
        foundable = np.array([f.n_foundable or 0 for f in truth], float)
        t_hit = np.array([f.hit for f in truth], float)
        t_idx = np.array([f.hit and f.indexed for f in truth], float)
        out["peak_precision"] = (matched, found, tev)
        out["peak_recall"] = (matched, foundable, tev)
        out["peak_f1"] = (2 * matched, found + foundable, tev)
        out["false_hit_rate"] = (t_hit * np.array([bool(f.blank) for f in truth], float),
                                 np.array([bool(f.blank) for f in truth], float), tev)
        out["correct_orientation_rate"] = (np.array([bool(f.correct_orientation) for f in truth], float) * t_idx,
                                           t_idx, tev)
    return out


def _ratio(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Σs / Σt along the last axis; 0 where Σt = 0 (as the metrics define empty denominators)."""
    num, den = s.sum(axis=-1), t.sum(axis=-1)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def paired_bootstrap_diff(s_a: np.ndarray, t_a: np.ndarray, s_b: np.ndarray, t_b: np.ndarray, *, n_boot: int = 2000,
                          level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Percentile bootstrap CI of rate_a − rate_b over the SAME frames (rows aligned):
    frames are resampled jointly. Returns (difference, low, high)."""
    s_a, t_a, s_b, t_b = (np.asarray(x, float) for x in (s_a, t_a, s_b, t_b))
    n = s_a.size
    diff = float(_ratio(s_a, t_a) - _ratio(s_b, t_b))
    if n == 0:
        return diff, diff, diff
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot = _ratio(s_a[idx], t_a[idx]) - _ratio(s_b[idx], t_b[idx])
    alpha = (1 - level) / 2
    return diff, float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))


def unpaired_bootstrap_diff(s_a, t_a, s_b, t_b, *, n_boot: int = 2000, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """Like `paired_bootstrap_diff` for two different frame sets (independent resamples)."""
    s_a, t_a, s_b, t_b = (np.asarray(x, float) for x in (s_a, t_a, s_b, t_b))
    diff = float(_ratio(s_a, t_a) - _ratio(s_b, t_b))
    if s_a.size == 0 or s_b.size == 0:
        return diff, diff, diff
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, s_a.size, size=(n_boot, s_a.size))
    ib = rng.integers(0, s_b.size, size=(n_boot, s_b.size))
    boot = _ratio(s_a[ia], t_a[ia]) - _ratio(s_b[ib], t_b[ib])
    alpha = (1 - level) / 2
    return diff, float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))


# ------------------------------------------------------------------ comparison
def scalar_metrics(results) -> dict[str, float]:
    """Every comparable number of a results file, flat."""
    m = results.metrics
    out = {k: float(getattr(m, k)) for k in ("hit_rate", "indexing_rate", "indexing_yield")}
    for k, v in (m.truth or {}).items():
        out[k] = float(v)
    for k, v in (m.segmentation or {}).items():
        out[k] = float(v)
    if results.throughput.frames_per_second is not None:
        out["frames_per_second"] = float(results.throughput.frames_per_second)
    return out


@dataclass
class Row:
    metric: str
    baseline: float
    candidate: float
    delta: float  # candidate − baseline
    low: float | None  # bootstrap CI of delta
    high: float | None
    allowed: float  # allowed drop
    paired: bool | None
    status: str  # better | same | worse (within tolerance | not significant | not gated) | REGRESSION

    @property
    def regression(self) -> bool:
        return self.status == "REGRESSION"


@dataclass
class RegressionReport:
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def table(self) -> str:
        from peaknet_bench.util.output import table

        def ci(r: Row) -> str:
            if r.low is None:
                return "-"
            return f"[{r.low:+.4f}, {r.high:+.4f}]{'' if r.paired else ' (unpaired)'}"

        rows = [[r.metric, f"{r.baseline:.4g}", f"{r.candidate:.4g}", f"{r.delta:+.4f}", ci(r), f"{r.allowed:.4g}",
                 r.status] for r in self.rows]
        text = table(rows, ["metric", "baseline", "candidate", "Δ", "95% CI of Δ", "allowed drop", "verdict"])
        if self.notes:
            text += "\n" + "\n".join(f"note: {n}" for n in self.notes)
        verdict = (f"REGRESSION in {len(self.regressions)} metric(s): " + ", ".join(r.metric for r in self.regressions)
                   if self.regressions else "no regression")
        return text + "\n" + verdict

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"ok": self.ok, "regressions": [r.metric for r in self.regressions],
                "rows": [asdict(r) for r in self.rows], "notes": self.notes}


def comparability_notes(candidate, baseline) -> list[str]:
    """Settings that make the two results measure different things."""
    notes = []
    if candidate.min_peaks != baseline.min_peaks:
        notes.append(f"min_peaks differs ({candidate.min_peaks} vs {baseline.min_peaks}): hit rates are not comparable")
    if candidate.indexer.name != baseline.indexer.name or candidate.indexer.settings != baseline.indexer.settings:
        notes.append("the indexer or its settings differ")
    if candidate.indexer.target_cell != baseline.indexer.target_cell:
        notes.append("the target cells differ")
    cd, bd = candidate.dataset, baseline.dataset
    if (cd.kind, cd.name, cd.n_frames, cd.start, cd.seed, cd.sha256 or cd.experiment_sha256) != \
            (bd.kind, bd.name, bd.n_frames, bd.start, bd.seed, bd.sha256 or bd.experiment_sha256):
        notes.append("the two results were computed on different frames: intervals are unpaired")
    return notes


def verdict(delta: float, low: float | None, high: float | None, tol: MetricTolerance, allowed: float) -> str:
    """The status of one metric: `delta` = candidate − baseline, [low, high] its bootstrap
    interval (None when the metric has no per-frame outcomes)."""
    sign = 1.0 if tol.direction == "higher" else -1.0
    gain = sign * delta  # > 0: the candidate is better
    if gain > 1e-12:
        return "better"
    if gain >= -1e-12:
        return "same"
    if -gain <= allowed:
        return "worse (within tolerance)"
    if not tol.gate:
        return "worse (not gated)"
    if low is not None and (high if sign > 0 else -low) >= 0:  # the interval reaches the not-worse side
        return "worse (not significant)"
    return "REGRESSION"


def compare(candidate, baseline, tolerances: Tolerances | None = None) -> RegressionReport:
    """Compare two `Results` metric by metric (metrics both report and the tolerances name)."""
    tol = tolerances or load_tolerances()
    cm, bm = scalar_metrics(candidate), scalar_metrics(baseline)
    cr, br = frame_rates(candidate), frame_rates(baseline)
    rows = []
    for k, (name, t) in enumerate(tol.metrics.items()):
        if name not in cm or name not in bm:
            continue
        delta = cm[name] - bm[name]
        low = high = None
        paired = None
        if t.significance and name in cr and name in br:
            (sa, ta, ea), (sb, tb, eb) = cr[name], br[name]
            kw = {"n_boot": tol.n_boot, "level": tol.level, "seed": tol.seed + k}
            if sorted(ea) == sorted(eb) and len(set(ea)) == len(ea):
                order = {e: i for i, e in enumerate(eb)}
                j = np.array([order[e] for e in ea], dtype=np.int64)
                _, low, high = paired_bootstrap_diff(sa, ta, sb[j] if j.size else sb, tb[j] if j.size else tb, **kw)
                paired = True
            else:
                _, low, high = unpaired_bootstrap_diff(sa, ta, sb, tb, **kw)
                paired = False
        allowed = t.allowed_drop(bm[name])
        status = verdict(delta, low, high, t, allowed)
        rows.append(Row(name, bm[name], cm[name], delta, low, high, allowed, paired, status))
    return RegressionReport(rows, comparability_notes(candidate, baseline))
