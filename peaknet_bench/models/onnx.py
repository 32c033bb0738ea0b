"""ONNX export and an onnxruntime inference path with the PeakNet call signature.

The exported graph is `PeakNet.segment` (no padding logic) with dynamic batch, height
and width; `OnnxPeakNet` pads to a multiple of 32 and crops back exactly as
`PeakNet.forward` does, so `OnnxPeakNet(path)(x)` is a drop-in for `model(x)` (the
paper's edge deployment).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import atomic_path

DEFAULT_OPSET = 17


class _Segment(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.segment(x)


def export_onnx(model: nn.Module, path: str | Path, example_hw: tuple[int, int] = (64, 64),
                opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` as ONNX (atomically); the pad multiple is stored in the metadata."""
    import onnx

    model = getattr(model, "module", model).eval()
    m = int(getattr(model, "pad_multiple", 32))
    h, w = (-(-s // m) * m for s in example_hw)
    x = torch.zeros(1, 1, h, w)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # The shape branches in BiFPN resizing are structural (fixed per node), so the
        # tracer's warnings about them, and the legacy-exporter notice, are expected.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_Segment(model), (x,), str(tmp), input_names=["image"], output_names=["logits"],
                          opset_version=opset, dynamo=False,
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "logits": {0: "batch", 2: "height", 3: "width"}})
        proto = onnx.load(str(tmp))
        cfg = getattr(model, "config", None)
        meta = {"pad_multiple": str(m), **({"peaknet_config": cfg.to_json()} if cfg is not None else {})}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.save(proto, str(tmp))
    return path


class OnnxPeakNet:
    """onnxruntime session behaving like `PeakNet`: (N,1,H,W) tensor/array -> (N,2,H,W) logits."""

    def __init__(self, path: str | Path, threads: int | None = None, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), None, "ONNX model file not found")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(p), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise InputError(str(p), None, f"not a loadable ONNX model ({exc})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        self.pad_multiple = int(meta.get("pad_multiple", 32))
        self.config_json = meta.get("peaknet_config")

    @property
    def input_norm(self):
        """The normalisation the exported model was trained with (from its embedded config)."""
        import json

        from peaknet_bench.data.normalise import InputNorm

        cfg = json.loads(self.config_json) if self.config_json else {}
        return InputNorm.from_dict(cfg.get("input_norm"))

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(x, dtype=torch.float32)
        h, w = t.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            t = F.pad(t, (0, pw, 0, ph))
        (y,) = self.session.run(["logits"], {"image": np.ascontiguousarray(t.numpy())})
        return torch.from_numpy(y[..., :h, :w])
