"""The shipped reference models (`baselines/models/`): their registered configurations.

`ref-teacher` and `ref-student` are the paper's architecture (ConvNeXtV2 -> BiFPN ->
two-pathway head) at CPU scale: the registry's `cpu-student` costs 89 GFLOPs per 1920²
frame, seconds on a laptop core, while a reference model must segment a full frame in
well under a second on a 2-core CPU so `make demo` can run it next to peakfinder8.

Their training data are `peaknet_bench.train.crops` (docs/reference-weights.md).
"""

from __future__ import annotations

from peaknet_bench.models.bifpn import BiFPNConfig
from peaknet_bench.models.head import HeadConfig
from peaknet_bench.models.registry import BackboneSpec, ModelConfig, register_model

REFERENCE_TEACHER = ModelConfig(
    name="ref-teacher",
    backbone=BackboneSpec("convnextv2", {"size": "atto", "widths": [48, 96, 192, 384], "depths": [2, 2, 6, 2]}),
    bifpn=BiFPNConfig(channels=96, num_blocks=2),
    head=HeadConfig(channels=96),
    description="reference teacher (baselines/models): ConvNeXtV2 48-96-192-384 / 2-2-6-2 + 2 BiFPN blocks x 96, "
                "local signal-to-noise input",
)
REFERENCE_STUDENT = ModelConfig(
    name="ref-student",
    backbone=BackboneSpec("convnextv2", {"size": "atto", "widths": [40, 80, 160, 320], "depths": [1, 1, 3, 1]}),
    bifpn=BiFPNConfig(channels=80, num_blocks=2),
    head=HeadConfig(channels=80),
    description="reference student (baselines/models), distilled from ref-teacher: "
                "ConvNeXtV2 40-80-160-320 / 1-1-3-1 + 2 BiFPN blocks x 80, local signal-to-noise input",
)
for _cfg in (REFERENCE_TEACHER, REFERENCE_STUDENT):
    register_model(_cfg)


__all__ = ["REFERENCE_STUDENT", "REFERENCE_TEACHER"]
