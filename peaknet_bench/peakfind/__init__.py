"""Classic peak finders (peakfinder8) behind the `PeakFinder` interface the networks share.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "FinderResult": "base",
    "PeakFinder": "base",
    "Peakfinder8": "peakfinder8",
    "Peakfinder8Params": "peakfinder8",
    "RadialLayout": "peakfinder8",
    "run_finder": "base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
