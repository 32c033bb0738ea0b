"""Indexers behind one interface: the built-in known-cell still indexer and CrystFEL's indexamajig.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "BuiltinConfig": "builtin",
    "BuiltinIndexer": "builtin",
    "CrystFELConfig": "crystfel",
    "CrystFELError": "crystfel",
    "CrystFELIndexer": "crystfel",
    "IndexedCrystal": "base",
    "Indexer": "base",
    "LatticeMatch": "validate",
    "compare_lattices": "validate",
    "index_frames": "batch",
    "make_indexer": "batch",
    "peaks_to_q": "base",
    "distinct_peaks": "base",
    "prediction_rms_px": "base",
    "ray_directions": "base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
