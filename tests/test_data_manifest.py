"""Manifests, verification, recipes, splits, the dataset card and Croissant metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import BUILTIN_VERSION

from peaknet_bench.cli import main
from peaknet_bench.data.manifest import (
    ExperimentEntry, load_recipe, read_manifest, split_assignment, validate_croissant_structure, verify_dir,
)
from synthetic_records import build_tiny
from peaknet_bench.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("ds") / "tiny").path


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_manifest_covers_every_data_file(tiny):
    m = read_manifest(tiny)
    paths = {f["path"] for f in m["files"]}
    on_disk = {p.relative_to(tiny).as_posix() for p in tiny.rglob("*") if p.is_file()}
    assert on_disk - paths == {"manifest.json", "README.md", "croissant.json"}
    assert m["total_bytes"] == sum(f["size"] for f in m["files"])
    assert verify_dir(tiny).ok


def test_corrupted_chunk_is_named(tiny, tmp_path, capsys):
    ds = _copy(tiny, tmp_path / "copy")
    chunk = sorted((ds / "data.zarr/two/image/c").rglob("*"))[-1]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    chunk.write_bytes(bytes(data))
    rel = chunk.relative_to(ds).as_posix()
    report = verify_dir(ds)
    assert not report.ok and report.bad_files() == [rel]
    assert main(["dataset", "verify", str(ds)]) == 1
    out = capsys.readouterr().out
    assert rel in out and "sha256" in out


def test_tampered_missing_and_extra_files_are_named(tiny, tmp_path, capsys):
    ds = _copy(tiny, tmp_path / "copy")
    (ds / "recipe.yaml").write_text((ds / "recipe.yaml").read_text() + "# edited\n")
    (ds / "frames.csv").unlink()
    (ds / "data.zarr/two/extra.bin").write_bytes(b"x")
    report = verify_dir(ds)
    assert report.missing == ["frames.csv"]
    assert len(report.mismatched) == 1 and report.mismatched[0].startswith("recipe.yaml (size ")
    assert report.unexpected == ["data.zarr/two/extra.bin"]
    assert main(["dataset", "verify", str(ds), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] is False and summary["missing"] == ["frames.csv"]


def test_verify_clean_copy_cli(tiny, capsys):
    assert main(["dataset", "verify", str(tiny)]) == 0
    assert "OK" in capsys.readouterr().out


def test_split_assignment_counts_and_determinism():
    e = ExperimentEntry(name="x", frames=17, seed=4, splits={"train": 0.7, "validation": 0.15, "test": 0.15})
    s = split_assignment(e)
    assert split_assignment(e) == s
    assert len(s) == 17 and s.count("train") == 12 and s.count("validation") + s.count("test") == 5
    assert split_assignment(e.model_copy(update={"seed": 5})) != s
    with pytest.raises(ValueError):
        ExperimentEntry(name="x", frames=3, splits={"train": 0.5})
    with pytest.raises(ValueError):
        ExperimentEntry(name="x", frames=3, splits={"holdout": 1.0})


def test_ood_split_has_unseen_detector_and_sample(tiny):
    import csv

    rows = list(csv.DictReader((tiny / "frames.csv").open()))
    train = {(r["detector"], r["experiment"].split("-")[1]) for r in rows if r["split"] in ("train", "validation")}
    ood = {(r["detector"], r["experiment"].split("-")[1]) for r in rows if r["split"] == "test_ood"}
    assert ood and not ({d for d, _ in ood} & {d for d, _ in train}) and not ({s for _, s in ood} & {s for _, s in train})


def test_bad_recipe_names_field(tmp_path):
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({"name": "x", "version": 1, "experiments": [
        {"name": "a", "frames": 0}]}))
    with pytest.raises(InputError, match=r"recipe.yaml: experiments.0.frames"):
        load_recipe(tmp_path)


def test_card_has_hf_yaml_header(tiny):
    text = (tiny / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "cc-by-4.0"
    assert {s["name"] for s in header["dataset_info"]["splits"]} == {"train", "validation", "test", "test_ood"}
    assert "Known limitations" in text and "synthetic Gaussian spots" in text


def test_croissant_validates(tiny):
    doc = json.loads((tiny / "croissant.json").read_text())
    assert validate_croissant_structure(doc) == []
    mlc = pytest.importorskip("mlcroissant")
    ds = mlc.Dataset(jsonld=str(tiny / "croissant.json"))
    records = list(ds.records("frames"))
    assert len(records) == read_manifest(tiny)["n_frames"]
    assert {r["frames/split"].decode() for r in records} == {"train", "validation", "test", "test_ood"}


def test_shipped_recipes_parse():
    recipes = sorted((REPO / "datasets").glob("*/*/recipe.yaml"))
    assert recipes, "no dataset recipes in datasets/"
    for path in recipes:
        r = load_recipe(path)
        assert r.name == path.parents[1].name and r.version == path.parent.name
        ood = {e.name for e in r.experiments if e.splits.get("test_ood")}
        # A benchmark holds out whole experiments as test_ood; a training set (peaknet-train) has none.
        assert bool(ood) == any(e.splits.get("test") for e in r.experiments), path
        assert all(e.splits == {"test_ood": 1.0} for e in r.experiments if e.name in ood)
    assert not (REPO / "datasets" / "__init__.py").exists()


def test_rebuild_is_checked_against_published_manifest(tiny, tmp_path):
    published = read_manifest(tiny)
    ref = tmp_path / "manifest.json"
    ref.write_text(json.dumps(published))
    again = build_tiny(tmp_path / "again", reference=ref)
    assert again.reproduces is True and again.report.checked == published["n_files"]
    # A manifest that disagrees (as after a code change) is reported file by file.
    published["files"][0]["sha256"] = "0" * 64
    ref.write_text(json.dumps(published))
    third = build_tiny(tmp_path / "third", reference=ref)
    assert third.reproduces is False and third.report.bad_files() == [published["files"][0]["path"]]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_shipped_manifest_matches_recipe(version):
    vdir = REPO / "datasets" / "peaknet-sim" / version
    m = read_manifest(vdir)
    r = load_recipe(vdir)
    assert m["name"] == r.name and m["version"] == r.version
    assert m["n_frames"] == sum(e.frames for e in r.experiments)
    assert {f["path"] for f in m["files"]} >= {"recipe.yaml", "frames.csv", "data.zarr/zarr.json"}
    assert set(m["splits"]["test_ood"]) == {"jungfrau4m-thermolysin"}


@pytest.mark.determinism
@pytest.mark.slow
def test_builtin_dataset_rebuild_reproduces_its_manifest(builtin_dataset):
    """The shipped dataset version, rebuilt from its recipe, matches every published checksum
    (a change to the simulator or the engine that alters it must come with a new version)."""
    from peaknet_bench.data import fetch

    assert builtin_dataset.reproduces, builtin_dataset.report.bad_files()[:10]
    assert fetch("peaknet-sim", BUILTIN_VERSION) == builtin_dataset.path
    m = read_manifest(builtin_dataset.path)
    assert m["n_frames"] == 200 and set(m["splits"]["test_ood"]) == {"jungfrau4m-thermolysin"}
