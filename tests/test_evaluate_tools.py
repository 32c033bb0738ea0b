"""The tuner (expert baseline), the report, the CLI commands and the model method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluate_harness import FAST, tiny_experiment

from peaknet_bench.cli import main
from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.frames import SimulatedFrames
from peaknet_bench.evaluate.harness import EvalConfig, evaluate
from peaknet_bench.evaluate.methods import pf8_method
from peaknet_bench.evaluate.report import render_report
from peaknet_bench.evaluate.results import load_results
from peaknet_bench.evaluate.tune import TuneConfig, overlapping_frames, tune_pf8
from peaknet_bench.peakfind import Peakfinder8Params


@pytest.fixture(scope="module")
def exp_path(tmp_path_factory) -> Path:
    # Weaker spots on a 1-ADU-per-photon detector: CrystFEL's default ADC threshold (800) finds
    # nothing, a case where defaults are poor and tuning must help.
    return tiny_experiment(tmp_path_factory.mktemp("exp"), spot_photons=300.0, water_photons=2.0)


@pytest.fixture(scope="module")
def tuned(exp_path):
    return tune_pf8(SimulatedFrames(str(exp_path), seed=11, n_frames=6),
                    TuneConfig(budget=8, seed=0, show_progress=False))


def test_tuner_beats_defaults_on_its_frames_and_records_its_cost(tuned):
    t = tuned["tuning"]
    assert t["default"]["params"] == Peakfinder8Params().to_dict()  # trial 0 is CrystFEL's defaults
    assert t["best"]["indexing_yield"] >= t["default"]["indexing_yield"]
    assert t["best"]["indexing_yield"] > 0
    assert t["cost"]["trials"] == len(t["trials"]) <= 8
    assert t["cost"]["frames_processed"] == 6 * t["cost"]["trials"] and t["cost"]["seconds"] > 0
    assert {tr["stage"] for tr in t["trials"]} >= {"default", "random"}
    assert t["frame_indices"] == list(range(6)) and t["dataset"]["seed"] == 11
    # The best trial really is the maximum of what was tried.
    assert t["best"]["indexing_yield"] == max(tr["indexing_yield"] for tr in t["trials"])


def test_tuner_is_seeded(exp_path, tuned):
    again = tune_pf8(SimulatedFrames(str(exp_path), seed=11, n_frames=6), TuneConfig(budget=8, seed=0, show_progress=False))
    assert again["peakfinder8"] == tuned["peakfinder8"]
    assert [tr["params"] for tr in again["tuning"]["trials"]] == [tr["params"] for tr in tuned["tuning"]["trials"]]


def test_tuned_params_file_feeds_evaluation_and_overlap_is_refused(exp_path, tuned, tmp_path):
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(tuned))
    assert Peakfinder8Params.from_json(path).to_dict() == tuned["peakfinder8"]
    tuning_set = SimulatedFrames(str(exp_path), seed=11, n_frames=6)
    assert overlapping_frames(tuned, tuning_set.identity(), range(4, 10)) == [4, 5]
    assert overlapping_frames(tuned, SimulatedFrames(str(exp_path), seed=3, n_frames=6).identity(), range(6)) == []
    rc = main(["evaluate", "--experiment", str(exp_path), "--seed", "11", "-n", "2", "--params", str(path),
               "-o", str(tmp_path / "r.json")])
    assert rc == 1 and not (tmp_path / "r.json").exists()


def test_tuned_beats_default_on_disjoint_frames(exp_path, tuned):
    frames = SimulatedFrames(str(exp_path), seed=3, n_frames=6)
    default = evaluate(pf8_method(), frames, FAST)
    best = evaluate(pf8_method(Peakfinder8Params.from_dict(tuned["peakfinder8"])), frames, FAST)
    assert default.metrics.indexing_yield == 0.0
    assert best.metrics.indexing_yield > 0.5
    assert best.metrics.truth["correct_orientation_rate"] == 1.0


def test_tune_config_validation():
    with pytest.raises(InputError, match="budget"):
        TuneConfig(budget=0)


def test_cli_evaluate_report_and_json(exp_path, tmp_path, capsys):
    out = tmp_path / "res.json"
    rc = main(["evaluate", "--experiment", str(exp_path), "-n", "4", "--seed", "3", "--name", "pf8-d",
               "-o", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_frames"] == 4 and summary["method"] == "pf8-d" and "truth" in summary
    r = load_results(out)
    assert r.method.name == "pf8-d" and r.dataset.n_frames == 4 and r.min_peaks == 10
    rc = main(["evaluate", "--method", "oracle", "--experiment", str(exp_path), "-n", "4", "--seed", "3",
               "--min-peaks", "5", "-o", str(tmp_path / "oracle.json")])
    assert rc == 0
    capsys.readouterr()
    rc = main(["report", str(out), str(tmp_path / "oracle.json"), "-o", str(tmp_path / "rep"), "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_results"] == 2 and [row["method"] for row in rep["rows"]] == ["pf8-d", "oracle"]
    md = (tmp_path / "rep" / "table1.md").read_text()
    assert "| pf8-d |" in md.replace("tiny-eval seed 3 frames 0–3 | ", "") or "pf8-d" in md
    assert "<table>" in (tmp_path / "rep" / "index.html").read_text()
    for png in ("figure6_cells.png", "yield_vs_throughput.png"):
        data = (tmp_path / "rep" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == [
        "figure6_cells.png", "index.html", "table1.md", "yield_vs_throughput.png"]


def test_cli_bad_inputs(exp_path, tmp_path, capsys):
    assert main(["evaluate", "-o", str(tmp_path / "x.json")]) == 1  # neither --frames nor --experiment
    assert main(["evaluate", "--experiment", "no-such-experiment", "-o", str(tmp_path / "x.json")]) == 1
    import shutil

    if shutil.which("indexamajig") is None:  # the CrystFEL backend without CrystFEL: a clear error
        assert main(["evaluate", "--experiment", str(exp_path), "-n", "1", "--indexer", "crystfel",
                     "-o", str(tmp_path / "x.json")]) == 1
        assert "indexamajig is not on PATH" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["report", str(bad), "-o", str(tmp_path / "rep")]) == 1
    assert "schema_name" in capsys.readouterr().err


def test_report_with_no_indexed_frames(exp_path, tmp_path):
    from peaknet_bench.crystal import UnitCell

    r = evaluate(pf8_method(), SimulatedFrames(str(exp_path), seed=3, n_frames=2), FAST,
                 cell=UnitCell(35.0, 45.0, 71.0, 90.0, 90.0, 90.0))
    paths = render_report([r], tmp_path / "rep")
    assert "—" in Path(paths["markdown"]).read_text()  # no cell statistics, rendered as a dash
    (cells,) = [v for k, v in paths.items() if k.startswith("cells:")]
    assert Path(cells).name == "figure6_cells.png" and Path(cells).stat().st_size > 0


def test_model_method_scores_pixels(exp_path, tmp_path):
    from peaknet_bench.evaluate.methods import model_method
    from peaknet_bench.models import build_model, save_model

    save_model(build_model("student-atto-2"), tmp_path / "m.safetensors")
    spec = model_method(tmp_path / "m.safetensors", "atto")
    assert spec.kind == "model" and len(spec.params["sha256"]) == 64
    # An untrained network marks noise as peaks: skip indexing (min_peaks out of reach), the
    # point here is the model path and the pixel scores.
    r = evaluate(spec, SimulatedFrames(str(exp_path), seed=3, n_frames=1),
                 EvalConfig(min_peaks=10**9, n_boot=50, show_progress=False))
    seg = r.metrics.segmentation
    assert seg is not None and seg["n_frames"] == 1
    assert 30_000 < seg["tp"] + seg["fp"] + seg["tn"] + seg["fn"] <= 200 * 200  # every good pixel
    assert 0.0 <= seg["pixel_iou"] <= 1.0 and r.throughput.threads >= 1


def test_quickstart_runs_the_job_and_reuses_its_run(exp_path, tmp_path, capsys):
    args = ["quickstart", "--experiment", str(exp_path), "-n", "4", "--tune-frames", "3", "--budget", "3",
            "-o", str(tmp_path / "qs"), "--model", "none", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert [m["method"] for m in first["methods"]] == ["pf8-default", "pf8-tuned"]
    assert first["methods"][0]["yield"] == 0.0  # CrystFEL's defaults find nothing on this detector
    assert (tmp_path / "qs" / "report" / "table1.md").is_file()
    stamp = (tmp_path / "qs" / "run.cxi").stat().st_mtime_ns
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert (tmp_path / "qs" / "run.cxi").stat().st_mtime_ns == stamp  # cached run reused
    assert second["methods"][1]["yield"] == first["methods"][1]["yield"]


def test_quickstart_evaluates_the_shipped_student_by_default(tmp_path):
    from peaknet_bench.cli import build_parser
    from peaknet_bench.quickstart import SHIPPED_STUDENT

    assert SHIPPED_STUDENT.is_file()
    assert build_parser().parse_args(["quickstart"]).model == str(SHIPPED_STUDENT)
    assert main(["quickstart", "--model", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "q")]) == 1


def test_tuner_keeps_the_defaults_when_nothing_indexes(exp_path):
    from peaknet_bench.crystal import UnitCell

    out = tune_pf8(SimulatedFrames(str(exp_path), seed=11, n_frames=2), TuneConfig(budget=3, show_progress=False),
                   cell=UnitCell(35.0, 45.0, 71.0, 90.0, 90.0, 90.0))
    assert out["tuning"]["best"]["indexing_yield"] == 0.0
    assert out["peakfinder8"] == Peakfinder8Params().to_dict()


def test_refuse_tuning_overlap_reads_any_params_file(tmp_path):
    from peaknet_bench.evaluate.tune import refuse_tuning_overlap

    ident = {"experiment_sha256": "abc", "seed": 3}
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"threshold": 30, "tuning": {"dataset": ident, "frame_indices": [4, 5, 6]}}))
    with pytest.raises(InputError, match="tuned.json: tuning.frame_indices: these parameters were tuned on 2 of"):
        refuse_tuning_overlap(str(tuned), ident, range(5, 10), "evaluate on other frames")
    refuse_tuning_overlap(str(tuned), ident, range(7, 10), "x")  # disjoint frames
    plain = tmp_path / "extract.yaml"
    plain.write_text("min_snr: 6\n")  # not a tuner output: nothing to overlap
    refuse_tuning_overlap(str(plain), ident, range(10), "x")
