"""NASWOT (v2, Mellor et al. ICML 2021): log|det K_H| of the ReLU-code Hamming kernel."""

from __future__ import annotations

import math

import torch

from .base import Undefined, hooks, register, relu_modules

TWO_CODES = "the kernel compares the ReLU codes of different inputs (with one input it is N_A for any network)"


def hamming_kernels(model, x: torch.Tensor, per_layer: bool = False, by_name: bool = True):
    """K_H[i, j] = sum over ReLU units of 1[c_i == c_j], c = (ReLU input > 0), plus per-layer (K_l, N_l).
    ``by_name`` hooks modules as the reference code does (see ``relu_modules``).

    With s = 2c - 1 in {-1, +1}: C C^T + (1-C)(1-C)^T = (s s^T + N_l) / 2. The per-layer product holds
    integers of magnitude <= N_l, exact in float32 while N_l < 2^24 (and on CPU, where there is no TF32);
    the sum over layers is kept in float64.
    """
    B = x.shape[0]
    K = torch.zeros(B, B, dtype=torch.float64, device=x.device)
    layers: list[tuple[torch.Tensor, int]] = []
    exact32 = x.device.type == "cpu"

    def hook(module, inputs):
        s = (inputs[0].detach() > 0).flatten(1)
        n = s.shape[1]
        dtype = torch.float32 if exact32 and n < 2**24 else torch.float64
        s = s.to(dtype) * 2 - 1
        k = ((s @ s.T + n) / 2).double()
        K.add_(k)
        if per_layer:
            layers.append((k, n))

    with hooks([m.register_forward_pre_hook(hook) for m in relu_modules(model, by_name)]), torch.no_grad():
        model(x)
    return K, layers


def shared_kernel(ctx, proxy: str):
    """The train-mode Hamming kernel of batch 0, computed once per architecture for nwot and DAS."""
    if "hamming" not in ctx.cache:
        ctx.cache["hamming"] = hamming_kernels(ctx.model(), ctx.batch(0, proxy=proxy).x, per_layer=True)
    return ctx.cache["hamming"]


def singular_why(K: torch.Tensor) -> str:
    """Why a Hamming kernel is singular: inputs i and j share their code exactly when K[i, j] == K[i, i]."""
    B = K.shape[0]
    if K[0, 0].item() == 0:
        return "there is no ReLU unit (N_A = 0)"
    same = K == K.diagonal()[:, None]
    distinct = torch.unique(same, dim=0).shape[0]  # rows of an equivalence relation: one per class
    if distinct == 1:
        return (f"all {B} inputs share one ReLU code: no ReLU input depends on the image (e.g. every path from "
                f"the input is 'none')")
    if distinct < B:
        return f"the {B} inputs have only {distinct} distinct ReLU codes (inputs the ReLUs cannot tell apart)"
    return f"its rank is below {B} although all {B} ReLU codes differ"


def logdet(K: torch.Tensor, what: str = "K_H") -> float:
    """log|det K|; ``Undefined(-inf)`` with the cause when K is singular (duplicate codes), never a silent 0."""
    sign, logabs = torch.linalg.slogdet(K)
    if sign.item() == 0:
        return Undefined(f"{what} is singular (log det = -inf): {singular_why(K)}", -math.inf)
    return logabs.item()


@register("nwot", direction=1, data="batch", bn_mode="train", dtype="float64", min_batch=2, min_batch_why=TWO_CODES,
          needs=("relu",),
          reference="Mellor et al., ICML 2021 (NASWOT v2); BayesWatch/nas-without-training",
          description="log|det K_H|, Hamming kernel of ReLU codes over one batch (train mode)")
def nwot(ctx) -> float:
    K, _ = shared_kernel(ctx, "nwot")
    return logdet(K)
