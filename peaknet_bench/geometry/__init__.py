"""Detector geometry: the CrystFEL model, presets, transforms and assembly.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "Assembler": "assemble",
    "BadRegion": "model",
    "Geometry": "model",
    "PRESETS": "presets",
    "Panel": "model",
    "format_geom": "crystfel_geom",
    "lab_to_q": "model",
    "load_geometry": "load",
    "parse_geom_text": "crystfel_geom",
    "preset": "presets",
    "read_geom": "crystfel_geom",
    "write_geom": "crystfel_geom",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
