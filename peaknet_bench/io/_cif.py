"""A small CIF (STAR) reader for CBF headers: data items, loops and binary sections.

Only what imgCIF/CBF files written by CBFlib, cctbx.xfel and Dectris need: `_cat.item value`
pairs, `loop_` tables, quoted strings, `;` text fields, `#` comments, and the MIME-wrapped
binary sections (kept as raw bytes, keyed by their X-Binary-ID).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from peaknet_bench.errors import InputError

BINARY_START = b"--CIF-BINARY-FORMAT-SECTION--"
BINARY_MARKER = b"\x0c\x1a\x04\xd5"  # start of the binary data inside a section
_MIME_LINE = re.compile(rb"^([A-Za-z0-9-]+):\s*(.*?)\s*$")


@dataclass
class BinarySection:
    """One binary section: its MIME header fields (lower-case keys) and its raw payload."""

    header: dict[str, str]
    payload: bytes
    offset: int  # byte offset of the payload in the file, for error messages

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.header.get(key)
        return default if value is None else int(value)


@dataclass
class CifBlock:
    """Categories as tables: category -> list of rows (item -> text); '.'/'?' kept verbatim."""

    name: str
    tables: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    binaries: dict[int, BinarySection] = field(default_factory=dict)

    def table(self, category: str) -> list[dict[str, str]]:
        return self.tables.get(category.lower(), [])

    def value(self, category: str, item: str, default: str | None = None) -> str | None:
        rows = self.table(category)
        return rows[0].get(item.lower(), default) if rows else default


def _split_binaries(raw: bytes, source: str) -> tuple[str, dict[int, BinarySection]]:
    """Cut the binary sections out of the file; return the text with a placeholder token in their
    place (`@BINARY<n>`) and the sections by binary id."""
    out: list[bytes] = []
    sections: dict[int, BinarySection] = {}
    pos = 0
    n = 0
    while True:
        start = raw.find(BINARY_START, pos)
        if start < 0:
            out.append(raw[pos:])
            break
        out.append(raw[pos:start])
        marker = raw.find(BINARY_MARKER, start)
        if marker < 0:
            raise InputError(source, f"binary section at byte {start}",
                             "no start-of-data marker (0C 1A 04 D5); the file is truncated or corrupt")
        header: dict[str, str] = {}
        for line in raw[start + len(BINARY_START):marker].splitlines():
            m = _MIME_LINE.match(line.strip())
            if m:
                header[m.group(1).decode("latin1").lower()] = m.group(2).decode("latin1").strip().strip('"')
            elif line.strip().startswith(b"conversions="):  # continuation of Content-Type
                header["conversions"] = line.strip()[len(b"conversions="):].decode("latin1").split(";")[0].strip('"')
        size = header.get("x-binary-size")
        if size is None or not size.isdigit():
            raise InputError(source, f"binary section at byte {start}",
                             f"X-Binary-Size missing or not a number ({size!r})")
        begin = marker + 4
        end = begin + int(size)
        if end > len(raw):
            raise InputError(source, f"binary section at byte {start}",
                             f"X-Binary-Size says {size} bytes but the file ends {len(raw) - begin} bytes after its "
                             "start; the file is truncated")
        bid = int(header.get("x-binary-id", n + 1))
        sections[bid] = BinarySection(header, raw[begin:end], begin)
        close = raw.find(BINARY_START + b"--", end)
        pos = close + len(BINARY_START) + 2 if close >= 0 else end
        out.append(f" @BINARY{bid} ".encode())
        n += 1
    return b"".join(out).decode("latin1"), sections


_TOKEN = re.compile(r"""'(.*?)'(?=\s|$)|"(.*?)"(?=\s|$)|(#.*)|(\S+)""")


def _tokens(text: str, source: str):
    """Yield (token, line) pairs; quoted strings and text fields come back unquoted."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(";"):
            body = [line[1:]]
            j = i + 1
            while j < len(lines) and not lines[j].startswith(";"):
                body.append(lines[j])
                j += 1
            if j == len(lines):
                raise InputError(source, f"line {i + 1}", "text field opened with ';' is never closed")
            yield "\n".join(body).strip(), i + 1
            i = j + 1
            continue
        for m in _TOKEN.finditer(line):
            if m.group(3) is not None:
                break  # comment to the end of the line
            bare = m.group(4)
            if bare is not None and bare[0] in "'\"":
                raise InputError(source, f"line {i + 1}", f"unterminated quoted string starting {bare[:20]!r}")
            yield (bare if bare is not None else (m.group(1) if m.group(1) is not None else m.group(2))), i + 1
        i += 1


def parse_cif(raw: bytes, source: str) -> CifBlock:
    """Parse the first data block of a CIF/CBF file (bytes, binary sections included)."""
    text, binaries = _split_binaries(raw, source)
    block = CifBlock(name="", binaries=binaries)
    toks = list(_tokens(text, source))
    i = 0
    while i < len(toks):
        tok, line = toks[i]
        low = tok.lower()
        if low.startswith("data_"):
            if block.name:
                break  # only the first block
            block.name = tok[5:]
            i += 1
        elif low == "loop_":
            names: list[str] = []
            i += 1
            while i < len(toks) and toks[i][0].startswith("_"):
                names.append(toks[i][0].lower())
                i += 1
            values: list[str] = []
            while i < len(toks) and not toks[i][0].startswith("_") and toks[i][0].lower() not in ("loop_",) \
                    and not toks[i][0].lower().startswith("data_"):
                values.append(toks[i][0])
                i += 1
            if not names or len(values) % len(names):
                raise InputError(source, f"line {line}", f"loop of {len(names)} items has {len(values)} values; "
                                                         "expected a whole number of rows")
            cats = {nm.split(".", 1)[0] for nm in names}
            if len(cats) != 1:
                raise InputError(source, f"line {line}", f"loop mixes categories {sorted(cats)}")
            cat = cats.pop().lstrip("_")
            items = [nm.split(".", 1)[1] if "." in nm else nm for nm in names]
            rows = block.tables.setdefault(cat, [])
            for r in range(0, len(values), len(names)):
                rows.append(dict(zip(items, values[r:r + len(names)])))
        elif tok.startswith("_"):
            if i + 1 >= len(toks):
                raise InputError(source, f"line {line}", f"item {tok} has no value")
            cat, _, item = low.lstrip("_").partition(".")
            rows = block.tables.setdefault(cat, [])
            if not rows:
                rows.append({})
            rows[0][item] = toks[i + 1][0]
            i += 2
        else:
            i += 1  # stray value (e.g. a save frame we do not use)
    if not block.name and not block.tables:
        raise InputError(source, None, "no CIF data block (expected a 'data_NAME' line)")
    return block
