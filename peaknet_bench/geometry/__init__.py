"""Detector geometry: the CrystFEL model, presets, transforms and assembly."""

from __future__ import annotations

import os
from pathlib import Path

from peaknet_bench.errors import InputError
from peaknet_bench.geometry.assemble import Assembler
from peaknet_bench.geometry.crystfel_geom import format_geom, parse_geom_text, read_geom, write_geom
from peaknet_bench.geometry.model import BadRegion, Geometry, Panel, lab_to_q
from peaknet_bench.geometry.presets import PRESETS, preset


def load_geometry(name_or_path: str | os.PathLike) -> Geometry:
    """A geometry from a preset name (see PRESETS) or a CrystFEL `.geom` file path."""
    text = str(name_or_path)
    if text in PRESETS:
        return preset(text)
    if Path(text).is_file():
        return read_geom(text)
    raise InputError(text, None, f"not a detector preset {sorted(PRESETS)} nor an existing .geom file")


__all__ = [
    "Assembler", "BadRegion", "Geometry", "Panel", "PRESETS", "format_geom", "lab_to_q", "load_geometry",
    "parse_geom_text", "preset", "read_geom", "write_geom",
]
