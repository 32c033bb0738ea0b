"""`peaknet-bench dataset ...`: build, verify, download, info, export-hf, import-hf."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import add_n_frames, add_output, verbs as verbs_of

    verbs = verbs_of(sub, "dataset", help="versioned datasets: build, verify, download, inspect, Hugging Face exchange")

    b = verbs.add_parser("build", help="rebuild a dataset version from its recipe and check it against the manifest")
    b.add_argument("version_dir", help="datasets/<name>/<version> (holds recipe.yaml and manifest.json)")
    add_output(b, None, "output directory (default: the cache, $PEAKNET_BENCH_CACHE/<name>/<version>)", "--out")
    b.add_argument("--force", action="store_true", help="replace OUT if it exists")
    add_n_frames(b, None, "override every experiment's frame count (quick trial builds; skips the manifest check)",
                 "--frames", none_means="the recipe's counts")
    b.add_argument("--publish", action="store_true",
                   help="write the new manifest, card and croissant.json into version_dir (maintainers)")
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    b.set_defaults(handler=_build)

    v = verbs.add_parser("verify", help="check a local copy against its manifest (exit 1 naming bad files)")
    v.add_argument("path", help="a built or downloaded dataset directory")
    v.add_argument("--manifest", default=None, help="manifest to check against (default: PATH/manifest.json)")
    v.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    v.set_defaults(handler=_verify)

    d = verbs.add_parser("download", help="fetch a dataset version into the cache (resume, sha256 per file)")
    d.add_argument("spec", help="NAME[:VERSION], e.g. peaknet-sim:1.2 (newest version when omitted)")
    d.add_argument("--base-url", default=None, help="download from here instead of the manifest's URLs (https, http, file)")
    d.add_argument("--cache-dir", default=None, help="cache root (default $PEAKNET_BENCH_CACHE or ~/.cache/peaknet-bench)")
    d.add_argument("--retries", type=int, default=3, help="resume attempts per file within this run")
    d.add_argument("--verify", action="store_true",
                   help="hash every cached file again (by default only files whose size or mtime changed since "
                        "their last check are hashed)")
    d.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    d.set_defaults(handler=_download)

    i = verbs.add_parser("info", help="counts per split/experiment, sizes, peak statistics, thumbnail grid")
    i.add_argument("target", help="a dataset directory, or NAME[:VERSION] (cached copy, else the manifest)")
    i.add_argument("--thumbnails", default=None, help="write a PNG grid of assembled frames with labels overlaid here")
    i.add_argument("--n-thumbnails", type=int, default=12, help="frames in the thumbnail grid")
    i.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    i.set_defaults(handler=_info)

    e = verbs.add_parser("export-hf", help="write a store as a Hugging Face DatasetDict (save_to_disk)")
    e.add_argument("path", help="dataset directory or data.zarr")
    e.add_argument("out", help="output directory for the Hugging Face dataset")
    e.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    e.set_defaults(handler=_export_hf)

    m = verbs.add_parser("import-hf", help="rebuild a store from a Hugging Face export")
    m.add_argument("path", help="directory written by export-hf")
    m.add_argument("out", help="output store (data.zarr) path")
    m.add_argument("--force", action="store_true", help="replace OUT if it exists")
    m.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    m.set_defaults(handler=_import_hf)


def _build(args: argparse.Namespace) -> int:
    from peaknet_bench.errors import InputError
    from peaknet_bench.data.build import build_dataset, publish
    from peaknet_bench.data.download import cache_root
    from peaknet_bench.data.manifest import load_recipe
    from peaknet_bench.util.output import emit

    recipe = load_recipe(args.version_dir)
    trial = args.n_frames is not None
    if trial and args.publish:
        raise InputError(args.version_dir, "--publish", "a trial build (-n/--n-frames) cannot be published")
    if trial:
        recipe = recipe.model_copy(update={"experiments": [e.model_copy(update={"frames": args.n_frames})
                                                           for e in recipe.experiments]})
    default_out = cache_root() / recipe.name / (recipe.version + ("-trial" if trial else ""))
    out = Path(args.output) if args.output else default_out
    result = build_dataset(args.version_dir, out, recipe=recipe, overwrite=args.force, compare=not trial)
    if args.publish:
        publish(out, args.version_dir)
    summary: dict[str, Any] = {
        "path": str(out), "name": recipe.name, "version": recipe.version, **result.summary,
        "files": result.manifest["n_files"], "bytes": result.manifest["total_bytes"],
        "seconds": result.seconds, "frames_per_s": result.summary["n_frames"] / max(result.seconds, 1e-9),
        "reproduces_manifest": result.reproduces, "bad_files": result.report.bad_files() if result.report else [],
    }
    lines = [f"built {recipe.name} {recipe.version}: {result.summary['n_frames']} frames, "
             f"{result.manifest['n_files']} files, {result.manifest['total_bytes'] / 1e6:.1f} MB in "
             f"{result.seconds:.1f} s -> {out}"]
    for split, per in result.summary["splits"].items():
        lines.append(f"  {split:<10} " + ", ".join(f"{k} {n}" for k, n in per.items()))
    if result.report is None:
        lines.append("no published manifest to compare with" + (" (trial build)" if trial else ""))
    elif result.report.ok:
        lines.append(f"reproduces {result.reference} ({result.report.checked} files, sha256 identical)")
    else:
        lines.append(f"DOES NOT reproduce {result.reference}:\n{result.report.message()}")
    emit(summary, "\n".join(lines), args.json)
    return 0 if result.reproduces in (None, True) else 1


def _verify(args: argparse.Namespace) -> int:
    from peaknet_bench.data.manifest import read_manifest, verify_dir
    from peaknet_bench.util.output import emit

    t0 = time.perf_counter()
    manifest = read_manifest(args.manifest or args.path)
    report = verify_dir(args.path, manifest)
    summary = {"path": args.path, "ok": report.ok, "checked": report.checked, "missing": report.missing,
               "mismatched": report.mismatched, "unexpected": report.unexpected,
               "seconds": time.perf_counter() - t0}
    human = (f"OK: {report.checked} files match the manifest of {manifest['name']} {manifest['version']}"
             if report.ok else f"FAILED: {len(report.bad_files())} bad file(s) in {args.path}\n{report.message()}")
    emit(summary, human, args.json)
    return 0 if report.ok else 1


def _download(args: argparse.Namespace) -> int:
    from peaknet_bench.data.download import fetch, parse_spec
    from peaknet_bench.data.manifest import read_manifest
    from peaknet_bench.util.output import emit

    t0 = time.perf_counter()
    name, version = parse_spec(args.spec)
    path = fetch(name, version, base_url=args.base_url, cache_dir=args.cache_dir, retries=args.retries,
                 verify=args.verify)
    m = read_manifest(path)
    seconds = time.perf_counter() - t0
    summary = {"path": str(path), "name": m["name"], "version": m["version"], "files": m["n_files"],
               "bytes": m["total_bytes"], "seconds": seconds}
    emit(summary, f"{m['name']} {m['version']}: {m['n_files']} files, {m['total_bytes'] / 1e6:.1f} MB verified "
                  f"in {path} ({seconds:.1f} s)", args.json)
    return 0


def _resolve_target(target: str) -> tuple[Path | None, dict[str, Any] | None]:
    """A dataset directory, or a NAME[:VERSION]: its cached copy if there, else its manifest."""
    from peaknet_bench.data.download import cache_root, parse_spec, resolve_version
    from peaknet_bench.data.manifest import MANIFEST_NAME, read_manifest

    p = Path(target)
    if p.exists():
        return p, None
    name, version = parse_spec(target)
    vdir = resolve_version(name, version)
    cached = cache_root() / name / vdir.name
    if (cached / "data.zarr").is_dir():
        return cached, None
    return None, read_manifest(vdir / MANIFEST_NAME) if (vdir / MANIFEST_NAME).is_file() else {"name": name, "version": vdir.name}


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from peaknet_bench.data.manifest import frame_index_rows, summarize
    from peaknet_bench.data.store import Store
    from peaknet_bench.util.output import emit, table

    path, manifest = _resolve_target(args.target)
    if path is None:
        summary = {"name": manifest["name"], "version": manifest["version"], "local": False,
                   "n_frames": manifest.get("n_frames"), "splits": manifest.get("splits", {}),
                   "files": manifest.get("n_files"), "bytes": manifest.get("total_bytes")}
        human = (f"{manifest['name']} {manifest['version']} (not downloaded; `peaknet-bench dataset download "
                 f"{manifest['name']}:{manifest['version']}`)\n"
                 + table([[s, sum(v.values()), ", ".join(v)] for s, v in summary["splits"].items()],
                         ["split", "frames", "experiments"]))
        emit(summary, human, args.json)
        return 0
    store = Store(path)
    rows = frame_index_rows(store)
    summary = summarize(rows)
    files = [f for f in Path(store.path).rglob("*") if f.is_file()]
    store_bytes = sum(f.stat().st_size for f in files)
    raw_bytes = sum(store.n_frames(d) * int(np.prod(store.group_attrs(d)["slab_shape"])) * 4
                    for d in store.detectors)
    summary.update({"path": str(path), "local": True, "store_bytes": store_bytes,
                    "bytes_per_frame": store_bytes / max(summary["n_frames"], 1),
                    "raw_float32_bytes_per_frame": raw_bytes / max(summary["n_frames"], 1),
                    "detectors": {d: {"frames": store.n_frames(d), "slab_shape": store.group_attrs(d)["slab_shape"],
                                      "assembled_shape": store.group_attrs(d)["assembled_shape"]}
                                  for d in store.detectors}})
    if args.thumbnails:
        summary["thumbnails"] = str(thumbnail_grid(store, args.thumbnails, args.n_thumbnails))
    split_table = table([[s, sum(v.values()), ", ".join(f"{k} ({n})" for k, n in v.items())]
                         for s, v in summary["splits"].items()], ["split", "frames", "experiments"])
    human = "\n".join([
        f"{store.attrs.get('name')} {store.attrs.get('version')} at {path}",
        split_table,
        f"store {store_bytes / 1e6:.1f} MB, {summary['bytes_per_frame'] / 1e6:.2f} MB/frame "
        f"(raw float32 {summary['raw_float32_bytes_per_frame'] / 1e6:.2f} MB/frame)",
        f"peaks found per frame {summary['peaks_found_mean']:.1f}, predicted {summary['peaks_predicted_mean']:.1f}; "
        f"{summary['selected_frames']}/{summary['n_frames']} frames selected by curation",
    ] + ([f"thumbnails: {summary['thumbnails']}"] if args.thumbnails else []))
    emit(summary, human, args.json)
    return 0


def _block_max(a, max_px: int):
    """Downsample by an integer factor with a block maximum, so single-pixel peaks stay visible."""
    import numpy as np

    f = max(1, -(-max(a.shape) // max_px))
    h, w = -(-a.shape[0] // f) * f, -(-a.shape[1] // f) * f
    padded = np.zeros((h, w), dtype=a.dtype)
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(h // f, f, w // f, f).max(axis=(1, 3))


def thumbnail_grid(store, out: str | os.PathLike, n: int = 12, seed: int = 0, max_px: int = 400) -> Path:
    """PNG grid of assembled frames (curation-selected ones first; log-scaled, block-max
    downsampled to `max_px`) with label pixels overlaid in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from peaknet_bench.util.atomic import atomic_path

    items = store.index(selected_only=True) or store.index()  # labelled frames make better thumbnails
    pick = sorted(np.random.default_rng(seed).choice(len(items), size=min(n, len(items)), replace=False))
    cols = min(4, len(pick))
    rows = (len(pick) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), pick):
        det, i = items[k]
        asm = store.assembler(det)
        img = asm.assemble(store.image(det, i))
        lab = asm.assemble(store.label(det, i))
        good = asm.assemble(store.mask(det, i), fill=False)
        vals = img[good]
        lo, hi = (np.percentile(vals, [1, 99.95]) if vals.size else (0.0, 1.0))
        img = _block_max(np.where(good, np.clip(img, lo, hi) - lo, 0.0), max_px)
        lab = _block_max(lab, max_px)
        ax.imshow(np.log1p(img), cmap="gray_r", interpolation="nearest")
        overlay = np.zeros((*lab.shape, 4), dtype=np.float32)
        overlay[lab > 0] = (1.0, 0.0, 0.0, 0.5)
        ax.imshow(overlay, interpolation="nearest")
        f = store.frames(det)
        ax.set_title(f"{f['experiment'][i]} {f['split'][i]} #{i}", fontsize=7)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out


def _export_hf(args: argparse.Namespace) -> int:
    from peaknet_bench.data.hf import export_hf
    from peaknet_bench.util.output import emit

    t0 = time.perf_counter()
    out = export_hf(args.path, args.out)
    emit({"path": str(out), "seconds": time.perf_counter() - t0}, f"Hugging Face dataset written to {out}", args.json)
    return 0


def _import_hf(args: argparse.Namespace) -> int:
    from peaknet_bench.data.hf import import_hf
    from peaknet_bench.data.store import Store
    from peaknet_bench.util.output import emit

    t0 = time.perf_counter()
    out = import_hf(args.path, args.out, overwrite=args.force)
    n = Store(out).n_frames()
    emit({"path": str(out), "frames": n, "seconds": time.perf_counter() - t0},
         f"store with {n} frames written to {out}", args.json)
    return 0
