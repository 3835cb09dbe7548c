"""TEG-NAS (Chen et al., arXiv 2108.11939): single-path search driven by trainability (NTK condition number
kappa, lower is better), expressivity (linear regions R, higher) and generalization (NTK kernel-regression
MSE from a train batch to a held-out batch, lower).

Every architecture is measured in one fixed evaluation context, as the official code does: ``repeat``
supernets built once (C=3, N=1 on NB201) with the architecture applied as a one-hot mask, one fixed training
batch and one fixed held-out batch reused for every architecture, the same linear-region crops. Values are
the means over the repeats. An architecture whose NTK or regression is degenerate is "bad" and takes the
worst value seen so far.

- ``teg-rea``: regularized evolution. The parent is the member of a random tournament with the lowest summed
  rank over (kappa, R, MSE) within that tournament; the answer is the best by summed rank in the final
  population. Official defaults: population 256, tournament 64, 1000 steps.
- ``teg-reinforce``: REINFORCE over per-edge op logits (Adam, lr 0.04, EMA baseline momentum 0.9). The reward
  is sum_m sign_m (v_t - v_{t-1}) / (range of v over the last 10 samples); the answer is the best by summed
  rank over the whole history. Official default: 500 steps.
"""

from __future__ import annotations

import collections
import math
import time

import numpy as np
import torch

from ..errors import UserError
from ..scoring import Scorer
from .base import Budget, SearchResult, StoredMetrics, register_strategy, rng_for
from .supernet_context import TEContext

METRICS = ("kappa", "regions", "mse")
SIGNS = {"kappa": -1, "regions": 1, "mse": -1}


def summed_ranks(rows: list[dict]) -> np.ndarray:
    """Per row, the sum over metrics of its rank among ``rows`` (0 = best; ties share the better rank)."""
    total = np.zeros(len(rows), dtype=np.int64)
    for m in METRICS:
        goodness = np.array([SIGNS[m] * r[m] for r in rows], dtype=np.float64)
        ascending = np.sort(goodness)
        total += len(rows) - np.searchsorted(ascending, goodness, side="right")  # how many are strictly better
    return total


def best_by_rank(rows: list[dict]) -> int:
    return int(np.argmin(summed_ranks(rows)))


class TEGEvaluator:
    """kappa, R, MSE of an architecture in the fixed context; cached, and persisted when given a store."""

    def __init__(self, space, *, seed=0, repeat=3, batch_size=64, C=3, N=1, init="torch-default",
                 lr_samples=1000, lr_batches=3, data="cifar10", data_dir=None, device="cpu", store=None):
        scorer = Scorer(space, ["params"], data=data, data_dir=data_dir, batch_size=batch_size, seed=seed,
                        device=device, stand_in=True)
        self.space, self.repeat = space, repeat
        self.te = TEContext(space, scorer, repeat=repeat, batch_size=batch_size, C=C, N=N, init=init, seed=seed,
                            lr_samples=lr_samples, lr_batches=lr_batches, shared_batch=True, heldout=True)
        self.protocol = {"method": "teg", "seed": seed, "repeat": repeat, "batch_size": batch_size, "C": C,
                         "N": N, "init": init, "lr_inputs": [lr_batches, lr_samples, 1, 3, 3], "data": self.te.data,
                         "num_classes": scorer.num_classes, "device": str(scorer.device)}
        self.metrics = StoredMetrics(space, "teg", METRICS, self.protocol, store)
        self.worst = {"kappa": -math.inf, "mse": -math.inf}
        self.evaluations = 0

    @property
    def replayed(self) -> bool:
        """Whether the last call read its values back (a resume, or an arch met again): no time spent."""
        return self.metrics.replayed

    def _measure(self, arch) -> dict:
        mask = torch.zeros(len(self.space.edges), len(self.space.ops), dtype=torch.bool)
        for e, op in enumerate(self.space.coerce(arch)):
            mask[e, self.space.ops.index(op)] = True
        runs = [self.te.measure(mask, r, mse=True) for r in range(self.repeat)]
        return {m: float(np.mean([v[m] for v in runs])) for m in METRICS}

    def __call__(self, arch) -> dict:
        key = self.space.format(arch)  # fixed supernet weights: isomorphic strings use different weights
        values = self.metrics.get_or_compute(key, lambda: self._measure(arch), key)
        self.evaluations += 1
        out = dict(values)
        out["bad"] = any(not math.isfinite(out[m]) for m in ("kappa", "mse"))
        for m in ("kappa", "mse"):  # a bad arch takes the worst value seen so far
            if math.isfinite(out[m]):
                self.worst[m] = max(self.worst[m], out[m])
            else:
                out[m] = self.worst[m] if math.isfinite(self.worst[m]) else math.inf
        return out


EVALUATOR_KEYWORDS = ("seed", "repeat", "batch_size", "C", "N", "init", "lr_samples", "lr_batches", "data",
                      "data_dir", "device", "store")


def _evaluator(space, kw) -> TEGEvaluator:
    keys = EVALUATOR_KEYWORDS
    return TEGEvaluator(space, **{k: kw[k] for k in keys if kw.get(k) is not None})


def _teg_result(method, space, best, seed, ev, traj, protocol) -> SearchResult:
    values = {f"teg_{m}": v for m, v in ev(best).items() if m in METRICS}
    ev.evaluations -= 1  # reading back the answer is not a search evaluation
    return SearchResult(method, space.name, space.format(best), space.canonical(best), seed, 0.0, ev.evaluations,
                        values, {}, traj[-200:], {**protocol, "context": ev.protocol})


@register_strategy("teg-rea", forwards=EVALUATOR_KEYWORDS)
def teg_rea(space, seed=0, budget=None, time_budget=None, population=256, tournament=64, **kw) -> SearchResult:
    """Regularized evolution on TEG ranks. ``budget`` counts every evaluated architecture (the initial population
    included); the official run is population 256 + 1000 steps."""
    budget = budget if budget is not None or time_budget is not None else population + 1000
    if tournament > population:
        raise UserError(f"--tournament ({tournament}) cannot exceed --population ({population})")
    rng = rng_for(seed)
    t_start = time.perf_counter()  # the evaluator's set-up (images) counts against the time, as in every search
    ev = _evaluator(space, {**kw, "seed": seed})
    limit = Budget(budget, time_budget, label="teg-rea", start=t_start)
    pop: collections.deque = collections.deque()
    traj = []

    def consider(a):
        pop.append((a, ev(a)))
        limit.spend(replayed=ev.replayed)
        best = pop[best_by_rank([v for _, v in pop])][0]
        traj.append({"evaluation": limit.used, "arch": space.format(best)})

    while len(pop) < population and not limit.exhausted:
        consider(space.sample(rng))
    tournaments = 0  # as rea's: 0 means random sampling
    while not limit.exhausted:
        picks = [pop[i] for i in rng.choice(len(pop), min(tournament, len(pop)), replace=False)]
        parent = picks[best_by_rank([v for _, v in picks])][0]
        consider(space.mutate(parent, rng))
        pop.popleft()
        tournaments += 1
    if not pop:
        raise limit.nothing_evaluated()
    best = pop[best_by_rank([v for _, v in pop])][0]
    limit.close()
    return _teg_result("teg-rea", space, best, seed, ev, traj,
                       {"population": population, "tournament": tournament, "budget": budget,
                        "tournaments": tournaments})


class _RewardBuffer:
    """TEG-NAS's reward: per metric, the signed change from the previous sample over the recent range."""

    def __init__(self, length: int = 10):
        self.length = length
        self.values = {m: [] for m in METRICS}

    def step(self, v: dict) -> float:
        reward = 0.0
        for m in METRICS:
            buf = self.values[m]
            buf.append(v[m])
            if len(buf) > 1:
                recent = buf[-self.length:]
                reward += SIGNS[m] * (buf[-1] - buf[-2]) / (max(recent) - min(recent) + 1e-6)
        return reward if math.isfinite(reward) else 0.0


@register_strategy("teg-reinforce", forwards=EVALUATOR_KEYWORDS)
def teg_reinforce(space, seed=0, budget=None, time_budget=None, lr=0.04, momentum=0.9, **kw) -> SearchResult:
    """REINFORCE on the TEG reward; ``budget`` = number of sampled architectures (official: 500)."""
    budget = budget if budget is not None or time_budget is not None else 500
    t_start = time.perf_counter()
    ev = _evaluator(space, {**kw, "seed": seed})
    gen = torch.Generator().manual_seed(seed)
    logits = torch.nn.Parameter(1e-3 * torch.randn(len(space.edges), len(space.ops), generator=gen,
                                                   dtype=torch.float64))
    opt = torch.optim.Adam([logits], lr=lr)
    num = den = 0.0  # EMA baseline (bias-corrected, as in the official ExponentialMovingAverage)
    buffer, history, traj = _RewardBuffer(), [], []
    limit = Budget(budget, time_budget, label="teg-reinforce", start=t_start)
    while not limit.exhausted:
        probs = torch.softmax(logits, dim=-1)
        action = torch.multinomial(probs.detach(), 1, generator=gen).squeeze(1)
        arch = tuple(space.ops[i] for i in action.tolist())
        values = ev(arch)
        limit.spend(replayed=ev.replayed)
        reward = buffer.step(values)
        history.append((arch, values))
        num, den = momentum * num + (1 - momentum) * reward, momentum * den + (1 - momentum)
        log_prob = torch.log(probs[torch.arange(len(action)), action]).sum()
        loss = -log_prob * (reward - num / den)
        opt.zero_grad()
        loss.backward()
        opt.step()
        best = history[best_by_rank([v for _, v in history])][0]
        traj.append({"evaluation": limit.used, "reward": reward, "arch": space.format(best),
                     "policy_argmax": space.format(tuple(space.ops[i] for i in logits.argmax(1).tolist()))})
    if not history:
        raise limit.nothing_evaluated()
    best = history[best_by_rank([v for _, v in history])][0]
    limit.close()
    return _teg_result("teg-reinforce", space, best, seed, ev, traj,
                       {"lr": lr, "baseline_momentum": momentum, "budget": budget, "reward_buffer": 10})
