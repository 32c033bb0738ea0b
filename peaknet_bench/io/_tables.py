"""Fast parsing of the whitespace tables of CrystFEL streams (peaks, reflections).

A stream is mostly table rows; parsing them token by token in Python caps a reader at
~15 MB/s. This numba kernel scans the bytes once: numeric columns become a float array,
the trailing panel column is returned as (start, end) byte spans. Numbers are decimal with an
optional exponent (``%f``/``%e`` output) or nan/inf, correctly rounded up to 15 significant
digits (CrystFEL writes at most ~10) and within 2 ulp beyond; a malformed row is reported by
index so the caller can name its line.
"""

from __future__ import annotations

import numba
import numpy as np

_POW10 = np.array([10.0**k for k in range(23)])  # exact in float64


@numba.njit(cache=True, nogil=True)
def _is_space(c: int) -> bool:
    return c == 32 or c == 9 or c == 13


@numba.njit(cache=True, nogil=True)
def _parse_number(buf, i, n, pow10):
    """Parse one number starting at buf[i] (no leading space). Returns (value, next index, ok)."""
    start = i
    neg = False
    if i < n and (buf[i] == 45 or buf[i] == 43):  # - +
        neg = buf[i] == 45
        i += 1
    # nan / inf (CrystFEL prints "nan", "-nan", "inf")
    if i < n and ((buf[i] | 32) == 110 or (buf[i] | 32) == 105):  # n i
        j = i
        while j < n and not _is_space(buf[j]) and buf[j] != 10:
            j += 1
        word = 0
        for k in range(i, j):
            word = word * 256 + (buf[k] | 32)
        if word == 0x6E616E:  # nan
            return np.nan, j, True
        if word == 0x696E66 or word == 0x696E66696E697479:  # inf, infinity
            return (-np.inf if neg else np.inf), j, True
        return 0.0, start, False
    mant = 0
    digits = 0  # all digits seen
    sig = 0  # significant digits kept in mant (at most 18, so int64 cannot overflow)
    frac = 0
    while i < n and 48 <= buf[i] <= 57:
        if sig < 18:
            mant = mant * 10 + (buf[i] - 48)
            if mant > 0:
                sig += 1
        else:
            frac -= 1  # digits beyond int64 precision only scale the value
        digits += 1
        i += 1
    if i < n and buf[i] == 46:  # .
        i += 1
        while i < n and 48 <= buf[i] <= 57:
            if sig < 18:
                mant = mant * 10 + (buf[i] - 48)
                frac += 1
                if mant > 0:
                    sig += 1
            digits += 1
            i += 1
    if digits == 0:
        return 0.0, start, False
    exp = 0
    if i < n and (buf[i] == 101 or buf[i] == 69):  # e E
        i += 1
        eneg = False
        if i < n and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        edigits = 0
        while i < n and 48 <= buf[i] <= 57:
            exp = exp * 10 + (buf[i] - 48)
            edigits += 1
            i += 1
        if edigits == 0:
            return 0.0, start, False
        if eneg:
            exp = -exp
    if i < n and not (_is_space(buf[i]) or buf[i] == 10):
        return 0.0, start, False
    scale = exp - frac
    value = float(mant)
    if 0 <= scale <= 22:
        value = value * pow10[scale]
    elif -22 <= scale < 0:
        value = value / pow10[-scale]  # one correctly rounded division
    else:
        value = value * 10.0**scale
    return (-value if neg else value), i, True


@numba.njit(cache=True, nogil=True)
def _at_marker(buf, i, marker):
    if marker.size == 0 or i + marker.size > buf.size:
        return False
    for k in range(marker.size):
        if buf[i + k] != marker[k]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def parse_table(buf, n_num, has_panel, pow10, marker):
    """Rows of `n_num` numbers (+ a panel name when `has_panel`), one per line, blank lines
    skipped, up to a line starting with `marker` (or the end of `buf` when `marker` is empty).

    Returns (values (rows, n_num), name_start, name_end, name_hash, bad_line, bad_at, stop):
    the byte span and 64-bit FNV-1a hash of each row's panel name (so Python decodes each
    distinct name once); the 0-based index and byte offset of the first malformed line (-1, -1
    if none); the byte offset of the marker line (-1 if a marker was given but not found)."""
    n = buf.size
    cap = n // (2 * n_num) + 1  # a row holds at least n_num one-digit numbers and spaces
    values = np.empty((cap, n_num))
    starts = np.empty(cap, np.int64)
    ends = np.empty(cap, np.int64)
    hashes = np.zeros(cap, np.uint64)
    row = 0
    line = 0
    i = 0
    while i < n:
        line_at = i
        if _at_marker(buf, i, marker):
            return values[:row], starts[:row], ends[:row], hashes[:row], -1, -1, i
        while i < n and _is_space(buf[i]):
            i += 1
        if i >= n:
            break
        if buf[i] == 10:  # blank line
            i += 1
            line += 1
            continue
        for col in range(n_num):
            while i < n and _is_space(buf[i]):
                i += 1
            value, i, ok = _parse_number(buf, i, n, pow10)
            if not ok:
                return values[:row], starts[:row], ends[:row], hashes[:row], line, line_at, -1
            values[row, col] = value
        while i < n and _is_space(buf[i]):
            i += 1
        if has_panel:
            s = i
            h = np.uint64(0xCBF29CE484222325)
            while i < n and not _is_space(buf[i]) and buf[i] != 10:
                h = (h ^ np.uint64(buf[i])) * np.uint64(0x100000001B3)
                i += 1
            if i == s:
                return values[:row], starts[:row], ends[:row], hashes[:row], line, line_at, -1
            starts[row] = s
            ends[row] = i
            hashes[row] = h
            while i < n and _is_space(buf[i]):
                i += 1
        if i < n and buf[i] != 10:  # extra tokens
            return values[:row], starts[:row], ends[:row], hashes[:row], line, line_at, -1
        i += 1
        row += 1
        line += 1
    return values[:row], starts[:row], ends[:row], hashes[:row], -1, -1, (n if marker.size == 0 else -1)


@numba.njit(cache=True, nogil=True)
def _name_ids(hashes):
    """Distinct-name id of each row (first-seen order) and the first row of each id, by an
    open-addressing hash table on the names' 64-bit hashes (no sort)."""
    n = hashes.size
    size = 16
    while size < 2 * n:
        size *= 2
    slot_hash = np.zeros(size, np.uint64)
    slot_id = np.full(size, -1, np.int64)
    ids = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    k = 0
    mask = np.uint64(size - 1)
    for r in range(n):
        h = hashes[r]
        j = np.int64(h & mask)
        while slot_id[j] >= 0 and slot_hash[j] != h:
            j = (j + 1) & (size - 1)
        if slot_id[j] < 0:
            slot_hash[j] = h
            slot_id[j] = k
            first[k] = r
            k += 1
        ids[r] = slot_id[j]
    return ids, first[:k]


def parse_table_bytes(
    data: bytes, start: int, end: int, n_num: int, has_panel: bool, names: dict[int, str] | None = None,
    marker: bytes = b"",
) -> tuple[np.ndarray, list[str], int, int]:
    """Parse the table rows in data[start:end] (no copy) up to a line starting with `marker`.

    Returns (values, panel names, bad, stop): `bad` is the absolute offset of the first
    malformed line (-1 if none), `stop` the absolute offset of the marker line (-1 if not
    found). `names` maps name hashes to decoded names; a reader passes the same dict for every
    table so that each panel name of a file is decoded once."""
    buf = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    mark = np.frombuffer(marker, dtype=np.uint8)
    values, starts, ends, hashes, _, bad_at, stop = parse_table(buf, n_num, has_panel, _POW10, mark)
    bad = start + bad_at if bad_at >= 0 else -1
    stop = start + stop if stop >= 0 else -1
    if not has_panel or len(values) == 0:
        return values, [""] * len(values), bad, stop
    if names is None:
        names = {}
    ids, first = _name_ids(hashes)
    distinct = np.empty(len(first), dtype=object)
    for k, (h, s, e) in enumerate(zip(hashes[first].tolist(), starts[first].tolist(), ends[first].tolist())):
        name = names.get(h)
        if name is None:
            name = names[h] = data[start + s : start + e].decode("utf-8", errors="replace")
        distinct[k] = name
    return values, distinct[ids].tolist(), bad, stop
