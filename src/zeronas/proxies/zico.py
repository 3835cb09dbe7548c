"""ZiCo (Li et al. ICLR 2023): inverse coefficient of variation of gradients across batches."""

from __future__ import annotations

import math

import numpy as np

from .base import Undefined, cross_entropy_backward, register, weight_layers


def zico_from_grads(per_layer: list[np.ndarray]) -> float:
    """per_layer[l]: array [n_batches, n_weights] of gradients. sum_l log(sum_w mean|g| / std(g)) over
    weights with nonzero std; layers whose sum is 0 are skipped (as the reference does). When every layer is
    skipped the sum is empty: undefined (the reference reports 0 for any such network)."""
    total, used = 0.0, 0
    for g in per_layer:
        std = g.std(axis=0)
        nz = np.nonzero(std)[0]
        s = float(np.sum(np.abs(g).mean(axis=0)[nz] / std[nz]))
        if s != 0:
            total += math.log(s)
            used += 1
    if not used:
        return Undefined(f"undefined: no weight gradient varies across the batches in any layer ({len(per_layer)} "
                         f"reached; e.g. every gradient is 0 when every path from the input is 'none'), so ZiCo's "
                         f"sum is empty (the reference reports 0)")
    return total


@register("zico", direction=1, shares_isomorphs=True, data="batches", bn_mode="train", defaults={"num_batches": 2},
          needs=("classifier", "conv_linear"),
          min_options={"num_batches": (2, "ZiCo divides by the std of each gradient across batches, 0 for one batch")},
          reference="Li et al. ICLR 2023 (SLDGroup/ZiCo)",
          description="sum_l log sum_w E|g| / std(g) over conv/linear weight gradients of >= 2 batches")
def zico(ctx, num_batches: int = 2) -> float:
    layers = None
    for i in range(num_batches):
        model = ctx.model()
        b = ctx.batch(i, proxy="zico")
        cross_entropy_backward(model, b.x, b.y)
        grads = [m.weight.grad.detach().reshape(-1).double().cpu().numpy() for m in weight_layers(model)
                 if m.weight.grad is not None]
        layers = [[g] for g in grads] if layers is None else [acc + [g] for acc, g in zip(layers, grads)]
    return zico_from_grads([np.stack(g) for g in layers])
