"""Model size facts without running the model: parameters, weight memory, FLOPs.

FLOPs are counted by `torch.utils.flop_counter` on the meta device (shapes only, no
memory, no compute), so even the 673M teacher at 1920 x 1920 is counted in a second.
The count covers convolutions, linear layers and matmuls (2 FLOPs per MAC); norms,
activations and resampling are not counted, as is usual.
"""

from __future__ import annotations

from typing import Any

import torch

from peaknet_bench.models.peaknet import build_model, count_parameters
from peaknet_bench.models.registry import ModelConfig, get_config


def model_info(name_or_config: str | ModelConfig, size: int = 1920, flops: bool = True) -> dict[str, Any]:
    cfg = get_config(name_or_config)
    with torch.device("meta"):
        model = build_model(cfg)
    n_backbone = count_parameters(model.backbone)
    n_bifpn = count_parameters(model.bifpn)
    n_head = count_parameters(model.head)
    total = n_backbone + n_bifpn + n_head
    info: dict[str, Any] = {
        "name": cfg.name,
        "description": cfg.description,
        "backbone": cfg.backbone.name,
        "backbone_kwargs": cfg.backbone.kwargs,
        "widths": list(model.backbone.widths),
        "bifpn_channels": cfg.bifpn.channels,
        "bifpn_blocks": cfg.bifpn.num_blocks,
        "parameters": total,
        "parameters_backbone": n_backbone,
        "parameters_bifpn": n_bifpn,
        "parameters_head": n_head,
        "weights_mb_fp32": total * 4 / 1e6,
        "weights_mb_bf16": total * 2 / 1e6,
    }
    if flops:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"), torch.no_grad():
            x = torch.empty(1, 1, size, size)
            counter = FlopCounterMode(display=False)
            with counter:
                model.eval()(x)
        info["input_size"] = size
        info["gflops"] = counter.get_total_flops() / 1e9
    return info
