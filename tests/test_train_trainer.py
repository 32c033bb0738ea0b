"""Trainer behaviour: learning, exact resume, checkpoints, configs, distillation cache."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from peaknet_bench.errors import InputError
from peaknet_bench.models import BackboneSpec, BiFPNConfig, HeadConfig, ModelConfig, build_model
from peaknet_bench.train.distill import TeacherCacheDataset, cache_teacher_logits
from peaknet_bench.train.synthetic import SyntheticPeaks
from peaknet_bench.train.trainer import DataStream, TrainConfig, Trainer, epoch_order

torch.set_num_threads(1)

# A few-thousand-parameter PeakNet (ConvNeXtV2 blocks, GRN, BiFPN, both head pathways)
# for the loop-mechanics tests, with drop path on so the RNG state matters for resume.
TINY = ModelConfig(
    name="test-tiny",
    backbone=BackboneSpec("convnextv2", {"widths": [8, 16, 24, 32], "depths": [1, 1, 1, 1],
                                         "drop_path_rate": 0.2}),
    bifpn=BiFPNConfig(channels=8, num_blocks=1),
    head=HeadConfig(channels=8),
)


def tiny_cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(model=TINY.to_dict(), out_dir=str(tmp_path / "run"), steps=6, batch_size=2, grad_accum=2,
                lr=1e-3, warmup_steps=2, log_every=1, progress=False, seed=3, plot=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def frames():
    return SyntheticPeaks(n_frames=5, height=32, width=32, seed=7)


def test_synthetic_frames_are_deterministic_and_valid():
    a, b = SyntheticPeaks(n_frames=2, seed=4), SyntheticPeaks(n_frames=2, seed=4)
    for i in range(2):
        for k in ("image", "label", "mask"):
            assert torch.equal(a[i][k], b[i][k])
    item = a[0]
    assert item["image"].shape == (1, 64, 64) and item["image"].dtype == torch.float32
    assert item["label"].dtype == torch.int64 and item["mask"].dtype == torch.bool
    good = item["image"][0][item["mask"]]
    assert abs(float(good.mean())) < 1e-4 and abs(float(good.std()) - 1) < 1e-2  # z-scored
    assert 0 < float(item["label"].float().mean()) < 0.2
    assert not item["label"][~item["mask"]].any()


def test_epoch_order_is_a_seeded_partition():
    orders = [epoch_order(10, 1, 0, r, 2) for r in range(2)]
    assert sorted(orders[0] + orders[1]) == list(range(10))
    assert epoch_order(10, 1, 0, 0, 2) == orders[0]
    assert epoch_order(10, 1, 1, 0, 2) != orders[0]


def test_data_stream_position_resumes(frames):
    s1 = DataStream(frames, 2, 0, 0, 1)
    seq = [s1.next()["image"] for _ in range(5)]  # crosses an epoch boundary (2 batches / epoch)
    s2 = DataStream(frames, 2, 0, 0, 1)
    [s2.next() for _ in range(3)]
    s3 = DataStream(frames, 2, 0, 0, 1)
    s3.load_state_dict(s2.state_dict())
    for ref in seq[3:]:
        assert torch.equal(s3.next()["image"], ref)


def test_resume_is_bit_exact(tmp_path, frames):
    """2N steps in one go == N steps, a fresh process-like restart from the checkpoint, N steps."""
    full = Trainer(tiny_cfg(tmp_path / "a"), train_dataset=frames)
    full.fit(resume=False)
    first = Trainer(tiny_cfg(tmp_path / "b"), train_dataset=frames)
    first.fit(resume=False, stop_at=3)
    # perturb the global RNG to prove the checkpoint restores it
    torch.manual_seed(999)
    second = Trainer(tiny_cfg(tmp_path / "b"), train_dataset=frames)
    second.fit(resume=True)
    assert second.step == full.step == 6
    sa, sb = full.raw_model.state_dict(), second.raw_model.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    oa, ob = full.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    for k in oa:
        assert torch.equal(oa[k]["exp_avg_sq"], ob[k]["exp_avg_sq"])
    # and the saved weights are what the model holds
    saved = load_file(str(tmp_path / "b" / "run" / "checkpoints" / "step_00000006" / "model.safetensors"))
    assert all(torch.equal(saved[k], sb[k]) for k in sb)


def test_a_second_run_in_the_same_out_dir_is_refused(tmp_path, frames):
    """Two trainings in one directory would interleave logs and checkpoints."""
    from peaknet_bench.util.outdir import OutputClaim

    cfg = tiny_cfg(tmp_path, steps=2)
    with OutputClaim(cfg.out_dir, "model training of test-tiny"):
        with pytest.raises(InputError, match="another run is writing to this directory"):
            Trainer(cfg, train_dataset=frames).fit(resume=False)
        assert not (tmp_path / "run" / "checkpoints").exists()
    Trainer(cfg, train_dataset=frames).fit(resume=False)  # the claim ends with the run that held it
    assert (tmp_path / "run" / "checkpoints" / "step_00000002").is_dir()
    assert not (tmp_path / "run" / ".peaknet-bench.lock").exists()


def test_resume_differs_without_rng_restore_sanity(tmp_path, frames):
    """Guard for the resume test: with drop path on, different seeds really give different weights."""
    a = Trainer(tiny_cfg(tmp_path / "a", steps=2), train_dataset=frames)
    a.fit(resume=False)
    b = Trainer(tiny_cfg(tmp_path / "b", steps=2, seed=4), train_dataset=frames)
    b.fit(resume=False)
    assert any(not torch.equal(x, y) for x, y in zip(a.raw_model.state_dict().values(),
                                                     b.raw_model.state_dict().values()))


def test_logs_checkpoints_and_validation(tmp_path, frames):
    import json

    tr = Trainer(tiny_cfg(tmp_path, steps=4, ckpt_every=2, val_every=2, keep_checkpoints=1, plot=True),
                 train_dataset=frames, val_dataset=frames)
    out = tr.fit(resume=False)
    recs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_recs = [r for r in recs if "loss" in r]
    assert [r["step"] for r in train_recs] == [1, 2, 3, 4]
    assert all(r["grad_norm"] >= 0 and r["lr"] > 0 for r in train_recs)
    assert {"val_f1", "val_iou", "val_precision", "val_recall", "val_loss"} <= set(out["val"])
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*"))
    assert ckpts == ["step_00000004"]  # keep_checkpoints=1 removed step 2
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "step_00000004"
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a fresh (non-resumed) run in the same directory starts a fresh log
    Trainer(tiny_cfg(tmp_path, steps=1), train_dataset=frames).fit(resume=False)
    recs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1]


def test_learning_rate_follows_schedule(tmp_path, frames):
    tr = Trainer(tiny_cfg(tmp_path, steps=5, warmup_steps=2, lr=1e-2, min_lr=1e-4, grad_accum=1), train_dataset=frames)
    lrs = [tr.train_step()["lr"] for _ in range(5)]
    assert lrs[0] == pytest.approx(5e-3) and lrs[1] == pytest.approx(1e-2)
    assert lrs[2] > lrs[3] > lrs[4] > 1e-4


def test_config_validation_and_yaml(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text("model: cpu-student\nsteps: 3\ntrain_data: {kind: synthetic, synthetic: {n_frames: 4}}\n")
    cfg = TrainConfig.load(p)
    assert cfg.steps == 3 and cfg.train_data.synthetic == {"n_frames": 4}
    p.write_text("stepz: 3\n")
    with pytest.raises(InputError, match="stepz"):
        TrainConfig.load(p)
    p.write_text("steps: 0\n")
    with pytest.raises(InputError, match="steps"):
        TrainConfig.load(p)
    with pytest.raises(InputError, match="teacher_cache"):
        TrainConfig(objective="distill").validate()


def test_distillation_reads_cached_teacher_logits(tmp_path, frames):
    import zarr

    torch.manual_seed(0)
    teacher = build_model(TINY).eval()
    cache = cache_teacher_logits(teacher, frames, tmp_path / "t.zarr", batch_size=2, progress=False)
    arr = zarr.open_group(str(cache), mode="r")["logits"]
    assert arr.shape == (5, 2, 32, 32) and arr.chunks == (1, 2, 32, 32) and str(arr.dtype) == "float16"
    with torch.no_grad():
        ref = teacher(frames[3]["image"][None])[0]
    wrapped = TeacherCacheDataset(frames, cache)
    torch.testing.assert_close(wrapped[3]["teacher_logits"], ref, atol=2e-3, rtol=2e-3)
    cfg = tiny_cfg(tmp_path, objective="distill", teacher_cache=str(cache), steps=3)
    out = Trainer(cfg, train_dataset=frames).fit(resume=False)
    assert {"mse", "kl", "focal"} <= set(out["train"])
    with pytest.raises(InputError, match="frames"):
        TeacherCacheDataset(SyntheticPeaks(n_frames=2, height=32, width=32), cache)


@pytest.mark.slow
def test_student_overfits_eight_frames(tmp_path):
    """The paper-size-family student (cpu-student: ConvNeXtV2-atto + BiFPN) memorises 8
    simulated frames with the paper's focal loss to pixel F1 > 0.9."""
    ds = SyntheticPeaks(n_frames=8, height=64, width=64, seed=1, sigma_px=(1.5, 2.5), amplitude=(10.0, 30.0))
    cfg = TrainConfig(model="cpu-student", out_dir=str(tmp_path), steps=OVERFIT_STEPS, batch_size=8, lr=5e-3,
                      min_lr=5e-3, warmup_steps=5, weight_decay=0.0, progress=False, seed=0, plot=False)
    tr = Trainer(cfg, train_dataset=ds, val_dataset=ds)
    best = 0.0
    for step in range(1, cfg.steps + 1):
        tr.train_step()
        if step >= 60 and step % 10 == 0:
            best = max(best, tr.validate()["val_f1"])
            if best > 0.9:
                break
    assert best > 0.9


OVERFIT_STEPS = 120
