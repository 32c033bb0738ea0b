"""CrystFEL stream files (format 2.3, SPEC-crystfel §4): a streaming reader and a writer.

Units and conventions are converted here, at the file boundary, and nowhere else:

* positions (peak and reflection ``fs/px ss/px``): the stream holds CrystFEL's convention
  (centre of pixel (0, 0) at 0.5): 0.5 is subtracted on read and added on write;
* cell lengths nm ↔ Å, reciprocal vectors and profile radius nm⁻¹ ↔ Å⁻¹, the peak table's
  ``(1/d)/nm^-1`` column ↔ `StreamChunk.peak_inv_d_a` (Å⁻¹).

The reader scans the file in large binary blocks, cuts it at ``----- Begin/End chunk -----``
markers and parses one chunk at a time (memory bounded by the largest chunk plus one block);
peak and reflection tables are parsed by numpy in one call per table, not line by line.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList, wavelength_a
from peaknet_bench.io._pending import AtomicWriterMixin, PendingFile
from peaknet_bench.io._tables import parse_table_bytes
from peaknet_bench.util import detmath as dm

if TYPE_CHECKING:
    from peaknet_bench.geometry import Geometry

log = logging.getLogger(__name__)

FORMAT_LINE = "CrystFEL stream format 2.3"
BEGIN_CHUNK = b"----- Begin chunk -----"
END_CHUNK = b"----- End chunk -----"
NEWLINE = b"\n"
BEGIN_GEOM, END_GEOM = "----- Begin geometry file -----", "----- End geometry file -----"
BEGIN_CELL, END_CELL = "----- Begin unit cell -----", "----- End unit cell -----"
BEGIN_CRYSTAL, END_CRYSTAL = "--- Begin crystal", "--- End crystal"
PEAKS_START, PEAKS_END = "Peaks from peak search", "End of peak list"
REFL_START, REFL_END = "Reflections measured after indexing", "End of reflections"
PEAKS_HEADER = "  fs/px   ss/px (1/d)/nm^-1   Intensity  Panel"
REFL_HEADER = "   h    k    l          I   sigma(I)       peak background  fs/px  ss/px panel"
HALF_PIXEL = 0.5  # CrystFEL convention = package convention + 0.5
# Markers searched in chunk bytes (a leading newline anchors them at a line start).
_PEAKS_START_B = b"\n" + PEAKS_START.encode()
_BEGIN_CRYSTAL_B = b"\n" + BEGIN_CRYSTAL.encode()
_END_CRYSTAL_B = b"\n" + END_CRYSTAL.encode()
_REFL_START_B = b"\n" + REFL_START.encode()


# --------------------------------------------------------------------------- model
@dataclass
class StreamReflections:
    """A crystal's integrated reflections (positions in package slab convention)."""

    hkl: np.ndarray  # (n, 3) int32
    intensity: np.ndarray
    sigma: np.ndarray
    peak: np.ndarray
    background: np.ndarray
    fs: np.ndarray
    ss: np.ndarray
    panel_names: list[str]

    def __post_init__(self) -> None:
        self.hkl = np.asarray(self.hkl, dtype=np.int32).reshape(-1, 3)
        n = self.hkl.shape[0]
        for name in ("intensity", "sigma", "peak", "background", "fs", "ss"):
            value = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if value.size != n:
                raise ValueError(f"StreamReflections.{name} has {value.size} rows, expected {n}")
            setattr(self, name, value)
        self.panel_names = list(self.panel_names)
        if len(self.panel_names) != n:
            raise ValueError(f"StreamReflections.panel_names has {len(self.panel_names)} rows, expected {n}")

    def __len__(self) -> int:
        return int(self.hkl.shape[0])

    @classmethod
    def empty(cls) -> "StreamReflections":
        z = np.zeros(0)
        return cls(hkl=np.zeros((0, 3), np.int32), intensity=z, sigma=z, peak=z, background=z, fs=z, ss=z,
                   panel_names=[])


def cell_from_reciprocal(astar: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(a, b, c) in Å and (α, β, γ) in degrees from reciprocal basis rows a*, b*, c* (Å⁻¹)."""
    from peaknet_bench.crystal.cell import parameters_of_basis

    return parameters_of_basis(dm.inv3(np.asarray(astar, dtype=np.float64)).T)


@dataclass
class StreamCrystal:
    """One crystal (lattice) of a chunk. Internal units: Å, Å⁻¹, degrees.

    `astar` rows are a*, b*, c* in the lab frame (CrystFEL's, +z along the beam), the same
    convention as `peaknet_bench.crystal.Crystal.astar`. Cell parameters default to those
    computed from `astar`.
    """

    astar: np.ndarray
    a: float | None = None
    b: float | None = None
    c: float | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    lattice_type: str = "triclinic"
    centering: str = "P"
    unique_axis: str = "?"
    profile_radius: float | None = None  # Å⁻¹
    resolution_limit_a: float | None = None  # diffraction_resolution_limit, Å
    num_reflections: int | None = None  # defaults to len(reflections)
    num_saturated_reflections: int = 0
    num_implausible_reflections: int = 0
    reflections: StreamReflections | None = None
    extra: list[str] = field(default_factory=list)  # other lines (predict_refine/..., det_shift ...), verbatim

    def __post_init__(self) -> None:
        self.astar = np.asarray(self.astar, dtype=np.float64).reshape(3, 3)
        params = (self.a, self.b, self.c, self.alpha, self.beta, self.gamma)
        if any(p is None for p in params):
            computed = cell_from_reciprocal(self.astar)
            self.a, self.b, self.c, self.alpha, self.beta, self.gamma = (
                computed[k] if p is None else float(p) for k, p in enumerate(params))
        if self.num_reflections is None:
            self.num_reflections = len(self.reflections) if self.reflections is not None else 0

    def cell_parameters(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c, α, β, γ) in Å and degrees."""
        return (self.a, self.b, self.c, self.alpha, self.beta, self.gamma)

    @classmethod
    def from_crystal(cls, crystal: Any, **kwargs: Any) -> "StreamCrystal":
        """From a `peaknet_bench.crystal.Crystal` (its lab-frame `astar` and nominal cell's lattice)."""
        cell = crystal.cell
        return cls(astar=crystal.astar, lattice_type=cell.lattice_type, centering=cell.centering,
                   unique_axis=cell.unique_axis, **kwargs)


@dataclass
class StreamChunk:
    """One image of a stream. Positions in package slab convention, 1/d in Å⁻¹.

    `num_peaks` is the ``num_peaks`` header value; it defaults to ``len(peaks)`` and differs
    from it only for streams written without peak tables (``--no-peaks-in-stream``).
    """

    filename: str
    event: str | None = None
    serial: int | None = None
    hit: bool | None = None
    indexed_by: str = "none"
    photon_energy_ev: float | None = None
    clen_m: float | None = None  # average_camera_length
    peaks: PeakList = field(default_factory=PeakList.empty)
    peak_panel_names: list[str] = field(default_factory=list)
    peak_inv_d_a: np.ndarray | None = None  # the (1/d) column, Å⁻¹
    peak_resolution_a: float | None = None
    num_peaks: int | None = None
    crystals: list[StreamCrystal] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # other header lines (n_indexing_tries, hdf5/...), verbatim
    line: int | None = None  # line of "----- Begin chunk -----" in the file it was read from

    def __post_init__(self) -> None:
        if self.num_peaks is None:
            self.num_peaks = len(self.peaks)

    @property
    def indexed(self) -> bool:
        return bool(self.crystals)


# -------------------------------------------------------------------------- reader
class _Source:
    """Where an error is: the file and a line offset, turned into InputError."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, line: int, what: str) -> InputError:
        return InputError(self.path, f"line {line}", what)


_EXPECTED = {
    "astar": "three numbers in nm^-1", "bstar": "three numbers in nm^-1", "cstar": "three numbers in nm^-1",
    "profile_radius": "a number in nm^-1", "diffraction_resolution_limit": "'<1/d> nm^-1 or <d> A'",
    "peak_resolution": "'<1/d> nm^-1 or <d> A'", "num_reflections": "a whole number",
    "num_saturated_reflections": "a whole number", "num_implausible_reflections": "a whole number",
    "hit": "0 or 1", "num_peaks": "a whole number", "Image serial number": "a whole number",
    "photon_energy_eV": "a number (eV)", "average_camera_length": "a number in m",
}


class _Body:
    """One chunk's bytes (from just after its '----- Begin chunk -----' marker, on line `line0`);
    line numbers are computed from byte offsets only when an error is raised."""

    __slots__ = ("data", "line0", "src", "names")

    def __init__(self, src: _Source, data: bytes, line0: int, names: dict[int, str] | None = None) -> None:
        self.data, self.line0, self.src = data, line0, src
        self.names = {} if names is None else names  # panel-name cache shared by a reader's chunks

    def line(self, offset: int) -> int:
        return self.line0 + self.data.count(b"\n", 0, offset)

    def error(self, offset: int, what: str) -> InputError:
        return self.src.error(self.line(offset), what)

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", errors="replace")


def _parse_table(body: _Body, header_at: int, what: str, marker: str) -> tuple[np.ndarray, list[str], int]:
    """The table whose column-header line starts at `header_at` and ends at the line starting
    with `marker`: numeric columns plus, when the header's last column is ``panel``, a
    panel-name column. Parsed in one pass by a numba kernel (`_tables`), which also finds the
    marker line; returns (values, panel names, offset of the marker line)."""
    data = body.data
    rows_at = data.find(b"\n", header_at) + 1
    if rows_at == 0:
        raise body.error(header_at, f"{what} list without '{marker}'")
    names = body.text(header_at, rows_at).split()
    has_panel = bool(names) and names[-1].lower() == "panel"
    n_num = len(names) - 1 if has_panel else len(names)
    if n_num < 1:
        raise body.error(header_at, f"{what} table: expected a column-header line, got {' '.join(names)!r}")
    values, panels, bad, stop = parse_table_bytes(data, rows_at, len(data), n_num, has_panel, body.names,
                                                  marker.encode())
    if bad >= 0:
        nl = data.find(b"\n", bad)
        row = body.text(bad, nl if nl >= 0 else len(data)).strip()
        if row[:1].isalpha() or row.startswith("--"):
            raise body.error(header_at - 1, f"{what} list without '{marker}' (line {body.line(bad)} is {row!r})")
        raise body.error(bad, f"{what}: expected {n_num} numbers{' and a panel name' if has_panel else ''} "
                              f"({' '.join(names)}), got {row!r}")
    if stop < 0:
        raise body.error(header_at - 1, f"{what} list without '{marker}'")
    return values, panels, stop


def _split_key(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(" = ")
    if not sep:
        key, sep, value = line.partition("=")
        if not sep:
            return None
    return key.strip(), value.strip()


def _resolution(value: str) -> float | None:
    """'4.12 nm^-1 or 2.43 A' -> 2.43 (Å); None when unknown (no peaks: 'inf A'). ValueError if malformed."""
    parts = value.split()
    if len(parts) >= 4 and parts[2] == "or":
        d = float(parts[3])
    else:
        inv = float(parts[0])
        d = 10.0 / inv if inv > 0 else math.inf
    return None if not math.isfinite(d) else d


def _parse_crystal(body: _Body, begin: int) -> tuple[StreamCrystal, int]:
    """The crystal whose '--- Begin crystal' line starts at `begin`; returns it and the offset
    just after its '--- End crystal' line. The reflection table's end is found by the table
    parser, so the (long) table is scanned once."""
    data = body.data
    start = data.find(b"\n", begin) + 1
    refl = data.find(_REFL_START_B, start - 1) + 1
    end = data.find(_END_CRYSTAL_B, start - 1, refl - 1 if refl > 0 else len(data)) + 1
    head_end = end if end > 0 else refl
    if head_end == 0:
        raise body.error(begin, f"crystal without '{END_CRYSTAL}' (truncated stream?)")
    if data.find(_BEGIN_CRYSTAL_B, start - 1, head_end) >= 0:
        raise body.error(begin, f"crystal without '{END_CRYSTAL}' (truncated stream?)")
    kw: dict[str, Any] = {"extra": []}
    vectors: dict[str, np.ndarray] = {}

    def error(k: int, what: str) -> InputError:
        return body.src.error(body.line(start) + k, what)

    for k, line in enumerate(body.text(start, head_end).splitlines()):
        if not line.strip():
            continue
        if line.startswith("Cell parameters"):
            parts = line.replace(",", " ").split()
            try:
                nums = [float(parts[i]) for i in (2, 3, 4, 6, 7, 8)]
            except (ValueError, IndexError):
                raise error(k, f"expected 'Cell parameters a b c nm, al be ga deg', got {line!r}") from None
            kw.update(a=nums[0] * 10, b=nums[1] * 10, c=nums[2] * 10, alpha=nums[3], beta=nums[4], gamma=nums[5])
            continue
        kv = _split_key(line)
        if kv is None:
            kw["extra"].append(line)
            continue
        key, value = kv
        try:
            if key in ("astar", "bstar", "cstar"):
                parts = value.split()
                if len(parts) < 3:
                    raise ValueError
                vectors[key] = np.array([float(parts[0]), float(parts[1]), float(parts[2])]) / 10.0  # nm^-1 -> Å^-1
            elif key in ("lattice_type", "centering", "unique_axis"):
                kw[key] = value
            elif key == "profile_radius":
                kw["profile_radius"] = float(value.split()[0]) / 10.0
            elif key == "diffraction_resolution_limit":
                kw["resolution_limit_a"] = _resolution(value)
            elif key in ("num_reflections", "num_saturated_reflections", "num_implausible_reflections"):
                kw[key] = int(value)
            else:
                kw["extra"].append(line)
        except (ValueError, IndexError):
            raise error(k, f"{key}: expected {_EXPECTED.get(key, 'a number')}, got {value!r}") from None
    missing = [k for k in ("astar", "bstar", "cstar") if k not in vectors]
    if missing:
        raise body.error(begin, f"crystal without {', '.join(missing)} (expected 'astar = x y z nm^-1' lines)")
    basis = np.stack([vectors["astar"], vectors["bstar"], vectors["cstar"]])
    if not np.isfinite(basis).all():
        raise body.error(begin, "crystal: astar, bstar, cstar must be finite numbers (got NaN or Inf)")
    norms = np.linalg.norm(basis, axis=1)
    if norms.min() == 0 or abs(np.linalg.det(basis)) <= 1e-9 * float(np.prod(norms)):
        raise body.error(begin, "crystal: astar, bstar, cstar must be three non-zero, independent reciprocal "
                                "vectors (got a zero or coplanar set)")
    if end == 0:  # a reflection table follows the header lines
        header_at = data.find(b"\n", refl) + 1
        values, panels, stop = _parse_table(body, header_at, "reflection", REFL_END)
        if values.shape[1] < 9:
            raise body.error(header_at, "reflection table: expected columns h k l I sigma(I) peak background fs/px ss/px")
        kw["reflections"] = StreamReflections(
            hkl=np.rint(values[:, 0:3]).astype(np.int32), intensity=values[:, 3], sigma=values[:, 4],
            peak=values[:, 5], background=values[:, 6], fs=values[:, 7] - HALF_PIXEL, ss=values[:, 8] - HALF_PIXEL,
            panel_names=panels)
        tail = data.find(b"\n", stop) + 1
        end = data.find(_END_CRYSTAL_B, tail - 1) + 1 if tail > 0 else 0
        if end == 0 or data.find(_BEGIN_CRYSTAL_B, tail - 1, end) >= 0:
            raise body.error(begin, f"crystal without '{END_CRYSTAL}' (truncated stream?)")
        kw["extra"].extend(line for line in body.text(tail, end).splitlines() if line.strip())
    crystal = StreamCrystal(astar=np.stack([vectors["astar"], vectors["bstar"], vectors["cstar"]]), **kw)
    return crystal, end + len(END_CRYSTAL)


class StreamReader:
    """A CrystFEL stream opened for reading: header (`format_line`, `header_lines`,
    `geometry_text`, `cell_text`) read at once, chunks generated lazily by iteration.

    Iterating twice re-reads the file. Peaks get panel indices from `geometry` when given, else
    from the stream's own geometry block when `peaknet_bench.geometry` can parse it, else -1
    (always -1 with `resolve_panels=False`, which skips parsing the geometry block).
    `position` is the byte offset reached by the current iteration (for progress bars).
    """

    def __init__(self, path: str | os.PathLike, geometry: "Geometry | None" = None, *,
                 block_size: int = 8 * 2**20, resolve_panels: bool = True) -> None:
        self.path = Path(path)
        self._src = _Source(str(self.path))
        self._geometry = geometry
        self._geometry_tried = False
        self._panel_lookup: dict[str, int] | None = None if resolve_panels else {}
        self._names: dict[int, str] = {}  # decoded panel names by hash (see _tables)
        self._block_size = int(block_size)
        if not self.path.is_file():
            raise InputError(str(self.path), None, "file not found")
        self.size = self.path.stat().st_size
        self.position = 0
        self._read_header()

    def _read_header(self) -> None:
        with open(self.path, "rb") as fh:
            buf = b""
            while True:
                block = fh.read(1 << 20)
                buf += block
                at = buf.find(b"\n" + BEGIN_CHUNK)
                if at >= 0 or not block:
                    break
        if at < 0:
            at = len(buf)
        self._data_start = at + 1 if at < len(buf) else at
        self._header_newlines = buf.count(b"\n", 0, self._data_start)
        text = buf[:at].decode("utf-8", errors="replace")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("CrystFEL stream format"):
            first = lines[0] if lines else ""
            raise self._src.error(1, f"expected '{FORMAT_LINE}', got {first[:80]!r}")
        self.format_line = lines[0].strip()
        self.format_version = self.format_line.rsplit(" ", 1)[-1]
        self.geometry_text: str | None = None
        self.cell_text: str | None = None
        self.header_lines: list[str] = []
        k = 1
        while k < len(lines):
            line = lines[k]
            for begin, end, attr in ((BEGIN_GEOM, END_GEOM, "geometry_text"), (BEGIN_CELL, END_CELL, "cell_text")):
                if line.strip() == begin:
                    try:
                        stop = next(j for j in range(k + 1, len(lines)) if lines[j].strip() == end)
                    except StopIteration:
                        raise self._src.error(k + 1, f"'{begin}' without '{end}' (truncated stream?)") from None
                    setattr(self, attr, "\n".join(lines[k + 1 : stop]) + "\n")
                    k = stop
                    break
            else:
                if line.strip():
                    self.header_lines.append(line)
            k += 1

    @property
    def geometry(self) -> "Geometry | None":
        """The geometry given to the reader, else the stream's geometry block parsed (or None)."""
        if self._geometry is None and self.geometry_text is not None and not self._geometry_tried:
            self._geometry_tried = True
            try:
                from peaknet_bench.geometry.crystfel_geom import parse_geom_text

                self._geometry = parse_geom_text(self.geometry_text, f"{self.path} (geometry block)")
            except (ImportError, ValueError) as exc:  # InputError is a ValueError
                log.warning("%s: geometry block not usable, peak panel indices set to -1 (%s)", self.path, exc)
        return self._geometry

    def _panel_indices(self, names: list[str], body=None, at: int = 0) -> np.ndarray:
        """Panel indices of peak-table panel names; a name the stream's geometry does not define
        is an error (naming the table's line), not a silent -1."""
        if not names or not names[0]:
            return np.full(len(names), -1, dtype=np.int32)
        if self._panel_lookup is None:
            geometry = self.geometry
            self._panel_lookup = {} if geometry is None else {n: i for i, n in enumerate(geometry.panel_names())}
        lookup = self._panel_lookup
        if not lookup:
            return np.full(len(names), -1, dtype=np.int32)
        out = np.fromiter((lookup.get(n, -1) for n in names), dtype=np.int32, count=len(names))
        if (out < 0).any():
            unknown = sorted({n for n, i in zip(names, out) if i < 0})
            what = (f"peak table: panel(s) {unknown[:5]} are not in the stream's geometry "
                    f"(panels: {list(lookup)[:5]}{' …' if len(lookup) > 5 else ''})")
            raise body.error(at, what) if body is not None else InputError(str(self.path), "peak table", what)
        return out

    # ------------------------------------------------------------------ chunks
    def __iter__(self) -> Iterator[StreamChunk]:
        with open(self.path, "rb") as fh:
            fh.seek(self._data_start)
            buf = b""
            base = self._data_start  # file offset of buf[0]
            pos = 0  # scan position in buf
            counted, line_at = 0, self._header_newlines + 1  # line number of buf[counted]
            eof = False

            def refill() -> bool:
                nonlocal buf, base, pos, counted, eof
                block = fh.read(self._block_size)
                if not block:
                    eof = True
                    return False
                keep = min(pos, counted)
                buf = buf[keep:] + block
                base += keep
                pos -= keep
                counted -= keep
                return True

            next_begin = -1
            while True:
                begin = next_begin if next_begin >= 0 else buf.find(BEGIN_CHUNK, pos)
                while begin < 0 and not eof:
                    pos = max(pos, len(buf) - len(BEGIN_CHUNK))
                    refill()
                    begin = buf.find(BEGIN_CHUNK, pos)
                if begin < 0:
                    break
                line_at += buf.count(NEWLINE, counted, begin)
                counted = begin
                # The next chunk's begin marker bounds this chunk; its end marker is then found
                # by a short backward search (one forward scan per chunk, which also detects
                # a chunk cut off without its end marker).
                next_begin = buf.find(BEGIN_CHUNK, begin + len(BEGIN_CHUNK))
                while next_begin < 0 and not eof:
                    pos = begin
                    refill()
                    begin = pos
                    next_begin = buf.find(BEGIN_CHUNK, begin + len(BEGIN_CHUNK))
                end = buf.rfind(END_CHUNK, begin + len(BEGIN_CHUNK), next_begin if next_begin >= 0 else len(buf))
                if end < 0 and next_begin >= 0:
                    next_line = line_at + buf.count(NEWLINE, begin, next_begin)
                    raise self._src.error(line_at, "chunk without '----- End chunk -----' before the next "
                                                   f"'----- Begin chunk -----' (line {next_line})")
                if end < 0:
                    raise self._src.error(line_at, "chunk without '----- End chunk -----' (truncated stream?)")
                chunk = self._parse_chunk(buf[begin + len(BEGIN_CHUNK) : end], line_at)
                pos = end + len(END_CHUNK)
                self.position = base + pos
                yield chunk
            self.position = self.size

    def _parse_chunk(self, data: bytes, line_begin: int) -> StreamChunk:
        """`data` starts right after '----- Begin chunk -----' (line `line_begin`)."""
        body = _Body(self._src, data, line_begin, self._names)
        peaks_at = data.find(_PEAKS_START_B) + 1
        cryst_at = data.find(_BEGIN_CRYSTAL_B) + 1
        stops = [i for i in (peaks_at, cryst_at) if i > 0]
        head_end = min(stops) if stops else len(data)
        kw: dict[str, Any] = {"extra": [], "line": line_begin}
        filename = None
        for k, line in enumerate(body.text(0, head_end).splitlines()):
            if not line.strip():
                continue
            if line.startswith("Image filename:"):
                filename = line[len("Image filename:"):].strip()
                continue
            if line.startswith("Event:"):
                kw["event"] = line[len("Event:"):].strip()
                continue
            key, value = ("Image serial number", line.split(":", 1)[1].strip()) if line.startswith(
                "Image serial number:") else (_split_key(line) or (None, None))
            try:
                if key == "Image serial number":
                    kw["serial"] = int(value)
                elif key == "hit":
                    kw["hit"] = bool(int(value))
                elif key == "indexed_by":
                    kw["indexed_by"] = value
                elif key == "photon_energy_eV":
                    kw["photon_energy_ev"] = float(value)
                    if not kw["photon_energy_ev"] > 0 or not np.isfinite(kw["photon_energy_ev"]):
                        raise self._src.error(line_begin + k, f"{key}: expected a positive photon energy in eV, "
                                                              f"got {value!r}")
                elif key == "average_camera_length":
                    kw["clen_m"] = float(value.split()[0])
                elif key == "num_peaks":
                    kw["num_peaks"] = int(value)
                elif key == "peak_resolution":
                    kw["peak_resolution_a"] = _resolution(value)
                else:
                    kw["extra"].append(line)
            except InputError:
                raise
            except (ValueError, IndexError):
                raise self._src.error(line_begin + k, f"{key}: expected {_EXPECTED.get(key, 'a number')}, got {value!r}") from None
        if filename is None:
            raise self._src.error(line_begin, "chunk without an 'Image filename:' line")
        rest_at = head_end
        if peaks_at > 0 and (cryst_at == 0 or peaks_at < cryst_at):
            header_at = data.find(b"\n", peaks_at) + 1
            values, panels, stop = _parse_table(body, header_at, "peak", PEAKS_END)
            if values.shape[1] < 4:
                raise body.error(header_at, "peak table: expected columns fs/px ss/px (1/d)/nm^-1 Intensity Panel")
            kw["peaks"] = PeakList(fs=values[:, 0] - HALF_PIXEL, ss=values[:, 1] - HALF_PIXEL,
                                   panel=self._panel_indices(panels, body, header_at), intensity=values[:, 3])
            kw["peak_panel_names"] = panels
            kw["peak_inv_d_a"] = values[:, 2] / 10.0
            rest_at = stop + len(PEAKS_END)
        crystals = []
        at = rest_at
        while True:
            b = data.find(_BEGIN_CRYSTAL_B, at - 1) + 1
            kw["extra"].extend(line for line in body.text(at, b - 1 if b > 0 else len(data)).splitlines() if line.strip())
            if b == 0:
                break
            crystal, at = _parse_crystal(body, b)
            crystals.append(crystal)
        kw["crystals"] = crystals
        return StreamChunk(filename=filename, **kw)

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def iter_stream(path: str | os.PathLike, geometry: "Geometry | None" = None) -> Iterator[StreamChunk]:
    """Generate the chunks of a stream, one at a time (constant memory)."""
    yield from StreamReader(path, geometry)


# -------------------------------------------------------------------------- writer
def _f(value: float | None, fmt: str) -> str:
    return fmt % (value if value is not None and math.isfinite(value) else 0.0)


class StreamWriter(AtomicWriterMixin):
    """Write a CrystFEL 2.3 stream atomically (temporary file renamed on `close()`).

    Peak panel names come from `chunk.peak_panel_names`, else from the geometry (the one given,
    or the stream's geometry block parsed) and `peaks.panel`. The ``(1/d)/nm^-1`` column comes
    from `chunk.peak_inv_d_a` when set, else it is computed from that geometry, the chunk's
    photon energy and camera length; it is written as 0 only when neither is available (CrystFEL
    does not use it on reading). `peak_resolution` is the highest 1/d of the chunk's peaks
    unless `chunk.peak_resolution_a` is set.
    """

    def __init__(self, path: str | os.PathLike, *, geometry_text: str, cell_text: str | None = None,
                 geometry: "Geometry | None" = None, header_lines: Sequence[str] | None = None) -> None:
        from peaknet_bench import __version__

        self.path = Path(path)
        self.geometry_text = geometry_text
        self._geometry = geometry
        self._geometry_tried = geometry is not None
        self._warned_inv_d = False
        self._pending = PendingFile(self.path)
        self._fh: TextIO | None = open(self._pending.tmp, "w", encoding="utf-8", buffering=1 << 20)
        self.n_chunks = 0
        lines = [FORMAT_LINE, f"Generated by peaknet-bench {__version__}"]
        lines += list(header_lines or [])
        out = "\n".join(lines) + "\n" + BEGIN_GEOM + "\n" + geometry_text.rstrip("\n") + "\n" + END_GEOM + "\n"
        if cell_text is not None:
            out += BEGIN_CELL + "\n" + cell_text.rstrip("\n") + "\n" + END_CELL + "\n"
        self._fh.write(out)

    @property
    def geometry(self) -> "Geometry | None":
        if not self._geometry_tried:
            self._geometry_tried = True
            try:
                from peaknet_bench.geometry.crystfel_geom import parse_geom_text

                self._geometry = parse_geom_text(self.geometry_text, f"{self.path} (geometry text)")
            except (ImportError, ValueError) as exc:  # InputError is a ValueError
                log.warning("%s: geometry text not parsed (%s)", self.path, exc)
        return self._geometry

    def _panel_names(self, chunk: StreamChunk) -> list[str]:
        n = len(chunk.peaks)
        if len(chunk.peak_panel_names) == n:
            return list(chunk.peak_panel_names)
        geometry = self.geometry
        if geometry is None:
            raise ValueError(f"chunk {chunk.filename} {chunk.event}: peak panel names needed (no geometry to derive them)")
        panel = chunk.peaks.panel.copy()
        unknown = panel < 0
        if unknown.any():
            panel[unknown] = geometry.panel_of(chunk.peaks.fs[unknown], chunk.peaks.ss[unknown])
        if (panel < 0).any():
            raise ValueError(f"chunk {chunk.filename} {chunk.event}: peaks outside every panel")
        names = geometry.panel_names()
        return [names[i] for i in panel]

    def _inv_d(self, chunk: StreamChunk, panel_names: list[str]) -> np.ndarray:
        n = len(chunk.peaks)
        if chunk.peak_inv_d_a is not None and len(chunk.peak_inv_d_a) == n:
            return np.asarray(chunk.peak_inv_d_a, dtype=np.float64)
        geometry = self.geometry if n else None
        if geometry is not None and chunk.photon_energy_ev:
            try:
                panel = np.array([geometry.panel_index(p) for p in panel_names], dtype=np.int64)
                q = geometry.q_vectors(chunk.peaks.fs, chunk.peaks.ss, wavelength_a(chunk.photon_energy_ev),
                                       panel=panel, clen_m=chunk.clen_m)
                return np.linalg.norm(q, axis=-1)
            except InputError as exc:
                reason = str(exc)
        else:
            reason = "no geometry or photon energy"
        if n and not self._warned_inv_d:
            log.warning("%s: peak 1/d unknown (%s); writing 0 in the (1/d) column", self.path, reason)
            self._warned_inv_d = True
        return np.zeros(n)

    def write_chunk(self, chunk: StreamChunk) -> None:
        """Append one chunk (positions converted to CrystFEL's +0.5 convention here)."""
        if self._fh is None:
            raise ValueError("StreamWriter is closed")
        peaks = chunk.peaks
        names = self._panel_names(chunk)
        inv_d_a = self._inv_d(chunk, names)
        out = [BEGIN_CHUNK.decode(), f"Image filename: {chunk.filename}"]
        if chunk.event is not None:
            out.append(f"Event: {chunk.event}")
        if chunk.serial is not None:
            out.append(f"Image serial number: {int(chunk.serial)}")
        if chunk.hit is not None:
            out.append(f"hit = {int(bool(chunk.hit))}")
        out.append(f"indexed_by = {chunk.indexed_by}")
        if chunk.photon_energy_ev is not None:
            out.append(f"photon_energy_eV = {chunk.photon_energy_ev:f}")
        out.extend(chunk.extra)
        if chunk.clen_m is not None:
            out.append(f"average_camera_length = {chunk.clen_m:f} m")
        out.append(f"num_peaks = {len(peaks) if len(peaks) else int(chunk.num_peaks or 0)}")
        if chunk.peak_resolution_a is not None:
            res_inv_nm = 10.0 / chunk.peak_resolution_a
        else:
            res_inv_nm = float(inv_d_a.max()) * 10.0 if len(inv_d_a) else 0.0
        res_a = 10.0 / res_inv_nm if res_inv_nm > 0 else math.inf
        out.append(f"peak_resolution = {res_inv_nm:f} nm^-1 or {res_a:f} A")
        out.append(PEAKS_START)
        out.append(PEAKS_HEADER)
        fs = peaks.fs + HALF_PIXEL
        ss = peaks.ss + HALF_PIXEL
        inv_d_nm = inv_d_a * 10.0
        out.extend("%7.2f %7.2f %10.2f  %10.2f   %s" % row
                   for row in zip(fs.tolist(), ss.tolist(), inv_d_nm.tolist(), peaks.intensity.tolist(), names))
        out.append(PEAKS_END)
        for crystal in chunk.crystals:
            out.extend(self._crystal_lines(crystal))
        out.append(END_CHUNK.decode())
        self._fh.write("\n".join(out) + "\n")
        self.n_chunks += 1

    @staticmethod
    def _crystal_lines(x: StreamCrystal) -> list[str]:
        refl = x.reflections
        n_refl = len(refl) if refl is not None else int(x.num_reflections or 0)
        out = [BEGIN_CRYSTAL,
               "Cell parameters %7.5f %7.5f %7.5f nm, %7.5f %7.5f %7.5f deg"
               % (x.a / 10, x.b / 10, x.c / 10, x.alpha, x.beta, x.gamma)]
        for name, row in zip(("astar", "bstar", "cstar"), x.astar * 10.0):
            out.append(f"{name} = %+9.7f %+9.7f %+9.7f nm^-1" % tuple(row))
        out += [f"lattice_type = {x.lattice_type}", f"centering = {x.centering}", f"unique_axis = {x.unique_axis}"]
        if x.profile_radius is not None:
            out.append(f"profile_radius = {x.profile_radius * 10:.5f} nm^-1")
        out.extend(x.extra)
        if x.resolution_limit_a is not None:
            out.append(f"diffraction_resolution_limit = {10 / x.resolution_limit_a:.2f} nm^-1 or {x.resolution_limit_a:.2f} A")
        out += [f"num_reflections = {n_refl}", f"num_saturated_reflections = {x.num_saturated_reflections}",
                f"num_implausible_reflections = {x.num_implausible_reflections}"]
        if refl is not None:
            out += [REFL_START, REFL_HEADER]
            h, k, l = refl.hkl.T.tolist() if len(refl) else ([], [], [])
            out.extend("%4i %4i %4i %10.2f %10.2f %10.2f %10.2f %6.1f %6.1f %s" % row for row in zip(
                h, k, l, refl.intensity.tolist(), refl.sigma.tolist(), refl.peak.tolist(), refl.background.tolist(),
                (refl.fs + HALF_PIXEL).tolist(), (refl.ss + HALF_PIXEL).tolist(), refl.panel_names))
            out.append(REFL_END)
        out.append(END_CRYSTAL)
        return out

    @property
    def bytes_written(self) -> int:
        """Size of the stream written so far (bytes)."""
        return self._fh.tell() if self._fh is not None else self.path.stat().st_size

    def close(self) -> None:
        """Flush and rename the temporary file to `path`."""
        if self._fh is None:
            return
        try:
            self._fh.close()
            self._fh = None
            self._pending.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Delete the temporary file; `path` is left untouched."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._pending.discard()


# ------------------------------------------------------------------------- summary
CELL_KEYS = ("a", "b", "c", "alpha", "beta", "gamma")
_CELL_FILE_KEYS = {"a": "a", "b": "b", "c": "c", "al": "alpha", "be": "beta", "ga": "gamma"}


def _target_cell(cell_text: str | None) -> dict[str, Any] | None:
    """The stream's unit-cell block (CrystFEL cell-file syntax) as a dict (lengths Å, angles °)."""
    if not cell_text:
        return None
    out: dict[str, Any] = {}
    for line in cell_text.splitlines():
        kv = _split_key(line.split(";", 1)[0])
        if kv is None:
            continue
        key, value = kv
        parts = value.split()
        if key in _CELL_FILE_KEYS and parts:
            try:
                number = float(parts[0])
            except ValueError:
                continue
            unit = parts[1].lower() if len(parts) > 1 else ""
            out[_CELL_FILE_KEYS[key]] = number * 10.0 if unit == "nm" else number
        elif key in ("lattice_type", "centering", "unique_axis") and parts:
            out[key] = parts[0]
    return out or None


def summarize_stream(reader: StreamReader, on_progress: Any | None = None) -> dict[str, Any]:
    """What a crystallographer asks of a stream first: counts, indexers, peaks per frame and
    unit-cell mean ± sd (sample sd, Å and °). `on_progress(bytes_done)` is called per chunk."""
    import time
    from collections import Counter

    t0 = time.perf_counter()
    n_chunks = n_hits = n_indexed = n_multi = 0
    indexers: Counter[str] = Counter()
    lattices: Counter[str] = Counter()
    peaks_per_frame: list[int] = []
    cells: list[tuple[float, ...]] = []
    res_limits: list[float] = []
    for chunk in reader:
        n_chunks += 1
        n_hits += bool(chunk.hit)
        peaks_per_frame.append(int(chunk.num_peaks))
        if chunk.crystals:
            n_indexed += 1
            n_multi += len(chunk.crystals) > 1
            indexers[chunk.indexed_by] += 1
            for x in chunk.crystals:
                cells.append(x.cell_parameters())
                lattices[f"{x.lattice_type} {x.centering}"] += 1
                if x.resolution_limit_a is not None:
                    res_limits.append(x.resolution_limit_a)
        if on_progress is not None:
            on_progress(reader.position)
    seconds = time.perf_counter() - t0
    ppf = np.asarray(peaks_per_frame, dtype=np.float64)
    cell = np.asarray(cells, dtype=np.float64).reshape(-1, 6)
    unit_cell = {
        key: {"mean": float(cell[:, k].mean()) if len(cell) else None,
              "sd": float(cell[:, k].std(ddof=1)) if len(cell) > 1 else None}
        for k, key in enumerate(CELL_KEYS)
    }
    generated = next((line for line in reader.header_lines if line.startswith("Generated by")), None)
    return {
        "file": str(reader.path),
        "format": reader.format_version,
        "generated_by": generated[len("Generated by "):] if generated else None,
        "bytes": reader.size,
        "n_chunks": n_chunks,
        "n_hits": n_hits,
        "hit_rate": n_hits / n_chunks if n_chunks else None,
        "n_indexed": n_indexed,
        "indexing_rate": n_indexed / n_hits if n_hits else None,
        "n_crystals": len(cell),
        "n_multi_crystal_frames": n_multi,
        "indexers": dict(indexers.most_common()),
        "lattices": dict(lattices.most_common()),
        "peaks_per_frame": {"mean": float(ppf.mean()) if ppf.size else None,
                            "median": float(np.median(ppf)) if ppf.size else None,
                            "max": int(ppf.max()) if ppf.size else None},
        "unit_cell": unit_cell,
        "resolution_limit_a": {"median": float(np.median(res_limits)) if res_limits else None},
        "target_cell": _target_cell(reader.cell_text),
        "seconds": seconds,
        "mb_per_s": reader.size / 1e6 / seconds if seconds > 0 else None,
    }
