"""AZ-NAS (Lee & Ham, CVPR 2024) component scores: expressivity, progressivity, trainability.

The AZ-NAS score itself aggregates these and FLOPs by sum of log(rank / N) over a population, so it is
available as the rank ensemble ``az_nas`` in correlate/search (see ``zeronas.proxies.ensemble``).
Protocol of the reference NB201 code: Kaiming-normal (fan-in) init, BN without running stats, one batch of
64 Gaussian inputs, features after the stem and after every cell.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .base import register

COMPONENTS = ("az_expressivity", "az_progressivity", "az_trainability")


def expressivity_of(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance of a [B, C, H, W] feature."""
    b, c, h, w = feature.shape
    f = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c).double()
    f = f - f.mean(0, keepdim=True)
    s = torch.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum().item())


def trainability_of(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator) -> float:
    """-s - 1/s + 2 with s the top singular value of the block Jacobian's Rademacher estimate."""
    g_out = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=generator) * 2 - 1).to(f_out)
    g_in = None
    if f_out.requires_grad and f_in.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None:  # the block's output ignores its input (all-zero cell): a zero Jacobian, s = 0
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf  # identity block
    if g_in.shape[2] != g_out.shape[2]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    bo, co, ho, wo = g_out.shape
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
    gi = g_in.permute(0, 2, 3, 1).reshape(bo * ho * wo, -1)
    s = torch.linalg.svdvals((gi.T @ go / (bo * ho * wo)).double()).max().item()
    return -s - 1.0 / (s + 1e-6) + 2.0


def az_components(ctx) -> dict[str, float]:
    if "az" in ctx.cache:
        return ctx.cache["az"]
    model = ctx.build(init="kaiming", track_running_stats=False, seed_offset=303).train()
    if not hasattr(model, "cell_features"):
        raise UserError(f"AZ-NAS needs per-cell features, which space {ctx.space.name} does not expose")
    g = ctx.generator(31)
    x = torch.randn(ctx.input_shape(ctx.batch_size), generator=g).to(ctx.device)
    feats = model.cell_features(x)
    expr = np.array([expressivity_of(f) for f in feats])
    train = [trainability_of(feats[i - 1], feats[i], g) for i in reversed(range(1, len(feats)))]

    def clean(v):
        return -math.inf if math.isnan(v) else float(v)

    ctx.cache["az"] = {
        "az_expressivity": clean(expr.sum()),
        "az_progressivity": clean(np.min(expr[1:] - expr[:-1])),
        "az_trainability": clean(np.mean(train)),
    }
    return ctx.cache["az"]


def _component(name):
    def fn(ctx) -> float:
        return az_components(ctx)[name]

    fn.__name__ = name
    return fn


for _name, _desc in zip(COMPONENTS, (
        "sum over cells of the entropy of normalised feature-covariance eigenvalues",
        "min over consecutive cells of the expressivity increase",
        "mean over cells of -s - 1/s + 2, s = top singular value of the block Jacobian (Rademacher probe)")):
    register(_name, direction=1, data="noise", bn_mode="no-track", dtype="float64",
             needs=("cell_features",),
             reference="Lee & Ham, CVPR 2024 (cvlab-yonsei/AZ-NAS compute_az_nas_score.py)",
             description=f"AZ-NAS {_desc}")(_component(_name))
