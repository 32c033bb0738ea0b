"""Copy the final checkpoints of the reference runs into baselines/models/.

    python baselines/models/package.py runs/ref-teacher runs/ref-student

Writes, per model: NAME.safetensors (config embedded; the teacher in float16 to stay a few
MB, the student in float32 as trained), NAME.model.yaml (the ModelConfig), NAME.curves.png
(the trainer's curves) and NAME.log.jsonl (the trainer's log). Float16 weights load into
the float32 model unchanged (`load_model`), the rounding changes logits by ~1e-3.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from peaknet_bench.models.peaknet import load_model, save_model
from peaknet_bench.util.atomic import write_text_atomic

HERE = Path(__file__).resolve().parent


def package(run_dir: Path, dtype: torch.dtype) -> dict[str, str]:
    ckpt = run_dir / "checkpoints" / (run_dir / "checkpoints" / "latest").read_text().strip()
    model = load_model(ckpt)
    name = model.config.name
    weights = HERE / f"{name}.safetensors"
    save_model(model.to(dtype), weights, {"source_checkpoint": ckpt.name, "dtype": str(dtype).removeprefix("torch.")})
    write_text_atomic(HERE / f"{name}.model.yaml", model.config.to_yaml())
    shutil.copyfile(run_dir / "curves.png", HERE / f"{name}.curves.png")
    shutil.copyfile(run_dir / "log.jsonl", HERE / f"{name}.log.jsonl")
    return {"name": name, "checkpoint": str(ckpt), "weights": str(weights)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("teacher_run", type=Path, help="out_dir of the teacher's `peaknet-bench train`")
    p.add_argument("student_run", type=Path, help="out_dir of the student's `peaknet-bench distill`")
    args = p.parse_args()
    for run, dtype in ((args.teacher_run, torch.float16), (args.student_run, torch.float32)):
        print(package(run, dtype))


if __name__ == "__main__":
    main()
