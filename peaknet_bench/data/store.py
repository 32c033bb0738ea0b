"""The dataset store: Zarr v3, one chunk per frame, detector slabs plus their geometry.

Layout of ``data.zarr`` (see docs/datasets.md for the reasoning)::

    zarr.json                   root attrs: format, name, version, detectors, splits, provenance
    <detector>/zarr.json        group attrs: CrystFEL geometry text, slab and assembled shapes
    <detector>/image            (n, ss, fs) the detector's integers (int16/int32, attribute
                                adc_step: value = integer × adc_step) or float32; chunk (1, ss, fs),
                                Blosc zstd + bitshuffle
    <detector>/label            (n, ss, fs) uint8 (0 = background, k > 0 = peak class)
    <detector>/mask             (n, ss, fs) bool, True = good pixel
    <detector>/frames/<col>     (n,) one value per frame: event, photon_energy_ev, clen_m,
                                experiment, split, seed, index, precision, recall, selected, reason, ...
    <detector>/crystals/...     ragged: offsets (n+1,), cell (m, 6), astar (m, 3, 3), lattice strings
    <detector>/peaks/<table>/.. ragged: offsets (n+1,) and one flat array per column
                                (found, predicted, fitted with chi2, ...)

Images are *slabs* (the detector's raw data array) plus the geometry: lossless, the
smallest form (no gap pixels), convertible back to CXI, and assembled on load with
:class:`peaknet_bench.geometry.Assembler`. Slab shapes differ between detectors, so each
detector is its own group.

Writing is append-only per frame (images go to disk as they arrive; the small per-frame
tables are kept in memory and written when the writer closes) and atomic at the dataset
level: the store is built in a hidden temporary directory beside the target and renamed
into place on success, so an interrupted build leaves nothing behind. Chunks are
byte-deterministic (no timestamps anywhere, Blosc run single-threaded), so a rebuild
reproduces the manifest's checksums.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.data.canvas import good_moments
from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import Assembler, Geometry
from peaknet_bench.util.atomic import make_temp

STORE_FORMAT = "peaknet-bench-store"
STORE_FORMAT_VERSION = 1
STORE_DIRNAME = "data.zarr"
SPLITS = ("train", "validation", "test", "test_ood")
_RAGGED_CHUNK = 1 << 16  # rows per chunk of the flat ragged arrays

# Fixed per-frame columns and their dtypes; FrameRecord.extra adds more.
FRAME_COLUMNS: dict[str, str] = {
    "event": "str",
    "experiment": "str",
    "split": "str",
    "photon_energy_ev": "float64",
    "clen_m": "float64",
    "seed": "int64",
    "index": "int64",
    "precision": "float64",
    "recall": "float64",
    "selected": "bool",
    "reason": "str",
}
# Computed by the writer from each frame's image and mask (so loaders need not): good-pixel
# count, mean and standard deviation, the per-image z-score statistics.
DERIVED_COLUMNS: dict[str, str] = {"good_pixels": "int64", "image_mean": "float64", "image_std": "float64"}
CRYSTAL_STRINGS = ("lattice_type", "centering", "space_group")


@dataclass
class CrystalTable:
    """The crystals of one frame: cells (m, 6; Å, degrees), A* matrices (m, 3, 3; rows a*, b*, c*
    in the lab frame, 1/Å) and lattice strings."""

    cell: np.ndarray
    astar: np.ndarray
    lattice_type: list[str]
    centering: list[str]
    space_group: list[str]

    @classmethod
    def empty(cls) -> "CrystalTable":
        return cls(np.zeros((0, 6)), np.zeros((0, 3, 3)), [], [], [])

    @classmethod
    def from_crystals(cls, crystals: Sequence[Any]) -> "CrystalTable":
        """From `peaknet_bench.crystal.Crystal` objects (anything with .astar and .cell)."""
        if not crystals:
            return cls.empty()
        cells = []
        for c in crystals:
            u = c.cell
            params = c.cell_parameters() if hasattr(c, "cell_parameters") else (u.a, u.b, u.c, u.alpha, u.beta, u.gamma)
            cells.append(params)
        return cls(
            cell=np.asarray(cells, dtype=np.float64).reshape(-1, 6),
            astar=np.stack([np.asarray(c.astar, dtype=np.float64) for c in crystals]),
            lattice_type=[str(getattr(c.cell, "lattice_type", "")) for c in crystals],
            centering=[str(getattr(c.cell, "centering", "")) for c in crystals],
            space_group=[str(getattr(c.cell, "space_group", None) or "") for c in crystals],
        )

    def __len__(self) -> int:
        return int(self.cell.shape[0])


@dataclass(frozen=True)
class ImageEncoding:
    """How a group stores its images: the detector's integers and their step, or float32.

    Real detectors deliver integers (photon counts, ADC units); stored as such with bitshuffle
    they compress several times better than float32 and decode faster. `adc_step` is a power
    of two, so integer × step is exact in float32 and a loader can fold it into its z-score.
    """

    dtype: str = "float32"  # float32, int16 or int32
    adc_step: float = 1.0

    @classmethod
    def for_range(cls, adc_step: float | None, low: float, high: float) -> "ImageEncoding":
        """The smallest signed integer type holding [low, high] in steps (float32 without a step)."""
        if adc_step is None:
            return cls()
        lo, hi = low / adc_step, high / adc_step
        dtype = "int16" if -32768 <= lo and hi <= 32767 else "int32"
        return cls(dtype, float(adc_step))

    @property
    def is_integer(self) -> bool:
        return self.dtype != "float32"

    def encode(self, image: np.ndarray, where: str) -> np.ndarray:
        """The stored array of a float slab; an error when a value is not a whole number of
        steps inside the type's range (the encoding must be lossless; −0.0 reads back as 0)."""
        image = np.asarray(image, dtype=np.float32)
        if not self.is_integer:
            return image
        steps = image / np.float32(self.adc_step)  # exact: a power of two
        info = np.iinfo(self.dtype)
        ok = np.isfinite(steps) & (steps == np.rint(steps)) & (steps >= info.min) & (steps <= info.max)
        if not ok.all():
            k = int(np.argmin(ok))
            raise InputError(None, where, f"image value {float(image.reshape(-1)[k])!r} is not a whole number of "
                                          f"adc_step {self.adc_step} within {self.dtype} (the group's image encoding)")
        return steps.astype(self.dtype)


@dataclass
class FrameRecord:
    """Everything the store keeps about one frame (slab arrays + metadata + ragged tables)."""

    image: np.ndarray  # (ss, fs) float32 slab (whole multiples of `encoding.adc_step` for integer storage)
    label: np.ndarray  # (ss, fs) uint8 slab label
    mask: np.ndarray  # (ss, fs) bool, True = good
    event: str
    experiment: str
    split: str
    photon_energy_ev: float
    clen_m: float
    seed: int = 0
    index: int = 0
    precision: float = float("nan")  # PeakDiff precision of the found peaks vs predictions
    recall: float = float("nan")
    selected: bool = True  # curation decision
    reason: str = ""  # why the curation decided so
    crystals: CrystalTable = field(default_factory=CrystalTable.empty)
    peaks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # table -> column -> (n, ...)
    extra: dict[str, Any] = field(default_factory=dict)  # more scalar columns (float, int, bool, str)
    encoding: ImageEncoding = field(default_factory=ImageEncoding)  # how the group stores images

    def scalars(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in FRAME_COLUMNS}
        out.update(self.extra)
        return out


def peaklist_columns(peaks: PeakList) -> dict[str, np.ndarray]:
    """A PeakList as a dict of its non-empty columns (the store's ragged-table form)."""
    cols = {"fs": peaks.fs, "ss": peaks.ss, "panel": peaks.panel, "intensity": peaks.intensity}
    for name in ("snr", "npix", "max_intensity", "hkl", "partiality"):
        value = getattr(peaks, name)
        if value is not None:
            cols[name] = value
    return cols


def columns_to_peaklist(cols: Mapping[str, np.ndarray]) -> PeakList:
    """Inverse of `peaklist_columns` (extra columns are ignored)."""
    n = len(cols["fs"])
    kw = {k: cols[k] for k in ("snr", "npix", "max_intensity", "hkl", "partiality") if k in cols}
    return PeakList(fs=cols["fs"], ss=cols["ss"], panel=cols.get("panel", np.full(n, -1)),
                    intensity=cols.get("intensity", np.zeros(n)), **kw)


# ----------------------------------------------------------------------------- helpers
def geometry_to_text(geometry: Geometry) -> str:
    from peaknet_bench.geometry.crystfel_geom import format_geom

    return format_geom(geometry)


def geometry_from_text(text: str, source: str) -> Geometry:
    from peaknet_bench.geometry.crystfel_geom import parse_geom_text

    return parse_geom_text(text, source=source)


def _compressor(dtype: np.dtype):
    """Blosc zstd + bitshuffle for multi-byte values (typesize = itemsize, so bitshuffle groups
    the bit planes of each element). One-byte labels and masks are stored without a shuffle:
    they are 150-350x compressed either way, and un-bitshuffling them would cost a 1920 x 1920
    item more decode time (3-4 ms) than the rest of their path."""
    from zarr.codecs import BloscCodec

    size = max(np.dtype(dtype).itemsize, 1)
    return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle" if size > 1 else "noshuffle", typesize=size)


@functools.cache
def _configure_blosc() -> None:
    """Single-threaded Blosc: the same bytes in give the same bytes out on every machine."""
    import numcodecs.blosc as nb

    nb.set_nthreads(1)
    nb.use_threads = False


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary directory beside `path`; rename it to `path` if the block succeeds.

    On any exception the temporary directory is removed, so a half-built dataset never
    appears under the final name. With `overwrite`, an existing `path` is replaced (moved
    aside first, removed after the rename).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(str(path), None, "already exists (pass overwrite / --force to replace it)")
    tmp = make_temp(path, directory=True)  # also removes directories of killed builds of `path`
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the dataset should read like any directory
    try:
        yield tmp
        old = None
        if path.exists():
            old = make_temp(path, directory=True, suffix=".old")
            os.replace(path, old / "x")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _string_array(values: Sequence[str]) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=object) if len(values) else np.zeros(0, dtype=object)


def _column_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int64"
    if isinstance(value, (float, np.floating)):
        return "float64"
    if isinstance(value, str):
        return "str"
    raise InputError(None, "frame metadata", f"unsupported value {value!r} (need bool, int, float or str)")


def _fill_value(dtype: np.dtype) -> Any:
    """Marker for a value a frame did not provide (NaN, -1, the unsigned maximum, False, "")."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "i":
        return -1
    if dtype.kind == "u":
        return np.iinfo(dtype).max
    if dtype.kind == "b":
        return False
    return ""


# ----------------------------------------------------------------------------- writer
class _GroupBuffer:
    """Per-detector state of a writer: open image arrays plus in-memory tables."""

    def __init__(self, group, geometry: Geometry, encoding: ImageEncoding) -> None:
        self.group = group
        self.geometry = geometry
        self.encoding = encoding
        self.slab_shape = geometry.slab_shape
        self.n = 0
        self.scalars: dict[str, list] = {}
        self.kinds: dict[str, str] = dict(FRAME_COLUMNS)
        self.crystals: list[CrystalTable] = []
        self.peaks: dict[str, list[dict[str, np.ndarray] | None]] = {}
        self.arrays = {}
        for name, dtype in (("image", np.dtype(encoding.dtype)), ("label", np.uint8), ("mask", np.bool_)):
            self.arrays[name] = group.create_array(
                name, shape=(0, *self.slab_shape), chunks=(1, *self.slab_shape), dtype=dtype,
                compressors=_compressor(dtype), fill_value=0, write_data=True,
            )
        if encoding.is_integer:
            self.arrays["image"].attrs["adc_step"] = encoding.adc_step


class StoreWriter:
    """Append frames to a new store; the store appears at `path` only when `close()` succeeds.

    Use as a context manager. ``write_root=False`` writes straight into `path` (the caller
    already provides atomicity, e.g. a whole dataset directory built by `atomic_dir`).
    """

    def __init__(self, path: str | os.PathLike, *, name: str = "", version: str = "",
                 provenance: Mapping[str, Any] | None = None, overwrite: bool = False,
                 atomic: bool = True) -> None:
        import zarr

        _configure_blosc()
        self.path = Path(path)
        self.name, self.version = name, version
        self.provenance = dict(provenance or {})
        self._atomic_cm = atomic_dir(self.path, overwrite=overwrite) if atomic else None
        if self._atomic_cm is not None:
            self._root_path = self._atomic_cm.__enter__()
        else:
            if self.path.exists():
                raise InputError(str(self.path), None, "already exists")
            self._root_path = self.path
        self.root = zarr.open_group(str(self._root_path), mode="w", zarr_format=3)
        self.groups: dict[str, _GroupBuffer] = {}
        self._closed = False

    # -------------------------------------------------------------- context manager
    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)

    def abort(self, exc_type=None, exc=None, tb=None) -> None:
        """Drop everything written so far."""
        self._closed = True
        if self._atomic_cm is not None:
            self._atomic_cm.__exit__(exc_type or RuntimeError, exc or RuntimeError("aborted"), tb)

    # -------------------------------------------------------------- appending
    def add_detector(self, detector: str, geometry: Geometry, encoding: ImageEncoding = ImageEncoding()) -> None:
        """Declare a detector group (done implicitly by the first `append` for it)."""
        if detector in self.groups:
            return
        if not detector or "/" in detector or detector.startswith("."):
            raise InputError(None, "detector", f"bad group name {detector!r}")
        group = self.root.create_group(detector)
        asm = Assembler(geometry)
        group.attrs.update({
            "geometry": geometry_to_text(geometry),
            "slab_shape": list(geometry.slab_shape),
            "assembled_shape": list(asm.shape),
            # Beam position (lab x = y = 0) in the assembled image, (row, col): used to centre crops.
            "beam_rc": [float(asm.y_max), float(-asm.x_min)],
        })
        self.groups[detector] = _GroupBuffer(group, geometry, encoding)

    def append(self, detector: str, geometry: Geometry, record: FrameRecord) -> int:
        """Append one frame; returns its index within the detector group."""
        if self._closed:
            raise RuntimeError("writer is closed")
        self.add_detector(detector, geometry, record.encoding)
        g = self.groups[detector]
        where = f"{detector} frame {g.n} ({record.event})"
        if geometry is not g.geometry and geometry != g.geometry:
            raise InputError(None, where, "geometry differs from the one this detector group was created with "
                                          "(one group holds one geometry; use another group name)")
        if record.encoding != g.encoding:
            raise InputError(None, where, f"image encoding {record.encoding} differs from the group's {g.encoding}")
        shape = g.slab_shape
        arrays = {"image": (record.image, None), "label": (record.label, np.uint8), "mask": (record.mask, np.bool_)}
        for name, (value, dtype) in arrays.items():
            value = np.asarray(value)
            if value.shape != shape:
                raise InputError(None, where, f"{name} has shape {value.shape}, expected the slab shape {shape}")
            value = g.encoding.encode(value, where) if dtype is None else value.astype(dtype, copy=False)
            g.arrays[name].append(value[None], axis=0)
        if record.split not in SPLITS:
            raise InputError(None, where, f"split {record.split!r} is not one of {SPLITS}")
        n_good, mean, std = good_moments(np.ascontiguousarray(record.image, dtype=np.float32),
                                         np.ascontiguousarray(record.mask, dtype=np.bool_))
        derived = {"good_pixels": int(n_good), "image_mean": float(mean), "image_std": float(std)}
        scalars = {k: v for k, v in record.scalars().items() if k not in DERIVED_COLUMNS}
        for key, value in {**scalars, **derived}.items():
            kind = _column_kind(value)
            known = g.kinds.setdefault(key, kind)
            if known != kind and not (known == "float64" and kind in ("int64", "bool")):
                raise InputError(None, f"{where}: column {key!r}", f"got {kind}, earlier frames gave {known}")
            g.scalars.setdefault(key, [None] * g.n).append(value)
        for values in g.scalars.values():
            if len(values) < g.n + 1:
                values.append(None)
        g.crystals.append(record.crystals)
        for table, cols in record.peaks.items():
            lengths = {k: len(v) for k, v in cols.items()}
            if len(set(lengths.values())) > 1:
                raise InputError(None, f"{where}: peaks {table!r}", f"columns have different lengths {lengths}")
            g.peaks.setdefault(table, [None] * g.n).append({k: np.asarray(v) for k, v in cols.items()})
        for rows in g.peaks.values():
            if len(rows) < g.n + 1:
                rows.append(None)
        g.n += 1
        return g.n - 1

    # -------------------------------------------------------------- finishing
    def _write_ragged(self, group, name: str, rows: list[dict[str, np.ndarray] | None]) -> None:
        sub = group.create_group(name)
        counts = np.array([0 if r is None else len(next(iter(r.values()), [])) for r in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        _write_array(sub, "offsets", offsets)
        columns: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
        for r in rows:
            for k, v in (r or {}).items():
                columns.setdefault(k, (v.dtype, v.shape[1:]))
        for col, (dtype, tail) in sorted(columns.items()):
            parts = []
            for r, n in zip(rows, counts):
                if r is not None and col in r:
                    parts.append(np.asarray(r[col]).astype(dtype, copy=False).reshape((n, *tail)))
                elif n:
                    parts.append(np.full((n, *tail), _fill_value(dtype), dtype=dtype))
            flat = np.concatenate(parts) if parts else np.zeros((0, *tail), dtype=dtype)
            _write_array(sub, col, flat)

    def close(self) -> Path:
        """Write the per-frame tables and root attributes, then move the store into place."""
        if self._closed:
            return self.path
        splits: dict[str, dict[str, int]] = {}
        for det, g in sorted(self.groups.items()):
            frames = g.group.create_group("frames")
            for key, values in sorted(g.scalars.items()):
                kind = g.kinds[key]
                if kind == "str":
                    arr = _string_array(["" if v is None else v for v in values])
                else:
                    dtype = np.dtype(kind)
                    arr = np.array([_fill_value(dtype) if v is None else v for v in values], dtype=dtype)
                _write_array(frames, key, arr)
            crystals = g.group.create_group("crystals")
            counts = np.array([len(c) for c in g.crystals], dtype=np.int64)
            _write_array(crystals, "offsets", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
            _write_array(crystals, "cell", np.concatenate([c.cell for c in g.crystals] or [np.zeros((0, 6))]).reshape(-1, 6))
            _write_array(crystals, "astar", np.concatenate([c.astar for c in g.crystals] or [np.zeros((0, 3, 3))]).reshape(-1, 3, 3))
            for key in CRYSTAL_STRINGS:
                _write_array(crystals, key, _string_array([s for c in g.crystals for s in getattr(c, key)]))
            peaks = g.group.create_group("peaks")
            for table, rows in sorted(g.peaks.items()):
                self._write_ragged(peaks, table, rows)
            g.group.attrs["n_frames"] = g.n
            for split, experiment in zip(g.scalars["split"], g.scalars["experiment"]):
                per = splits.setdefault(split, {})
                per[experiment] = per.get(experiment, 0) + 1
        self.root.attrs.update({
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "detectors": sorted(self.groups),
            "splits": {s: dict(sorted(splits[s].items())) for s in SPLITS if s in splits},
            "provenance": self.provenance,
        })
        self._closed = True
        if self._atomic_cm is not None:
            self._atomic_cm.__exit__(None, None, None)
        return self.path


def _write_array(group, name: str, values: np.ndarray) -> None:
    """A whole small array in one go (strings as Zarr v3 variable-length UTF-8)."""
    values = np.asarray(values)
    if values.dtype == object or values.dtype.kind == "U":
        arr = group.create_array(name, shape=values.shape, dtype=str, chunks=(max(values.shape[0], 1),))
        if values.size:
            arr[:] = values.astype(str)
        return
    chunks = (min(max(values.shape[0], 1), _RAGGED_CHUNK), *values.shape[1:])
    arr = group.create_array(name, shape=values.shape, dtype=values.dtype, chunks=chunks,
                             compressors=_compressor(values.dtype), fill_value=0)
    if values.size:
        arr[...] = values


# ----------------------------------------------------------------------------- reader
class Store:
    """Read access to a store (``data.zarr``, or a dataset directory holding one).

    Opens lazily and holds nothing unpicklable until used, so a copy can be sent to each
    DataLoader worker, which then opens the files itself.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if (path / STORE_DIRNAME).is_dir():
            path = path / STORE_DIRNAME
        if not (path / "zarr.json").is_file():
            raise InputError(str(path), None, "not a peaknet-bench store (no zarr.json)")
        self.path = path
        self._root = None
        self._cache: dict[Any, Any] = {}

    def __getstate__(self) -> dict:
        return {"path": self.path, "_root": None, "_cache": {}}

    @property
    def root(self):
        if self._root is None:
            import zarr

            root = zarr.open_group(str(self.path), mode="r", zarr_format=3)
            if root.attrs.get("format") != STORE_FORMAT:
                raise InputError(str(self.path), "zarr.json: format", f"expected {STORE_FORMAT!r}")
            self._root = root
        return self._root

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.root.attrs)

    @property
    def detectors(self) -> list[str]:
        return list(self.root.attrs["detectors"])

    def _cached(self, key: Any, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def group(self, detector: str):
        if detector not in self.detectors:
            raise InputError(str(self.path), "detector", f"no group {detector!r}; have {self.detectors}")
        return self._cached(("group", detector), lambda: self.root[detector])

    def group_attrs(self, detector: str) -> dict[str, Any]:
        return self._cached(("gattrs", detector), lambda: dict(self.group(detector).attrs))

    def geometry(self, detector: str) -> Geometry:
        return self._cached(("geom", detector), lambda: geometry_from_text(
            self.group_attrs(detector)["geometry"], source=f"{self.path}/{detector}/zarr.json"))

    def assembler(self, detector: str) -> Assembler:
        return self._cached(("asm", detector), lambda: Assembler(self.geometry(detector)))

    def n_frames(self, detector: str | None = None) -> int:
        if detector is None:
            return sum(self.n_frames(d) for d in self.detectors)
        return int(self.group_attrs(detector)["n_frames"])

    def frames(self, detector: str) -> dict[str, np.ndarray]:
        """All per-frame columns of a detector group (small; cached)."""
        def load():
            self._check_listed(f"{detector}/frames/")
            g = self.group(detector)["frames"]
            return {k: _read_all(a) for k, a in sorted(g.arrays())}
        return self._cached(("frames", detector), load)

    def index(self, split: str | Sequence[str] | None = None, *, selected_only: bool = False) -> list[tuple[str, int]]:
        """(detector, frame) pairs of a split (all frames when None), in store order."""
        wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
        if wanted is not None and not wanted <= set(SPLITS):
            raise InputError(str(self.path), "split", f"{sorted(wanted)} not in {SPLITS}")
        out = []
        for det in self.detectors:
            f = self.frames(det)
            keep = np.ones(self.n_frames(det), dtype=bool)
            if wanted is not None:
                keep &= np.array([s in wanted for s in f["split"]], dtype=bool)
            if selected_only:
                keep &= f["selected"].astype(bool)
            out.extend((det, int(i)) for i in np.flatnonzero(keep))
        return out

    def _array(self, detector: str, name: str):
        return self._cached(("arr", detector, name), lambda: self.group(detector)[name])

    def image_encoding(self, detector: str) -> ImageEncoding:
        """How the group stores its images (float32 in stores written before integer storage)."""
        def load():
            arr = self._array(detector, "image")
            if arr.dtype == np.float32:
                return ImageEncoding()
            return ImageEncoding(str(arr.dtype), float(arr.attrs.get("adc_step", 1.0)))
        return self._cached(("encoding", detector), load)

    def image(self, detector: str, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame i's (ss, fs) float32 slab (decoded into `out` when given)."""
        enc = self.image_encoding(detector)
        if not enc.is_integer:
            return self._frame_chunk(detector, "image", i, out)
        raw = self.image_raw(detector, i)
        if out is None:
            out = np.empty(raw.shape, np.float32)
        np.multiply(raw, np.float32(enc.adc_step), out=out, casting="unsafe")
        return out

    def image_raw(self, detector: str, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame i's slab as stored: the detector's integers (value = integer × adc_step, see
        `image_encoding`) or float32. Loaders fold the step into their scaling."""
        return self._frame_chunk(detector, "image", i, out)

    def label(self, detector: str, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame i's (ss, fs) uint8 slab label (0 = background)."""
        return self._frame_chunk(detector, "label", i, out)

    def mask(self, detector: str, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame i's (ss, fs) bool good-pixel mask."""
        return self._frame_chunk(detector, "mask", i, out)

    def _chunk_layout(self, detector: str, name: str) -> tuple[Path, np.dtype, tuple[int, ...], Any] | None:
        """(chunk directory, dtype, frame shape, fill value) when the array has the layout this
        package writes (one frame per chunk, default "/" keys, bytes + Blosc codecs): then a
        frame is one file, decoded by Blosc straight into the caller's buffer, without Zarr's
        per-read machinery (which costs more than the decode for large frames). None
        otherwise, and Zarr reads it."""
        def load():
            base = self.path / detector / name
            meta = json.loads((base / "zarr.json").read_text())
            codecs = [c.get("name") for c in meta.get("codecs", [])]
            key = meta.get("chunk_key_encoding", {})
            shape = list(meta.get("shape", []))
            chunk = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
            endian = (meta.get("codecs") or [{}])[0].get("configuration", {}).get("endian", "little")
            simple = (codecs == ["bytes", "blosc"] and endian == "little" and key.get("name") == "default"
                      and key.get("configuration", {}).get("separator", "/") == "/"
                      and len(shape) >= 2 and chunk == [1, *shape[1:]] and meta.get("storage_transformers") in (None, []))
            if not simple:
                return None
            dtype = np.dtype(meta["data_type"])
            return base / "c", dtype, tuple(shape), dtype.type(meta.get("fill_value", 0))
        return self._cached(("layout", detector, name), load)

    def _frame_chunk(self, detector: str, name: str, i: int, out: np.ndarray | None) -> np.ndarray:
        layout = self._chunk_layout(detector, name)
        if layout is None:
            values = self._array(detector, name)[i]
            if out is None:
                return values
            out[...] = values
            return out
        base, dtype, shape, fill = layout
        if not -shape[0] <= i < shape[0]:
            raise IndexError(f"frame {i} out of range for {detector}/{name} with {shape[0]} frames")
        i %= shape[0]
        if out is None:
            out = np.empty(shape[1:], dtype=dtype)
        elif out.shape != shape[1:] or out.dtype != dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous {dtype} of shape {shape[1:]}, got {out.dtype} {out.shape}")
        path = base.joinpath(str(i), *("0" * (len(shape) - 1)))
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            self._check_absent(detector, name, i, path)  # a chunk Zarr never wrote holds only the fill value
            out.fill(fill)
            return out
        import numcodecs.blosc as blosc

        buf = self._scratch(os.fstat(f.fileno()).st_size)
        with f:
            n = f.readinto(buf)
        where = f"{detector}/{name} frame {i}"
        try:
            # Blosc header: nbytes (decoded) and cbytes (whole chunk) as uint32 at 4 and 12.
            if n < 16:
                raise ValueError(f"{n} bytes is shorter than a Blosc header")
            nbytes, cbytes = int.from_bytes(buf[4:8], "little"), int.from_bytes(buf[12:16], "little")
            if cbytes != n:
                raise ValueError(f"the header says {cbytes} bytes, the file has {n} (truncated or padded)")
            if nbytes != out.nbytes:
                raise ValueError(f"it decodes to {nbytes} bytes, the frame has {out.nbytes}")
            blosc.decompress(buf[:n], out.reshape(-1).view(np.uint8))
        except (ValueError, RuntimeError, TypeError) as e:
            raise InputError(str(path), where, f"a Blosc-compressed {dtype} chunk of shape {shape[1:]} ({e})") from None
        return out

    def _listed_chunks(self) -> frozenset[str] | None:
        """Chunk files the dataset manifest beside the store lists (None without a manifest)."""
        def load():
            from peaknet_bench.data.manifest import MANIFEST_NAME

            manifest = self.path.parent / MANIFEST_NAME
            if not manifest.is_file():
                return None
            try:
                files = json.loads(manifest.read_text())["files"]
                return frozenset(f["path"] for f in files)
            except (ValueError, KeyError, TypeError):
                raise InputError(str(manifest), "files", "not a dataset manifest (JSON with a files list)") from None
        return self._cached("listed_chunks", load)

    def _check_listed(self, prefix: str) -> None:
        """Table arrays are read through Zarr, which also reads an absent chunk as fill values:
        every chunk file the manifest lists under `prefix` (within the store) must exist."""
        listed = self._listed_chunks()
        if not listed:
            return
        head = f"{self.path.name}/{prefix}"
        base = self.path.parent
        for rel in sorted(p for p in listed if p.startswith(head) and "/c/" in p):
            if not (base / rel).is_file():
                raise InputError(str(base / rel), prefix.rstrip("/"),
                                 "chunk file missing (the dataset is damaged: check it with `peaknet-bench dataset "
                                 "verify`, fetch or build it again)")

    def _check_absent(self, detector: str, name: str, i: int, path: Path) -> None:
        """Zarr writes no chunk for a frame array equal to its fill value (an empty label, an
        all-bad mask), so an absent chunk file is normal — unless it was deleted. It was when
        the dataset manifest lists it, or when the frame's recorded statistics say the frame
        is not all fill (good pixels, image moments): then reading on would silently hand
        out zeros, so raise."""
        listed = self._listed_chunks()
        rel = path.relative_to(self.path.parent).as_posix()
        damaged = listed is not None and rel in listed
        if not damaged:
            f = self.frames(detector)
            if name == "mask" and "good_pixels" in f:
                damaged = int(f["good_pixels"][i]) > 0
            elif name == "image" and "image_std" in f and "good_pixels" in f and int(f["good_pixels"][i]) > 0:
                damaged = float(f["image_std"][i]) != 0.0 or float(f["image_mean"][i]) != 0.0
        if damaged:
            raise InputError(str(path), f"{detector}/{name} frame {i}",
                             "chunk file missing (the dataset is damaged: check it with `peaknet-bench dataset "
                             "verify`, fetch or build it again)")

    def _scratch(self, size: int) -> memoryview:
        """A reusable read buffer per thread (chunks are read whole before decoding)."""
        key = ("scratch", threading.get_ident())
        buf = self._cache.get(key)
        if buf is None or len(buf) < size:
            buf = self._cache[key] = bytearray(max(size, 1 << 16))
        return memoryview(buf)

    def _ragged(self, detector: str, path: str) -> dict[str, np.ndarray]:
        def load():
            self._check_listed(f"{detector}/{path}/")
            g = self.group(detector)[path]
            return {k: _read_all(a) for k, a in sorted(g.arrays())}
        return self._cached(("ragged", detector, path), load)

    def peak_tables(self, detector: str) -> list[str]:
        return self._cached(("ptables", detector), lambda: sorted(k for k, _ in self.group(detector)["peaks"].groups()))

    def peaks(self, detector: str, i: int, table: str) -> dict[str, np.ndarray]:
        """One frame's rows of a ragged peak table, as column arrays."""
        if table not in self.peak_tables(detector):
            raise InputError(str(self.path), f"{detector}/peaks", f"no table {table!r}; have {self.peak_tables(detector)}")
        cols = self._ragged(detector, f"peaks/{table}")
        a, b = int(cols["offsets"][i]), int(cols["offsets"][i + 1])
        return {k: v[a:b] for k, v in cols.items() if k != "offsets"}

    def peak_list(self, detector: str, i: int, table: str = "found") -> PeakList:
        return columns_to_peaklist(self.peaks(detector, i, table))

    def crystals(self, detector: str, i: int) -> CrystalTable:
        cols = self._ragged(detector, "crystals")
        a, b = int(cols["offsets"][i]), int(cols["offsets"][i + 1])
        return CrystalTable(cell=cols["cell"][a:b], astar=cols["astar"][a:b],
                            **{k: [str(s) for s in cols[k][a:b]] for k in CRYSTAL_STRINGS})

    def record(self, detector: str, i: int) -> FrameRecord:
        """Everything stored about one frame (the inverse of `StoreWriter.append`)."""
        f = self.frames(detector)
        scalars = {k: _py(v[i]) for k, v in f.items()}
        fixed = {k: scalars.pop(k) for k in FRAME_COLUMNS}
        for k in DERIVED_COLUMNS:
            scalars.pop(k, None)
        return FrameRecord(
            image=self.image(detector, i), label=self.label(detector, i), mask=self.mask(detector, i),
            crystals=self.crystals(detector, i),
            peaks={t: self.peaks(detector, i, t) for t in self.peak_tables(detector)},
            extra=scalars, encoding=self.image_encoding(detector), **fixed,
        )

    def iter_records(self) -> Iterator[tuple[str, FrameRecord]]:
        for det in self.detectors:
            for i in range(self.n_frames(det)):
                yield det, self.record(det, i)


def _read_all(array) -> np.ndarray:
    """A whole small array; strings come back as an object array of Python str."""
    values = np.asarray(array[...])
    if values.dtype.kind in "TUO":
        return np.array([str(v) for v in values.reshape(-1)], dtype=object).reshape(values.shape)
    return values


def _py(value: Any) -> Any:
    """numpy scalar -> Python scalar (strings from object arrays stay str)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
