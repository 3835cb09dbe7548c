"""Input-Jacobian proxies: jacob_cov (NASWOT v1) and EPE-NAS."""

from __future__ import annotations

import numpy as np
import torch

from .base import Undefined, numpy_blas_on_this_thread, register
from .shared_pass import Tap, register_tap, shared

K_EPS = 1e-5
ZERO_JACOBIAN = ("undefined: the input Jacobian is 0 for every sample (the output does not depend on the input, "
                 "e.g. every path from the input is 'none'), so no correlation exists")


def _finish_jacobian(ctx, model, x, y, out, state, retain_graph):
    """J_i = d(sum_k f_k(x_i)) / d x_i, flattened per sample (one backward of the summed logits)."""
    grad = None
    if out.requires_grad:  # the input gradient only: no weight gradients are computed (nor kept)
        (grad,) = torch.autograd.grad(out, x, torch.ones_like(out), allow_unused=True, retain_graph=retain_graph)
    if grad is None:  # the output does not depend on the input (e.g. an all-none cell): J = 0
        return torch.zeros_like(x).reshape(x.shape[0], -1).cpu().numpy()
    return grad.detach().reshape(x.shape[0], -1).cpu().numpy()


register_tap(Tap("input_jacobian", frozenset({"jacob_cov", "epe_nas"}), "input", lambda model, x, state: [],
                 _finish_jacobian))


def shared_input_jacobian(ctx, proxy: str) -> np.ndarray:
    """The input Jacobian of batch 0, [B, C*H*W] (numpy, the model's dtype), computed once per architecture for
    jacob_cov and epe_nas (in the forward pass nwot and the loss-gradient proxies share, when asked): both run
    the same train-mode network at its initial weights on the same batch, and a train-mode forward does not
    read the BN running statistics it updates, so the second proxy gets the very numbers a second pass would
    give."""
    return shared(ctx, "input_jacobian", proxy)


def jacob_cov_from_jacobian(J: np.ndarray, k: float = K_EPS) -> float:
    """-sum_i [log(l_i + k) + 1/(l_i + k)], l = eigenvalues of corrcoef(J). Undefined (NaN, with the reason)
    when a row is constant (0/0 correlations) or the matrix is singular: then the epsilon k alone would set
    the value (about -1/k), whatever the network."""
    J = np.asarray(J, dtype=np.float64)
    if not J.any():
        return Undefined(ZERO_JACOBIAN)
    flat = int((np.ptp(J, axis=1) == 0).sum())
    if flat:
        return Undefined(f"undefined: the input Jacobian of {flat} of {len(J)} samples is constant, so its "
                         f"correlations are 0/0")
    with numpy_blas_on_this_thread():
        corr = np.corrcoef(J)
        if not np.all(np.isfinite(corr)):
            return Undefined("undefined: the Jacobian correlation matrix is not finite (the Jacobian overflowed)")
        v = np.linalg.eigvalsh(corr)
    # zero to rounding: an eigensolve of a B x B matrix is exact to about B * eps * ||corr||
    if v[0] <= 16 * len(v) * np.finfo(np.float64).eps * max(v[-1], 1.0):
        return Undefined(f"undefined: the Jacobian correlation matrix is singular (smallest eigenvalue {v[0]:.1e}, "
                         f"e.g. proportional Jacobians): the epsilon k = {k:g} alone would set the score "
                         f"(about -1/k)")
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@register("jacob_cov", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", dtype="float64",
          needs=("classifier",),
          min_batch=2, min_batch_why="the correlation matrix of a single Jacobian is 1 for every network",
          reference="Mellor et al. 2020 (NASWOT v1); foresight jacob_cov",
          description="-sum[log(l+k) + 1/(l+k)] over eigenvalues of the input-Jacobian correlation matrix")
def jacob_cov(ctx) -> float:
    return jacob_cov_from_jacobian(shared_input_jacobian(ctx, "jacob_cov"))


def epe_from_jacobian(J: np.ndarray, labels: np.ndarray, num_classes: int, k: float = K_EPS) -> float:
    """EPE-NAS: per class c, s_c = sum log(|corrcoef(J_c)| + k) (divided by its size above 100 classes);
    score = sum_c |s_c| (<= 100 classes) or mean over classes of sum_c' |s_c - s_c'|."""
    J = np.asarray(J, dtype=np.float64)
    if not J.any():
        return Undefined(ZERO_JACOBIAN)
    per_class, compared = {}, 0
    with numpy_blas_on_this_thread():
        for c in np.unique(labels):
            rows = J[labels == c]
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.atleast_2d(np.corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
            if not np.all(np.isfinite(corr)):
                continue
            compared += len(rows) > 1
            s = float(np.sum(np.log(np.abs(corr) + k)))
            per_class[int(c)] = s / len(corr) if num_classes > 100 else s
    if not compared:  # only singleton classes, each adding the constant log(1 + k): no Jacobian was compared
        if len(np.unique(labels)) == len(labels):
            return Undefined(f"undefined: no class has two samples in this batch of {len(labels)}, and EPE-NAS "
                             f"correlates Jacobians within a class (single samples only add the constant log(1 + k))")
        return Undefined("undefined: in every class with two or more samples some Jacobian is constant, so their "
                         "correlations are 0/0")
    vals = np.array(list(per_class.values()))
    if num_classes <= 100:
        return float(np.abs(vals).sum())
    return float(np.abs(vals[:, None] - vals[None, :]).sum() / len(vals))


@register("epe_nas", direction=1, shares_isomorphs=True, data="batch", bn_mode="train", dtype="float64",
          needs=("classifier",),
          min_batch=2, min_batch_why="it correlates the Jacobians of samples of the same class",
          reference="Lopes et al. 2021 (EPE-NAS); NASLib epe_nas",
          description="class-wise sum of log|corrcoef| of input Jacobians")
def epe_nas(ctx) -> float:
    J = shared_input_jacobian(ctx, "epe_nas")
    return epe_from_jacobian(J, ctx.batch(0, proxy="epe_nas").y.cpu().numpy(), ctx.num_classes)
