"""Indexers behind one interface: the built-in known-cell still indexer and CrystFEL's indexamajig."""

from peaknet_bench.index.base import IndexedCrystal, Indexer, peaks_to_q, prediction_rms_px, ray_directions
from peaknet_bench.index.batch import index_frames, make_indexer
from peaknet_bench.index.builtin import BuiltinConfig, BuiltinIndexer
from peaknet_bench.index.crystfel import CrystFELConfig, CrystFELError, CrystFELIndexer
from peaknet_bench.index.validate import LatticeMatch, compare_lattices

__all__ = [
    "BuiltinConfig", "BuiltinIndexer", "CrystFELConfig", "CrystFELError", "CrystFELIndexer", "IndexedCrystal",
    "Indexer", "LatticeMatch", "compare_lattices", "index_frames", "make_indexer", "peaks_to_q",
    "prediction_rms_px", "ray_directions",
]
