"""Resumable evaluations: the peak-finding phase saved chunk by chunk beside the results file.

Finding peaks with a model on 1000+ frames takes hours on a CPU, so `evaluate` keeps every
finished chunk of frames in ``<results>.partial/`` (one ``.npz`` per chunk, written
atomically, no pickles) with a ``run.json`` that identifies the run: the method, the frame
set and the settings that shape phase 1. A rerun with ``--resume`` loads the chunks whose
run matches and finds peaks only on the rest; any mismatch is an error naming what changed,
so a stale checkpoint can never leak into another run's results. The directory is removed
once the results file is written.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.util.atomic import write_bytes_atomic, write_text_atomic

RUN_NAME = "run.json"
_PEAK_COLUMNS = ("fs", "ss", "panel", "intensity", "snr", "npix", "max_intensity", "hkl", "partiality")
_SCALARS = ("position", "index", "find_s", "source_s", "photon_energy_ev", "clen_m", "nonfinite")
_OPTIONAL_INTS = ("n_foundable", "n_matched")


def checkpoint_dir(results_path: str | os.PathLike) -> Path:
    p = Path(results_path)
    return p.with_name(p.name + ".partial")


class Checkpoint:
    """Finished chunks of one evaluation's peak-finding phase (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, run: dict[str, Any], resume: bool) -> None:
        self.path = Path(path)
        self.run = json.loads(json.dumps(run, sort_keys=True, default=str))
        meta = self.path / RUN_NAME
        if self.path.exists() and not resume:
            raise InputError(str(self.path), None, "an interrupted evaluation left its finished frames here: rerun "
                                                   "with --resume to continue it, or delete the directory to start over")
        if meta.exists():
            try:
                stored = json.loads(meta.read_text())
            except ValueError:
                raise InputError(str(meta), None, "not a readable evaluation checkpoint (delete the directory)") from None
            changed = sorted(k for k in set(stored) | set(self.run) if stored.get(k) != self.run.get(k))
            if changed:
                raise InputError(str(meta), ", ".join(changed),
                                 "differs from this run's (another method, frame set or settings): delete the "
                                 "directory or write the results elsewhere")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text_atomic(meta, json.dumps(self.run, indent=1, sort_keys=True) + "\n")

    def load(self) -> list:
        """Every finished frame (FoundFrame), in no particular order."""
        out = []
        for f in sorted(self.path.glob("chunk-*.npz")):
            try:
                with np.load(f, allow_pickle=False) as z:
                    out.extend(_frames_from(dict(z)))
            except (ValueError, KeyError, OSError) as exc:
                raise InputError(str(f), None, f"a damaged checkpoint chunk ({exc}); delete it to redo its frames") from None
        return out

    def save(self, found: list) -> None:
        """One finished chunk (atomic: a chunk file is whole or absent)."""
        if not found:
            return
        buf = io.BytesIO()
        np.savez(buf, **_arrays_of(found))
        write_bytes_atomic(self.path / f"chunk-{min(f.position for f in found):08d}.npz", buf.getvalue())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _arrays_of(found: list) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"n": np.array(len(found))}
    for k, f in enumerate(found):
        p = f"{k}/"
        for name in _SCALARS:
            arrays[p + name] = np.array(getattr(f, name))
        arrays[p + "event"] = np.array(str(f.event))
        arrays[p + "blank"] = np.array(-1 if f.blank is None else int(f.blank))
        for name in _OPTIONAL_INTS:
            value = getattr(f, name)
            arrays[p + name] = np.array(-1 if value is None else int(value))
        for col in _PEAK_COLUMNS:
            value = getattr(f.peaks, col)
            if value is not None:
                arrays[p + "peaks." + col] = np.asarray(value)
        if f.real_bases is not None:
            arrays[p + "real_bases"] = np.asarray(f.real_bases, np.float64).reshape(-1, 3, 3)
        if f.seg_counts is not None:
            arrays[p + "seg_counts"] = np.asarray(f.seg_counts)
    return arrays


def _frames_from(z: dict[str, np.ndarray]) -> list:
    from peaknet_bench.evaluate.harness import FoundFrame

    out = []
    for k in range(int(z["n"])):
        p = f"{k}/"
        peaks = PeakList(**{c: z[p + "peaks." + c] for c in _PEAK_COLUMNS if p + "peaks." + c in z})
        scalars = {name: z[p + name].item() for name in _SCALARS}
        f = FoundFrame(position=int(scalars["position"]), index=int(scalars["index"]), event=str(z[p + "event"]),
                       peaks=peaks, find_s=float(scalars["find_s"]), source_s=float(scalars["source_s"]),
                       photon_energy_ev=float(scalars["photon_energy_ev"]), clen_m=float(scalars["clen_m"]))
        f.nonfinite = int(scalars["nonfinite"])
        blank = int(z[p + "blank"])
        f.blank = None if blank < 0 else bool(blank)
        for name in _OPTIONAL_INTS:
            value = int(z[p + name])
            setattr(f, name, None if value < 0 else value)
        if p + "real_bases" in z:
            f.real_bases = list(z[p + "real_bases"])
        if p + "seg_counts" in z:
            f.seg_counts = z[p + "seg_counts"]
        out.append(f)
    return out
