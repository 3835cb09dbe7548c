"""Zero-Cost-PT (Xiang et al. AAAI 2023): perturbation-based operation scoring with a zero-cost proxy.

For an undecided edge, zero each op's mixing weight in turn (other weights as they are: softmax(alpha)
for undecided edges, one-hot for decided ones), score the supernet with the proxy on the same batch, and
keep the op whose removal lowers the score most. Edges are decided one at a time (order: random, order,
reverse); N proposals re-draw alpha ~ 1e-3 N(0,1) (supernet weights kept); the unique candidates are
validated as discrete networks by the proxy summed over V batches, and the best is returned. No
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
from .base import SearchResult, StoredMetrics, register_strategy, rng_for
from .supernet_context import SupernetContext

EDGE_ORDERS = ("random", "order", "reverse")


@register_strategy("zero-cost-pt")
def zero_cost_pt(space, proxy="nwot", seed=0, pool=10, validate=100, edge_order="random", batch_size=256, C=16,
                 N=5, data="cifar10", data_dir=None, device="cpu", init="torch-default", store=None,
                 **_) -> SearchResult:
    if edge_order not in EDGE_ORDERS:
        raise UserError(f"--edge-order must be one of {', '.join(EDGE_ORDERS)}, not {edge_order!r}")
    if pool < 1 or validate < 1:
        raise UserError("--pool and --validate must be at least 1")
    spec = get_proxy(proxy)
    scorer = Scorer(space, [proxy], data=data, data_dir=data_dir, batch_size=batch_size, seed=seed, init=init,
                    device=device, stand_in=True)
    if spec.needs_images and scorer.images is None:
        raise UserError(f"zero-cost-pt with {proxy} needs images; pass --data cifar10 with the data folder present")
    rng = rng_for(seed)
    ops = list(space.ops)
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

    # each finished proposal and validation is stored: a killed search replays them and goes on
    setting = {"method": "zero-cost-pt", "proxy": proxy, "options": scorer.options[proxy], "seed": seed,
               "pool_seeding": "alpha~1e-3N(0,1), seed*100+proposal", "edge_order": edge_order,
               "batch_size": batch_size, "C": C, "N": N, "init": init, "data": scorer.protocol(spec).get("data")}
    proposals = StoredMetrics(space, "zero-cost-pt", ("arch_code",), setting, store)
    validations = StoredMetrics(space, "zero-cost-pt", ("validation",), {**setting, "validate": validate}, store)
    evaluations, candidates, trajectory = 0, [], []
    for proposal in range(pool):
        alpha = 1e-3 * torch.randn(sup.arch_alpha.shape, generator=torch.Generator().manual_seed(seed * 100 + proposal))
        weights = torch.softmax(alpha, dim=-1).to(scorer.device)
        order = list(range(len(space.edges)))
        if edge_order == "random":
            order = list(rng.permutation(order))
        elif edge_order == "reverse":
            order = order[::-1]
        done = proposals.get(f"proposal:{proposal}")
        if done is not None:
            batch_counter[0] += len(order)
            code = int(done["arch_code"])
            arch = tuple(ops[(code // len(ops) ** e) % len(ops)] for e in range(len(space.edges)))
            candidates.append(arch)
            trajectory.append({"proposal": proposal, "arch": space.format(arch), "replayed": True})
            continue
        t0 = time.perf_counter()
        choice = {}
        for e in order:
            batch = next_batch()
            crit = []
            for o in range(len(ops)):
                w = weights.clone()
                w[e, o] = 0.0
                ctx = SupernetContext(space, sup, w, batch, num_classes=scorer.num_classes,
                                      input_size=scorer.input_size, batch_size=batch_size, seed=seed,
                                      device=scorer.device)
                crit.append(float(spec.fn(ctx, **scorer.options[proxy])) * spec.direction)
                evaluations += 1
            crit = np.nan_to_num(np.array(crit), nan=np.inf)
            o_star = int(np.argmin(crit))
            choice[e] = o_star
            weights[e] = 0.0
            weights[e, o_star] = 1.0
        arch = tuple(ops[choice[e]] for e in range(len(space.edges)))
        proposals.put(f"proposal:{proposal}", {"arch_code": sum(choice[e] * len(ops) ** e for e in choice)},
                      time.perf_counter() - t0, space.format(arch))
        candidates.append(arch)
        trajectory.append({"proposal": proposal, "arch": space.format(arch)})
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
            scores[space.format(arch)] = total
            if total > best_score:
                best, best_score = arch, total
    protocol = {"proxy": proxy, "pool": pool, "validate": validate, "edge_order": edge_order,
                "batch_size": batch_size, "C": C, "N": N, "supernet_mode": "eval",
                "candidates": len(unique), "validation_scores": scores}
    return SearchResult("zero-cost-pt", space.name, space.format(best), space.canonical(best), seed, 0.0,
                        evaluations, {proxy: best_score} if scores else {}, {}, trajectory, protocol)
