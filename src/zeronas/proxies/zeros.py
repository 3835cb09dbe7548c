"""ZEROS (FreeDARTS, Zhang et al. arXiv 2106.11542): connection sensitivity of operations at init.

ZEROS(e, o) = |w_eo * dR/dw_eo| with R = 1^T f(1; |theta|): the SynFlow objective, differentiated with
respect to the mixing weight of each operation. The core ``connection_sensitivity`` works on any network
whose ``forward(x, weights=W)`` mixes edge ops by an [E, O] weight tensor (discrete NB201/DARTS networks
and their supernets); the search uses it per operation, the ``zeros`` proxy sums it over a network.
Float64, BN bypassed, all-ones input: the stored output of the official NB201 notebook is all NaN
because of float32 overflow, which these choices avoid.

``connection_sensitivity_code`` is the score as the released notebooks compute it (float32, BN in train
mode, the raw architecture parameters as mixing weights, gradient w.r.t. them): FreeDARTS's ``code``
protocol.
"""

from __future__ import annotations

import copy

import torch

from .base import Inapplicable, bn_bypassed, register
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


def connection_sensitivity_code(model, alpha: torch.Tensor, input_shape, *, abs_alpha: bool = False,
                                dtype=torch.float32, mixing=None) -> tuple[torch.Tensor, float]:
    """ZEROS as the released FreeDARTS notebooks compute it: (|alpha * dR/dalpha|, R) for the [E, O] tensor
    ``alpha`` of architecture parameters, R = sum of the logits of one all-ones image.

    Source: anonymous-submission1991/FreeDARTS, ``pruning_func`` of DARTS_CNN/FreeDARTS_SynFlow_oneshot.ipynb
    and NAS_Bench201/exps/algos/FreeDARTS_SynFlow_oneshot.ipynb. Every floating state tensor is made absolute,
    BN runs in train mode (the statistics of the one image over H x W), and alpha itself mixes the ops: their
    ``model_search`` forward passes the raw alphas, with no softmax, so the gradient is w.r.t. the alphas.
    ``abs_alpha``: NB201 keeps alpha in the state dict, so the notebook makes it absolute too (DARTS keeps
    it outside, signed). ``mixing`` (a function of alpha) replaces the raw mixing for comparisons, e.g. a
    softmax. ``model`` is deep-copied, never modified. The result may hold NaN/inf (float32 overflow): the
    caller decides what to do with it.
    """
    model = linearized(copy.deepcopy(model), dtype).train()
    a = alpha.detach().to(dtype).clone()
    a = (a.abs() if abs_alpha else a).requires_grad_(True)
    x = torch.ones(input_shape, dtype=dtype, device=a.device)
    r = model(x, weights=a if mixing is None else mixing(a)).sum()
    (grad,) = torch.autograd.grad(r, a, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(a)
    return (a * grad).abs().detach(), r.item()


@register("zeros", direction=1, shares_isomorphs=True, data="ones", bn_mode="bypass", dtype="float64",
          needs=("mixing_weights",),
          reference="Zhang, Huang, Wang, arXiv 2106.11542 (FreeDARTS / ZEROS)",
          description="sum over edges of |w * dR/dw| at w = one-hot (synflow objective, float64, BN bypassed)")
def zeros(ctx) -> float:
    space = ctx.space
    if not hasattr(space, "ops") or not hasattr(space, "edges"):
        raise Inapplicable(f"zeros needs a cell space with per-edge ops; {space.name} has none")
    if not space.edge_weighted:  # a genotype network has no per-edge mixing weights to differentiate
        raise Inapplicable(f"zeros scores networks with per-edge op weights; on {space.name}, ZEROS ranks "
                         f"operations inside the supernet: use 'zeronas search --space "
                         f"{getattr(space, 'search_as', space.name)} --method freedarts'")
    model = ctx.model(torch.float64)
    w = torch.zeros(len(space.edges), len(space.ops), device=ctx.device)
    for e, op in enumerate(ctx.arch):
        if op != "none":
            w[e, space.ops.index(op)] = 1.0
    return connection_sensitivity(model, w, ctx.input_shape(1)).sum().item()
