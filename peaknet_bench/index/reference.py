"""A DIALS reference for real stills (shared/real/dials/): strong spots and lattices in our conventions.

Per image NAME: `NAME.spots.csv` (DIALS strong spots, pixel centres at +0.5, DIALS panel order),
`NAME.npz` (panel names) and `summary.json` (A matrices of every lattice in DIALS' lab frame,
beam along −z). Here spots become a PeakList in slab coordinates with pixel centres at integers,
and each lattice a real-space basis in our lab frame (A → diag(−1, 1, −1) · A).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList

FLIP = np.diag([-1.0, 1.0, -1.0])  # DIALS lab frame -> ours


class DialsReference:
    """The DIALS results in a folder (summary.json + per-image CSV/NPZ files)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "summary.json"
        try:
            self._images = json.loads(path.read_text())["images"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(str(path), "images", f"a DIALS summary with an 'images' list ({exc})") from None

    def names(self) -> list[str]:
        return [i["file"].split(".cbf")[0] for i in self._images]

    def summary(self, name: str) -> dict:
        for image in self._images:
            if image["file"].split(".cbf")[0] == name:
                return image
        raise InputError(str(self.folder / "summary.json"), "images[].file", f"an entry for {name!r}")

    def lattices(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(real basis rows a, b, c in our lab frame (Å), DIALS' unit cell) of every lattice, lattice 1 first."""
        s = self.summary(name)
        if not s.get("indexed"):
            return []
        out = []
        for lattice in [s, *s.get("additional_lattices", [])]:
            a = FLIP @ np.array(lattice["A_matrix"], float).reshape(3, 3)  # columns a*, b*, c*
            out.append((np.linalg.inv(a), np.array(lattice["unit_cell"], float)))
        return out

    def spots(self, name: str, geometry) -> PeakList:
        """DIALS' strong spots on `geometry` (the frame's own), in our convention."""
        z = np.load(self.folder / f"{name}.npz")
        names = [n[len("ARRAY_"):] if n.startswith("ARRAY_") else "p0" for n in z["panel_names"]]
        ours = np.array([geometry.panel_index(n) for n in names])
        with open(self.folder / f"{name}.spots.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            return PeakList.empty()
        panel = ours[np.array([int(r["panel"]) for r in rows])]
        min_fs = np.array([p.min_fs for p in geometry.panels])[panel]
        min_ss = np.array([p.min_ss for p in geometry.panels])[panel]
        return PeakList(fs=np.array([float(r["fs"]) for r in rows]) - 0.5 + min_fs,
                        ss=np.array([float(r["ss"]) for r in rows]) - 0.5 + min_ss, panel=panel,
                        intensity=np.array([float(r["intensity"]) for r in rows]))
