"""Indexing the real stills of shared/real/ against DIALS 3.12 (issue 17): a measurement script.

For each image and peak source (DIALS' strong spots; our peakfinder8 at the settings of
tests/test_index_real.py), each backend (builtin; dials when installed): lattices found, the
misorientation of lattice 1 to DIALS' lattice 1 and of the best further lattice to DIALS'
lattice 2, the cell against DIALS', and the CPU and wall time of one index() call (the DIALS
backend's work happens in subprocesses: its wall time counts).

    OMP_NUM_THREADS=1 python benchmarks/index_real.py [--real ../shared/real] [--no-dials] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from peaknet_bench.crystal import UnitCell
from peaknet_bench.frame import PeakList
from peaknet_bench.index import compare_lattices, make_indexer
from peaknet_bench.index.reference import DialsReference
from peaknet_bench.io.frames import open_frames

CELLS = {
    "thau": UnitCell(58.6, 58.6, 151.5, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 41 21 2"),
    "idx": UnitCell(92.9, 92.9, 130.4, 90, 90, 120, "hexagonal", unique_axis="c", space_group="P 61 2 2"),
}
PF8 = {"thau": {"threshold": 10, "min_snr": 5, "min_pix_count": 2}, "idx": {"threshold": 100, "min_snr": 5, "min_pix_count": 2}}


def pf8_peaks(frame, settings: dict) -> PeakList:
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8, Peakfinder8Params

    cols = Peakfinder8(Peakfinder8Params(**settings), frame.geometry).find_arrays(frame.data, frame.mask)
    return PeakList(fs=cols["fs"], ss=cols["ss"], panel=cols["panel"], intensity=cols["intensity"])


def measure(real: Path, backends: list[str]) -> list[dict]:
    ref = DialsReference(real / "dials")
    rows = []
    for path in sorted((real / "cbf").glob("*.cbf*")):
        name = path.name.split(".cbf")[0]
        kind = "idx" if name.startswith("idx") else "thau"
        frame = open_frames(path).frame(0)
        lattices = ref.lattices(name)
        for source, peaks in (("dials spots", ref.spots(name, frame.geometry)), ("pf8", pf8_peaks(frame, PF8[kind]))):
            for backend in backends:
                indexer = make_indexer(backend, CELLS[kind])
                t0, w0 = time.process_time(), time.perf_counter()
                found = indexer.index(peaks, frame.geometry, frame.photon_energy_ev, frame.clen_m)
                cpu, wall = time.process_time() - t0, time.perf_counter() - w0
                row = {"image": name, "peaks": source, "n_peaks": len(peaks), "backend": backend,
                       "dials_lattices": len(lattices), "lattices": len(found), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3)}
                if found and lattices:
                    m = compare_lattices(found[0].crystal.real_basis(), lattices[0][0])
                    row.update(l1_integer=bool(m.max_deviation <= 0.1 and abs(m.determinant) == 1),
                               l1_deg=round(m.misorientation_deg, 3), explained=found[0].n_inliers,
                               cell=[round(x, 3) for x in found[0].cell.parameters],
                               cell_vs_dials_pct=[round(100 * (x / y - 1), 3) for x, y in
                                                  zip(sorted(found[0].cell.parameters[:3]), sorted(lattices[0][1][:3]))])
                    if len(lattices) > 1 and len(found) > 1:
                        row["l2_deg"] = round(min(compare_lattices(f.crystal.real_basis(), lattices[1][0]).misorientation_deg
                                                  for f in found[1:]), 3)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="index the real stills and compare with DIALS")
    parser.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "real"),
                        help="folder with cbf/ and dials/ (default: ../shared/real)")
    parser.add_argument("--no-dials", action="store_true", help="builtin backend only")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    backends = ["builtin"]
    if not args.no_dials and make_indexer("dials", CELLS["thau"]).available():
        backends.append("dials")
    rows = measure(Path(args.real), backends)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        l1 = f"L1 {r['l1_deg']:.3f}°" if "l1_deg" in r else "L1 -"
        l2 = f" L2 {r['l2_deg']:.3f}°" if "l2_deg" in r else ""
        cell = " ".join(f"{x:.2f}" for x in r.get("cell", [])[:3])
        print(f"{r['image']:24s} {r['peaks']:11s} {r['n_peaks']:5d} {r['backend']:8s} lattices {r['lattices']} "
              f"(DIALS {r['dials_lattices']})  {l1}{l2}  cell {cell}  cpu {r['cpu_s']:.2f} s, wall {r['wall_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
