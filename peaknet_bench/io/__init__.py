"""Detector and CrystFEL files: one way in for frames (`open_frames`: miniCBF, imgCIF, NeXus/NXmx,
CXI), CXI peak lists, CrystFEL streams.

The +0.5 half-pixel shift of CrystFEL's coordinate convention is applied in
`peaknet_bench.io.stream` (and nowhere else); CXI peak lists hold the package convention
because CrystFEL shifts them itself on read.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "CXIReader": "cxi",
    "CXIWriter": "cxi",
    "FrameReader": "frames",
    "FrameSet": "frames",
    "geometry_from": "frames",
    "READERS": "frames",
    "open_frames": "frames",
    "open_reader": "frames",
    "register_reader": "frames",
    "StreamChunk": "stream",
    "StreamCrystal": "stream",
    "StreamReader": "stream",
    "StreamReflections": "stream",
    "StreamWriter": "stream",
    "iter_stream": "stream",
    "write_peaks_cxi": "cxi",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
