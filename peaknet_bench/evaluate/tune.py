"""The expert baseline: peakfinder8 parameters tuned for indexing yield, with the cost recorded.

The paper's baseline is peakfinder8 "tuned by an expert through hours of trial and error".
This automates that expert: on a small tuning subset of frames (disjoint from the
evaluation frames: another seed or frame range), search the parameters an expert touches —
ADC threshold, min SNR, min/max pixel count, local background radius — to maximise the
indexing yield, using the same indexer as the evaluation.

Search (bounded by `budget` trials, all seeded):

1. trial 0 is CrystFEL's defaults (so the tuned set is never worse on the tuning frames);
2. a seeded random search over the box (threshold log-uniform in *photons* × the detector's
   ADU per photon, so one box fits integrating and photon-counting detectors);
3. a local coordinate refinement around the best: one parameter at a time up/down, steps
   halved after a sweep without improvement, until the budget is spent.

Ties are broken by the indexing rate, then by fewer peaks per frame (fewer false peaks for
the same yield); when nothing indexes, the defaults are kept. Frames are read once and kept in memory; each trial re-runs peak finding
(with the finder's cached radial layout) and indexing of its hits.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import HIT_MIN_PEAKS


@dataclass(frozen=True)
class TuneConfig:
    """Search box, budget and the evaluation settings the objective uses."""

    budget: int = 30  # trials in all (defaults + random + refinement)
    random_fraction: float = 0.5  # share of the budget spent on the random stage
    seed: int = 0  # search seed
    min_peaks: int = HIT_MIN_PEAKS
    indexer: str = "builtin"
    indexer_options: dict = field(default_factory=dict)  # fields of the indexer's config
    threshold_photons: tuple[float, float] = (0.5, 200.0)  # ADC threshold range, photons (× ADU/photon)
    min_snr: tuple[float, float] = (3.0, 8.0)
    min_pix_count: tuple[int, int] = (1, 4)
    max_pix_count: tuple[int, int] = (10, 400)
    local_bg_radius: tuple[int, int] = (1, 6)
    show_progress: bool | None = None

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise InputError(None, "--budget", f"expected at least 1 trial, got {self.budget}")
        if not 0.0 <= self.random_fraction <= 1.0:
            raise InputError(None, "random_fraction", f"expected a fraction in [0, 1], got {self.random_fraction}")


@dataclass
class Trial:
    params: dict[str, Any]
    n_frames: int
    n_hits: int
    n_indexed: int
    mean_peaks: float
    seconds: float
    stage: str

    @property
    def indexing_yield(self) -> float:
        return self.n_indexed / self.n_frames if self.n_frames else 0.0

    @property
    def indexing_rate(self) -> float:
        return self.n_indexed / self.n_hits if self.n_hits else 0.0

    def score(self) -> tuple[float, float, float]:
        # Fewer peaks only break ties between sets that index something: with nothing indexed
        # every set ties and the incumbent (CrystFEL's defaults first) is kept.
        return (self.indexing_yield, self.indexing_rate, -self.mean_peaks if self.n_indexed else 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(indexing_yield=self.indexing_yield, indexing_rate=self.indexing_rate,
                 hit_rate=self.n_hits / self.n_frames if self.n_frames else 0.0)
        return d


def adu_per_photon(geometry) -> float:
    """The detector's median ADU per photon (1 when the geometry does not say)."""
    values = [p.adu_per_photon for p in geometry.panels if getattr(p, "adu_per_photon", None)]
    return float(np.median(values)) if values else 1.0


class _Objective:
    """Runs one parameter set on the in-memory tuning frames."""

    def __init__(self, frames, geometry, cell, config: TuneConfig) -> None:
        from peaknet_bench.evaluate.harness import build_indexer
        from peaknet_bench.peakfind import Peakfinder8

        self.frames = frames
        self.geometry = geometry
        self.config = config
        self.indexer = build_indexer(config.indexer, cell, config.indexer_options)
        self.base = Peakfinder8(None, geometry)
        self.cache: dict[tuple, Trial] = {}
        self.find_seconds = 0.0
        self.index_seconds = 0.0

    @staticmethod
    def _key(params) -> tuple:
        return tuple(sorted(params.to_dict().items()))

    def seen(self, params) -> bool:
        return self._key(params) in self.cache

    def __call__(self, params, stage: str) -> Trial:
        from peaknet_bench.index import index_frames

        key = self._key(params)
        if key in self.cache:
            return self.cache[key]
        t0 = time.perf_counter()
        finder = self.base.with_params(params)
        peaks = [finder.find(f) for f in self.frames]
        t1 = time.perf_counter()
        hits = [(p, f) for p, f in zip(peaks, self.frames) if len(p) >= self.config.min_peaks]
        lattices = index_frames([p for p, _ in hits], self.geometry, [f.photon_energy_ev for _, f in hits],
                                self.indexer, clen_m=[f.clen_m for _, f in hits], show_progress=False) if hits else []
        t2 = time.perf_counter()
        self.find_seconds += t1 - t0
        self.index_seconds += t2 - t1
        trial = Trial(params.to_dict(), len(self.frames), len(hits), sum(bool(x) for x in lattices),
                      float(np.mean([len(p) for p in peaks])) if peaks else 0.0, t2 - t0, stage)
        self.cache[key] = trial
        return trial


def _random_params(rng: np.random.Generator, config: TuneConfig, adu: float, base):
    lo, hi = (math.log(x * adu) for x in config.threshold_photons)
    min_pix = int(rng.integers(config.min_pix_count[0], config.min_pix_count[1] + 1))
    max_lo = max(config.max_pix_count[0], min_pix)
    max_pix = int(round(math.exp(rng.uniform(math.log(max_lo), math.log(config.max_pix_count[1])))))
    return replace(
        base, threshold=float(round(math.exp(rng.uniform(lo, hi)), 3)),
        min_snr=float(round(rng.uniform(*config.min_snr), 3)), min_pix_count=min_pix,
        max_pix_count=max(max_pix, min_pix),
        local_bg_radius=int(rng.integers(config.local_bg_radius[0], config.local_bg_radius[1] + 1)),
    )


def _neighbours(p, steps: dict[str, float], config: TuneConfig, adu: float):
    """Parameter sets one step away from `p` along each coordinate, inside the box."""
    t_lo, t_hi = (x * adu for x in config.threshold_photons)
    out = []
    f = steps["threshold"]
    for thr in (p.threshold * f, p.threshold / f):
        if t_lo <= thr <= t_hi:
            out.append(replace(p, threshold=float(round(thr, 3))))
    for snr in (p.min_snr + steps["min_snr"], p.min_snr - steps["min_snr"]):
        if config.min_snr[0] <= snr <= config.min_snr[1]:
            out.append(replace(p, min_snr=float(round(snr, 3))))
    for d in (1, -1):
        v = p.min_pix_count + d
        if config.min_pix_count[0] <= v <= config.min_pix_count[1] and v <= p.max_pix_count:
            out.append(replace(p, min_pix_count=v))
        v = p.local_bg_radius + d
        if config.local_bg_radius[0] <= v <= config.local_bg_radius[1]:
            out.append(replace(p, local_bg_radius=v))
    g = steps["max_pix_count"]
    for v in (int(round(p.max_pix_count * g)), int(round(p.max_pix_count / g))):
        if config.max_pix_count[0] <= v <= config.max_pix_count[1] and v >= p.min_pix_count and v != p.max_pix_count:
            out.append(replace(p, max_pix_count=v))
    return out


def tune_pf8(source, config: TuneConfig = TuneConfig(), cell=None) -> dict[str, Any]:
    """Search peakfinder8 parameters on the frames of `source`; returns the tuner's record:
    ``{"peakfinder8": best params, "tuning": {...}}`` (the JSON `--params` accepts)."""
    from peaknet_bench.peakfind import Peakfinder8Params
    from peaknet_bench.util.progress import bar

    if len(source) == 0:
        raise InputError(None, "-n", "the tuning subset is empty; expected at least one frame")
    t_start = time.perf_counter()
    frames = [source.frame(i) for i in range(len(source))]
    t_read = time.perf_counter() - t_start
    objective = _Objective(frames, source.geometry, cell or source.cell, config)
    adu = adu_per_photon(source.geometry)
    rng = np.random.default_rng(config.seed)
    defaults = Peakfinder8Params()
    trials: list[Trial] = []
    disable = None if config.show_progress is None else not config.show_progress
    with bar(config.budget, desc="tune pf8", disable=disable) as pbar:
        def run(params, stage: str) -> Trial:
            if objective.seen(params):  # a revisit costs nothing and does not count against the budget
                return objective(params, stage)
            trial = objective(params, stage)
            trials.append(trial)
            pbar.update(1)
            pbar.set_postfix(best_yield=f"{max(t.score() for t in trials)[0]:.3f}")
            return trial

        best_params, best = defaults, run(defaults, "default")
        n_random = max(0, int(round(config.budget * config.random_fraction)) - 1)
        for _ in range(min(n_random, config.budget - len(trials))):
            p = _random_params(rng, config, adu, defaults)
            t = run(p, "random")
            if t.score() > best.score():
                best_params, best = p, t
        steps = {"threshold": 1.6, "min_snr": 1.0, "max_pix_count": 2.0}
        while len(trials) < config.budget:
            improved = False
            for p in _neighbours(best_params, steps, config, adu):
                if len(trials) >= config.budget:
                    break
                t = run(p, "refine")
                if t.score() > best.score():
                    best_params, best, improved = p, t, True
                    break
            if not improved:
                if steps["min_snr"] < 0.1:  # converged: nothing left to try at useful resolution
                    break
                steps = {"threshold": math.sqrt(steps["threshold"]), "min_snr": steps["min_snr"] / 2,
                         "max_pix_count": math.sqrt(steps["max_pix_count"])}
    seconds = time.perf_counter() - t_start
    default_trial = trials[0]
    return {
        "peakfinder8": best_params.to_dict(),
        "tuning": {
            "objective": "indexing_yield", "dataset": source.identity(), "frame_indices": list(source.indices()),
            "indexer": config.indexer, "min_peaks": config.min_peaks, "search": _search_record(config, adu),
            "best": best.to_dict(), "default": default_trial.to_dict(),
            "cost": {"trials": len(trials), "seconds": seconds,
                     "read_seconds": t_read, "find_seconds": objective.find_seconds,
                     "index_seconds": objective.index_seconds,
                     "frames_processed": len(trials) * len(frames)},
            "trials": [t.to_dict() for t in trials],
        },
    }


def _search_record(config: TuneConfig, adu: float) -> dict[str, Any]:
    d = asdict(config)
    d.pop("show_progress")
    d["adu_per_photon"] = adu
    return d


def overlapping_frames(tuned: dict[str, Any], dataset: dict[str, Any], indices: range) -> list[int]:
    """Frame indices shared by the tuning subset recorded in `tuned` and an evaluation dataset.

    Frames overlap when both come from the same experiment (same YAML hash) and seed —
    generated on the fly or read from a simulated run's CXI file — or from the same file."""
    t = tuned.get("tuning", {})
    tds = t.get("dataset", {})
    same = (tds.get("experiment_sha256") is not None and tds.get("experiment_sha256") == dataset.get("experiment_sha256")
            and tds.get("seed") == dataset.get("seed"))
    same |= tds.get("sha256") is not None and tds.get("sha256") == dataset.get("sha256")
    if not same:
        return []
    return sorted(set(t.get("frame_indices", [])) & set(indices))


def refuse_tuning_overlap(params_path: str, dataset: dict[str, Any], indices: range, advice: str) -> None:
    """Refuse to evaluate parameters (a `--params` file) on frames they were tuned on.

    Any parameters file (YAML or JSON) may come in: only a tuner's output records a tuning
    subset, so other files never overlap."""
    from peaknet_bench.util.structured import read_yaml

    tuned = read_yaml(params_path, "parameters file")
    shared = overlapping_frames(tuned if isinstance(tuned, dict) else {}, dataset, indices)
    if shared:
        raise InputError(params_path, "tuning.frame_indices",
                         f"these parameters were tuned on {len(shared)} of the evaluation frames (e.g. {shared[:3]}); "
                         f"{advice} or pass --allow-overlap")
