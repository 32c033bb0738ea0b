"""Reading and writing CrystFEL `.cell` files and PDB CRYST1 records."""

from __future__ import annotations

import math
import os
from pathlib import Path

from peaknet_bench.crystal.cell import UnitCell, lattice_from_space_group
from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import write_text_atomic

CELL_HEADER = "CrystFEL unit cell file version 1.0"
# The space group is not part of CrystFEL's format; we keep it in a comment CrystFEL ignores.
_SG_COMMENT = "; peaknet-bench space_group ="

_LENGTH_UNITS = {"a": 1.0, "A": 1.0, "nm": 10.0}
_ANGLE_UNITS = {"deg": 1.0, "rad": 180.0 / math.pi}
_PARAM_KEYS = {"a": "a", "b": "b", "c": "c", "al": "alpha", "be": "beta", "ga": "gamma"}


def parse_cell_text(text: str, source: str = "<string>") -> UnitCell:
    """Parse the text of a CrystFEL unit-cell file (or a PDB file with a CRYST1 record)."""
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if not first.startswith("CrystFEL unit cell file"):
        if any(ln.startswith("CRYST1") for ln in lines):
            return parse_pdb_cryst1(text, source)
        raise InputError(source, "line 1", f"expected {CELL_HEADER!r} (a CrystFEL unit cell file)")
    values: dict[str, str] = {}
    space_group: str | None = None
    for number, raw in enumerate(lines, start=1):
        if raw.startswith(_SG_COMMENT):
            space_group = raw[len(_SG_COMMENT):].strip() or None
            continue
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("CrystFEL unit cell file"):
            continue
        if "=" not in line:
            raise InputError(source, f"line {number}", f"expected 'key = value', got {raw.strip()!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        values[key] = value
        values[f"__line_{key}"] = str(number)

    def where(key: str) -> str:
        return f"line {values.get(f'__line_{key}', '?')} ({key})"

    if "lattice_type" not in values:
        raise InputError(source, "lattice_type", "missing field: expected 'lattice_type = <type>'")
    params: dict[str, float] = {}
    for key, name in _PARAM_KEYS.items():
        if key not in values:
            raise InputError(source, key, f"missing field: expected '{key} = <value> {'A' if key in 'abc' else 'deg'}'")
        parts = values[key].split()
        units = _LENGTH_UNITS if key in ("a", "b", "c") else _ANGLE_UNITS
        if len(parts) != 2 or parts[1] not in units:
            raise InputError(source, where(key), f"expected a number and a unit ({'/'.join(units)}), got {values[key]!r}")
        try:
            params[name] = float(parts[0]) * units[parts[1]]
        except ValueError:
            raise InputError(source, where(key), f"expected a number, got {parts[0]!r}") from None
    lattice_type = values["lattice_type"].lower()
    centering = values.get("centering", "P").upper()
    unique_axis = values.get("unique_axis", "b" if lattice_type == "monoclinic" else "?").lower()
    try:
        cell = UnitCell(
            **params, lattice_type=lattice_type, centering=centering, unique_axis=unique_axis,
            space_group=space_group,
        )
    except InputError as exc:
        field = exc.where or ""
        key = {"lattice_type": "lattice_type", "centering": "centering", "unique_axis": "unique_axis"}.get(field, field)
        raise InputError(source, where(key) if f"__line_{key}" in values else field, exc.message) from None
    cell.check_lattice(source)
    return cell


def read_cell_file(path: str | os.PathLike) -> UnitCell:
    """Read a CrystFEL `.cell` file (a PDB file with CRYST1 is accepted too, as CrystFEL does)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read unit cell file: {exc.strerror}") from None
    return parse_cell_text(text, str(path))


def format_cell(cell: UnitCell) -> str:
    """CrystFEL unit-cell file text for `cell` (lengths in Å, angles in degrees)."""
    lines = [
        CELL_HEADER,
        "",
        f"lattice_type = {cell.lattice_type}",
        f"centering = {cell.centering}",
    ]
    if cell.unique_axis != "?":
        lines.append(f"unique_axis = {cell.unique_axis}")
    lines += [
        "",
        f"a = {cell.a:.4f} A",
        f"b = {cell.b:.4f} A",
        f"c = {cell.c:.4f} A",
        f"al = {cell.alpha:.4f} deg",
        f"be = {cell.beta:.4f} deg",
        f"ga = {cell.gamma:.4f} deg",
    ]
    if cell.space_group:
        lines += ["", f"{_SG_COMMENT} {cell.space_group}"]
    return "\n".join(lines) + "\n"


def write_cell_file(cell: UnitCell, path: str | os.PathLike) -> None:
    """Write a CrystFEL `.cell` file atomically."""
    write_text_atomic(path, format_cell(cell))


def parse_pdb_cryst1(text: str, source: str = "<string>") -> UnitCell:
    """Unit cell and space group from the CRYST1 record of PDB text (fixed columns)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("CRYST1"):
            continue
        try:
            params = [float(line[s:e]) for s, e in ((6, 15), (15, 24), (24, 33), (33, 40), (40, 47), (47, 54))]
        except ValueError:
            raise InputError(source, f"line {number} (CRYST1)", "expected six numbers in columns 7-54") from None
        symbol = line[55:66].strip() or None
        if symbol is None:
            return UnitCell(*params)
        lattice_type, centering, unique_axis = lattice_from_space_group(symbol)
        try:
            return UnitCell(*params, lattice_type=lattice_type, centering=centering, unique_axis=unique_axis, space_group=symbol)
        except InputError as exc:
            raise InputError(source, f"line {number} (CRYST1)", exc.message) from None
    raise InputError(source, "CRYST1", "no CRYST1 record: the file does not give a unit cell")


def cell_from_pdb(path: str | os.PathLike) -> UnitCell:
    """Unit cell (with space group) from a PDB file's CRYST1 record."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read PDB file: {exc.strerror}") from None
    return parse_pdb_cryst1(text, str(path))
