"""FreeDARTS (Zhang, Huang, Wang, arXiv 2106.11542): pick operations by ZEROS connection sensitivity.

One-shot (the released notebooks): one ZEROS evaluation of the supernet, best non-``none`` op per edge.
Iterative ("our reading" of the paper, whose schedule is unverified): repeatedly compute ZEROS over the
remaining ops and remove the lowest-scoring op of every edge until one is left (3 rounds on NB201, 6 on
DARTS). On DARTS the topology step then keeps, per node, the 2 incoming edges whose op scores highest.
Data-agnostic: all-ones input, |theta|, float64, BN bypassed; mixing weights alpha = 0 (uniform) unless
``alpha_init="random"`` reproduces the code's 1e-3 N(0,1) logits.
"""

from __future__ import annotations

import copy

import torch

from ..errors import UserError
from ..proxies.zeros import connection_sensitivity
from .base import SearchResult, register_strategy


@register_strategy("freedarts", spaces=("nb201", "darts"))
def freedarts(space, seed=0, variant="oneshot", alpha_init="zero", C=None, N=None, num_classes=10, input_size=32,
              device="cpu", data=None, **_) -> SearchResult:
    """Data-agnostic: ``data`` only sets the network's classes and input size (e.g. 120 and 16 for IN16).
    ``C``/``N`` default to the space's search supernet (NB201 C=16 N=5; DARTS C=16 and N=8 cells, N=20 for
    FreeDARTS-dagger)."""
    if variant not in ("oneshot", "iterative"):
        raise UserError(f"--variant must be oneshot or iterative for freedarts, not {variant!r}")
    if alpha_init not in ("zero", "random"):
        raise UserError(f"--alpha-init must be zero or random, not {alpha_init!r}")
    if data not in (None, "none", "auto"):
        from ..data.datasets import dataset_info

        info = dataset_info(data)
        num_classes, input_size = info.num_classes, info.image_size
    ops = list(space.ops)
    C = C or space.default_supernet["C"]
    N = N or space.default_supernet["N"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sup = space.supernet(C=C, N=N, num_classes=num_classes).to(device)
        if alpha_init == "random":
            sup.arch_alpha.data = 1e-3 * torch.randn_like(sup.arch_alpha)
    if "none" in ops:
        sup.op_mask[:, ops.index("none")] = False
    evaluations, trajectory = 0, []
    while True:
        scores = connection_sensitivity(copy.deepcopy(sup), sup.mixing_weights(), (1, 3, input_size, input_size))
        evaluations += 1
        scores = scores.masked_fill(~sup.op_mask, float("-inf"))
        remaining = sup.op_mask.sum(1)
        if variant == "oneshot" or bool((remaining <= 1).all()):
            choice = scores.argmax(1)
            break
        worst = scores.masked_fill(~sup.op_mask, float("inf")).argmin(1)
        for e in range(len(remaining)):
            if remaining[e] > 1:
                sup.op_mask[e, worst[e]] = False
        trajectory.append({"round": evaluations, "ops_left": sup.op_mask.sum(1).tolist()})
    arch = space.from_edge_scores(scores)  # NB201: the best op per edge; DARTS: plus the top-2 edges per node
    zeros = {f"edge{e}:{ops[int(c)]}": float(scores[e, c]) for e, c in enumerate(choice.tolist())}
    protocol = {"variant": variant, "alpha_init": alpha_init, "C": C, "N": N, "input": [1, 3, input_size, input_size],
                "num_classes": num_classes,
                "label": "FreeDARTS-oneshot (code)" if variant == "oneshot" else "FreeDARTS-iterative (our reading)"}
    return SearchResult("freedarts", space.name, space.format(arch), space.canonical(arch), seed, 0.0, evaluations,
                        zeros, {}, trajectory, protocol)
