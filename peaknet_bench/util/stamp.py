"""Content stamps of files: size, modification time and sha256.

A stamp answers "is this still the file I saw?" cheaply: when size and mtime are those
recorded, the recorded sha256 is trusted; any change of either re-hashes the file. So a
resumed run, or a cached download, notices a replaced or edited file without paying a
full hash on every call — and a full check is one `verify=True` away.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

_BLOCK = 1 << 22


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def file_stamp(path: str | os.PathLike, known: dict[str, Any] | None = None, verify: bool = False) -> dict[str, Any]:
    """{"size", "mtime_ns", "sha256"} of `path`. The sha256 of `known` (an earlier stamp) is
    reused when size and mtime still match it, unless `verify`."""
    st = Path(path).stat()
    stamp = {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}
    if (not verify and known and known.get("sha256") and known.get("size") == stamp["size"]
            and known.get("mtime_ns") == stamp["mtime_ns"]):
        return {**stamp, "sha256": known["sha256"]}
    return {**stamp, "sha256": sha256_file(path)}
