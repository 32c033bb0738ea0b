"""Detector geometry: the CrystFEL model, presets, transforms and assembly."""

from peaknet_bench.geometry.assemble import Assembler
from peaknet_bench.geometry.model import BadRegion, Geometry, Panel, lab_to_q
from peaknet_bench.geometry.presets import PRESETS, preset

__all__ = ["Assembler", "BadRegion", "Geometry", "Panel", "PRESETS", "lab_to_q", "preset"]
