"""Evaluation on real frames without truth: reference spot lists and agreement with them.

Readers (`peaknet_bench.io.spots`): the DIALS csv folder of shared/real/dials, DIALS msgpack
reflection tables (tests/data/dials: `dials.find_spots` output on the four real stills, see the
README there; and a live `dials.find_spots` run when DIALS is installed), CrystFEL streams
(written here with the package's StreamWriter, in the frames' slab layout and in another one),
each with its bad-input errors. Matching: one-to-one, radius boundary, panels, empty lists.
End to end: peakfinder8 on the four real stills against DIALS 3.12 (numbers measured and
quoted in docs/evaluation.md), through the library function and the CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
if not REAL.exists():
    REAL = Path("/work/shared/real")
DIALS = REAL / "dials"
CBF = REAL / "cbf"
FIXTURES = Path(__file__).resolve().parent / "data" / "dials"
CSPAD = "idx-20130301060858401"
PILATUS = ["thau_3_2_0001", "thau_3_2_0004", "thau_3_2_0016"]
FILES = {"thau_3_2_0001": "thau_3_2_0001.cbf.bz2", "thau_3_2_0004": "thau_3_2_0004.cbf.bz2",
         "thau_3_2_0016": "thau_3_2_0016.cbf.bz2", CSPAD: f"{CSPAD}.cbf"}
# peakfinder8 settings of docs/io.md: > 95 % of DIALS' spots
PF8 = {"pilatus": {"threshold": 10, "min_snr": 5, "min_pix_count": 2},
       "cspad": {"threshold": 100, "min_snr": 5, "min_pix_count": 2}}
real = pytest.mark.skipif(not (DIALS / "summary.json").exists(), reason="shared/real (stills + DIALS reference) not present")


@lru_cache(maxsize=None)
def _frame(name: str):
    from peaknet_bench.io.frames import open_frames

    return open_frames(CBF / FILES[name]).frame(0)


def _pl(fs, ss, panel=None) -> PeakList:
    fs = np.asarray(fs, float)
    return PeakList(fs=fs, ss=np.asarray(ss, float), panel=np.zeros(fs.size, np.int32) if panel is None else panel,
                    intensity=np.ones(fs.size))


def _same_spots(a: PeakList, b: PeakList, tol: float) -> None:
    from peaknet_bench.engine.peakdiff import PeakDiffConfig, peakdiff

    assert len(a) == len(b)
    if len(a):
        assert peakdiff(a, b, PeakDiffConfig(max_distance=tol)).n_matched == len(a)


# ------------------------------------------------------------------ matching
def test_matching_is_one_to_one_and_optimal():
    from peaknet_bench.evaluate.reference import match_to_reference

    # two peaks near one spot: one match
    n, d = match_to_reference(_pl([10.0, 10.5], [10.0, 10.0]), _pl([10.2], [10.0]), 2.0)
    assert n == 1 and d[0] == pytest.approx(0.2)
    # greedy from the first peak would take A-X and leave B alone; the assignment matches both
    found = _pl([0.0, 1.5], [0.0, 0.0])  # A, B
    ref = _pl([1.0, -1.0], [0.0, 0.0])  # X, Y (B-Y is 2.5 px: too far)
    n, d = match_to_reference(found, ref, 2.0)
    assert n == 2 and sorted(d) == pytest.approx([0.5, 1.0])


def test_matching_radius_boundary_panels_and_empty_lists():
    from peaknet_bench.evaluate.reference import match_to_reference

    assert match_to_reference(_pl([0.0], [0.0]), _pl([2.0], [0.0]), 2.0)[0] == 1  # exactly the radius: a match
    assert match_to_reference(_pl([0.0], [0.0]), _pl([2.001], [0.0]), 2.0)[0] == 0
    assert match_to_reference(_pl([0.0], [0.0]), _pl([0.0], [3.0]), 3.0)[0] == 1
    # same position, other panel: never a match
    assert match_to_reference(_pl([5.0], [5.0], np.array([0])), _pl([5.0], [5.0], np.array([1])), 2.0)[0] == 0
    assert match_to_reference(PeakList.empty(), _pl([1.0], [1.0]), 2.0)[0] == 0
    assert match_to_reference(_pl([1.0], [1.0]), PeakList.empty(), 2.0)[0] == 0
    assert match_to_reference(PeakList.empty(), PeakList.empty(), 2.0)[0] == 0


def test_agreement_summary_pools_counts_and_leaves_empty_rates_undefined():
    from peaknet_bench.evaluate.reference import ReferenceFrameResult, agreement_summary

    def row(found, ref, matched):
        return ReferenceFrameResult(file="f", index=0, event="//0", detector="d", n_found=found, n_reference=ref,
                                    n_matched=matched, recall=None, precision=None, median_distance_px=None, hit=False)

    s = agreement_summary([row(10, 8, 6), row(0, 0, 0), row(5, None, 0), row(4, 2, 2)])
    assert (s["n_frames"], s["n_frames_in_reference"], s["n_found"], s["n_reference"], s["n_matched"]) == (4, 3, 14, 10, 8)
    assert s["recall"] == pytest.approx(0.8) and s["precision"] == pytest.approx(8 / 14)
    assert s["ci"]["recall"]["low"] <= 0.8 <= s["ci"]["recall"]["high"]
    assert s["ci"]["recall"]["low"] >= 0.75  # resamples of the blank frame alone do not drag it to 0
    empty = agreement_summary([row(0, 0, 0), row(3, None, 0)])
    assert empty["recall"] is None and empty["precision"] is None and empty["ci"]["recall"] is None


def test_config_defines_the_radius_once_and_checks_it():
    from peaknet_bench.evaluate.reference import ReferenceConfig

    assert ReferenceConfig().match_radius_px == 2.0
    with pytest.raises(InputError, match="match_radius_px"):
        ReferenceConfig(match_radius_px=0)


# ------------------------------------------------------------------ DIALS csv folder
@real
def test_dials_folder_reference_spots_indexing_and_cell():
    from peaknet_bench.io.spots import DialsReference, open_reference

    ref = open_reference(DIALS)
    assert isinstance(ref, DialsReference) and ref.name == "dials-csv" and ref.has_indexing
    assert sorted(ref.entries()) == sorted((n, 0) for n in FILES)
    counts = {"thau_3_2_0001": (290, True, 1), "thau_3_2_0004": (1284, True, 2), "thau_3_2_0016": (0, False, 0),
              CSPAD: (176, True, 1)}
    for name, (n, indexed, lattices) in counts.items():
        entry = ref.lookup(_frame(name))
        assert (len(entry.spots), entry.indexed, entry.n_lattices, len(entry.real_bases)) == (n, indexed, lattices, lattices)
    # DIALS' CSV has pixel centres at +0.5 and panel-local positions: ours are slab, centres at integers
    spots = ref.lookup(_frame(CSPAD)).spots
    g = _frame(CSPAD).geometry
    first = np.loadtxt(DIALS / f"{CSPAD}.spots.csv", delimiter=",", skiprows=1, max_rows=1)
    assert spots.fs[0] == pytest.approx(first[1] - 0.5 + g.panels[spots.panel[0]].min_fs)
    assert spots.ss[0] == pytest.approx(first[2] - 0.5 + g.panels[spots.panel[0]].min_ss)
    assert g.panels[spots.panel[0]].name == "D0Q0S0A0" and int(first[0]) == 0
    # the known symmetry DIALS used: one per sample, none for the mixed folder
    assert ref.target_cell() is None
    cell = ref.target_cell([str(CBF / FILES["thau_3_2_0001"])])
    assert cell.parameters == pytest.approx((58.6, 58.6, 151.5, 90, 90, 90)) and cell.lattice_type == "tetragonal"
    assert ref.target_cell([f"{CSPAD}.cbf"]).lattice_type == "hexagonal"


@real
def test_dials_csv_errors_name_file_and_field(tmp_path):
    from peaknet_bench.io.spots import open_reference

    frame = _frame("thau_3_2_0001")
    path = tmp_path / "thau_3_2_0001.spots.csv"
    cases = {
        "panel,fs\n0,1.0\n": "header",
        "panel,fs,ss,intensity\n0,12.5,20.5,3\n0,abc,3,1\n": "line 3 column fs",
        "panel,fs,ss\n-1,12.5,20.5\n": "line 2 column panel",
        "panel,fs,ss\n0,nan,20.5\n": "line 2 column fs",
        "panel,fs,ss\n3,12.5,20.5\n": "column panel",
        "panel,fs,ss\n0,5000.5,20.5\n": "fs/ss",
    }
    for text, where in cases.items():
        path.write_text(text)
        with pytest.raises(InputError) as err:
            open_reference(tmp_path).lookup(frame)
        assert err.value.source == str(path) and where in (err.value.where or ""), (text, err.value)
    path.write_text("panel,fs,ss\n0,12.5,20.5\n")
    spots = open_reference(path).lookup(frame).spots  # one file works too (no indexing known)
    assert (spots.fs[0], spots.ss[0]) == (12.0, 20.0)
    assert open_reference(path).lookup(frame).indexed is None
    assert open_reference(path).lookup(_frame("thau_3_2_0004")) is None  # not in this reference
    with pytest.raises(InputError, match="reference not found"):
        open_reference(tmp_path / "nope")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01junk")
    with pytest.raises(InputError, match="not a reference spot list"):
        open_reference(tmp_path / "junk.bin")
    (tmp_path / "summary.json").write_text('{"nothing": 1}')
    with pytest.raises(InputError) as err:
        open_reference(tmp_path)
    assert err.value.where == "images"


# ------------------------------------------------------------------ DIALS .refl
@real
@pytest.mark.parametrize("stem, names", [("pilatus", PILATUS), ("cspad", [CSPAD])])
def test_refl_fixture_equals_dials_csv(stem, names):
    from peaknet_bench.io.spots import open_reference

    ref = open_reference(FIXTURES / f"{stem}.strong.refl")
    assert ref.name == "dials-refl" and ref.expt_path.endswith(f"{stem}.imported.expt") and not ref.has_indexing
    assert sorted(ref.entries()) == sorted((FILES[n].replace(".bz2", ""), 0) for n in names)
    csv_ref = open_reference(DIALS)
    for name in names:  # the blank is in the table's experiments with no spots
        entry = ref.lookup(_frame(name))
        _same_spots(entry.spots, csv_ref.lookup(_frame(name)).spots, tol=0.001)  # the CSV rounds to 3 decimals
        assert entry.indexed is None


@real
def test_refl_without_experiments_maps_ids_to_frame_order(tmp_path):
    from peaknet_bench.io.spots import open_reference

    shutil.copy(FIXTURES / "cspad.strong.refl", tmp_path / "strong.refl")
    ref = open_reference(tmp_path / "strong.refl")
    assert ref.expt_path is None and ref.describe()["matched_by"].startswith("experiment id")
    # without DIALS' panel names, DIALS' panel order is the geometry's (true for imgCIF files)
    _same_spots(ref.lookup(_frame(CSPAD), 0).spots, open_reference(DIALS).lookup(_frame(CSPAD)).spots, tol=0.001)
    assert ref.lookup(_frame(CSPAD), 1) is None


def _pack_refl(path: Path, data: dict, nrows: int, identifiers=None) -> None:
    import msgpack

    table = {"identifiers": identifiers or {}, "nrows": nrows, "data": data}
    path.write_bytes(msgpack.packb(["dials::af::reflection_table", 1, table], use_bin_type=True))


def test_refl_errors_name_file_and_column(tmp_path):
    from peaknet_bench.io.spots import open_reference

    path = tmp_path / "strong.refl"
    xyz = np.array([[10.5, 20.5, 0.5]]).astype("<f8").tobytes()
    panel = np.array([0], "<u8").tobytes()
    ids = np.array([0], "<i4").tobytes()
    _pack_refl(path, {"panel": ["std::size_t", [1, panel]], "id": ["int", [1, ids]]}, 1)
    with pytest.raises(InputError) as err:
        open_reference(path)
    assert err.value.source == str(path) and "xyzobs.px.value" in err.value.where
    _pack_refl(path, {"xyzobs.px.value": ["vec3<double>", [1, xyz[:16]]], "panel": ["std::size_t", [1, panel]],
                      "id": ["int", [1, ids]]}, 1)
    with pytest.raises(InputError, match="expected 1 rows of 24 bytes"):
        open_reference(path)
    _pack_refl(path, {"xyzobs.px.value": ["vec3<float>", [1, xyz]], "panel": ["std::size_t", [1, panel]],
                      "id": ["int", [1, ids]]}, 1)
    with pytest.raises(InputError, match="type 'vec3<float>'"):
        open_reference(path)
    path.write_bytes(b"\x93\xbbdials::af::reflection_table\x01garbage")
    with pytest.raises(InputError) as err:
        open_reference(path)
    assert err.value.source == str(path)
    path.write_bytes(b"not msgpack at all")
    with pytest.raises(InputError, match="not a DIALS msgpack reflection table"):
        open_reference(path, "dials-refl")
    with pytest.raises(InputError, match="unknown reference format"):
        open_reference(path, "xds")


@pytest.mark.skipif(shutil.which("dials.find_spots") is None or not (CBF / FILES["thau_3_2_0001"]).exists(),
                    reason="DIALS (dials.find_spots) or the real stills not available")
def test_live_dials_find_spots_strong_refl(tmp_path):
    """dials.import + dials.find_spots as a user runs them: the strong.refl beside imported.expt."""
    from peaknet_bench.io.spots import open_reference

    image = CBF / FILES["thau_3_2_0001"]
    for cmd in (["dials.import", str(image), "convert_sequences_to_stills=True"],
                ["dials.find_spots", "imported.expt", "nproc=1"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    ref = open_reference(tmp_path / "strong.refl")
    assert Path(ref.expt_path).name == "imported.expt"
    _same_spots(ref.lookup(_frame("thau_3_2_0001")).spots, open_reference(DIALS).lookup(_frame("thau_3_2_0001")).spots,
                tol=0.001)


# ------------------------------------------------------------------ CrystFEL stream
def _write_stream(path: Path, geometry, frame, spots: PeakList, bases, cell_text=None) -> None:
    from peaknet_bench.geometry.crystfel_geom import format_geom
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamWriter

    with StreamWriter(path, geometry_text=format_geom(geometry), geometry=geometry, cell_text=cell_text) as w:
        w.write_chunk(StreamChunk(filename=frame.meta["source"], event="//0", photon_energy_ev=frame.photon_energy_ev,
                                  clen_m=frame.clen_m, peaks=spots,
                                  crystals=[StreamCrystal(astar=np.linalg.inv(b).T) for b in bases]))


@real
def test_stream_reference_in_the_frames_layout_and_in_another(tmp_path):
    from peaknet_bench.crystal import format_cell
    from peaknet_bench.io.spots import StreamReference, open_reference

    frame = _frame(CSPAD)
    g = frame.geometry
    entry = open_reference(DIALS).lookup(frame)
    dials = entry.spots
    # the frames' own slab layout
    path = tmp_path / "same.stream"
    cell = open_reference(DIALS).target_cell([FILES[CSPAD]])
    _write_stream(path, g, frame, dials, entry.real_bases, format_cell(cell))
    ref = open_reference(path)
    assert isinstance(ref, StreamReference) and ref.entries() == [(FILES[CSPAD], 0)]
    got = ref.lookup(frame)
    _same_spots(got.spots, dials, tol=0.0075)  # the stream keeps 2 decimals (≤ 0.005 px per axis)
    assert got.indexed and got.n_lattices == 1
    assert np.allclose(got.real_bases[0], entry.real_bases[0], atol=1e-6)
    assert ref.target_cell().parameters == pytest.approx(cell.parameters)
    # another slab layout (the 64 ASICs stacked along ss, as a CrystFEL .geom may lay them out):
    # positions move panel by panel, by name
    stacked = replace(g, panels=[replace(p, min_fs=0, max_fs=p.max_fs - p.min_fs, min_ss=k * 185,
                                         max_ss=k * 185 + p.max_ss - p.min_ss) for k, p in enumerate(g.panels)])
    fs0 = np.array([p.min_fs for p in g.panels])[dials.panel]
    ss0 = np.array([p.min_ss for p in g.panels])[dials.panel]
    other = PeakList(fs=dials.fs - fs0, ss=dials.ss - ss0 + 185 * dials.panel, panel=dials.panel,
                     intensity=dials.intensity)
    path2 = tmp_path / "stacked.stream"
    _write_stream(path2, stacked, frame, other, [])
    got = open_reference(path2).lookup(frame)
    _same_spots(got.spots, dials, tol=0.0075)
    assert got.indexed is False and got.n_lattices == 0
    assert open_reference(path2).lookup(_frame("thau_3_2_0001")) is None


@real
def test_stream_errors_name_file_and_chunk(tmp_path):
    from peaknet_bench.io.spots import open_reference

    path = tmp_path / "bad.stream"
    path.write_text("CrystFEL stream format 2.3\n----- Begin chunk -----\n"
                    f"Image filename: {FILES[CSPAD]}\nEvent: //0\nnum_peaks = 1\n"
                    "Peaks from peak search\n  fs/px   ss/px (1/d)/nm^-1   Intensity  Panel\n"
                    "  10.50   20.50       1.00       100.00   bogus\nEnd of peak list\n----- End chunk -----\n")
    with pytest.raises(InputError) as err:
        open_reference(path).lookup(_frame(CSPAD))
    assert err.value.source == str(path) and "line 2" in err.value.where and "'bogus'" in err.value.message
    twice = path.read_text() + path.read_text().split("\n", 1)[1]
    path.write_text(twice)
    with pytest.raises(InputError, match="a second chunk"):
        open_reference(path)


# ------------------------------------------------------------------ end to end: pf8 on the real stills
@lru_cache(maxsize=None)
def _pf8_results(detector: str):
    from peaknet_bench.evaluate.methods import pf8_method
    from peaknet_bench.evaluate.reference import ReferenceConfig, evaluate_against_reference
    from peaknet_bench.peakfind import Peakfinder8Params

    names = PILATUS if detector == "pilatus" else [CSPAD]
    method = pf8_method(Peakfinder8Params(**PF8[detector]), name=f"pf8-{detector}")
    # the known cell: DIALS' known symmetry for these images (summary.json)
    return evaluate_against_reference(method, [str(CBF / FILES[n]) for n in names], DIALS,
                                      ReferenceConfig(show_progress=False))


@real
def test_pf8_on_the_pilatus_stills_against_dials():
    r = _pf8_results("pilatus").to_dict()
    rows = {Path(f["file"]).name.split(".")[0]: f for f in r["frames"]}
    # measured: 283/290 (0.976) and 1263/1284 (0.984) of DIALS' spots; precision 0.775, 0.777
    for name, (n_found, recall) in {"thau_3_2_0001": (365, 0.976), "thau_3_2_0004": (1625, 0.984)}.items():
        f = rows[name]
        assert abs(f["n_found"] - n_found) <= 0.03 * n_found
        assert f["recall"] >= 0.95 and abs(f["recall"] - recall) <= 0.015, f
        assert 0.70 <= f["precision"] <= 0.85, f
        assert f["median_distance_px"] <= 0.3
        assert f["hit"] and f["indexed"] and f["reference_indexed"]
        assert f["lattices_agreeing"] >= 1 and f["misorientation_deg"] <= 0.2, f  # lattice 1 is DIALS'
    blank = rows["thau_3_2_0016"]
    assert (blank["n_found"], blank["n_reference"], blank["hit"], blank["indexed"]) == (0, 0, False, False)
    assert blank["recall"] is None and blank["precision"] is None and blank["reference_indexed"] is False
    pooled = r["agreement"]["pooled"]
    assert (pooled["n_reference"], pooled["n_frames_in_reference"]) == (1574, 3)
    assert pooled["recall"] >= 0.97 and 0.72 <= pooled["precision"] <= 0.83
    assert list(r["agreement"]["by_detector"]) == ["PILATUS3 6M, S/N 60-0119"]
    m = r["metrics"]
    assert (m["n_frames"], m["n_hits"], m["n_indexed"]) == (3, 2, 2) and m["indexing_rate"] == 1.0
    assert m["cell"]["a"]["mean"] == pytest.approx(58.6, rel=0.01) and m["cell"]["c"]["mean"] == pytest.approx(151.5, rel=0.01)
    ri = r["reference_indexing"]
    assert (ri["n_reference_indexed"], ri["n_indexed_of_those"], ri["n_in_reference_lattice"],
            ri["n_indexed_reference_did_not"]) == (2, 2, 2, 0)
    assert r["indexer"]["name"] == "builtin" and r["config"]["match_radius_px"] == 2.0
    assert r["reference"]["kind"] == "dials-csv"


@real
def test_pf8_on_the_cspad_still_against_dials():
    r = _pf8_results("cspad").to_dict()
    (f,) = r["frames"]
    # measured: 282 peaks, 167 of DIALS' 176 spots (0.949), precision 0.592
    assert abs(f["n_found"] - 282) <= 10 and f["n_reference"] == 176
    assert 0.92 <= f["recall"] <= 0.97 and 0.52 <= f["precision"] <= 0.66, f
    assert f["indexed"] and f["lattices_agreeing"] >= 1 and f["misorientation_deg"] <= 0.2
    assert r["metrics"]["cell"]["gamma"]["mean"] == pytest.approx(120.0)
    assert r["reference_indexing"]["n_indexed_of_those"] == 1


@real
def test_cli_evaluate_with_reference(tmp_path, capsys):
    from peaknet_bench.cli import main
    from peaknet_bench.evaluate.reference import load_reference_results

    params = tmp_path / "pf8.json"
    params.write_text(json.dumps(PF8["cspad"]))
    out = tmp_path / "r.json"
    args = ["evaluate", "--frames", str(CBF / FILES[CSPAD]), "--reference", str(FIXTURES / "cspad.strong.refl"),
            "--params", str(params), "--cell", str(REAL.parent / "data" / "pdb" / "2tli.pdb"), "-o", str(out)]
    assert main(args + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reference_kind"] == "dials-refl" and summary["match_radius_px"] == 2.0
    assert summary["n_reference"] == 176 and 0.92 <= summary["recall"] <= 0.97
    assert summary["reference_indexing"] is None  # a strong.refl does not index
    data = load_reference_results(out)
    assert data["frames"][0]["n_matched"] == summary["n_matched"] and data["indexer"]["target_cell"][0] == 93.99
    # the human summary: one table row per frame and per detector
    assert main(args + ["--match-radius", "1"]) == 0
    text = capsys.readouterr().out
    assert "within 1 px" in text and f"{CSPAD}.cbf" in text and "CS PAD" in text and f"wrote {out}" in text
    assert load_reference_results(out)["config"]["match_radius_px"] == 1.0
    assert main(["evaluate", "--frames", str(CBF / FILES[CSPAD]), "--reference", str(DIALS), "--experiment", "x"]) == 1
    assert "--experiment does not go with --reference" in capsys.readouterr().err
    # a YAML parameters file (dispersion, a model's extraction) works here too
    disp = tmp_path / "dispersion.yaml"
    disp.write_text("gain: 25\nglobal_threshold: 100\nmin_spot_size: 2\n")
    assert main(["evaluate", "--method", "dispersion", "--params", str(disp), "--frames", str(CBF / FILES[CSPAD]),
                 "--reference", str(FIXTURES / "cspad.strong.refl"), "--cell", str(REAL.parent / "data" / "pdb" / "2tli.pdb"),
                 "-o", str(tmp_path / "d.json"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_reference"] == 176 and d["recall"] > 0.95


@real
def test_two_samples_in_one_run_take_each_frames_known_cell():
    """No --cell: each frame is indexed with the known cell DIALS used for its image."""
    from peaknet_bench.evaluate.methods import pf8_method
    from peaknet_bench.evaluate.reference import ReferenceConfig, evaluate_against_reference
    from peaknet_bench.peakfind import Peakfinder8Params

    files = [str(CBF / FILES[n]) for n in (CSPAD, "thau_3_2_0001")]
    r = evaluate_against_reference(pf8_method(Peakfinder8Params(**PF8["pilatus"])), files, DIALS,
                                   ReferenceConfig(show_progress=False)).to_dict()
    cells = {c["lattice"]: c for c in r["indexer"]["target_cells"]}
    assert r["indexer"]["target_cell"] is None and set(cells) == {"hexagonal P P 61 2 2", "tetragonal P P 41 21 2"}
    assert all(c["n_frames"] == 1 for c in cells.values())
    assert all(f["indexed"] and f["lattices_agreeing"] for f in r["frames"])
    by = r["metrics"]["by_detector"]
    assert by["CS PAD"]["cell"]["gamma"]["mean"] == pytest.approx(120.0)
    assert by["PILATUS3 6M, S/N 60-0119"]["cell"]["c"]["mean"] == pytest.approx(151.5, rel=0.01)
    assert r["reference_indexing"]["n_indexed_of_those"] == 2


def test_a_stream_of_the_truth_gives_the_harness_truth_metrics(tmp_path):
    """A multi-frame CXI run (frames keyed by event //i) against a stream holding its simulator
    truth: agreement equals the harness' truth precision/recall at the same radius, frame by frame."""
    from test_evaluate_harness import tiny_experiment

    from peaknet_bench.evaluate.frames import CXIFrames
    from peaknet_bench.evaluate.harness import EvalConfig, evaluate
    from peaknet_bench.evaluate.methods import pf8_method
    from peaknet_bench.evaluate.reference import ReferenceConfig, evaluate_against_reference
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamWriter
    from peaknet_bench.peakfind import Peakfinder8Params
    from peaknet_bench.sim import TruthFile, load_experiment, simulate_run, truth_path_for

    run = tmp_path / "run.cxi"
    simulate_run(load_experiment(str(tiny_experiment(tmp_path / "exp"))), 4, 3, run, show_progress=False)
    geom = run.with_suffix(".geom")
    stream = tmp_path / "truth.stream"
    with TruthFile(truth_path_for(run)) as tf, StreamWriter(stream, geometry_text=geom.read_text(),
                                                             cell_text=run.with_suffix(".cell").read_text()) as w:
        for i in range(4):
            w.write_chunk(StreamChunk(filename=str(run), event=f"//{i}", photon_energy_ev=9500.0, clen_m=0.04,
                                      peaks=tf.foundable_peaks(i), crystals=[StreamCrystal(astar=a) for a in tf.astar(i)]))
    method = pf8_method(Peakfinder8Params(threshold=30.0, min_snr=5.0))
    r = evaluate_against_reference(method, str(run), stream, ReferenceConfig(show_progress=False, n_boot=50),
                                   geom=str(geom)).to_dict()
    h = evaluate(method, CXIFrames(run, geom), EvalConfig(match_radius_px=2.0, n_boot=50, show_progress=False))
    assert [f["index"] for f in r["frames"]] == [0, 1, 2, 3]
    assert [f["n_reference"] for f in r["frames"]] == [f.n_foundable for f in h.frames]
    assert [f["n_matched"] for f in r["frames"]] == [f.n_matched for f in h.frames]
    assert [(f["hit"], f["indexed"]) for f in r["frames"]] == [(f.hit, f.indexed) for f in h.frames]
    pooled = r["agreement"]["pooled"]
    assert pooled["recall"] == pytest.approx(h.metrics.truth["peak_recall"])
    assert pooled["precision"] == pytest.approx(h.metrics.truth["peak_precision"])
    assert pooled["n_matched"] > 0
    # the stream's crystals are the reference's indexing: every indexed hit is in a true lattice
    ri = r["reference_indexing"]
    assert ri["n_reference_indexed"] == sum(not f.blank for f in h.frames)
    assert ri["n_in_reference_lattice"] == ri["n_indexed_of_those"] == h.metrics.n_indexed > 0
    assert r["indexer"]["target_cell"] == pytest.approx(h.indexer.target_cell)  # the stream's unit cell block


@real
def test_indexed_refl_places_unassigned_spots_by_image_set_and_counts_lattices(tmp_path):
    """An indexed.refl as dials.index writes it: one experiment per lattice (two on the split
    crystal's image), spots no lattice took with id -1 and their `imageset_id`, `miller_index`."""
    from peaknet_bench.io.spots import open_reference, read_refl_columns

    cols, _, n = read_refl_columns(FIXTURES / "pilatus.strong.refl", ["xyzobs.px.value", "panel", "id"])
    imageset = cols["id"].astype(np.int64)  # strong.refl: experiment k = image set k (0001, 0004)
    new_id = imageset.copy()
    rows_4 = np.flatnonzero(imageset == 1)
    new_id[rows_4[::3]] = 2  # a second lattice on thau_3_2_0004
    new_id[::5] = -1  # not indexed
    hkl = np.where(new_id[:, None] >= 0, 1, 0).astype("<i4") * np.array([1, 2, 3], "<i4")
    data = {"xyzobs.px.value": ["vec3<double>", [n, cols["xyzobs.px.value"].astype("<f8").tobytes()]],
            "panel": ["std::size_t", [n, cols["panel"].astype("<u8").tobytes()]],
            "id": ["int", [n, new_id.astype("<i4").tobytes()]],
            "imageset_id": ["int", [n, imageset.astype("<i4").tobytes()]],
            "miller_index": ["cctbx::miller::index<>", [n, hkl.tobytes()]]}
    _pack_refl(tmp_path / "indexed.refl", data, n, {0: "lat-a", 1: "lat-b", 2: "lat-c"})
    expt = json.loads((FIXTURES / "pilatus.imported.expt").read_text())
    e0, e1 = expt["experiment"][:2]
    expt["experiment"] = [{**e0, "identifier": "lat-a"}, {**e1, "identifier": "lat-b"}, {**e1, "identifier": "lat-c"}]
    (tmp_path / "indexed.expt").write_text(json.dumps(expt))
    ref = open_reference(tmp_path / "indexed.refl")
    assert ref.has_indexing and ref.expt_path.endswith("indexed.expt")
    csv_ref = open_reference(DIALS)
    for name, lattices in (("thau_3_2_0001", 1), ("thau_3_2_0004", 2), ("thau_3_2_0016", 0)):
        entry = ref.lookup(_frame(name))
        _same_spots(entry.spots, csv_ref.lookup(_frame(name)).spots, tol=0.001)  # unassigned spots included
        assert (entry.indexed, entry.n_lattices) == (lattices > 0, lattices)
    # without an experiment list, spots with id -1 cannot be placed
    (tmp_path / "indexed.expt").unlink()
    with pytest.raises(InputError) as err:
        open_reference(tmp_path / "indexed.refl")
    assert err.value.where == "column 'id'" and "id -1" in err.value.message


def test_on_lattice_marks_peaks_at_the_lattices_reflections_and_measures_chance():
    """A simulated hit: peaks at its true reflections lie on its lattice; the same peaks moved by
    a few times the radius mostly do not; the chance level is the covered fraction of the
    good pixels, small for a sparse lattice."""
    from peaknet_bench.evaluate.reference import on_lattice
    from peaknet_bench.sim import Simulator, load_experiment

    sim = Simulator(load_experiment("epix10k-lysozyme"), seed=0)
    frame = next(f for f in (sim.frame(i) for i in range(20)) if f.truth.crystals and f.truth.foundable.sum() >= 50)
    refl = frame.truth.reflections.subset(np.flatnonzero(frame.truth.foundable))
    bases = [c.real_basis() for c in frame.truth.crystals]
    cell = frame.truth.crystals[0].cell
    on, chance = on_lattice(refl, bases, cell, frame, 2.0)
    assert on.mean() >= 0.9 and 0.0 < chance < 0.05
    shifted = replace(refl, fs=refl.fs + 7.0, ss=refl.ss + 5.0)
    off, same = on_lattice(shifted, bases, cell, frame, 2.0)
    assert same == chance and off.mean() < 0.2


@real
def test_extra_peaks_on_the_reference_lattice_are_reported_per_detector():
    """peakfinder8's CSPAD peaks without a DIALS spot: many are reflections of DIALS' own
    lattice (a random position almost never is) — precision counts real spots the reference
    did not call strong."""
    from peaknet_bench.evaluate.methods import pf8_method
    from peaknet_bench.evaluate.reference import ReferenceConfig, evaluate_against_reference
    from peaknet_bench.peakfind import Peakfinder8Params

    r = evaluate_against_reference(pf8_method(Peakfinder8Params(**PF8["cspad"])), [str(CBF / FILES[CSPAD])], DIALS,
                                   ReferenceConfig(show_progress=False)).to_dict()
    row = r["frames"][0]
    lat = r["agreement"]["pooled"]["unmatched_on_reference_lattice"]
    assert lat["n_unmatched"] == row["n_found"] - row["n_matched"] > 0
    assert lat["n_on_lattice"] == row["n_unmatched_on_lattice"]
    assert 0 < lat["fraction_by_chance"] < 0.05 and lat["fraction"] > 5 * lat["fraction_by_chance"]
    assert lat["fraction_of_matched"] > lat["fraction"]
