"""Indexer backends by name (shaped like the model registry): builtin, crystfel, dials.

A backend is registered once with its config dataclass; every command that indexes picks one by
name and passes options that become that config::

    from peaknet_bench.index import make_indexer, indexer_names
    indexer = make_indexer("dials", cell, cores=4)            # DialsConfig(cores=4)

    register_indexer(IndexerBackend("mine", "my indexer", "my_pkg.index:MyIndexer", "my_pkg.index:MyConfig"))

Classes are named as "module:attribute" strings and imported on first use, so that listing the
backends (the CLI's --indexer choices) loads neither numba nor a subprocess wrapper.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from peaknet_bench.errors import InputError
from peaknet_bench.util.registry import NameRegistry


@dataclass(frozen=True)
class IndexerBackend:
    """One indexing backend: how to build it and what it needs."""

    name: str
    description: str
    indexer: str  # "module:Class", Class(cell, config)
    config: str  # "module:ConfigDataclass"
    needs: str = ""  # what must be installed, for the error when it is not

    def load(self, ref: str) -> Any:
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def config_type(self) -> type:
        return self.load(self.config)


INDEXERS: NameRegistry[IndexerBackend] = NameRegistry("indexer", flag="--indexer")


def register_indexer(backend: IndexerBackend, overwrite: bool = False) -> None:
    """Add a backend; its class is built as Class(cell, Config(**options))."""
    INDEXERS.register(backend.name, backend, overwrite)


def indexer_names() -> list[str]:
    return INDEXERS.names()


def make_indexer(name: str, cell, **options):
    """An indexer by name; `options` are fields of its config (unknown ones are an InputError)."""
    backend = INDEXERS.get(name)
    config_type = backend.config_type()
    known = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(None, f"{name} indexer options",
                         f"unknown option(s) {', '.join(unknown)}; {config_type.__name__} has {', '.join(sorted(known))}")
    return backend.load(backend.indexer)(cell, config_type(**options))


def require_available(indexer) -> None:
    """Raise an InputError naming what to install when a backend's program is missing."""
    available = getattr(indexer, "available", None)
    if available is not None and not available():
        backend = INDEXERS.get(indexer.name)
        raise InputError(None, f"--indexer {indexer.name}", f"{backend.needs} or use --indexer builtin")


register_indexer(IndexerBackend(
    "builtin", "built-in known-cell still indexer (always available)",
    "peaknet_bench.index.builtin:BuiltinIndexer", "peaknet_bench.index.config:BuiltinConfig"))
register_indexer(IndexerBackend(
    "crystfel", "CrystFEL indexamajig (xgandalf, asdf, mosflm, ...)",
    "peaknet_bench.index.crystfel:CrystFELIndexer", "peaknet_bench.index.crystfel:CrystFELConfig",
    needs="indexamajig is not on PATH: install CrystFEL"))
register_indexer(IndexerBackend(
    "dials", "DIALS dials.index, stills indexer with the known symmetry",
    "peaknet_bench.index.dials:DialsIndexer", "peaknet_bench.index.dials:DialsConfig",
    needs="dials.index is not on PATH: install DIALS (Debian: apt-get install dials)"))
