"""`load_geometry`: one entry point for presets and CrystFEL files."""

from __future__ import annotations

import os
from pathlib import Path

from peaknet_bench.errors import InputError
from peaknet_bench.geometry.crystfel_geom import read_geom
from peaknet_bench.geometry.model import Geometry
from peaknet_bench.geometry.presets import PRESETS, preset


def load_geometry(name_or_path: str | os.PathLike) -> Geometry:
    """A geometry from a preset name (see PRESETS) or a CrystFEL `.geom` file path."""
    text = str(name_or_path)
    if text in PRESETS:
        return preset(text)
    if Path(text).is_file():
        return read_geom(text)
    raise InputError(text, None, f"not a detector preset {sorted(PRESETS)} nor an existing .geom file")
