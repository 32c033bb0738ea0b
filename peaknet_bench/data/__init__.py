"""Versioned datasets: the Zarr store, manifests, download, PyTorch and Hugging Face access.

Light names are imported eagerly; `PeakNetDataset` (torch) and the Hugging Face functions
(`datasets`) load on first use so that `import peaknet_bench.data` stays fast.
"""

from __future__ import annotations

from typing import Any

from peaknet_bench.data.download import fetch
from peaknet_bench.data.manifest import Recipe, load_recipe, read_manifest, verify_dir
from peaknet_bench.data.store import CrystalTable, FrameRecord, Store, StoreWriter

_LAZY = {
    "PeakNetDataset": "peaknet_bench.data.torch_dataset",
    "LoaderConfig": "peaknet_bench.data.torch_dataset",
    "export_hf": "peaknet_bench.data.hf",
    "import_hf": "peaknet_bench.data.hf",
    "build_dataset": "peaknet_bench.data.build",
}

__all__ = ["CrystalTable", "FrameRecord", "Recipe", "Store", "StoreWriter", "fetch", "load_recipe",
           "read_manifest", "verify_dir", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'peaknet_bench.data' has no attribute {name!r}")
