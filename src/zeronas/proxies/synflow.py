"""SynFlow (Tanaka et al. 2020; foresight): data-free synaptic saliency with |theta| and an all-ones input."""

from __future__ import annotations

import math

import torch

from .base import Undefined, bn_bypassed, floats, register, weight_layers


def _saliency_sum(model) -> float:
    """sum |W * dR/dW| over conv/linear weights; undefined when float64 overflowed (the true value is finite
    but unknown, so NaN rather than inf)."""
    total = sum(floats((m.weight * m.weight.grad).abs().sum() for m in weight_layers(model)
                       if m.weight.grad is not None))
    if not math.isfinite(total):
        return Undefined(f"undefined: the |theta| products overflowed float64 (gave {total}): the network is too "
                         f"deep or wide for synflow")
    return total


def linearized(model, dtype=torch.float64):
    """|theta| for every state tensor (BN buffers too, as foresight does), in float64."""
    model.to(dtype)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    return model


@register("synflow", direction=1, shares_isomorphs=True, data="ones", bn_mode="bypass", dtype="float64",
          needs=("conv_linear", "tensor_output"),
          reference="Tanaka et al. NeurIPS 2020; Abdelfattah et al. ICLR 2021 (foresight synflow)",
          description="sum |W * dR/dW|, R = 1^T f(1; |theta|), float64, BN bypassed")
def synflow(ctx) -> float:
    model = linearized(ctx.model(torch.float64))
    with bn_bypassed(model):
        x = torch.ones(ctx.input_shape(1), dtype=torch.float64, device=ctx.device)
        model(x).sum().backward()
    return _saliency_sum(model)


@register("synflow_bn", direction=1, data="ones", bn_mode="train", dtype="float64",
          needs=("conv_linear", "bn", "tensor_output"),
          reference="foresight synflow_bn",
          description="synflow with BN kept (train mode; needs a batch of ones larger than 1)")
def synflow_bn(ctx) -> float:
    model = linearized(ctx.model(torch.float64))
    x = torch.ones(ctx.input_shape(2), dtype=torch.float64, device=ctx.device)
    model(x).sum().backward()
    return _saliency_sum(model)
