"""The same numbers on every CPU (issue: a dataset version is the same data on every machine).

The simulator, peakfinder8, the data engine and the indexer (and, where shared/real is
present, peakfinder8 and the indexer on the real stills) run here and again in a subprocess
that emulates another CPU: NumPy limited to its baseline kernels (no AVX2,
FMA or AVX-512), numba compiling for a generic x86-64, OpenBLAS on its oldest kernels and
one thread everywhere. Every array must come out bit-identical (`determinism_probe.py`).
CI also reruns every test marked `determinism` (this one, the dataset rebuild against its
manifest, the byte-identity tests of the simulator, renderer and store) under that emulation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from determinism_probe import probe

pytestmark = pytest.mark.determinism

EMULATED_CPU = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR X86_V3",
    "NUMBA_CPU_NAME": "generic",
    "OPENBLAS_CORETYPE": "Prescott",
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


def test_simulator_engine_and_indexer_give_the_same_bits_on_an_emulated_cpu(tmp_path):
    here = probe(n_frames=3)
    out = tmp_path / "emulated.json"
    env = os.environ | EMULATED_CPU | {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    script = Path(__file__).with_name("determinism_probe.py")
    run = subprocess.run([sys.executable, str(script), str(out), "3"], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    there = json.loads(out.read_text())
    assert sorted(there) == sorted(here)
    differ = sorted(k for k in here if here[k] != there[k])
    assert not differ, f"{len(differ)} of {len(here)} arrays differ on the emulated CPU: {differ[:12]}"
