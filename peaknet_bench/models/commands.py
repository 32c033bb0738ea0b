"""`peaknet-bench model list | info | export` (`model train | distill`: peaknet_bench.train.commands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from peaknet_bench.util.cli import add_json, add_output, verbs

    model = verbs(sub, "model", help="the PeakNet model zoo: list, inspect, export to ONNX, train, distil")

    v = model.add_parser("list", help="list the named model configurations")
    add_json(v)
    v.set_defaults(handler=run_list)

    v = model.add_parser("info", help="parameters, FLOPs and weight memory of a model")
    v.add_argument("name", help="a registered model name or a model config file (.json/.yaml)")
    v.add_argument("--size", type=int, default=1920, help="square input size for the FLOP count (default: 1920)")
    add_json(v)
    v.set_defaults(handler=run_info)

    v = model.add_parser("export", help="export weights (.safetensors or checkpoint dir) to ONNX")
    v.add_argument("checkpoint", help="weights file or trainer checkpoint directory")
    add_output(v, None, "output .onnx file", "--onnx", required=True)
    v.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    v.add_argument("--check-size", type=int, default=64,
                   help="verify onnxruntime against PyTorch on a random SxS input; 0 skips (default: 64)")
    add_json(v)
    v.set_defaults(handler=run_export)


def run_list(args: argparse.Namespace) -> int:
    from peaknet_bench.models.info import model_info
    from peaknet_bench.models.registry import model_names
    from peaknet_bench.util.output import emit, table

    infos = [model_info(n, flops=False) for n in model_names()]
    rows = [[i["name"], _backbone_label(i["backbone"], i["backbone_kwargs"]), i["bifpn_blocks"],
             i["bifpn_channels"], f"{i['parameters'] / 1e6:.2f}M", i["description"]] for i in infos]
    emit({"models": infos}, table(rows, ["name", "backbone", "blocks", "channels", "params", "description"]),
         args.json)
    return 0


def _backbone_label(name: str, kwargs: dict) -> str:
    """`convnextv2:atto`, or the stage widths / depths where a config overrides the named size."""
    if "widths" in kwargs or "depths" in kwargs:
        widths = "-".join(str(w) for w in kwargs.get("widths", []))
        depths = "-".join(str(d) for d in kwargs.get("depths", []))
        return f"{name}:{widths}/{depths}".rstrip("/")
    return f"{name}:{kwargs.get('size', '')}"


def run_info(args: argparse.Namespace) -> int:
    from peaknet_bench.models.info import model_info
    from peaknet_bench.util.output import emit

    i = model_info(args.name, size=args.size)
    human = "\n".join([
        f"{i['name']}: {i['description']}",
        f"  parameters   {i['parameters']:,} (backbone {i['parameters_backbone']:,}, "
        f"BiFPN {i['parameters_bifpn']:,}, head {i['parameters_head']:,})",
        f"  weights      {i['weights_mb_fp32']:.1f} MB fp32, {i['weights_mb_bf16']:.1f} MB bf16",
        f"  compute      {i['gflops']:.1f} GFLOPs per {i['input_size']}x{i['input_size']} frame",
    ])
    emit(i, human, args.json)
    return 0


def run_export(args: argparse.Namespace) -> int:
    import time

    import torch

    from peaknet_bench.models.onnx import OnnxPeakNet, export_onnx
    from peaknet_bench.models.peaknet import load_model
    from peaknet_bench.util.cli import require_output
    from peaknet_bench.util.output import emit

    t0 = time.perf_counter()
    model = load_model(args.checkpoint)
    out = export_onnx(model, require_output(args), opset=args.opset)
    summary = {"checkpoint": args.checkpoint, "onnx": str(out), "model": model.config.name if model.config else None,
               "bytes": out.stat().st_size}
    if args.check_size:
        x = torch.randn(1, 1, args.check_size, args.check_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = model(x)
        diff = float((OnnxPeakNet(out)(x) - ref).abs().max())
        summary["max_abs_diff"] = diff
    summary["seconds"] = time.perf_counter() - t0
    human = f"exported {summary['model']} to {out} ({summary['bytes'] / 1e6:.1f} MB)"
    if "max_abs_diff" in summary:
        human += f"; onnxruntime vs PyTorch max |diff| = {summary['max_abs_diff']:.2e}"
    emit(summary, human, args.json)
    return 0
