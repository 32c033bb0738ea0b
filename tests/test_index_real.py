"""The built-in indexer on real stills (shared/real/), judged against DIALS 3.12.

Twice per image: from DIALS' own strong spots (isolates the indexer) and from our peakfinder8
peaks at detector-appropriate settings. Every hit DIALS indexes must index, with lattice 1 in
DIALS' lattice (integer-matrix test) and oriented within 0.2° of it, a cell within 0.5 % of
DIALS' and exactly symmetric; the split crystal thau_3_2_0004 must give DIALS' second lattice
too; the blank indexes nothing. DIALS' A matrix is in its lab frame (beam along −z): ours is
diag(−1, 1, −1) · A. Measured (DIALS spots / pf8 peaks): lattice 1 within 0.05-0.12°, cells
within 0.1 % of DIALS'.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.crystal import UnitCell
from peaknet_bench.frame import PeakList
from peaknet_bench.index import BuiltinConfig, BuiltinIndexer, compare_lattices

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
if not REAL.exists():
    REAL = Path("/work/shared/real")
pytestmark = pytest.mark.skipif(not (REAL / "dials" / "summary.json").exists(),
                                reason="shared/real (real stills + DIALS reference) not present")

FILES = {
    "thau_3_2_0001": "thau_3_2_0001.cbf.bz2",
    "thau_3_2_0004": "thau_3_2_0004.cbf.bz2",
    "thau_3_2_0016": "thau_3_2_0016.cbf.bz2",
    "idx-20130301060858401": "idx-20130301060858401.cbf",
}
HITS = ["thau_3_2_0001", "thau_3_2_0004", "idx-20130301060858401"]
THAUMATIN = UnitCell(58.6, 58.6, 151.5, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 41 21 2")
THERMOLYSIN = UnitCell(92.9, 92.9, 130.4, 90, 90, 120, "hexagonal", unique_axis="c", space_group="P 61 2 2")
# peakfinder8 settings that find > 95 % of DIALS' spots (tests/test_io_real_formats.py)
PF8 = {"pilatus": {"threshold": 10, "min_snr": 5, "min_pix_count": 2},
       "cspad": {"threshold": 100, "min_snr": 5, "min_pix_count": 2}}


def _cell(name: str) -> UnitCell:
    return THERMOLYSIN if name.startswith("idx") else THAUMATIN


@lru_cache(maxsize=None)
def _frame(name: str):
    from peaknet_bench.io.frames import open_frames

    return open_frames(REAL / "cbf" / FILES[name]).frame(0)


@lru_cache(maxsize=None)
def _reference():
    from peaknet_bench.index.reference import DialsReference

    return DialsReference(REAL / "dials")


def _summary(name: str) -> dict:
    return _reference().summary(name)


def _dials_lattices(name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(real basis in our lab frame, DIALS' cell) of every DIALS lattice."""
    return _reference().lattices(name)


@lru_cache(maxsize=None)
def _dials_spots(name: str) -> PeakList:
    """DIALS' strong spots in our convention (pixel centres at integers, slab coordinates)."""
    return _reference().spots(name, _frame(name).geometry)


@lru_cache(maxsize=None)
def _pf8_peaks(name: str) -> PeakList:
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8, Peakfinder8Params

    frame = _frame(name)
    settings = PF8["cspad" if name.startswith("idx") else "pilatus"]
    cols = Peakfinder8(Peakfinder8Params(**settings), frame.geometry).find_arrays(frame.data, frame.mask)
    return PeakList(fs=cols["fs"], ss=cols["ss"], panel=cols["panel"], intensity=cols["intensity"])


def _peaks(source: str, name: str) -> PeakList:
    return _dials_spots(name) if source == "dials" else _pf8_peaks(name)


@lru_cache(maxsize=None)
def _index(source: str, name: str, clen_scale: float = 1.0):
    frame = _frame(name)
    indexer = BuiltinIndexer(_cell(name))
    return indexer.index(_peaks(source, name), frame.geometry, frame.photon_energy_ev, frame.clen_m * clen_scale)


def _symmetry_true(cell: UnitCell) -> bool:
    a, b, c, al, be, ga = cell.parameters
    gamma = 120.0 if cell.lattice_type == "hexagonal" else 90.0
    return a == b and (al, be, ga) == (90.0, 90.0, gamma)


@pytest.mark.parametrize("source", ["dials", "pf8"])
@pytest.mark.parametrize("name", HITS)
def test_every_dials_hit_indexes_in_dials_lattice(source, name):
    found = _index(source, name)
    assert found, f"{name} ({source} peaks) not indexed"
    (ref_real, ref_cell), *_ = _dials_lattices(name)
    first = found[0]
    match = compare_lattices(first.crystal.real_basis(), ref_real)
    assert match.max_deviation <= 0.1 and abs(match.determinant) == 1, match
    assert match.misorientation_deg <= 0.2, f"{name} ({source}): {match.misorientation_deg:.3f}° from DIALS' lattice 1"
    cell = first.cell
    assert _symmetry_true(cell), cell.parameters
    # DIALS' cell and ours in the same setting: compare sorted lengths
    assert np.allclose(sorted(cell.parameters[:3]), sorted(ref_cell[:3]), rtol=0.005), (cell.parameters, ref_cell)
    assert first.meta["significance"] >= BuiltinConfig().min_significance
    assert first.n_inliers >= 0.5 * _summary(name)["n_indexed_spots"]


@pytest.mark.parametrize("source", ["dials", "pf8"])
def test_split_crystal_gives_further_lattices(source):
    """thau_3_2_0004 is a split crystal (DIALS: a second lattice 0.64° from the first). Further
    lattices are kept when they explain a significant number of peaks of their own and lie at
    least min_domain_deg from every earlier one; all are symmetry-true."""
    name = "thau_3_2_0004"
    found = _index(source, name)
    (l1, _), (l2, _) = _dials_lattices(name)
    assert len(found) >= 2
    assert compare_lattices(found[0].crystal.real_basis(), l1).misorientation_deg < 0.2  # DIALS' first is our first
    reals = [f.crystal.real_basis() for f in found]
    for i in range(1, len(found)):
        assert min(compare_lattices(reals[i], reals[j]).misorientation_deg for j in range(i)) >= BuiltinConfig().min_domain_deg
        assert found[i].meta["new_evidence"] >= BuiltinConfig().min_inliers
    assert all(_symmetry_true(f.cell) for f in found)


@pytest.mark.parametrize("source", ["dials", "pf8"])
def test_split_crystal_second_dials_lattice(source):
    """DIALS' second lattice is among ours (measured: 0.26° from DIALS' spots, 0.24° from pf8
    peaks). The rotation between the domains is mostly about axes across the beam, which a still
    shows only through which reflections are excited, so DIALS' own second lattice (refined on
    the spots its first one left) is uncertain at this level; our further lattices keep the
    first one's refined cell within 0.5 %."""
    found = _index(source, "thau_3_2_0004")
    (_, _), (l2, _) = _dials_lattices("thau_3_2_0004")
    matches = [compare_lattices(f.crystal.real_basis(), l2) for f in found[1:]]
    best = min((m for m in matches if m.max_deviation <= 0.1 and abs(m.determinant) == 1),
               key=lambda m: m.misorientation_deg)
    assert best.misorientation_deg <= 0.3, [round(m.misorientation_deg, 3) for m in matches]
    first = found[0].cell.parameters
    assert all(abs(f.cell.parameters[2] / first[2] - 1) <= BuiltinConfig().further_cell_change + 1e-12 for f in found[1:])


@pytest.mark.parametrize("source", ["dials", "pf8"])
def test_blank_indexes_nothing(source):
    assert _index(source, "thau_3_2_0016") == []


@pytest.mark.parametrize("clen_scale", [0.99, 1.01])
def test_detector_distance_off_by_one_percent(clen_scale):
    """A 1 % distance error scales q, which a refined cell absorbs (DIALS' thaumatin cells are
    0.3-0.6 % off nominal for this reason): the lattice and its orientation stay."""
    for name in ("thau_3_2_0001", "idx-20130301060858401"):
        found = _index("pf8", name, clen_scale)
        assert found, name
        match = compare_lattices(found[0].crystal.real_basis(), _dials_lattices(name)[0][0])
        assert match.max_deviation <= 0.1 and match.misorientation_deg <= 0.3, (name, match)
