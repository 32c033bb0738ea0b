"""Versioned datasets: the Zarr store, manifests, download, PyTorch and Hugging Face access.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "CrystalTable": "store",
    "FrameRecord": "store",
    "LoaderConfig": "torch_dataset",
    "PeakNetDataset": "torch_dataset",
    "Recipe": "manifest",
    "Store": "store",
    "StoreWriter": "store",
    "build_dataset": "build",
    "export_hf": "hf",
    "fetch": "download",
    "import_hf": "hf",
    "load_recipe": "manifest",
    "read_manifest": "manifest",
    "verify_dir": "manifest",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
