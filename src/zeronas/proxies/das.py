"""DAS (Liu et al., arXiv 2212.12132): NASWOT split into its two atomic metrics.

K_H = N_A * K~, so log|K_H| = B log N_A + log det K~ with
  D   = log det K~  (distinguishing ability, <= 0, size-free), and
  N_A = number of ReLU units (activation units).
The paper's exact combination rule is not public (only its abstract was found), so zeronas ships the
family of rules from the design notes and claims none of them as "the" DAS: ``das`` = D + lam * log N_A
(lam = B reproduces nwot exactly; the power form N_A^a exp(D/B)^b is the same ranking with
lam = a B / b). Rank-aggregation rules (rank(D) + rank(N_A)) need a population: use the ensemble syntax
``ensemble:das_d,das_na`` in ``correlate``/``search``.
"""

from __future__ import annotations

import math

from .base import Undefined, reason_of, register
from .naswot import TWO_CODES, logdet, shared_kernel, singular_why

NO_RELU = "undefined: the network has no ReLU unit (N_A = 0), so there are no codes to compare"


def decompose(K):
    """(D, N_A) from a Hamming kernel: every diagonal entry of K_H equals N_A."""
    n_a = K[0, 0].item()
    if n_a == 0:
        return Undefined(NO_RELU), 0.0
    return logdet(K / n_a, "K~ = K_H / N_A"), n_a


def _plus(d: float, extra: float) -> float:
    """d + extra, keeping d's reason when d is undefined or infinite."""
    why = reason_of(d)
    return Undefined(why, d + extra) if why else d + extra


@register("das_d", direction=1, data="batch", bn_mode="train", dtype="float64", min_batch=2, min_batch_why=TWO_CODES,
          needs=("relu",),
          reference="Liu et al., arXiv 2212.12132 (DAS)",
          description="DAS distinguishing ability D = log det(K_H / N_A)")
def das_d(ctx) -> float:
    K, _ = shared_kernel(ctx, "das_d")
    return decompose(K)[0]


@register("das_na", direction=1, data="batch", bn_mode="train",
          needs=("relu",),
          reference="Liu et al., arXiv 2212.12132 (DAS)",
          description="DAS number of activation units N_A (ReLU units hit in one forward pass)")
def das_na(ctx) -> float:
    K, _ = shared_kernel(ctx, "das_na")
    n_a = decompose(K)[1]
    if n_a == 0:  # a true count of 0, said so it is not read as a failed measurement
        ctx.notes.append("das_na: the network has no ReLU unit (N_A = 0)")
    return n_a


@register("das", direction=1, data="batch", bn_mode="train", dtype="float64", defaults={"lam": 1.0},
          needs=("relu",),
          min_batch=2, min_batch_why=TWO_CODES,
          reference="Liu et al., arXiv 2212.12132 (DAS); rule family ours until the paper is read",
          description="DAS weighted rule D + lam * log N_A (lam=B gives nwot)")
def das(ctx, lam: float = 1.0) -> float:
    K, _ = shared_kernel(ctx, "das")
    d, n_a = decompose(K)
    return d if n_a == 0 else _plus(d, lam * math.log(n_a))


@register("das_layerwise", direction=1, data="batch", bn_mode="train", dtype="float64", defaults={"lam": 1.0},
          needs=("relu",),
          min_batch=2, min_batch_why=TWO_CODES,
          reference="DAS rule (d) of the design notes",
          description="sum_l log det K~_l + lam * sum_l log N_l over ReLU layers")
def das_layerwise(ctx, lam: float = 1.0) -> float:
    _, layers = shared_kernel(ctx, "das_layerwise")
    if not layers:
        return Undefined(NO_RELU)
    terms = [logdet(k / n) + lam * math.log(n) for k, n in layers]
    singular = [i for i, t in enumerate(terms) if t == -math.inf]
    if singular:  # any singular layer makes the sum -inf: say how many, and why for the first
        first = layers[singular[0]][0]
        return Undefined(f"{len(singular)} of {len(layers)} ReLU layers have a singular kernel (log det = -inf); the "
                         f"first (layer {singular[0]} in forward order): {singular_why(first)}", -math.inf)
    return sum(terms)
