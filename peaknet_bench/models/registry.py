"""Named model configurations and the backbone plug-in registry.

A model is `backbone -> BiFPN -> head`. The backbone is looked up by name in a
registry, so a new architecture is plugged in with one call::

    from peaknet_bench.models import register_backbone, build_model, ModelConfig, BackboneSpec

    class MyNet(torch.nn.Module):
        widths = (32, 64, 128, 256)          # channels of the 4 returned maps
        def forward(self, x):                # x: (N, 1, H, W)
            return [f4, f8, f16, f32]        # strides 4, 8, 16, 32

    register_backbone("mynet", lambda **kw: MyNet(**kw))
    model = build_model(ModelConfig(name="mine", backbone=BackboneSpec("mynet")))

Configs are plain dataclasses that round-trip through JSON and YAML, and are stored
inside every weights file so a checkpoint is self-describing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from peaknet_bench.data.normalise import InputNorm
from peaknet_bench.errors import InputError
from peaknet_bench.models.bifpn import BiFPNConfig
from peaknet_bench.models.convnextv2 import CONVNEXTV2_SIZES, ConvNeXtV2Config, convnextv2
from peaknet_bench.models.head import HeadConfig

BackboneFactory = Callable[..., nn.Module]


class Registry:
    """A name -> object table with a clear error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str, item: Any, overwrite: bool = False) -> None:
        if name in self._items and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass overwrite=True to replace it)")
        self._items[name] = item

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise InputError(None, self.kind, f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


BACKBONES = Registry("backbone")
MODELS = Registry("model")


def register_backbone(name: str, factory: BackboneFactory, overwrite: bool = False) -> None:
    """Register `factory(**kwargs) -> nn.Module`; the module must have a `widths` tuple
    (channels of its 4 outputs) and return 4 feature maps at strides 4, 8, 16, 32."""
    BACKBONES.register(name, factory, overwrite)


def _convnextv2_factory(size: str = "atto", in_chans: int = 1, drop_path_rate: float = 0.0,
                        widths: list[int] | None = None, depths: list[int] | None = None) -> nn.Module:
    return convnextv2(ConvNeXtV2Config(size, in_chans, drop_path_rate,
                                       tuple(widths) if widths else None, tuple(depths) if depths else None))


register_backbone("convnextv2", _convnextv2_factory)


@dataclass
class BackboneSpec:
    name: str = "convnextv2"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"size": "atto"})


@dataclass
class ModelConfig:
    name: str = "custom"
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    bifpn: BiFPNConfig = field(default_factory=BiFPNConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    pad_multiple: int = 32
    description: str = ""
    # How frames are normalised for this model (train, inference and evaluation alike).
    input_norm: InputNorm = field(default_factory=InputNorm)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> ModelConfig:
        if not isinstance(d, Mapping):
            raise InputError(source, "model", "expected a mapping with backbone/bifpn/head")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(d) - known
        if extra:
            raise InputError(source, "model", f"unknown keys {sorted(extra)}; expected {sorted(known)}")
        try:
            bb = dict(d.get("backbone") or {})
            return cls(
                name=str(d.get("name", "custom")),
                backbone=BackboneSpec(name=bb.get("name", "convnextv2"), kwargs=dict(bb.get("kwargs") or {})),
                bifpn=BiFPNConfig(**(d.get("bifpn") or {})),
                head=HeadConfig(**(d.get("head") or {})),
                pad_multiple=int(d.get("pad_multiple", 32)),
                description=str(d.get("description", "")),
                input_norm=InputNorm.from_dict(d.get("input_norm"), source),
            )
        except TypeError as exc:
            raise InputError(source, "model", f"bad field: {exc}") from exc

    @classmethod
    def from_json(cls, text: str, source: str | None = None) -> ModelConfig:
        return cls.from_dict(json.loads(text), source)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str | None = None) -> ModelConfig:
        import yaml

        return cls.from_dict(yaml.safe_load(text), source)

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        text = path.read_text()
        return cls.from_json(text, str(path)) if path.suffix == ".json" else cls.from_yaml(text, str(path))


def register_model(config: ModelConfig, overwrite: bool = False) -> None:
    MODELS.register(config.name, config, overwrite)


# Paper-scale BiFPN width. The paper gives 658M (huge backbone) + 14M (4 BiFPN blocks)
# = 673M for the teacher and ~16M for the atto + 4-block student; one shared width of
# 656 channels reproduces both (teacher 673.2M = 657.5M + 14.0M BiFPN + 1.7M head;
# atto-4 16.05M; see docs/models.md for the exact counts).
PAPER_BIFPN_CHANNELS = 656
# The head works at the BiFPN width (None), the same for every model size as the paper says.
PAPER_HEAD_CHANNELS: int | None = None


def _paper(name: str, size: str, blocks: int, desc: str) -> ModelConfig:
    return ModelConfig(
        name=name,
        backbone=BackboneSpec("convnextv2", {"size": size}),
        bifpn=BiFPNConfig(channels=PAPER_BIFPN_CHANNELS, num_blocks=blocks),
        head=HeadConfig(channels=PAPER_HEAD_CHANNELS),
        description=desc,
    )


for _cfg in (
    _paper("teacher", "huge", 4, "paper teacher: ConvNeXtV2-huge + 4 BiFPN blocks (~673M)"),
    _paper("student-tiny-4", "tiny", 4, "paper Student1: ConvNeXtV2-tiny + 4 BiFPN blocks"),
    _paper("student-tiny-2", "tiny", 2, "ConvNeXtV2-tiny + 2 BiFPN blocks"),
    _paper("student-atto-4", "atto", 4, "paper atto student: ConvNeXtV2-atto + 4 BiFPN blocks (~16M)"),
    _paper("student-atto-2", "atto", 2, "ConvNeXtV2-atto + 2 BiFPN blocks"),
    ModelConfig(
        name="cpu-teacher",
        backbone=BackboneSpec("convnextv2", {"size": "femto"}),
        bifpn=BiFPNConfig(channels=96, num_blocks=2),
        head=HeadConfig(channels=96),
        description="CPU-trainable teacher for the shipped reference weights: femto + 2 narrow BiFPN blocks",
    ),
    ModelConfig(
        name="cpu-student",
        backbone=BackboneSpec("convnextv2", {"size": "atto"}),
        bifpn=BiFPNConfig(channels=64, num_blocks=1),
        head=HeadConfig(channels=64),
        description="CPU student distilled from cpu-teacher: atto + 1 narrow BiFPN block",
    ),
):
    register_model(_cfg)


def get_config(name_or_config: str | ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A registered name, a config file path (.json/.yaml), a dict or a ModelConfig."""
    if isinstance(name_or_config, ModelConfig):
        return name_or_config
    if isinstance(name_or_config, Mapping):
        return ModelConfig.from_dict(name_or_config)
    if name_or_config in MODELS:
        return dataclasses.replace(MODELS.get(name_or_config))
    p = Path(name_or_config)
    if p.suffix in (".json", ".yaml", ".yml") and p.exists():
        return ModelConfig.load(p)
    return MODELS.get(name_or_config)  # raises InputError listing the known names


def build_backbone(spec: BackboneSpec) -> nn.Module:
    factory = BACKBONES.get(spec.name)
    module = factory(**spec.kwargs)
    widths = getattr(module, "widths", None)
    if widths is None or len(widths) != 4:
        raise InputError(None, f"backbone {spec.name}", "a backbone must have `widths` with 4 channel counts")
    return module


def model_names() -> list[str]:
    return MODELS.names()


__all__ = ["BACKBONES", "MODELS", "BackboneSpec", "ModelConfig", "CONVNEXTV2_SIZES", "register_backbone",
           "register_model", "get_config", "build_backbone", "model_names", "PAPER_BIFPN_CHANNELS"]

import peaknet_bench.models.reference  # noqa: E402,F401  (registers ref-teacher / ref-student)
