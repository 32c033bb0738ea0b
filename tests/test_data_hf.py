"""Zarr <-> Hugging Face round trip (offline)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

os.environ["HF_DATASETS_OFFLINE"] = "1"

from peaknet_bench.cli import main  # noqa: E402
from peaknet_bench.data.hf import export_hf, import_hf  # noqa: E402
from peaknet_bench.data.store import Store  # noqa: E402
from synthetic_records import build_tiny  # noqa: E402


def _tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip_preserves_every_value_and_field(tmp_path):
    src = build_tiny(tmp_path / "tiny", frames=6).path / "data.zarr"
    export_hf(src, tmp_path / "hf")
    back = import_hf(tmp_path / "hf", tmp_path / "back.zarr")
    # Byte-identical stores: every array value, dtype, shape, chunking and attribute survived.
    assert _tree(back) == _tree(src)
    a, b = Store(src), Store(back)
    assert a.attrs == b.attrs
    for det in a.detectors:
        for i in range(a.n_frames(det)):
            ra, rb = a.record(det, i), b.record(det, i)
            np.testing.assert_array_equal(ra.image, rb.image)
            assert ra.scalars() == rb.scalars()


def test_hf_features_and_content(tmp_path):
    from datasets import Array2D, load_from_disk

    src = build_tiny(tmp_path / "tiny", frames=4).path
    assert main(["dataset", "export-hf", str(src), str(tmp_path / "hf")]) == 0
    dd = load_from_disk(str(tmp_path / "hf"))
    assert set(dd) == {"one", "two"}
    two = dd["two"]
    assert isinstance(two.features["image"], Array2D) and two.features["image"].shape == (48, 32)
    assert two.features["label"].dtype == "uint8"
    store = Store(src)
    row = two.with_format("numpy", columns=["image"], output_all_columns=True)[1]
    np.testing.assert_array_equal(row["image"], store.image("two", 1))
    np.testing.assert_array_equal(row["peaks.predicted.hkl"], store.peaks("two", 1, "predicted")["hkl"])
    assert row["split"] == store.frames("two")["split"][1]
    assert main(["dataset", "import-hf", str(tmp_path / "hf"), str(tmp_path / "back.zarr")]) == 0
    assert Store(tmp_path / "back.zarr").n_frames() == store.n_frames()


def test_import_rejects_foreign_directory(tmp_path):
    from peaknet_bench.errors import InputError

    with pytest.raises(InputError, match="peaknet_store.json"):
        import_hf(tmp_path, tmp_path / "x.zarr")
