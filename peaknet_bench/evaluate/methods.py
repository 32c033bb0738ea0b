"""The `model` kind of peak finder (a PeakNet checkpoint), and evaluation's names for the
method vocabulary of `peaknet_bench.peakfind.methods` (MethodSpec, parse_method,
build_finder, ...), which every command shares.

The model kind lives here, above the model stack, and is registered by name in
`peakfind.methods.FINDER_KINDS`: `peaks find`, `engine run`, `evaluate` and `leaderboard
predict` accept a checkpoint through the same `--method` without the lower layers importing
torch.
"""

from __future__ import annotations

from pathlib import Path

from peaknet_bench.peakfind.methods import (
    CXIPeaksFinder,
    FinderKind,
    MethodSpec,
    OracleFinder,
    build_finder,
    canonical_json,
    cxi_peaks_method,
    frame_index,
    load_pf8_params,
    model_method,
    oracle_method,
    parse_method,
    pf8_method,
    sha256_text,
)
from peaknet_bench.util.stamp import sha256_file

__all__ = ["CXIPeaksFinder", "MethodSpec", "ModelKind", "OracleFinder", "build_finder", "canonical_json",
           "cxi_peaks_method", "frame_index", "load_pf8_params", "model_method", "oracle_method", "parse_method",
           "pf8_method", "sha256_file", "sha256_text"]


# ExtractionConfig's cuts, which every model method records (spec) and reads back as off when absent (build).
_RECORDED_CUTS = ("min_snr", "max_separation", "min_pixel_snr")


class ModelKind(FinderKind):
    """A PeakNet checkpoint (.safetensors file or checkpoint directory), identified by its sha256,
    run with exactly the training preprocessing and the inference pipeline's peak extraction."""

    name = "model"
    description = "a PeakNet checkpoint (.safetensors file or checkpoint directory)"

    @classmethod
    def accepts(cls, method: str) -> bool:
        p = Path(method)
        return p.suffix == ".safetensors" or p.is_dir()

    takes_params = True  # --params: ExtractionConfig fields (how the segmentation becomes peaks)

    @classmethod
    def spec(cls, method: str, name: str | None, device: str, params: dict | None = None,
             params_source: str | None = None) -> MethodSpec:
        from peaknet_bench.infer.peaks import ExtractionConfig
        from peaknet_bench.models.peaknet import weights_file
        from peaknet_bench.util.device import check_device

        check_device(device)  # here, before workers start: not as a traceback from inside one
        extraction = ExtractionConfig.from_dict(params or {}, source=params_source or "--params")
        p = weights_file(method)
        # the cuts always, other fields where they differ from the defaults
        return MethodSpec(name or Path(method).stem, "model",
                          {"checkpoint": str(p.resolve()), "sha256": sha256_file(p), "device": device,
                           **extraction.changed(), **{cut: getattr(extraction, cut) for cut in _RECORDED_CUTS}})

    @classmethod
    def build(cls, spec, geometry, truth_of=None):
        from peaknet_bench.infer.config import RunnerConfig
        from peaknet_bench.infer.model_runner import ModelPeakFinder
        from peaknet_bench.infer.peaks import ExtractionConfig

        values = {k: v for k, v in spec.params.items() if k not in ("checkpoint", "sha256", "device")}
        for cut in _RECORDED_CUTS:  # a spec recorded before a cut existed ran without it
            values.setdefault(cut, 0.0)
        extraction = ExtractionConfig.from_dict(values, source=f"method {spec.name}")
        return ModelPeakFinder(spec.params["checkpoint"], geometry, RunnerConfig(
            device=spec.params.get("device", "cpu"), batch_size=1, extraction=extraction), name=spec.name)
