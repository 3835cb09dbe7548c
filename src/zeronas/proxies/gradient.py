"""Loss-gradient saliencies (foresight / NASLib definitions): snip, grad_norm, plain, grasp, fisher.

All use one batch of real images, the mean cross-entropy loss, the network in train mode (BN active), and
sum over the weights of conv and linear layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Bound, floats, register, weight_layers
from .shared_pass import Tap, register_tap, shared


def _batch(ctx, name):
    b = ctx.batch(0, proxy=name)
    return b.x, b.y


def _attach_fisher(model, x, state: dict) -> list:
    """Fisher's channel saliencies, gathered by activation hooks during the loss backward only (hooks read
    gradients, they do not change them; a later input-Jacobian backward through the same graph is not counted),
    as a pair of sums: per channel, and per weight (each channel's value counted once per weight feeding it).
    Attached only when fisher is planned, or the plan is unknown."""
    state["fisher"] = torch.zeros(2, dtype=torch.float64, device=x.device)
    state["counting"] = True
    layers = state["layers"] = weight_layers(model)
    if state["planned"] and "fisher" not in state["planned"]:  # the hooks cost a product per layer: skip them
        state["fisher"] = None
        return []

    def forward_hook(module, inputs, output):
        act = output.detach()

        def grad_hook(grad):
            if not state["counting"]:
                return
            g = act * grad.detach()
            g_nk = g.sum(dim=tuple(range(2, g.dim()))) if g.dim() > 2 else g
            per_channel = g_nk.double().pow(2).mean(0).mul(0.5).sum()
            state["fisher"] = state["fisher"] + torch.stack([per_channel, per_channel * module.weight[0].numel()])

        if output.requires_grad:
            output.register_hook(grad_hook)

    return [m.register_forward_hook(forward_hook) for m in layers]


def _finish_loss_gradients(ctx, model, x, y, out, state, retain_graph):
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(out, y).backward(retain_graph=retain_graph)
    state["counting"] = False
    # copies: the next proxy reloads the init weights into these very tensors; None keeps the
    # list aligned with weight_layers for layers the loss does not reach
    grads = [(m.weight.detach().clone(), None if m.weight.grad is None else m.weight.grad.detach().clone())
             for m in state["layers"]]
    return grads, None if state["fisher"] is None else tuple(state["fisher"].tolist())


register_tap(Tap("loss_grads", frozenset({"snip", "grad_norm", "plain", "fisher", "grasp"}), "weights",
                 _attach_fisher, _finish_loss_gradients,
                 when={"grasp": lambda options: options.get("temperature", 1.0) == 1.0}))


def _loss_gradients(ctx) -> tuple[list[tuple[torch.Tensor, torch.Tensor | None]], tuple[float, float] | None]:
    """One cross-entropy backward on the init weights, shared by snip, grad_norm, plain, fisher and grasp (at
    T=1): the same network, batch and loss give the same numbers as separate passes, for a fraction of the work.
    Returns (weight, dL/dweight) per conv/linear layer and fisher's (per-channel, per-weight) sums (None when
    the pass was planned without fisher)."""
    return shared(ctx, "loss_grads", "snip")


def _layer_sum(ctx, metric) -> float:
    """sum over conv/linear layers of metric(W, dL/dW) after one cross-entropy backward."""
    return sum(floats(metric(w, g) for w, g in _loss_gradients(ctx)[0] if g is not None))


@register("snip", direction=1, shares_isomorphs=True, data="batch", bn_mode="train",
          needs=("classifier", "conv_linear",),
          reference="Lee et al. 2019; Abdelfattah et al. ICLR 2021 (foresight)",
          description="sum |W * dL/dW| (connection sensitivity at init)")
def snip(ctx) -> float:
    return _layer_sum(ctx, lambda w, g: (w * g).abs().sum())


@register("grad_norm", direction=1, shares_isomorphs=True, data="batch", bn_mode="train",
          needs=("classifier", "conv_linear",),
          reference="Abdelfattah et al. ICLR 2021 (foresight)",
          description="sum over layers of ||dL/dW_l||_2 (a sum of per-layer norms)")
def grad_norm(ctx) -> float:
    return _layer_sum(ctx, lambda w, g: g.norm())


@register("plain", direction=1, shares_isomorphs=True, data="batch", bn_mode="train",
          needs=("classifier", "conv_linear",),
          reference="Abdelfattah et al. ICLR 2021 (foresight)",
          description="sum dL/dW * W (signed; negatively correlated in practice)")
def plain(ctx) -> float:
    return _layer_sum(ctx, lambda w, g: (g * w).sum())


@register("grasp", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", defaults={"temperature": 1.0},
          bounds={"temperature": Bound(0, low_open=True, why="the logits are divided by it (GraSP's softmax "
                                                             "temperature: 0 divides by zero, below 0 inverts it)")},
          needs=("classifier", "conv_linear",),
          reference="Wang et al. ICLR 2020; foresight grasp (T=1, one iteration)",
          description="sum -W * (H g), g = dL/dW, Hessian-gradient product by double backprop")
def grasp(ctx, temperature: float = 1.0) -> float:
    x, y = _batch(ctx, "grasp")
    # at T=1, g is the plain loss gradient: the pass snip/grad_norm/plain/fisher share
    g = [grad for _, grad in _loss_gradients(ctx)[0]] if temperature == 1.0 else None
    model = ctx.model()
    weights = [m.weight for m in weight_layers(model)]
    if g is None:
        loss = nn.functional.cross_entropy(model(x) / temperature, y)
        g = torch.autograd.grad(loss, weights, allow_unused=True)
    loss = nn.functional.cross_entropy(model(x) / temperature, y)
    g_graph = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = sum((a * b).sum() for a, b in zip(g, g_graph) if a is not None and b is not None)
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    return sum(floats((-w.detach() * h).sum() for w, h in zip(weights, hg) if h is not None))


@register("fisher", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", defaults={"broadcast": True},
          needs=("classifier", "conv_linear",),
          reference="Theis et al. 2018; Turner et al. 2020; foresight fisher (channel mode)",
          description="sum over conv/linear output channels c of 0.5 * mean_n(sum_hw a * dL/da)^2, counted once "
                      "per weight of the channel (foresight broadcasts it to the weights); broadcast=false: "
                      "once per channel")
def fisher(ctx, broadcast: bool = True) -> float:
    sums = _loss_gradients(ctx)[1]
    if sums is None:  # the shared pass ran for proxies planned without fisher: run it again with its hooks
        del ctx.cache["loss_grads"]
        ctx.planned = frozenset(getattr(ctx, "planned", ())) | {"fisher"}
        sums = _loss_gradients(ctx)[1]
    per_channel, per_weight = sums
    return per_weight if broadcast else per_channel
