"""ONNX export + onnxruntime inference match PyTorch; the CLI commands work."""

from __future__ import annotations

import json

import torch

from peaknet_bench.cli import main
from peaknet_bench.models import build_model, save_model
from peaknet_bench.models.onnx import OnnxPeakNet, export_onnx

torch.set_num_threads(1)


def test_onnx_matches_pytorch_on_any_size(tmp_path):
    torch.manual_seed(0)
    model = build_model("cpu-student").eval()
    # non-trivial head/GRN parameters so the check exercises every op
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "grn" in n or "fusion_weight" in n:
                p.add_(0.1 * torch.randn_like(p))
    path = export_onnx(model, tmp_path / "m.onnx")
    ort_model = OnnxPeakNet(path, threads=1)
    for shape in [(1, 1, 64, 64), (2, 1, 96, 64), (1, 1, 50, 70)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = model(x)
        out = ort_model(x)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_model_cli_list_info_export(tmp_path, capsys):
    assert main(["model", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    names = {m["name"]: m for m in listed["models"]}
    assert names["teacher"]["parameters"] == 673_195_932
    assert main(["model", "info", "cpu-student", "--size", "64", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "cpu-student" and info["parameters"] == names["cpu-student"]["parameters"]
    assert info["gflops"] > 0
    # FLOPs scale with the pixel count (a fully convolutional network)
    assert main(["model", "info", "cpu-student", "--size", "128", "--json"]) == 0
    info512 = json.loads(capsys.readouterr().out)
    assert abs(info512["gflops"] / info["gflops"] - 4.0) < 1e-6
    torch.manual_seed(0)
    save_model(build_model("cpu-student"), tmp_path / "w.safetensors")
    assert main(["model", "export", str(tmp_path / "w.safetensors"), "--onnx", str(tmp_path / "w.onnx"),
                 "--json"]) == 0
    exp = json.loads(capsys.readouterr().out)
    assert exp["max_abs_diff"] < 1e-4 and (tmp_path / "w.onnx").is_file()
    assert main(["model", "info", "no-such-model"]) == 1
