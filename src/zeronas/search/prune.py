"""TE-NAS (Chen, Gong, Wang, ICLR 2021): prune a supernet by trainability and expressivity.

Start from every op on every edge with ``none`` removed. Each round, for every edge with more than one op
left and every op o on it, measure the NTK condition number kappa and the number of linear regions R of
the supernet without o, relative to the current supernet (Delta kappa = (kappa(A) - kappa(A\\o)) / kappa(A),
Delta R = (R(A) - R(A\\o)) / R(A)), averaged over ``repeat`` draws and rounded to 3 significant digits.
Rank Delta kappa descending and Delta R ascending (dense ranks, ties shared), sum the two ranks, and on each
edge prune the op with the smallest sum. NB201 needs 3 rounds. ``init="torch-default"`` is what the
official code actually runs (its Kaiming re-init never matches); ``init="kaiming"`` is what it intends.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..scoring import Scorer
from .base import Budget, SearchResult, StoredMetrics, register_strategy
from .supernet_context import TEContext


def round_sig(x: float, digits: int = 3) -> float:
    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def dense_rank(values: list[float], descending: bool) -> list[int]:
    order = sorted(set(values), reverse=descending)
    return [order.index(v) for v in values]


SPACE_DEFAULTS = {  # prune_launch.py: batch 72 / 14; prune_number 1 / 3 (DARTS-CIFAR)
    "nb201": {"batch_size": 72, "C": 16, "N": 5, "prune_number": 1},
    "darts": {"batch_size": 14, "C": 16, "N": 8, "prune_number": 3},
}


def _summed_ranks(d_k: list[float], d_r: list[float]) -> list[int]:
    """Delta kappa descending + Delta R ascending, dense ranks (rank 0 = least important)."""
    return [a + b for a, b in zip(dense_rank(d_k, descending=True), dense_rank(d_r, descending=False))]


@register_strategy("te-nas", spaces=("nb201", "darts"))
def te_nas(space, seed=0, init="torch-default", repeat=3, batch_size=None, C=None, N=None, lr_samples=1000,
           lr_batches=3, data="cifar10", data_dir=None, device="cpu", store=None) -> SearchResult:
    """On DARTS: 3 ops pruned per edge per round (7 -> 4 -> 1), then the topology step keeps, per node of
    both cells, the 2 incoming edges whose removal ranks as most harmful (largest summed rank)."""
    defaults = SPACE_DEFAULTS[space.name]
    batch_size, C, N = batch_size or defaults["batch_size"], C or defaults["C"], N or defaults["N"]
    prune_number = defaults["prune_number"]
    scorer = Scorer(space, ["params"], data=data, data_dir=data_dir, batch_size=batch_size, seed=seed,
                    device=device, stand_in=True)
    te = TEContext(space, scorer, repeat=repeat, batch_size=batch_size, C=C, N=N, init=init, seed=seed,
                   lr_samples=lr_samples, lr_batches=lr_batches)
    protocol = {"init": init, "repeat": repeat, "batch_size": batch_size, "C": C, "N": N,
                "lr_inputs": [lr_batches, lr_samples, 1, 3, 3], "precision": 3, "prune_number": prune_number,
                "data": te.data, "seed": seed}
    # every measurement is deterministic given this context: a killed search replays from the store
    saved = StoredMetrics(space, "te-nas", ("kappa", "regions"), {"method": "te-nas", **protocol}, store)
    ops = list(space.ops)
    mask = torch.ones(len(space.edges), len(ops), dtype=torch.bool)
    if "none" in ops:
        mask[:, ops.index("none")] = False
    evaluations = 0
    # progress only: the measurements every pruning round and the topology step will take
    alive, planned = mask.sum(1).tolist(), 0
    while any(a > 1 for a in alive):
        planned += repeat * (1 + sum(a for a in alive if a > 1))
        alive = [a - min(prune_number, a - 1) if a > 1 else a for a in alive]
    planned += repeat * (1 + sum(len(g) for g in space.topology_groups())) if space.topology_groups() else 0
    progress = Budget(max(planned, 1), label="te-nas")

    def measure(m: torch.Tensor, r: int) -> tuple[float, float]:
        nonlocal evaluations
        evaluations += 1
        key = f"r{r}:" + "".join("1" if b else "0" for b in m.flatten().tolist())
        v = saved.get_or_compute(key, lambda: te.measure(m, r))
        progress.spend(replayed=saved.replayed)
        return (1e5 if math.isnan(v["kappa"]) else v["kappa"]), v["regions"]

    def deltas(removed: torch.Tensor, base) -> tuple[float, float]:
        vals = [measure(removed, r) for r in range(repeat)]
        dk = np.mean([(b[0] - v[0]) / b[0] for b, v in zip(base, vals)])
        dr = np.mean([(b[1] - v[1]) / b[1] for b, v in zip(base, vals)])
        return round_sig(float(dk)), round_sig(float(dr))

    trajectory = []
    while bool((mask.sum(1) > 1).any()):
        base = [measure(mask, r) for r in range(repeat)]
        cands, d_k, d_r = [], [], []
        for e in range(len(space.edges)):
            if mask[e].sum() <= 1:
                continue
            for o in torch.nonzero(mask[e]).flatten().tolist():
                m = mask.clone()
                m[e, o] = False
                dk, dr = deltas(m, base)
                cands.append((e, o))
                d_k.append(dk)
                d_r.append(dr)
        total = _summed_ranks(d_k, d_r)
        pruned = {}
        for e in sorted({e for e, _ in cands}):
            idx = sorted((i for i, (ee, _) in enumerate(cands) if ee == e), key=lambda i: total[i])
            idx = idx[:min(prune_number, len(idx) - 1)]  # never prune an edge's last op
            for i in idx:
                mask[e, cands[i][1]] = False
            pruned[e] = [ops[cands[i][1]] for i in idx]
        trajectory.append({"round": len(trajectory) + 1, "ops_left": mask.sum(1).tolist(), "pruned": pruned})
    groups = space.topology_groups()
    if groups:  # DARTS: keep the 2 most important incoming edges of every node with more than 2
        base = [measure(mask, r) for r in range(repeat)]
        cands, d_k, d_r = [], [], []
        for group in groups:
            for e in group:
                m = mask.clone()
                m[e] = False
                dk, dr = deltas(m, base)
                cands.append(e)
                d_k.append(dk)
                d_r.append(dr)
        total = dict(zip(cands, _summed_ranks(d_k, d_r)))
        for group in groups:
            keep = sorted(group, key=lambda e: -total[e])[:2]
            for e in group:
                if e not in keep:
                    mask[e] = False
        trajectory.append({"round": "topology", "edges_kept": int((mask.sum(1) > 0).sum())})
    progress.close()
    arch = space.from_edge_scores(torch.zeros(mask.shape).masked_fill(~mask, float("-inf")))
    return SearchResult("te-nas", space.name, space.format(arch), space.canonical(arch), seed, 0.0, evaluations,
                        {}, {}, trajectory, protocol)
