"""Multi-panel imgCIF/CBF frames (cctbx.xfel files of LCLS CSPAD, Rayonix, ...): own reader.

fabio cannot read these (several binary sections, CBF_PACKED), so the CIF categories are parsed
here (`_cif.py`) and the sections decoded by `_cbf_codecs.py`.

Metrology: every panel (an `_array_structure_list` section, or a whole array) has a fast and a
slow axis set; each axis depends on another (`_axis.depends_on`) up to the detector's root, and
sits at the setting of the frame (`_diffrn_scan_frame_axis`, else `_diffrn_scan_axis` start).
A point is carried up the chain: a translation adds `vector * displacement + offset`, a rotation
turns it about `vector` by the angle and adds `offset`. The axis displacement of pixel index i
is `displacement + i * increment` (that of its outer corner, as dxtbx reads it); positions are in the imgCIF/DIALS lab frame (mm, beam along
-z) and are rotated 180° about y into CrystFEL's (beam along +z).

Slab layout: each array is viewed as 2-D (all slower dimensions stacked along ss, e.g. a
CSPAD quadrant (8, 185, 388) -> (1480, 388)) and the arrays are placed side by side along fs
(the CSPAD gives Cheetah's familiar 1480 x 1552 slab).

Bad pixels: values <= the array's `undefined_value` or >= its `overload` (DIALS' trusted
range, exclusive at both ends). A binary section whose MD5 does not match its
`Content-MD5` is reported as corrupt.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from peaknet_bench.crystal.orientation import axis_angle_matrix
from peaknet_bench.errors import InputError
from peaknet_bench.frame import WAVELENGTH_EV_A
from peaknet_bench.io._cbf_codecs import decode_byte_offset, decode_packed
from peaknet_bench.io._cif import CifBlock, parse_cif
from peaknet_bench.io.frames import FrameReader, read_all, register_reader
from peaknet_bench.util import detmath as dm

DIALS_TO_CRYSTFEL = np.array([-1.0, 1.0, -1.0])  # 180° about y


def _float(value: str | None, default: float = 0.0) -> float:
    if value is None or value in (".", "?"):
        return default
    return float(value)


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """Right-handed rotation matrix about `axis` by `angle_deg` (CPU-independent arithmetic:
    the geometry every later number depends on)."""
    return axis_angle_matrix(axis, math.radians(float(angle_deg)))


@dataclass
class _Axis:
    id: str
    type: str
    depends_on: str | None
    vector: np.ndarray
    offset: np.ndarray
    angle: float
    displacement: float


class AxisTree:
    """The `_axis` hierarchy of one frame, able to place points in the lab frame (mm, imgCIF)."""

    def __init__(self, block: CifBlock, source: str) -> None:
        self.source = source
        settings: dict[str, tuple[float, float]] = {}
        for row in block.table("diffrn_scan_axis"):
            settings[row["axis_id"]] = (_float(row.get("angle_start")), _float(row.get("displacement_start")))
        for row in block.table("diffrn_scan_frame_axis"):  # the frame's own settings win
            settings[row["axis_id"]] = (_float(row.get("angle")), _float(row.get("displacement")))
        self.axes: dict[str, _Axis] = {}
        for row in block.table("axis"):
            try:
                vec = np.array([_float(row.get(f"vector[{k}]")) for k in (1, 2, 3)])
                off = np.array([_float(row.get(f"offset[{k}]")) for k in (1, 2, 3)])
            except ValueError:
                raise InputError(source, f"_axis {row.get('id')}", "vector/offset are not numbers") from None
            angle, disp = settings.get(row["id"], (0.0, 0.0))
            dep = row.get("depends_on")
            self.axes[row["id"]] = _Axis(row["id"], row.get("type", "general").lower(),
                                         None if dep in (None, ".", "?") else dep, vec, off, angle, disp)
        if not self.axes:
            raise InputError(source, "_axis", "missing; expected the detector axes of an imgCIF file")

    def chain(self, axis_id: str) -> list[_Axis]:
        out = []
        seen = set()
        name: str | None = axis_id
        while name is not None:
            if name in seen:
                raise InputError(self.source, f"_axis {axis_id}", "depends_on forms a cycle")
            seen.add(name)
            ax = self.axes.get(name)
            if ax is None:
                raise InputError(self.source, f"_axis {name}", "referenced but not defined in the _axis loop")
            out.append(ax)
            name = ax.depends_on
        return out

    def place(self, chain: list[_Axis], point: np.ndarray, displacement: dict[str, float]) -> np.ndarray:
        """Carry `point` up `chain`; `displacement` overrides translation settings by axis id."""
        p = np.asarray(point, dtype=np.float64)
        for ax in chain:
            if ax.type == "rotation":
                p = dm.matmul(self._matrix(ax), p) + ax.offset
            elif ax.type == "translation":
                d = displacement.get(ax.id, ax.displacement)
                p = p + ax.vector * d + ax.offset
            else:
                p = p + ax.offset
        return p

    def _matrix(self, ax: _Axis) -> np.ndarray:
        cache = self.__dict__.setdefault("_rotations", {})
        if ax.id not in cache:
            cache[ax.id] = _rotation(ax.vector, ax.angle)
        return cache[ax.id]

    def source_direction(self) -> np.ndarray | None:
        for ax in self.axes.values():
            if ax.type == "general" and ax.id.upper() == "AXIS_SOURCE":
                return ax.vector / dm.norm(ax.vector)
        return None


@dataclass
class _PanelSpec:
    name: str
    array_id: str
    fast: tuple[str, float, float]  # axis id, displacement, increment
    slow: tuple[str, float, float]
    ranges: dict[int, tuple[int, int]]  # index -> (start, end), 0-based inclusive


class ImgCIFLayout:
    """Arrays, panels and geometry of one imgCIF file (parsed once, shared by its frames)."""

    def __init__(self, block: CifBlock, source: str) -> None:
        self.block = block
        self.source = source
        self.arrays = self._arrays()
        self.panels = self._panels()
        self.binary_of = {row["array_id"]: int(row["binary_id"]) for row in block.table("array_data")
                          if row.get("binary_id", ".") not in (".", "?")}
        for array_id in self.arrays:
            if array_id not in self.binary_of:
                raise InputError(source, f"_array_data {array_id}", "no binary_id; expected a binary section per array")
            if self.binary_of[array_id] not in block.binaries:
                raise InputError(source, f"_array_data {array_id}",
                                 f"binary section {self.binary_of[array_id]} is missing (truncated file?)")
        self._place_arrays()

    # ---------------------------------------------------------------- parsing
    def _arrays(self) -> dict[str, list[int]]:
        """array id -> dimensions ordered fastest first."""
        dims: dict[str, dict[int, int]] = {}
        for row in self.block.table("array_structure_list"):
            if row.get("array_section_id", ".") not in (".", "?", row["array_id"]):
                continue
            prec = int(row.get("precedence", row["index"]))
            dims.setdefault(row["array_id"], {})[prec] = int(row["dimension"])
        if not dims:
            raise InputError(self.source, "_array_structure_list", "missing; expected the array dimensions")
        return {a: [d[k] for k in sorted(d)] for a, d in dims.items()}

    def _axis_set(self, axis_set_id: str) -> tuple[str, float, float]:
        rows = [r for r in self.block.table("array_structure_list_axis") if r["axis_set_id"] == axis_set_id]
        if len(rows) != 1:
            raise InputError(self.source, f"_array_structure_list_axis {axis_set_id}",
                             f"{len(rows)} axes; expected exactly one (a translation) per axis set")
        r = rows[0]
        return r["axis_id"], _float(r.get("displacement")), _float(r.get("displacement_increment"))

    def _panels(self) -> list[_PanelSpec]:
        rows = self.block.table("array_structure_list")
        sections: dict[tuple[str, str], dict[int, str]] = {}
        whole: dict[str, dict[int, str]] = {}
        for r in rows:
            sec = r.get("array_section_id", ".")
            idx = int(r["index"])
            if sec in (".", "?", r["array_id"]):
                whole.setdefault(r["array_id"], {})[idx] = r.get("axis_set_id", ".")
            else:
                sections.setdefault((r["array_id"], sec), {})[idx] = r.get("axis_set_id", ".")
        ranges: dict[tuple[str, str], dict[int, tuple[int, int]]] = {}
        for r in self.block.table("array_structure_list_section"):
            ranges.setdefault((r["array_id"], r["id"]), {})[int(r["index"])] = (int(r["start"]) - 1, int(r["end"]) - 1)
        out = []
        if sections:
            for (array_id, sec), axes in sections.items():
                rng = dict(ranges.get((array_id, sec), {}))
                dims = self.arrays[array_id]
                for k in range(1, len(dims) + 1):
                    rng.setdefault(k, (0, dims[k - 1] - 1))
                for k in range(3, len(dims) + 1):
                    if rng[k][0] != rng[k][1]:
                        raise InputError(self.source, f"section {sec}", f"index {k} spans {rng[k]}; expected one "
                                                                        "plane per panel")
                name = sec[len("ARRAY_"):] if sec.upper().startswith("ARRAY_") else sec
                out.append(_PanelSpec(name, array_id, self._axis_set(axes[1]),
                                      self._axis_set(axes[2]), rng))
        else:
            for array_id, axes in whole.items():
                dims = self.arrays[array_id]
                if len(dims) != 2:
                    raise InputError(self.source, f"array {array_id}", f"{len(dims)}-D without sections; expected 2-D")
                if axes.get(1, ".") in (".", "?") or axes.get(2, ".") in (".", "?"):
                    raise InputError(self.source, f"array {array_id}", "no axis_set_id for its fast/slow index; "
                                                                       "expected imgCIF metrology")
                out.append(_PanelSpec(array_id.replace("ARRAY_", ""), array_id, self._axis_set(axes[1]),
                                      self._axis_set(axes[2]), {1: (0, dims[0] - 1), 2: (0, dims[1] - 1)}))
        return out

    def _place_arrays(self) -> None:
        """Each array's 2-D view (rows, cols) and its fs offset in the slab."""
        self.view: dict[str, tuple[int, int]] = {}
        self.fs0: dict[str, int] = {}
        fs = 0
        for array_id, dims in self.arrays.items():
            rows = int(np.prod(dims[1:]))
            self.view[array_id] = (rows, dims[0])
            self.fs0[array_id] = fs
            fs += dims[0]
        self.slab_shape = (max(v[0] for v in self.view.values()), fs)

    # ---------------------------------------------------------------- geometry
    def geometry(self):
        from peaknet_bench.geometry import Geometry, Panel
        from peaknet_bench.geometry.model import counts_photons

        tree = AxisTree(self.block, self.source)
        src = tree.source_direction()
        if src is not None and not np.allclose(src, [0, 0, 1], atol=1e-9):
            raise InputError(self.source, "_axis AXIS_SOURCE", f"vector {src.tolist()}; expected 0 0 1 "
                                                               "(beam along -z, the imgCIF/DIALS convention)")
        specs = []
        for p in self.panels:
            f_id, f0, finc = p.fast
            s_id, s0, sinc = p.slow
            chain = tree.chain(f_id)
            if s_id not in {a.id for a in chain}:
                chain = tree.chain(s_id)
                if f_id not in {a.id for a in chain}:
                    raise InputError(self.source, f"panel {p.name}", f"axes {f_id} and {s_id} do not depend on "
                                                                     "each other; expected one axis chain")

            def at(i: float, j: float) -> np.ndarray:
                return tree.place(chain, np.zeros(3), {f_id: f0 + i * finc, s_id: s0 + j * sinc})

            origin = at(0, 0)
            fast = at(1, 0) - origin
            slow = at(0, 1) - origin
            # Pixel index i starts at displacement i * increment: the first pixel's outer corner
            # is the chain's origin (as dxtbx reads these files; checked against DIALS).
            corner = origin
            specs.append((p, corner * DIALS_TO_CRYSTFEL, fast * DIALS_TO_CRYSTFEL, slow * DIALS_TO_CRYSTFEL))
        clen_mm = float(np.median([c[2] for _, c, _, _ in specs]))
        panels = []
        for p, corner, fast, slow in specs:
            size = float(dm.norm(fast))
            if abs(float(dm.norm(slow)) - size) > 1e-9 * size:
                raise InputError(self.source, f"panel {p.name}", "non-square pixels; expected square pixels")
            fs0 = self.fs0[p.array_id] + p.ranges[1][0]
            dims = self.arrays[p.array_id]
            ss0 = p.ranges[2][0] + sum(p.ranges[k][0] * int(np.prod(dims[1:k - 1])) for k in range(3, len(dims) + 1))
            panels.append(Panel(
                name=p.name, min_fs=fs0, max_fs=fs0 + p.ranges[1][1] - p.ranges[1][0],
                min_ss=ss0, max_ss=ss0 + p.ranges[2][1] - p.ranges[2][0],
                corner_x=float(corner[0] / size), corner_y=float(corner[1] / size),
                fs=tuple(float(v) for v in fast / size), ss=tuple(float(v) for v in slow / size),
                res=1000.0 / size, coffset=float(np.round(corner[2] - clen_mm, 9)) * 1e-3,  # nm noise -> 0
            ))
        wavelength = self.block.value("diffrn_radiation_wavelength", "wavelength")
        energy = WAVELENGTH_EV_A / float(wavelength) if wavelength not in (None, ".", "?") else None
        return Geometry(panels=panels, clen_m=clen_mm * 1e-3, photon_energy_ev=energy, source=self.source,
                        counts_photons=counts_photons(self.block.value("diffrn_detector", "type")))

    # ---------------------------------------------------------------- data
    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """(slab float32, good mask) of the file's arrays."""
        slab = np.zeros(self.slab_shape, np.float32)
        good = np.zeros(self.slab_shape, bool)
        arrays = list(self.arrays)
        decoded = [self._decode_array(a) for a in arrays]  # threads gave nothing on 2 shared cores
        for array_id, (v, ok) in zip(arrays, decoded):
            rows, cols = self.view[array_id]
            fs0 = self.fs0[array_id]
            slab[:rows, fs0:fs0 + cols] = v
            good[:rows, fs0:fs0 + cols] = ok
        return slab, good

    def _decode_array(self, array_id: str) -> tuple[np.ndarray, np.ndarray]:
        """One array as (rows, cols) values and its good mask (trusted range of the array)."""
        dims = self.arrays[array_id]
        bid = self.binary_of[array_id]
        sec = self.block.binaries[bid]
        where = f"binary section {bid} ({array_id})"
        md5 = sec.header.get("content-md5")
        if md5 and base64.b64encode(hashlib.md5(sec.payload).digest()).decode() != md5:
            raise InputError(self.source, where, "Content-MD5 does not match the data; the section is corrupt")
        shape = tuple(reversed(dims))
        compression = {r["id"]: r.get("compression_type", "none").lower() for r in self.block.table("array_structure")}
        conv = sec.header.get("conversions", compression.get(array_id, "")).lower()
        if "packed" in conv:
            values = decode_packed(sec.payload, shape, v2="v2" in conv, source=self.source, where=where)
        elif "byte_offset" in conv:
            values = decode_byte_offset(sec.payload, shape, source=self.source, where=where)
        elif conv in ("x-cbf_none", "none", ""):
            n = int(np.prod(shape))
            if len(sec.payload) < 4 * n:
                raise InputError(self.source, where, f"{len(sec.payload)} bytes, expected {4 * n} (truncated?)")
            values = np.frombuffer(sec.payload[: 4 * n], "<i4").reshape(shape)
        else:
            raise InputError(self.source, where, f"compression {conv!r}; expected x-CBF_PACKED, "
                                                 "x-CBF_BYTE_OFFSET or none")
        limits = {r["array_id"]: (_float(r.get("undefined_value"), -np.inf), _float(r.get("overload"), np.inf))
                  for r in self.block.table("array_intensities")}
        lo, hi = limits.get(array_id, (-np.inf, np.inf))
        v = values.reshape(self.view[array_id])
        return v, (v > lo) & (v < hi)


def is_imgcif(head: bytes) -> bool:
    return (head.lstrip().startswith((b"###CBF", b"data_")) and b"_array_data.header_contents" not in head
            and any(k in head for k in (b"_diffrn_detector", b"_array_structure_list", b"_axis.")))


@register_reader
class ImgCIFReader(FrameReader):
    """One multi-panel imgCIF frame per file, geometry from its axes (.cbf, .cbf.bz2, .cbf.gz)."""

    name = "imgcif"
    extensions = (".cbf", ".cbf.bz2", ".cbf.gz", ".cif")
    frames_per_file = 1

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return is_imgcif(head)

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        super().__init__(path, geometry)
        self._layout: ImgCIFLayout | None = None

    def layout(self) -> ImgCIFLayout:
        if self._layout is None:
            raw = read_all(self.path)
            self._layout = ImgCIFLayout(parse_cif(raw, self.path), self.path)
        return self._layout

    def __len__(self) -> int:
        return 1

    def file_geometry(self):
        return self.layout().geometry()

    def read(self, i: int):
        lay = self.layout()
        data, good = lay.decode()
        return data, good, {"event": "//0", "detector": lay.block.value("diffrn_detector", "type")}

    def close(self) -> None:
        self._layout = None
