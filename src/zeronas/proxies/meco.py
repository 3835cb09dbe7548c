"""MeCo (Jiang et al. NeurIPS 2023): minimum eigenvalue of the channel correlation of every module's output."""

from __future__ import annotations

import torch

from .base import hooks, once_per_tensor, register


def min_eig_channel_corr(feature: torch.Tensor) -> float:
    """feature: one sample's output [C, ...]; min eigenvalue of corrcoef over channels (NaN/inf -> 0)."""
    # contiguous: a channels-last feature (e.g. the CPU pooling fast path's) would otherwise reach corrcoef as
    # a strided view and be reduced in another order
    f = feature.reshape(feature.shape[0], -1).double().contiguous()
    if f.shape[0] == 1:
        return 1.0
    if f.shape[1] < 2:  # one value per channel: every correlation is undefined, set to 0 as the reference does
        return 0.0
    corr = torch.corrcoef(f)
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return torch.linalg.eigvalsh(corr).min().item()


@register("meco", direction=1, data="noise", bn_mode="default", defaults={"input_size": 64},
          needs=("any_size",),
          reference="Jiang et al. NeurIPS 2023 (HamsterMimi/MeCo meco.py)",
          description="sum over all modules of min eig(corrcoef over channels), one random 1x3xSxS input")
def meco(ctx, input_size: int = 64) -> float:
    model = ctx.model()
    values: list[float] = []
    # a container's output is often its last child's very tensor (NB201: 264 distinct of 453 outputs): its
    # eigenvalue is computed once and counted once per module, as the reference counts it
    eig = once_per_tensor(lambda t: min_eig_channel_corr(t[0].detach()))

    def hook(module, inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        if torch.is_tensor(out) and out.dim() >= 1:
            values.append(eig(out))

    x = torch.randn((1, 3, input_size, input_size), generator=ctx.generator(23)).to(ctx.device)
    with hooks([m.register_forward_hook(hook) for m in model.modules()]), torch.no_grad():
        model(x)
    return float(sum(values))
