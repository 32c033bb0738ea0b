"""CrystFEL `indexamajig` as an indexing backend (SPEC-crystfel §5).

The backend writes what indexamajig reads — a peaks-only CXI file, a `.geom` pointing at
its peak table, the target `.cell` and a list of events — runs it, and parses the stream
back into the same `IndexedCrystal` results as the built-in indexer. CrystFEL does not say
which peaks a lattice explains, so they are recomputed with CrystFEL's own rule: each of
the fractional h, k, l within 0.25 of an integer.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peaknet_bench.crystal import Crystal, UnitCell, write_cell_file
from peaknet_bench.frame import PeakList
from peaknet_bench.index.base import IndexedCrystal, peaks_to_q, prediction_rms_px, ray_directions
from peaknet_bench.util.atomic import write_text_atomic

log = logging.getLogger(__name__)

PEAK_LIST_PATH = "/entry_1/result_1"
ENERGY_PATH = "/LCLS/photon_energy_eV"
CLEN_PATH = "/LCLS/detector_1/EncoderValue"  # mm, as Cheetah/psocake write it


class CrystFELError(RuntimeError):
    """indexamajig is missing or failed; the message carries the end of its log."""


@dataclass(frozen=True)
class CrystFELConfig:
    """How indexamajig is run."""

    method: str = "xgandalf"  # --indexing (xgandalf, taketwo, asdf, mosflm, ... or comma list)
    cores: int = 1  # -j
    executable: str = "indexamajig"
    tolerance: str = "5,5,5,1.5,1.5,1.5"  # --tolerance: % on lengths, degrees on angles
    multi: bool = False  # --multi: look for further lattices
    no_image_data: bool = True  # --no-image-data: the CXI holds peaks only
    integration: str = "none"  # --integration (no image data: nothing to integrate)
    extra_args: tuple[str, ...] = ()
    timeout_s: float | None = None
    workdir: str | None = None  # keep the files here instead of a temporary directory
    explain_tolerance: float = 0.25  # CrystFEL's rule for a peak explained by a lattice


@dataclass
class CrystFELJob:
    """The files of one indexamajig run and its command line."""

    workdir: Path
    cxi: Path
    geom: Path
    cell: Path
    file_list: Path
    stream: Path
    log: Path
    command: list[str] = field(default_factory=list)


class CrystFELIndexer:
    """Index with CrystFEL's indexamajig (when it is on PATH)."""

    name = "crystfel"

    def __init__(self, cell: UnitCell, config: CrystFELConfig = CrystFELConfig()) -> None:
        self.cell = cell
        self.config = config

    # ----------------------------------------------------------------- checks
    def executable(self) -> str | None:
        """Full path of indexamajig, or None when it is not installed."""
        return shutil.which(self.config.executable)

    def available(self) -> bool:
        return self.executable() is not None

    # ------------------------------------------------------------------ files
    def prepare(
        self, workdir: str | os.PathLike, peak_lists: Sequence[PeakList], geometry,
        photon_energy_ev: np.ndarray, clen_m: np.ndarray | None,
    ) -> CrystFELJob:
        """Write the CXI peaks, `.geom`, `.cell` and event list; build the command line."""
        from peaknet_bench.geometry import write_geom
        from peaknet_bench.io.cxi import write_peaks_cxi

        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        job = CrystFELJob(
            workdir=workdir, cxi=workdir / "peaks.cxi", geom=workdir / "detector.geom",
            cell=workdir / "target.cell", file_list=workdir / "files.lst", stream=workdir / "out.stream",
            log=workdir / "indexamajig.log",
        )
        n = len(peak_lists)
        clens = _clen_per_frame(geometry, clen_m, n)
        write_peaks_cxi(
            job.cxi, list(peak_lists), photon_energy_ev=np.asarray(photon_energy_ev, float),
            clen_m=clens, events=[f"//{i}" for i in range(n)],
        )
        write_geom(self.crystfel_geometry(geometry, clens), job.geom)
        write_cell_file(self.cell, job.cell)
        write_text_atomic(job.file_list, "".join(f"{job.cxi.name} //{i}\n" for i in range(n)))
        job.command = self.command(job)
        return job

    @staticmethod
    def crystfel_geometry(geometry, clens: np.ndarray):
        """The detector geometry with the header keys that point indexamajig at our CXI file."""
        header = dict(geometry.header)
        header.update({"peak_list": PEAK_LIST_PATH, "peak_list_type": "cxi"})
        header.setdefault("data", "/entry_1/data_1/data")
        header.setdefault("dim0", "%")
        header.setdefault("dim1", "ss")
        header.setdefault("dim2", "fs")
        same_clen = clens.size > 0 and np.allclose(clens, clens[0])
        panels = [dataclasses.replace(p, clen_m=None, clen_path=None) for p in geometry.panels]
        return dataclasses.replace(
            geometry, panels=panels, header=header,
            photon_energy_ev=None, photon_energy_path=ENERGY_PATH, photon_energy_scale=None,
            clen_m=float(clens[0]) if same_clen else None, clen_path=None if same_clen else CLEN_PATH,
        )

    def command(self, job: CrystFELJob) -> list[str]:
        """The indexamajig command line for `job` (paths relative to its working directory)."""
        cfg = self.config
        cmd = [
            cfg.executable, "-i", job.file_list.name, "-g", job.geom.name, "-o", job.stream.name,
            "-p", job.cell.name, "--peaks=cxi", f"--indexing={cfg.method}", "-j", str(int(cfg.cores)),
            f"--tolerance={cfg.tolerance}", f"--integration={cfg.integration}",
        ]
        if cfg.no_image_data:
            cmd.append("--no-image-data")
        if cfg.multi:
            cmd.append("--multi")
        cmd.extend(cfg.extra_args)
        return cmd

    # -------------------------------------------------------------------- run
    def run(self, job: CrystFELJob) -> None:
        """Run indexamajig for a prepared job; raise CrystFELError with its log on failure."""
        exe = self.executable()
        if exe is None:
            raise CrystFELError(f"{self.config.executable!r} not found on PATH: install CrystFEL or use the builtin indexer")
        with open(job.log, "w") as log_file:
            try:
                proc = subprocess.run(
                    [exe, *job.command[1:]], cwd=job.workdir, stdout=log_file, stderr=subprocess.STDOUT,
                    timeout=self.config.timeout_s, check=False,
                )
            except subprocess.TimeoutExpired:
                raise CrystFELError(f"indexamajig timed out after {self.config.timeout_s} s (log: {job.log})") from None
        if proc.returncode != 0 or not job.stream.is_file():
            tail = "\n".join(job.log.read_text(errors="replace").splitlines()[-15:])
            raise CrystFELError(f"indexamajig failed with exit code {proc.returncode} (log: {job.log}):\n{tail}")

    def parse(
        self, job: CrystFELJob, peak_lists: Sequence[PeakList], geometry, photon_energy_ev: np.ndarray,
        clen_m: np.ndarray | None,
    ) -> list[list[IndexedCrystal]]:
        """Results per input frame from the stream (chunks matched by their `//i` event)."""
        from peaknet_bench.io.stream import StreamReader

        n = len(peak_lists)
        out: list[list[IndexedCrystal]] = [[] for _ in range(n)]
        clens = _clen_per_frame(geometry, clen_m, n)
        for chunk in StreamReader(job.stream, geometry):
            i = _event_index(chunk.event)
            if i is None or not 0 <= i < n:
                log.warning("%s: chunk with event %r does not match an input frame", job.stream, chunk.event)
                continue
            for sc in chunk.crystals:
                out[i].append(self._result(sc, peak_lists[i], geometry, float(photon_energy_ev[i]), float(clens[i]),
                                           chunk.indexed_by))
        return out

    def _result(self, sc, peaks: PeakList, geometry, energy: float, clen: float, method: str) -> IndexedCrystal:
        crystal = Crystal(astar=sc.astar, cell=self.cell)
        q, usable = peaks_to_q(peaks, geometry, energy, clen)
        frac = q @ crystal.real_basis().T
        hkl = np.rint(frac)
        explained = np.all(np.abs(frac - hkl) <= self.config.explain_tolerance, axis=1) & np.any(hkl != 0, axis=1)
        members = usable[explained]
        hkl = hkl[explained].astype(np.int64)
        ray = ray_directions(q[explained], energy)
        diff = hkl @ crystal.astar - q[explained]
        along = np.einsum("ij,ij->i", diff, ray)
        perp = np.linalg.norm(diff - along[:, None] * ray, axis=1)
        refined = UnitCell.from_parameters(sc.cell_parameters(), lattice_type=self.cell.lattice_type,
                                           centering=self.cell.centering, unique_axis=self.cell.unique_axis,
                                           space_group=self.cell.space_group)
        return IndexedCrystal(
            crystal=crystal, cell=refined, peak_indices=members, hkl=hkl, residuals=perp, excitation=along,
            n_peaks=len(peaks), rms_px=prediction_rms_px(crystal.astar, hkl, peaks.subset(members), geometry, energy, clen),
            method=f"crystfel:{method}",
            meta={"profile_radius": sc.profile_radius},
        )

    # ------------------------------------------------------------- interface
    def index_many(
        self, peak_lists: Sequence[PeakList], geometry, photon_energy_ev, clen_m=None
    ) -> list[list[IndexedCrystal]]:
        """Index all frames in one indexamajig run (its `-j` sets the parallelism)."""
        n = len(peak_lists)
        energies = np.broadcast_to(np.asarray(photon_energy_ev, dtype=np.float64), (n,))
        clens = None if clen_m is None else np.broadcast_to(np.asarray(clen_m, dtype=np.float64), (n,))
        if n == 0:
            return []
        if self.config.workdir is not None:
            return self._index_in(Path(self.config.workdir), peak_lists, geometry, energies, clens)
        with tempfile.TemporaryDirectory(prefix="peaknet-crystfel-") as tmp:
            return self._index_in(Path(tmp), peak_lists, geometry, energies, clens)

    def _index_in(self, workdir, peak_lists, geometry, energies, clens):
        job = self.prepare(workdir, peak_lists, geometry, energies, clens)
        self.run(job)
        return self.parse(job, peak_lists, geometry, energies, clens)

    def index(self, peaks: PeakList, geometry, photon_energy_ev: float, clen_m: float | None = None) -> list[IndexedCrystal]:
        return self.index_many([peaks], geometry, [photon_energy_ev], None if clen_m is None else [clen_m])[0]


def _clen_per_frame(geometry, clen_m, n: int) -> np.ndarray:
    if clen_m is not None:
        return np.broadcast_to(np.asarray(clen_m, dtype=np.float64), (n,)).copy()
    return np.full(n, float(geometry.panel_clen_m()[0]))


def _event_index(event: str | None) -> int | None:
    if not event or not event.startswith("//"):
        return None
    try:
        return int(event[2:].split("/")[0])
    except ValueError:
        return None
