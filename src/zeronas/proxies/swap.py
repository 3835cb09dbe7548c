"""SWAP (Peng et al. ICLR 2024): sample-wise activation patterns."""

from __future__ import annotations

import math

import torch

from .base import gaussian_init, hooks, register, relu_modules
from .size import count_params


def swap_from_activations(acts: torch.Tensor) -> int:
    """acts: [samples, neurons] activations. Number of distinct per-neuron sign patterns across samples
    (the rows of sign(acts)^T). Patterns of up to 62 samples are packed into one integer per neuron."""
    signs = torch.sign(acts)
    n = signs.shape[0]
    if n <= 62 and bool((signs >= 0).all()):  # post-ReLU: each sign is a bit
        weights = (2 ** torch.arange(n, dtype=torch.int64, device=acts.device)).view(n, 1)
        return int(torch.unique(((signs > 0).to(torch.int64) * weights).sum(0)).numel())
    return int(torch.unique(signs.T, dim=0).shape[0])


@register("swap", direction=1, data="batch", bn_mode="train",
          defaults={"samples": 16, "repeats": 32, "mu": None, "sigma": None},
          reference="Peng et al. ICLR 2024 (pym1024/SWAP)",
          description="distinct sign patterns of post-ReLU neurons over 16 samples, 32 N(0,1) re-inits; "
                      "regularised by exp(-(params_K - mu)^2 / sigma) when mu and sigma are given")
def swap(ctx, samples: int = 16, repeats: int = 32, mu: float | None = None, sigma: float | None = None) -> float:
    x = ctx.batch(0, size=samples, proxy="swap").x
    g = ctx.generator(29)
    feats: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if inputs[0].dim() == 4:
            feats.append(output.detach().reshape(output.shape[0], -1))

    total = 0.0
    for _ in range(repeats):
        model = ctx.model()
        gaussian_init(model, g)
        feats.clear()
        with hooks([m.register_forward_hook(hook) for m in relu_modules(model)]), torch.no_grad():
            model(x)
        total += swap_from_activations(torch.cat(feats, 1)) if feats else 0
    score = total / repeats
    if mu is not None and sigma is not None:
        score *= math.exp(-((count_params(model) / 1e3 - mu) ** 2) / sigma)
    return float(score)
