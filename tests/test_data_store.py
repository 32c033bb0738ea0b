"""Store round trip, determinism, atomic writes and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.data.store import FrameRecord, Store, StoreWriter
from synthetic_records import build_tiny, one_panel_geometry, synthetic_record, two_panel_geometry
from peaknet_bench.errors import InputError


def _digest_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write(path: Path, records: list[tuple[str, object, FrameRecord]]) -> Path:
    with StoreWriter(path, name="t", version="1", provenance={"seed": 3}) as w:
        for det, geom, rec in records:
            w.append(det, geom, rec)
    return path


def _records():
    two, one = two_panel_geometry(), one_panel_geometry()
    recs = [("two", two, synthetic_record(two, i, 5, split="train")) for i in range(3)]
    recs.append(("one", one, synthetic_record(one, 0, 6, split="test_ood", max_peaks=0)))
    recs[1][2].extra["note"] = "only on frame 1"
    return recs


def test_round_trip_every_field(tmp_path):
    recs = _records()
    store = Store(_write(tmp_path / "s.zarr", recs))
    assert store.detectors == ["one", "two"]
    assert store.n_frames() == 4
    assert store.attrs["splits"] == {"train": {"synthetic": 3}, "test_ood": {"synthetic": 1}}
    assert store.attrs["provenance"] == {"seed": 3}
    assert store.geometry("two") == two_panel_geometry()
    counters = {"two": 0, "one": 0}
    for det, _geom, rec in recs:
        got = store.record(det, counters[det])
        counters[det] += 1
        for name in ("image", "label", "mask"):
            a, b = getattr(rec, name), getattr(got, name)
            assert b.dtype == {"image": np.float32, "label": np.uint8, "mask": np.bool_}[name]
            np.testing.assert_array_equal(a, b)
        for key, value in rec.scalars().items():
            assert got.scalars()[key] == value, key
        np.testing.assert_array_equal(got.crystals.astar, rec.crystals.astar)
        np.testing.assert_array_equal(got.crystals.cell, rec.crystals.cell)
        assert got.crystals.space_group == rec.crystals.space_group
        assert set(got.peaks) == set(rec.peaks)
        for table, cols in rec.peaks.items():
            for col, values in cols.items():
                np.testing.assert_array_equal(got.peaks[table][col], values)
                assert got.peaks[table][col].dtype == np.asarray(values).dtype
    # The column added on one frame only is filled for the others (str -> "").
    assert store.record("two", 0).extra["note"] == ""
    assert store.record("two", 1).extra["note"] == "only on frame 1"
    pl = store.peak_list("two", 2, "predicted")
    assert pl.hkl is not None and len(pl) == len(recs[2][2].peaks["predicted"]["fs"])


def test_index_by_split(tmp_path):
    store = Store(_write(tmp_path / "s.zarr", _records()))
    assert store.index("test_ood") == [("one", 0)]
    assert store.index("train") == [("two", 0), ("two", 1), ("two", 2)]
    with pytest.raises(InputError, match="split"):
        store.index("nonsense")


@pytest.mark.determinism
def test_same_inputs_give_identical_bytes(tmp_path):
    a = _digest_tree(build_tiny(tmp_path / "a").path)
    b = _digest_tree(build_tiny(tmp_path / "b").path)
    assert a == b
    assert any(k.startswith("data.zarr/two/image/c/") for k in a)


def test_interrupted_write_leaves_nothing(tmp_path):
    two = two_panel_geometry()
    target = tmp_path / "s.zarr"
    with pytest.raises(RuntimeError, match="boom"):
        with StoreWriter(target) as w:
            w.append("two", two, synthetic_record(two, 0, 1))
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_input_names_frame_and_field(tmp_path):
    two = two_panel_geometry()
    rec = synthetic_record(two, 0, 1)
    rec.image = rec.image[:5]
    with pytest.raises(InputError, match="image has shape"):
        with StoreWriter(tmp_path / "s.zarr") as w:
            w.append("two", two, rec)
    rec = synthetic_record(two, 0, 1, split="holdout")
    with pytest.raises(InputError, match="split 'holdout'"):
        with StoreWriter(tmp_path / "s2.zarr") as w:
            w.append("two", two, rec)
    assert not (tmp_path / "s.zarr").exists()
    with pytest.raises(InputError, match="not a peaknet-bench store"):
        Store(tmp_path)


def test_existing_target_needs_overwrite(tmp_path):
    path = _write(tmp_path / "s.zarr", _records()[:1])
    with pytest.raises(InputError, match="already exists"):
        StoreWriter(path)
    _write_over = StoreWriter(path, overwrite=True)
    two = two_panel_geometry()
    _write_over.append("two", two, synthetic_record(two, 7, 7))
    _write_over.close()
    assert Store(path).record("two", 0).index == 7


def test_columns_and_tables_missing_on_some_frames_are_filled(tmp_path):
    two = two_panel_geometry()
    recs = [synthetic_record(two, i, 2, max_peaks=5) for i in range(3)]
    n1 = len(recs[1].peaks["found"]["fs"])
    recs[1].peaks["found"]["flags"] = np.arange(n1, dtype=np.uint16)
    recs[2].peaks["only_here"] = {"x": np.array([1.5, 2.5])}
    recs[0].extra["weight"] = 2
    with StoreWriter(tmp_path / "s.zarr") as w:
        for r in recs:
            w.append("two", two, r)
    store = Store(tmp_path / "s.zarr")
    np.testing.assert_array_equal(store.peaks("two", 1, "found")["flags"], np.arange(n1))
    n0 = len(recs[0].peaks["found"]["fs"])
    np.testing.assert_array_equal(store.peaks("two", 0, "found")["flags"], np.full(n0, np.iinfo(np.uint16).max))
    assert len(store.peaks("two", 0, "only_here")["x"]) == 0
    np.testing.assert_array_equal(store.peaks("two", 2, "only_here")["x"], [1.5, 2.5])
    assert [store.record("two", i).extra["weight"] for i in range(3)] == [2, -1, -1]
    with pytest.raises(InputError, match="no table"):
        store.peaks("two", 0, "nope")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_damaged_image_chunk_is_named(tmp_path, damage):
    store = Store(_write(tmp_path / "s.zarr", _records()))
    chunk = store.path / "two" / "image" / "c" / "1" / "0" / "0"
    data = chunk.read_bytes()
    if damage == "delete":  # not Zarr's fill value: the frame's statistics say it held data
        chunk.unlink()
    else:
        chunk.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:16] + bytes(len(data) - 16))
    with pytest.raises(InputError) as err:
        store.image("two", 1)
    assert str(chunk) in str(err.value) and "two/image frame 1" in str(err.value)
    np.testing.assert_array_equal(store.image("two", 0), _records()[0][2].image)  # neighbours unaffected


def test_frame_reads_into_a_buffer_and_check_bounds(tmp_path):
    recs = _records()
    store = Store(_write(tmp_path / "s.zarr", recs))
    out = np.empty(recs[2][2].image.shape, np.float32)
    assert store.image("two", 2, out=out) is out
    np.testing.assert_array_equal(out, recs[2][2].image)
    np.testing.assert_array_equal(store.label("two", -1), recs[2][2].label)
    with pytest.raises(IndexError):
        store.mask("two", 3)
    with pytest.raises(ValueError, match="C-contiguous"):
        store.image("two", 0, out=np.empty(out.shape, np.float64))
