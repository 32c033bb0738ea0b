"""Reference spot lists from other programs, mapped onto our frames and geometry.

A *reference* is another program's strong spots (and, where it has them, its indexing) for
real frames that have no ground truth: what a facility scientist trusts today. One class per
format, registered here like the frame readers of `io/frames.py` and picked by content:

* ``dials-csv`` – a folder of DIALS results as in ``shared/real/dials/``: ``NAME.spots.csv``
  per image (optional ``NAME.npz`` with the DIALS panel names, optional ``summary.json`` with
  the indexing: indexed or not, lattices, cells), or one ``NAME.spots.csv`` file;
* ``dials-refl`` – a DIALS reflection table (``strong.refl`` from ``dials.find_spots``,
  ``indexed.refl``, any ``*.refl`` in DIALS' msgpack format): columns ``xyzobs.px.value``,
  ``panel`` and ``id``; the experiment list beside it (the ``*.expt`` whose experiment
  identifiers are the table's) names each experiment's image file and the detector's panels;
  without one, experiment ``id`` k is the k-th frame evaluated. Tables with ``miller_index``
  also say which frames DIALS indexed;
* ``stream`` – a CrystFEL stream's peak lists (``peaknet_bench.io.stream``), keyed by image
  file name and event; its crystals are the reference's indexing.

Conventions are converted here, at the file boundary: DIALS puts pixel centres at +0.5
(subtracted), the stream reader already removes CrystFEL's +0.5; positions are per DIALS or
stream panel and land on the panel of *our* geometry with the same name (DIALS' ``ARRAY_``
prefix dropped; a one-panel detector maps onto a one-panel geometry whatever the names).
A reference entry matches a frame by file name (directory and ``.bz2``/``.gz``/``.xz``
ignored) and index of the frame in its file.

    ref = open_reference("shared/real/dials")          # or strong.refl, run.stream
    entry = ref.lookup(frame)                          # None: the reference has no such frame
    entry.spots                                        # PeakList on frame.geometry
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.util import detmath as dm

FLIP = np.diag([-1.0, 1.0, -1.0])  # DIALS lab frame (beam along −z) -> ours (beam along +z)
DIALS_HALF_PIXEL = 0.5  # DIALS: centre of pixel (i, j) at (i + 0.5, j + 0.5)
_COMPRESSED = (".bz2", ".gz", ".xz")
REFL_MAGIC = b"dials::af::reflection_table"
STREAM_MAGIC = b"CrystFEL stream format"


# ------------------------------------------------------------------ names and panels
def file_key(path: str | os.PathLike) -> str:
    """How a reference names an image file: its base name without .bz2/.gz/.xz."""
    name = Path(str(path).replace("\\", "/")).name
    for ext in _COMPRESSED:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def image_stem(path: str | os.PathLike) -> str:
    """`file_key` without its last extension (``thau_3_2_0001.cbf.bz2`` -> ``thau_3_2_0001``)."""
    key = file_key(path)
    return key.rsplit(".", 1)[0] if "." in key else key


def frame_file_index(frame: Frame) -> tuple[str, int]:
    """(file key, index of the frame in its file) of a frame read by `open_frames`."""
    source = frame.meta.get("source")
    if source is None:
        raise InputError(frame.event, "meta['source']", "the frame does not say which file it came from "
                                                         "(read it with peaknet_bench.io.frames.open_frames)")
    index = frame.meta.get("index")
    if index is None:
        index = _event_index(frame.event)
    return file_key(source), int(index or 0)


def _event_index(event: str | None) -> int | None:
    """The frame index of a CrystFEL-style event ``//i`` (``None``, ``""`` and ``//`` are 0)."""
    text = (event or "").strip()
    if text in ("", "//"):
        return 0
    m = re.fullmatch(r"(?:.*?)//(\d+)", text)
    return int(m.group(1)) if m else None


def panels_by_name(names: Sequence[str], geometry, source: str, where: str) -> np.ndarray:
    """Indices in `geometry` of a reference's panels, matched by name (DIALS' ``ARRAY_`` prefix
    dropped); a one-panel reference on a one-panel geometry maps whatever the names."""
    names = [str(n) for n in names]
    if len(names) == 1 and geometry.n_panels == 1:
        return np.zeros(1, np.int64)
    ours = {n: i for i, n in enumerate(geometry.panel_names())}
    out = []
    for name in names:
        bare = name[len("ARRAY_"):] if name.startswith("ARRAY_") else name
        if name in ours:
            out.append(ours[name])
        elif bare in ours:
            out.append(ours[bare])
        else:
            have = geometry.panel_names()
            raise InputError(source, where, f"panel {name!r} is not a panel of the frame's geometry "
                                            f"({geometry.source}: {have[:4]}{' …' if len(have) > 4 else ''}); "
                                            "expected the reference and the frames to name the same panels")
    return np.asarray(out, np.int64)


def _slab(geometry, panel: np.ndarray, fs_local: np.ndarray, ss_local: np.ndarray, **columns) -> PeakList:
    """Panel-local positions (pixel centres at integers) -> a slab PeakList on `geometry`."""
    min_fs = np.array([p.min_fs for p in geometry.panels], np.float64)
    min_ss = np.array([p.min_ss for p in geometry.panels], np.float64)
    n = len(panel)
    intensity = columns.pop("intensity", None)
    return PeakList(fs=np.asarray(fs_local, np.float64) + min_fs[panel], ss=np.asarray(ss_local, np.float64) + min_ss[panel],
                    panel=np.asarray(panel, np.int32), intensity=np.zeros(n) if intensity is None else intensity, **columns)


def _check_on_panels(peaks: PeakList, geometry, source: str, where: str) -> PeakList:
    """Positions must lie on their panel (within half a pixel): a reference made for another
    detector layout is an error, not silently wrong recall."""
    if not len(peaks):
        return peaks
    p = [geometry.panels[i] for i in peaks.panel]
    lo_fs = np.array([q.min_fs for q in p]) - 0.5
    hi_fs = np.array([q.max_fs for q in p]) + 0.5
    lo_ss = np.array([q.min_ss for q in p]) - 0.5
    hi_ss = np.array([q.max_ss for q in p]) + 0.5
    bad = ~((peaks.fs >= lo_fs) & (peaks.fs <= hi_fs) & (peaks.ss >= lo_ss) & (peaks.ss <= hi_ss))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        q = p[k]
        raise InputError(source, where, f"{int(bad.sum())} spot(s) fall outside their panel, e.g. fs {peaks.fs[k]:.1f} "
                                        f"ss {peaks.ss[k]:.1f} on panel {q.name} (fs {q.min_fs}..{q.max_fs}, ss "
                                        f"{q.min_ss}..{q.max_ss}); expected a reference made for this detector")
    return peaks


# ------------------------------------------------------------------ interface
@dataclass
class ReferenceFrame:
    """What a reference says about one frame."""

    spots: PeakList  # on the frame's geometry, slab coordinates, pixel centres at integers
    indexed: bool | None = None  # None: the reference does not index
    n_lattices: int | None = None
    real_bases: list[np.ndarray] = field(default_factory=list)  # rows a, b, c (Å, our lab frame) per lattice
    cells: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)


class SpotReference:
    """Base of the registered reference formats.

    Subclasses set `name`, implement `sniff(path, head)` (head = the first 4 KiB; '' for a
    folder), `entries()` (the (file key, index) pairs the reference holds) and
    `_lookup(key, index, position, geometry)` -> ReferenceFrame or None.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    has_indexing: ClassVar[bool] = False

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        raise NotImplementedError

    def entries(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _lookup(self, key: str, index: int, position: int, geometry) -> ReferenceFrame | None:
        raise NotImplementedError

    def lookup(self, frame: Frame, position: int = 0) -> ReferenceFrame | None:
        """The reference's spots (and indexing) for `frame`, the `position`-th frame evaluated;
        None when the reference has no entry for it."""
        key, index = frame_file_index(frame)
        return self._lookup(key, index, position, frame.geometry)

    def target_cell(self, files: Sequence[str] | None = None):
        """The known cell the reference used (for the images `files`, default all) when it
        records one, else None."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "path": str(Path(self.path).resolve()), "n_entries": len(self.entries()),
                "has_indexing": self.has_indexing}


class ReferenceRegistry:
    """name -> reference class, in registration order (the order `sniff` is tried)."""

    def __init__(self) -> None:
        self._items: dict[str, type[SpotReference]] = {}

    def register(self, cls: type[SpotReference], overwrite: bool = False) -> type[SpotReference]:
        if cls.name in self._items and not overwrite:
            raise ValueError(f"reference format {cls.name!r} is already registered (pass overwrite=True to replace it)")
        self._items[cls.name] = cls
        return cls

    def get(self, name: str) -> type[SpotReference]:
        if name not in self._items:
            raise InputError(None, "--reference-format", f"unknown reference format {name!r}; known: {', '.join(self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def classes(self) -> list[type[SpotReference]]:
        return list(self._items.values())


REFERENCES = ReferenceRegistry()


def register_reference(cls: type[SpotReference], overwrite: bool = False) -> type[SpotReference]:
    """Class decorator: make `cls` available to `open_reference` (tried in registration order)."""
    return REFERENCES.register(cls, overwrite)


def open_reference(path: str | os.PathLike, kind: str | None = None) -> SpotReference:
    """The reference spot list at `path` (a DIALS folder or .spots.csv, a .refl, a .stream),
    read by the registered format its content calls for (or `kind`)."""
    text = str(path)
    p = Path(text)
    if not p.exists():
        raise InputError(text, None, "reference not found")
    if kind:
        return REFERENCES.get(kind)(text)
    head = b""
    if p.is_file():
        with open(p, "rb") as fh:
            head = fh.read(4096)
    for cls in REFERENCES.classes():
        if cls.sniff(text, head):
            return cls(text)
    raise InputError(text, None, "not a reference spot list any reader recognises; expected a folder of DIALS "
                                 "NAME.spots.csv (+ summary.json), a NAME.spots.csv, a DIALS .refl (msgpack) or a "
                                 f"CrystFEL .stream ({', '.join(REFERENCES.names())})")


# ------------------------------------------------------------------ DIALS csv folder
@register_reference
class DialsReference(SpotReference):
    """DIALS results as exported in ``shared/real/dials/``: strong spots, panel names and indexing.

    Per image NAME: ``NAME.spots.csv`` (DIALS strong spots, DIALS panel index, pixel centres at
    +0.5), ``NAME.npz`` (``panel_names``, optional: without it DIALS' panel order is taken as
    the geometry's) and ``summary.json`` (optional: A matrices of every lattice in DIALS' lab
    frame). Spots become a PeakList in slab coordinates with pixel centres at integers; each
    lattice a real-space basis in our lab frame (A -> diag(−1, 1, −1) · A).
    """

    name = "dials-csv"
    description = "folder of DIALS NAME.spots.csv (+ NAME.npz, summary.json), or one NAME.spots.csv"
    SUFFIX = ".spots.csv"
    REQUIRED = ("panel", "fs", "ss")

    def __init__(self, folder: str | os.PathLike) -> None:
        super().__init__(folder)
        p = Path(folder)
        self._only: str | None = None  # one spot-list file given: its image name
        self._only_path: Path | None = None
        if p.is_file():
            self.folder, self._only_path = p.parent, p
            self._only = p.name[: -len(self.SUFFIX)] if p.name.endswith(self.SUFFIX) else p.stem
        else:
            self.folder = p
        self._images: list[dict[str, Any]] | None = None
        path = self.folder / "summary.json"
        if path.is_file():
            try:
                self._images = json.loads(path.read_text())["images"]
                if not isinstance(self._images, list):
                    raise TypeError("not a list")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(str(path), "images", f"expected a DIALS summary with an 'images' list ({exc})") from None
        elif self._only is None and not any(self.folder.glob("*" + self.SUFFIX)):
            raise InputError(str(self.folder), None, f"no summary.json and no *{self.SUFFIX} files: not a DIALS reference folder")
        self._spot_cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def has_indexing(self) -> bool:  # type: ignore[override]
        return self._images is not None

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        p = Path(path)
        if p.is_dir():
            return (p / "summary.json").is_file() or any(p.glob("*" + cls.SUFFIX))
        return p.name.endswith(cls.SUFFIX) or (p.suffix == ".csv" and head.split(b"\n", 1)[0].replace(b" ", b"")
                                               .startswith(b"panel,fs,ss"))

    # ------------------------------------------------------------ the former index/reference API
    def names(self) -> list[str]:
        """Image names (file names without .cbf/.cbf.bz2 ...) the reference holds."""
        if self._only is not None:
            return [self._only]
        if self._images is not None:
            return [image_stem(i["file"]) for i in self._images]
        return sorted(p.name[: -len(self.SUFFIX)] for p in self.folder.glob("*" + self.SUFFIX))

    def summary(self, name: str) -> dict:
        for image in self._images or []:
            if image_stem(image["file"]) == name:
                return image
        raise InputError(str(self.folder / "summary.json"), "images[].file", f"an entry for {name!r}")

    def lattices(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(real basis rows a, b, c in our lab frame (Å), DIALS' unit cell) of every lattice, lattice 1 first."""
        s = self.summary(name)
        if not s.get("indexed"):
            return []
        out = []
        where = str(self.folder / "summary.json")
        for k, lattice in enumerate([s, *s.get("additional_lattices", [])]):
            try:
                a = FLIP @ np.array(lattice["A_matrix"], float).reshape(3, 3)  # columns a*, b*, c*
                out.append((dm.inv3(a), np.array(lattice["unit_cell"], float).reshape(6)))
            except (KeyError, ValueError, TypeError, np.linalg.LinAlgError) as exc:
                raise InputError(where, f"{name} lattice {k + 1} A_matrix/unit_cell",
                                 f"expected 9 numbers of an invertible A matrix and 6 cell parameters ({exc})") from None
        return out

    def spots(self, name: str, geometry) -> PeakList:
        """DIALS' strong spots of image `name` on `geometry` (the frame's own), in our convention."""
        path = self._csv_path(name)
        panel_d, fs, ss, intensity = self._read_csv(path)
        if not len(panel_d):
            return PeakList.empty()
        names = self._panel_names(name)
        if names is None:  # DIALS panel order = ours
            if panel_d.max() >= geometry.n_panels:
                raise InputError(str(path), "column panel", f"panel index {int(panel_d.max())} but the frame's geometry "
                                                            f"has {geometry.n_panels} panel(s) (and no {name}.npz names them)")
            ours = np.arange(geometry.n_panels)
        else:
            if panel_d.max() >= len(names):
                raise InputError(str(path), "column panel", f"panel index {int(panel_d.max())} but DIALS' detector has "
                                                            f"{len(names)} panel(s) ({name}.npz)")
            ours = panels_by_name(names, geometry, str(self.folder / f"{name}.npz"), "panel_names")
        peaks = _slab(geometry, ours[panel_d], fs - DIALS_HALF_PIXEL, ss - DIALS_HALF_PIXEL, intensity=intensity)
        return _check_on_panels(peaks, geometry, str(path), "fs/ss")

    # ------------------------------------------------------------ reading
    def _csv_path(self, name: str) -> Path:
        if self._only_path is not None and name == self._only:
            return self._only_path
        return self.folder / f"{name}{self.SUFFIX}"

    def _panel_names(self, name: str) -> list[str] | None:
        npz = self.folder / f"{name}.npz"
        if not npz.is_file():
            return None
        try:
            with np.load(npz, allow_pickle=False) as z:
                return [str(n) for n in z["panel_names"]]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(str(npz), "panel_names", f"expected an npz with the DIALS panel names ({exc})") from None

    def _read_csv(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        key = str(path)
        if key in self._spot_cache:
            return self._spot_cache[key]
        try:
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                columns = [c.strip() for c in (reader.fieldnames or [])]
                missing = [c for c in self.REQUIRED if c not in columns]
                if missing:
                    raise InputError(key, "header", f"missing column(s) {missing}; expected a DIALS spot list with "
                                                    f"columns panel, fs, ss[, intensity, ...], got {columns}")
                rows = list(reader)
        except FileNotFoundError:
            raise InputError(key, None, "spot list not found") from None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(key, None, f"cannot read the spot list ({exc})") from None
        n = len(rows)
        panel, fs, ss, intensity = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n)
        for k, row in enumerate(rows):
            line = k + 2
            row = {str(a).strip(): b for a, b in row.items() if a is not None}
            for col, out, conv in (("panel", panel, int), ("fs", fs, float), ("ss", ss, float),
                                   ("intensity", intensity, float)):
                text = row.get(col)
                if text is None and col == "intensity":
                    continue
                try:
                    value = conv(str(text).strip())
                except (TypeError, ValueError):
                    what = "a panel index (integer >= 0)" if col == "panel" else "a number"
                    raise InputError(key, f"line {line} column {col}", f"expected {what}, got {text!r}") from None
                if (col == "panel" and value < 0) or (col != "panel" and not math.isfinite(value)):
                    what = "a panel index (integer >= 0)" if col == "panel" else "a finite number"
                    raise InputError(key, f"line {line} column {col}", f"expected {what}, got {text!r}")
                out[k] = value
        self._spot_cache[key] = (panel, fs, ss, intensity)
        return self._spot_cache[key]

    # ------------------------------------------------------------ SpotReference
    def entries(self) -> list[tuple[str, int]]:
        return [(n, 0) for n in self.names()]

    def _lookup(self, key: str, index: int, position: int, geometry) -> ReferenceFrame | None:
        stem = image_stem(key)
        if index != 0 or stem not in self.names():
            return None
        if not self._csv_path(stem).is_file():
            raise InputError(str(self._csv_path(stem)), None, "spot list not found (summary.json lists the image)")
        spots = self.spots(stem, geometry)
        if self._images is None:
            return ReferenceFrame(spots)
        s = self.summary(stem)
        lattices = self.lattices(stem)
        return ReferenceFrame(spots, indexed=bool(s.get("indexed")), n_lattices=len(lattices),
                              real_bases=[b for b, _ in lattices], cells=[tuple(float(x) for x in c) for _, c in lattices])

    def target_cell(self, files: Sequence[str] | None = None):
        """The known symmetry DIALS indexed the images `files` with (summary.json
        `known_symmetry_used`), when they share one."""
        from peaknet_bench.crystal import UnitCell
        from peaknet_bench.crystal.cell import lattice_from_space_group

        wanted = None if files is None else {image_stem(f) for f in files}
        used = {str(i.get("known_symmetry_used")) for i in self._images or []
                if i.get("known_symmetry_used") and (wanted is None or image_stem(i["file"]) in wanted)}
        if len(used) != 1:
            return None
        text = used.pop()
        m = re.fullmatch(r"\s*(.+?),\s*([-\d.eE+\s]+)", text)
        try:
            params = [float(x) for x in m.group(2).split()] if m else []
            if len(params) != 6:
                return None
            symbol = m.group(1).strip()
            lattice_type, centering, unique_axis = lattice_from_space_group(symbol)
            return UnitCell(*params, lattice_type=lattice_type, centering=centering, unique_axis=unique_axis,
                            space_group=symbol)
        except (ValueError, InputError):
            return None


# ------------------------------------------------------------------ DIALS reflection table
# DIALS' msgpack column types: (numpy dtype, values per row)
_REFL_TYPES = {
    "int": ("<i4", 1), "double": ("<f8", 1), "std::size_t": ("<u8", 1), "bool": ("u1", 1),
    "vec2<double>": ("<f8", 2), "vec3<double>": ("<f8", 3), "int6": ("<i4", 6),
    "cctbx::miller::index<>": ("<i4", 3),
}
REFL_INDEXED_FLAG = 1 << 2  # DIALS reflection flag "indexed"


def read_refl_columns(path: str | os.PathLike, names: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[int, str], int]:
    """Columns `names` (those present) of a DIALS msgpack reflection table, its experiment
    identifiers (id -> identifier) and its number of rows."""
    try:
        import msgpack
    except ImportError:
        raise InputError(str(path), None, "reading DIALS .refl files needs the msgpack package (pip install msgpack)") from None
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(src, None, f"cannot read ({exc.strerror})") from None
    try:
        top = msgpack.unpackb(raw, strict_map_key=False, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        if raw[:2] == b"\x80\x02" or raw[:1] == b"\x80":
            raise InputError(src, None, "a pickled (DIALS < 2.0) reflection table; expected the msgpack format "
                                        "(re-save it with a current DIALS, e.g. dials.split_experiments)") from None
        raise InputError(src, None, f"not a DIALS msgpack reflection table ({type(exc).__name__}: {exc})") from None
    if not (isinstance(top, list) and len(top) == 3 and top[0] == REFL_MAGIC.decode()):
        raise InputError(src, "header", f"expected [{REFL_MAGIC.decode()!r}, version, table]")
    if top[1] != 1:
        raise InputError(src, "version", f"reflection table version {top[1]!r}; expected 1")
    table = top[2]
    if not isinstance(table, dict) or "data" not in table or "nrows" not in table:
        raise InputError(src, "table", "expected a map with 'nrows' and 'data'")
    nrows = int(table["nrows"])
    data = table["data"]
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in data:
            continue
        try:
            type_name, (n, blob) = data[name]
        except (TypeError, ValueError):
            raise InputError(src, f"column {name!r}", "expected [type, [rows, bytes]]") from None
        if type_name not in _REFL_TYPES:
            raise InputError(src, f"column {name!r}", f"type {type_name!r}; expected one of {sorted(_REFL_TYPES)}")
        dtype, width = _REFL_TYPES[type_name]
        size = np.dtype(dtype).itemsize * width
        if n != nrows or not isinstance(blob, bytes) or len(blob) != n * size:
            raise InputError(src, f"column {name!r}", f"expected {nrows} rows of {size} bytes, got {n} rows in "
                                                      f"{len(blob) if isinstance(blob, bytes) else type(blob).__name__} bytes")
        arr = np.frombuffer(blob, dtype=dtype)
        out[name] = arr.reshape(n, width) if width > 1 else arr
    ids = table.get("identifiers") or {}
    return out, {int(k): str(v) for k, v in ids.items()}, nrows


@register_reference
class DialsReflReference(SpotReference):
    """A DIALS reflection table (msgpack ``.refl``: ``strong.refl``, ``indexed.refl``)."""

    name = "dials-refl"
    description = "DIALS reflection table (.refl, msgpack) + its .expt beside it"
    REQUIRED = ("xyzobs.px.value", "panel", "id")

    def __init__(self, path: str | os.PathLike, experiments: str | os.PathLike | None = None) -> None:
        super().__init__(path)
        cols, self.identifiers, nrows = read_refl_columns(path, [*self.REQUIRED, "miller_index", "flags",
                                                                 "intensity.sum.value", "imageset_id"])
        for c in self.REQUIRED:
            if c not in cols:
                raise InputError(self.path, f"column {c!r}", f"missing; expected a DIALS spot table with columns "
                                                            f"{list(self.REQUIRED)} (dials.find_spots output)")
        xyz = cols["xyzobs.px.value"]
        self.fs, self.ss, self.z = xyz[:, 0].astype(np.float64), xyz[:, 1].astype(np.float64), xyz[:, 2]
        self.panel = cols["panel"].astype(np.int64)
        self.id = cols["id"].astype(np.int64)
        # indexed.refl: spots no lattice took have id -1 and are placed by their image set
        self.imageset_id = cols["imageset_id"].astype(np.int64) if "imageset_id" in cols else None
        finite = np.isfinite(self.fs) & np.isfinite(self.ss)
        if not finite.all():
            raise InputError(self.path, "column 'xyzobs.px.value'", f"row {int(np.flatnonzero(~finite)[0])}: expected "
                                                                    "finite positions (a strong-spot table)")
        self.intensity = cols.get("intensity.sum.value", np.zeros(nrows)).astype(np.float64)
        self.indexed_rows = None
        if "miller_index" in cols:
            hkl = cols["miller_index"]
            self.indexed_rows = np.any(hkl != 0, axis=1)
            if "flags" in cols:
                self.indexed_rows &= (cols["flags"] & REFL_INDEXED_FLAG) != 0
        self.expt_path = self._find_experiments(experiments)
        self._keys: np.ndarray | None = None  # per row: entry number
        self._entries: list[tuple[str, int]] = []
        self._panel_names: dict[int, list[str]] = {}
        self._row_detector = np.zeros(nrows, np.int64)
        self._by_id = self.expt_path is None
        unassigned = int(np.sum(self.id < 0))
        if unassigned and (self._by_id or self.imageset_id is None):
            raise InputError(self.path, "column 'id'", f"{unassigned} spot(s) with experiment id -1 and "
                             + ("no experiment list beside the table to place them"
                                if self.imageset_id is not None else "no 'imageset_id' column")
                             + "; expected every spot assigned to an image (dials.find_spots' strong.refl, or "
                               "dials.index's indexed.refl beside its indexed.expt)")
        if self.expt_path is not None:
            self._map_rows()

    @property
    def has_indexing(self) -> bool:  # type: ignore[override]
        return self.indexed_rows is not None

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return REFL_MAGIC in head[:64]

    # ------------------------------------------------------------ experiments
    def _find_experiments(self, given) -> str | None:
        """The .expt beside the table whose experiment identifiers are the table's."""
        if given is not None:
            return str(given)
        p = Path(self.path)
        candidates = [p.with_suffix(".expt")] + sorted(q for q in p.parent.glob("*.expt") if q != p.with_suffix(".expt"))
        wanted = set(self.identifiers.values())
        for q in candidates:
            if not q.is_file():
                continue
            try:
                experiments = json.loads(q.read_text()).get("experiment", [])
                ids = {e.get("identifier") for e in experiments}
            except (OSError, ValueError, AttributeError):
                continue
            if wanted and wanted <= ids:
                return str(q)
        return None

    def _map_rows(self) -> None:
        """Entry (image file, index) of every row, and every image of the table's experiments
        (so that an image where DIALS found nothing is in the reference with no spots)."""
        src = str(self.expt_path)
        try:
            expt = json.loads(Path(src).read_text())
            experiments, imagesets = expt["experiment"], expt["imageset"]
            detectors, scans = expt.get("detector", []), expt.get("scan", [])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(src, "experiment/imageset", f"expected a DIALS experiment list ({exc})") from None
        by_identifier = {e.get("identifier"): k for k, e in enumerate(experiments)}
        entry_of: dict[tuple[str, int], int] = {}
        keys = np.full(len(self.id), -1, np.int64)
        for rid in sorted(set(self.identifiers) | {int(i) for i in np.unique(self.id) if i >= 0}):
            ident = self.identifiers.get(rid)
            k = by_identifier.get(ident) if self.identifiers else rid
            if k is None or not 0 <= k < len(experiments):
                raise InputError(src, "experiment[].identifier", f"no experiment for table id {rid} ({ident})")
            e = experiments[k]
            try:
                iset = imagesets[int(e["imageset"])]
                det = int(e.get("detector", 0))
                self._panel_names.setdefault(det, [str(q.get("name", "")) for q in detectors[det]["panels"]])
                scan = scans[int(e["scan"])] if e.get("scan") is not None and scans else None
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise InputError(src, f"experiment {k}", f"expected imageset and detector entries ({exc})") from None
            for frame_no in self._frame_numbers(iset, scan):
                path, index = self._image_of(iset, frame_no, src, k)
                entry_of.setdefault((file_key(path), index), len(entry_of))
            rows = np.flatnonzero(self.id == rid)
            self._row_detector[rows] = det
            frame_no = np.floor(self.z[rows]).astype(np.int64)
            for fno in np.unique(frame_no):
                path, index = self._image_of(iset, int(fno), src, k)
                entry = entry_of.setdefault((file_key(path), index), len(entry_of))
                keys[rows[frame_no == fno]] = entry
        for k, iset in enumerate(imagesets):  # images no experiment of the table uses (e.g. not indexed)
            if isinstance(iset, dict) and "images" in iset:
                for frame_no in self._frame_numbers(iset, None):
                    path, index = self._image_of(iset, frame_no, src, k)
                    entry_of.setdefault((file_key(path), index), len(entry_of))
        for isid in np.unique(self.imageset_id[self.id < 0]) if self.imageset_id is not None else []:
            using = [k for k, e in enumerate(experiments) if int(e.get("imageset", -1)) == int(isid)]
            if not 0 <= isid < len(imagesets) or not using:
                raise InputError(self.path, "column 'imageset_id'", f"image set {int(isid)} of unassigned spots is not "
                                                                    f"one of {src}'s experiments")
            rows = np.flatnonzero((self.id < 0) & (self.imageset_id == isid))
            self._row_detector[rows] = int(experiments[using[0]].get("detector", 0))
            frame_no = np.floor(self.z[rows]).astype(np.int64)
            for fno in np.unique(frame_no):
                path, index = self._image_of(imagesets[int(isid)], int(fno), src, using[0])
                entry = entry_of.setdefault((file_key(path), index), len(entry_of))
                keys[rows[frame_no == fno]] = entry
        self._entries = list(entry_of)
        self._keys = keys

    @staticmethod
    def _frame_numbers(iset: dict, scan: dict | None) -> list[int]:
        """DIALS frame numbers (floor of z) of every image of an experiment's image set."""
        if "images" in iset:
            indices = iset.get("single_file_indices")
            return list(range(len(indices) if indices else len(iset["images"]) or 1))
        if scan is not None and "image_range" in scan:
            first, last = (int(x) for x in scan["image_range"])
            return list(range(first - 1, last))
        return []

    @staticmethod
    def _image_of(iset: dict, frame_no: int, src: str, k: int) -> tuple[str, int]:
        """(image file, index in it) of DIALS frame `frame_no` (floor of z) of an experiment: the
        image in a still's image set, or image number `frame_no` + 1 of a sequence's template
        (DIALS' z counts from image 1 at z = 0, whatever the scan's first image)."""
        where = f"imageset of experiment {k}"
        if "images" in iset:
            images = list(iset["images"])
            indices = iset.get("single_file_indices")
            i = 0 if len(images) == 1 and not (indices and len(indices) > 1) else frame_no
            n = len(indices) if indices else len(images)
            if not 0 <= i < n:
                raise InputError(src, where, f"spot on image {i} of an image set of {n}")
            path = images[i] if len(images) > 1 else images[0]
            return path, int(indices[i]) if indices else 0
        if "template" in iset:
            template = str(iset["template"])
            number = frame_no + 1
            run = re.search(r"#+", template)
            if run:
                width = run.end() - run.start()
                return template[: run.start()] + str(number).zfill(width) + template[run.end():], 0
            return template, number - 1  # one multi-frame file (HDF5/NeXus)
        raise InputError(src, where, "expected 'images' or 'template'")

    # ------------------------------------------------------------ SpotReference
    def entries(self) -> list[tuple[str, int]]:
        if self._by_id:
            return [(f"experiment {i}", 0) for i in np.unique(self.id)]
        return list(self._entries)

    def _lookup(self, key: str, index: int, position: int, geometry) -> ReferenceFrame | None:
        if self._by_id:  # no experiment list: experiment k is the k-th frame evaluated
            if position >= max(len(self.identifiers), int(self.id.max(initial=-1)) + 1):
                return None
            rows = np.flatnonzero(self.id == position)
        else:
            try:
                entry = self._entries.index((key, index))
            except ValueError:
                return None
            rows = np.flatnonzero(self._keys == entry)
        det = int(self._row_detector[rows[0]]) if rows.size else 0
        names = self._panel_names.get(det)
        panel_d = self.panel[rows]
        where = "column 'panel'"
        if names is None:
            if panel_d.size and panel_d.max() >= geometry.n_panels:
                raise InputError(self.path, where, f"panel index {int(panel_d.max())} but the frame's geometry has "
                                                   f"{geometry.n_panels} panel(s) (and no .expt names DIALS' panels)")
            ours = np.arange(geometry.n_panels)
        else:
            if panel_d.size and panel_d.max() >= len(names):
                raise InputError(self.path, where, f"panel index {int(panel_d.max())} but the detector of "
                                                   f"{self.expt_path} has {len(names)} panel(s)")
            ours = panels_by_name(names, geometry, str(self.expt_path), "detector panels")
        peaks = _slab(geometry, ours[panel_d], self.fs[rows] - DIALS_HALF_PIXEL, self.ss[rows] - DIALS_HALF_PIXEL,
                      intensity=self.intensity[rows])
        peaks = _check_on_panels(peaks, geometry, self.path, "column 'xyzobs.px.value'")
        if self.indexed_rows is None:
            return ReferenceFrame(peaks)
        hit = self.indexed_rows[rows] & (self.id[rows] >= 0)
        lattices = len(np.unique(self.id[rows][hit]))
        return ReferenceFrame(peaks, indexed=bool(hit.any()), n_lattices=lattices)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["experiments"] = None if self.expt_path is None else str(Path(self.expt_path).resolve())
        out["matched_by"] = "experiment id = frame order" if self._by_id else "image file name and index"
        return out


# ------------------------------------------------------------------ CrystFEL stream
@dataclass
class _StreamEntry:
    """One stream chunk as a reference keeps it."""

    peaks: PeakList
    peak_panel_names: list[str]
    line: int | None
    astars: list[np.ndarray]
    cells: list[tuple[float, ...]]


@register_reference
class StreamReference(SpotReference):
    """A CrystFEL stream's peak lists (and crystals), keyed by image file name and event.

    Positions are moved from the stream's slab to ours panel by panel (by name, with the
    stream's geometry block); a stream without panel names or geometry is taken to share the
    frames' slab layout.
    """

    name = "stream"
    description = "CrystFEL stream (peak lists; crystals as the reference's indexing)"
    has_indexing = True

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        from peaknet_bench.io.stream import StreamReader

        reader = StreamReader(path, resolve_panels=False)
        self.cell_text = reader.cell_text
        self._geometry = reader.geometry if reader.geometry_text else None
        self._chunks: dict[tuple[str, int | str], _StreamEntry] = {}
        self._order: list[tuple[str, int | str]] = []
        for chunk in reader:
            index = _event_index(chunk.event)
            key = (file_key(chunk.filename), index if index is not None else str(chunk.event))
            if key in self._chunks:
                raise InputError(self.path, f"line {chunk.line}", f"a second chunk for {chunk.filename} event "
                                                                  f"{chunk.event!r}; expected one chunk per frame")
            # keep what a reference needs, not the crystals' integrated reflections (most of a stream)
            self._chunks[key] = _StreamEntry(chunk.peaks, list(chunk.peak_panel_names), chunk.line,
                                             [np.asarray(c.astar, float) for c in chunk.crystals],
                                             [tuple(float(x) for x in c.cell_parameters()) for c in chunk.crystals])
            self._order.append(key)

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return head.startswith(STREAM_MAGIC)

    def entries(self) -> list[tuple[str, int]]:
        return [k for k in self._order if isinstance(k[1], int)]  # type: ignore[misc]

    def lookup(self, frame: Frame, position: int = 0) -> ReferenceFrame | None:
        key, index = frame_file_index(frame)
        chunk = self._chunks.get((key, index))
        if chunk is None and frame.event:
            chunk = self._chunks.get((key, frame.event))
        return None if chunk is None else self._frame(chunk, frame.geometry)

    def _lookup(self, key: str, index: int, position: int, geometry) -> ReferenceFrame | None:
        chunk = self._chunks.get((key, index))
        return None if chunk is None else self._frame(chunk, geometry)

    def _frame(self, chunk, geometry) -> ReferenceFrame:
        peaks = chunk.peaks
        where = f"chunk at line {chunk.line} peak table"
        names = chunk.peak_panel_names
        if len(peaks) and names and names[0] and not (geometry.n_panels == 1 and len(set(names)) == 1):
            unique = sorted(set(names))
            ours_of = dict(zip(unique, panels_by_name(unique, geometry, self.path, where)))
            ours = np.array([ours_of[n] for n in names], np.int64)
            if self._geometry is not None:
                theirs_of = {n: i for i, n in enumerate(self._geometry.panel_names())}
                missing = [n for n in unique if n not in theirs_of]
                if missing:
                    raise InputError(self.path, where, f"panel(s) {missing[:4]} are not in the stream's geometry block")
                theirs = np.array([theirs_of[n] for n in names], np.int64)
                fs0 = np.array([p.min_fs for p in self._geometry.panels], np.float64)[theirs]
                ss0 = np.array([p.min_ss for p in self._geometry.panels], np.float64)[theirs]
            else:  # same slab layout as the frames
                fs0 = np.array([p.min_fs for p in geometry.panels], np.float64)[ours]
                ss0 = np.array([p.min_ss for p in geometry.panels], np.float64)[ours]
            spots = _slab(geometry, ours, peaks.fs - fs0, peaks.ss - ss0, intensity=peaks.intensity)
        elif len(peaks) and geometry.n_panels == 1:
            spots = PeakList(fs=peaks.fs, ss=peaks.ss, panel=np.zeros(len(peaks), np.int32), intensity=peaks.intensity)
        elif len(peaks):  # no panel names: the frames' slab
            panel = geometry.panel_of(np.rint(peaks.fs), np.rint(peaks.ss))
            if (panel < 0).any():
                raise InputError(self.path, where, "peaks off every panel of the frame's geometry and no panel names "
                                                   "to place them; expected a stream made for this detector")
            spots = PeakList(fs=peaks.fs, ss=peaks.ss, panel=panel, intensity=peaks.intensity)
        else:
            spots = PeakList.empty()
        spots = _check_on_panels(spots, geometry, self.path, where)
        bases = []
        for astar in chunk.astars:
            try:
                bases.append(dm.inv3(astar).T)
            except np.linalg.LinAlgError:
                raise InputError(self.path, f"chunk at line {chunk.line} crystal", "singular astar/bstar/cstar") from None
        return ReferenceFrame(spots, indexed=bool(chunk.astars), n_lattices=len(chunk.astars),
                              real_bases=bases, cells=list(chunk.cells))

    def target_cell(self, files: Sequence[str] | None = None):
        """The stream's target cell block (indexamajig -p), when it has one."""
        if not self.cell_text:
            return None
        from peaknet_bench.crystal.files import parse_cell_text

        return parse_cell_text(self.cell_text, f"{self.path} (unit cell block)")
