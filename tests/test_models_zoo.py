"""Shapes, parameter counts, gradients and plug-in backbones of the PeakNet model zoo."""

from __future__ import annotations

import json

import pytest
import torch

from peaknet_bench.errors import InputError
from peaknet_bench.models import (
    CONVNEXTV2_SIZES,
    BackboneSpec,
    BiFPNConfig,
    HeadConfig,
    ModelConfig,
    build_model,
    count_parameters,
    get_config,
    load_model,
    model_names,
    register_backbone,
    save_model,
)
from peaknet_bench.models.bifpn import BiFPN
from peaknet_bench.models.convnextv2 import GRN, Block, ConvNeXtV2

torch.set_num_threads(1)

# Exact parameter counts (backbone, BiFPN, head) of every named configuration.
EXPECTED = {
    "teacher": 673_195_932,
    "student-tiny-4": 41_075_356,
    "student-tiny-2": 35_816_832,
    "student-atto-4": 16_046_228,
    "student-atto-2": 10_787_704,
    "cpu-teacher": 5_081_840,
    "cpu-student": 3_473_354,
}
SMALL = ["cpu-teacher", "cpu-student"]


def block_params(c: int) -> int:
    """dwconv 7x7 (49c + c) + LN (2c) + pw c->4c (4c^2 + 4c) + GRN (8c) + pw 4c->c (4c^2 + c)."""
    return 8 * c * c + 65 * c


def convnext_params(widths, depths, in_chans=1) -> int:
    n = in_chans * 16 * widths[0] + widths[0] + 2 * widths[0]  # stem conv + LN
    for i in range(3):
        n += 2 * widths[i] + 4 * widths[i] * widths[i + 1] + widths[i + 1]  # LN + 2x2 conv
    n += sum(d * block_params(w) for w, d in zip(widths, depths))
    n += sum(2 * w for w in widths)  # output norms
    return n


def test_registry_lists_paper_and_cpu_configs():
    assert set(EXPECTED) <= set(model_names())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_counts_on_meta_device(name):
    with torch.device("meta"):
        model = build_model(name)
    assert count_parameters(model) == EXPECTED[name]
    widths, depths = CONVNEXTV2_SIZES[get_config(name).backbone.kwargs["size"]]
    assert count_parameters(model.backbone) == convnext_params(widths, depths)


def test_teacher_matches_paper_sizes():
    with torch.device("meta"):
        model = build_model("teacher")
    assert 657e6 < count_parameters(model.backbone) < 659e6  # paper: 658M backbone
    assert 13.5e6 < count_parameters(model.bifpn) < 14.5e6  # paper: 14M for 4 BiFPN blocks
    assert 672e6 < count_parameters(model) < 674e6  # paper: 673M
    with torch.device("meta"):
        atto = build_model("student-atto-4")
    assert 15.5e6 < count_parameters(atto) < 16.5e6  # paper: 16M


@pytest.mark.parametrize("size", list(CONVNEXTV2_SIZES))
def test_every_convnext_size_counts_analytically(size):
    widths, depths = CONVNEXTV2_SIZES[size]
    with torch.device("meta"):
        bb = ConvNeXtV2(widths, depths)
    assert count_parameters(bb) == convnext_params(widths, depths)
    assert bb.widths == widths


@pytest.mark.parametrize("name", SMALL + ["student-atto-2"])
def test_small_configs_forward_and_gradients(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.randn(2, 1, 64, 64)
    feats = model.backbone(x)
    assert [tuple(f.shape[-2:]) for f in feats] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert [f.shape[1] for f in feats] == list(model.backbone.widths)
    y = model(x)
    assert y.shape == (2, 2, 64, 64)
    assert torch.isfinite(y).all()
    y[:, 1].mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"


def test_gradients_reach_grn_after_first_step():
    """GRN's gamma/beta start at zero (identity); they must still receive gradient."""
    torch.manual_seed(0)
    blk = Block(16)
    x = torch.randn(2, 16, 8, 8)
    blk(x).square().mean().backward()
    assert blk.grn.gamma.grad.abs().sum() > 0 and blk.grn.beta.grad.abs().sum() > 0


def test_grn_matches_definition():
    torch.manual_seed(1)
    g = GRN(4)
    with torch.no_grad():
        g.gamma.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]).view(1, 1, 1, 4))
        g.beta.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 1, 1, 4))
    x = torch.randn(2, 3, 5, 4)
    gx = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    nx = gx / (gx.mean(-1, keepdim=True) + 1e-6)
    expected = g.gamma * (x * nx) + g.beta + x
    torch.testing.assert_close(g(x), expected)


@pytest.mark.parametrize("hw", [(64, 64), (70, 50), (33, 97)])
def test_any_input_size_is_padded_and_cropped(hw):
    model = build_model("cpu-student").eval()
    x = torch.randn(1, 1, *hw)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (1, 2, *hw)
        # padding is zero on the bottom/right: the same as calling segment on the padded input
        ph, pw = (-hw[0]) % 32, (-hw[1]) % 32
        ref = model.segment(torch.nn.functional.pad(x, (0, pw, 0, ph)))[..., : hw[0], : hw[1]]
    torch.testing.assert_close(y, ref)


def test_drop_path_rates_increase_linearly():
    bb = ConvNeXtV2((8, 16, 32, 64), (2, 2, 2, 2), drop_path_rate=0.7)
    rates = [blk.drop_path.p for stage in bb.stages for blk in stage]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.7)
    assert all(b > a for a, b in zip(rates, rates[1:]))


def test_bifpn_fusion_weights_are_non_negative_and_normalised():
    bifpn = BiFPN((8, 16, 32, 64), BiFPNConfig(channels=8, num_blocks=1))
    node = bifpn.blocks[0].top_down[0]
    with torch.no_grad():
        node.fusion_weight.copy_(torch.tensor([-3.0, 1.0]))  # ReLU clips the negative weight to 0
    a, b = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    out = node([a, b])
    ref = node.act(node.norm(node.pointwise(node.depthwise(b * (1.0 / (1.0 + node.eps))))))
    torch.testing.assert_close(out, ref)
    # The node is depthwise-separable: a grouped 3x3 followed by a 1x1.
    assert node.depthwise.groups == 8 and node.depthwise.kernel_size == (3, 3)
    assert node.pointwise.kernel_size == (1, 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in bifpn.modules())


def test_inference_depends_only_on_parameters():
    """No BatchNorm/running statistics: train-mode and eval-mode forwards agree (no drop path)."""
    torch.manual_seed(0)
    model = build_model("cpu-student")
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        a = model.train()(x)
        b = model.eval()(x)
    torch.testing.assert_close(a, b)


class TinyNet(torch.nn.Module):
    """A user backbone: any module returning 4 maps at strides 4..32 with `widths`."""

    def __init__(self, base: int = 4) -> None:
        super().__init__()
        self.widths = (base, 2 * base, 4 * base, 8 * base)
        chans = (1,) + self.widths
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv2d(chans[i], chans[i + 1], kernel_size=4 if i == 0 else 2, stride=4 if i == 0 else 2)
            for i in range(4))

    def forward(self, x):
        out = []
        for c in self.convs:
            x = c(x)
            out.append(x)
        return out


def test_user_backbone_plugs_in_and_round_trips(tmp_path):
    register_backbone("test-tinynet", lambda base=4: TinyNet(base), overwrite=True)
    cfg = ModelConfig(name="mine", backbone=BackboneSpec("test-tinynet", {"base": 6}),
                      bifpn=BiFPNConfig(channels=12, num_blocks=2), head=HeadConfig(channels=8))
    model = build_model(cfg)
    assert model(torch.randn(1, 1, 64, 96)).shape == (1, 2, 64, 96)
    # config round trip through JSON and YAML
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    assert ModelConfig.from_yaml(cfg.to_yaml()) == cfg
    # weights file is self-describing
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_bad_configs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown model"):
        build_model("no-such-model")
    with pytest.raises(InputError, match="unknown backbone"):
        build_model(ModelConfig(backbone=BackboneSpec("nope", {})))
    with pytest.raises(InputError, match="unknown keys"):
        ModelConfig.from_dict({"name": "x", "bifpm": {}})
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError):
        load_model(tmp_path / "junk.safetensors")
    cfg_file = tmp_path / "m.json"
    cfg_file.write_text(json.dumps(get_config("cpu-student").to_dict()))
    assert count_parameters(build_model(str(cfg_file))) == EXPECTED["cpu-student"]


def test_model_list_names_custom_backbone_stages():
    from peaknet_bench.models.commands import _backbone_label

    assert _backbone_label("convnextv2", {"size": "atto"}) == "convnextv2:atto"
    assert _backbone_label("convnextv2", {"size": "atto", "widths": [16, 32, 64, 128], "depths": [1, 1, 2, 1]}) \
        == "convnextv2:16-32-64-128/1-1-2-1"
