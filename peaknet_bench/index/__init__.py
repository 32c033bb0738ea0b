"""Indexers behind one interface and one registry: the built-in known-cell still indexer,
CrystFEL's indexamajig and DIALS' dials.index (see registry.py).

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "BuiltinConfig": "config",
    "BuiltinIndexer": "builtin",
    "CrystFELConfig": "crystfel",
    "CrystFELError": "crystfel",
    "CrystFELIndexer": "crystfel",
    "DialsConfig": "dials",
    "DialsError": "dials",
    "DialsIndexer": "dials",
    "IndexedCrystal": "base",
    "IndexerBackend": "registry",
    "Indexer": "base",
    "LatticeMatch": "validate",
    "compare_lattices": "validate",
    "index_files": "files",
    "index_frames": "batch",
    "indexer_names": "registry",
    "make_indexer": "registry",
    "register_indexer": "registry",
    "peaks_to_q": "base",
    "distinct_peaks": "base",
    "prediction_rms_px": "base",
    "ray_directions": "base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
