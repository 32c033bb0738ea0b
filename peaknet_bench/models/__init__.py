"""PeakNet models: ConvNeXtV2 backbone, BiFPN, two-pathway head, named configurations.

Exports are resolved lazily so that importing the CLI does not import torch.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "BiFPN": "bifpn", "BiFPNConfig": "bifpn",
    "CONVNEXTV2_SIZES": "convnextv2", "ConvNeXtV2": "convnextv2", "ConvNeXtV2Config": "convnextv2",
    "HeadConfig": "head", "SegmentationHead": "head",
    "PeakNet": "peaknet", "build_model": "peaknet", "count_parameters": "peaknet", "load_model": "peaknet",
    "save_model": "peaknet",
    "BackboneSpec": "registry", "ModelConfig": "registry", "get_config": "registry", "model_names": "registry",
    "register_backbone": "registry", "register_model": "registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
