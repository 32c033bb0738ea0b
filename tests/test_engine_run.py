"""The engine pipeline: output, resumability, Ray scheduling and fault tolerance."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.engine.labels import label_iou
from peaknet_bench.engine.run import (
    EngineConfig, EngineJob, RunOptions, iter_output, process_batch, read_batch, run_engine,
)
from peaknet_bench.engine.profile import FitConfig
from synthetic_windows import SyntheticRun, SyntheticRunConfig, small_geometry
from peaknet_bench.errors import InputError


@pytest.fixture(scope="module")
def source() -> SyntheticRun:
    return SyntheticRun(small_geometry(), seed=3, config=SyntheticRunConfig(n_frames=6))


def _job(src) -> EngineJob:
    return EngineJob(src, src.found, src.predicted)


def _collect(out) -> dict[int, tuple]:
    rows = {}
    for b in iter_output(out):
        for j, i in enumerate(b.frames["index"].tolist()):
            assert i not in rows, f"frame {i} written twice"
            fit = b.fitted["frame"] == j
            rows[i] = (bool(b.frames["selected"][j]), b.frames["reason"][j], b.labels[j].copy(),
                       np.round(b.fitted["fs"][fit], 6), b.fitted["accepted"][fit])
    return rows


def test_process_batch_end_to_end(source):
    idx = [0, 1, 4]
    frames = [source.frame(i) for i in idx]
    found = [source.found(f, i) for f, i in zip(frames, idx)]
    pred = [source.predicted(f, i, p) for f, i, p in zip(frames, idx, found)]
    b = process_batch(frames, found, pred, idx)
    assert b.frames["selected"].tolist() == [True, True, False]  # frame 4 is blank
    assert "found 0 < 15" in b.frames["reason"][2]
    assert b.labels.shape == (3,) + source.geometry.slab_shape and b.labels.dtype == np.uint8
    assert not b.labels[2].any()
    # Only matched found peaks of selected frames are fitted; fitted centres land near the truth.
    assert np.all(b.found["matched"][b.fitted["found_index"][b.fitted["frame"] == 0]])
    truth = frames[0].meta["truth_params"]
    ok = b.fitted["accepted"] & (b.fitted["frame"] == 0)
    d = np.hypot(b.fitted["fs"][ok][:, None] - truth[None, :, 3], b.fitted["ss"][ok][:, None] - truth[None, :, 2]).min(axis=1)
    assert np.median(d) < 0.1
    assert b.fitted["accepted"].mean() > 0.7
    # Labels agree with the true half-maximum masks.
    assert label_iou(b.labels[0], source.truth_labels(0)) > 0.6
    s = b.summary()
    assert s["n_frames"] == 3 and s["n_selected"] == 2 and s["n_fitted"] == s["n_accepted"] + s["n_rejected"]


@pytest.mark.determinism
def test_local_run_resumes_to_the_same_result(source, tmp_path):
    full = tmp_path / "full"
    rep = run_engine(_job(source), full, RunOptions(use_ray=False, batch_size=4))
    assert rep.n_frames == 6 and rep.n_batches == 2 and rep.n_batches_resumed == 0
    reference = _collect(full)
    assert sorted(reference) == list(range(6))
    # Simulate a run killed after its first batch: drop the second batch and its record.
    part = tmp_path / "part"
    run_engine(_job(source), part, RunOptions(use_ray=False, batch_size=4))
    import json

    m = json.loads((part / "manifest.json").read_text())
    del m["batches"]["1"]
    (part / "manifest.json").write_text(json.dumps(m))
    (part / "batch_000001.h5").unlink()
    rep2 = run_engine(_job(source), part, RunOptions(use_ray=False, batch_size=4))
    assert rep2.n_batches_resumed == 1 and rep2.n_frames == 6
    again = _collect(part)
    for i in range(6):
        assert again[i][0] == reference[i][0] and again[i][1] == reference[i][1]
        assert np.array_equal(again[i][2], reference[i][2])
        assert np.array_equal(again[i][3], reference[i][3])
    # A batch file that was written but never recorded is adopted, not recomputed.
    mtimes = [p.stat().st_mtime_ns for p in sorted(part.glob("batch_*.h5"))]
    (part / "manifest.json").write_text(json.dumps({**m, "batches": {}}))
    rep3 = run_engine(_job(source), part, RunOptions(use_ray=False, batch_size=4))
    assert rep3.n_frames == 6 and rep3.n_batches_resumed == 2
    assert [p.stat().st_mtime_ns for p in sorted(part.glob("batch_*.h5"))] == mtimes
    # Other settings in the same directory are refused.
    with pytest.raises(InputError):
        run_engine(_job(source), part, RunOptions(use_ray=False, batch_size=3))
    with pytest.raises(InputError):
        cfg = EngineConfig(fit_peaks="found")
        run_engine(EngineJob(source, source.found, source.predicted, cfg), part, RunOptions(use_ray=False, batch_size=4))


class CrashOnce:
    """A peak source whose worker process dies (os._exit) the first time it sees `frame`."""

    def __init__(self, src: SyntheticRun, frame: int, marker: str) -> None:
        self.src, self.frame_to_kill, self.marker = src, frame, marker

    def describe(self) -> str:
        return "crash-once(synthetic found peaks)"

    def __call__(self, frame, i):
        if i == self.frame_to_kill and not os.path.exists(self.marker):
            Path(self.marker).write_text("killed once")
            os._exit(1)
        return self.src.found(frame, i)


def test_ray_run_survives_a_dead_worker(ray_session, source, tmp_path):
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    marker = tmp_path / "marker"
    job = EngineJob(source, CrashOnce(source, 3, str(marker)), source.predicted)
    opts = RunOptions(batch_size=2, max_concurrent_batches=2, fit_chunk=16, max_retries=2)
    rep = run_engine(job, tmp_path / "ray", opts)
    assert marker.exists()  # the worker really died once
    assert rep.n_frames == 6 and rep.n_batches == 3
    got = _collect(tmp_path / "ray")
    assert sorted(got) == list(range(6))  # nothing lost, nothing duplicated
    # Same decisions and labels as the serial run.
    run_engine(_job(source), tmp_path / "serial", RunOptions(use_ray=False, batch_size=2))
    ref = _collect(tmp_path / "serial")
    for i in range(6):
        assert got[i][0] == ref[i][0] and np.array_equal(got[i][2], ref[i][2])
        np.testing.assert_allclose(got[i][3], ref[i][3], atol=1e-6)


def test_batch_file_round_trip(source, tmp_path):
    from peaknet_bench.engine.run import write_batch

    frames = [source.frame(0)]
    found = [source.found(frames[0], 0)]
    b = process_batch(frames, found, [source.predicted(frames[0], 0, found[0])], [0])
    write_batch(tmp_path / "b.h5", b)
    r = read_batch(tmp_path / "b.h5")
    assert np.array_equal(r.labels, b.labels)
    assert r.frames["reason"].tolist() == b.frames["reason"].tolist()
    for k in b.fitted:
        np.testing.assert_array_equal(r.fitted[k], b.fitted[k])
    assert not list(tmp_path.glob(".*tmp"))


def test_indexer_predictions_source(tmp_path):
    """PredictionsFromIndexer: the built-in indexer's lattice, predicted, matches the found peaks."""
    from peaknet_bench.crystal import UnitCell, write_cell_file
    from peaknet_bench.engine.peakdiff import peakdiff
    from peaknet_bench.engine.inputs import PredictionsFromIndexer
    from peaknet_bench.frame import Frame
    from peaknet_bench.geometry import preset
    from synthetic_peaks import SyntheticPeaksConfig, synthetic_frame

    geom = preset("epix10k2m")
    cell = UnitCell(79.1, 79.1, 37.9, 90, 90, 90, "tetragonal", "P", "c", "P 43 21 2")
    write_cell_file(cell, tmp_path / "lys.cell")
    hit = synthetic_frame(cell, geom, 9500.0, np.random.default_rng(4),
                          SyntheticPeaksConfig(n_true=(80, 80), spurious_fraction=0.05), clen_m=0.1)
    frame = Frame(np.zeros(geom.slab_shape, np.float32), geom.bad_pixel_mask(), geom, 9500.0, 0.1)
    source = PredictionsFromIndexer(str(tmp_path / "lys.cell"), "epix10k2m")
    pred = source(frame, 0, hit.peaks)
    assert len(pred) > len(hit.peaks) and pred.hkl is not None
    m = peakdiff(hit.peaks, pred)
    assert m.precision > 0.8
    # The source pickles without its indexer (it is rebuilt on the worker).
    import pickle

    assert "_ix" not in pickle.loads(pickle.dumps(source)).__dict__


def test_fit_all_found_peaks_option(source):
    frames = [source.frame(0)]
    found = [source.found(frames[0], 0)]
    pred = [source.predicted(frames[0], 0, found[0])]
    matched = process_batch(frames, found, pred, [0])
    everything = process_batch(frames, found, pred, [0], EngineConfig(fit_peaks="found"))
    assert everything.fitted["found_index"].tolist() == list(range(len(found[0])))
    assert matched.summary()["n_fitted"] < everything.summary()["n_fitted"]


def test_unfit_label_option_labels_rejected_fits_from_their_pixels(source):
    frames = [source.frame(0)]
    found = [source.found(frames[0], 0)]
    pred = [source.predicted(frames[0], 0, found[0])]
    # A χ² cut no fit passes: every fitted peak is rejected.
    tight = {"fit": FitConfig(chi2_max=1e-9)}
    paper = process_batch(frames, found, pred, [0], EngineConfig(**tight))
    data = process_batch(frames, found, pred, [0], EngineConfig(**tight, unfit_label="half_max"))
    assert paper.summary()["n_accepted"] == 0 and not paper.labels.any()
    assert "data_labelled" not in paper.fitted and data.fitted["data_labelled"].all()
    # Every rejected peak gets a label near its centre, and the labels track the true masks.
    lab = data.labels[0].astype(bool)
    assert lab[data.fitted["ss0"], data.fitted["fs0"]].mean() > 0.9
    assert label_iou(lab, source.truth_labels(0)) > 0.5
    # Accepted fits keep the fitted-profile labels: with the default cut the option only adds pixels.
    default = process_batch(frames, found, pred, [0])
    both = process_batch(frames, found, pred, [0], EngineConfig(unfit_label="half_max"))
    assert np.all(both.labels >= default.labels)
    assert np.array_equal(both.fitted["data_labelled"], ~both.fitted["accepted"])
    # The option is recorded in a run's identity only when set (older identities unchanged).
    assert "unfit_label" not in EngineConfig().to_dict()
    assert EngineConfig(unfit_label="half_max").to_dict()["unfit_label"] == "half_max"
    with pytest.raises(InputError, match="unfit_label"):
        EngineConfig(unfit_label="box")
