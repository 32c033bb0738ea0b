"""The indexer registry and the DIALS backend (dials.index, stills indexer, known symmetry).

Tests that run DIALS skip with a reason where `dials.index` is not installed (Debian:
`apt-get install dials`); the geometry hand-over to DIALS' lab frame, the space-group choice and
the registry are checked without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.crystal import UnitCell, write_cell_file
from peaknet_bench.errors import InputError
from peaknet_bench.geometry import preset, write_geom
from peaknet_bench.index import BuiltinConfig, compare_lattices, indexer_names, make_indexer
from peaknet_bench.index.dials import DialsConfig, DialsIndexer, panels_for_dials, space_group_symbol
from synthetic_peaks import SyntheticPeaksConfig, score_results, synthetic_frame
from peaknet_bench.io.cxi import write_peaks_cxi

ENERGY = 9500.0
CELL = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", unique_axis="c", space_group="P 43 21 2")
HAVE_DIALS = DialsIndexer(CELL).available()
needs_dials = pytest.mark.skipif(not HAVE_DIALS, reason="dials.index not installed (Debian: apt-get install dials)")


def test_registry_names_and_errors():
    assert indexer_names()[:3] == ["builtin", "crystfel", "dials"]
    indexer = make_indexer("builtin", CELL, min_significance=30.0, max_lattices=1)
    assert indexer.config.min_significance == 30.0 and indexer.config.max_lattices == 1
    assert make_indexer("dials", CELL, cores=2).config == DialsConfig(cores=2)
    with pytest.raises(InputError, match="unknown indexer 'xds'"):
        make_indexer("xds", CELL)
    with pytest.raises(InputError, match="min_sigificance"):
        make_indexer("builtin", CELL, min_sigificance=3)


def test_cli_options_come_from_the_config():
    """Every scalar threshold of BuiltinConfig is an option of `index`, its default the config's."""
    import argparse

    from peaknet_bench.index.commands import add_indexer_arguments, indexer_options

    p = argparse.ArgumentParser()
    add_indexer_arguments(p)
    args = p.parse_args(["--min-significance", "25", "--max-lattices", "1", "--no-fit-cell"])
    assert indexer_options(args, "builtin") == {"min_significance": 25.0, "max_lattices": 1, "fit_cell": False}
    assert indexer_options(p.parse_args([]), "builtin") == {}  # defaults stay BuiltinConfig's
    assert indexer_options(args, "dials", 3) == {"cores": 3, "max_lattices": 1}
    assert f"(default: {BuiltinConfig().min_significance})" in " ".join(p.format_help().split())


@pytest.mark.parametrize("cell,expected", [
    (CELL, "P 43 21 2"),
    (UnitCell(40, 70, 91, 90, 90, 90, "orthorhombic", centering="C"), "C 2 2 2"),
    (UnitCell(61, 38, 72, 90, 106, 90, "monoclinic", unique_axis="b"), "P 1 2 1"),
    (UnitCell(94, 94, 131, 90, 90, 120, "hexagonal", unique_axis="c"), "P 6"),
    (UnitCell(50, 50, 50, 80, 80, 80, "rhombohedral", centering="R"), "R 3 :R"),
])
def test_space_group_for_dials(cell, expected):
    assert space_group_symbol(cell) == expected


def test_panels_in_dials_frame_map_pixels_to_our_lab_positions():
    """DIALS' pixel (x, y) of a panel (centre of our pixel at x − 0.5) lies at our lab position
    mirrored by diag(−1, 1, −1), on every panel of a multi-panel detector."""
    g = preset("epix10k2m")
    clen = 0.12
    panels = panels_for_dials(g, clen)
    rng = np.random.default_rng(0)
    for i in rng.choice(g.n_panels, 6, replace=False):
        p, d = g.panels[i], panels[i]
        x, y = rng.uniform(0, p.width), rng.uniform(0, p.height)
        dials_mm = (np.array(d["origin_mm"]) + x * d["pixel_mm"][0] * np.array(d["fast"])
                    + y * d["pixel_mm"][1] * np.array(d["slow"]))
        ours = g.lab_position_m(np.array([p.min_fs + x - 0.5]), np.array([p.min_ss + y - 0.5]), np.array([i]), clen)[0]
        assert np.allclose(dials_mm * [-1, 1, -1], ours * 1000.0, atol=1e-9)


@needs_dials
def test_dials_indexes_a_synthetic_frame_correctly(tmp_path):
    geometry = preset("epix10k2m")
    rng = np.random.default_rng(3)
    frames = [synthetic_frame(CELL, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(80, 100))) for _ in range(2)]
    indexer = DialsIndexer(CELL, DialsConfig(cores=2, workdir=str(tmp_path / "work")))
    results = indexer.index_many([f.peaks for f in frames], geometry, ENERGY)
    for frame, found in zip(frames, results):
        score = score_results(found, frame, geometry, ENERGY)
        assert score.correct and score.n_wrong == 0
        (crystal,) = found
        assert crystal.method == "dials" and crystal.n_inliers >= 0.6 * frame.n_true
        q = geometry.q_vectors(frame.peaks.fs, frame.peaks.ss, 12398.42 / ENERGY, frame.peaks.panel)[crystal.peak_indices]
        assert np.abs(q @ crystal.crystal.real_basis().T - crystal.hkl).max() < 0.5  # DIALS' hkl fit our peaks
    assert (tmp_path / "work" / "frame_00001.expt").is_file() and (tmp_path / "work" / "indexed_00001_0.expt").is_file()


@needs_dials
def test_index_command_with_dials(tmp_path, capsys):
    import json

    geometry = preset("epix10k2m")
    rng = np.random.default_rng(8)
    frames = [synthetic_frame(CELL, geometry, ENERGY, rng, SyntheticPeaksConfig(n_true=(60, 80))) for _ in range(2)]
    write_peaks_cxi(tmp_path / "p.cxi", [f.peaks for f in frames], photon_energy_ev=ENERGY, clen_m=0.1)
    write_geom(geometry, tmp_path / "det.geom")
    write_cell_file(CELL, tmp_path / "t.cell")
    capsys.readouterr()
    assert main(["index", str(tmp_path / "p.cxi"), "--geom", str(tmp_path / "det.geom"), "--cell", str(tmp_path / "t.cell"),
                 "--indexer", "dials", "-j", "2", "-o", str(tmp_path / "o.stream"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexer"] == "dials" and summary["indexed"] == 2


@needs_dials
def test_dials_backend_reproduces_dials_on_real_stills():
    """From DIALS' own spots on the real stills, the backend gives DIALS' reference lattice."""
    import test_index_real as real

    if not real.REAL.exists():
        pytest.skip("shared/real not present")
    for name in real.HITS:
        frame = real._frame(name)
        found = DialsIndexer(real._cell(name)).index(real._dials_spots(name), frame.geometry, frame.photon_energy_ev,
                                                     frame.clen_m)
        assert found, name
        match = compare_lattices(found[0].crystal.real_basis(), real._dials_lattices(name)[0][0])
        assert match.max_deviation <= 0.1 and match.misorientation_deg <= 0.2, (name, match)
    blank = real._frame("thau_3_2_0016")
    assert DialsIndexer(real.THAUMATIN).index(real._dials_spots("thau_3_2_0016"), blank.geometry,
                                              blank.photon_energy_ev, blank.clen_m) == []


def test_engine_predictions_pick_an_indexer_by_name(tmp_path):
    """engine run's predictions come from any registry backend, its options recorded."""
    import pickle

    from peaknet_bench.engine.inputs import PredictionsFromIndexer

    write_cell_file(CELL, tmp_path / "t.cell")
    default = PredictionsFromIndexer(str(tmp_path / "t.cell"))
    assert default.describe()["source"] == "builtin-indexer" and "indexer" not in default.describe()
    chosen = PredictionsFromIndexer(str(tmp_path / "t.cell"), indexer="builtin", indexer_options={"max_lattices": 1})
    assert chosen.describe()["indexer_options"] == {"max_lattices": 1}
    geometry = preset("epix10k2m")
    frame = synthetic_frame(CELL, geometry, ENERGY, np.random.default_rng(4), SyntheticPeaksConfig(n_true=(60, 60)))

    class _Frame:
        photon_energy_ev, clen_m, wavelength_a = ENERGY, None, 12398.42 / ENERGY

    _Frame.geometry = geometry
    predicted = chosen(_Frame(), 0, frame.peaks)
    assert len(predicted) > len(frame.peaks) and chosen._ix.config.max_lattices == 1
    assert not hasattr(pickle.loads(pickle.dumps(chosen)), "_ix")
    with pytest.raises(InputError, match="unknown indexer"):
        PredictionsFromIndexer(str(tmp_path / "t.cell"), indexer="nope")(_Frame(), 0, frame.peaks)


@needs_dials
def test_dials_backend_finds_the_second_domain_of_the_split_crystal(tmp_path):
    """max_lattices = 2: a second dials.index round on the spots the first left gives DIALS'
    second lattice of thau_3_2_0004 (measured 0.19°)."""
    import test_index_real as real

    if not real.REAL.exists():
        pytest.skip("shared/real not present")
    frame = real._frame("thau_3_2_0004")
    found = DialsIndexer(real.THAUMATIN, DialsConfig(max_lattices=2)).index(
        real._dials_spots("thau_3_2_0004"), frame.geometry, frame.photon_energy_ev, frame.clen_m)
    (l1, _), (l2, _) = real._dials_lattices("thau_3_2_0004")
    assert len(found) == 2
    assert compare_lattices(found[0].crystal.real_basis(), l1).misorientation_deg <= 0.1
    assert compare_lattices(found[1].crystal.real_basis(), l2).misorientation_deg <= 0.25
    assert not set(found[0].peak_indices) & set(found[1].peak_indices)
