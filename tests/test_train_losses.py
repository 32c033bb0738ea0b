"""Focal and distillation losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from peaknet_bench.train.losses import DistillWeights, distillation_loss, focal_loss
from peaknet_bench.train.trainer import lr_factor


def test_focal_loss_hand_computed():
    # two pixels: a background pixel with logits (2, 0), a peak pixel with logits (0, 1)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    p0 = math.exp(2) / (math.exp(2) + 1)  # p of the true class, pixel 0
    p1 = math.exp(1) / (math.exp(1) + 1)
    l0 = -0.25 * (1 - p0) ** 2 * math.log(p0)
    l1 = -0.75 * (1 - p1) ** 2 * math.log(p1)
    assert float(focal_loss(logits, target)) == pytest.approx((l0 + l1) / 2, rel=1e-5)
    # masking the peak pixel leaves only the background term
    mask = torch.tensor([[[True, False]]])
    assert float(focal_loss(logits, target, mask)) == pytest.approx(l0, rel=1e-5)
    # gamma = 0 and alpha = (1, 1) is plain cross-entropy
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert float(focal_loss(logits, target, alpha=(1.0, 1.0), gamma=0.0)) == pytest.approx(float(ce), rel=1e-5)


def test_focal_loss_all_masked_is_zero_not_nan():
    logits = torch.randn(1, 2, 3, 3)
    loss = focal_loss(logits, torch.zeros(1, 3, 3, dtype=torch.long), torch.zeros(1, 3, 3, dtype=torch.bool))
    assert float(loss) == 0.0


def test_distillation_loss_hand_computed():
    # one image, two pixels, two classes
    s = torch.tensor([[0.0, 2.0], [1.0, 0.0]]).reshape(1, 2, 1, 2)  # pixel 0 logits (0,1), pixel 1 (2,0)
    t = torch.tensor([[1.0, 0.0], [0.0, 3.0]]).reshape(1, 2, 1, 2)  # pixel 0 logits (1,0), pixel 1 (0,3)
    T = 2.0
    mse = ((0 - 1) ** 2 + (2 - 0) ** 2 + (1 - 0) ** 2 + (0 - 3) ** 2) / 4

    def softmax(v):
        e = [math.exp(x / T) for x in v]
        return [x / sum(e) for x in e]

    kl = 0.0
    for sv, tv in (((0, 1), (1, 0)), ((2, 0), (0, 3))):
        ps, pt = softmax(sv), softmax(tv)
        kl += sum(a * math.log(a / b) for a, b in zip(pt, ps))
    kl = kl / 2 * T * T  # batchmean over the 2 pixels, times T^2
    # teacher argmax: pixel 0 -> class 0, pixel 1 -> class 1
    fl = focal_loss(s, torch.tensor([[[0, 1]]]))
    out = distillation_loss(s, t, DistillWeights())
    assert float(out["mse"]) == pytest.approx(mse, rel=1e-5)
    assert float(out["kl"]) == pytest.approx(kl, rel=1e-5)
    assert float(out["focal"]) == pytest.approx(float(fl), rel=1e-5)
    assert float(out["loss"]) == pytest.approx(0.4 * mse + 0.4 * kl + 0.2 * float(fl), rel=1e-5)


def test_distillation_loss_is_zero_kl_and_mse_for_identical_logits():
    t = torch.randn(2, 2, 4, 4)
    out = distillation_loss(t.clone(), t)
    assert float(out["mse"]) == 0.0
    assert abs(float(out["kl"])) < 1e-6


def test_distillation_gradients_flow_only_to_student():
    s = torch.randn(1, 2, 4, 4, requires_grad=True)
    t = torch.randn(1, 2, 4, 4, requires_grad=True)
    distillation_loss(s, t)["loss"].backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_schedule_warmup_then_cosine_to_floor():
    assert lr_factor(0, 4, 20, 0.01) == pytest.approx(0.25)
    assert lr_factor(3, 4, 20, 0.01) == pytest.approx(1.0)
    assert lr_factor(4, 4, 20, 0.01) == pytest.approx(1.0)
    assert lr_factor(12, 4, 20, 0.01) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(20, 4, 20, 0.01) == pytest.approx(0.01)
    assert lr_factor(50, 4, 20, 0.01) == pytest.approx(0.01)
