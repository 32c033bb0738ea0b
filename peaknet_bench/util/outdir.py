"""Claiming an output directory, so that two runs never write into one directory at once.

A run that writes many files into a directory (inference, the data engine) holds an
exclusive `fcntl.flock` on ``<dir>/.peaknet-bench.lock`` for as long as it writes (the
file is removed when the run ends). The kernel drops the lock when the process ends in
any way (SIGKILL included), so a lock is never stale; a second writer is refused at once
with an error naming the holder.

While a run writes, the directory also holds an ``INCOMPLETE`` marker (JSON: what runs
there); the run removes it only when it finishes, so an interrupted directory says so
(and `infer --resume` can finish it).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import write_text_atomic

LOCK_NAME = ".peaknet-bench.lock"
INCOMPLETE_NAME = "INCOMPLETE"


class OutputClaim:
    """Exclusive claim of an output directory (a context manager; `release()` ends it)."""

    def __init__(self, directory: str | os.PathLike, what: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path = path = self.directory / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise InputError(str(self.directory), None,
                                 f"another run is writing to this directory ({holder}); wait for it to finish "
                                 "or choose another output directory") from None
            except OSError as exc:  # e.g. ENOLCK: a network filesystem without lock support
                os.close(fd)
                raise InputError(str(self.directory), None,
                                 f"cannot lock the output directory ({exc.strerror}), so a second run writing here "
                                 "could not be refused; write to a local or lock-capable filesystem") from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder released and removed this lock file meanwhile: take the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what}, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  .encode(), 0)
        self._fd: int | None = fd

    def mark_incomplete(self, info: dict[str, Any]) -> None:
        """Record that a run is writing here (removed by `mark_complete`)."""
        write_text_atomic(self.directory / INCOMPLETE_NAME, json.dumps(info, indent=1, default=str) + "\n")

    def incomplete(self) -> dict[str, Any] | None:
        """The marker of an earlier run that did not finish, or None."""
        return read_incomplete(self.directory)

    def mark_complete(self) -> None:
        (self.directory / INCOMPLETE_NAME).unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            self._path.unlink(missing_ok=True)  # while still locked: a waiting claimant re-checks the inode
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> "OutputClaim":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_incomplete(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The INCOMPLETE marker of `directory` (None when the last run there finished)."""
    path = Path(directory) / INCOMPLETE_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
