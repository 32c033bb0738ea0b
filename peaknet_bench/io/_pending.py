"""A temporary file that becomes the real file only when a writer finishes.

Writers that stay open across many calls (CXI, stream) cannot use a `with atomic_path(...)`
block, so they hold a `PendingFile`: `commit()` renames it over the target, `discard()`
(or the writer being garbage-collected without either) deletes it.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from peaknet_bench.util.atomic import make_temp


class PendingFile:
    """Temporary file beside `path` (same directory, so the final rename is atomic on POSIX)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp = make_temp(self.path)  # also removes temporaries of killed writers of this path
        self._finalizer = weakref.finalize(self, self.tmp.unlink, missing_ok=True)

    def commit(self) -> None:
        """Rename the temporary file to the target path."""
        os.replace(self.tmp, self.path)
        self._finalizer.detach()

    def discard(self) -> None:
        """Delete the temporary file (idempotent); the target path is left untouched."""
        self._finalizer()


class AtomicWriterMixin:
    """Context-manager protocol of a writer holding a `PendingFile`: leaving the block normally
    calls `close()` (commit), leaving it by an exception calls `abort()` (discard). The writer
    defines both."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
