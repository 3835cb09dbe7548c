"""ZEROS (FreeDARTS, Zhang et al. arXiv 2106.11542): connection sensitivity of operations at init.

ZEROS(e, o) = |w_eo * dR/dw_eo| with R = 1^T f(1; |theta|): the SynFlow objective, differentiated with
respect to the mixing weight of each operation. The core ``connection_sensitivity`` works on any network
whose ``forward(x, weights=W)`` mixes edge ops by an [E, O] weight tensor (discrete NB201/DARTS networks
and their supernets); the search uses it per operation, the ``zeros`` proxy sums it over a network.
Float64, BN bypassed, all-ones input: the stored output of the official NB201 notebook is all NaN
because of float32 overflow and BN on a constant input, which these choices avoid.
"""

from __future__ import annotations

import torch

from .base import bn_bypassed, register
from .synflow import linearized


def connection_sensitivity(model, weights: torch.Tensor, input_shape) -> torch.Tensor:
    """|w * dR/dw| for every entry of the [E, O] mixing-weight tensor ``weights`` (float64, BN bypassed).
    Ops with weight 0 score 0; ``model`` is modified (|theta|, float64): pass a copy you can discard."""
    model = linearized(model)
    w = weights.detach().to(torch.float64).clone().requires_grad_(True)
    x = torch.ones(input_shape, dtype=torch.float64, device=w.device)
    with bn_bypassed(model):
        r = model(x, weights=w).sum()
    (grad,) = torch.autograd.grad(r, w, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(w)
    score = (w * grad).abs().detach()
    if not torch.all(torch.isfinite(score)):
        raise FloatingPointError("ZEROS is not finite (overflow): the network is too deep for float64 synflow")
    return score


@register("zeros", direction=1, shares_isomorphs=True, data="ones", bn_mode="bypass", dtype="float64",
          reference="Zhang, Huang, Wang, arXiv 2106.11542 (FreeDARTS / ZEROS)",
          description="sum over edges of |w * dR/dw| at w = one-hot (synflow objective, float64, BN bypassed)")
def zeros(ctx) -> float:
    space = ctx.space
    if not hasattr(space, "ops") or not hasattr(space, "edges"):
        raise ValueError(f"zeros needs a cell space with per-edge ops; {space.name} has none")
    if not space.edge_weighted:  # a genotype network has no per-edge mixing weights to differentiate
        raise ValueError(f"zeros scores networks with per-edge op weights; on {space.name}, ZEROS ranks "
                         f"operations inside the supernet: use 'zeronas search --space {space.name} --method "
                         "freedarts'")
    model = ctx.model(torch.float64)
    w = torch.zeros(len(space.edges), len(space.ops), device=ctx.device)
    for e, op in enumerate(ctx.arch):
        if op != "none":
            w[e, space.ops.index(op)] = 1.0
    return connection_sensitivity(model, w, ctx.input_shape(1)).sum().item()
