"""`peaknet-bench train CONFIG` and `peaknet-bench distill --teacher CKPT --student NAME`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import add_json, add_output, verbs

    model = verbs(sub, "model", help="the PeakNet model zoo: list, inspect, export to ONNX, train, distil")
    p = model.add_parser("train", help="train a PeakNet model from a YAML/JSON training config")
    p.add_argument("config", help="training config (.yaml or .json; keys of TrainConfig, see docs/models.md)")
    add_output(p, None, "output directory (default: the config's out_dir)", "--out")
    p.add_argument("--steps", type=int, default=None, help="override the number of optimiser steps")
    p.add_argument("--no-resume", action="store_true", help="start fresh even if the output has a checkpoint")
    p.add_argument("--nproc", type=int, default=1,
                   help="processes on this machine; >1 relaunches under torchrun (DDP/FSDP; default 1)")
    add_json(p)
    p.set_defaults(handler=run_train)

    p = model.add_parser("distill", help="distil a student from a teacher checkpoint (cached teacher logits)")
    p.add_argument("--teacher", required=True, help="teacher weights (.safetensors) or checkpoint directory")
    p.add_argument("--student", default="cpu-student", help="student model name or config file (default: cpu-student)")
    p.add_argument("--config", default=None,
                   help="training config (.yaml/.json) for data, steps, lr...; the model comes from --student")
    add_output(p, None, "output directory (default: the config's out_dir, else runs/distill)", "--out")
    p.add_argument("--cache", default=None, help="teacher-logit Zarr cache (default: OUTPUT/teacher_logits.zarr)")
    p.add_argument("--rebuild-cache", action="store_true", help="recompute the teacher logits even if cached")
    p.add_argument("--steps", type=int, default=None, help="override the number of optimiser steps")
    p.add_argument("--no-resume", action="store_true", help="start fresh even if the output has a checkpoint")
    add_json(p)
    p.set_defaults(handler=run_distill)


def _relaunch(args: argparse.Namespace, argv_tail: list[str]) -> int:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "peaknet_bench.cli", *argv_tail]
    return subprocess.call(cmd)


def _summary(result: dict, human_head: str) -> tuple[dict, str]:
    train, val = result.get("train", {}), result.get("val", {})
    lines = [human_head, f"  steps       {result['step']}  ({result['steps_per_second']:.2f} steps/s, "
                         f"{result['seconds']:.1f} s)"]
    if train:
        lines.append(f"  last loss   {train.get('loss', float('nan')):.4g}  lr {train.get('lr', 0):.3g}")
    if val:
        lines.append(f"  validation  F1 {val.get('val_f1', float('nan')):.3f}  IoU {val.get('val_iou', float('nan')):.3f}"
                     f"  P {val.get('val_precision', float('nan')):.3f}  R {val.get('val_recall', float('nan')):.3f}")
    lines.append(f"  checkpoint  {result['checkpoint']}")
    return result, "\n".join(lines)


def _load_cfg(path: str | None, args: argparse.Namespace):
    from peaknet_bench.train.trainer import TrainConfig

    cfg = TrainConfig.load(path) if path else TrainConfig(out_dir="runs/distill")
    if args.steps is not None:
        cfg.steps = args.steps
    if args.output:
        cfg.out_dir = args.output
    return cfg


def run_train(args: argparse.Namespace) -> int:
    import os

    from peaknet_bench.train.trainer import Trainer
    from peaknet_bench.util.output import emit

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        tail = ["model", "train", args.config] + (["--output", args.output] if args.output else []) + \
            (["--steps", str(args.steps)] if args.steps is not None else []) + \
            (["--no-resume"] if args.no_resume else []) + (["--json"] if args.json else [])
        return _relaunch(args, tail)
    cfg = _load_cfg(args.config, args)
    trainer = Trainer(cfg)
    try:
        result = trainer.fit(resume=not args.no_resume)
    finally:
        trainer.close()
    if trainer.env.is_main:
        emit(*_summary(result, f"trained {cfg.model if isinstance(cfg.model, str) else 'model'} in {cfg.out_dir}"),
             args.json)
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from peaknet_bench.train.distill import DistillPlan, ensure_cache
    from peaknet_bench.train.trainer import Trainer
    from peaknet_bench.util.output import emit, to_json

    cfg = _load_cfg(args.config, args)
    cfg.model = args.student
    cfg.objective = "distill"
    cache = args.cache or str(Path(cfg.out_dir) / "teacher_logits.zarr")
    cfg.teacher_cache = cache
    dataset = cfg.train_data.build()
    _, rebuilt = ensure_cache(DistillPlan(args.teacher, cache, args.rebuild_cache, cfg.batch_size), dataset,
                              data_key=to_json(cfg.train_data.__dict__), progress=cfg.progress)
    trainer = Trainer(cfg, train_dataset=dataset)
    try:
        result = trainer.fit(resume=not args.no_resume)
    finally:
        trainer.close()
    result.update({"teacher": args.teacher, "student": args.student, "cache": cache, "cache_rebuilt": rebuilt})
    emit(result, _summary(result, f"distilled {args.student} from {args.teacher} "
                                  f"({'new' if rebuilt else 'reused'} logit cache {cache})")[1], args.json)
    return 0
