"""One train-mode forward of batch 0, shared by every proxy of a ``score`` call that reads it.

nwot (and the DAS metrics) read the ReLU codes of that forward, snip / grad_norm / plain / fisher / grasp (at
T=1) the weight gradients of its cross-entropy loss, jacob_cov / epe_nas the input Jacobian of its summed
logits. All three use the same network at its initial weights, in train mode, on the same batch, so when a
``score`` call asks for proxies of two or three of these families the forward pass runs once, with each
family's hooks attached, and each family's backward pass (if any) runs on its graph. A train-mode forward
does not read the BN running statistics it updates, and the hooks only read tensors, so every value is the
one the family's own pass gives (``tests/test_shared_pass.py`` checks equality to the last bit on CPU). A
family whose part fails (its backward raises) fails alone; the pass enables gradients itself where a family
needs them, also inside a caller's ``torch.no_grad()``.

A family is a *tap*: the hooks it attaches before the forward and what it makes of the forward's output.
Each family registers its tap in its own module (``naswot``, ``gradient``, ``jacobian``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .base import hooks


@dataclass(frozen=True)
class Tap:
    """``key``: the ``ctx.cache`` entry it fills; ``consumers``: the proxies that read it (``when``: those that
    read it only with some options); ``grad``: what its
    ``finish`` differentiates ("none", "weights": the loss w.r.t. the weights, "input": the output w.r.t. the
    input); ``attach(model, x, state)`` returns hook handles and may fill ``state`` (which holds
    ``planned``, the proxies the ``score`` call will ask for: empty when unknown); ``finish(ctx, model, x, y,
    out, state, retain_graph)`` returns the cached value (``retain_graph``: a later tap backpropagates too)."""

    key: str
    consumers: frozenset
    grad: str
    attach: Callable[[torch.nn.Module, torch.Tensor, dict], list]
    finish: Callable[..., Any]
    when: dict = field(default_factory=dict)  # consumer -> f(options): whether, with these options, it reads


class _Failed:
    """A tap whose part of the pass raised: the error is kept for its own consumers, the others' values stand."""

    def __init__(self, exc: Exception):
        self.exc = exc


TAPS: dict[str, Tap] = {}
_ORDER = {"none": 0, "weights": 1, "input": 2}  # the loss backward first: it is the one whose hooks count


def register_tap(tap: Tap) -> Tap:
    TAPS[tap.key] = tap
    return tap


def plan(ctx, proxies, options: dict | None = None, widen: bool = False) -> None:
    """Tell ``ctx`` which proxies this ``score`` call will ask of it (names; ``options``: name -> the proxy's
    options, for proxies that read a pass only with some options), so the first one computes the forward the
    others share. ``widen`` adds to the plan a reused context already has instead of replacing it."""
    options = options or {}
    reads = {n for n in proxies
             if all(cond(options.get(n) or {}) for t in TAPS.values() for m, cond in t.when.items() if m == n)}
    ctx.planned = frozenset(reads) | (frozenset(getattr(ctx, "planned", ())) if widen else frozenset())


def shared(ctx, key: str, proxy: str):
    """``ctx.cache[key]``, computed (with every other tap a planned proxy reads and that is not cached yet) in
    one forward of the network on batch 0. Raises what computing this key raised, and only that: a failure in
    another family's part of the pass (e.g. a loss on labels the network cannot take) leaves this one's value
    intact."""
    if key not in ctx.cache:
        planned = getattr(ctx, "planned", frozenset())  # contexts made outside ScoringContext may lack it
        keys = [k for k, t in TAPS.items() if k == key or (k not in ctx.cache and t.consumers & planned)]
        run(ctx, [TAPS[k] for k in sorted(keys, key=lambda k: _ORDER[TAPS[k].grad])], proxy)
    value = ctx.cache[key]
    if isinstance(value, _Failed):
        raise value.exc
    return value


def run(ctx, taps: list[Tap], proxy: str) -> None:
    model = ctx.model()
    batch = ctx.batch(0, proxy=proxy)
    x = batch.x
    state: list[dict] = [{"planned": getattr(ctx, "planned", frozenset())} for _ in taps]
    if any(t.grad == "input" for t in taps):
        x = x.detach().clone().requires_grad_(True)
    grad = any(t.grad != "none" for t in taps)
    handles = [h for t, s in zip(taps, state) for h in t.attach(model, x, s)]
    with hooks(handles), torch.set_grad_enabled(grad):  # enabled even inside a caller's no_grad when needed
        out = model(x)
    with torch.set_grad_enabled(grad):  # the backward passes too
        for i, (t, s) in enumerate(zip(taps, state)):
            later = any(u.grad != "none" for u in taps[i + 1:])
            try:
                ctx.cache[t.key] = t.finish(ctx, model, x, batch.y, out, s, later)
            except Exception as exc:  # noqa: BLE001  (kept for this tap's consumers; the others go on)
                ctx.cache[t.key] = _Failed(exc)
