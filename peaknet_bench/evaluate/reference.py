"""Evaluation on real frames without truth: agreement with a reference spot list, and the rates.

What a facility scientist runs to compare a model (or a peakfinder8 setting) with the peak
finder they trust: for real detector files (any `open_frames` reader) and a reference spot
list (`peaknet_bench.io.spots`: DIALS ``*.spots.csv`` folder, DIALS ``.refl``, CrystFEL
stream), per frame and pooled:

* **agreement**: found peaks matched one-to-one to the reference's spots (Hungarian
  assignment, `engine.peakdiff.match_points`: same panel, distance ≤ `match_radius_px`,
  the most pairs and among those the smallest total distance); recall = matched / reference
  spots, precision = matched / found peaks (pooled = sums over frames; a frame without
  reference spots has no recall, one without peaks no precision);
* **hit rate, indexing rate, yield and unit-cell statistics** as the harness defines them
  (`evaluate.metrics`), indexing the hits through the indexer registry (builtin by default)
  with each frame's own geometry, photon energy and camera length;
* where the reference indexes too (DIALS ``summary.json``, an indexed ``.refl``, a stream's
  crystals): how many frames the reference indexed and how many of those we index, and
  whether our lattices are the reference's (integer-matrix test + misorientation, the
  harness' orientation test with the reference's lattices in place of the truth); and of our
  peaks without a reference spot, how many lie on the reference's own lattice (a reflection
  predicted from it within the match radius) against how many a random position would —
  precision is agreement with the reference's cut, and this tells real spots it did not call
  strong from noise.

Frames are processed in one process, in order (the finder is built once per distinct
geometry: files of one detector share it); `workers`/`address` spread the indexing only.

    results = evaluate_against_reference(pf8_method(Peakfinder8Params(threshold=10)),
                                         "shared/real/cbf/thau_*.cbf.bz2", "shared/real/dials",
                                         ReferenceConfig(), cell=read_cell_file("thau.cell"))
    results.agreement["pooled"]["recall"]
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.methods import MethodSpec, sha256_text
from peaknet_bench.evaluate.metrics import (
    CELL_NAMES,
    FrameOutcome,
    bootstrap_rate_ci,
    cell_statistics,
    rates,
)
from peaknet_bench.frame import HIT_MIN_PEAKS, PeakList
from peaknet_bench.util import detmath as dm
from peaknet_bench.util.progress import bar

SCHEMA_NAME = "peaknet-bench-reference-results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReferenceConfig:
    """Everything that decides the numbers of an evaluation against a reference spot list."""

    match_radius_px: float = 2.0  # found peak ↔ reference spot: same panel, distance ≤ this (slab pixels)
    min_peaks: int = HIT_MIN_PEAKS  # hit: at least this many found peaks
    indexer: str = "builtin"  # a backend of peaknet_bench.index.registry
    indexer_options: dict[str, Any] = field(default_factory=dict)
    integer_tol: float = 0.1  # lattice agreement with the reference: |M − round(M)| bound
    max_misorientation_deg: float = 0.5  # ... and misorientation bound
    workers: int = 1  # Ray workers for indexing (peak finding runs in this process)
    address: str | None = None
    chunk_size: int = 8
    n_boot: int = 2000
    ci_level: float = 0.95
    seed: int = 0  # bootstrap seed
    show_progress: bool | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.match_radius_px) and self.match_radius_px > 0):
            raise InputError(None, "match_radius_px", f"expected a positive radius in pixels, got {self.match_radius_px}")
        if self.min_peaks < 0:
            raise InputError(None, "min_peaks", f"expected >= 0, got {self.min_peaks}")
        if self.workers < 1:
            raise InputError(None, "workers", f"expected >= 1, got {self.workers}")


@dataclass
class ReferenceFrameResult:
    """One frame: our peaks against the reference's spots, our indexing against theirs."""

    file: str
    index: int  # frame index in its file
    event: str
    detector: str
    n_found: int
    n_reference: int | None  # None: the reference has no entry for this frame
    n_matched: int
    recall: float | None  # matched / reference spots (None without reference spots)
    precision: float | None  # matched / found peaks (None without found peaks)
    median_distance_px: float | None
    hit: bool
    indexed: bool = False
    n_lattices: int = 0
    cells: list[list[float]] = field(default_factory=list)
    reference_indexed: bool | None = None
    reference_n_lattices: int | None = None
    lattices_agreeing: int | None = None  # our lattices that are one of the reference's
    misorientation_deg: float | None = None  # our first lattice to the reference's closest
    # found peaks without / with a reference spot that lie within match_radius_px of a reflection
    # predicted from the reference's lattices, and the fraction of the frame's good pixels that
    # do (what a random position would score); None where the reference has no lattice
    n_unmatched_on_lattice: int | None = None
    n_matched_on_lattice: int | None = None
    lattice_chance: float | None = None
    find_seconds: float = 0.0


@dataclass
class ReferenceResults:
    """An evaluation against a reference (`to_dict()` is the results file's JSON)."""

    created_utc: str
    method: dict[str, Any]
    frames_identity: dict[str, Any]
    reference: dict[str, Any]
    config: dict[str, Any]
    indexer: dict[str, Any]
    agreement: dict[str, Any]  # "pooled" and "by_detector" counts, recall, precision (+ intervals)
    metrics: dict[str, Any]  # rates, intervals and unit-cell statistics, as the harness reports them
    reference_indexing: dict[str, Any] | None
    throughput: dict[str, Any]
    frames: list[ReferenceFrameResult]
    schema_name: str = SCHEMA_NAME
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["frames"] = [asdict(f) for f in self.frames]
        return {"schema_name": out.pop("schema_name"), "schema_version": out.pop("schema_version"), **out}


# ------------------------------------------------------------------ agreement
def reference_match(found: PeakList, reference: PeakList, radius_px: float):
    """The one-to-one match (`engine.peakdiff.FrameMatch`): same panel, distance ≤ `radius_px`."""
    from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff

    return peakdiff(found, reference, PeakDiffConfig(max_distance=radius_px))


def match_to_reference(found: PeakList, reference: PeakList, radius_px: float) -> tuple[int, np.ndarray]:
    """(matched pairs, their distances): one-to-one, same panel, distance ≤ `radius_px`."""
    m = reference_match(found, reference, radius_px)
    return m.n_matched, m.distance


def on_lattice(peaks: PeakList, bases: Sequence[np.ndarray], cell, frame, radius_px: float) -> tuple[np.ndarray, float]:
    """(per peak: within `radius_px` of a reflection predicted from the lattices `bases` (rows a,
    b, c, Å, our lab frame; the built-in still prediction with its default profile radius,
    `cell`'s absences removed), fraction of the frame's good pixels that are): the second is
    what a peak at a random position would score."""
    from peaknet_bench.crystal.orientation import Crystal
    from peaknet_bench.crystal.predict import predict_reflections
    from peaknet_bench.frame import WAVELENGTH_EV_A

    g = frame.geometry
    wavelength = WAVELENGTH_EV_A / float(frame.photon_energy_ev)
    predicted = PeakList.concatenate([predict_reflections(Crystal(dm.inv3(np.asarray(b, float)).T, cell), g,
                                                          wavelength, clen_m=frame.clen_m) for b in bases])
    covered = np.zeros(g.slab_shape, bool)
    if len(predicted):
        # every pixel within the radius of a predicted position, on that reflection's own panel
        r = int(np.ceil(radius_px))
        d = np.arange(-r, r + 1)
        ss = np.rint(predicted.ss).astype(np.int64)[:, None, None] + d[None, :, None]
        fs = np.rint(predicted.fs).astype(np.int64)[:, None, None] + d[None, None, :]
        lo_ss, hi_ss, lo_fs, hi_fs = (np.array([getattr(g.panels[int(k)], a) for k in predicted.panel])[:, None, None]
                                      for a in ("min_ss", "max_ss", "min_fs", "max_fs"))
        near = np.hypot(ss - predicted.ss[:, None, None], fs - predicted.fs[:, None, None]) <= radius_px
        near &= (ss >= lo_ss) & (ss <= hi_ss) & (fs >= lo_fs) & (fs <= hi_fs)
        ss, fs = np.broadcast_arrays(ss, fs)
        covered[ss[near], fs[near]] = True
    good = g.panel_map >= 0
    if frame.mask is not None:
        good &= np.asarray(frame.mask, bool)
    chance = float(covered[good].mean()) if good.any() else 0.0
    rows = np.clip(np.rint(peaks.ss).astype(np.int64), 0, covered.shape[0] - 1)
    cols = np.clip(np.rint(peaks.fs).astype(np.int64), 0, covered.shape[1] - 1)
    return covered[rows, cols], chance


def agreement_summary(frames: Sequence[ReferenceFrameResult], n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> dict[str, Any]:
    """Pooled counts, recall, precision and F1 over the frames the reference holds, with
    frame-resampling bootstrap intervals of recall and precision, and how many of the found
    peaks without a reference spot lie on the reference's lattice (against chance)."""
    with_ref = [f for f in frames if f.n_reference is not None]
    found = sum(f.n_found for f in with_ref)
    ref = sum(f.n_reference or 0 for f in with_ref)
    matched = sum(f.n_matched for f in with_ref)
    recall = matched / ref if ref else None
    precision = matched / found if found else None
    f1 = (2 * recall * precision / (recall + precision)) if recall and precision else (0.0 if ref and found else None)
    # intervals resample the frames that have a denominator (a resample of blank frames only
    # would count as a rate of 0)
    r_frames = [f for f in with_ref if f.n_reference]
    p_frames = [f for f in with_ref if f.n_found]
    _, r_lo, r_hi = bootstrap_rate_ci(np.array([f.n_matched for f in r_frames], float),
                                      np.array([f.n_reference for f in r_frames], float), n_boot=n_boot, level=level, seed=seed)
    _, p_lo, p_hi = bootstrap_rate_ci(np.array([f.n_matched for f in p_frames], float),
                                      np.array([f.n_found for f in p_frames], float), n_boot=n_boot, level=level, seed=seed)
    latt = [f for f in with_ref if f.n_unmatched_on_lattice is not None]
    extra = sum(f.n_found - f.n_matched for f in latt)
    on_lattice = None if not latt else {
        "n_frames": len(latt), "n_unmatched": extra, "n_on_lattice": sum(f.n_unmatched_on_lattice for f in latt),
        "fraction": sum(f.n_unmatched_on_lattice for f in latt) / extra if extra else None,
        "fraction_by_chance": sum((f.n_found - f.n_matched) * f.lattice_chance for f in latt) / extra if extra else None,
        "fraction_of_matched": (sum(f.n_matched_on_lattice for f in latt) / sum(f.n_matched for f in latt)
                                if sum(f.n_matched for f in latt) else None),
    }
    return {
        "n_frames": len(frames), "n_frames_in_reference": len(with_ref), "n_found": found, "n_reference": ref,
        "n_matched": matched, "recall": recall, "precision": precision, "f1": f1,
        "unmatched_on_reference_lattice": on_lattice,
        "ci": {"recall": None if recall is None else {"estimate": recall, "low": r_lo, "high": r_hi, "level": level},
               "precision": None if precision is None else {"estimate": precision, "low": p_lo, "high": p_hi,
                                                            "level": level}},
    }


def _outcomes(frames: Sequence[ReferenceFrameResult]) -> list[FrameOutcome]:
    return [FrameOutcome(event=f.event, n_peaks=f.n_found, hit=f.hit, indexed=f.indexed,
                         cells=[tuple(c) for c in f.cells], index=f.index) for f in frames]


def _rates(frames: Sequence[ReferenceFrameResult]) -> dict[str, Any]:
    """Hit rate, indexing rate, yield (with counts) and cell statistics, as the harness defines them."""
    outcomes = _outcomes(frames)
    return {**rates(outcomes), "cell": _cells(outcomes)}


def _cells(outcomes: Sequence[FrameOutcome]) -> dict[str, dict[str, Any]]:
    return {k: {**v, "mean": v["mean"] if np.isfinite(v["mean"]) else None} for k, v in cell_statistics(outcomes).items()}


def reference_indexing_summary(frames: Sequence[ReferenceFrameResult]) -> dict[str, Any] | None:
    """How many frames the reference indexed, how many of those we index (and in its lattice)."""
    known = [f for f in frames if f.reference_indexed is not None]
    if not known:
        return None
    ref = [f for f in known if f.reference_indexed]
    ours = [f for f in ref if f.indexed]
    agree = [f for f in ours if f.lattices_agreeing]
    return {
        "n_frames_known": len(known), "n_reference_indexed": len(ref), "n_indexed_of_those": len(ours),
        "fraction_indexed_of_those": len(ours) / len(ref) if ref else None,
        "n_in_reference_lattice": len(agree) if any(f.lattices_agreeing is not None for f in ours) else None,
        "n_indexed_reference_did_not": sum(1 for f in known if f.indexed and not f.reference_indexed),
        "reference_lattices": sum(f.reference_n_lattices or 0 for f in ref),
        "our_lattices_on_those": sum(f.n_lattices for f in ref),
    }


def _lattice_agreement(found_crystals, reference_bases: Sequence[np.ndarray],
                       config: ReferenceConfig) -> tuple[int | None, float | None]:
    """(our lattices that are one of the reference's, misorientation of our first lattice to the
    closest reference lattice in the same setting; None where it is in none)."""
    from peaknet_bench.index import compare_lattices

    if not found_crystals or not reference_bases:
        return None, None
    agreeing, first = 0, None
    for k, c in enumerate(found_crystals):
        best = None
        for rb in reference_bases:
            m = compare_lattices(c.crystal.real_basis(), rb)
            if m.max_deviation <= config.integer_tol and abs(m.determinant) == 1:
                best = m.misorientation_deg if best is None else min(best, m.misorientation_deg)
        if best is not None and best <= config.max_misorientation_deg:
            agreeing += 1
        if k == 0:
            first = best
    return agreeing, first


def _lattice(cell) -> str:
    return f"{cell.lattice_type} {cell.centering} {cell.space_group or ''}".strip()


# ------------------------------------------------------------------ frames
def detector_label(frame) -> str:
    """A frame's detector, for grouping: the file's detector name, else reader and slab shape."""
    name = frame.meta.get("detector")
    n_ss, n_fs = frame.geometry.slab_shape
    if name:
        return str(name).strip()
    return f"{frame.meta.get('reader', 'file')} {n_fs}x{n_ss} ({frame.geometry.n_panels} panel(s))"


def frames_identity(paths: Sequence[str], positions: Sequence[int], geom: Any, reader: str | None) -> dict[str, Any]:
    """Paths and sha256 of the files (the harness' FileFrames hash: the file's, or of the joined
    hashes), with the frame range."""
    from peaknet_bench.util.stamp import sha256_file

    hashes = [sha256_file(p) for p in paths]
    first = Path(paths[0])
    return {
        "kind": "files", "name": first.name if len(paths) == 1 else f"{first.name}+{len(paths) - 1}",
        "paths": [str(Path(p).resolve()) for p in paths], "sha256": hashes[0] if len(hashes) == 1 else
        sha256_text("\n".join(hashes)), "geometry": None if geom is None or not isinstance(geom, (str, os.PathLike))
        else str(geom), "reader": reader, "start": int(positions[0]) if len(positions) else 0, "n_frames": len(positions),
    }


# ------------------------------------------------------------------ main entry
def evaluate_against_reference(method: MethodSpec, files, reference, config: ReferenceConfig = ReferenceConfig(), *,
                               cell=None, geom: Any = None, reader: str | None = None, start: int = 0,
                               n_frames: int | None = None, predictions: str | os.PathLike | None = None,
                               ) -> ReferenceResults:
    """Evaluate `method` on real frames against a reference spot list.

    `files`: paths, globs or list files (`open_frames`), or an open `FrameSet`; `reference`: a
    path (`open_reference`) or a `SpotReference`; `cell`: the indexer's known cell (a
    `UnitCell`; default: the known cell the reference records for each frame's image, so one
    run may hold several samples, e.g. DIALS' ``known_symmetry_used``); `geom`
    overrides the files' geometry; frames `start` .. `start + n_frames - 1` are evaluated
    (default all). `predictions` names a CXI file for the found peak lists.
    """
    from peaknet_bench.evaluate.harness import _jsonable, build_indexer, confidence_intervals, environment
    from peaknet_bench.geometry.model import check_frame_beam
    from peaknet_bench.index import index_frames
    from peaknet_bench.io.frames import FrameSet, open_frames
    from peaknet_bench.io.spots import SpotReference, open_reference

    ref = reference if isinstance(reference, SpotReference) else open_reference(reference)
    frameset = files if isinstance(files, FrameSet) else open_frames(files, geom, reader=reader)
    cell_of_file = {p: cell if cell is not None else ref.target_cell([p]) for p in frameset.paths}
    for path, c in cell_of_file.items():
        if c is None:
            raise InputError(ref.path, "target cell", f"the reference records no known cell for {path}; give one "
                                                      "(--cell FILE.cell or a PDB file with CRYST1)")
    total = len(frameset)
    n = total - start if n_frames is None else int(n_frames)
    if start < 0 or n < 0 or start + n > total:
        raise InputError(str(frameset.paths[0]), "frames", f"range {start}+{n} outside the files' {total} frames")
    positions = list(range(start, start + n))
    indexers: list[tuple[Any, Any]] = []  # (cell, indexer), one per distinct known cell
    for c in cell_of_file.values():
        if not any(c == known for known, _ in indexers):
            indexers.append((c, build_indexer(config.indexer, c, config.indexer_options)))
    from peaknet_bench.peakfind.per_geometry import PerGeometryFinder

    finders = PerGeometryFinder(method=method)  # one finder per distinct geometry
    rows: list[ReferenceFrameResult] = []
    peaks_of: list[PeakList] = []
    beams: list[tuple[float, float]] = []
    geometries: list[Any] = []
    cells: list[Any] = []
    ref_bases: list[list[np.ndarray]] = []
    disable = None if config.show_progress is None else not config.show_progress
    t_start = time.perf_counter()
    source_s = 0.0
    with bar(n, desc=f"find ({method.name})", disable=disable) as pbar:
        for k, pos in enumerate(positions):
            t0 = time.perf_counter()
            frame = frameset.frame(pos)
            label = frame.meta.get("source") or str(frameset.paths[0])
            check_frame_beam(frame.geometry, frame.photon_energy_ev, frame.clen_m, label, f"frame {frame.event}")
            entry = ref.lookup(frame, k)
            t1 = time.perf_counter()
            peaks = finders.finder_for(frame.geometry).find(frame)
            t2 = time.perf_counter()
            source_s += t1 - t0
            n_ref = None if entry is None else len(entry.spots)
            cell = cell_of_file.get(frame.meta.get("source"), indexers[0][0])
            latt: dict[str, Any] = {}
            if entry is None:
                matched, dist = 0, np.zeros(0)
            else:
                m = reference_match(peaks, entry.spots, config.match_radius_px)
                matched, dist = m.n_matched, m.distance
                if entry.real_bases:
                    on, chance = on_lattice(peaks, entry.real_bases, cell, frame, config.match_radius_px)
                    paired = m.matched_found()
                    latt = {"n_unmatched_on_lattice": int((on & ~paired).sum()),
                            "n_matched_on_lattice": int((on & paired).sum()), "lattice_chance": chance}
            rows.append(ReferenceFrameResult(
                file=str(label), index=int(frame.meta.get("index", pos)), event=str(frame.event),
                detector=detector_label(frame), n_found=len(peaks), n_reference=n_ref, n_matched=int(matched),
                recall=matched / n_ref if n_ref else None, precision=matched / len(peaks) if len(peaks) and entry is not None else None,
                median_distance_px=float(np.median(dist)) if dist.size else None, hit=len(peaks) >= config.min_peaks,
                reference_indexed=None if entry is None else entry.indexed,
                reference_n_lattices=None if entry is None else entry.n_lattices, find_seconds=t2 - t1, **latt))
            peaks_of.append(peaks)
            beams.append((float(frame.photon_energy_ev), float(frame.clen_m)))
            geometries.append(frame.geometry)
            cells.append(cell)
            ref_bases.append([] if entry is None else list(entry.real_bases))
            pbar.update(1)
    find_wall = time.perf_counter() - t_start
    if predictions is not None:
        from peaknet_bench.io.cxi import write_peaks_cxi

        write_peaks_cxi(predictions, peaks_of, photon_energy_ev=[b[0] for b in beams], clen_m=[b[1] for b in beams],
                        events=[r.event for r in rows])

    # indexing: the hits, one call per distinct geometry and known cell (each frame with its own beam)
    t0 = time.perf_counter()
    groups: list[tuple[Any, Any, list[int]]] = []
    for k, row in enumerate(rows):
        if not row.hit:
            continue
        for g, c, members in groups:
            if (g is geometries[k] or g == geometries[k]) and c == cells[k]:
                members.append(k)
                break
        else:
            groups.append((geometries[k], cells[k], [k]))
    lattices: dict[int, list] = {}
    for g, c, members in groups:
        indexer = next(ix for known, ix in indexers if known == c)
        found = index_frames([peaks_of[k] for k in members], g, [beams[k][0] for k in members], indexer,
                             clen_m=[beams[k][1] for k in members], workers=config.workers, address=config.address,
                             chunk_size=config.chunk_size, show_progress=config.show_progress)
        lattices.update(zip(members, found))
    index_s = time.perf_counter() - t0
    for k, row in enumerate(rows):
        crystals = lattices.get(k, [])
        row.indexed = bool(crystals)
        row.n_lattices = len(crystals)
        row.cells = [[float(getattr(c.cell, name)) for name in CELL_NAMES] for c in crystals]
        row.lattices_agreeing, row.misorientation_deg = _lattice_agreement(crystals, ref_bases[k], config)

    by_detector: dict[str, list[ReferenceFrameResult]] = {}
    for row in rows:
        by_detector.setdefault(row.detector, []).append(row)
    boot = {"n_boot": config.n_boot, "level": config.ci_level, "seed": config.seed}
    agreement = {"pooled": agreement_summary(rows, **boot),
                 "by_detector": {d: agreement_summary(fr, **boot) for d, fr in by_detector.items()}}
    metrics = _rates(rows)
    metrics["ci"] = confidence_intervals(_outcomes(rows), config.ci_level, config.n_boot, config.seed)
    metrics["by_detector"] = {d: _rates(fr) for d, fr in by_detector.items()}
    find_s = float(sum(r.find_seconds for r in rows))
    first = indexers[0][1]
    settings = asdict(first.config) if hasattr(first, "config") else {}
    target_cells = [{"cell": [float(getattr(c, k)) for k in CELL_NAMES], "lattice": _lattice(c),
                     "n_frames": sum(1 for x in cells if x == c)} for c, _ in indexers]
    return ReferenceResults(
        created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=method.identity(),
        frames_identity=frames_identity(frameset.paths, positions, geom, reader),
        reference=ref.describe(),
        config={"match_radius_px": config.match_radius_px, "min_peaks": config.min_peaks,
                "matching": "one-to-one (Hungarian), same panel, distance <= match_radius_px",
                "integer_tol": config.integer_tol, "max_misorientation_deg": config.max_misorientation_deg},
        indexer={"name": config.indexer, "settings": _jsonable(settings),
                 "target_cell": target_cells[0]["cell"] if len(target_cells) == 1 else None,
                 "lattice": target_cells[0]["lattice"] if len(target_cells) == 1 else None,
                 "target_cells": target_cells},
        agreement=agreement, metrics=metrics, reference_indexing=reference_indexing_summary(rows),
        throughput={"n_frames": n, "find_seconds": find_s, "frames_per_second": n / find_s if find_s > 0 else None,
                    "ms_per_frame": 1e3 * find_s / n if n else None, "find_wall_seconds": find_wall,
                    "source_seconds": source_s, "index_seconds": index_s,
                    "index_ms_per_hit": 1e3 * index_s / sum(r.hit for r in rows) if any(r.hit for r in rows) else None,
                    "environment": environment(config.indexer)},
        frames=rows,
    )


def write_reference_results(results: ReferenceResults, path: str | os.PathLike) -> None:
    """Write the results atomically as strict JSON (NaN as null)."""
    from peaknet_bench.util.atomic import write_text_atomic
    from peaknet_bench.util.output import to_json

    write_text_atomic(path, to_json(results.to_dict(), indent=1) + "\n")


def load_reference_results(path: str | os.PathLike) -> dict[str, Any]:
    """A results file written by `write_reference_results` (checked for its schema name and version)."""
    from peaknet_bench.util.structured import read_json_schema

    return read_json_schema(path, SCHEMA_NAME, SCHEMA_VERSION)
