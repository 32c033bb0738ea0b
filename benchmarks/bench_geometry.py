"""Geometry speed.

Targets (issue 2): slab -> assembled image for an Epix10ka2M frame <= 5 ms. Also measured:
assembled -> slab, building the Assembler (pixel maps), the gather path of a tilted
detector, and parsing a 64-panel CrystFEL geometry file.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.geometry import Assembler, parse_geom_text, preset

GEOM = Path(__file__).parent.parent / "tests" / "data" / "geom" / "epix10ka2m_mfx.geom"


@pytest.fixture(scope="module")
def epix():
    g = preset("epix10k2m")
    asm = Assembler(g)
    slab = np.random.default_rng(0).random(g.slab_shape, dtype=np.float32)
    return g, asm, slab


def test_assemble_epix10k2m(benchmark, epix):
    """Target: <= 5 ms per frame (fresh output array each call)."""
    _, asm, slab = epix
    image = benchmark(asm.assemble, slab)
    assert image.shape == asm.shape


def test_assemble_epix10k2m_preallocated(benchmark, epix):
    """Same with a reused output array (`out=`), as an inference loop does."""
    _, asm, slab = epix
    out = np.empty(asm.shape, np.float32)
    benchmark(asm.assemble, slab, out=out)


def test_disassemble_epix10k2m(benchmark, epix):
    _, asm, slab = epix
    image = asm.assemble(slab)
    back = benchmark(asm.disassemble, image)
    assert back.shape == slab.shape


def test_assembler_construction_epix10k2m(benchmark, epix):
    """Was 1-2 s with whole-detector NaN maps; now per-panel analytic blocks."""
    g, _, _ = epix
    benchmark(Assembler, g)


def test_assemble_tilted_epix_gather(benchmark):
    t = math.radians(0.6)
    g = preset("epix10k2m")
    tilted = [replace(p, fs=(p.fs[0] * math.cos(t), p.fs[1] * math.cos(t), math.sin(t))) for p in g.panels]
    g = replace(g, panels=tilted)
    asm = Assembler(g)
    slab = np.random.default_rng(0).random(g.slab_shape, dtype=np.float32)
    benchmark(asm.assemble, slab)


def test_parse_epix_geom_file(benchmark):
    text = GEOM.read_text()
    g = benchmark(parse_geom_text, text)
    assert g.n_panels == 64
