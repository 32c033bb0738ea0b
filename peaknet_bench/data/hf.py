"""Hugging Face `datasets` export and import (offline: save_to_disk / load_from_disk).

The export is a ``DatasetDict`` with one ``Dataset`` per detector group (slab shapes
differ between detectors and an ``Array2D`` feature has one fixed shape), one row per
frame, plus ``peaknet_store.json`` beside it holding what is not per-frame: the store's
root attributes (name, version, splits, provenance) and each group's CrystFEL geometry.
Columns:

* ``image`` Array2D float32, ``label`` Array2D uint8, ``mask`` Array2D bool (slab shape);
* every per-frame scalar (event, split, experiment, photon_energy_ev, clen_m, ...);
* ``crystals.cell`` Array2D (None, 6), ``crystals.astar`` Array3D (None, 3, 3), lattice strings;
* ``peaks.<table>.<column>``: one list per frame (Array2D (None, k) for hkl-like columns).

Importing writes a new store from those rows; the round trip reproduces every value,
dtype and attribute (the tests compare the stores file by file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.data.store import (
    CRYSTAL_STRINGS, FRAME_COLUMNS, CrystalTable, FrameRecord, ImageEncoding, Store, StoreWriter,
)
from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import write_text_atomic

SIDECAR = "peaknet_store.json"


def _value_dtype(dtype: np.dtype) -> str:
    if dtype.kind in "OTU":
        return "string"
    return np.dtype(dtype).name


def _features(store: Store, detector: str):
    from datasets import Array2D, Array3D, Features, Sequence, Value

    shape = tuple(store.group_attrs(detector)["slab_shape"])
    feats: dict[str, Any] = {
        "image": Array2D(shape=shape, dtype="float32"),
        "label": Array2D(shape=shape, dtype="uint8"),
        "mask": Array2D(shape=shape, dtype="bool"),
    }
    for key, values in store.frames(detector).items():
        feats[key] = Value(_value_dtype(values.dtype))
    feats["crystals.cell"] = Array2D(shape=(None, 6), dtype="float64")
    feats["crystals.astar"] = Array3D(shape=(None, 3, 3), dtype="float64")
    for key in CRYSTAL_STRINGS:
        feats[f"crystals.{key}"] = Sequence(Value("string"))
    for table in store.peak_tables(detector):
        for col, values in store._ragged(detector, f"peaks/{table}").items():
            if col == "offsets":
                continue
            name = f"peaks.{table}.{col}"
            if values.ndim == 1:
                feats[name] = Sequence(Value(_value_dtype(values.dtype)))
            elif values.ndim == 2:
                feats[name] = Array2D(shape=(None, values.shape[1]), dtype=_value_dtype(values.dtype))
            else:
                raise InputError(str(store.path), name, "peak columns must be 1-D or 2-D")
    return Features(feats)


def _rows(store: Store, detector: str):
    for i in range(store.n_frames(detector)):
        rec = store.record(detector, i)
        row: dict[str, Any] = {"image": rec.image, "label": rec.label, "mask": rec.mask}
        row.update(rec.scalars())
        row["crystals.cell"] = rec.crystals.cell
        row["crystals.astar"] = rec.crystals.astar
        for key in CRYSTAL_STRINGS:
            row[f"crystals.{key}"] = getattr(rec.crystals, key)
        for table, cols in rec.peaks.items():
            for col, values in cols.items():
                row[f"peaks.{table}.{col}"] = values
        yield row


def export_hf(store_path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a store as a Hugging Face DatasetDict (one dataset per detector) with save_to_disk."""
    from datasets import Dataset, DatasetDict

    from peaknet_bench.data.store import atomic_dir

    store = Store(store_path)
    sidecar = {"root": store.attrs, "groups": {d: store.group_attrs(d) for d in store.detectors},
               "image_encoding": {d: dataclasses.asdict(store.image_encoding(d)) for d in store.detectors}}
    # A private, throw-away builder cache: `from_generator` fingerprints its arguments (here
    # only the store path), so the shared cache would serve stale rows after a rebuild.
    with tempfile.TemporaryDirectory(prefix="peaknet-hf-") as cache, \
            atomic_dir(out, overwrite=Path(out).exists()) as tmp:
        parts = {det: Dataset.from_generator(_rows, gen_kwargs={"store": store, "detector": det},
                                             features=_features(store, det), cache_dir=cache)
                 for det in store.detectors}
        DatasetDict(parts).save_to_disk(str(tmp))
        write_text_atomic(tmp / SIDECAR, json.dumps(sidecar, indent=1) + "\n")
    return Path(out)


def _numpy_dtypes(features) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """Column -> (numpy dtype, row tail shape) from the features: empty lists come back from
    Arrow as float64 of shape (0,), which must not change the store's dtypes or shapes."""
    out = {}
    for key, feat in features.items():
        dtype = getattr(feat, "dtype", None) or getattr(getattr(feat, "feature", None), "dtype", None)
        if dtype and dtype != "string":
            tail = tuple(getattr(feat, "shape", (None,))[1:])
            out[key] = (np.dtype(dtype), tail)
    return out


def _unflatten(row: dict[str, Any], dtypes: dict[str, tuple[np.dtype, tuple[int, ...]]]) -> tuple[dict[str, Any], CrystalTable, dict[str, dict[str, np.ndarray]]]:
    scalars: dict[str, Any] = {}
    crystals: dict[str, Any] = {}
    peaks: dict[str, dict[str, np.ndarray]] = {}
    for key, value in row.items():
        if key in ("image", "label", "mask"):
            continue
        if key.startswith("crystals."):
            crystals[key.split(".", 1)[1]] = value
        elif key.startswith("peaks."):
            _, table, col = key.split(".", 2)
            if key in dtypes:
                dtype, tail = dtypes[key]
                value = np.asarray(value, dtype=dtype).reshape((-1, *tail))
            peaks.setdefault(table, {})[col] = np.asarray(value)
        else:
            value = value.item() if isinstance(value, (np.generic, np.ndarray)) else value
            scalars[key] = str(value) if isinstance(value, str) else value
    table = CrystalTable(
        cell=np.asarray(crystals["cell"], dtype=np.float64).reshape(-1, 6),
        astar=np.asarray(crystals["astar"], dtype=np.float64).reshape(-1, 3, 3),
        **{k: [str(s) for s in crystals[k]] for k in CRYSTAL_STRINGS},
    )
    return scalars, table, peaks


def import_hf(hf_path: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Rebuild a store from an `export_hf` directory."""
    from datasets import load_from_disk

    from peaknet_bench.data.store import geometry_from_text

    hf_path = Path(hf_path)
    try:
        sidecar = json.loads((hf_path / SIDECAR).read_text())
    except FileNotFoundError:
        raise InputError(str(hf_path), SIDECAR, "missing: not a peaknet-bench Hugging Face export") from None
    dd = load_from_disk(str(hf_path))
    root = sidecar["root"]
    with StoreWriter(out, name=root.get("name", ""), version=root.get("version", ""),
                     provenance=root.get("provenance", {}), overwrite=overwrite) as writer:
        for det in root["detectors"]:
            geometry = geometry_from_text(sidecar["groups"][det]["geometry"], source=f"{hf_path}/{SIDECAR}")
            encoding = ImageEncoding(**sidecar.get("image_encoding", {}).get(det, {}))
            # numpy format for the big arrays only: it would cast float64 lists to float32.
            ds = dd[det].with_format("numpy", columns=["image", "label", "mask"], output_all_columns=True)
            dtypes = _numpy_dtypes(dd[det].features)
            for i in range(len(ds)):
                row = ds[i]
                scalars, crystals, peaks = _unflatten(row, dtypes)
                fixed = {k: scalars.pop(k) for k in FRAME_COLUMNS}
                writer.append(det, geometry, FrameRecord(
                    image=row["image"], label=row["label"], mask=row["mask"], crystals=crystals,
                    peaks=peaks, extra=scalars, encoding=encoding, **fixed))
    return Path(out)
