"""Proxy-driven baselines: NASWOT-style sample-and-rank, random search under a budget, regularized evolution."""

from __future__ import annotations

import collections

import numpy as np

from ..correlate import parse_proxies
from ..errors import UserError
from ..proxies.base import get_proxy
from ..scoring import Scorer
from .base import Budget, SearchResult, register_strategy, rng_for


class Fitness:
    """Proxy (or ensemble) fitness with a cache: isomorphic archs are scored once when every member proxy
    depends only on the computed function (``shares_isomorphs``), each arch string once otherwise.

    An ensemble ``ensemble:a+b`` ranks against every architecture seen so far (sum of log(rank/N)), so its
    value for an arch can change as the population grows; it is recomputed over the seen set on demand.
    """

    def __init__(self, space, proxy: str, store=None, **scorer_kwargs):
        base, ens = parse_proxies(proxy)
        if len(ens) > 1 or (not ens and len(base) != 1):
            raise UserError(f"--proxy takes one proxy or one ensemble, not {proxy!r}")
        self.space, self.name = space, proxy
        self.members = ens[proxy] if ens else base
        self.directions = [get_proxy(m).direction for m in self.members]
        self.shared = all(get_proxy(m).shares_isomorphs for m in self.members)
        # CIFAR-100 / ImageNet16-120 without their images: CIFAR-10 stands in, on the right network (noted)
        self.scorer = Scorer(space, self.members, stand_in=True, **scorer_kwargs)
        self.values: dict[str, list[float]] = {}
        self.evaluations = 0
        # with a store, every evaluation is persisted: a killed search rerun with the same seed replays its
        # trajectory from stored values and continues where it stopped
        self.store = None
        if store is not None:
            from ..scoring import protocol_hash
            from ..store import Store

            self.store = Store(store)
            self.hashes = [protocol_hash(self.scorer.protocol(get_proxy(m))) for m in self.members]
            self.stored = [self.store.values(space.name, m, h) for m, h in zip(self.members, self.hashes)]

    def raw(self, arch) -> list[float]:
        canonical, text = self.space.canonical(arch), self.space.format(arch)
        key = canonical if self.shared else text
        if key not in self.values:
            skeys = [canonical if get_proxy(m).shares_isomorphs else text for m in self.members]
            if self.store is not None and all(k in s for k, s in zip(skeys, self.stored)):
                self.values[key] = [s[k] for k, s in zip(skeys, self.stored)]
            else:
                records = self.scorer.score_arch(arch)
                if self.store is not None:
                    self.store.put(records)
                self.values[key] = [r.value for r in records]
            self.evaluations += 1
        return self.values[key]

    def best(self, archs):
        """The best of ``archs`` by the fitness as it stands after all evaluations. For one proxy that is
        the best value ever seen; for a rank ensemble the ranks are those over the whole seen set (the
        first architecture evaluated ranks first among one, so a running maximum would keep it)."""
        return max(archs, key=self)

    def __call__(self, arch) -> float:
        """Higher is better, whatever the proxy's own direction. NaN counts as worst."""
        vals = self.raw(arch)
        if len(self.members) == 1:
            v = vals[0] * self.directions[0]
            return -np.inf if np.isnan(v) else float(v)
        from ..benchmarks.correlation import rank_ensemble

        keys = list(self.values)
        cols = [np.array([self.values[k][m] for k in keys]) for m in range(len(self.members))]
        scores = rank_ensemble(cols, self.directions)
        return float(scores[keys.index(self.space.canonical(arch) if self.shared else self.space.format(arch))])


SCORER_KEYWORDS = ("data", "data_dir", "batch_size", "init", "device", "store")


def _scorer_kwargs(kw) -> dict:
    keys = (*SCORER_KEYWORDS, "train_steps", "train_lr")
    return {k: kw[k] for k in keys if kw.get(k) is not None}


@register_strategy("sample", spaces=("nb201", "darts"), forwards=SCORER_KEYWORDS)
def sample_and_rank(space, proxy="nwot", n=100, seed=0, budget=None, time_budget=None, **kw) -> SearchResult:
    """NASWOT's search: draw N random architectures (with replacement), keep the best by the proxy."""
    n = budget or n
    rng = rng_for(seed)
    fit = Fitness(space, proxy, seed=seed, **_scorer_kwargs(kw))
    limit = Budget(n, time_budget)
    best, best_f, traj, seen = None, -np.inf, [], []
    while not limit.exhausted:
        a = space.sample(rng)
        seen.append(a)
        f = fit(a)
        limit.spend()
        if f > best_f:
            best, best_f = a, f
        traj.append({"evaluation": limit.used, "best_fitness": best_f, "arch": space.format(best)})
    return _result("sample", space, fit.best(seen) if seen else None, seed, fit, traj, {"proxy": proxy, "n": n})


@register_strategy("das", spaces=("nb201", "darts"), forwards=(*SCORER_KEYWORDS, "train_lr"))
def das_search(space, proxy="das", n=100, seed=0, budget=None, time_budget=None, train_steps=0, **kw) -> SearchResult:
    """DAS: sample-and-rank with the Distinguishing Activation Score (``das``; ``das_d``, ``das_layerwise`` or
    an ensemble also work). With ``train_steps`` > 0 each candidate is first trained that many SGD steps (the
    fast-training strategy) and scored on the trained weights; the training time is reported separately."""
    result = sample_and_rank(space, proxy=proxy, n=n, seed=seed, budget=budget, time_budget=time_budget,
                             train_steps=train_steps, **kw)
    result.method = "das"
    result.protocol["train_steps"] = train_steps
    return result


@register_strategy("random", spaces=("nb201", "darts"), forwards=SCORER_KEYWORDS)
def random_search(space, proxy="nwot", seed=0, budget=None, time_budget=60.0, **kw) -> SearchResult:
    """Random search with a proxy as fitness, stopped by an evaluation or time budget."""
    if budget is None and time_budget is None:
        raise UserError("random search needs --budget N or --time-budget SECONDS")
    return sample_and_rank(space, proxy=proxy, n=budget, seed=seed, budget=budget, time_budget=time_budget, **kw)


@register_strategy("rea", spaces=("nb201", "darts"), forwards=SCORER_KEYWORDS)
def regularized_evolution(space, proxy="nwot", seed=0, budget=None, time_budget=None, population=20,
                          tournament=5, **kw) -> SearchResult:
    """Regularized evolution (Real et al. 2019) with a proxy as fitness: tournament parent, one-edge mutation,
    the oldest member dies. Defaults: population 20, tournament 5, budget 200 evaluations."""
    budget = budget if budget is not None or time_budget is not None else 200
    if tournament > population:
        raise UserError(f"--tournament ({tournament}) cannot exceed --population ({population})")
    rng = rng_for(seed)
    fit = Fitness(space, proxy, seed=seed, **_scorer_kwargs(kw))
    limit = Budget(budget, time_budget)
    pop = collections.deque()
    best, best_f, traj, seen = None, -np.inf, [], []

    def consider(a):
        nonlocal best, best_f
        f = fit(a)
        limit.spend()
        pop.append(a)
        seen.append(a)
        if f > best_f:
            best, best_f = a, f
        traj.append({"evaluation": limit.used, "best_fitness": best_f, "arch": space.format(best)})

    while len(pop) < population and not limit.exhausted:
        consider(space.sample(rng))
    while not limit.exhausted:
        picks = [pop[i] for i in rng.choice(len(pop), tournament, replace=False)]
        parent = max(picks, key=fit)  # re-scored now: an ensemble's ranks move as the seen set grows
        consider(space.mutate(parent, rng))
        pop.popleft()
    return _result("rea", space, fit.best(seen) if seen else None, seed, fit, traj,
                   {"proxy": proxy, "population": population, "tournament": tournament, "budget": budget})


def _result(method, space, best, seed, fit, traj, protocol) -> SearchResult:
    if best is None:
        raise UserError("the budget allowed no evaluation; raise --budget or --time-budget")
    values = dict(zip(fit.members, fit.raw(best)))
    proto = {**protocol, "scorer": fit.scorer.protocol(get_proxy(fit.members[0]))}
    if fit.scorer.train_steps:
        proto["fast_training_seconds"] = round(fit.scorer.train_seconds, 3)
    return SearchResult(method, space.name, space.format(best), space.canonical(best), seed, 0.0,
                        fit.evaluations, values, {}, traj[-200:], proto)
