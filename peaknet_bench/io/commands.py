"""`peaknet-bench geom ...` and `peaknet-bench stream ...`: detector geometries (presets, .geom
files, and the geometry detector files carry) and CrystFEL stream files."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import add_json, deprecated_alias, verbs

    _register_geom(sub)
    s = verbs(sub, "stream", help="CrystFEL stream files").add_parser(
        "summary", help="chunks, hits, indexing, indexers, peaks per frame and unit-cell statistics")
    s.add_argument("file", help="CrystFEL stream file (format 2.x)")
    geom = s.add_argument("--geom", default=None,
                          help="geometry (.geom file or preset) for peak panel indices (default: the stream's own block)")
    deprecated_alias(s, geom, "--geometry")
    add_json(s)
    s.set_defaults(handler=summary)


def _register_geom(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import verbs as verbs_of

    verbs = verbs_of(sub, "geom", help="detector geometry: show, render or write a .geom file or preset")
    show = verbs.add_parser("show", help="summary of a geometry (panels, pixel size, clen, extent, resolution)")
    show.add_argument("geometry", help="preset name (epix10k2m, jungfrau4m, rayonix-mx340-4x4), .geom file, or a "
                                       "frame file carrying its geometry (CBF, imgCIF, NeXus/NXmx)")
    show.add_argument("--photon-energy", type=float, default=None,
                      help="photon energy in eV for the edge resolution (default: the geometry's own)")
    show.add_argument("--clen", type=float, default=None,
                      help="camera length in metres when the file reads it from the data (default: the geometry's)")
    show.add_argument("--panels", action="store_true", help="also list every panel")
    show.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    show.set_defaults(handler=run_show)

    render = verbs.add_parser("render", help="draw the panels in lab coordinates to a PNG")
    render.add_argument("geometry", help="preset name, .geom file or frame file (CBF, imgCIF, NeXus)")
    render.add_argument("-o", "--output", default="layout.png", help="output image (default: layout.png)")
    render.add_argument("--dpi", type=int, default=150, help="image resolution (default: 150)")
    render.add_argument("--no-names", action="store_true", help="do not write panel names")
    render.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    render.set_defaults(handler=run_render)

    write = verbs.add_parser("write", help="write a preset, a frame file's own geometry (CBF, imgCIF, NeXus) or a "
                                           "normalised copy of a .geom as a CrystFEL .geom")
    write.add_argument("geometry", help="preset name, .geom file or frame file (CBF, imgCIF, NeXus)")
    write.add_argument("-o", "--output", default="detector.geom", help="output .geom file (default: detector.geom)")
    write.add_argument("--clen", type=float, default=None, help="camera length in metres (default: keep)")
    write.add_argument("--photon-energy", type=float, default=None, help="photon energy in eV (default: keep)")
    write.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    write.set_defaults(handler=run_write)


def run_show(args: argparse.Namespace) -> int:
    from peaknet_bench.util.output import emit, table

    from peaknet_bench.geometry.layout import summarize
    from peaknet_bench.io.frames import geometry_from

    g = geometry_from(args.geometry)
    s = summarize(g, args.photon_energy, args.clen)
    ext = s["extent_mm"]
    rows = [
        ["geometry", s["source"]],
        ["panels", s["n_panels"]],
        ["pixel size (µm)", ", ".join(f"{v:g}" for v in s["pixel_size_um"])],
        ["camera length", f"{s['clen_m']:.4f} m" if s["clen_m"] is not None else f"from data: {s['clen_path']} (mm)"],
        ["photon energy", f"{s['photon_energy_ev']:.1f} eV" if s["photon_energy_ev"] is not None
         else f"from data: {s['photon_energy_path']}"],
        ["extent x (mm)", f"{ext['x'][0]:.1f} .. {ext['x'][1]:.1f}"],
        ["extent y (mm)", f"{ext['y'][0]:.1f} .. {ext['y'][1]:.1f}"],
        ["slab (ss x fs)", f"{s['slab_shape'][0]} x {s['slab_shape'][1]}"],
        ["assembled (rows x cols)", f"{s['assembled_shape'][0]} x {s['assembled_shape'][1]}"],
        ["edge resolution", f"{s['edge_resolution_a']:.2f} Å" if s["edge_resolution_a"] is not None
         else "n/a (give --photon-energy and --clen)"],
        ["bad regions", s["n_bad_regions"]],
        ["groups / rigid groups", f"{s['n_groups']} / {s['n_rigid_groups']}"],
        ["good pixels", s["n_good_pixels"]],
    ]
    human = table(rows, ["property", "value"])
    if args.panels:
        s["panels"] = [
            {"name": p.name, "min_fs": p.min_fs, "max_fs": p.max_fs, "min_ss": p.min_ss, "max_ss": p.max_ss,
             "corner_x": p.corner_x, "corner_y": p.corner_y, "fs": list(p.fs), "ss": list(p.ss)}
            for p in g.panels
        ]
        human += "\n\n" + table(
            [[p["name"], f"{p['min_fs']}..{p['max_fs']}", f"{p['min_ss']}..{p['max_ss']}",
              f"{p['corner_x']:.2f}, {p['corner_y']:.2f}", _vec(p["fs"]), _vec(p["ss"])] for p in s["panels"]],
            ["panel", "fs", "ss", "corner (px)", "fs vector", "ss vector"],
        )
    emit(s, human, args.json)
    return 0


def _vec(v: list[float]) -> str:
    return " ".join(f"{c:+.4f}{a}" for c, a in zip(v, "xyz"))


def run_render(args: argparse.Namespace) -> int:
    from peaknet_bench.geometry.layout import render_layout
    from peaknet_bench.io.frames import geometry_from
    from peaknet_bench.util.output import emit

    g = geometry_from(args.geometry)
    summary = render_layout(g, args.output, dpi=args.dpi, names=not args.no_names)
    emit(summary, f"wrote {summary['output']}: {g.n_panels} panels of {g.source}", args.json)
    return 0


def run_write(args: argparse.Namespace) -> int:
    from peaknet_bench.geometry import write_geom
    from peaknet_bench.geometry.layout import with_beam
    from peaknet_bench.io.frames import geometry_from
    from peaknet_bench.util.output import emit

    g = with_beam(geometry_from(args.geometry), clen_m=args.clen, photon_energy_ev=args.photon_energy)
    write_geom(g, args.output)
    summary = {"output": str(args.output), "n_panels": g.n_panels, "slab_shape": list(g.slab_shape),
               "clen_m": g.clen_m, "photon_energy_ev": g.photon_energy_ev}
    emit(summary, f"wrote {args.output}: {g.n_panels} panels, slab {g.slab_shape[0]} x {g.slab_shape[1]}", args.json)
    return 0


def _pm(stat: dict[str, Any], unit: str) -> str:
    if stat["mean"] is None:
        return "-"
    sd = "-" if stat["sd"] is None else f"{stat['sd']:.2f}"
    return f"{stat['mean']:.2f} ± {sd}{unit}"


def _human(s: dict[str, Any]) -> str:
    from peaknet_bench.util.output import table

    pct = lambda x: "-" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    ppf = s["peaks_per_frame"]
    lines = [
        f"{s['file']}: CrystFEL stream format {s['format']}"
        + (f", generated by {s['generated_by']}" if s["generated_by"] else "")
        + f", {s['bytes'] / 1e6:.1f} MB read in {s['seconds']:.2f} s",
        f"chunks           {s['n_chunks']}",
        f"hits             {s['n_hits']} ({pct(s['hit_rate'])} of chunks)",
        f"indexed frames   {s['n_indexed']} ({pct(s['indexing_rate'])} of hits)",
        f"crystals         {s['n_crystals']} ({s['n_multi_crystal_frames']} frame(s) with more than one)",
        "indexers         " + (", ".join(f"{k} {v}" for k, v in s["indexers"].items()) or "none"),
        "peaks per frame  " + ("-" if ppf["mean"] is None else f"mean {ppf['mean']:.2f}, median {ppf['median']:.1f}, max {ppf['max']}"),
    ]
    if s["n_crystals"]:
        target = s["target_cell"] or {}
        units = {"a": " Å", "b": " Å", "c": " Å", "alpha": "°", "beta": "°", "gamma": "°"}
        rows = [[k, _pm(v, units[k]), "-" if target.get(k) is None else f"{target[k]:.2f}{units[k]}"]
                for k, v in s["unit_cell"].items()]
        lines += ["", f"unit cell over {s['n_crystals']} crystals ({', '.join(f'{k}: {v}' for k, v in s['lattices'].items())}):",
                  table(rows, ["", "mean ± sd", "target"])]
    return "\n".join(lines)


def summary(args: argparse.Namespace) -> int:
    from peaknet_bench.io.stream import StreamReader, summarize_stream
    from peaknet_bench.util.output import emit
    from peaknet_bench.util.progress import bar

    geometry = None
    if args.geom:
        from peaknet_bench.geometry import load_geometry

        geometry = load_geometry(args.geom)
    reader = StreamReader(args.file, geometry, resolve_panels=geometry is not None)
    with bar(total=round(reader.size / 1e6, 1), desc="reading stream (MB)") as pbar:
        done = [0.0]

        def on_progress(position: int) -> None:
            mb = position / 1e6
            pbar.update(mb - done[0])
            done[0] = mb

        result = summarize_stream(reader, on_progress)
    emit(result, _human(result), args.json)
    return 0
