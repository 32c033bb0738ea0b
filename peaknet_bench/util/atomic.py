"""Atomic file writes: a run interrupted at any point leaves the old file or the new one.

Temporaries live beside their target as ``.<name>.<pid>.<random>.tmp`` (files) or
``….tmp`` directories (see `peaknet_bench.data.store.atomic_dir`). The creator's process
id in the name lets the next write of the same target remove temporaries whose creator
is gone (killed by SIGKILL or a power cut) without touching those of a live writer.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_prefix(path: str | os.PathLike) -> str:
    """Name prefix of this process's temporaries for `path` (hidden, carries our pid)."""
    return f".{Path(path).name}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike, name_regex: str | None = None) -> list[Path]:
    """Remove temporaries of `path` (files or directories) left by processes that no longer
    run; returns what was removed. Temporaries of live processes are kept. `name_regex`
    (a regular expression for the target's name) covers every target of a family at once,
    e.g. all output files of a run; `path`'s directory is searched."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return []
    name = re.escape(path.name) if name_regex is None else f"(?:{name_regex})"
    # mkstemp's random part has no dots, so a temporary of "x.1.cxi" never matches "x".
    pattern = re.compile(rf"^\.{name}\.(\d+)\.[a-z0-9_]+\.(tmp|old)$")
    removed = []
    for entry in parent.iterdir():
        m = pattern.match(entry.name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # another process cleaned it first
            continue
        removed.append(entry)
    return removed


def make_temp(path: str | os.PathLike, directory: bool = False, suffix: str = ".tmp") -> Path:
    """A new temporary file (or directory) beside `path`, named so that a later write of
    `path` can tell it is stale; stale temporaries of `path` are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    if directory:
        return Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    The temporary file lives in the same directory so the final rename is atomic on POSIX.
    Stale temporaries of `path` from killed processes are removed first.
    """
    path = Path(path)
    tmp_path = make_temp(path)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
