"""CBF binary-section codecs: CBF_PACKED (CCP4/J. P. Abrahams packing) and CBF_BYTE_OFFSET.

fabio decodes byte-offset sections but not the packed ones cctbx.xfel writes for LCLS
detectors, so the packed decoder is ours (written from the published description of the
format: a 6-bit chunk header holding log2(count) and a bit-width code, then `count` signed
offsets of that width, bits read least-significant first; with array dimensions, each
offset is added to the rounded mean of the already-decoded neighbours — left, the three
above, and the same four in the previous section — as CBFlib >= 0.7 does).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaknet_bench.errors import InputError

# Bit widths of the v1 and v2 size codes; 65 means "the element size" (32 bits here).
_V1_BITS = np.array([0, 4, 5, 6, 7, 8, 16, 32], np.int64)
_V2_BITS = np.array([0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 32], np.int64)
PACKED_HEADER_BYTES = 32  # number of elements, min, max, reserved: four little-endian int64


@njit(cache=True, nogil=True, inline="always")
def _get_bits(buf, pos, n):  # pragma: no cover - compiled
    """n <= 32 bits at bit position pos, least significant first (zeros past the end)."""
    byte = pos >> 3
    v = np.int64(0)
    for k in range(5):  # shift (<= 7) + n (<= 32) fits in 5 bytes
        if byte + k < buf.size:
            v |= np.int64(buf[byte + k]) << (8 * k)
    return (v >> (pos & 7)) & ((np.int64(1) << n) - 1)


@njit(cache=True, nogil=True)
def _decode_packed(buf, start, nelem, dimfast, dimmid, v2, avg, table):  # pragma: no cover - compiled
    """Decode into int32; returns (values, n_decoded, bytes_used). Stops early on truncation."""
    out = np.zeros(nelem, np.int32)
    nbits_total = np.int64(buf.size) * 8
    pos = np.int64(start) * 8
    section = dimfast * dimmid
    head_bits = 7 if v2 else 6
    code_mask = 15 if v2 else 7
    i = 0
    while i < nelem:
        if pos + head_bits > nbits_total:
            return out, i, pos // 8
        code = _get_bits(buf, pos, head_bits)
        pos += head_bits
        n = 1 << (code & 7)
        bits = table[(code >> 3) & code_mask]
        if n > nelem - i:
            n = nelem - i
        if bits > 0 and pos + n * bits > nbits_total:
            return out, i, pos // 8
        for _ in range(n):
            off = np.int64(0)
            if bits > 0:
                off = _get_bits(buf, pos, bits)
                pos += bits
                if off >> (bits - 1):  # sign-extend
                    off -= np.int64(1) << bits
            # Predictor: previous value, or (avg) the rounded mean of the decoded neighbours:
            # left and the three above, and the same four one section back (CBFlib's pattern).
            pred = np.int64(0)
            if i > 0:
                if not avg:
                    pred = out[i - 1]
                else:
                    f = i % dimfast
                    m = (i // dimfast) % dimmid
                    back = i >= section
                    if m == 0:
                        pred = out[i - section] if f == 0 else out[i - 1]
                    else:
                        up = i - dimfast
                        if f == 0:
                            total = np.int64(out[up + 1]) + out[up]
                            k = 2
                            if back:
                                total += np.int64(out[up + 1 - section]) + out[up - section]
                                k = 4
                        elif f == dimfast - 1:
                            total = np.int64(out[i - 1]) + out[up]
                            k = 2
                            if back:
                                total += np.int64(out[i - section]) + out[up - section]
                                k = 4
                        else:
                            total = np.int64(out[i - 1]) + out[up + 1] + out[up] + out[up - 1]
                            k = 4
                            if back:
                                total += (np.int64(out[i - section]) + out[up + 1 - section] + out[up - section]
                                          + out[up - 1 - section])
                                k = 8
                        shift = 1 if k == 2 else (2 if k == 4 else 3)
                        pred = (total + (k >> 1)) >> shift  # arithmetic shift, as CBFlib
            out[i] = np.int32((pred + off + (1 << 31)) % (1 << 32) - (1 << 31))
            i += 1
    return out, i, (pos + 7) // 8


def decode_packed(raw: bytes | np.ndarray, shape: tuple[int, ...], *, v2: bool = False, flat: bool = False,
                  source: str | None = None, where: str | None = None) -> np.ndarray:
    """Decode one CBF_PACKED(_V2) binary section (starting at its 32-byte header) to int32 of
    `shape` (slow ... fast). Raises InputError naming `source`/`where` if it ends early."""
    buf = np.frombuffer(raw, np.uint8) if not isinstance(raw, np.ndarray) else raw
    nelem = int(np.prod(shape))
    if buf.size < PACKED_HEADER_BYTES:
        raise InputError(source, where, f"packed section is {buf.size} bytes, shorter than its 32-byte header")
    stored = int(buf[:8].view("<i8")[0])
    if stored != nelem:
        raise InputError(source, where, f"packed section header says {stored} elements, expected {nelem} "
                                        f"(array shape {shape})")
    dimfast = int(shape[-1])
    dimmid = int(shape[-2]) if len(shape) > 1 else 1
    out, n, _ = _decode_packed(buf, PACKED_HEADER_BYTES, nelem, dimfast, dimmid, bool(v2), not flat,
                               _V2_BITS if v2 else _V1_BITS)
    if n != nelem:
        raise InputError(source, where, f"packed section ends after {n} of {nelem} elements; "
                                        "expected a complete CBF_PACKED stream (truncated or corrupt file?)")
    return out.reshape(shape)


def decode_byte_offset(raw: bytes, shape: tuple[int, ...], *, source: str | None = None,
                       where: str | None = None) -> np.ndarray:
    """Decode one CBF_BYTE_OFFSET section (fabio's codec) to int32 of `shape`."""
    from fabio.compression import decByteOffset

    nelem = int(np.prod(shape))
    try:
        out = decByteOffset(raw, size=nelem, dtype="int32")
    except Exception as exc:  # fabio raises assorted errors on corrupt streams
        raise InputError(source, where, f"byte-offset section does not decode ({exc})") from None
    if out.size != nelem:
        raise InputError(source, where, f"byte-offset section holds {out.size} of {nelem} elements "
                                        "(truncated or corrupt file?)")
    return out.reshape(shape)
