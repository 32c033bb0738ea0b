"""`peaknet-bench quickstart`: the main job on the built-in default data (what `make demo` runs)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="run the main job on the built-in default data (make demo)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time

    from peaknet_bench.geometry import PRESETS, Assembler, preset
    from peaknet_bench.util.output import emit, table

    t0 = time.perf_counter()
    rows = []
    for name in PRESETS:
        g = preset(name)
        asm = Assembler(g)
        rows.append([name, g.n_panels, f"{g.slab_shape[0]}x{g.slab_shape[1]}", f"{asm.shape[0]}x{asm.shape[1]}",
                     round(g.max_resolution_a(12398.42 / (g.photon_energy_ev or 9500.0)), 2)])
    summary = {"detectors": [dict(zip(["name", "n_panels", "slab", "assembled", "edge_resolution_a"], r)) for r in rows],
               "seconds": time.perf_counter() - t0}
    emit(summary, table(rows, ["detector", "panels", "slab", "assembled", "edge d (Å)"]), args.json)
    return 0
