"""CrystFEL .geom reading and writing: facility-style files, round trips, semantics, errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaknet_bench.errors import InputError
from peaknet_bench.geometry import (
    PRESETS, BadRegion, Geometry, Panel, format_geom, load_geometry, parse_geom_text, preset, read_geom, write_geom,
)

DATA = Path(__file__).parent / "data" / "geom"
FILES = sorted(DATA.glob("*.geom"))


def test_all_facility_files_present():
    assert {f.name for f in FILES} >= {
        "epix10ka2m_mfx.geom", "jungfrau4m.geom", "cspad_cxi.geom", "agipd1m_spb.geom", "jf16m_alvra.geom",
        "eiger16m.geom", "pilatus6m.geom",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_facility_file_round_trip(path, tmp_path):
    g = read_geom(path)
    out = tmp_path / "copy.geom"
    write_geom(g, out)
    again = read_geom(out)
    assert again == g
    # A second write is byte-identical: the writer is a function of the model only.
    assert format_geom(again) == out.read_text()


def test_epix10ka2m_file():
    g = read_geom(DATA / "epix10ka2m_mfx.geom")
    assert g.n_panels == 64
    assert g.panel_names()[:5] == ["p0a0", "p0a1", "p0a2", "p0a3", "p1a0"]
    assert g.slab_shape == (5632, 384)
    p = g.panels[0]
    assert (p.min_fs, p.max_fs, p.min_ss, p.max_ss) == (0, 191, 0, 175)
    assert p.fs == (1.0, -0.00028, -0.000971)
    assert p.ss == (-0.00028, -1.0, 0.0)
    assert (p.corner_x, p.corner_y) == (12.504, 730.5912)
    assert p.res == 10000.0 and p.coffset == 0.0995 and p.adu_per_ev == 0.00114 and p.max_adu == 16000
    assert g.panels[g.panel_index("p3a1")].fs == (1.0, 0.000131, 0.003199)
    assert g.clen_path == "/LCLS/detector_1/EncoderValue" and g.clen_m is None
    assert g.photon_energy_path == "/LCLS/photon_energy_eV"
    assert g.header["mask_bad"] == "0xffff" and g.header["peak_list_type"] == "cxi"
    assert g.header["dim0"] == "%" and g.header["data"] == "/entry_1/data_1/data"
    assert g.groups["q1"] == ["p4", "p5", "p6", "p7"] and g.groups["all"] == ["q0", "q1", "q2", "q3"]
    assert len(g.rigid_groups) == 16 and list(g.rigid_group_collections) == ["modules"]
    bad = {b.name: b for b in g.bad_regions}
    assert bad["bad_p3a1"] == BadRegion("bad_p3a1", panel="p3a1", min_fs=200, max_fs=215, min_ss=1056, max_ss=1231)
    assert bad["bad_beamstop"].is_lab and bad["bad_beamstop"].min_y == -400.0


def test_cspad_old_syntax():
    g = read_geom(DATA / "cspad_cxi.geom")
    assert g.n_panels == 64 and g.slab_shape == (1480, 1552)
    p = g.panels[g.panel_index("q1a5")]
    assert (p.min_fs, p.max_fs, p.min_ss, p.max_ss) == (582, 775, 370, 554)
    assert p.fs == (1.0, -0.000999, 0.0) and p.ss == (-0.000999, -1.0, 0.0)
    assert (p.corner_x, p.corner_y) == (-663.182, 644.214)
    assert p.res == 9097.525473
    # Per-panel clen (old syntax), identical everywhere, becomes the file-level header path.
    assert g.clen_path == "/LCLS/detector0-EncoderValue"
    assert g.header["badrow_direction"] == "-"
    assert [q.name for q in g.panels if q.no_index] == ["q2a15"]
    assert list(g.rigid_group_collections) == ["quadrants", "asics"]
    assert g.rigid_group_collections["quadrants"] == ["q0", "q1", "q2", "q3"]
    assert g.rigid_groups["a9"] == ["q1a2", "q1a3"]
    slab_bad = next(b for b in g.bad_regions if b.name == "bad_q2a7")
    assert slab_bad.panel is None and (slab_bad.min_fs, slab_bad.max_ss) == (1358, 600)


def test_agipd_dim_stacking():
    g = read_geom(DATA / "agipd1m_spb.geom")
    assert g.n_panels == 128 and g.stack_ss == 512
    assert g.slab_shape == (16 * 512, 128)  # (frame, module, ss, fs) data reshaped to modules * ss
    p = g.panels[g.panel_index("p5a3")]
    assert (p.min_ss, p.max_ss) == (5 * 512 + 192, 5 * 512 + 255)
    assert p.extra == {"dim1": "5"}
    assert g.header["dim2"] == "ss" and g.header["dim3"] == "fs" and g.header["dim0"] == "%"
    assert p.fs == (0.000324, 1.0, 0.0) and p.corner_x == -218.018261
    assert g.photon_energy_path == "/RUN/SPB_XTD2_UND/DOOCS/ENERGY/actualEnergy"
    assert g.photon_energy_scale == 1000.0
    assert g.clen_path.startswith("/CONTROL/") and g.clen_m is None
    assert len(g.rigid_groups) == 20 and g.rigid_group_collections["asics"][-1] == "p15"
    bad = g.bad_regions[0]
    assert bad.panel == "p5a3" and (bad.min_ss, bad.max_ss) == (5 * 512 + 192, 5 * 512 + 255)
    mask = g.bad_pixel_mask()
    assert not mask[p.min_ss : p.max_ss + 1].any() and mask.sum() == 128 * 8192 - 64 * 128
    text = format_geom(g)
    assert "p5a3/min_ss = 192" in text and "bad_p5a3/min_ss = 192" in text


def test_jf16m_and_jungfrau4m():
    g = read_geom(DATA / "jf16m_alvra.geom")
    assert g.n_panels == 32 and g.slab_shape == (32 * 514, 1030)
    p = g.panels[17]
    assert p.name == "m17" and p.min_ss == 8738 and p.fs == (1.0, 0.000496, 0.0) and p.corner_y == 1575.588
    assert g.clen_m == 0.0925 and g.photon_energy_ev == 12400.0
    assert g.header["mask_file"].endswith(".h5")
    j = read_geom(DATA / "jungfrau4m.geom")
    assert j.n_panels == 64 and j.slab_shape == (4096, 1024)
    assert j.panels[j.panel_index("m5a2")].corner_x == 522.0


def test_top_level_value_only_affects_later_panels():
    j = read_geom(DATA / "jungfrau4m.geom")
    coffsets = {p.name[: p.name.index("a")]: p.coffset for p in j.panels}
    assert [coffsets[f"m{m}"] for m in range(8)] == [0.0] * 4 + [0.0005] * 4
    text = """
res = 10000
clen = 0.1
a/min_fs = 0
a/max_fs = 9
a/min_ss = 0
a/max_ss = 9
a/corner_x = 0
a/corner_y = 0
res = 5000          ; changes only b
clen = 0.2
b/min_fs = 0
b/max_fs = 9
b/min_ss = 10
b/max_ss = 19
b/corner_x = 20
b/corner_y = 0
a/coffset = 0.001   ; a later per-panel line still applies to a
"""
    g = parse_geom_text(text)
    a, b = g.panels
    assert (a.res, b.res) == (10000.0, 5000.0)
    assert (a.clen_m, b.clen_m, g.clen_m) == (0.1, 0.2, None)
    assert (a.coffset, b.coffset) == (0.001, 0.0)
    assert parse_geom_text(format_geom(g)) == g


def test_single_panel_direction_forms():
    e = read_geom(DATA / "eiger16m.geom")
    assert e.n_panels == 1 and e.panels[0].fs == (1.0, 0.0, 0.0) and e.panels[0].ss == (0.0, -1.0, 0.0)
    assert len(e.bad_regions) == 7 and e.bad_pixel_mask().sum() == 4148 * 4362 - 7 * 37 * 4148
    p = read_geom(DATA / "pilatus6m.geom")
    assert p.panels[0].fs == (1.0, 0.0, 0.0) and p.panels[0].ss == (0.0, 1.0, 0.0)
    assert p.clen_m == 0.30012 and p.panels[0].clen_m is None
    assert p.header == {"data": "/data/data", "dim0": "%", "dim1": "ss", "dim2": "fs"}


@pytest.mark.parametrize("text,expected", [
    ("x", (1.0, 0.0, 0.0)), ("-y", (0.0, -1.0, 0.0)), ("+1.0x", (1.0, 0.0, 0.0)),
    ("+0.9999x +0.0016y -0.002z", (0.9999, 0.0016, -0.002)), ("-0.5x+0.5y", (-0.5, 0.5, 0.0)),
    ("0.1x -1e-3y 2z", (0.1, -0.001, 2.0)),
])
def test_direction_forms(text, expected):
    g = parse_geom_text(_one_panel(f"p/fs = {text}\np/ss = +1z"))
    assert g.panels[0].fs == expected


def _one_panel(extra: str = "", head: str = "res = 10000\n") -> str:
    return head + "p/min_fs = 0\np/max_fs = 9\np/min_ss = 0\np/max_ss = 9\np/corner_x = -5\np/corner_y = -5\n" + extra


def test_units_and_paths():
    g = parse_geom_text(_one_panel(head="res = 10000\nclen = 120 mm\nphoton_energy = 9.5 keV\n"))
    assert g.clen_m == pytest.approx(0.12) and g.photon_energy_ev == pytest.approx(9500.0)
    g = parse_geom_text(_one_panel(head="res = 10000\nclen = /LCLS/detector_1/EncoderValue\n"))
    assert g.clen_path == "/LCLS/detector_1/EncoderValue"
    with pytest.raises(InputError, match="camera length comes from the data file"):
        g.panel_clen_m()
    assert g.panel_clen_m(0.2).tolist() == [0.2]


@pytest.mark.parametrize("text,match", [
    (_one_panel("p/corner_x 5\n"), r"line 8: expected 'key = value'"),
    (_one_panel("p/colour = red\n"), r"line 8: unknown key 'colour'"),
    (_one_panel("wavelenght = 1.0\n"), r"line 8: unknown key 'wavelenght'"),
    (_one_panel("p/res = ten\n"), r"line 8: p/res: expected a number"),
    (_one_panel("p/max_fs = 9.5\n"), r"line 8: p/max_fs: expected an integer"),
    (_one_panel("p/fs = +1.0q\n"), r"line 8: p/fs: expected a direction vector"),
    (_one_panel("p/fs = +1x +1x\n"), r"line 8: p/fs: expected a direction vector"),
    (_one_panel("p/fs = +1y\np/ss = -2y\n"), r"zero or parallel"),
    ("res = 1\np/min_fs = 0\np/max_fs = 9\np/corner_x = 0\np/corner_y = 0\n",
     r"line 2: panel 'p' has no min_ss, max_ss"),
    (_one_panel("q/min_fs = 5\nq/max_fs = 20\nq/min_ss = 5\nq/max_ss = 8\nq/corner_x = 0\nq/corner_y = 0\n"),
     r"line 8: panels 'p' .* and 'q' .* overlap"),
    (_one_panel("bad_a/min_x = 0\nbad_a/max_x = 1\n"), r"bad region 'bad_a': expected all of min_x"),
    (_one_panel("bad_a/panel = nope\nbad_a/min_fs = 0\nbad_a/max_fs = 1\nbad_a/min_ss = 0\nbad_a/max_ss = 1\n"),
     r"panel 'nope' is not defined"),
    (_one_panel("rigid_group_m = p,q\n"), r"line 8: rigid_group_m: \['q'\] are not defined"),
    (_one_panel("p/max_ss = -1\n"), r"expected 0 <= min_ss <= max_ss"),
    ("; nothing here\n", r"no panels defined"),
    (_one_panel("clen = 0.1 furlongs\n"), r"line 8: clen: expected a number or an HDF5 path"),
])
def test_errors_name_file_line_and_expectation(text, match):
    with pytest.raises(InputError, match=match) as info:
        parse_geom_text(text, source="det.geom")
    assert str(info.value).startswith("det.geom")


def test_missing_file_and_load_geometry(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_geom(tmp_path / "missing.geom")
    with pytest.raises(InputError, match="not a detector preset"):
        load_geometry("epix99")
    path = tmp_path / "j.geom"
    write_geom(preset("jungfrau4m"), path)
    assert load_geometry(str(path)) == preset("jungfrau4m")
    assert load_geometry("epix10k2m") == preset("epix10k2m")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_write_and_read_back_equal(name, tmp_path):
    g = preset(name)
    path = tmp_path / f"{name}.geom"
    write_geom(g, path)
    assert read_geom(path) == g
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary behind


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "det.geom"
    path.write_text("old")
    import peaknet_bench.geometry.crystfel_geom as cg

    def boom(_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cg, "format_geom", boom)
    with pytest.raises(RuntimeError):
        cg.write_geom(preset("epix10k2m"), path)
    assert path.read_text() == "old"


# ------------------------------------------------------------------ property test
_num = st.floats(-2000, 2000, allow_nan=False, allow_infinity=False, width=64)
_unit = st.floats(-1, 1, allow_nan=False, allow_infinity=False)


@st.composite
def geometries(draw) -> Geometry:
    n = draw(st.integers(1, 5))
    panels = []
    for i in range(n):
        w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
        fs = (1.0, draw(_unit), draw(_unit))
        ss = (draw(_unit), -1.0, draw(_unit))
        panels.append(Panel(
            name=f"p{i}", min_fs=0, max_fs=w - 1, min_ss=100 * i, max_ss=100 * i + h - 1,
            corner_x=draw(_num), corner_y=draw(_num), fs=fs, ss=ss,
            res=draw(st.sampled_from([10000.0, 13333.333333333334, 5813.953488372093])),
            coffset=draw(st.floats(-0.01, 0.01)), max_adu=draw(st.none() | st.floats(1, 1e6)),
            adu_per_ev=draw(st.none() | st.floats(1e-4, 1.0)), no_index=draw(st.booleans()),
            clen_m=draw(st.none() | st.floats(0.05, 1.0)),
        ))
    bad = [BadRegion("bad_lab", min_x=-3.5, max_x=3.5, min_y=-10.0, max_y=0.25)]
    if draw(st.booleans()):
        bad.append(BadRegion("bad_p0", panel="p0", min_fs=0, max_fs=0, min_ss=0, max_ss=0))
    energy = draw(st.none() | st.floats(1000, 30000) | st.just("/LCLS/photon_energy_eV"))
    return Geometry(
        panels=panels, clen_m=None, bad_regions=bad,
        photon_energy_ev=energy if isinstance(energy, float) else None,
        photon_energy_path=energy if isinstance(energy, str) else None,
        groups={"all": [p.name for p in panels]}, rigid_groups={"r0": [panels[0].name]},
        rigid_group_collections={"c": ["r0"]},
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"},
    )


def _normalised(g: Geometry) -> Geometry:
    """What the reader makes of a model: a clen shared by every panel moves to the file level."""
    clens = {p.clen_m for p in g.panels}
    if len(clens) == 1:
        return replace(g, clen_m=clens.pop(), panels=[replace(p, clen_m=None) for p in g.panels])
    return g


@settings(max_examples=60, deadline=None)
@given(geometries())
def test_round_trip_property(g):
    again = parse_geom_text(format_geom(g))
    assert again == _normalised(g)
    assert parse_geom_text(format_geom(again)) == again
    np.testing.assert_array_equal(again.bad_pixel_mask(), g.bad_pixel_mask())


def test_trailing_top_level_value_warns(caplog):
    with caplog.at_level("WARNING"):
        g = parse_geom_text(_one_panel("coffset = 0.5\n"), source="late.geom")
    assert g.panels[0].coffset == 0.0
    assert "late.geom: line 8: top-level coffset comes after every panel" in caplog.text


@settings(max_examples=200, deadline=None)
@given(st.tuples(_unit, _unit, _unit).filter(lambda v: abs(v[0]) > 1e-3))
def test_direction_text_round_trip(v):
    from peaknet_bench.geometry.crystfel_geom import _direction

    text = _direction(v)
    assert "e" not in text  # CrystFEL's parser takes no exponents
    g = parse_geom_text(_one_panel(f"p/fs = {text}\np/ss = +1.0y +0.5z\n"))
    assert g.panels[0].fs == v
