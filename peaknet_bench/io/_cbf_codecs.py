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


@njit(cache=True)
def _decode_packed(buf, start, nelem, dimfast, dimmid, v2, avg, table):  # pragma: no cover - compiled
    """Decode into int32; returns (values, n_decoded, bytes_used). Stops early on truncation."""
    out = np.zeros(nelem, np.int32)
    nbits_total = buf.size * 8
    pos = start * 8  # bit position
    section = dimfast * dimmid
    head_bits = 7 if v2 else 6
    count = 0
    while count < nelem:
        if pos + head_bits > nbits_total:
            return out, count, pos // 8
        code = 0
        for b in range(head_bits):
            p = pos + b
            code |= ((buf[p >> 3] >> (p & 7)) & 1) << b
        pos += head_bits
        n = 1 << (code & 7)
        bits = table[(code >> 3) & (15 if v2 else 7)]
        if n > nelem - count:
            n = nelem - count
        if bits > 0 and pos + n * bits > nbits_total:
            return out, count, pos // 8
        for _ in range(n):
            off = np.int64(0)
            if bits > 0:
                for b in range(bits):
                    p = pos + b
                    off |= np.int64((buf[p >> 3] >> (p & 7)) & 1) << b
                pos += bits
                if off >> (bits - 1):  # sign-extend
                    off -= np.int64(1) << bits
            i = count
            # Predictor: the previous value, or (avg) the rounded mean of decoded neighbours.
            pred = np.int64(0)
            if i > 0:
                if not avg:
                    pred = out[i - 1]
                else:
                    f = i % dimfast
                    m = (i // dimfast) % dimmid
                    sl = i // section
                    total = np.int64(0)
                    k = 0
                    if m == 0:
                        if f == 0:
                            total += out[i - section]
                            k = 1
                        else:
                            total += out[i - 1]
                            k = 1
                    else:
                        idx = np.empty(4, np.int64)
                        nidx = 0
                        if f > 0:
                            idx[nidx] = i - 1
                            nidx += 1
                        if f < dimfast - 1:
                            idx[nidx] = i - dimfast + 1
                            nidx += 1
                        idx[nidx] = i - dimfast
                        nidx += 1
                        if 0 < f < dimfast - 1:
                            idx[nidx] = i - dimfast - 1
                            nidx += 1
                        for t in range(nidx):
                            total += out[idx[t]]
                        k = nidx
                        if sl > 0:
                            for t in range(nidx):
                                total += out[idx[t] - section + (1 if idx[t] == i - 1 else 0)]
                            k *= 2
                    half = k >> 1
                    if half == 0:
                        pred = total
                    else:
                        shift = 1 if half == 1 else (2 if half == 2 else 3)
                        pred = (total + half) >> shift  # arithmetic shift, as CBFlib
            out[i] = np.int32((pred + off + (1 << 31)) % (1 << 32) - (1 << 31))
            count += 1
    return out, count, (pos + 7) // 8


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
