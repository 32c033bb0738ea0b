"""`peaknet-bench geom show|render|write` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from peaknet_bench.cli import main
from peaknet_bench.geometry import preset, read_geom

DATA = Path(__file__).parent / "data" / "geom"


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_show_preset_json(capsys):
    s = _json(capsys, ["geom", "show", "epix10k2m", "--json"])
    assert s["n_panels"] == 64
    assert s["slab_shape"] == [5632, 384] and s["pixel_size_um"] == [100.0]
    assert s["clen_m"] == 0.1 and s["photon_energy_ev"] == 9500.0
    g = preset("epix10k2m")
    assert s["edge_resolution_a"] == g.max_resolution_a(12398.42 / 9500.0)
    assert s["extent_mm"]["x"][0] < -70 and s["extent_mm"]["x"][1] > 70


def test_show_file_with_header_paths(capsys):
    s = _json(capsys, ["geom", "show", str(DATA / "agipd1m_spb.geom"), "--json"])
    assert s["n_panels"] == 128 and s["edge_resolution_a"] is None and s["clen_path"].startswith("/CONTROL")
    s = _json(capsys, ["geom", "show", str(DATA / "agipd1m_spb.geom"), "--json", "--photon-energy", "9300",
                       "--clen", "0.2", "--panels"])
    assert s["edge_resolution_a"] > 1.0 and len(s["panels"]) == 128
    assert main(["geom", "show", str(DATA / "cspad_cxi.geom")]) == 0
    out = capsys.readouterr().out
    assert "panels" in out and "64" in out and "from data: /LCLS/detector0-EncoderValue" in out


def test_render_png(tmp_path, capsys):
    out = tmp_path / "layout.png"
    s = _json(capsys, ["geom", "render", str(DATA / "epix10ka2m_mfx.geom"), "-o", str(out), "--dpi", "60", "--json"])
    assert s["n_panels"] == 64 and s["n_lab_bad_regions"] == 1 and s["n_slab_bad_regions"] == 1
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(out)
    assert img.ndim == 3 and min(img.shape[:2]) > 200
    assert np.ptp(img[..., :3]) > 0.5  # something was drawn, not a blank canvas


def test_write_preset_then_read(tmp_path, capsys):
    path = tmp_path / "det.geom"
    s = _json(capsys, ["geom", "write", "jungfrau4m", "-o", str(path), "--clen", "0.25", "--json"])
    assert s["n_panels"] == 64
    g = read_geom(path)
    assert g.clen_m == 0.25 and g.panels == preset("jungfrau4m").panels


def test_bad_input_is_an_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.geom"
    bad.write_text("p0/min_fs = 0\np0/colour = red\n")
    assert main(["geom", "show", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.geom: line 2: unknown key 'colour'" in err
    assert main(["geom", "show", "no-such-detector"]) == 1
