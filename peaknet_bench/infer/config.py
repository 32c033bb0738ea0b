"""Inference settings, in a module without torch so light actors (sources, writers) and the
CLI can build them without importing the model stack."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peaknet_bench.errors import InputError
from peaknet_bench.infer.peaks import ExtractionConfig

PRECISIONS = ("fp32", "bf16")
BACKENDS = ("torch", "onnx")


@dataclass
class RunnerConfig:
    """How frames are prepared, segmented and turned into peaks.

    `size` is the model-input canvas (rows, cols); None (the default) uses the whole
    assembled image, padded by the model to its stride, so a spot anywhere on any detector
    is seen; a fixed size crops/pads around the beam (one input shape for every detector). `threshold` None takes the arg-max class; a value p
    marks pixels whose softmax peak probability exceeds p.
    """

    size: tuple[int, int] | None = None
    batch_size: int = 8
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": autocast the forward pass to bfloat16
    compile: bool = False  # torch.compile the model (first batch pays the compilation)
    backend: str = "torch"  # "onnx": run the exported graph with onnxruntime
    threshold: float | None = None
    threads: int | None = None  # torch / onnxruntime intra-op threads (None: library default)
    host_threads: int = 1  # threads for the per-frame host stages (assembly/z-score, peak extraction)
    seed: int = 0  # initial weights when a registry name (untrained) is given
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(None, "precision", f"expected one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.backend not in BACKENDS:
            raise InputError(None, "backend", f"expected one of {list(BACKENDS)}, got {self.backend!r}")
        if self.host_threads < 1:
            raise InputError(None, "host_threads", f"expected >= 1, got {self.host_threads}")
        if self.batch_size < 1:
            raise InputError(None, "batch_size", f"expected >= 1, got {self.batch_size}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise InputError(None, "size", f"expected two positive integers, got {self.size}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise InputError(None, "threshold", f"expected a probability in (0, 1), got {self.threshold}")
        from peaknet_bench.util.device import check_device

        check_device(self.device, "device")


def check_model_spec(model: Any) -> None:
    """Fail early, in the calling process, on a model that cannot load: a missing, corrupt or
    mismatched checkpoint, a missing ONNX file, or an unknown registry name (raises
    InputError). Modules pass. A worker that fails instead reports it inside a long Ray
    error."""
    if not isinstance(model, (str, os.PathLike)):
        return
    p = Path(model)
    if p.suffix == ".onnx":
        if not p.is_file():
            raise InputError(str(p), None, "ONNX model file not found")
        return
    if p.suffix == ".safetensors" or p.is_dir():
        from peaknet_bench.models.peaknet import load_model

        load_model(p)  # the whole check (config, tensor names and shapes, finite values) here, not in a worker
        return
    from peaknet_bench.models.registry import get_config

    get_config(str(model))
