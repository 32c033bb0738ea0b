"""Dataset versions: recipes, manifests (size + sha256 of every file), verification, the
per-frame index, the dataset card and its Croissant metadata.

A *version directory* in the repository (``datasets/<name>/<version>/``) holds the recipe,
the manifest, the card (README.md) and croissant.json. A *built dataset* (what `build`
writes and `download` fetches) holds the same four files plus ``frames.csv`` and
``data.zarr/``. The manifest covers every file of the built dataset except the three
documentation files (manifest.json, README.md, croissant.json), which can be edited
without a rebuild.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer, model_validator

from peaknet_bench import __version__
from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import write_text_atomic
from peaknet_bench.util.output import to_json
from peaknet_bench.util.stamp import sha256_file

MANIFEST_FORMAT = "peaknet-bench-manifest"
MANIFEST_NAME = "manifest.json"
RECIPE_NAME = "recipe.yaml"
CARD_NAME = "README.md"
CROISSANT_NAME = "croissant.json"
INDEX_NAME = "frames.csv"
DOC_FILES = (MANIFEST_NAME, CARD_NAME, CROISSANT_NAME)


# ----------------------------------------------------------------------------- recipe
class ExperimentEntry(BaseModel):
    """One named simulated experiment in a recipe and how its frames are split."""

    model_config = ConfigDict(extra="forbid")
    name: str
    frames: int = Field(gt=0)
    seed: int = 0
    splits: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    engine: dict[str, Any] = Field(default_factory=dict)  # per-experiment overrides of Recipe.engine
    # The store group the frames go to (default: the detector's geometry name). Two experiments
    # on one detector with different panel settings (e.g. gain) need groups of their own.
    group: str | None = None

    @model_serializer(mode="wrap")
    def _omit_default_group(self, handler):
        # A recipe that names no group dumps as before the field existed: older datasets'
        # provenance, and so their checksums, are unchanged.
        out = handler(self)
        if self.group is None:
            out.pop("group", None)
        return out

    def engine_settings(self, base: dict[str, Any]) -> dict[str, Any]:
        """The recipe's engine settings with this experiment's overrides (mappings merged key by key)."""
        out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        for key, value in self.engine.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
        return out

    @field_validator("splits")
    @classmethod
    def _check_splits(cls, v: dict[str, float]) -> dict[str, float]:
        from peaknet_bench.data.store import SPLITS

        bad = sorted(set(v) - set(SPLITS))
        if bad:
            raise ValueError(f"unknown split(s) {bad}; expected a subset of {list(SPLITS)}")
        if any(f < 0 for f in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {v}")
        return v


class Recipe(BaseModel):
    """How a dataset version is made: everything needed to rebuild it bit for bit."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str = ""
    license: str = "CC-BY-4.0"
    base_urls: list[str] = Field(default_factory=list)
    seed: int = 0
    engine: dict[str, Any] = Field(default_factory=dict)
    experiments: list[ExperimentEntry]
    known_limitations: list[str] = Field(default_factory=list)
    date_published: str | None = None  # ISO date of the release (kept in the recipe: builds carry no clock)

    @model_validator(mode="after")
    def _unique_names(self) -> "Recipe":
        names = [e.name for e in self.experiments]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment names repeat: {names}")
        return self

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, v: Any) -> str:
        return str(v)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read recipe.yaml (a version directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / RECIPE_NAME
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(str(path), None, "no recipe.yaml here") from None
    except yaml.YAMLError as exc:
        raise InputError(str(path), None, f"not valid YAML: {exc}") from None
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(str(path), where, err["msg"]) from None


def split_assignment(entry: ExperimentEntry) -> list[str]:
    """Split of each frame of an experiment: a seeded permutation cut by the fractions.

    Deterministic in (entry.seed, entry.frames, entry.splits); largest-remainder rounding so
    the counts sum to `frames` exactly.
    """
    from peaknet_bench.data.store import SPLITS

    names = [s for s in SPLITS if entry.splits.get(s, 0) > 0]
    exact = np.array([entry.splits[s] * entry.frames for s in names])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: entry.frames - counts.sum()]:
        counts[i] += 1
    order = np.random.default_rng([entry.seed, 0x5B117]).permutation(entry.frames)
    out = [""] * entry.frames
    start = 0
    for name, n in zip(names, counts):
        for j in order[start : start + n]:
            out[int(j)] = name
        start += n
    return out


# ----------------------------------------------------------------------------- manifest
def dataset_files(root: str | os.PathLike) -> list[str]:
    """Every file the manifest covers, as sorted POSIX paths relative to `root`."""
    root = Path(root)
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in DOC_FILES and not any(part.startswith(".") for part in p.relative_to(root).parts):
            out.append(rel)
    return sorted(out)


def make_manifest(root: str | os.PathLike, recipe: Recipe, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a built dataset directory: sizes and sha256 of every covered file."""
    root = Path(root)
    files = [{"path": rel, "size": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)}
             for rel in dataset_files(root)]
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "name": recipe.name,
        "version": recipe.version,
        "package_version": __version__,
        "base_urls": list(recipe.base_urls),
        "n_files": len(files),
        "total_bytes": int(sum(f["size"] for f in files)),
    }
    manifest.update(extra or {})
    manifest["files"] = files
    return manifest


def write_manifest(root: str | os.PathLike, manifest: dict[str, Any]) -> None:
    write_text_atomic(Path(root) / MANIFEST_NAME, to_json(manifest, indent=1) + "\n")


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a manifest (its file, or the directory holding it) and check its shape."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(str(path), None, "no manifest.json") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    if data.get("format") != MANIFEST_FORMAT:
        raise InputError(str(path), "format", f"expected {MANIFEST_FORMAT!r}")
    for i, f in enumerate(data.get("files", [])):
        if not {"path", "size", "sha256"} <= set(f) or ".." in Path(f["path"]).parts or Path(f["path"]).is_absolute():
            raise InputError(str(path), f"files[{i}]", "expected a relative path, size and sha256")
    return data


@dataclass
class VerifyReport:
    """Outcome of checking a dataset directory against a manifest."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "path (size|sha256 ...)"
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unexpected)

    def bad_files(self) -> list[str]:
        return self.missing + [m.split(" (")[0] for m in self.mismatched] + self.unexpected

    def message(self) -> str:
        lines = []
        lines += [f"missing: {p}" for p in self.missing]
        lines += [f"mismatch: {p}" for p in self.mismatched]
        lines += [f"unexpected file: {p}" for p in self.unexpected]
        return "\n".join(lines)


def verify_dir(root: str | os.PathLike, manifest: dict[str, Any] | None = None, *,
               progress: bool | None = None) -> VerifyReport:
    """Check every file of `root` against the manifest (root's own one by default).

    Size first (cheap), then sha256. Files present but not listed are reported too: a
    tampered store may also gain files.
    """
    from peaknet_bench.util.progress import bar

    root = Path(root)
    if manifest is None:
        manifest = read_manifest(root)
    report = VerifyReport()
    listed = {f["path"]: f for f in manifest["files"]}
    total = sum(int(f["size"]) for f in listed.values())
    with bar(total, desc="verify", disable=None if progress is None else not progress) as pbar:
        for rel, f in listed.items():
            p = root / rel
            report.checked += 1
            if not p.is_file():
                report.missing.append(rel)
                continue
            size = p.stat().st_size
            if size != int(f["size"]):
                report.mismatched.append(f"{rel} (size {size}, manifest {f['size']})")
            elif sha256_file(p) != f["sha256"]:
                report.mismatched.append(f"{rel} (sha256 differs from the manifest)")
            pbar.update(int(f["size"]))
    report.unexpected = [rel for rel in dataset_files(root) if rel not in listed]
    return report


# ----------------------------------------------------------------------------- frame index
INDEX_COLUMNS = ["detector", "frame", "split", "experiment", "event", "photon_energy_ev", "clen_m",
                 "seed", "index", "n_crystals", "n_found", "n_predicted", "precision", "recall",
                 "selected", "reason"]


def frame_index_rows(store) -> list[dict[str, Any]]:
    """One row per frame: the store's scalar metadata plus crystal and peak counts."""
    rows = []
    for det in store.detectors:
        f = store.frames(det)
        groups = store.group(det)
        cryst_off = np.asarray(groups["crystals"]["offsets"][...])
        counts = {}
        for table in ("found", "predicted"):
            if table in store.peak_tables(det):
                counts[table] = np.diff(np.asarray(groups["peaks"][table]["offsets"][...]))
        for i in range(store.n_frames(det)):
            rows.append({
                "detector": det, "frame": i, "split": f["split"][i], "experiment": f["experiment"][i],
                "event": f["event"][i], "photon_energy_ev": float(f["photon_energy_ev"][i]),
                "clen_m": float(f["clen_m"][i]), "seed": int(f["seed"][i]), "index": int(f["index"][i]),
                "n_crystals": int(cryst_off[i + 1] - cryst_off[i]),
                "n_found": int(counts["found"][i]) if "found" in counts else 0,
                "n_predicted": int(counts["predicted"][i]) if "predicted" in counts else 0,
                "precision": float(f["precision"][i]), "recall": float(f["recall"][i]),
                "selected": bool(f["selected"][i]), "reason": f["reason"][i],
            })
    return rows


def write_frame_index(root: str | os.PathLike, store) -> list[dict[str, Any]]:
    """frames.csv: the per-frame table (the Croissant record source; also handy in pandas)."""
    rows = frame_index_rows(store)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(Path(root) / INDEX_NAME, buf.getvalue())
    return rows


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts per split and experiment, and peak statistics, from frame-index rows."""
    rows = list(rows)
    splits: dict[str, dict[str, int]] = {}
    for r in rows:
        per = splits.setdefault(r["split"], {})
        per[r["experiment"]] = per.get(r["experiment"], 0) + 1
    found = np.array([r["n_found"] for r in rows], dtype=float)
    pred = np.array([r["n_predicted"] for r in rows], dtype=float)
    return {
        "n_frames": len(rows),
        "splits": {s: dict(sorted(v.items())) for s, v in sorted(splits.items())},
        "detectors": sorted({r["detector"] for r in rows}),
        "experiments": sorted({r["experiment"] for r in rows}),
        "selected_frames": int(sum(r["selected"] for r in rows)),
        "peaks_found_total": int(found.sum()),
        "peaks_found_mean": float(found.mean()) if len(rows) else 0.0,
        "peaks_predicted_mean": float(pred.mean()) if len(rows) else 0.0,
    }


# ----------------------------------------------------------------------------- card + Croissant
FEATURES = {
    "image": "(ss, fs) detector slab: the detector's integers (int16/int32; value = integer × the array's "
             "adc_step, in ADU) or float32; assemble with the group's CrystFEL geometry",
    "label": "uint8 (ss, fs) peak label mask (0 background, >0 peak pixels) from the data engine",
    "mask": "bool (ss, fs) good-pixel mask (True = usable)",
    "frames/*": "per frame: event, experiment, split, photon_energy_ev, clen_m, seed, index, "
                "PeakDiff precision/recall, curation decision (selected) and reason; good_pixels, "
                "image_mean, image_std (the z-score statistics over good pixels)",
    "crystals/*": "ragged per frame: unit cell (a, b, c Å; α, β, γ °), A* matrix (rows a*, b*, c*, lab frame, 1/Å), "
                  "lattice type, centering, space group",
    "peaks/found": "ragged: peaks found by the classic finder (fs, ss, panel, intensity, snr, npix, ...)",
    "peaks/predicted": "ragged: reflections predicted from the crystal orientation (fs, ss, panel, hkl, partiality)",
    "peaks/fitted": "ragged: pseudo-Voigt fit parameters per peak with reduced chi2",
    "peaks/truth": "ragged (simulated data): every simulated reflection with hkl, partiality, photons, "
                   "lattice and whether it is foundable",
}


def storage_table(manifest: dict[str, Any], groups: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Bytes per frame of each detector group (image, label, mask chunks) from the manifest's
    file sizes; `groups` maps a detector to its slab shape and image dtype."""
    rows = []
    for det, info in sorted(groups.items()):
        sizes = {name: [f["size"] for f in manifest["files"] if f["path"].startswith(f"data.zarr/{det}/{name}/c/")]
                 for name in ("image", "label", "mask")}
        n = max(len(sizes["image"]), 1)
        pixels = int(np.prod(info["slab_shape"]))
        rows.append({"detector": det, "frames": len(sizes["image"]), "megapixels": pixels / 1e6,
                     "dtype": info["dtype"], **{f"{k}_mb": sum(v) / n / 1e6 for k, v in sizes.items()},
                     "float32_mb": 4 * pixels / 1e6})
    return rows


def power_statement(summary: dict[str, Any]) -> str:
    """What the benchmark splits can tell apart: the 95 % yield interval half-width at a 50 %
    yield (its widest) and the smallest yield difference between two entries that is
    significant at 95 % when their frame outcomes are independent (paired comparisons on the
    same frames, as `regress` makes, detect smaller ones)."""
    lines = ["| split | frames | 95 % interval half-width at 50 % yield | smallest significant difference |",
             "|---|---|---|---|"]
    for split, per in summary["splits"].items():
        if split not in ("test", "test_ood"):
            continue
        n = sum(per.values())
        half = 1.96 * math.sqrt(0.25 / n) * 100
        lines.append(f"| {split} | {n} | ±{half:.1f} points | {half * math.sqrt(2):.1f} points |")
    return "\n".join(lines)


def dataset_card(recipe: Recipe, summary: dict[str, Any], manifest: dict[str, Any],
                 storage: list[dict[str, Any]] | None = None) -> str:
    """README.md with a Hugging Face style YAML header."""
    header = {
        "pretty_name": recipe.name,
        "license": recipe.license.lower(),
        "task_categories": ["image-segmentation"],
        "tags": ["serial-crystallography", "xfel", "bragg-peaks", "simulated", "zarr"],
        "size_categories": ["n<1K" if summary["n_frames"] < 1000 else "1K<n<10K"],
        "version": recipe.version,
        "dataset_info": {
            "features": [{"name": k, "description": v} for k, v in FEATURES.items()],
            "splits": [{"name": s, "num_examples": int(sum(v.values()))} for s, v in summary["splits"].items()],
            "dataset_size": manifest["total_bytes"],
        },
    }
    experiments = "\n".join(
        f"| {e.name} | {e.frames} | {e.seed} | " + ", ".join(f"{k} {v:g}" for k, v in e.splits.items())
        + f" | `{json.dumps(e.engine, sort_keys=True)}` |" for e in recipe.experiments)
    split_rows = "\n".join(
        f"| {s} | {sum(v.values())} | " + ", ".join(f"{k} ({n})" for k, n in v.items()) + " |"
        for s, v in summary["splits"].items())
    limitations = "\n".join(f"* {x}" for x in recipe.known_limitations) or "* none recorded"
    predictions = ("the reflections predicted from the true crystal orientations"
                   if recipe.engine.get("predictions", "truth") == "truth" else "the built-in indexer's predictions")
    finder = {"pf8": "peakfinder8", "dispersion": "the dispersion finder, DIALS' strong spots"}.get(
        recipe.engine.get("finder", "pf8"), recipe.engine.get("finder"))
    return f"""---
{yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip()}
---

# {recipe.name} {recipe.version}

{recipe.description.strip()}

## Splits

| split | frames | experiments |
|---|---|---|
{split_rows}

`test_ood` holds only experiments whose detector *and* sample never appear in
`train`/`validation`: a model's score there answers "does it generalise without tuning?".

## Features

Stored as Zarr v3 (`data.zarr/`, one group per detector, one chunk per frame, Blosc zstd +
bitshuffle; one-byte labels and masks without a shuffle); `frames.csv` indexes every frame.

| field | meaning |
|---|---|
""" + "\n".join(f"| `{k}` | {v} |" for k, v in FEATURES.items()) + f"""

## How it was made

Built with peaknet-bench {manifest['package_version']} from `recipe.yaml`: the simulator
renders each experiment's frames with ground truth, the data engine finds peaks
({finder}; overrides per experiment below), compares them with {predictions} (PeakDiff), curates frames
({summary['selected_frames']} of {summary['n_frames']} selected), fits pseudo-Voigt profiles and
writes the label masks. Rebuild and check the checksums:

```
peaknet-bench dataset build datasets/{recipe.name}/{recipe.version} -o /tmp/{recipe.name}
```

| experiment | frames | seed | splits | engine overrides |
|---|---|---|---|---|
{experiments}

Engine settings: `{json.dumps(recipe.engine, sort_keys=True)}`

Total {summary['n_frames']} frames, {manifest['n_files']} files, {manifest['total_bytes'] / 1e6:.1f} MB.

## Storage and statistical power

""" + _storage_rows(storage or []) + f"""

{power_statement(summary)}

## Use

```python
import peaknet_bench.data as pd
path = pd.fetch("{recipe.name}", version="{recipe.version}")
ds = pd.PeakNetDataset(path, split="train")   # image (1,H,W), label (H,W), mask (H,W), metadata
loader = ds.loader(batch_size=8, num_workers=2, shuffle=True)
```

## Known limitations

{limitations}

## Licence

{recipe.license}
"""


def _storage_rows(storage: list[dict[str, Any]]) -> str:
    if not storage:
        return ""
    rows = ["| detector | frames | slab (Mpx) | image dtype | MB per frame: image / label / mask | float32 slab (MB) |",
            "|---|---|---|---|---|---|"]
    rows += [f"| {r['detector']} | {r['frames']} | {r['megapixels']:.2f} | {r['dtype']} | "
             f"{r['image_mb']:.2f} / {r['label_mb']:.3f} / {r['mask_mb']:.3f} | {r['float32_mb']:.1f} |" for r in storage]
    return "\n".join(rows)


def croissant(recipe: Recipe, manifest: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Croissant 1.0 JSON-LD: the files (with checksums) and the per-frame record set."""
    by_path = {f["path"]: f for f in manifest["files"]}
    url = (recipe.base_urls or ["https://github.com/peaknet-bench/peaknet-bench"])[0]
    types = {"detector": "sc:Text", "frame": "sc:Integer", "split": "sc:Text", "experiment": "sc:Text",
             "event": "sc:Text", "photon_energy_ev": "sc:Float", "clen_m": "sc:Float", "seed": "sc:Integer",
             "index": "sc:Integer", "n_crystals": "sc:Integer", "n_found": "sc:Integer",
             "n_predicted": "sc:Integer", "precision": "sc:Float", "recall": "sc:Float",
             "selected": "sc:Boolean", "reason": "sc:Text"}
    context = {
        "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
        "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
        "dct": "http://purl.org/dc/terms/",
        "citeAs": "cr:citeAs", "column": "cr:column", "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
        "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
        "replace": "cr:replace", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
        "transform": "cr:transform", "samplingRate": "cr:samplingRate",
        "equivalentProperty": "cr:equivalentProperty",
    }
    return {
        "@context": context,
        "@type": "sc:Dataset",
        "name": recipe.name,
        "description": recipe.description.strip() or recipe.name,
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "license": recipe.license,
        "url": url,
        "version": recipe.version if recipe.version.count(".") == 2 else recipe.version + ".0",
        **({"datePublished": recipe.date_published} if recipe.date_published else {}),
        "keywords": ["serial crystallography", "Bragg peaks", "segmentation", "XFEL"],
        "citeAs": "Wang et al., End-to-end deep learning pipeline for real-time Bragg peak segmentation, "
                  "Front. High Perform. Comput. 2025",
        "distribution": [
            {"@type": "cr:FileObject", "@id": INDEX_NAME, "name": INDEX_NAME, "contentUrl": INDEX_NAME,
             "encodingFormat": "text/csv", "sha256": by_path[INDEX_NAME]["sha256"],
             "contentSize": f"{by_path[INDEX_NAME]['size']} B"},
            {"@type": "cr:FileObject", "@id": RECIPE_NAME, "name": RECIPE_NAME, "contentUrl": RECIPE_NAME,
             "encodingFormat": "application/x-yaml", "sha256": by_path[RECIPE_NAME]["sha256"]},
            {"@type": "cr:FileSet", "@id": "zarr-store", "name": "zarr-store",
             "description": "Zarr v3 store: image/label/mask arrays (one chunk per frame), per-frame tables, "
                            "ragged peak lists and the CrystFEL geometry of each detector group",
             "encodingFormat": "application/x-zarr", "includes": "data.zarr/**"},
        ],
        "recordSet": [{
            "@type": "cr:RecordSet", "@id": "frames", "name": "frames",
            "description": f"{summary['n_frames']} frames; image arrays are in the Zarr store at "
                           "data.zarr/<detector>/{image,label,mask}[frame]",
            "field": [
                {"@type": "cr:Field", "@id": f"frames/{c}", "name": c, "dataType": types[c],
                 "source": {"fileObject": {"@id": INDEX_NAME}, "extract": {"column": c}}}
                for c in INDEX_COLUMNS
            ],
        }],
    }


def validate_croissant_structure(doc: dict[str, Any]) -> list[str]:
    """Hand check of the Croissant fields we rely on (used when mlcroissant is absent)."""
    problems = []
    for key in ("@context", "@type", "name", "conformsTo", "distribution", "recordSet", "license", "url"):
        if key not in doc:
            problems.append(f"missing {key}")
    ids = {d.get("@id") for d in doc.get("distribution", [])}
    for rs in doc.get("recordSet", []):
        for f in rs.get("field", []):
            src = f.get("source", {}).get("fileObject", {}).get("@id")
            if src not in ids:
                problems.append(f"field {f.get('@id')} refers to unknown file {src}")
    return problems
