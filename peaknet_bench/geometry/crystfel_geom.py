"""Read and write CrystFEL geometry (`.geom`) files.

Both the CrystFEL 0.10+ syntax and the older (0.6-0.9) one are read; what differs
between them is accepted either way (per-panel `clen`, bad regions in slab form without
a `panel`, `rigid_group_collection_*`, `badrow_direction`). Semantics follow CrystFEL:

* `key = value` at the top level sets a default for every panel mentioned *after* it
  (a panel copies the defaults when it first appears, later top-level changes do not
  reach it); `panel/key = value` sets one panel's value; `badX/key` defines a bad region.
* `clen` and `photon_energy` are numbers (metres, eV) or HDF5 header paths (a `clen`
  read from a header is in mm).
* Panels placed by a numeric dimension (EuXFEL style `p3a0/dim1 = 3` for data of shape
  (frame, module, ss, fs)) are stacked into one 2-D slab: slab ss = index * layer + ss,
  which is exactly a C-order reshape of the data to (frame, module * ss, fs). The layer
  height is kept in `Geometry.stack_ss` so that writing restores the file's own numbers.

The model is normalised on reading (a value shared by every panel becomes a file-level
setting), so read -> write -> read gives an equal `Geometry`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field, replace

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.geometry.model import MAX_SLAB_PIXELS, MAX_SLAB_SIDE, BadRegion, Geometry, Panel
from peaknet_bench.util.atomic import write_text_atomic

log = logging.getLogger(__name__)

# Keys CrystFEL knows for a panel (or as a top-level default for later panels).
_RECT_KEYS = ("min_fs", "max_fs", "min_ss", "max_ss")
_FLOAT_KEYS = {"corner_x", "corner_y", "res", "coffset", "adu_per_eV", "adu_per_photon", "max_adu"}
_PANEL_FIELD_KEYS = set(_RECT_KEYS) | _FLOAT_KEYS | {"fs", "ss", "clen", "no_index"}
# Known per-panel keys kept verbatim (in Panel.extra, or Geometry.header when every panel shares them).
_PANEL_EXTRA_KEYS = {
    "data", "mask", "mask_file", "mask_good", "mask_bad", "saturation_map", "saturation_map_file",
    "flag_lessthan", "flag_morethan", "flag_equal", "badrow_direction", "rail_direction",
    "clen_for_centering", "rigid_group", "peak_sep",
}
_PANEL_EXTRA_PATTERNS = (re.compile(r"dim\d+"), re.compile(r"mask\d+_(data|file|goodbits|badbits)"))
# Keys that only exist at the top level and are kept verbatim in Geometry.header.
_GLOBAL_KEYS = {
    "photon_energy_bandwidth", "bandwidth", "wavelength", "electron_voltage", "peak_list",
    "peak_list_type", "detector_shift_x", "detector_shift_y", "hdf5_peak_path", "peak_info_location",
}
_BAD_KEYS = {"min_fs", "max_fs", "min_ss", "max_ss", "min_x", "max_x", "min_y", "max_y", "panel"}
_LINE = re.compile(r"^\s*([^\s=]+)\s*=\s*(.*?)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_DIR_TERM = re.compile(r"([+-]?)\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?\s*([xyzXYZ])")
_UNITS = {"photon_energy": {"ev": 1.0, "kev": 1000.0}, "clen": {"m": 1.0, "mm": 1e-3}}


def _is_extra_key(key: str) -> bool:
    return key in _PANEL_EXTRA_KEYS or any(p.fullmatch(key) for p in _PANEL_EXTRA_PATTERNS)


def _is_panel_key(key: str) -> bool:
    return key in _PANEL_FIELD_KEYS or _is_extra_key(key)


@dataclass
class _Value:
    text: str
    line: int


@dataclass
class _RawPanel:
    name: str
    line: int
    values: dict[str, _Value] = field(default_factory=dict)


class _Parser:
    """One pass over the lines, then conversion of the collected strings into the model."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.defaults: dict[str, _Value] = {}
        self.panels: dict[str, _RawPanel] = {}
        self.bad: dict[str, _RawPanel] = {}
        self.top: dict[str, _Value] = {}
        self.groups: dict[str, tuple[list[str], int]] = {}
        self.rigid: dict[str, tuple[list[str], int]] = {}
        self.collections: dict[str, tuple[list[str], int]] = {}

    def error(self, line: int | None, message: str) -> InputError:
        return InputError(self.source, f"line {line}" if line is not None else None, message)

    # ------------------------------------------------------------ line pass
    def feed(self, text: str) -> None:
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            m = _LINE.match(line)
            if m is None or not m.group(2):
                raise self.error(n, f"expected 'key = value' or 'panel/key = value', got {raw.strip()!r}")
            key, value = m.group(1), m.group(2)
            if "/" in key:
                self._panel_line(key, value, n)
            else:
                self._top_line(key, value, n)

    def _members(self, value: str, n: int) -> list[str]:
        members = [s.strip() for s in value.split(",")]
        if any(not s or not _NAME.match(s) for s in members):
            raise self.error(n, f"expected a comma-separated list of names, got {value!r}")
        return members

    def _top_line(self, key: str, value: str, n: int) -> None:
        for prefix, target in (("rigid_group_collection_", self.collections), ("rigid_group_", self.rigid),
                               ("group_", self.groups)):
            if key.startswith(prefix) and len(key) > len(prefix):
                target[key[len(prefix):]] = (self._members(value, n), n)
                return
        if key in _GLOBAL_KEYS or key in ("photon_energy", "photon_energy_scale"):
            self.top[key] = _Value(value, n)
        elif _is_panel_key(key):
            self.defaults[key] = _Value(value, n)
            self._validate(key, self.defaults[key])
        else:
            raise self.error(n, f"unknown key {key!r}; expected a CrystFEL geometry key "
                                "(e.g. clen, photon_energy, res, data, dim0, group_NAME, rigid_group_NAME)")

    def _panel_line(self, key: str, value: str, n: int) -> None:
        name, _, sub = key.partition("/")
        if not name or not sub or "/" in sub or not _NAME.match(name):
            raise self.error(n, f"expected 'panel/key', got {key!r}")
        if name.startswith("bad"):
            if sub not in _BAD_KEYS:
                raise self.error(n, f"unknown key {sub!r} for bad region {name!r}; expected one of {sorted(_BAD_KEYS)}")
            self.bad.setdefault(name, _RawPanel(name, n)).values[sub] = _Value(value, n)
            return
        if not _is_panel_key(sub):
            raise self.error(n, f"unknown key {sub!r} for panel {name!r}; expected a CrystFEL panel key "
                                "(min_fs, max_fs, min_ss, max_ss, corner_x, corner_y, fs, ss, res, coffset, ...)")
        panel = self.panels.get(name)
        if panel is None:  # a panel copies the top-level defaults in force when it first appears
            panel = self.panels[name] = _RawPanel(name, n, dict(self.defaults))
        panel.values[key.partition("/")[2]] = _Value(value, n)

    def _validate(self, key: str, v: _Value) -> None:
        """Check a top-level default where it is written (it may apply to no panel at all)."""
        if key in _RECT_KEYS:
            self.integer(v, key)
        elif key in _FLOAT_KEYS:
            self.number(v, key)
        elif key in ("fs", "ss"):
            self.direction(v, key)
        elif key == "clen":
            self.number_or_path(v, key)
        elif key == "no_index":
            self.flag(v, key)

    # ------------------------------------------------------------ conversions
    def number(self, v: _Value, key: str) -> float:
        try:
            x = float(v.text)
        except ValueError:
            raise self.error(v.line, f"{key}: expected a number, got {v.text!r}") from None
        if not math.isfinite(x):
            raise self.error(v.line, f"{key}: expected a finite number, got {v.text!r}")
        return x

    def integer(self, v: _Value, key: str) -> int:
        """An integer; CrystFEL also takes integral floats such as `min_fs = 0.0` (SwissFEL files)."""
        try:
            return int(v.text)
        except ValueError:
            pass
        try:
            x = float(v.text)
        except ValueError:
            x = math.nan
        if math.isfinite(x) and x == int(x):
            return int(x)
        raise self.error(v.line, f"{key}: expected an integer, got {v.text!r}")

    def number_or_path(self, v: _Value, key: str) -> tuple[float | None, str | None]:
        """A value that is a number (with an optional unit) or an HDF5 header path."""
        if v.text.startswith("/"):
            if any(c.isspace() for c in v.text):
                raise self.error(v.line, f"{key}: expected an HDF5 path without spaces, got {v.text!r}")
            return None, v.text
        parts = v.text.split()
        scale = 1.0
        units = _UNITS.get(key.rsplit("/", 1)[-1], {})
        if len(parts) == 2 and parts[1].lower() in units:
            scale = units[parts[1].lower()]
        elif len(parts) != 1:
            raise self.error(v.line, f"{key}: expected a number or an HDF5 path (starting with '/'), got {v.text!r}")
        return self.number(_Value(parts[0], v.line), key) * scale, None

    def direction(self, v: _Value, key: str) -> tuple[float, float, float]:
        text = v.text.replace(" ", "")
        out = {"x": 0.0, "y": 0.0, "z": 0.0}
        pos = 0
        seen = set()
        for m in _DIR_TERM.finditer(text):
            axis = m.group(3).lower()
            if m.start() != pos or axis in seen:
                break
            coef = float(m.group(2)) if m.group(2) else 1.0
            out[axis] = -coef if m.group(1) == "-" else coef
            seen.add(axis)
            pos = m.end()
        if pos != len(text) or not seen:
            raise self.error(v.line, f"{key}: expected a direction vector like '+0.9999x +0.0016y -0.002z', "
                                     f"got {v.text!r}")
        return (out["x"], out["y"], out["z"])

    def flag(self, v: _Value, key: str) -> bool:
        t = v.text.lower()
        if t in ("1", "true", "yes"):
            return True
        if t in ("0", "false", "no"):
            return False
        raise self.error(v.line, f"{key}: expected 0 or 1, got {v.text!r}")

    # ------------------------------------------------------------ model
    def build(self) -> Geometry:
        if not self.panels:
            raise InputError(self.source, None, "no panels defined; expected lines like 'p0/min_fs = 0'")
        last_panel = max(raw.line for raw in self.panels.values())
        for key, v in self.defaults.items():
            if v.line > last_panel:
                log.warning("%s: line %d: top-level %s comes after every panel and applies to none "
                            "(CrystFEL semantics)", self.source, v.line, key)
        panels = [self._panel(raw) for raw in self.panels.values()]
        geometry_kw: dict = {}
        # clen shared by every panel becomes the file-level value.
        clens = {(p.clen_m, p.clen_path) for p in panels}
        if len(clens) == 1:
            geometry_kw["clen_m"], geometry_kw["clen_path"] = clens.pop()
            panels = [replace(p, clen_m=None, clen_path=None) for p in panels]
        header = self._common_extras(panels)
        for key, v in self.top.items():
            if key == "photon_energy":
                geometry_kw["photon_energy_ev"], geometry_kw["photon_energy_path"] = self.number_or_path(v, key)
                if geometry_kw["photon_energy_ev"] is not None and not geometry_kw["photon_energy_ev"] > 0:
                    raise self.error(v.line, f"photon_energy: expected a positive photon energy in eV, got {v.text!r}")
            elif key == "photon_energy_scale":
                geometry_kw["photon_energy_scale"] = self.number(v, key)
            else:
                header[key] = v.text
        panels, stack_ss = self._stack(panels, header)
        self._check_overlaps(panels)
        names = {p.name for p in panels}
        index = {p.name: i for i, p in enumerate(panels)}
        bad_regions = [self._bad_region(raw, panels, index, stack_ss) for raw in self.bad.values()]
        groups = {k: m for k, (m, _) in self.groups.items()}
        for name, (members, line) in self.groups.items():
            self._check_members(members, names | set(groups), line, f"group_{name}", "panels or groups")
        for name, (members, line) in self.rigid.items():
            self._check_members(members, names, line, f"rigid_group_{name}", "panels")
        for name, (members, line) in self.collections.items():
            self._check_members(members, set(self.rigid), line, f"rigid_group_collection_{name}", "rigid groups")
        return Geometry(
            panels=panels, bad_regions=bad_regions, groups=groups,
            rigid_groups={k: m for k, (m, _) in self.rigid.items()},
            rigid_group_collections={k: m for k, (m, _) in self.collections.items()},
            header=header, stack_ss=stack_ss, source=self.source, **geometry_kw,
        )

    def _check_members(self, members: list[str], allowed: set[str], line: int, key: str, what: str) -> None:
        missing = [m for m in members if m not in allowed]
        if missing:
            raise self.error(line, f"{key}: {missing} are not defined; expected names of {what}")

    def _panel(self, raw: _RawPanel) -> Panel:
        vals = raw.values
        missing = [k for k in _RECT_KEYS if k not in vals]
        if missing:
            raise self.error(raw.line, f"panel {raw.name!r} has no {', '.join(missing)}; every panel needs its "
                                       "rectangle min_fs, max_fs, min_ss, max_ss in the data array")
        for key in ("corner_x", "corner_y", "res"):
            if key not in vals:
                raise self.error(raw.line, f"panel {raw.name!r} has no {key}; expected '{raw.name}/{key} = NUMBER' "
                                           "or a top-level default before the panel")
        rect = {k: self.integer(vals[k], f"{raw.name}/{k}") for k in _RECT_KEYS}
        for lo, hi in (("min_fs", "max_fs"), ("min_ss", "max_ss")):
            if rect[lo] < 0 or rect[hi] < rect[lo] or rect[hi] >= MAX_SLAB_SIDE:
                raise self.error(vals[hi].line, f"panel {raw.name!r}: expected 0 <= {lo} <= {hi} < {MAX_SLAB_SIDE}, "
                                                f"got {rect[lo]}..{rect[hi]}")
        kw: dict = dict(rect)
        for key, attr in (("corner_x", "corner_x"), ("corner_y", "corner_y"), ("res", "res"), ("coffset", "coffset"),
                          ("adu_per_eV", "adu_per_ev"), ("adu_per_photon", "adu_per_photon"), ("max_adu", "max_adu")):
            if key in vals:
                kw[attr] = self.number(vals[key], f"{raw.name}/{key}")
        if kw["res"] <= 0:
            raise self.error(vals["res"].line, f"{raw.name}/res: expected a positive number of pixels per metre")
        fs = self.direction(vals["fs"], f"{raw.name}/fs") if "fs" in vals else (1.0, 0.0, 0.0)
        ss = self.direction(vals["ss"], f"{raw.name}/ss") if "ss" in vals else (0.0, 1.0, 0.0)
        if np.linalg.norm(np.cross(fs, ss)) < 1e-6 * max(np.linalg.norm(fs) * np.linalg.norm(ss), 1e-300):
            line = vals["fs"].line if "fs" in vals else raw.line
            raise self.error(line, f"panel {raw.name!r}: fs {fs} and ss {ss} are zero or parallel; "
                                   "expected two independent direction vectors")
        kw["fs"], kw["ss"] = fs, ss
        if "clen" in vals:
            kw["clen_m"], kw["clen_path"] = self.number_or_path(vals["clen"], f"{raw.name}/clen")
        if "no_index" in vals:
            kw["no_index"] = self.flag(vals["no_index"], f"{raw.name}/no_index")
        kw["extra"] = {k: v.text for k, v in vals.items() if _is_extra_key(k)}
        return Panel(name=raw.name, **kw)

    @staticmethod
    def _common_extras(panels: list[Panel]) -> dict[str, str]:
        """Move verbatim keys that every panel shares (data, dim0, mask, ...) to the header."""
        header: dict[str, str] = {}
        for key in list(panels[0].extra):
            value = panels[0].extra[key]
            if all(p.extra.get(key) == value for p in panels):
                header[key] = value
                for p in panels:
                    del p.extra[key]
        return header

    def _stack(self, panels: list[Panel], header: dict[str, str]) -> tuple[list[Panel], int | None]:
        """Place panels with a numeric dimension index into one 2-D slab (see module doc)."""
        indices = [_placement_index(p, header, self.source) for p in panels]
        if all(i is None for i in indices):
            return panels, None
        layer = max(p.max_ss for p in panels) + 1
        out = []
        for p, i in zip(panels, indices):
            shift = (i or 0) * layer
            out.append(replace(p, min_ss=p.min_ss + shift, max_ss=p.max_ss + shift))
        return out, layer

    def _check_overlaps(self, panels: list[Panel]) -> None:
        """Panels must own disjoint rectangles of the data array. Checked by counting owners per
        pixel (linear in pixels and panels; a pairwise test is quadratic in panels: 20 000
        panels made it take a minute and a gigabyte)."""
        n_ss = max(p.max_ss for p in panels) + 1
        n_fs = max(p.max_fs for p in panels) + 1
        if n_ss * n_fs > MAX_SLAB_PIXELS:
            raise InputError(self.source, "panels", f"the panels span a {n_ss} x {n_fs} data array; expected at most "
                                                    f"{MAX_SLAB_PIXELS} pixels (a mistyped min/max_fs or min/max_ss?)")
        owners = np.zeros((n_ss, n_fs), np.uint8)
        for p in panels:
            block = owners[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1]
            np.minimum(block + 1, 2, out=block)
        if owners.max(initial=0) > 1:
            ss, fs = (int(v) for v in np.argwhere(owners > 1)[0])
            i, j = [k for k, p in enumerate(panels) if p.min_ss <= ss <= p.max_ss and p.min_fs <= fs <= p.max_fs][:2]
            a, b = panels[i], panels[j]
            line = self.panels[b.name].line if b.name in self.panels else None
            raise self.error(line, f"panels {a.name!r} (fs {a.min_fs}..{a.max_fs}, ss {a.min_ss}..{a.max_ss}) and "
                                   f"{b.name!r} (fs {b.min_fs}..{b.max_fs}, ss {b.min_ss}..{b.max_ss}) overlap in the "
                                   "data array; expected disjoint rectangles")

    def _bad_region(
        self, raw: _RawPanel, panels: list[Panel], index: dict[str, int], stack_ss: int | None
    ) -> BadRegion:
        vals = raw.values
        lab = [k for k in ("min_x", "max_x", "min_y", "max_y") if k in vals]
        slab = [k for k in _RECT_KEYS if k in vals]
        if lab and (slab or "panel" in vals):
            raise self.error(raw.line, f"bad region {raw.name!r} mixes lab (min_x..) and slab (min_fs.., panel) keys; "
                                       "expected one form")
        if lab:
            if len(lab) != 4:
                raise self.error(raw.line, f"bad region {raw.name!r}: expected all of min_x, max_x, min_y, max_y")
            x = {k: self.number(vals[k], f"{raw.name}/{k}") for k in lab}
            if x["min_x"] > x["max_x"] or x["min_y"] > x["max_y"]:
                raise self.error(raw.line, f"bad region {raw.name!r}: expected min_x <= max_x and min_y <= max_y")
            return BadRegion(raw.name, **x)
        if len(slab) != 4:
            raise self.error(raw.line, f"bad region {raw.name!r}: expected min_fs, max_fs, min_ss, max_ss "
                                       "(with panel) or min_x, max_x, min_y, max_y")
        r = {k: self.integer(vals[k], f"{raw.name}/{k}") for k in slab}
        if r["min_fs"] > r["max_fs"] or r["min_ss"] > r["max_ss"]:
            raise self.error(raw.line, f"bad region {raw.name!r}: expected min_fs <= max_fs and min_ss <= max_ss")
        panel = vals["panel"].text if "panel" in vals else None
        if panel is not None:
            if panel not in index:
                raise self.error(vals["panel"].line, f"bad region {raw.name!r}: panel {panel!r} is not defined")
            if stack_ss:  # slab coordinates are the file's; shift with the panel's layer
                p = panels[index[panel]]
                shift = p.min_ss - (p.min_ss % stack_ss)
                r["min_ss"] += shift
                r["max_ss"] += shift
        return BadRegion(raw.name, panel=panel, **r)


def _placement_index(panel: Panel, header: dict[str, str], source: str | None) -> int | None:
    """The numeric dimension index of a panel (EuXFEL `dim1 = 3`), or None."""
    dims = {k: v for k, v in {**header, **panel.extra}.items() if re.fullmatch(r"dim\d+", k)}
    numeric = [(k, v) for k, v in dims.items() if v.strip().isdigit()]
    if not numeric:
        return None
    if len(numeric) > 1:
        raise InputError(source, f"panel {panel.name}", f"{len(numeric)} numeric dimensions {numeric}; "
                                                        "expected at most one placement index")
    key, value = numeric[0]
    ss_dim = next((int(k[3:]) for k, v in dims.items() if v.strip() == "ss"), None)
    if ss_dim is not None and int(key[3:]) > ss_dim:
        raise InputError(source, f"panel {panel.name}", f"{key} = {value} comes after the ss dimension; "
                                                        "expected the placement index before ss and fs")
    return int(value)


# ---------------------------------------------------------------- public API
def parse_geom_text(text: str, source: str = "<string>") -> Geometry:
    """Parse the text of a CrystFEL geometry file."""
    parser = _Parser(source)
    parser.feed(text)
    return parser.build()


def read_geom(path: str | os.PathLike) -> Geometry:
    """Read a CrystFEL `.geom` file."""
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InputError(str(path), None, "no such file; expected a CrystFEL .geom file") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"byte {exc.start}", "expected a UTF-8 text file") from None
    return parse_geom_text(text, str(path))


def _num(x: float, sign: bool = False) -> str:
    """Shortest text that reads back as exactly `x`, without exponent notation (CrystFEL's
    vector parser does not take exponents); integers without a fractional part."""
    return np.format_float_positional(float(x), unique=True, trim="-", sign=sign)


def _direction(v: tuple[float, float, float]) -> str:
    terms = [f"{_num(c, sign=True)}{axis}" for c, axis in zip(v, "xyz") if axis != "z" or c != 0.0]
    return " ".join(terms)


# Panel fields written as `key = value` (file key, attribute, formatter).
_WRITE_FIELDS = (
    ("res", "res", _num), ("coffset", "coffset", _num), ("adu_per_eV", "adu_per_ev", _num),
    ("adu_per_photon", "adu_per_photon", _num), ("max_adu", "max_adu", _num),
)


def _clen_text(clen_m: float | None, clen_path: str | None) -> str | None:
    return clen_path if clen_path is not None else (_num(clen_m) if clen_m is not None else None)


def format_geom(geometry: Geometry) -> str:
    """The text of a CrystFEL geometry file for `geometry` (readable by CrystFEL 0.10+ and by
    `parse_geom_text`, which gives back an equal model)."""
    from peaknet_bench import __version__

    g = geometry
    panels = _unstack(g)
    out = [f"; CrystFEL geometry file written by peaknet-bench {__version__}",
           f"; {g.n_panels} panels, slab {g.slab_shape[0]} x {g.slab_shape[1]} (ss x fs)", ""]
    if g.photon_energy_path is not None or g.photon_energy_ev is not None:
        out.append(f"photon_energy = {g.photon_energy_path or _num(g.photon_energy_ev)}")
    if g.photon_energy_scale is not None:
        out.append(f"photon_energy_scale = {_num(g.photon_energy_scale)}")
    clen = _clen_text(g.clen_m, g.clen_path)
    if clen is not None:
        out.append(f"clen = {clen}" + ("  ; mm, read from the data file" if g.clen_path else ""))
    for key, value in g.header.items():
        out.append(f"{key} = {value}")
    common: set[str] = set()
    for key, attr, fmt in _WRITE_FIELDS:
        values = {getattr(p, attr) for p in panels}
        if len(values) == 1 and None not in values:
            out.append(f"{key} = {fmt(values.pop())}")
            common.add(attr)
    out.append("")
    for prefix, table in (("group_", g.groups), ("rigid_group_", g.rigid_groups),
                          ("rigid_group_collection_", g.rigid_group_collections)):
        for name, members in table.items():
            out.append(f"{prefix}{name} = {','.join(members)}")
        if table:
            out.append("")
    for p in panels:
        n = p.name
        out += [f"{n}/min_fs = {p.min_fs}", f"{n}/max_fs = {p.max_fs}",
                f"{n}/min_ss = {p.min_ss}", f"{n}/max_ss = {p.max_ss}",
                f"{n}/corner_x = {_num(p.corner_x)}", f"{n}/corner_y = {_num(p.corner_y)}",
                f"{n}/fs = {_direction(p.fs)}", f"{n}/ss = {_direction(p.ss)}"]
        for key, attr, fmt in _WRITE_FIELDS:
            value = getattr(p, attr)
            if attr not in common and value is not None:
                out.append(f"{n}/{key} = {fmt(value)}")
        clen = _clen_text(p.clen_m, p.clen_path)
        if clen is not None:
            out.append(f"{n}/clen = {clen}")
        if p.no_index:
            out.append(f"{n}/no_index = 1")
        out += [f"{n}/{k} = {v}" for k, v in p.extra.items()]
        out.append("")
    for b in g.bad_regions:
        if b.is_lab:
            out += [f"{b.name}/{k} = {_num(getattr(b, k))}" for k in ("min_x", "max_x", "min_y", "max_y")]
        else:
            min_ss, max_ss = b.min_ss, b.max_ss
            if g.stack_ss and b.panel is not None:
                p = g.panels[g.panel_index(b.panel)]
                shift = p.min_ss - (p.min_ss % g.stack_ss)
                min_ss, max_ss = min_ss - shift, max_ss - shift
            if b.panel is not None:
                out.append(f"{b.name}/panel = {b.panel}")
            out += [f"{b.name}/min_fs = {b.min_fs}", f"{b.name}/max_fs = {b.max_fs}",
                    f"{b.name}/min_ss = {min_ss}", f"{b.name}/max_ss = {max_ss}"]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _unstack(g: Geometry) -> list[Panel]:
    """Panels with the file's own ss numbers (undo the stacking of numeric-dimension panels)."""
    if not g.stack_ss:
        return list(g.panels)
    out = []
    for p in g.panels:
        index = _placement_index(p, g.header, g.source) or 0
        shift = index * g.stack_ss
        out.append(replace(p, min_ss=p.min_ss - shift, max_ss=p.max_ss - shift))
    return out


def write_geom(geometry: Geometry, path: str | os.PathLike) -> None:
    """Write `geometry` as a CrystFEL `.geom` file (atomically)."""
    write_text_atomic(path, format_geom(geometry))


__all__ = ["format_geom", "parse_geom_text", "read_geom", "write_geom"]
