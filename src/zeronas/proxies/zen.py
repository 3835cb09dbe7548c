"""Zen-NAS score (Lin et al. ICCV 2021)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import UserError
from .base import gaussian_init, register


@register("zen", direction=1, data="noise", bn_mode="train",
          needs=("pre_gap",),
          defaults={"mixup_gamma": 1e-2, "repeats": 1, "bn_momentum": None},
          reference="Lin et al. ICCV 2021 (Zen-NAS compute_zen_score)",
          description="log E|Phi(x) - Phi(x + 0.01 eps)| + sum_BN log sqrt(mean running_var); N(0,1) weights")
def zen(ctx, mixup_gamma: float = 1e-2, repeats: int = 1, bn_momentum: float | None = None) -> float:
    """``bn_momentum`` None keeps the network's BN momentum (0.1, as the reference runs it, which makes
    running_var = 0.9 + 0.1 * batch_var); 1.0 uses the true batch variance."""
    g = ctx.generator(17)
    scores = []
    for _ in range(repeats):
        model = ctx.model()
        if not hasattr(model, "forward_pre_gap"):
            raise UserError("zen needs a network with forward_pre_gap (features before global pooling)")
        gaussian_init(model, g)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if bn_momentum is not None:
            for m in bns:
                m.momentum = bn_momentum
        x = torch.randn(ctx.input_shape(ctx.batch_size), generator=g).to(ctx.device)
        x2 = x + mixup_gamma * torch.randn(x.shape, generator=g).to(ctx.device)
        with torch.no_grad():
            diff = (model.forward_pre_gap(x) - model.forward_pre_gap(x2)).abs().sum(dim=(1, 2, 3)).mean()
            bn_term = sum(torch.log(torch.sqrt(m.running_var.mean())).item() for m in bns if m.running_var is not None)
        for m in bns:
            m.momentum = 0.1
        scores.append(math.log(diff.item()) + bn_term if diff.item() > 0 else -math.inf)
    return float(sum(scores) / len(scores))
