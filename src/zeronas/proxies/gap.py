"""The features entering a network's final global average pooling (what zen reads, ``forward_pre_gap``).

Built-in networks define ``forward_pre_gap``; for any other module (``score --model``, a plug-in space's networks)
the final GAP is found from one forward pass: the last ``nn.AdaptiveAvgPool2d`` that ran, on a 4-D map, to 1x1, and
ran once (a pooling module reused at several depths has no single "before")."""

from __future__ import annotations

import torch
from torch import nn


def final_gap(calls: list[tuple[str, int, tuple | None]]) -> str | None:
    """The name of the final GAP from a forward pass's module calls in order, each (module name, input dims,
    output H x W or None), ``AdaptiveAvgPool2d`` calls named, others with name None: the last pooling, if it
    is a once-called 4-D -> 1x1 one and no module after it gives a map larger than 1x1 (else that pooling is
    inside the network, e.g. a squeeze-excitation block's, and the final pooling is not a module); or None."""
    pools = [i for i, c in enumerate(calls) if c[0] is not None]
    if not pools:
        return None
    name, dim, size = calls[pools[-1]]
    later_maps = any(c[2] not in (None, (1, 1)) for c in calls[pools[-1] + 1:])
    once = sum(c[0] == name for c in calls) == 1
    return name if dim == 4 and size == (1, 1) and once and not later_maps else None


def gap_call(names: dict, mod: nn.Module, inputs, output) -> tuple | None:
    """One entry of :func:`final_gap`'s calls from a forward hook (None for an output that is no tensor)."""
    if not torch.is_tensor(output) or not inputs or not torch.is_tensor(inputs[0]):
        return None
    hw = tuple(output.shape[-2:]) if output.dim() == 4 else None
    return (names[mod] if isinstance(mod, nn.AdaptiveAvgPool2d) else None, inputs[0].dim(), hw)


def find_final_gap(model: nn.Module, x: torch.Tensor) -> str | None:
    """Run ``model`` once on ``x`` (eval mode, so no BN statistic moves; no grad) and name its final GAP."""
    names = {m: n for n, m in model.named_modules()}
    calls: list = []

    def hook(mod, inputs, output):
        if (c := gap_call(names, mod, inputs, output)) is not None:
            calls.append(c)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return final_gap(calls)


class _Stop(Exception):
    pass


def attach_pre_gap(model: nn.Module, gap_name: str) -> None:
    """Give ``model`` a ``forward_pre_gap(x)``: its forward up to the input of module ``gap_name`` (the rest is not
    run)."""
    gap = model.get_submodule(gap_name)

    def forward_pre_gap(x):
        box = {}

        def grab(mod, inputs):
            box["x"] = inputs[0]
            raise _Stop  # nothing after the pooling is needed

        handle = gap.register_forward_pre_hook(grab)
        try:
            model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return box["x"]

    model.forward_pre_gap = forward_pre_gap
