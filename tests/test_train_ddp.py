"""Two-process DDP and FSDP2 smoke tests on CPU (gloo), launched with torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _worker(out_dir: str) -> None:
    """Run under torchrun: train a tiny model 3 steps, dump this rank's weights."""
    torch.set_num_threads(1)
    from peaknet_bench.models import BackboneSpec, BiFPNConfig, HeadConfig, ModelConfig
    from peaknet_bench.train.synthetic import SyntheticPeaks
    from peaknet_bench.train.trainer import TrainConfig, Trainer

    model = ModelConfig(name="ddp-tiny",
                        backbone=BackboneSpec("convnextv2", {"widths": [8, 16, 24, 32], "depths": [1, 1, 1, 1]}),
                        bifpn=BiFPNConfig(channels=8, num_blocks=1), head=HeadConfig(channels=8))
    cfg = TrainConfig(model=model.to_dict(), out_dir=out_dir, steps=3, batch_size=1, grad_accum=2, lr=1e-2,
                      warmup_steps=1, progress=False, log_every=1, plot=False,
                      distributed=os.environ.get("PEAKNET_TEST_DIST", "ddp"))
    data = SyntheticPeaks(n_frames=8, height=32, width=32, seed=2)
    tr = Trainer(cfg, train_dataset=data, val_dataset=data)
    result = tr.fit(resume=False)
    rank = tr.env.rank
    # FSDP parameters are DTensor shards: gather each (a collective, same order on every rank)
    full_state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
                  for k, v in tr.raw_model.state_dict().items()}
    torch.save({"state": full_state, "world": tr.env.world, "val": result["val"],
                "first_batch": tr.stream.state_dict()}, Path(out_dir) / f"rank{rank}.pt")
    tr.close()
    # nothing may keep the process group alive past close(): a group torn down at interpreter
    # exit can abort the process (gloo's threads); DDP's reducer is what held it
    import gc

    from torch.nn.parallel import DistributedDataParallel

    alive = sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())
    (Path(out_dir) / f"rank{rank}.closed").write_text(f"{alive}\n")


@pytest.mark.parametrize("mode", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_two_processes_agree(tmp_path, mode):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PEAKNET_TEST_DIST": mode}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
           str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["world"] == r1["world"] == 2
    for rank in (0, 1):
        assert (tmp_path / f"rank{rank}.closed").read_text().strip() == "0", "a DDP wrapper outlived Trainer.close()"
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    # pooled validation metrics are identical on both ranks (synced over the process group)
    assert r0["val"] == r1["val"]
    # the weights moved from their initial values, and rank 0 wrote the checkpoint
    assert (tmp_path / "checkpoints" / "step_00000003" / "model.safetensors").is_file()


if __name__ == "__main__":
    _worker(sys.argv[1])
