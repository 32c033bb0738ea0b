"""Robustness of inference and its output (issue 20: defects 1, 2, 5, 8, 10).

Each test reproduces a probe finding: two writers in one output directory, a NaN/Inf
pixel wiping a frame's peaks, an interrupted run that could not be finished without
duplicates, a CUDA device on a machine without one, temporaries of killed writers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from test_infer_pipeline import N_FRAMES, SIZE, BrightNet, _ship_this_module, run  # noqa: F401 (fixture)

from peaknet_bench.errors import InputError
from peaknet_bench.infer.config import RunnerConfig
from peaknet_bench.infer.model_runner import ModelPeakFinder
from peaknet_bench.io.cxi import CXIReader
from peaknet_bench.util.atomic import write_text_atomic
from peaknet_bench.util.outdir import INCOMPLETE_NAME, LOCK_NAME, OutputClaim


def _pipeline(run, out, resume=False, **kw):
    from peaknet_bench.infer.pipeline import Pipeline, PipelineConfig
    from peaknet_bench.infer.sources import CXISource

    _ship_this_module()
    cxi, geom, _ = run
    cfg = PipelineConfig(n_sources=1, frames_per_file=4, queue_size=8, live=False, resume=resume, **kw)
    return Pipeline(CXISource([cxi], geom), BrightNet(), out, RunnerConfig(size=SIZE, batch_size=4), cfg)


# ------------------------------------------------------------ 1: one writer per directory
def test_a_second_writer_is_refused_while_a_run_holds_the_directory(ray_session, run, tmp_path):
    out = tmp_path / "out"
    with OutputClaim(out, "someone else"):
        with pytest.raises(InputError, match="another run is writing to this directory"):
            _pipeline(run, out).run()
        assert not list(out.glob("*.cxi"))  # refused before writing anything
    summary = _pipeline(run, out).run()  # the claim is released: the directory is free again
    assert summary["n_frames"] == N_FRAMES
    assert not (out / LOCK_NAME).exists() and not (out / INCOMPLETE_NAME).exists()


def test_claim_is_held_across_processes_and_dies_with_its_holder(tmp_path):
    out = tmp_path / "out"
    code = ("import sys, time; from peaknet_bench.util.outdir import OutputClaim; "
            "c = OutputClaim(sys.argv[1], 'holder'); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=rf"holder, pid {proc.pid}"):
            OutputClaim(out, "me")
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs in the holder
        proc.wait()
    with OutputClaim(out, "me"):  # the kernel dropped the lock: never stale
        pass


# ------------------------------------------------------------ 5: resume an interrupted run
def test_resume_finishes_an_interrupted_run_without_duplicates(ray_session, run, tmp_path):
    from peaknet_bench.infer.pipeline import read_events

    cxi, geom, _ = run
    out = tmp_path / "out"
    full = _pipeline(run, out).run()
    files = sorted(full["files"])
    assert len(files) == N_FRAMES // 4
    # What a SIGKILL after three files leaves: those files and the INCOMPLETE marker.
    for f in files[3:]:
        Path(f).unlink()
    (out / INCOMPLETE_NAME).write_text(json.dumps({"identity": _pipeline(run, out)._identity()}))
    stale = out / ".peaks-w00-00009.cxi.999999999.abc123.tmp"  # a killed writer's half file
    stale.write_bytes(b"x" * 100)
    kept = read_events(files[:3])

    with pytest.raises(InputError, match="pass --resume"):
        _pipeline(run, out).run()
    resumed = _pipeline(run, out, resume=True).run()
    assert resumed["resumed"]["frames"] == len(kept) == 12
    assert resumed["n_frames"] == N_FRAMES - len(kept)  # only the missing frames were processed
    assert not set(resumed["files"]) & set(files[:3])  # numbered after the interrupted run's files
    all_files = sorted(str(p) for p in out.glob("peaks-w*.cxi"))
    events = read_events(all_files)
    with CXIReader(cxi, geom) as r:
        expected = sorted(r.event(i) for i in range(len(r)))
    assert sorted(events) == expected  # every frame exactly once
    assert not (out / INCOMPLETE_NAME).exists()  # finished now
    assert not stale.exists()
    with pytest.raises(InputError, match="finished; there is nothing to resume"):
        _pipeline(run, out, resume=True).run()


def test_an_interrupted_run_leaves_the_directory_marked_incomplete(ray_session, run, tmp_path):
    out = tmp_path / "out"
    pipe = _pipeline(run, out)
    pipe.stop()  # stands in for Ctrl-C before any frame
    summary = pipe.run()
    assert summary["interrupted"]
    marker = json.loads((out / INCOMPLETE_NAME).read_text())
    assert marker["identity"]["source"] == "run.cxi"
    assert json.loads((out / "summary.json").read_text())["interrupted"]


def test_resume_refuses_another_input(ray_session, run, tmp_path):
    out = tmp_path / "out"
    _pipeline(run, out).run()
    (out / INCOMPLETE_NAME).write_text(json.dumps({"identity": {"source": "other.cxi"}}))
    with pytest.raises(InputError, match="resume it with the same input"):
        _pipeline(run, out, resume=True).run()


# ------------------------------------------------------------ 2: NaN / Inf pixels are bad pixels
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_unmasked_nonfinite_pixel_does_not_wipe_a_frames_peaks(run, value):
    cxi, geom, _ = run
    finder = ModelPeakFinder(BrightNet(), geom, RunnerConfig(size=SIZE, batch_size=2))
    with CXIReader(cxi, geom) as r:
        frame = max((r.frame(i) for i in range(len(r))), key=lambda f: len(finder.find(f)))
    clean = finder.find(frame)
    assert len(clean) > 10
    bad = frame.data.copy()
    good = np.argwhere(frame.mask & (geom.panel_map >= 0))
    far = good[np.argmin(np.abs(good - good.mean(0)).sum(1))]  # a good pixel; the peaks elsewhere stay
    bad[tuple(far)] = value
    frame.data = bad
    found = finder.find(frame)
    assert abs(len(found) - len(clean)) <= 1, (len(clean), len(found))
    prepared = finder.runner.prepare(bad[None], frame.mask[None])
    assert prepared.nonfinite.tolist() == [1]
    assert np.isfinite(prepared.images.numpy()).all()


def test_canvas_treats_nonfinite_pixels_as_bad(run):
    from peaknet_bench.data.canvas import CanvasPlan, count_nonfinite, good_moments
    from peaknet_bench.geometry import Assembler

    _, geom, _ = run
    rng = np.random.default_rng(0)
    slab = rng.normal(10, 2, geom.slab_shape).astype(np.float32)
    mask = np.ones(geom.slab_shape, bool)
    n0, m0, s0 = good_moments(slab, mask)
    slab[3, 4], slab[5, 6] = np.nan, np.inf
    n, m, s = good_moments(slab, mask)
    assert n == n0 - 2 and np.isfinite(m) and np.isfinite(s)
    assert count_nonfinite(slab, mask) == 2
    mask[3, 4] = False  # already masked: not counted again
    assert count_nonfinite(slab, mask) == 1
    plan = CanvasPlan.build(Assembler(geom))
    img, good = np.empty(plan.size, np.float32), np.empty(plan.size, bool)
    plan.fill(slab, np.ones_like(mask), img, good, mean=m, scale=1 / s)
    assert np.isfinite(img).all() and good.sum() == (geom.panel_map >= 0).sum() - 2


# ------------------------------------------------------------ 8: a device this machine lacks
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_up_front(tmp_path, capsys):
    from peaknet_bench.cli import main
    from peaknet_bench.evaluate.methods import model_method

    with pytest.raises(InputError, match="device: 'cuda' asked for"):
        RunnerConfig(device="cuda").validate()
    with pytest.raises(InputError, match="not a torch device"):
        RunnerConfig(device="gpu0").validate()
    with pytest.raises(InputError, match="--device"):
        model_method(tmp_path / "missing.safetensors", device="cuda:0")
    t0 = time.perf_counter()
    rc = main(["infer", "run", "--method", "cpu-student", "--experiment", "epix10k-lysozyme", "--n-frames", "1",
               "--device", "cuda", "-o", str(tmp_path / "o")])
    assert rc == 1 and time.perf_counter() - t0 < 60
    assert "'cuda' asked for" in capsys.readouterr().err


def test_infer_run_refuses_bad_extraction_params_before_starting(tmp_path, capsys):
    from peaknet_bench.cli import main

    bad = tmp_path / "extract.yaml"
    bad.write_text("min_snr: -2\n")
    rc = main(["infer", "run", "--method", "cpu-student", "--experiment", "epix10k-lysozyme", "--n-frames", "1",
               "--device", "cpu", "--params", str(bad), "-o", str(tmp_path / "o")])
    assert rc == 1 and not (tmp_path / "o").exists()
    assert "extract.yaml: min_snr" in capsys.readouterr().err


# ------------------------------------------------------------ 10: stale temporaries
def test_stale_temporaries_of_killed_writers_are_removed_on_rerun(tmp_path):
    from peaknet_bench.data.store import atomic_dir

    target = tmp_path / "run.cxi"
    dead = tmp_path / ".run.cxi.999999999.abc123.tmp"  # no such process
    live = tmp_path / f".run.cxi.{os.getpid()}.def456.tmp"  # a writer still at work
    other = tmp_path / ".other.cxi.999999999.abc123.tmp"  # another file's: not ours to remove
    longer = tmp_path / ".run.cxi.999999999.h5.1.abc123.tmp"  # of "run.cxi.999999999.h5", by pid 1 (alive)
    for p in (dead, live, other, longer):
        p.write_bytes(b"x" * 10)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and not dead.exists()
    assert live.exists() and other.exists() and longer.exists()

    stale_dir = tmp_path / ".dsb_out.999999999.xyz.tmp"
    (stale_dir / "data.zarr").mkdir(parents=True)
    with atomic_dir(tmp_path / "dsb_out") as tmp:
        (tmp / "f").write_text("1")
    assert not stale_dir.exists() and (tmp_path / "dsb_out" / "f").exists()


def test_cxi_writer_temporaries_carry_their_pid(tmp_path):
    from peaknet_bench.io._pending import PendingFile

    p = PendingFile(tmp_path / "x.cxi")
    assert p.tmp.name.startswith(f".x.cxi.{os.getpid()}.")
    p.discard()
