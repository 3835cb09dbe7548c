"""SWAP (Peng et al. ICLR 2024): sample-wise activation patterns."""

from __future__ import annotations

import math

import torch

from .base import Bound, gaussian_init, hooks, register, relu_modules
from .size import count_params

MAX_PACKED_SAMPLES = 62  # one int64 code per neuron
MAX_BINCOUNT_SAMPLES = 20  # up to 2**20 bins: counting beats sorting


def _pack_bits(acts: torch.Tensor) -> torch.Tensor:
    """acts: [samples, neurons], samples <= 62. One int64 per neuron whose bit i is ``acts[i] > 0``."""
    codes = torch.zeros(acts.shape[1], dtype=torch.int64, device=acts.device)
    for i in range(acts.shape[0]):
        codes |= (acts[i] > 0).to(torch.int64) << i
    return codes


def pack_sign_codes(acts: torch.Tensor) -> torch.Tensor | None:
    """``_pack_bits``, or None when the activations are not post-ReLU (a negative value: signs are not bits)
    or there are too many samples to pack."""
    if acts.shape[0] > MAX_PACKED_SAMPLES or bool((acts < 0).any()):
        return None
    return _pack_bits(acts)


def count_distinct_codes(codes: torch.Tensor, samples: int) -> int:
    if samples <= MAX_BINCOUNT_SAMPLES:
        return int(torch.count_nonzero(torch.bincount(codes, minlength=1 << samples)))
    return int(torch.unique(codes).numel())


def swap_from_activations(acts: torch.Tensor) -> int:
    """acts: [samples, neurons] activations. Number of distinct per-neuron sign patterns across samples
    (the rows of sign(acts)^T)."""
    codes = pack_sign_codes(acts)
    if codes is None:
        return int(torch.unique(torch.sign(acts).T, dim=0).shape[0])
    return count_distinct_codes(codes, acts.shape[0])


@register("swap", direction=1, data="batch", bn_mode="train",
          needs=("relu",),
          defaults={"samples": 16, "repeats": 32, "mu": None, "sigma": None}, batch_option="samples", min_batch=2,
          min_batch_why="it counts distinct activation patterns across samples (one sample gives at most 2)",
          min_options={"repeats": (1, "it averages over re-initialisations")},
          bounds={"sigma": Bound(0, low_open=True, why="the regulariser divides by it")}, together=[("mu", "sigma")],
          reference="Peng et al. ICLR 2024 (pym1024/SWAP)",
          description="distinct sign patterns of post-ReLU neurons over 16 samples, 32 N(0,1) re-inits; "
                      "regularised by exp(-(params_K - mu)^2 / sigma) when mu and sigma are given")
def swap(ctx, samples: int = 16, repeats: int = 32, mu: float | None = None, sigma: float | None = None) -> float:
    x = ctx.batch(0, size=samples, proxy="swap").x
    g = ctx.generator(29)
    feats: list[torch.Tensor] = []
    packed = len(x) <= MAX_PACKED_SAMPLES

    def hook(module, inputs, output):
        if inputs[0].dim() == 4:
            flat = output.detach().reshape(output.shape[0], -1)
            # ReLU outputs are >= 0, so each sign is a bit; codes are 1/len(x) the size of the activations
            feats.append(_pack_bits(flat) if packed else flat)

    # gaussian_init rewrites every weight each repeat and forwards change nothing else, so one network serves
    model = ctx.model()
    total = 0.0
    ran = False
    for _ in range(repeats):
        gaussian_init(model, g)
        feats.clear()
        with hooks([m.register_forward_hook(hook) for m in relu_modules(model)]), torch.no_grad():
            model(x)
        if feats:
            ran = True
            total += (count_distinct_codes(torch.cat(feats), len(x)) if packed
                      else swap_from_activations(torch.cat(feats, 1)))
    if not ran:  # a defined 0, but one a reader should not take for a measured pattern count
        ctx.notes.append("swap: no ReLU unit ran on a feature map in this network: no activation pattern to count, "
                         "0 by definition")
    score = total / repeats
    if mu is not None and sigma is not None:
        score *= math.exp(-((count_params(model) / 1e3 - mu) ** 2) / sigma)
    return float(score)

