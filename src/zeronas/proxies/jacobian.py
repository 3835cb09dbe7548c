"""Input-Jacobian proxies: jacob_cov (NASWOT v1) and EPE-NAS."""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import register

K_EPS = 1e-5


def input_jacobian(model, x: torch.Tensor) -> torch.Tensor:
    """J_i = d(sum_k f_k(x_i)) / d x_i, flattened per sample (one backward of the summed logits)."""
    x = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    out = model(x)
    if out.requires_grad:
        out.backward(torch.ones_like(out))
    if x.grad is None:  # the output does not depend on the input (e.g. an all-none cell): J = 0
        return torch.zeros_like(x).reshape(x.shape[0], -1)
    return x.grad.detach().reshape(x.shape[0], -1)


def jacob_cov_from_jacobian(J: np.ndarray, k: float = K_EPS) -> float:
    """-sum_i [log(l_i + k) + 1/(l_i + k)], l = eigenvalues of corrcoef(J). NaN when a row is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(np.asarray(J, dtype=np.float64))
    if not np.all(np.isfinite(corr)):
        return math.nan
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@register("jacob_cov", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", dtype="float64",
          needs=("classifier",),
          reference="Mellor et al. 2020 (NASWOT v1); foresight jacob_cov",
          description="-sum[log(l+k) + 1/(l+k)] over eigenvalues of the input-Jacobian correlation matrix")
def jacob_cov(ctx) -> float:
    return jacob_cov_from_jacobian(input_jacobian(ctx.model(), ctx.batch(0, proxy="jacob_cov").x).cpu().numpy())


def epe_from_jacobian(J: np.ndarray, labels: np.ndarray, num_classes: int, k: float = K_EPS) -> float:
    """EPE-NAS: per class c, s_c = sum log(|corrcoef(J_c)| + k) (divided by its size above 100 classes);
    score = sum_c |s_c| (<= 100 classes) or mean over classes of sum_c' |s_c - s_c'|."""
    J = np.asarray(J, dtype=np.float64)
    per_class = {}
    for c in np.unique(labels):
        rows = J[labels == c]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.atleast_2d(np.corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
        if not np.all(np.isfinite(corr)):
            continue
        s = float(np.sum(np.log(np.abs(corr) + k)))
        per_class[int(c)] = s / len(corr) if num_classes > 100 else s
    if not per_class:
        return math.nan
    vals = np.array(list(per_class.values()))
    if num_classes <= 100:
        return float(np.abs(vals).sum())
    return float(np.abs(vals[:, None] - vals[None, :]).sum() / len(vals))


@register("epe_nas", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", dtype="float64",
          needs=("classifier",),
          reference="Lopes et al. 2021 (EPE-NAS); NASLib epe_nas",
          description="class-wise sum of log|corrcoef| of input Jacobians")
def epe_nas(ctx) -> float:
    b = ctx.batch(0, proxy="epe_nas")
    J = input_jacobian(ctx.model(), b.x).cpu().numpy()
    return epe_from_jacobian(J, b.y.cpu().numpy(), ctx.num_classes)
