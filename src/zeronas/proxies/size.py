"""Size proxies: parameter count, FLOPs, and the L2 norm of the weights at init."""

from __future__ import annotations

import torch

from ..counting import count_flops_detail, count_params
from .base import floats, register, weight_layers


@register("params", direction=1, data="none", bn_mode="n/a", weight_free=True,
          reference="baseline (NAS-Bench-Suite-Zero)", description="number of parameters (frozen ones too: the "
                                                                 "network's size, as the benchmarks count it)")
def params(ctx) -> float:
    # a space's closed form (NB201) gives the same count without building the network: 100x faster
    fast = getattr(getattr(ctx, "space", None), "count_params", None)
    n = fast(ctx.arch, num_classes=ctx.num_classes, **ctx.build_options) if fast is not None else None
    return float(n if n is not None else count_params(ctx.model()))


@register("flops", direction=1, data="none", bn_mode="n/a", weight_free=True,
          needs=("conv_linear",),
          reference="baseline (NAS-Bench-Suite-Zero)",
          description="operations of one forward pass at the input size, by NASLib's rules (conv/linear MACs, BN, "
                      "ReLU, pooling; NB201: its table's closed form); NAS-Bench-Macro's flops column and search's "
                      "--max-flops there count conv/linear MACs only, 2-5% fewer")
def flops(ctx) -> float:
    # a space's closed form (NB201) gives the same count without building or running the network
    fast = getattr(getattr(ctx, "space", None), "count_flops", None)
    n = fast(ctx.arch, input_size=ctx.input_shape(1)[2:], num_classes=ctx.num_classes, **ctx.build_options) \
        if fast is not None else None
    if n is not None:
        return float(n)
    n, unseen = count_flops_detail(ctx.model(), torch.zeros(ctx.input_shape(1), device=ctx.device))
    if unseen:  # a count that leaves out real compute is said with its size, never silently low
        ctx.notes.append(f"flops: {unseen:,} multiply-accumulates of convolutions/matrix products ran outside "
                         f"nn.Conv2d/nn.Linear modules (functional calls such as F.conv2d or torch.matmul, "
                         f"attention) and are not counted ({unseen / (n + unseen):.0%} of the two together)")
    return float(n)


@register("l2_norm", direction=1, data="none", bn_mode="n/a",
          needs=("conv_linear",),
          reference="NAS-Bench-Suite-Zero l2_norm", description="sum over conv/linear layers of ||W_l||_2 at init")
def l2_norm(ctx) -> float:
    return sum(floats(m.weight.norm() for m in weight_layers(ctx.model())))
