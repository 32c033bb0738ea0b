"""One way in for detector frames: a reader registry and `open_frames`.

Every command that reads frames goes through `open_frames(spec, geom=...)`. A reader is one
class registered here (`register_reader`); the reader for a file is picked by *content*
(magic bytes, HDF5 structure), the extension only breaking ties, so a renamed or
compressed file still opens. `spec` is a path, a glob, a list file (one path per line, as
`indexamajig -i`), or a list of those.

Readers give the geometry the file carries (CBF header, imgCIF metrology, NXmx
NXdetector_module); `geom=` (a preset name, a `.geom` file or a `Geometry`) overrides it and is
required for formats without one (CXI). Every frame's mask is the reader's bad-pixel mask AND
the geometry's bad regions AND `isfinite(data)`.

`FrameSet` holds only paths and settings and opens files lazily in the process that reads
them, so it can be pickled to Ray workers.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.util.registry import NameRegistry
from peaknet_bench.frame import Frame

HEAD_BYTES = 4096
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class FrameReader:
    """Base of the registered readers: one opened file of one or more frames.

    Subclasses set `name`, implement `sniff(path, head)` (head = the first 4 KiB after
    transparent .bz2/.gz decompression), `__len__`, `read(i)` -> (data, mask or None, meta dict
    with photon_energy_ev, clen_m, event) and `file_geometry()` (None when the format has none).
    """

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    #: True when `read` already applies the geometry's beam/clen rules itself (CXI + .geom).
    resolves_beam: ClassVar[bool] = False

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        self.path = str(path)
        self._override = geometry
        self._geometry = None
        self._geometry_mask: np.ndarray | None = None

    # --------------------------------------------------------------- to override
    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
        raise NotImplementedError

    def file_geometry(self):
        """The geometry written in the file, or None."""
        return None

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ shared
    @property
    def geometry(self):
        """The override geometry if given, else the file's (InputError if neither)."""
        if self._geometry is None:
            g = self._override if self._override is not None else self.file_geometry()
            if g is None:
                raise InputError(self.path, None, f"{self.name} files carry no detector geometry; "
                                                  "pass --geom (a .geom file or a detector preset)")
            self._geometry = g
        return self._geometry

    def frame(self, i: int) -> Frame:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: frame {i} out of range (file has {n})")
        i = i % n
        data, mask, meta = self.read(i)
        g = self.geometry
        if tuple(data.shape) != tuple(g.slab_shape):
            raise InputError(self.path, f"frame {i}", f"data shape {tuple(data.shape)} does not match the geometry "
                                                      f"slab {tuple(g.slab_shape)} ({g.source})")
        if self._geometry_mask is None:
            self._geometry_mask = g.bad_pixel_mask()
        data = np.asarray(data, dtype=np.float32)
        good = self._geometry_mask & np.isfinite(data)
        if mask is not None:
            good &= mask
        # A --geom decides the beam and detector state where it gives numbers (CrystFEL semantics);
        # otherwise the file's per-frame values, then its geometry's.
        energy = meta.pop("photon_energy_ev", None)
        clen = meta.pop("clen_m", None)
        decides = self._override is not None and not self.resolves_beam
        if energy is None or (decides and g.photon_energy_ev is not None):
            energy = g.photon_energy_ev
        if clen is None or (decides and g.clen_m is not None):
            clen = g.clen_m
        if energy is None:
            raise InputError(self.path, f"frame {i}", "no photon energy in the file or the geometry")
        if clen is None:
            raise InputError(self.path, f"frame {i}", "no camera length in the file or the geometry")
        event = meta.pop("event", f"//{i}")
        meta.update(source=self.path, index=i, reader=self.name)
        return Frame(data=data, mask=good, geometry=g, photon_energy_ev=float(energy), clen_m=float(clen),
                     event=event, meta=meta)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self.frame(i)

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- registry
READERS: NameRegistry[type[FrameReader]] = NameRegistry("frame reader", flag="--reader",
                                                    on_first_use=lambda: _load_builtin())



def register_reader(cls: type[FrameReader], overwrite: bool = False) -> type[FrameReader]:
    """Class decorator: make `cls` available to `open_frames` (tried in registration order)."""
    return READERS.register(cls.name, cls, overwrite)


_BUILTIN = ("peaknet_bench.io.minicbf", "peaknet_bench.io.imgcif", "peaknet_bench.io.euxfel",
            "peaknet_bench.io.nexus", "peaknet_bench.io.cxi_source")


def _load_builtin() -> None:
    """Import the built-in readers (they register themselves); READERS runs this once."""
    import importlib

    for module in _BUILTIN:
        importlib.import_module(module)


def read_head(path: str, n: int = HEAD_BYTES) -> bytes:
    """The first `n` bytes of a file, decompressed when it is .bz2 or .gz (by magic bytes)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(n)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a directory; expected a frame file, a glob or a list file") from None
    try:
        if head[:3] == b"BZh":
            with bz2.open(path, "rb") as fh:
                return fh.read(n)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
    except (OSError, EOFError) as exc:
        raise InputError(path, None, f"compressed file does not decompress ({exc})") from None
    return head


def read_all(path: str) -> bytes:
    """The whole file, decompressed when it is .bz2 or .gz."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(path, None, f"compressed file is truncated or corrupt ({exc})") from None
    return raw


def reader_for(path: str, reader: str | None = None) -> type[FrameReader]:
    """The registered reader class for `path`: by name if given, else the first whose `sniff`
    accepts the content (ties broken by extension)."""
    if reader:
        return READERS.get(reader)
    head = b"" if Path(path).is_dir() else read_head(path)  # a run directory (European XFEL)
    matches = [cls for cls in READERS.items() if cls.sniff(path, head)]
    if not matches:
        raise InputError(path, None, f"not a frame file any reader recognises ({', '.join(READERS.names())}); "
                                     "expected miniCBF, imgCIF/CBF, NeXus/NXmx or CXI/HDF5 (optionally .bz2/.gz)")
    lower = path.lower()
    for cls in matches:
        if any(lower.endswith(ext) for ext in cls.extensions):
            return cls
    return matches[0]


def _is_list_file(path: str) -> bool:
    """A text file whose non-comment lines are paths (indexamajig -i style)."""
    head = read_head(path, 4096)
    if b"\x00" in head or head[:3] == b"BZh" or head[:2] == b"\x1f\x8b" or head.startswith(HDF5_MAGIC):
        return False
    if head.startswith(b"###CBF") or b"_array_data" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(" = " not in line for line in text.splitlines()[:5])


def expand_spec(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """File paths from a path, a glob, a list file, or a list of those (order kept, globs sorted)."""
    items = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    out: list[str] = []
    for item in items:
        text = str(item)
        if any(c in text for c in "*?[") and not Path(text).exists():
            found = sorted(glob.glob(text))
            if not found:
                raise InputError(text, None, "the glob matches no file")
            out += found
            continue
        if not Path(text).exists():
            raise InputError(text, None, "file not found")
        if Path(text).is_dir():  # a run directory is one source (the reader checks it)
            out.append(text)
            continue
        lower = text.lower()
        if lower.endswith((".lst", ".txt", ".list")) or (Path(text).is_file() and _is_list_file(text)
                                                          and not _sniffs(text)):
            base = Path(text).parent
            with open(text, encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    entry = line.split("#", 1)[0].strip()
                    if not entry:
                        continue
                    name = entry.split()[0]  # indexamajig lists may add an event after the path
                    cand = Path(name) if Path(name).exists() else base / name
                    if not cand.exists():
                        raise InputError(text, f"line {n}", f"{name!r} does not exist (looked in the current "
                                                            f"directory and in {base})")
                    out.append(str(cand))
            continue
        out.append(text)
    if not out:
        raise InputError(str(spec), None, "no input files")
    return out


def _sniffs(path: str) -> bool:
    head = read_head(path)
    return any(cls.sniff(path, head) for cls in READERS.items())


def open_reader(path: str, geom: Any | None = None, reader: str | None = None) -> FrameReader:
    """Open one file with the reader its content calls for (geometry override: `geom`)."""
    return reader_for(str(path), reader)(str(path), _geometry(geom))


def _geometry(geom: Any | None):
    if geom is None or not isinstance(geom, (str, os.PathLike)):
        return geom
    from peaknet_bench.geometry import load_geometry

    return load_geometry(geom)


class FrameSet:
    """Frames of several files as one sequence (`len`, `frame(i)`, iteration).

    Picklable: holds paths and settings; files are opened lazily, one at a time.
    """

    def __init__(self, paths: Sequence[str], geom: Any | None = None, reader: str | None = None,
                 max_frames: int = 0) -> None:
        self.paths = list(paths)
        self.geom = geom
        self.reader = reader
        self.max_frames = int(max_frames)
        self._counts: list[int] | None = None
        self._open: tuple[int, FrameReader] | None = None
        self._geom_obj = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"] = None
        state["_geom_obj"] = None
        return state

    def _override(self):
        if self._geom_obj is None and self.geom is not None:
            self._geom_obj = _geometry(self.geom)
        return self._geom_obj

    def _reader(self, k: int) -> FrameReader:
        if self._open is None or self._open[0] != k:
            if self._open is not None:
                self._open[1].close()
            self._open = (k, open_reader(self.paths[k], self._override(), self.reader))
        return self._open[1]

    def counts(self) -> list[int]:
        """Frames per file (opens each file once)."""
        if self._counts is None:
            counts = []
            for k, path in enumerate(self.paths):
                cls = reader_for(path, self.reader)
                n = getattr(cls, "frames_per_file", None)
                counts.append(n if n is not None else len(self._reader(k)))
            self._counts = counts
        return self._counts

    def __len__(self) -> int:
        n = sum(self.counts())
        return n if self.max_frames <= 0 else min(n, self.max_frames)

    @property
    def geometry(self):
        """The geometry of the first file (or the override)."""
        override = self._override()
        return override if override is not None else self._reader(0).geometry

    def locate(self, i: int) -> tuple[int, int]:
        """(file index, frame index in that file) of global frame i."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range ({n} frames)")
        i %= n
        for k, c in enumerate(self.counts()):
            if i < c:
                return k, i
            i -= c
        raise IndexError(i)  # unreachable

    def frame(self, i: int) -> Frame:
        k, j = self.locate(i)
        return self._reader(k).frame(j)

    def __iter__(self) -> Iterator[Frame]:
        emitted = 0
        for k in range(len(self.paths)):
            rd = self._reader(k)
            for j in range(len(rd)):
                if self.max_frames and emitted >= self.max_frames:
                    return
                yield rd.frame(j)
                emitted += 1

    def describe(self) -> dict[str, Any]:
        return {"source": "files", "paths": list(self.paths), "n_files": len(self.paths),
                "geom": None if self.geom is None or not isinstance(self.geom, (str, os.PathLike)) else str(self.geom),
                "reader": self.reader}

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def __enter__(self) -> "FrameSet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_frames(spec: str | os.PathLike | Sequence[str | os.PathLike], geom: Any | None = None, *,
                reader: str | None = None, max_frames: int = 0) -> FrameSet:
    """Frames of every file in `spec` (paths, globs, list files), read by content-picked readers.

    `geom` (preset name, `.geom` path or Geometry) overrides the files' own geometry; `reader`
    forces one registered reader; `max_frames` > 0 stops after that many frames.
    """
    paths = expand_spec(spec)
    for path in paths:
        reader_for(path, reader)  # fail early, naming the file, if nothing can read it
    return FrameSet(paths, geom, reader, max_frames)


def geometry_from(name_or_path: str | os.PathLike):
    """A geometry from a preset, a `.geom` file, or the metadata of a frame file (CBF, imgCIF,
    NeXus) read through the frame-reader registry."""
    from peaknet_bench.geometry import load_geometry
    from peaknet_bench.geometry.presets import PRESETS

    text = str(name_or_path)
    if text not in PRESETS and Path(text).is_file():
        head = read_head(text)
        for cls in READERS.items():
            if cls.sniff(text, head):
                with cls(text) as reader:
                    return reader.geometry
    return load_geometry(text)


def add_frame_arguments(parser, *, geom_required: bool = False) -> None:
    """The frame flags every frame-reading command shares."""
    parser.add_argument("--geom", required=geom_required, default=None,
                        help="CrystFEL .geom file or detector preset; overrides the geometry the files carry "
                             "(needed for CXI, optional for CBF/imgCIF/NeXus)")
    parser.add_argument("--reader", default=None,
                        help="force a frame reader (default: picked by file content): "
                             "minicbf, imgcif, euxfel, nexus, cxi")
