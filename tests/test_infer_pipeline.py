"""The model runner, the Ray inference pipeline and `peaknet-bench infer` on a small simulated run.

The network in most tests is `BrightNet`, a fixed segmenter (peak logit = z-score − 4): it
finds the real simulated spots without training, so the pipeline's output can be compared
peak by peak with running `ModelPeakFinder` directly. The CLI test uses a real (untrained)
registry model saved as a checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from test_sim_physics import small_experiment

from peaknet_bench.geometry import read_geom
from peaknet_bench.infer.config import RunnerConfig
from peaknet_bench.infer.model_runner import ModelPeakFinder, ModelRunner
from peaknet_bench.io.cxi import CXIReader
from peaknet_bench.sim import experiment_from_dict, simulate_run

N_FRAMES = 20
SIZE = (192, 224)  # crops the 200-pixel-high image and pads its width: both paths are exercised


class BrightNet(torch.nn.Module):
    """(N, 1, H, W) z-scored image → (N, 2, H, W) logits with the peak class where z > 4."""

    pad_multiple = 32

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x), x - 4.0], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segment(x)


def _ship_this_module() -> None:
    """Ray workers cannot import test modules: send BrightNet's code along by value."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("infer-run")
    exp = experiment_from_dict(small_experiment(tmp, **{"run.hit_fraction": 0.7}), str(tmp / "exp.yaml"))
    simulate_run(exp, N_FRAMES, 5, tmp / "run.cxi", show_progress=False)
    return tmp / "run.cxi", read_geom(tmp / "run.geom"), exp


@pytest.fixture(scope="module")
def direct(run):
    """Peaks of every frame found by ModelPeakFinder in this process, keyed by event."""
    cxi, geom, _ = run
    finder = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE, batch_size=4))
    with CXIReader(cxi, geom) as r:
        frames = list(r)
    return {f.event: p for f, p in zip(frames, finder.find_batch(frames))}, frames


def pipeline_with_a_dying_worker(marker: str, after_batches: int = 1):
    """A Pipeline whose inference worker kills its own process (`os._exit`) once, in a call
    made after `after_batches` completed ones; the marker file makes it happen once per run
    although the replacement worker is of the same class."""
    import os

    from peaknet_bench.infer.pipeline import InferenceWorker, Pipeline

    class DyingWorker(InferenceWorker):
        def process(self, chunk):
            if self.batches >= after_batches:
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly one worker wins
                except FileExistsError:
                    pass
                else:
                    os.close(fd)
                    os._exit(1)
            return super().process(chunk)

    class FaultyPipeline(Pipeline):
        worker_class = DyingWorker

    return FaultyPipeline


@pytest.fixture(scope="module")
def faulty(ray_session, run, tmp_path_factory):
    """One pipeline run over the CXI file whose inference worker kills itself mid-run."""
    from peaknet_bench.infer.pipeline import PipelineConfig
    from peaknet_bench.infer.sources import CXISource

    _ship_this_module()
    cxi, geom, _ = run
    out = tmp_path_factory.mktemp("infer-out")
    marker = out.parent / f"{out.name}.died"
    cfg = PipelineConfig(n_sources=2, n_writers=2, frames_per_file=8, queue_size=8, live=False, monitor_interval_s=0.2)
    pipeline = pipeline_with_a_dying_worker(str(marker), 1)
    summary = pipeline(CXISource([cxi], geom), BrightNet(), out, RunnerConfig(size=SIZE, batch_size=4), cfg).run()
    return summary, out, marker


# ------------------------------------------------------------------ runner
def test_canvas_is_the_training_pad_and_crop_of_the_z_scored_image(run, direct):
    _, geom, _ = run
    _, frames = direct
    f = frames[0]
    full = ModelRunner(BrightNet(), geom, RunnerConfig(size=None))
    crop = ModelRunner(BrightNet(), geom, RunnerConfig(size=SIZE))
    a, b = full.prepare(f.data, f.mask), crop.prepare(f.data, f.mask)
    good = a.good[0]
    z = a.images[0, 0].numpy()
    assert abs(z[good].mean()) < 1e-4 and abs(z[good].std() - 1.0) < 1e-3  # z-score over the good pixels
    assert np.all(z[~good] == 0.0)
    # The cropped/padded canvas is a window of the same image centred on the beam.
    from peaknet_bench.infer.peaks import window

    assert np.array_equal(b.images[0, 0].numpy(), window(z, crop.offset, SIZE))
    assert np.array_equal(b.good[0], window(good, crop.offset, SIZE, fill=False))
    beam = (crop.assembler.y_max - crop.offset[0], -crop.assembler.x_min - crop.offset[1])
    assert abs(beam[0] - (SIZE[0] - 1) / 2) <= 0.5 and abs(beam[1] - (SIZE[1] - 1) / 2) <= 0.5
    assert crop.offset[0] > 0 and crop.offset[1] < 0  # rows cropped, columns padded


def test_runner_peaks_sit_on_the_simulated_reflections(run, direct):
    """The whole coordinate chain (assemble → crop/pad → components → slab) lands on the truth."""
    from peaknet_bench.sim import Simulator

    _, _, exp = run
    peaks, frames = direct
    sim = Simulator(exp, 5)  # the run's seed: frame i is the same frame
    matched = total = 0
    for f in frames[:4]:
        truth = sim.frame(int(f.event[2:])).truth.foundable_peaks()
        p = peaks[f.event]
        assert np.all(p.panel >= 0) and np.all(p.intensity > 0) and np.all(p.npix >= 1)
        if len(p) and len(truth):
            d = np.linalg.norm(p.positions()[:, None] - truth.positions()[None], axis=-1).min(axis=1)
            matched += int(np.sum(d < 2.0))
            total += len(p)
    assert total > 20 and matched / total > 0.8


def test_threshold_selects_a_subset_of_the_argmax_segmentation(run, direct):
    from peaknet_bench.peakfind.base import PeakFinder

    _, geom, _ = run
    _, frames = direct
    argmax = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE))
    strict = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE, threshold=float(torch.sigmoid(torch.tensor(2.0)))))
    assert isinstance(strict, PeakFinder)
    prepared = argmax.runner.prepare(frames[0].data, frames[0].mask)
    loose, tight = argmax.runner.segment(prepared.images), strict.runner.segment(prepared.images)
    z = prepared.images[:, 0].numpy()
    assert np.array_equal(loose, z > 4.0)
    far = np.abs(z - 6.0) > 1e-4  # softmax p > sigmoid(2) <=> logit gap z - 4 > 2 (up to float rounding)
    assert np.array_equal(tight[far], (z > 6.0)[far])
    assert tight.sum() < loose.sum()


def test_host_threads_give_the_same_peaks(run, direct):
    _, geom, _ = run
    peaks, frames = direct
    threaded = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE, batch_size=4, host_threads=2))
    for f, p in zip(frames[:4], threaded.find_batch(frames[:4])):
        want = peaks[f.event]
        np.testing.assert_array_equal(p.fs, want.fs)
        np.testing.assert_array_equal(p.intensity, want.intensity)


def test_onnx_backend_gives_the_same_peaks(run, direct):
    _, geom, _ = run
    peaks, frames = direct
    onnx = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE, backend="onnx"))
    for f in frames[:3]:
        got, want = onnx.find(f), peaks[f.event]
        assert len(got) == len(want)
        np.testing.assert_allclose(got.fs, want.fs, atol=1e-4)
        np.testing.assert_allclose(got.intensity, want.intensity, rtol=1e-4)


def test_checkpoint_and_bf16_paths_load_and_run(run, direct, tmp_path):
    from peaknet_bench.models import build_model, save_model

    _, geom, _ = run
    _, frames = direct
    torch.manual_seed(0)
    ckpt = tmp_path / "m.safetensors"
    save_model(build_model("ref-student"), ckpt)
    a = ModelRunner(ckpt, geom, RunnerConfig(size=(64, 64)))
    b = ModelRunner(a.net, geom, RunnerConfig(size=(64, 64), precision="bf16"))
    prepared = a.prepare(frames[0].data, frames[0].mask)
    assert a.model_name == "ref-student"
    assert a.segment(prepared.images).shape == (1, 64, 64)
    assert b.segment(prepared.images).dtype == bool


# ---------------------------------------------------------------- pipeline
def test_every_frame_appears_exactly_once_despite_a_dead_worker(faulty, direct):
    from peaknet_bench.infer.pipeline import read_events

    summary, out, marker = faulty
    assert marker.exists() and summary["workers_replaced"] == 1 and summary["batches_retried"] >= 1
    events = read_events(summary["files"])
    assert len(events) == N_FRAMES == summary["n_frames"]
    assert sorted(events) == sorted(direct[0])
    sizes = {}
    for d in summary["file_details"]:  # PREFIX-wWW-NNNNN.cxi: full files, then at most one shorter last file
        sizes.setdefault(Path(d["path"]).name.split("-")[1], []).append(d["frames"])
    assert all(all(n == 8 for n in per[:-1]) and 0 < per[-1] <= 8 for per in sizes.values())
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # no partial files


def test_output_is_a_crystfel_cxi_peak_list(faulty, run):
    summary, _, _ = faulty
    cxi, _, _ = run
    with h5py.File(cxi) as src:
        energy = dict(zip(src["/LCLS/eventid"].asstr()[()], src["/LCLS/photon_energy_eV"][()]))
        clen_mm = dict(zip(src["/LCLS/eventid"].asstr()[()], src["/LCLS/detector_1/EncoderValue"][()]))
    for path in summary["files"]:
        with h5py.File(path) as f:
            n = f["/entry_1/result_1/nPeaks"]
            assert n.dtype == np.int32 and n.ndim == 1
            rows = n.shape[0]
            for name in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity"):
                ds = f[f"/entry_1/result_1/{name}"]
                assert ds.dtype == np.float32 and ds.shape == (rows, 2048)
                values = ds[()]
                beyond = np.arange(2048)[None, :] >= n[()][:, None]
                assert np.all(values[beyond] == 0.0)
            events = f["/LCLS/eventid"].asstr()[()]
            assert f["/LCLS/photon_energy_eV"].shape == (rows,)
            np.testing.assert_array_equal(f["/LCLS/photon_energy_eV"][()], [energy[e] for e in events])
            np.testing.assert_allclose(f["/LCLS/detector_1/EncoderValue"][()], [clen_mm[e] for e in events])
            assert list(events) == sorted(events, key=lambda e: int(e[2:]))  # rows in input order


def test_pipeline_peaks_equal_the_model_run_directly(faulty, run, direct):
    from peaknet_bench.infer.pipeline import peaks_by_event

    summary, _, _ = faulty
    _, geom, _ = run
    got = peaks_by_event(summary["files"], geom)
    want = direct[0]
    assert summary["n_peaks"] == sum(len(p) for p in want.values()) > 0
    for event, p in want.items():
        q = got[event]
        assert len(q) == len(p)
        np.testing.assert_allclose(q.fs, p.fs, atol=1e-4)
        np.testing.assert_allclose(q.ss, p.ss, atol=1e-4)
        np.testing.assert_allclose(q.intensity, p.intensity, rtol=1e-5)
        np.testing.assert_array_equal(q.panel, p.panel)


def test_monitoring_writes_json_lines(faulty):
    summary, out, _ = faulty
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines and lines[-1]["written"] == N_FRAMES and lines[-1]["inferred"] >= N_FRAMES
    for key in ("frame_queue_frames", "result_queue_items", "source_fps", "infer_fps", "worker_utilisation"):
        assert key in lines[-1]
    assert summary["stages"]["segment"]["busy_s"] > 0 and summary["frames_per_second"] > 0


def test_stop_on_a_live_source_leaves_only_complete_files(ray_session, run, tmp_path):
    import threading
    import time

    from peaknet_bench.infer.pipeline import Pipeline, PipelineConfig, read_events
    from peaknet_bench.infer.sources import SimulatorSource

    _ship_this_module()
    _, _, exp = run
    cfg = PipelineConfig(n_sources=1, frames_per_file=6, queue_size=8, live=False, monitor_interval_s=0.2)
    pipe = Pipeline(SimulatorSource(exp, 3, n_frames=None), BrightNet(), tmp_path / "out",
                    RunnerConfig(size=SIZE, batch_size=4), cfg)

    def stop_when_busy():  # stands in for Ctrl-C on an endless (live) source
        while pipe.progress["inferred"] < 12:
            time.sleep(0.05)
        pipe.stop()

    threading.Thread(target=stop_when_busy, daemon=True).start()
    summary = pipe.run()
    assert summary["interrupted"] and summary["n_frames"] >= 12
    events = read_events(summary["files"])
    assert len(events) == len(set(events)) == summary["n_frames"]
    assert all(d["frames"] == 6 for d in summary["file_details"][:-1])
    assert not list((tmp_path / "out").glob(".*"))
    with pytest.raises(Exception, match="already holds"):  # a second run never mixes with the first
        Pipeline(SimulatorSource(exp, 3, 4), BrightNet(), tmp_path / "out", RunnerConfig(size=SIZE), cfg).run()


# --------------------------------------------------------------------- CLI
def test_cli_infer_with_a_checkpoint_writes_self_contained_files(ray_session, run, tmp_path, capsys):
    from peaknet_bench.cli import main
    from peaknet_bench.models import build_model, save_model

    cxi, geom, _ = run
    torch.manual_seed(1)
    ckpt = tmp_path / "student.safetensors"
    save_model(build_model("ref-student"), ckpt)
    out = tmp_path / "out"
    rc = main(["infer", "run", "--method", str(ckpt), "--frames", str(cxi), "-o", str(out), "--size", "64", "64",
               "--batch-size", "5", "--sources", "1", "--frames-per-file", "50", "--write-data", "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n_frames"] == N_FRAMES and s["frames_per_second"] > 0 and s["model"]["model"] == "ref-student"
    assert json.loads((out / "summary.json").read_text())["n_frames"] == N_FRAMES
    (path,) = s["files"]
    with CXIReader(path, geom) as r, CXIReader(cxi, geom) as src:
        assert r.has_data and r.has_peaks and len(r) == N_FRAMES
        np.testing.assert_array_equal(r.data(7), src.data(7))
        assert r.event(7) == src.event(7)


def test_cli_rejects_bad_input(tmp_path, capsys):
    from peaknet_bench.cli import main

    assert main(["infer", "run", "--method", "cpu-student", "--frames", str(tmp_path / "missing.cxi"), "--geom",
                 "epix10k2m", "-o", str(tmp_path / "o")]) == 1
    assert "file not found" in capsys.readouterr().err
    assert main(["infer", "run", "--method", "cpu-student", "-o", str(tmp_path / "o")]) == 1
    assert "exactly one of" in capsys.readouterr().err
    assert main(["infer", "run", "--method", "no-such-model", "--experiment", "epix10k-lysozyme", "-o", str(tmp_path / "o")]) == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(64, 96), (20, 30)])  # canvas larger (pad) and smaller (crop) than the image
def test_store_source_and_runner_match_the_training_dataset(tmp_path, size):
    from peaknet_bench.data import PeakNetDataset
    from synthetic_records import build_tiny
    from peaknet_bench.infer.sources import StoreSource

    path = build_tiny(tmp_path / "tiny", frames=8).path
    source = StoreSource(path, split="train", detector="two")
    dataset = PeakNetDataset(path, split="train", size=size)
    items = [k for k, (det, _) in enumerate(dataset.items) if det == "two"]
    chunk = source.read(range(len(items)))
    runner = ModelRunner(BrightNet(), source.geometry(), RunnerConfig(size=size))
    prepared = runner.prepare(chunk["data"], chunk["mask"])
    for i, k in enumerate(items):
        item = dataset[k]
        assert chunk["event"][i] == item["metadata"]["event"]
        np.testing.assert_array_equal(prepared.images[i].numpy(), item["image"].numpy())
        np.testing.assert_array_equal(prepared.good[i], item["mask"].numpy())


def test_two_pixel_cut_applies_to_charge_integrating_detectors_only(run):
    """ExtractionConfig.min_pixel_snr is for detectors whose spots always spread over
    neighbours: the runner keeps it where the geometry integrates charge and drops it for a
    photon-counting detector or one of unknown kind (a CrystFEL .geom says neither)."""
    import dataclasses

    from peaknet_bench.geometry import preset

    _, geom, _ = run
    assert geom.counts_photons is None  # read from a .geom
    kinds = {kind: ModelRunner(BrightNet(), dataclasses.replace(geom, counts_photons=kind)).extraction().min_pixel_snr
             for kind in (False, True, None)}
    assert kinds == {False: 11.0, True: 0.0, None: 0.0}
    assert preset("pilatus6m").counts_photons is True
    assert not any(preset(name).counts_photons for name in ("cspad", "epix10k2m", "jungfrau4m", "rayonix-mx340-4x4"))
