"""Build a dataset version from its recipe and check it against the published manifest.

`build_dataset` is source-agnostic: it asks a *record source* for each experiment's
frames ((detector, geometry, FrameRecord) triples). The default source runs the simulator
and the data engine (`engine_source`); tests pass small synthetic sources. Everything is
written into a hidden temporary directory and renamed into place at the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peaknet_bench import __version__
from peaknet_bench.data.manifest import (
    CARD_NAME, CROISSANT_NAME, MANIFEST_NAME, RECIPE_NAME, ExperimentEntry, Recipe, VerifyReport,
    croissant, dataset_card, load_recipe, make_manifest, read_manifest, split_assignment, storage_table, summarize,
    verify_dir, write_frame_index, write_manifest,
)
from peaknet_bench.data.store import STORE_DIRNAME, FrameRecord, Store, StoreWriter, atomic_dir
from peaknet_bench.geometry import Geometry
from peaknet_bench.util.output import to_json
from peaknet_bench.util.atomic import write_text_atomic

RecordSource = Callable[[Recipe, ExperimentEntry, list[str]], Iterator[tuple[str, Geometry, FrameRecord]]]


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    seconds: float
    reference: Path | None = None  # manifest compared against, if any
    report: VerifyReport | None = None  # result of that comparison
    differences: list[str] = field(default_factory=list)

    @property
    def reproduces(self) -> bool | None:
        return None if self.report is None else self.report.ok


def engine_source(recipe: Recipe, entry: ExperimentEntry, splits: list[str]) -> Iterator[tuple[str, Geometry, FrameRecord]]:
    """Frames of one experiment: simulator -> data engine (PeakDiff, curation, fits, labels)."""
    from peaknet_bench.data.simulated_records import simulated_records

    yield from simulated_records(recipe, entry, splits)


def build_dataset(version_dir: str | os.PathLike | None, out: str | os.PathLike, *,
                  recipe: Recipe | None = None, source: RecordSource = engine_source,
                  overwrite: bool = False, progress: bool | None = None,
                  reference: str | os.PathLike | None = None, compare: bool = True) -> BuildResult:
    """Build the dataset of `version_dir`'s recipe into `out` (atomic) and, when the version
    directory holds a manifest (or `reference` names one), verify the build reproduces it."""
    from peaknet_bench.util.progress import bar

    t0 = time.perf_counter()
    if recipe is None:
        if version_dir is None:
            raise ValueError("need a version directory or a recipe")
        recipe = load_recipe(version_dir)
    out = Path(out)
    total = sum(e.frames for e in recipe.experiments)
    provenance = {
        "package": "peaknet-bench", "package_version": __version__,
        "recipe": recipe.model_dump(mode="json"),
        "seeds": {e.name: e.seed for e in recipe.experiments},
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:
        write_text_atomic(tmp / RECIPE_NAME, _recipe_yaml(recipe))
        with StoreWriter(tmp / STORE_DIRNAME, name=recipe.name, version=recipe.version,
                         provenance=provenance, atomic=False) as writer, \
                bar(total, desc=f"build {recipe.name} {recipe.version}", disable=None if progress is None else not progress) as pbar:
            for entry in recipe.experiments:
                for detector, geometry, record in source(recipe, entry, split_assignment(entry)):
                    writer.append(detector, geometry, record)
                    pbar.update(1)
        store = Store(tmp / STORE_DIRNAME)
        rows = write_frame_index(tmp, store)
        summary = summarize(rows)
        manifest = make_manifest(tmp, recipe, {"n_frames": summary["n_frames"], "splits": summary["splits"]})
        write_manifest(tmp, manifest)
        write_docs(tmp, recipe, summary, manifest)
    result = BuildResult(out, manifest, summary, time.perf_counter() - t0)
    ref = Path(reference) if reference is not None else (Path(version_dir) / MANIFEST_NAME if version_dir else None)
    if compare and ref is not None and ref.exists():
        published = read_manifest(ref)
        result.reference = ref
        result.report = verify_dir(out, published, progress=progress)
    return result


def write_docs(root: str | os.PathLike, recipe: Recipe, summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The dataset card (README.md) and croissant.json of a built dataset (not in the manifest:
    documentation can be regenerated or corrected without a rebuild)."""
    root = Path(root)
    groups = {}
    if (root / STORE_DIRNAME).exists():
        store = Store(root / STORE_DIRNAME)
        groups = {d: {"slab_shape": store.group_attrs(d)["slab_shape"], "dtype": store.image_encoding(d).dtype}
                  for d in store.detectors}
    write_text_atomic(root / CARD_NAME, dataset_card(recipe, summary, manifest, storage_table(manifest, groups)))
    write_text_atomic(root / CROISSANT_NAME, to_json(croissant(recipe, manifest, summary), indent=1) + "\n")


def publish(build_dir: str | os.PathLike, version_dir: str | os.PathLike) -> None:
    """Copy a build's manifest, card and Croissant file into the repository's version directory."""
    for name in (MANIFEST_NAME, CARD_NAME, CROISSANT_NAME):
        write_text_atomic(Path(version_dir) / name, (Path(build_dir) / name).read_text())


def _recipe_yaml(recipe: Recipe) -> str:
    import yaml

    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
