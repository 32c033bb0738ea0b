"""Peak finders behind one `PeakFinder` interface (peakfinder8, models, precomputed lists, the
oracle), chosen by `--method` through the kind registry of `methods`, and `find_peaks_in_files`.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "FINDER_KINDS": "methods",
    "FinderKind": "methods",
    "FinderResult": "base",
    "MethodSpec": "methods",
    "PerGeometryFinder": "per_geometry",
    "PeakFinder": "base",
    "Peakfinder8": "peakfinder8",
    "Peakfinder8Params": "peakfinder8",
    "RadialLayout": "peakfinder8",
    "build_finder": "methods",
    "find_peaks_in_files": "files",
    "parse_method": "methods",
    "pf8_method": "methods",
    "register_finder_kind": "methods",
    "run_finder": "base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
