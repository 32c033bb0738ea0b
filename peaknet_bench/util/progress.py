"""Progress bars on stderr (so --json output on stdout stays clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", disable: bool | None = None) -> Iterator[T]:
    """Wrap an iterable in a tqdm bar on stderr; hidden automatically when stderr is not a terminal
    unless `disable=False` is given."""
    if disable is None:
        disable = not sys.stderr.isatty()
    return iter(tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, dynamic_ncols=True))


def bar(total: int | None, desc: str = "", disable: bool | None = None) -> tqdm:
    """A manual progress bar (call .update(n)); same display rules as `progress`."""
    if disable is None:
        disable = not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=disable, dynamic_ncols=True)
