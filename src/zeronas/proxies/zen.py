"""Zen-NAS score (Lin et al. ICCV 2021)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Bound, Inapplicable, Undefined, floats, gaussian_init, reason_of, register
from .gap import attach_pre_gap, find_final_gap


@register("zen", direction=1, data="noise", bn_mode="train", noise_batch=True,
          needs=("pre_gap",),
          defaults={"mixup_gamma": 1e-2, "repeats": 1, "bn_momentum": None},
          min_options={"repeats": (1, "it averages over re-initialisations")},
          bounds={"mixup_gamma": Bound(0, low_open=True, why="it is the size of the input perturbation (0.01 in "
                                                               "Zen-NAS; at 0 the two inputs are equal, log 0 = "
                                                               "-inf)"),
                  "bn_momentum": Bound(0, 1, low_open=True, why="it is BN's running-average weight: 0 keeps the "
                                                                   "initial variance 1, above 1 is no average")},
          reference="Lin et al. ICCV 2021 (Zen-NAS compute_zen_score)",
          description="log E|Phi(x) - Phi(x + 0.01 eps)| + sum_BN log sqrt(mean running_var); N(0,1) weights")
def zen(ctx, mixup_gamma: float = 1e-2, repeats: int = 1, bn_momentum: float | None = None) -> float:
    """``bn_momentum`` None keeps the network's BN momentum (0.1, as the reference runs it, which makes
    running_var = 0.9 + 0.1 * batch_var); 1.0 uses the true batch variance."""
    g = ctx.generator(17)
    scores = []
    for _ in range(repeats):
        model = ctx.model()
        if not hasattr(model, "forward_pre_gap"):  # a plug-in space's network: its final GAP, as --model finds it
            gap = find_final_gap(model, torch.zeros(ctx.input_shape(1), device=ctx.device))
            if gap is None:
                raise Inapplicable("zen needs the features before a final global pooling: a forward_pre_gap(x) "
                                   "method, or one nn.AdaptiveAvgPool2d to 1x1 as the last pooling")
            attach_pre_gap(model, gap)
        gaussian_init(model, g)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if bn_momentum is not None:
            for m in bns:
                m.momentum = bn_momentum
        x = torch.randn(ctx.input_shape(ctx.batch_size), generator=g).to(ctx.device)
        x2 = x + mixup_gamma * torch.randn(x.shape, generator=g).to(ctx.device)
        with torch.no_grad():
            diff = (model.forward_pre_gap(x) - model.forward_pre_gap(x2)).abs().sum(dim=(1, 2, 3)).mean().item()
            var = [m.running_var.mean() for m in bns if m.running_var is not None]
            bn_term = sum(floats(torch.log(torch.sqrt(v)) for v in var))
        for m in bns:
            m.momentum = 0.1
        scores.append(_zen_value(diff, bn_term, sum(v == 0 for v in floats(var))))
    value = sum(scores) / len(scores)
    why = next((reason_of(s) for s in scores if reason_of(s)), None)
    return Undefined(why, value) if why else float(value)


def _zen_value(diff: float, bn_term: float, zero_var: int) -> float:
    """log diff + bn_term, with the reason when a log of 0 (or an overflow) makes it non-finite."""
    if not math.isfinite(diff):
        return Undefined(f"undefined: the feature difference is {diff} (the N(0,1) weights overflowed float32)")
    if diff == 0:
        return Undefined("Phi(x) = Phi(x + 0.01 eps): the pre-GAP features do not depend on the input (e.g. every "
                         "path from the input is 'none'), so log 0 = -inf", -math.inf)
    if zero_var:
        return Undefined(f"{zero_var} BN layers have running variance 0 (their input is constant), so their "
                         f"log sqrt(var) = -inf", -math.inf)
    return math.log(diff) + bn_term
