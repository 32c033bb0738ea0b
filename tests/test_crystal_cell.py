"""Unit cells, absences, .cell files, PDB CRYST1 and orientations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.crystal import (
    Crystal,
    UnitCell,
    cell_from_pdb,
    format_cell,
    parse_cell_text,
    random_rotation,
    read_cell_file,
    write_cell_file,
)
from peaknet_bench.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PDB_DIR = REPO.parent / "shared" / "data" / "pdb"
needs_pdb = pytest.mark.skipif(not PDB_DIR.is_dir(), reason=f"reference PDB files not found at {PDB_DIR} (shared/ beside the repo)")


def test_bases_are_dual_and_in_standard_setting():
    cell = UnitCell(51.2, 62.3, 73.4, 81.0, 97.0, 104.0)
    real, recip = cell.real_basis(), cell.reciprocal_basis()
    np.testing.assert_allclose(real @ recip.T, np.eye(3), atol=1e-12)
    assert real[0, 1] == real[0, 2] == real[1, 2] == 0.0  # a along x, b in the xy plane
    assert abs(np.linalg.det(real) - cell.volume) < 1e-6 * cell.volume
    np.testing.assert_allclose(UnitCell.from_real_basis(real).parameters, cell.parameters, atol=1e-9)


def test_orthorhombic_reciprocal_lengths():
    cell = UnitCell(40.07, 70.90, 91.10, 90, 90, 90, "orthorhombic")
    np.testing.assert_allclose(np.linalg.norm(cell.reciprocal_basis(), axis=1), [1 / 40.07, 1 / 70.90, 1 / 91.10])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(lattice_type="trigonal"), "lattice_type"),
        (dict(centering="Q"), "centering"),
        (dict(space_group="not a group"), "space_group"),
    ],
)
def test_bad_cell_fields(kwargs, field):
    with pytest.raises(InputError) as err:
        UnitCell(10, 10, 10, 90, 90, 90, **kwargs)
    assert err.value.where == field


def test_impossible_angles_rejected():
    with pytest.raises(InputError):
        UnitCell(10, 10, 10, 170, 170, 20)
    with pytest.raises(InputError):
        UnitCell(-1, 10, 10, 90, 90, 90)


def test_lattice_consistency_check():
    UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal").check_lattice()
    UnitCell(94, 94, 131, 90, 90, 120, "hexagonal", unique_axis="c").check_lattice()
    UnitCell(50, 60, 70, 90, 105, 90, "monoclinic", unique_axis="b").check_lattice()
    with pytest.raises(InputError):
        UnitCell(79.1, 70.0, 37.9, 90, 90, 90, "tetragonal").check_lattice()
    with pytest.raises(InputError):
        UnitCell(50, 60, 70, 95, 105, 90, "monoclinic", unique_axis="b").check_lattice()


def test_centering_absences():
    hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0], [0, 0, 0], [1, 0, 1], [-1, 2, 0]])
    absent = {c: UnitCell(10, 10, 10, 90, 90, 90, centering=c).is_absent(hkl).tolist() for c in "PICFH"}
    assert absent["P"] == [False, False, False, False, True, False, False]
    assert absent["I"] == [True, False, True, False, True, False, True]
    assert absent["C"] == [True, False, False, False, True, True, True]
    assert absent["F"] == [True, True, False, False, True, True, True]
    # obverse rhombohedral on hexagonal axes: -h + k + l = 3n
    assert absent["H"] == [True, False, True, True, True, False, False]


@pytest.mark.parametrize("symbol", ["P 43 21 2", "P 61 2 2", "P 21 21 21", "C 1 2 1", "I 41/a", "F d -3 m", "R 3", "P 1 21 1"])
def test_space_group_absences_match_gemmi(symbol):
    gemmi = pytest.importorskip("gemmi")
    hkl = np.random.default_rng(3).integers(-7, 8, size=(600, 3))
    hkl = np.concatenate([hkl, np.array([[0, 0, l] for l in range(1, 13)] + [[h, 0, 0] for h in range(1, 7)])])
    ours = UnitCell(50, 50, 50, 90, 90, 90, space_group=symbol).is_absent(hkl)
    ops = gemmi.SpaceGroup(symbol).operations()
    ref = np.array([ops.is_systematically_absent([int(x) for x in h]) or not np.any(h) for h in hkl])
    np.testing.assert_array_equal(ours, ref)


def test_screw_axis_absences_lysozyme():
    cell = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", space_group="P 43 21 2")
    l_axis = np.array([[0, 0, l] for l in range(1, 9)])
    assert cell.is_absent(l_axis).tolist() == [l % 4 != 0 for l in range(1, 9)]
    h_axis = np.array([[h, 0, 0] for h in range(1, 5)])
    assert cell.is_absent(h_axis).tolist() == [True, False, True, False]


def test_cell_file_round_trip(tmp_path):
    cell = UnitCell(40.07, 70.90, 91.10, 90, 90, 90, "orthorhombic", space_group="P 21 21 21")
    path = tmp_path / "target.cell"
    write_cell_file(cell, path)
    text = path.read_text()
    assert text.startswith("CrystFEL unit cell file version 1.0")
    assert "a = 40.0700 A" in text and "ga = 90.0000 deg" in text
    assert read_cell_file(path) == cell


def test_cell_file_units_and_comments():
    text = (
        "CrystFEL unit cell file version 1.0\n; lysozyme\nlattice_type = tetragonal\ncentering = P\n"
        "unique_axis = c\na = 7.91 nm\nb = 7.91 nm\nc = 3.79 nm ; short axis\nal = 90 deg\nbe = 90 deg\nga = 90 deg\n"
    )
    cell = parse_cell_text(text)
    np.testing.assert_allclose(cell.parameters, (79.1, 79.1, 37.9, 90, 90, 90))
    assert (cell.lattice_type, cell.centering, cell.unique_axis) == ("tetragonal", "P", "c")


def test_cell_file_errors_name_file_and_field(tmp_path):
    good = format_cell(UnitCell(40, 50, 60, 90, 90, 90, "orthorhombic"))
    missing = tmp_path / "missing.cell"
    missing.write_text("\n".join(ln for ln in good.splitlines() if not ln.startswith("be =")))
    with pytest.raises(InputError) as err:
        read_cell_file(missing)
    assert err.value.source == str(missing) and err.value.where == "be" and "missing" in str(err.value)

    unknown = tmp_path / "unknown.cell"
    unknown.write_text(good.replace("orthorhombic", "orthorombic"))
    with pytest.raises(InputError) as err:
        read_cell_file(unknown)
    assert err.value.source == str(unknown) and "lattice_type" in err.value.where and "orthorombic" in str(err.value)

    bad_unit = tmp_path / "unit.cell"
    bad_unit.write_text(good.replace("a = 40.0000 A", "a = 40.0 furlongs"))
    with pytest.raises(InputError) as err:
        read_cell_file(bad_unit)
    assert "(a)" in err.value.where

    with pytest.raises(InputError):
        read_cell_file(tmp_path / "does-not-exist.cell")
    with pytest.raises(InputError):
        parse_cell_text("lattice_type = cubic\n", "x.cell")


@needs_pdb
def test_cells_from_pdb():
    lyz = cell_from_pdb(PDB_DIR / "2LYZ.pdb")
    assert lyz.parameters == (79.1, 79.1, 37.9, 90.0, 90.0, 90.0)
    assert (lyz.lattice_type, lyz.centering, lyz.space_group) == ("tetragonal", "P", "P 43 21 2")
    tli = cell_from_pdb(PDB_DIR / "2tli.pdb")
    np.testing.assert_allclose(tli.parameters, (93.99, 93.99, 130.87, 90, 90, 120))
    assert (tli.lattice_type, tli.unique_axis, tli.space_group) == ("hexagonal", "c", "P 61 2 2")
    tli.check_lattice()


def test_pdb_without_cryst1(tmp_path):
    path = tmp_path / "model.pdb"
    path.write_text("HEADER    TEST\nATOM      1  N   LYS A   1       3.294  10.164  10.266  1.00 11.18           N\nEND\n")
    with pytest.raises(InputError) as err:
        cell_from_pdb(path)
    assert err.value.source == str(path) and "CRYST1" in str(err.value)


def test_pdb_space_group_lattices(tmp_path):
    path = tmp_path / "c2.pdb"
    path.write_text("CRYST1   60.000   50.000   40.000  90.00 110.00  90.00 C 1 2 1       4\n")
    cell = cell_from_pdb(path)
    assert (cell.lattice_type, cell.centering, cell.unique_axis) == ("monoclinic", "C", "b")
    path.write_text("CRYST1   80.000   80.000   90.000  90.00  90.00 120.00 H 3           9\n")
    cell = cell_from_pdb(path)
    assert (cell.lattice_type, cell.centering) == ("hexagonal", "H")


def test_random_rotation_is_proper_and_uniform():
    rng = np.random.default_rng(7)
    rots = np.array([random_rotation(rng) for _ in range(3000)])
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", rots, rots), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    assert np.allclose(np.linalg.det(rots), 1.0)
    # Haar measure: every matrix element has mean 0 and variance 1/3.
    assert np.abs(rots.mean(axis=0)).max() < 0.04
    assert np.abs((rots**2).mean(axis=0) - 1 / 3).max() < 0.03
    assert np.array_equal(random_rotation(np.random.default_rng(1)), random_rotation(np.random.default_rng(1)))


def test_crystal_from_cell_keeps_parameters():
    cell = UnitCell(50, 60, 70, 90, 105, 90, "monoclinic", unique_axis="b")
    rot = random_rotation(np.random.default_rng(0))
    crystal = Crystal.from_cell(cell, rot)
    np.testing.assert_allclose(crystal.cell_parameters(), cell.parameters, atol=1e-9)
    np.testing.assert_allclose(crystal.real_basis(), cell.real_basis() @ rot.T, atol=1e-9)
    hkl = np.array([[1, 2, 3], [-4, 0, 5]])
    np.testing.assert_allclose(crystal.fractional_hkl(crystal.q_of(hkl)), hkl, atol=1e-9)
