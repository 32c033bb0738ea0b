"""PeakNet models: ConvNeXtV2 backbone, BiFPN, two-pathway head, named configurations."""

from peaknet_bench.models.bifpn import BiFPN, BiFPNConfig
from peaknet_bench.models.convnextv2 import CONVNEXTV2_SIZES, ConvNeXtV2, ConvNeXtV2Config
from peaknet_bench.models.head import HeadConfig, SegmentationHead
from peaknet_bench.models.peaknet import PeakNet, build_model, count_parameters, load_model, save_model
from peaknet_bench.models.registry import (
    BackboneSpec,
    ModelConfig,
    get_config,
    model_names,
    register_backbone,
    register_model,
)

__all__ = [
    "BiFPN", "BiFPNConfig", "CONVNEXTV2_SIZES", "ConvNeXtV2", "ConvNeXtV2Config", "HeadConfig",
    "SegmentationHead", "PeakNet", "build_model", "count_parameters", "load_model", "save_model",
    "BackboneSpec", "ModelConfig", "get_config", "model_names", "register_backbone", "register_model",
]
