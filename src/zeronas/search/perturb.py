"""Zero-Cost-PT (Xiang et al. AAAI 2023): perturbation-based operation scoring with a zero-cost proxy.

For an undecided edge, zero each op's mixing weight in turn (other weights as they are: softmax(alpha)
for undecided edges, one-hot for decided ones), score the supernet with the proxy on the same batch, and
keep the op whose removal lowers the score most. Edges are decided one at a time (order: random, order,
reverse); N proposals re-draw alpha ~ 1e-3 N(0,1) (supernet weights kept); the unique candidates are
validated as discrete networks by the proxy summed over V batches, and the best is returned. On
NAS-Bench-Macro (the paper's third space) an "edge" is one of the 8 searchable layers of a chain of mixed
layers (``MacroSpace.supernet``) and its ops are identity, MB3_K3 and MB6_K5. No
interactive prompts; every edge's ops are compared (the official ``tenas`` option compared only the first
edge's, which is not copied).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..data import make_batch
from ..errors import UserError
from ..proxies.base import get_proxy
from ..scoring import Scorer
from .base import Budget, SearchResult, StoredMetrics, register_strategy, rng_for
from .supernet_context import SupernetContext

EDGE_ORDERS = ("random", "order", "reverse")


# macro: the benchmark's widths (stem C = 32) and depth (N: fixed, not an option); batch 64 as on DARTS (the
# paper's macro batch was not retrieved)
SPACE_DEFAULTS = {"nb201": {"batch_size": 256, "C": 16, "N": 5}, "darts": {"batch_size": 64, "C": 16, "N": 8},
                  "macro": {"batch_size": 64, "C": 32, "N": None}}


def _edge_sequence(space, rng, edge_order: str) -> list[int]:
    """The order edges are decided in: the cell types (DARTS: normal, reduction) take turns, one edge each."""
    groups = space.cell_edge_groups()
    if edge_order == "random":
        groups = [list(rng.permutation(g)) for g in groups]
    elif edge_order == "reverse":
        groups = [g[::-1] for g in groups]
    return [int(e) for pair in zip(*groups) for e in pair]


@register_strategy("zero-cost-pt", spaces=("nb201", "darts", "macro"))
def zero_cost_pt(space, proxy="nwot", seed=0, pool=10, validate=100, edge_order="random", batch_size=None, C=None,
                 N=None, data="cifar10", data_dir=None, device="cpu", init="torch-default", store=None) -> SearchResult:
    """On DARTS, ``none`` is not a candidate in the op phase (a genotype cannot hold it); the topology phase
    then removes, node by node in random order, the incoming edge whose removal leaves the highest score
    until 2 remain, in both cells."""
    if edge_order not in EDGE_ORDERS:
        raise UserError(f"--edge-order must be one of {', '.join(EDGE_ORDERS)}, not {edge_order!r}")
    if pool < 1 or validate < 1:
        raise UserError("--pool and --validate must be at least 1")
    defaults = SPACE_DEFAULTS[space.name]
    batch_size, C, N = batch_size or defaults["batch_size"], C or defaults["C"], N or defaults["N"]
    spec = get_proxy(proxy)
    scorer = Scorer(space, [proxy], data=data, data_dir=data_dir, batch_size=batch_size, seed=seed, init=init,
                    device=device, stand_in=True)
    if spec.needs_images and scorer.images is None:
        raise UserError(f"zero-cost-pt with {proxy} needs images; pass --data cifar10 with the data folder present")
    rng = rng_for(seed)
    ops = list(space.ops)
    candidates_ops = [o for o in range(len(ops)) if space.arch_allows_none or ops[o] != "none"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sup = space.supernet(C=C, N=N, num_classes=scorer.num_classes).to(scorer.device)
    # score batches come from the first half of the training split, as train_portion=0.5 does
    half = None
    if scorer.images is not None:
        im = scorer.images
        half = type(im)(im.dataset, im.split, im.x[: len(im) // 2], im.y[: len(im) // 2], im.source, im.fidelity)
    batch_counter = [0]

    def next_batch():
        if half is None:
            return None
        b = make_batch(half, batch_size, seed, batch_counter[0] % (len(half) // batch_size)).to(scorer.device)
        batch_counter[0] += 1
        return b

    def score(weights, batch) -> float:
        ctx = SupernetContext(space, sup, weights, batch, num_classes=scorer.num_classes, input_size=scorer.input_size,
                              batch_size=batch_size, seed=seed, device=scorer.device)
        return float(spec.fn(ctx, **scorer.options[proxy])) * spec.direction

    # every decision is stored as it is made: a killed search replays them and goes on where it stopped
    setting = {"method": "zero-cost-pt", "proxy": proxy, "options": scorer.options[proxy], "seed": seed,
               "pool_seeding": "alpha~1e-3N(0,1), seed*100+proposal", "edge_order": edge_order,
               "batch_size": batch_size, "C": C, "N": N, "init": init, "data": scorer.protocol(spec).get("data"),
               "num_classes": scorer.num_classes, "input_size": scorer.input_size}  # a data-free proxy too
    decisions = StoredMetrics(space, "zero-cost-pt", ("choice",), setting, store)
    validations = StoredMetrics(space, "zero-cost-pt", ("validation",), {**setting, "validate": validate}, store)
    evaluations, candidates, trajectory = 0, [], []
    n_edges = sum(len(g) for g in space.cell_edge_groups())
    # progress only (never stops the search): op decisions of every proposal, then the validations
    progress = Budget(pool * n_edges * len(candidates_ops) + pool * validate, label="zero-cost-pt")
    for proposal in range(pool):
        alpha = 1e-3 * torch.randn(sup.arch_alpha.shape, generator=torch.Generator().manual_seed(seed * 100 + proposal))
        weights = torch.softmax(alpha, dim=-1).to(scorer.device)
        t0, replayed = time.perf_counter(), 0

        def decide(key, options, removed, lowest: bool, weights) -> int:
            """Score the supernet with each option removed (on a new batch) and keep the option whose removal
            scores lowest (op phase) or highest (topology phase); a stored decision is replayed."""
            nonlocal evaluations, replayed
            batch = next_batch()
            stored = decisions.get(key)
            if stored is not None:  # counted as made: a resumed search reports what a fresh one does
                replayed += 1
                evaluations += len(options)
                progress.spend(len(options), replayed=True)
                return int(stored["choice"])
            crit = []
            for opt in options:
                w = weights.clone()
                w[removed(opt)] = 0.0
                crit.append(score(w, batch))
                evaluations += 1
                progress.spend()
            crit = np.array(crit, dtype=float)
            if np.isnan(crit).all():  # the proxy failed on every option: a choice would be noise
                raise UserError(f"--proxy {proxy} gave no value (NaN) on the supernet for any option of decision "
                                f"{key}; choose another --proxy")
            crit = np.nan_to_num(crit, nan=np.inf if lowest else -np.inf)
            choice = options[int(np.argmin(crit) if lowest else np.argmax(crit))]
            decisions.put(key, {"choice": choice}, 0.0)
            return choice

        for e in _edge_sequence(space, rng, edge_order):
            o_star = decide(f"p{proposal}:op:{e}", candidates_ops, lambda o, e=e: (e, o), True, weights)
            weights[e] = 0.0
            weights[e, o_star] = 1.0
        groups = space.topology_groups()
        for g in rng.permutation(len(groups)).tolist() if groups else []:
            alive = list(groups[g])
            while len(alive) > 2:
                drop = decide(f"p{proposal}:drop:{groups[g][0]}:{len(alive)}", alive, lambda e: e, False, weights)
                weights[drop] = 0.0
                alive.remove(drop)
        arch = space.from_edge_scores(weights.masked_fill(weights == 0, float("-inf")))
        candidates.append(arch)
        trajectory.append({"proposal": proposal, "arch": space.format(arch), "seconds": time.perf_counter() - t0,
                           "replayed_decisions": replayed})
    unique = list(dict.fromkeys(candidates))
    best, best_score, scores = None, -np.inf, {}
    if len(unique) == 1:
        best = unique[0]
    else:
        for arch in unique:
            def validation(arch=arch):
                ctx, total = scorer.context(arch), 0.0
                for v in range(validate):
                    if scorer.images is not None:
                        ctx.use_batch(make_batch(scorer.images, batch_size, seed + 1,
                                                 v % (len(scorer.images) // batch_size)))
                    total += float(spec.fn(ctx, **scorer.options[proxy])) * spec.direction
                return {"validation": total}

            total = validations.get_or_compute(space.format(arch), validation, space.format(arch))["validation"]
            evaluations += validate
            progress.spend(validate, replayed=validations.replayed)
            scores[space.format(arch)] = total
            if best is None or total > best_score:  # a NaN or -inf total still leaves an answer
                best, best_score = arch, total
    progress.close()
    protocol = {"proxy": proxy, "options": setting["options"], "pool": pool, "validate": validate,
                "edge_order": edge_order, "space": space.name, "batch_size": batch_size, "C": C, "N": N,
                "init": init, "supernet_mode": "eval", "data": setting["data"],
                "num_classes": scorer.num_classes, "input_size": scorer.input_size, "candidates": len(unique),
                "validation_scores": scores}
    return SearchResult("zero-cost-pt", space.name, space.format(best), space.canonical(best), seed, 0.0,
                        evaluations, {proxy: best_score} if scores else {}, {}, trajectory, protocol)
