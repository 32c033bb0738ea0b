"""Evaluation on a dataset split (DatasetFrames): the same frames, truth and metrics as the
simulator run the dataset was built from, and the CLI / leaderboard entry points."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peaknet_bench.data.build import build_dataset
from peaknet_bench.data.manifest import ExperimentEntry, Recipe
from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.frames import DatasetFrames, SimulatedFrames
from peaknet_bench.evaluate.harness import EvalConfig, evaluate
from peaknet_bench.evaluate.methods import pf8_method
from peaknet_bench.peakfind import Peakfinder8Params

from test_evaluate_harness import tiny_experiment

FAST = EvalConfig(n_boot=200, show_progress=False)
PF8 = pf8_method(Peakfinder8Params(threshold=30.0, min_snr=5.0))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    exp = tiny_experiment(tmp_path_factory.mktemp("exp"))
    recipe = Recipe(name="mini", version="0.1", seed=1, engine={"peakfinder8": {"threshold": 30.0, "min_snr": 5.0}},
                    experiments=[ExperimentEntry(name=str(exp), frames=6, seed=3, splits={"test_ood": 1.0})])
    out = tmp_path_factory.mktemp("ds") / "mini"
    build_dataset(None, out, recipe=recipe, progress=False)
    return out, exp


def test_frames_and_truth_are_the_simulators(built):
    root, exp = built
    ds, sim = DatasetFrames(root, "test_ood"), SimulatedFrames(str(exp), seed=3, n_frames=6)
    assert len(ds) == 6 and ds.indices() == list(range(6)) and ds.events() == [f"//{i}" for i in range(6)]
    assert ds.cell.a == pytest.approx(sim.cell.a) and ds.geometry == sim.geometry
    for i in range(6):
        a, b = ds.frame(i), sim.frame(i)
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.mask, b.mask)
        ta, tb = ds.truth(a), sim.truth(b)
        assert ta.blank == tb.blank and len(ta.foundable) == len(tb.foundable)
        np.testing.assert_allclose(ta.foundable.fs, tb.foundable.fs)
        assert len(ta.real_bases) == len(tb.real_bases)
        for x, y in zip(ta.real_bases, tb.real_bases):
            np.testing.assert_allclose(x, y, rtol=1e-9)
    ident = ds.identity()
    assert ident["experiment_sha256"] == sim.identity()["experiment_sha256"] and ident["seed"] == 3
    assert len(ident["sha256"]) == 64 and ident["n_frames"] == 6


def test_metrics_equal_the_simulated_run(built):
    root, exp = built
    a = evaluate(PF8, DatasetFrames(root, "test_ood"), FAST)
    b = evaluate(PF8, SimulatedFrames(str(exp), seed=3, n_frames=6), FAST)
    for key in ("n_hits", "n_indexed", "hit_rate", "indexing_rate", "indexing_yield"):
        assert getattr(a.metrics, key) == getattr(b.metrics, key), key
    assert a.metrics.n_hits > 0 and a.metrics.n_indexed > 0
    assert a.metrics.truth == b.metrics.truth  # peak precision / recall against the same truth
    assert a.dataset.kind == "dataset" and a.dataset.split == "test_ood" and a.dataset.name == "mini"


def test_oracle_reads_the_stored_truth(built):
    from peaknet_bench.evaluate.methods import oracle_method

    root, exp = built
    a = evaluate(oracle_method(), DatasetFrames(root, "test_ood"), FAST)
    b = evaluate(oracle_method(), SimulatedFrames(str(exp), seed=3, n_frames=6), FAST)
    assert a.metrics.n_indexed == b.metrics.n_indexed > 0
    assert a.metrics.truth["peak_recall"] == b.metrics.truth["peak_recall"] == 1.0


def test_bad_selections_are_explained(built):
    root, _ = built
    with pytest.raises(InputError, match="has no frames"):
        DatasetFrames(root, "train")
    with pytest.raises(InputError, match="of experiment 'nope'"):
        DatasetFrames(root, "test_ood", experiment="nope")
    with pytest.raises(InputError, match="outside"):
        DatasetFrames(root, "test_ood", start=4, n_frames=5)


def test_cli_evaluates_a_dataset_split(built, tmp_path, capsys):
    from peaknet_bench.cli import main

    root, _ = built
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--dataset", str(root), "--split", "test_ood", "--params", _params(tmp_path),
               "-o", str(out), "--json"])
    assert rc in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text())["dataset"]["experiment"].endswith("tiny.yaml")
    assert 0.0 <= summary["hit_rate"] <= 1.0


def _params(tmp_path) -> str:
    p = tmp_path / "pf8.json"
    p.write_text(json.dumps({"threshold": 30.0, "min_snr": 5.0}))
    return str(p)


def test_leaderboard_dataset_benchmark_reads_the_split(built, tmp_path):
    from peaknet_bench.evaluate.methods import sha256_file
    from peaknet_bench.leaderboard.benchmarks import Benchmark, expected_events, frame_source, identity_problems

    root, _ = built
    bench = Benchmark(name="mini", version="0.1", split="test_ood", source="dataset",
                      sha256=sha256_file(root / "manifest.json"), path=str(root), start=1, n_frames=4)
    source = frame_source(bench, tmp_path)
    assert len(source) == 4 and expected_events(bench, source) == [f"//{i}" for i in range(1, 5)]
    ident = source.identity()
    assert identity_problems(bench, {"sha256": bench.sha256, "n_frames": 4}, ident) == []
    assert identity_problems(bench, {"sha256": "0" * 64, "n_frames": 4}, ident)
