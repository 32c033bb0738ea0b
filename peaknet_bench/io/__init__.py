"""CrystFEL-compatible files: CXI frames and peak lists, CrystFEL streams.

The +0.5 half-pixel shift of CrystFEL's coordinate convention is applied in
`peaknet_bench.io.stream` (and nowhere else); CXI peak lists hold the package convention
because CrystFEL shifts them itself on read.
"""

from peaknet_bench.io.cxi import CXIReader, CXIWriter, write_peaks_cxi
from peaknet_bench.io.stream import (
    StreamChunk,
    StreamCrystal,
    StreamReader,
    StreamReflections,
    StreamWriter,
    iter_stream,
)

__all__ = [
    "CXIReader",
    "CXIWriter",
    "StreamChunk",
    "StreamCrystal",
    "StreamReader",
    "StreamReflections",
    "StreamWriter",
    "iter_stream",
    "write_peaks_cxi",
]
