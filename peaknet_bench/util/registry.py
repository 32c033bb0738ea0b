"""One name -> item table for every plug-in point (frame readers, indexer backends, peak-finder
kinds): registration in order, a clear error naming the flag for an unknown name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from peaknet_bench.errors import InputError

T = TypeVar("T")


class NameRegistry(Generic[T]):
    """Items by name, in registration order. `flag` names the command-line option an unknown
    name came from (in the error); `on_first_use` runs once before the first look-up (e.g. to
    import the built-in entries lazily)."""

    def __init__(self, kind: str, flag: str | None = None, on_first_use: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.flag = flag
        self._items: dict[str, T] = {}
        self._on_first_use = on_first_use

    def _ready(self) -> None:
        hook, self._on_first_use = self._on_first_use, None
        if hook is not None:
            hook()

    def register(self, name: str, item: T, overwrite: bool = False) -> T:
        if name in self._items and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass overwrite=True to replace it)")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        self._ready()
        if name not in self._items:
            raise InputError(None, self.flag or self.kind,
                             f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        self._ready()
        return list(self._items)

    def items(self) -> list[T]:
        self._ready()
        return list(self._items.values())

    def __contains__(self, name: str) -> bool:
        self._ready()
        return name in self._items
