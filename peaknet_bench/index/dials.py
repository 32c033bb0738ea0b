"""DIALS (`dials.index`, stills indexer, known symmetry) as an indexing backend.

The backend writes one job file (geometry per frame in DIALS' lab frame, peaks in DIALS' pixel
convention), then runs DIALS' own Python on it in subprocess stages (`_dials_job.py`): import
(one experiment + strong-spot table per frame, as dials.import/find_spots would write them),
`dials.index` per frame (detector and beam fixed, never refined), with `max_lattices` > 1
further rounds on the spots the earlier ones left (kept with >= 15 spots and RMSD <= 2 px,
as DIALS' reference run did with 1.5 px), and export of the indexed crystals and spots. DIALS' lab frame has the beam along −z: positions, axes and
bases map to ours by diag(−1, 1, −1). Which peaks a lattice explains is DIALS' answer (its
indexed spots carry our peak numbers).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peaknet_bench.crystal import Crystal, UnitCell
from peaknet_bench.frame import PeakList, wavelength_a
from peaknet_bench.index.base import IndexedCrystal, peaks_to_q, prediction_rms_px, ray_directions
from peaknet_bench.util import detmath as dm

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("_dials_job.py")
FLIP = np.array([-1.0, 1.0, -1.0])  # DIALS lab frame <-> ours (180° about y)

# The lowest-symmetry space group of each lattice type and centring (when the cell names none).
_DEFAULT_GROUP = {
    "triclinic": "P 1", "monoclinic": "{c} 1 2 1", "orthorhombic": "{c} 2 2 2", "tetragonal": "{c} 4",
    "hexagonal": "P 6", "cubic": "{c} 2 3",
}


class DialsError(RuntimeError):
    """DIALS is missing or its import/export stage failed; the message carries the log's end."""


@dataclass(frozen=True)
class DialsConfig:
    """How dials.index is run."""

    executable: str = "dials.index"  # its shebang names DIALS' Python, which runs _dials_job.py
    method: str = "fft1d"  # indexing.method (fft1d, fft3d, real_space_grid_search)
    max_lattices: int = 1  # rounds of dials.index: each further one on the spots the earlier ones left
    min_spots: int = 15  # a further round's lattice needs this many indexed spots ...
    max_rmsd_px: float = 2.0  # ... and at most this RMSD (DIALS' reference run used 1.5 px on its own leftover
    #   spots; thau_3_2_0004's second domain comes out at 1.73 px here)
    cores: int = 1  # dials.index processes run at once
    timeout_s: float | None = 600.0  # per dials.index run
    workdir: str | None = None  # keep the files here instead of a temporary directory
    extra_args: tuple[str, ...] = ()  # more PHIL parameters for dials.index


def space_group_symbol(cell: UnitCell) -> str:
    """The cell's space group, or the lowest-symmetry one of its lattice type and centring."""
    if cell.space_group:
        return cell.space_group
    if cell.lattice_type == "rhombohedral" or cell.centering == "H":
        return "R 3 :R" if cell.centering == "R" else "R 3 :H"
    return _DEFAULT_GROUP[cell.lattice_type].format(c=cell.centering if cell.centering != "R" else "P")


def dials_python(executable: str) -> str | None:
    """DIALS' Python interpreter: the one named in the `dials.index` script's shebang."""
    path = shutil.which(executable)
    if path is None:
        return None
    try:
        first = Path(path).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    if not first.startswith("#!"):
        return None
    interpreter = first[2:].strip().split()[0]
    return interpreter if shutil.which(interpreter) else None


def panels_for_dials(geometry, clen_m: float) -> list[dict]:
    """Each panel's origin (corner of its first pixel), fast/slow axes and pixel size, in mm in
    DIALS' lab frame."""
    out = []
    for i, p in enumerate(geometry.panels):
        fs = np.array([p.min_fs - 0.5, p.min_fs + 0.5, p.min_fs - 0.5])
        ss = np.array([p.min_ss - 0.5, p.min_ss - 0.5, p.min_ss + 0.5])
        corner, along_fs, along_ss = geometry.lab_position_m(fs, ss, np.full(3, i), clen_m) * 1000.0
        f, s = along_fs - corner, along_ss - corner
        out.append({
            "name": str(i), "origin_mm": (corner * FLIP).tolist(),
            "fast": (f / np.linalg.norm(f) * FLIP).tolist(), "slow": (s / np.linalg.norm(s) * FLIP).tolist(),
            "pixel_mm": [float(np.linalg.norm(f)), float(np.linalg.norm(s))], "size": [int(p.width), int(p.height)],
        })
    return out


class DialsIndexer:
    """Index with DIALS' stills indexer (when `dials.index` is on PATH)."""

    name = "dials"

    def __init__(self, cell: UnitCell, config: DialsConfig = DialsConfig()) -> None:
        self.cell = cell
        self.config = config

    def available(self) -> bool:
        return dials_python(self.config.executable) is not None

    def _python(self) -> str:
        python = dials_python(self.config.executable)
        if python is None:
            raise DialsError(f"{self.config.executable} is not on PATH (Debian: apt-get install dials)")
        return python

    # ------------------------------------------------------------- interface
    def index(self, peaks: PeakList, geometry, photon_energy_ev: float, clen_m: float | None = None) -> list[IndexedCrystal]:
        return self.index_many([peaks], geometry, [photon_energy_ev], None if clen_m is None else [clen_m])[0]

    def index_many(self, peak_lists: Sequence[PeakList], geometry, photon_energy_ev, clen_m=None) -> list[list[IndexedCrystal]]:
        """Index every frame: one import, one dials.index per frame (`cores` at once), one export."""
        n = len(peak_lists)
        if n == 0:
            return []
        energies = np.broadcast_to(np.asarray(photon_energy_ev, dtype=np.float64), (n,))
        clens = (np.full(n, float(geometry.panel_clen_m()[0])) if clen_m is None
                 else np.broadcast_to(np.asarray(clen_m, dtype=np.float64), (n,)))
        python = self._python()
        if self.config.workdir is not None:
            work = Path(self.config.workdir)
            work.mkdir(parents=True, exist_ok=True)
            return self._index_in(python, work, peak_lists, geometry, energies, clens)
        with tempfile.TemporaryDirectory(prefix="peaknet-dials-") as tmp:
            return self._index_in(python, Path(tmp), peak_lists, geometry, energies, clens)

    # ----------------------------------------------------------------- stages
    def _index_in(self, python, work: Path, peak_lists, geometry, energies, clens) -> list[list[IndexedCrystal]]:
        # The stage script runs from the work directory: next to this module, our dials.py would
        # shadow DIALS' own `dials` package.
        shutil.copyfile(SCRIPT, work / SCRIPT.name)
        job = work / "job.json"
        cfg = self.config
        rounds = max(1, cfg.max_lattices)
        job.write_text(json.dumps({"frames": [self._frame_job(p, geometry, e, c)
                                              for p, e, c in zip(peak_lists, energies, clens)],
                                   "rounds": rounds, "min_spots": cfg.min_spots, "max_rmsd_px": cfg.max_rmsd_px}))
        self._stage(python, ["import", str(job)], work, "import")
        for round_ in range(rounds):
            if round_ > 0:
                self._stage(python, ["leftover", str(job), str(round_)], work, "leftover")
            todo = [i for i in range(len(peak_lists)) if (work / f"spots_{i:05d}_{round_}.refl").is_file()]
            with ThreadPoolExecutor(max_workers=max(1, cfg.cores)) as pool:
                list(pool.map(lambda i: self._index_frame(python, work, i, round_), todo))
        self._stage(python, ["export", str(job)], work, "export")
        results = json.loads((work / "result.json").read_text())
        return [self._results(r, p, geometry, float(e), float(c))
                for r, p, e, c in zip(results, peak_lists, energies, clens)]

    def _frame_job(self, peaks: PeakList, geometry, energy: float, clen: float) -> dict:
        _, usable = peaks_to_q(peaks, geometry, energy, clen)  # peaks on a panel, with finite positions
        p = peaks.subset(usable)
        panel = p.panel if np.all(p.panel >= 0) else geometry.panel_of(p.fs, p.ss)
        min_fs = np.array([q.min_fs for q in geometry.panels])[panel]
        min_ss = np.array([q.min_ss for q in geometry.panels])[panel]
        return {
            "wavelength_a": wavelength_a(energy), "panels": panels_for_dials(geometry, clen),
            "peaks": {"panel": panel.tolist(), "fs": (p.fs - min_fs + 0.5).tolist(),  # DIALS: pixel centre at +0.5
                      "ss": (p.ss - min_ss + 0.5).tolist(), "intensity": p.intensity.tolist()},
            "peak_index": usable.tolist(),
        }

    def _command(self, python: str, i: int, round_: int = 0) -> list[str]:
        cfg, cell = self.config, self.cell
        params = ",".join(f"{x:g}" for x in cell.parameters)
        return [
            python, SCRIPT.name, "index", f"frame_{i:05d}.expt", f"spots_{i:05d}_{round_}.refl",
            "stills.indexer=stills", f"indexing.method={cfg.method}",
            f"indexing.known_symmetry.space_group={space_group_symbol(cell).replace(' ', '')}",
            f"indexing.known_symmetry.unit_cell={params}",
            "refinement.parameterisation.detector.fix=all", "refinement.parameterisation.beam.fix=all",
            f"output.experiments=indexed_{i:05d}_{round_}.expt", f"output.reflections=indexed_{i:05d}_{round_}.refl",
            f"output.log=index_{i:05d}_{round_}.log", *cfg.extra_args,
        ]

    def _index_frame(self, python: str, work: Path, i: int, round_: int = 0) -> None:
        """One dials.index run; a frame DIALS cannot index leaves no output (not an error)."""
        out = work / f"index_{i:05d}_{round_}.out"
        with open(out, "w") as fh:
            try:
                proc = subprocess.run(self._command(python, i, round_), cwd=work, stdout=fh, stderr=subprocess.STDOUT,
                                      timeout=self.config.timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("dials.index timed out on frame %d after %s s", i, self.config.timeout_s)
                return
        if proc.returncode != 0:
            text = out.read_text(errors="replace")
            if "Traceback" in text and "Indexing failed" not in text and "No suitable indexing solution" not in text:
                log.warning("dials.index failed on frame %d (log %s): %s", i, out, text.strip().splitlines()[-1:])

    def _stage(self, python: str, args: list[str], work: Path, what: str) -> None:
        proc = subprocess.run([python, SCRIPT.name, *args], cwd=work, capture_output=True, text=True,
                              timeout=self.config.timeout_s)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise DialsError(f"DIALS {what} stage failed with exit code {proc.returncode} (in {work}):\n{tail}")

    def _results(self, result: dict, peaks: PeakList, geometry, energy: float, clen: float) -> list[IndexedCrystal]:
        if not result["crystals"]:
            return []
        q_all, usable = peaks_to_q(peaks, geometry, energy, clen)  # the peaks the job sent, in its order
        rows = np.array(result["peaks"], dtype=np.int64).reshape(-1, 5)  # peak_id, lattice, h, k, l
        out = []
        for lattice, basis in enumerate(result["crystals"]):
            real = np.array(basis, dtype=np.float64) * FLIP  # rows a, b, c in our lab frame
            crystal = Crystal(astar=dm.inv3(real).T, cell=self.cell)
            mine = rows[rows[:, 1] == lattice]
            members = usable[mine[:, 0]]
            hkl = mine[:, 2:5]
            q = q_all[mine[:, 0]]
            ray = ray_directions(q, energy)
            diff = hkl @ crystal.astar - q
            along = np.einsum("ij,ij->i", diff, ray)
            perp = np.linalg.norm(diff - along[:, None] * ray, axis=1)
            out.append(IndexedCrystal(
                crystal=crystal, cell=UnitCell.from_real_basis(real, template=self.cell), peak_indices=members,
                hkl=hkl, residuals=perp, excitation=along, n_peaks=len(peaks),
                rms_px=prediction_rms_px(crystal.astar, hkl, peaks.subset(members), geometry, energy, clen),
                method="dials",
            ))
        return out
