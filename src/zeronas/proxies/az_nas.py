"""AZ-NAS (Lee & Ham, CVPR 2024) component scores: expressivity, progressivity, trainability.

The AZ-NAS score itself aggregates these and FLOPs by sum of log(rank / N) over a population, so it is
available as the rank ensemble ``az_nas`` in correlate/search (see ``zeronas.proxies.ensembles``).
Protocol of the reference NB201 code: Kaiming-normal (fan-in) init, BN without running stats, one batch of
64 Gaussian inputs, features after the stem and after every cell.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .base import Inapplicable, Undefined, register

COMPONENTS = ("az_expressivity", "az_progressivity", "az_trainability")


def expressivity_of(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance of a [B, C, H, W] feature; undefined
    (0/0) when the feature is constant (zero covariance)."""
    b, c, h, w = feature.shape
    f = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c).double()
    f = f - f.mean(0, keepdim=True)
    if not f.any():
        return Undefined("the feature is constant (zero covariance), so its eigenvalue entropy is 0/0")
    s = torch.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum().item())


ZERO_JACOBIAN = ("the block's Jacobian is 0 (its output ignores its input), so -s - 1/s has no value (the "
                 "reference's 1/(s + 1e-6) floor gives -999998)")
CONSTANT_INPUT = "the block's input is constant (an earlier block ignores its input), so its Jacobian is not measured"


def trainability_of(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator) -> float:
    """-s - 1/s + 2 with s the top singular value of the block Jacobian's Rademacher estimate. An identity
    block is -inf (the reference's rule); a zero Jacobian (s = 0) is undefined, where the reference's
    1/(s + 1e-6) floor gives -999998."""
    g_out = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=generator) * 2 - 1).to(f_out)
    if not f_in.requires_grad:  # a constant (zero) node, outside the graph: there is nothing to differentiate
        return Undefined(CONSTANT_INPUT)
    g_in = None
    if f_out.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None:  # the block's output ignores its input (all-zero cell): a zero Jacobian, s = 0
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return Undefined("the block is an identity map (AZ-NAS scores it -inf)", -math.inf)
    if g_in.shape[2] != g_out.shape[2]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    bo, co, ho, wo = g_out.shape
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
    gi = g_in.permute(0, 2, 3, 1).reshape(bo * ho * wo, -1)
    s = torch.linalg.svdvals((gi.T @ go / (bo * ho * wo)).double()).max().item()
    if s == 0:
        return Undefined(ZERO_JACOBIAN)
    return -s - 1.0 / (s + 1e-6) + 2.0


def _block_names(n: int) -> list[str]:
    """Names of the features AZ-NAS compares: after the stem, then after each cell (module cells.i)."""
    return ["stem"] + [f"cells.{i}" for i in range(n - 1)]


def _where(names: list[str], values, reason: str | None = None) -> str:
    """The names whose value carries ``reason`` (any reason when None), the first three spelled out."""
    bad = [n for n, v in zip(names, values) if getattr(v, "reason", None) and reason in (None, v.reason)]
    return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")


def untrack_running_stats(model: nn.Module) -> nn.Module:
    """Every BN layer as if built with ``track_running_stats=False`` (the reference builds AZ-NAS's network so):
    batch statistics in any mode and no running buffers. Done on the built network, so it applies to every
    space, whatever options its ``build`` takes; the seeded init draws no random numbers for BN buffers, so
    the weights are those of a network built with the option."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return model


def _forward(ctx, graph: bool) -> tuple[list, torch.Generator, list[str]]:
    """The features after the stem and each cell for a fresh draw of the Gaussian batch, the generator after
    that draw (the Rademacher probes continue it) and the features' names; ``graph``: keep autograd's graph
    (needed for the block Jacobians). The same draws on every call, so a second call repeats the first."""
    model = untrack_running_stats(ctx.build(init="kaiming", seed_offset=303)).train()
    if not hasattr(model, "cell_features"):
        raise Inapplicable(f"AZ-NAS needs per-cell features, which space {ctx.space.name} does not expose")
    g = ctx.generator(31)
    x = torch.randn(ctx.input_shape(ctx.batch_size), generator=g).to(ctx.device)
    with torch.set_grad_enabled(graph):
        feats = model.cell_features(x)
    return feats, g, _block_names(len(feats))


def az_components(ctx, trainability: bool = True) -> dict[str, float]:
    """The three components of one arch, from one forward pass on a batch of Gaussian inputs. The block
    Jacobians (a backward pass per block, about a third of the cost on NB201) are probed only when
    ``trainability`` is asked; when the score call's plan (``ctx.planned``) leaves az_trainability out, the
    forward keeps no graph either. Every value is the same whichever components are asked, and in which order."""
    out = ctx.cache.get("az")
    if out is None:
        planned = getattr(ctx, "planned", ())  # a model's own context has no plan: keep the graph
        graph = trainability or not planned or "az_trainability" in planned
        feats, g, names = _forward(ctx, graph)
        per_feature = [expressivity_of(f) for f in feats]
        expr = np.array(per_feature, dtype=float)
        out = {"az_expressivity": float(expr.sum()), "az_progressivity": float(np.min(expr[1:] - expr[:-1]))}
        if np.isnan(expr).any():  # the reference turns a NaN score into -inf
            why = (f"the features after {_where(names, per_feature)} are constant (zero covariance), so their "
                   f"eigenvalue entropy is 0/0; AZ-NAS scores such a network -inf")
            out["az_expressivity"] = out["az_progressivity"] = Undefined(why, -math.inf)
        ctx.cache["az"] = out
        if graph:  # kept for the Jacobians until they are probed
            ctx.cache["az_graph"] = (feats, g, names)
    if trainability and "az_trainability" not in out:
        # the graph is freed once the Jacobians are probed; a plan that left them out is repeated with one
        feats, g, names = ctx.cache.pop("az_graph", None) or _forward(ctx, True)
        # the reference runs the blocks from the last to the first; the Rademacher draws follow that order
        backward = [trainability_of(feats[i - 1], feats[i], g) for i in reversed(range(1, len(feats)))]
        train = backward[::-1]  # block i (cells.i) at position i, for the reasons
        out["az_trainability"] = float(np.mean(backward))
        if any(math.isnan(v) for v in train):
            zero, unmeasured = (_where(names[1:], train, why) for why in (ZERO_JACOBIAN, CONSTANT_INPUT))
            parts = [f"blocks whose Jacobian is 0 (the output ignores the input): {zero}; -s - 1/s has no value "
                     f"there (the reference's 1e-6 floor gives -999998)"] if zero else []
            parts += [f"blocks with a constant input, whose Jacobian is not measured: {unmeasured}"] if unmeasured \
                else []
            out["az_trainability"] = Undefined("undefined: " + "; ".join(parts))
        elif math.isinf(out["az_trainability"]):
            out["az_trainability"] = Undefined(
                f"identity blocks (Jacobian = I): {_where(names[1:], train)}; AZ-NAS scores such a block -inf",
                -math.inf)
    return out


def _component(name):
    def fn(ctx) -> float:
        return az_components(ctx, trainability=name == "az_trainability")[name]

    fn.__name__ = name
    return fn


for _name, _desc in zip(COMPONENTS, (
        "sum over cells of the entropy of normalised feature-covariance eigenvalues",
        "min over consecutive cells of the expressivity increase",
        "mean over cells of -s - 1/s + 2, s = top singular value of the block Jacobian (Rademacher probe)")):
    register(_name, direction=1, data="noise", bn_mode="no-track", dtype="float64", noise_batch=True,
             needs=("cell_features",),
             reference="Lee & Ham, CVPR 2024 (cvlab-yonsei/AZ-NAS compute_az_nas_score.py)",
             description=f"AZ-NAS {_desc}")(_component(_name))
