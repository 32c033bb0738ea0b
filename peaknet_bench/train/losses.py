"""Focal loss and the paper's distillation loss (§2.2.2 and §2.2.3.1).

Logits are (N, C, H, W); labels (N, H, W) int64 class indices (0 background, 1 peak);
masks (N, H, W) bool with True = pixel counts (bad/gap pixels are False).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Paper: alpha_background = 0.25, alpha_peak = 0.75, gamma = 2.
DEFAULT_ALPHA = (0.25, 0.75)
DEFAULT_GAMMA = 2.0


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype)
    # clamp: an all-masked batch gives 0 (no signal), not NaN.
    return (values * m).sum() / m.sum().clamp_min(1.0)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    alpha: tuple[float, ...] = DEFAULT_ALPHA,
    gamma: float = DEFAULT_GAMMA,
) -> torch.Tensor:
    """FL = -alpha_t (1 - p_t)^gamma log p_t, averaged over unmasked pixels.

    Computed from log-softmax in float32 so bf16 logits do not underflow.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    t = target.long().unsqueeze(1)
    logpt = logp.gather(1, t).squeeze(1)
    pt = logpt.exp()
    a = torch.as_tensor(alpha, dtype=logp.dtype, device=logp.device)[target.long()]
    loss = -a * (1.0 - pt).pow(gamma) * logpt
    return _masked_mean(loss, mask)


@dataclass
class DistillWeights:
    mse: float = 0.4
    kl: float = 0.4
    focal: float = 0.2
    temperature: float = 2.0


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    weights: DistillWeights | None = None,
    alpha: tuple[float, ...] = DEFAULT_ALPHA,
    gamma: float = DEFAULT_GAMMA,
) -> dict[str, torch.Tensor]:
    """L = w_mse MSE(z_s, z_t) + w_kl T^2 KL(p_t(T) || p_s(T)) + w_focal FL(z_s, argmax z_t).

    As in the paper: MSE averages over all logit elements; for the KL term the pixels are
    reshaped into the batch dimension ((N*H*W, C)) and reduced with `batchmean`, i.e. the
    per-pixel KL summed over classes and averaged over pixels; the focal term uses the
    teacher's argmax as "fake" hard labels on every pixel. Returns the total and the parts.
    """
    w = weights or DistillWeights()
    s = student_logits.float()
    t = teacher_logits.float().detach()
    n_cls = s.shape[1]
    mse = F.mse_loss(s, t)
    s_flat = s.permute(0, 2, 3, 1).reshape(-1, n_cls)
    t_flat = t.permute(0, 2, 3, 1).reshape(-1, n_cls)
    kl = F.kl_div(
        F.log_softmax(s_flat / w.temperature, dim=1),
        F.log_softmax(t_flat / w.temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    ) * (w.temperature**2)
    fl = focal_loss(s, t.argmax(dim=1), None, alpha, gamma)
    total = w.mse * mse + w.kl * kl + w.focal * fl
    return {"loss": total, "mse": mse, "kl": kl, "focal": fl}
