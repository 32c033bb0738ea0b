"""A DIALS reference for real stills (shared/real/dials/): moved to `peaknet_bench.io.spots`.

`DialsReference` (strong spots, panel names, lattices of ``summary.json``) is now one of the
registered reference spot-list formats there (``dials-csv``, beside DIALS ``.refl`` tables and
CrystFEL streams); this name stays for the code that imports it from here.
"""

from __future__ import annotations

from peaknet_bench.io.spots import FLIP, DialsReference

__all__ = ["FLIP", "DialsReference"]
