"""Geometry and beam values that used to crash or pass silently (issue 20: defects 9, 11,
12, 14): zero photon energy, camera length at or behind the sample, absurd panel sizes,
megabyte values echoed in errors, `geom show` quadratic in the number of panels."""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.errors import InputError
from peaknet_bench.geometry import load_geometry, preset
from peaknet_bench.geometry.model import Geometry, Panel

GEOM = """clen = {clen}
photon_energy = {energy}
res = 10000
p0/min_fs = 0
p0/max_fs = {max_fs}
p0/min_ss = 0
p0/max_ss = 99
p0/corner_x = -50
p0/corner_y = -50
p0/fs = +1.0x
p0/ss = +1.0y
p0/coffset = {coffset}
"""


def _geom(tmp_path, clen="0.1", energy="9500", max_fs="99", coffset="0.0"):
    path = tmp_path / "g.geom"
    path.write_text(GEOM.format(clen=clen, energy=energy, max_fs=max_fs, coffset=coffset))
    return path


# ------------------------------------------------------------ 9 / 11: bad values, clear errors
def test_zero_photon_energy_in_a_geometry_names_file_and_line(tmp_path):
    path = _geom(tmp_path, energy="0")
    with pytest.raises(InputError, match=r"g\.geom: line 2: photon_energy: expected a positive photon energy"):
        load_geometry(path)


def test_geom_show_with_zero_photon_energy_is_an_error(tmp_path, capsys):
    path = _geom(tmp_path)
    assert main(["geom", "show", str(path), "--photon-energy", "0"]) == 1
    assert "--photon-energy: expected a positive photon energy in eV, got 0.0" in capsys.readouterr().err
    assert main(["geom", "write", str(path), "-o", str(tmp_path / "o.geom"), "--photon-energy", "-5"]) == 1
    assert main(["geom", "show", str(path), "--clen", "-0.2"]) == 1
    assert "expected a positive camera length" in capsys.readouterr().err


def test_a_huge_panel_is_refused_before_anything_is_allocated(tmp_path):
    with pytest.raises(InputError, match=r"line 5: panel 'p0': expected 0 <= min_fs <= max_fs < 1048576"):
        load_geometry(_geom(tmp_path, max_fs="99999999999"))
    with pytest.raises(InputError, match="expected 0 <= min_fs <= max_fs"):
        Geometry([Panel("p0", 0, 99_999_999_999, 0, 9)])
    wide = [Panel(f"p{i}", 0, 1_000_000, 1000 * i, 1000 * i + 999) for i in range(2)]  # 2e9 pixels in all
    with pytest.raises(InputError, match="expected at most 268435456 pixels"):
        Geometry(wide)


@pytest.mark.parametrize(("clen", "coffset", "ok"), [("-0.1", "0.0", False), ("0", "0.0", False),
                                                      ("0.0", "0.1", True), ("-0.05", "0.1", True)])
def test_camera_length_must_put_the_detector_downstream(tmp_path, clen, coffset, ok):
    path = _geom(tmp_path, clen=clen, coffset=coffset)
    if ok:  # clen may be a stage position that coffset turns into a distance (CrystFEL)
        assert load_geometry(path).panel_clen_m()[0] == pytest.approx(float(clen))
    else:
        with pytest.raises(InputError, match="clen \\+ coffset .*expected a positive camera length"):
            load_geometry(path)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("photon_energy_ev", 0.0, "/LCLS/photon_energy_eV frame 3: expected a positive photon energy in eV, got 0.0"),
    ("photon_energy_ev", np.nan, "frame 3: expected a positive photon energy"),
    ("clen_m", -0.1, "/LCLS/detector_1/EncoderValue frame 3: expected a positive camera length"),
])
def test_bad_beam_values_in_a_cxi_file_name_file_and_frame(tmp_path, field, value, message):
    from peaknet_bench.frame import PeakList
    from peaknet_bench.io.cxi import CXIReader, write_peaks_cxi

    values = {"photon_energy_ev": [9500.0] * 5, "clen_m": [0.1] * 5}
    values[field][3] = value
    path = tmp_path / "run.cxi"
    write_peaks_cxi(path, [PeakList.empty()] * 5, **values)
    with CXIReader(path) as r:
        assert r.photon_energy_ev(2) == 9500.0 and r.clen_m(2) == pytest.approx(0.1)
        with pytest.raises(InputError) as err:
            getattr(r, field)(3)
    assert str(path) in str(err.value) and message in str(err.value)


# ------------------------------------------------------------ 12: long values are shortened
def test_a_megabyte_value_is_not_echoed_whole(tmp_path):
    path = tmp_path / "g.geom"
    path.write_text(GEOM.format(clen="0.1", energy="9500", max_fs="99", coffset="0") + "p0/res = " + "9x" * 2_500_000 + "\n")
    with pytest.raises(InputError) as err:
        load_geometry(path)
    text = str(err.value)
    assert "p0/res: expected a number" in text and "characters not shown" in text and len(text) < 10_000


# ------------------------------------------------------------ 14: geom show linear in panels
def test_geom_show_does_per_panel_work_once(monkeypatch):
    from peaknet_bench.geometry.layout import summarize

    n = 400
    panels = [Panel(f"p{i}", 0, 7, 8 * i, 8 * i + 7, corner_x=(i % 20) * 10.0 - 100, corner_y=(i // 20) * 10.0 - 100)
              for i in range(n)]
    g = Geometry(panels, clen_m=0.1, photon_energy_ev=9500.0)
    calls = []
    original = Geometry.panel_clen_m
    monkeypatch.setattr(Geometry, "panel_clen_m", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    s = summarize(g)
    assert len(calls) <= 2, f"{len(calls)} per-panel camera-length tables for {n} panels"
    # The vectorised edge resolution is the per-panel one.
    from peaknet_bench.frame import wavelength_a
    from peaknet_bench.util import detmath as dm

    ref = []
    for i, p in enumerate(g.panels):
        fs = np.array([p.min_fs - 0.5, p.max_fs + 0.5, p.min_fs - 0.5, p.max_fs + 0.5])
        ss = np.array([p.min_ss - 0.5, p.min_ss - 0.5, p.max_ss + 0.5, p.max_ss + 0.5])
        ref.append(dm.norm(g.q_vectors(fs, ss, wavelength_a(9500.0), np.full(4, i))))
    assert s["edge_resolution_a"] == pytest.approx(1.0 / np.max(np.concatenate(ref)), rel=1e-12)


def test_overlap_check_still_names_both_panels(tmp_path):
    path = tmp_path / "o.geom"
    text = GEOM.format(clen="0.1", energy="9500", max_fs="99", coffset="0")
    text += "\n".join(f"p1/{k} = {v}" for k, v in dict(min_fs=50, max_fs=149, min_ss=90, max_ss=120, corner_x=0,
                                                          corner_y=0).items()) + "\n"
    path.write_text(text)
    with pytest.raises(InputError, match=r"panels 'p0' .* and 'p1' .* overlap"):
        load_geometry(path)
    from peaknet_bench.geometry import write_geom

    write_geom(preset("epix10k2m"), tmp_path / "epix.geom")  # a real 64-panel detector still loads
    assert load_geometry(tmp_path / "epix.geom").panels == preset("epix10k2m").panels


def test_evaluate_names_the_frame_with_a_zero_photon_energy():
    """A frame source that hands out a zero photon energy (a tampered dataset table) is
    stopped where the frame is known, not inside the indexer."""
    from peaknet_bench.evaluate.harness import FindWorker
    from peaknet_bench.evaluate.methods import pf8_method
    from peaknet_bench.frame import Frame
    from peaknet_bench.peakfind import Peakfinder8Params

    geometry = Geometry([Panel("p0", 0, 63, 0, 63, corner_x=-32, corner_y=-32)], clen_m=0.1)

    class Source:
        name = "tampered.zarr"

        def __init__(self, energy, clen):
            self.geometry, self.energy, self.clen = geometry, energy, clen

        def frame(self, i):
            return Frame(np.zeros((64, 64), np.float32), np.ones((64, 64), bool), geometry, self.energy, self.clen,
                         event=f"//{i}")

        def truth(self, frame):
            return None

    method = pf8_method(Peakfinder8Params())
    with pytest.raises(InputError, match=r"tampered\.zarr: frame //2 photon energy: expected a positive photon energy"):
        FindWorker(Source(0.0, 0.1), method, 2.0).run([2])
    with pytest.raises(InputError, match=r"tampered\.zarr: frame //1 camera length: expected a positive camera length"):
        FindWorker(Source(9500.0, -0.1), method, 2.0).run([1])
    assert len(FindWorker(Source(9500.0, 0.1), method, 2.0).run([0])) == 1
