"""Proxy-driven baselines: NASWOT-style sample-and-rank, random search under a budget, regularized evolution."""

from __future__ import annotations

import collections
import math
import time

import numpy as np

from ..correlate import parse_proxies
from ..errors import UserError
from ..proxies.base import get_proxy, inapplicable_reason
from ..scoring import Scorer
from .base import Budget, SearchResult, register_strategy, rng_for


def check_options_used(options: dict | None, members: list[str], proxy: str) -> None:
    """A proxy option (``--set P.OPT=V``) for a proxy the search does not run is an error, never ignored."""
    # compared by the proxies' own names (yours: its absolute path); a misspelt proxy is unknown, with the list
    # ({} sets nothing, so nothing would be ignored: accepted, as score and correlate accept it)
    unused = sorted(name for name, opts in (options or {}).items() if opts and get_proxy(name).name not in members)
    if unused:
        first, value = next(iter(options[unused[0]].items()))
        raise UserError(f"--set {unused[0]}.{first}={value} sets an option of proxy {unused[0]}, which --proxy "
                        f"{proxy} does not run (it runs {', '.join(members)})")


def score_meaning(members: list[str], directions: list[int], among: str) -> str:
    """A fitness's meaning in words: one proxy's value (negated for a lower-is-better one), or a rank
    ensemble's score over the archs ``among`` names."""
    if len(members) == 1:
        return f"{members[0]}'s value" + (" negated (it is lower-is-better)" if directions[0] < 0 else "")
    return (f"rank ensemble of {'+'.join(members)}: the sum over its members of log(rank/N) among the N archs "
            f"{among} (0 at best; comparable within this search only)")


class Fitness:
    """Proxy (or ensemble) fitness with a cache: isomorphic archs are scored once when every member proxy
    depends only on the computed function (``shares_isomorphs``), each arch string once otherwise.

    An ensemble ``ensemble:a+b`` ranks against every architecture seen so far (sum of log(rank/N)), so its
    value for an arch can change as the population grows; it is recomputed over the seen set on demand.
    """

    def __init__(self, space, proxy: str, store=None, **scorer_kwargs):
        base, ens = parse_proxies(proxy, "--proxy")
        if len(ens) > 1 or (not ens and len(base) != 1):
            raise UserError(f"--proxy takes one proxy or one ensemble, not {proxy!r}")
        self.space, self.name = space, proxy
        self.members = ens[proxy] if ens else base
        check_options_used(scorer_kwargs.get("options"), self.members, proxy)
        self.directions = [get_proxy(m).direction for m in self.members]
        self.shared = all(get_proxy(m).shares_isomorphs for m in self.members)
        # CIFAR-100 / ImageNet16-120 without their images: CIFAR-10 stands in, on the right network (noted)
        self.scorer = Scorer(space, self.members, stand_in=True, **scorer_kwargs)
        self.values: dict[str, list[float]] = {}
        self.evaluations = 0
        self.replayed = False  # whether the last raw() call spent no time (a stored or already seen arch)
        self._from_store: set = set()  # keys whose values were read from the store, not computed in this run
        self.failed = [0] * len(self.members)  # per member: evaluations that gave it no value (NaN)
        self.first_failure: list[str | None] = [None] * len(self.members)  # per member: the first one, said
        self.undefined = [0] * len(self.members)  # per member: evaluations that gave it +-inf (undefined)
        self.infinities: list[set] = [set() for _ in self.members]  # and which of +inf / -inf
        self.first_undefined: list[str | None] = [None] * len(self.members)
        self._keys: dict = {}  # arch -> (canonical, text): formatting costs more than a search's bookkeeping
        self._ranked: tuple[int, dict] = (0, {})  # an ensemble's scores over the first n values, by key
        self._first: dict = {}  # key -> the first arch evaluated under it (the one leader() answers with)
        self._lead: tuple = (None, -np.inf)  # one proxy: the best (arch, fitness) so far
        # with a store, every evaluation is persisted: a killed search rerun with the same seed replays its
        # trajectory from stored values and continues where it stopped
        self.store = None
        if store is not None:
            from ..scoring import protocol_hash
            from ..store import Store

            self.store = Store(store)
            self.hashes = [protocol_hash(self.scorer.protocol(get_proxy(m))) for m in self.members]
            # a failure is not a value: it is scored again (a failed build fixed between runs keeps its protocol)
            self.stored = [{k: v for k, v in self.store.values(space.name, m, h).items() if v is not None}
                           for m, h in zip(self.members, self.hashes)]

    @property
    def member_options(self) -> dict:
        """Each member's options (what the search ran them with)."""
        return {m: self.scorer.options.get(m, {}) for m in self.members}

    def _names(self, arch) -> tuple[str, str]:
        # cached only for archs hashed by value and immutable (the built-in spaces' tuples, named tuples and
        # frozen dataclasses): a plug-in's mutable arch, changed after scoring, must not keep its old names
        cacheable = isinstance(arch, (tuple, str)) or getattr(getattr(arch, "__dataclass_params__", None),
                                                             "frozen", False)
        if cacheable:
            try:
                return self._keys[arch]
            except KeyError:
                pass
            except TypeError:  # a tuple holding a list: computed each time
                cacheable = False
        names = self.space.canonical(arch), self.space.format(arch)
        if cacheable:
            self._keys[arch] = names
        return names

    @property
    def store_reads(self) -> dict[str, int] | None:
        """{proxy or ensemble: archs whose values were read back from the store (a resume), not computed in this
        run}; None without a store."""
        return None if self.store is None else {"+".join(self.members): len(self._from_store)}

    def from_store(self, arch) -> bool:
        """Whether ``arch``'s values were read from the store rather than computed in this run."""
        canonical, text = self._names(arch)
        return (canonical if self.shared else text) in self._from_store

    def raw(self, arch) -> list[float]:
        canonical, text = self._names(arch)
        key = canonical if self.shared else text
        self.replayed = True  # (no time spent: read back from the store, or met before in this search)
        if key not in self.values:
            skeys = [canonical if get_proxy(m).shares_isomorphs else text for m in self.members]
            by_proxy = {}  # this evaluation's records (none when replayed from the store)
            if self.store is not None and all(k in s for k, s in zip(skeys, self.stored)):
                self.values[key] = [s[k] for k, s in zip(skeys, self.stored)]
                self._from_store.add(key)
            else:
                self.replayed = False
                records = self.scorer.score_arch(arch)
                for r in records:  # a proxy with nothing to read here would rank every arch last: refuse it
                    if (why := inapplicable_reason(r.error)) is not None:
                        raise UserError(f"--proxy {r.proxy} cannot search {self.space.name}: {why}; choose "
                                        "another --proxy")
                if self.store is not None:  # failures are not kept (above): a rerun tries them again
                    self.store.put([r for r in records if not r.error])
                self.values[key] = [r.value for r in records]
                by_proxy = {r.proxy: r for r in records}
            self.evaluations += 1
            self._first[key] = arch
            if len(self.members) == 1:
                v = self.values[key][0] * self.directions[0]
                v = -np.inf if math.isnan(v) else float(v)  # NaN counts as worst, as in __call__
                if self._lead[0] is None or v > self._lead[1]:  # ties: the first stays
                    self._lead = (arch, v)
            for i, (m, v) in enumerate(zip(self.members, self.values[key])):
                r = by_proxy.get(m)
                if math.isnan(v):
                    self.failed[i] += 1
                    why = ((r.error or r.reason or "NaN") if r is not None else "no value (NaN) in the store")
                    self.first_failure[i] = self.first_failure[i] or f"{text}: {why}"
                elif math.isinf(v):  # e.g. a singular kernel's -inf: a value, but one that ranks only as an end
                    self.undefined[i] += 1
                    self.infinities[i].add(v)
                    why = (r.reason or f"value {v}") if r is not None else f"value {v} in the store"
                    self.first_undefined[i] = self.first_undefined[i] or f"{text}: {why}"
        return self.values[key]

    def check_scored(self) -> None:
        """Raise a one-line UserError when a member proxy gave no value (NaN: it raised, e.g. the space's
        ``build`` failed) on every architecture the search evaluated: its ranking would be noise, and the
        answer a first draw dressed up as a result."""
        for m, n, first in zip(self.members, self.failed, self.first_failure):
            if self.evaluations and n == self.evaluations:
                raise UserError(f"{self._who(m)} gave no value on any of the {n} architecture(s) the search evaluated "
                                f"(the first, {first}); fix what failed (e.g. the space's build()), or choose "
                                "another --proxy if the proxy is undefined on this space")
        for m, n, nan, first, inf in zip(self.members, self.undefined, self.failed, self.first_undefined,
                                         self.infinities):
            if n and n + nan == self.evaluations and len(inf) == 1:  # all one infinity: the answer, a first draw
                raise UserError(f"{self._who(m)} had no finite value on any of the {self.evaluations} architecture(s) "
                                f"the search evaluated (the first, {first}), so it ranks none above another; fix "
                                "the cause (e.g. images that do not vary) or choose another --proxy")

    def _who(self, member: str) -> str:
        """``--proxy`` as the user gave it, and the ensemble's member at fault where it is one of several."""
        ens = getattr(self, "ensemble", self.name)  # funnel scores each member with its own Fitness
        alone = len(self.members) == 1 and not hasattr(self, "ensemble")  # one proxy, named as given
        return f"--proxy {ens}" if member == ens or alone else f"--proxy {ens}: its member {member}"

    def failures(self) -> dict:
        """Members that gave no value (NaN) on some of the archs evaluated: {member: {"archs": how many, "of":
        evaluations, "first": the first such arch and why}} (empty when every value was defined)."""
        return {m: {"archs": n, "of": self.evaluations, "first": first}
                for m, n, first in zip(self.members, self.failed, self.first_failure) if n}

    def leader(self) -> tuple:
        """(arch, fitness): the best of every architecture evaluated so far, as the fitness stands now (for a
        rank ensemble, ranked over all of them: a running maximum of values taken when each was evaluated
        would keep the first architecture, which ranks first among one). (None, -inf) before any evaluation.
        Ties: the first evaluated, as ``best`` answers."""
        if len(self.members) == 1 or not self.values:
            return self._lead
        ranked = self._ensemble_scores()
        key = max(ranked, key=ranked.get)  # insertion order: the first of equals
        return self._first[key], ranked[key]

    def best(self, archs):
        """The best of ``archs`` by the fitness as it stands after all evaluations. For one proxy that is
        the best value ever seen; for a rank ensemble the ranks are those over the whole seen set (the
        first architecture evaluated ranks first among one, so a running maximum would keep it)."""
        return max(archs, key=self)

    @property
    def score_meaning(self) -> str:
        """What ``self(arch)`` is, as a front's ``score`` records it."""
        return score_meaning(self.members, self.directions, "this search evaluated")

    def __call__(self, arch) -> float:
        """Higher is better, whatever the proxy's own direction. NaN counts as worst."""
        vals = self.raw(arch)
        if len(self.members) == 1:
            v = vals[0] * self.directions[0]
            return -np.inf if np.isnan(v) else float(v)
        canonical, text = self._names(arch)
        return self._ensemble_scores()[canonical if self.shared else text]

    def _ensemble_scores(self) -> dict:
        """A rank ensemble's score of every key evaluated so far, ranked over all of them; ranked again only
        when the seen set has grown (values are never replaced)."""
        n, ranked = self._ranked
        if n != len(self.values):
            from ..benchmarks.correlation import rank_ensemble

            keys = list(self.values)
            cols = [np.array([self.values[k][m] for k in keys]) for m in range(len(self.members))]
            ranked = dict(zip(keys, map(float, rank_ensemble(cols, self.directions))))
            self._ranked = (len(keys), ranked)
        return ranked


SCORER_KEYWORDS = ("data", "data_dir", "batch_size", "init", "device", "store", "options", "memory_format")
# every space whose archs can be sampled, mutated and built: these searches need nothing else of it
SPACES = ("nb201", "darts", "nb101", "macro")


def _scorer_kwargs(kw) -> dict:
    keys = (*SCORER_KEYWORDS, "train_steps", "train_lr")
    return {k: kw[k] for k in keys if kw.get(k) is not None}


# hardware constraints, Pareto objectives and few-shot refinement (constraints.py, refine.py)
HW_KEYWORDS = ("max_params", "max_flops", "max_latency", "objectives", "refine", "evaluator", "refine_strategy",
               "refine_epochs", "refine_batch_size", "refine_lr")


def _setup(space, kw, seed: int = 0, local_refine: bool = False):
    """The constraints and refinement (K, evaluator, strategy) of a search, built (and checked) before any
    scoring. ``local_refine``: the search can expand neighbourhoods while refining (default strategy
    ``local``); otherwise only ``top`` is possible. The user's own images (``kw["data"]``) are loaded here,
    once (``seed`` picks them as the scorers would), and handed on in ``kw`` to every scorer of the search."""
    from .constraints import Constraints

    hw = {k: kw.pop(k, None) for k in HW_KEYWORDS}
    for opt in ("evaluator", "refine_strategy", "refine_epochs", "refine_batch_size", "refine_lr"):
        if hw[opt] is not None and hw["refine"] is None:
            raise UserError(f"--{opt.replace('_', '-')} needs --refine K (how many candidates to evaluate)")
    strategy = hw["refine_strategy"] or ("local" if local_refine else "top")
    if strategy == "local" and not local_refine:
        raise UserError("--refine-strategy local needs a search that scores neighbourhoods (--method funnel); "
                        "use --refine-strategy top")
    if hw["refine"] is not None and hw["objectives"] is not None:
        raise UserError("--refine picks one answer and does not combine with --objectives (a front)")
    from ..scoring import is_user_data

    data, info = kw.get("data"), None
    if is_user_data(data):  # own images: params/FLOPs bounds on their network; no latency (check_user_data)
        from ..data.custom import user_images

        kw["data"] = images = user_images(data, seed=seed)  # the funnel's member scorers share them
        data, info = None, images.info
    cons = Constraints(space, data, kw.get("data_dir"), hw["max_params"], hw["max_flops"], hw["max_latency"],
                       hw["objectives"], images_info=info)
    evaluator = None
    if hw["refine"] is not None:
        from .refine import make_evaluator

        evaluator = make_evaluator(space, hw["evaluator"] or "table", kw.get("data"), kw.get("data_dir"),
                                   {k[len("refine_"):]: hw[k] for k in HW_KEYWORDS[-3:]})
    return cons, (hw["refine"], evaluator, strategy if hw["refine"] is not None else None)


def _reserve_reads(time_budget, refining, start: float):
    """The seconds of ``time_budget`` the label-free phase may use: all of them, except with --evaluator train,
    whose reads get ``TRAIN_SHARE`` of the budget (the evaluator's deadline is set here: ``start``, the
    search's first ``time.perf_counter()`` instant, + the budget)."""
    from .refine import TRAIN_SHARE

    evaluator = refining[1]
    if time_budget is None or evaluator is None or evaluator.name != "train":
        return time_budget
    evaluator.deadline = start + time_budget
    return time_budget * (1 - TRAIN_SHARE)


@register_strategy("sample", spaces=SPACES, forwards=(*SCORER_KEYWORDS, *HW_KEYWORDS))
def sample_and_rank(space, proxy="nwot", n=None, seed=0, budget=None, time_budget=None, **kw) -> SearchResult:
    """NASWOT's search: draw N random architectures (with replacement; ``n`` or ``budget``, default 100), keep
    the best by the proxy. With constraints only feasible architectures are drawn (and scored); with
    ``objectives`` the answer is the non-dominated front; with ``refine`` K the top K by the proxy are read by
    ``evaluator``. UserError when ``n`` and ``budget`` are both given and differ."""
    return _draw_and_rank(space, proxy, n, seed, budget, time_budget, 100, **kw)


def _draw_and_rank(space, proxy, n, seed, budget, time_budget, default_n, **kw) -> SearchResult:
    """sample's and random's loop; ``default_n``: N when neither ``n`` nor ``budget`` is given (None: no cap,
    random search under a time budget)."""
    if n is not None and budget is not None and n != budget:
        raise UserError(f"--n {n} and --budget {budget} both set how many architectures sample draws; give one")
    n = budget if budget is not None else n if n is not None else default_n
    rng = rng_for(seed)
    t_start = time.perf_counter()
    cons, refining = _setup(space, kw, seed)
    given, time_budget = time_budget, _reserve_reads(time_budget, refining, t_start)
    fit = Fitness(space, proxy, seed=seed, **_scorer_kwargs(kw))
    limit = Budget(n, time_budget, label="sample", start=t_start, given=given)
    traj, seen = [], []
    while not limit.exhausted:
        a = cons.sample(rng)
        seen.append(a)
        fit(a)
        limit.spend(replayed=fit.replayed)
        best, best_f = fit.leader()
        traj.append({"draw": limit.used, "evaluation": fit.evaluations, "best_fitness": best_f,
                     "arch": space.format(best)})
    limit.close()
    # "draws": those made (a time budget may stop before n); distinct archs among them are the evaluations
    return _result("sample", space, seen, seed, fit, traj, {"proxy": proxy, "n": n, "draws": len(seen)}, cons,
                   refining, limit=limit)


@register_strategy("das", spaces=SPACES, forwards=(*SCORER_KEYWORDS, "train_lr"))
def das_search(space, proxy="das", n=None, seed=0, budget=None, time_budget=None, train_steps=0, **kw) -> SearchResult:
    """DAS: sample-and-rank with the Distinguishing Activation Score (``das``; ``das_d``, ``das_layerwise`` or
    an ensemble also work). With ``train_steps`` > 0 each candidate is first trained that many SGD steps (the
    fast-training strategy) and scored on the trained weights; the training time is reported separately."""
    result = sample_and_rank(space, proxy=proxy, n=n, seed=seed, budget=budget, time_budget=time_budget,
                             train_steps=train_steps, **kw)
    result.method = "das"
    result.protocol["train_steps"] = train_steps
    return result


@register_strategy("random", spaces=SPACES, forwards=(*SCORER_KEYWORDS, *HW_KEYWORDS))
def random_search(space, proxy="nwot", seed=0, budget=None, time_budget=60.0, **kw) -> SearchResult:
    """Random search with a proxy as fitness, stopped by an evaluation or time budget."""
    if budget is None and time_budget is None:
        raise UserError("random search needs --budget N or --time-budget SECONDS")
    result = _draw_and_rank(space, proxy, None, seed, budget, time_budget, None, **kw)
    result.method = "random"  # the method asked for (sample_and_rank names itself)
    return result


@register_strategy("rea", spaces=SPACES, forwards=(*SCORER_KEYWORDS, *HW_KEYWORDS))
def regularized_evolution(space, proxy="nwot", seed=0, budget=None, time_budget=None, population=20,
                          tournament=5, **kw) -> SearchResult:
    """Regularized evolution (Real et al. 2019) with a proxy as fitness: tournament parent, one-edge mutation,
    the oldest member dies. Defaults: population 20, tournament 5, budget 200 evaluations. Constraints: every
    draw and mutation is feasible; objectives: the tournament winner is the one of the lowest non-domination
    rank in the population (ties: the higher fitness), and the answer is the front of everything seen."""
    budget = budget if budget is not None or time_budget is not None else 200
    if tournament > population:
        raise UserError(f"--tournament ({tournament}) cannot exceed --population ({population})")
    rng = rng_for(seed)
    t_start = time.perf_counter()
    cons, refining = _setup(space, kw, seed)
    given, time_budget = time_budget, _reserve_reads(time_budget, refining, t_start)
    fit = Fitness(space, proxy, seed=seed, **_scorer_kwargs(kw))
    limit = Budget(budget, time_budget, label="rea", start=t_start, given=given)
    pop = collections.deque()
    traj, seen = [], []

    def consider(a):
        fit(a)
        limit.spend(replayed=fit.replayed)
        pop.append(a)
        seen.append(a)
        best, best_f = fit.leader()
        traj.append({"draw": limit.used, "evaluation": fit.evaluations, "best_fitness": best_f,
                     "arch": space.format(best)})

    def winner(picks):
        if not cons.objectives:
            return max(picks, key=fit)  # re-scored now: an ensemble's ranks move as the seen set grows
        from .constraints import objective_key, pareto_ranks

        keys = [objective_key(o) for o in cons.objectives]
        members = list(pop)
        vecs = [tuple(fit(a) if k == "score" else -cons.metrics(a)[k] for k in keys) for a in members]
        rank = dict(zip(map(space.format, members), pareto_ranks(vecs)))
        return min(picks, key=lambda a: (rank[space.format(a)], -fit(a)))

    while len(pop) < population and not limit.exhausted:
        consider(cons.sample(rng))
    tournaments = 0  # 0: the budget ended before the population was filled (random sampling; the CLI says so)
    while not limit.exhausted:
        picks = [pop[i] for i in rng.choice(len(pop), tournament, replace=False)]
        consider(cons.mutate(winner(picks), rng))
        pop.popleft()
        tournaments += 1
    limit.close()
    return _result("rea", space, seen, seed, fit, traj,
                   {"proxy": proxy, "population": population, "tournament": tournament, "budget": budget,
                    "draws": len(seen), "tournaments": tournaments},
                   cons, refining, limit=limit)


def _result(method, space, seen, seed, fit, traj, protocol, cons, refining, neighbours=None,
            limit=None) -> SearchResult:
    """The SearchResult of a finished search; ``neighbours`` (arch -> its scored one-edit neighbours) serves
    the ``local`` refinement strategy; ``limit`` (its Budget) explains a search that evaluated nothing."""
    if not seen:
        raise limit.nothing_evaluated() if limit is not None else UserError("the budget allowed no evaluation")
    fit.check_scored()
    failures = fit.failures()  # said with the answer: they rank last, and the counts above include them
    if len(fit.members) > 1 and len(traj) == len(seen):
        # a rank ensemble's fitness moves as the seen set grows, so a row's "best so far" could fall: every row
        # is put on the final ranking (over all archs evaluated), the best among those evaluated by then
        lead, lead_f = None, -math.inf
        for row, a in zip(traj, seen):
            f = fit(a)
            if lead is None or f > lead_f:  # ties: the first stays, as best() answers
                lead, lead_f = a, f
            row.update(best_fitness=lead_f, arch=space.format(lead))
    try:  # a long search draws most archs many times: what follows needs each once
        seen = list(dict.fromkeys(seen))
    except TypeError:  # unhashable archs: kept as drawn
        pass
    best = fit.best(seen)
    k, evaluator, strategy = refining
    proto = {**protocol, "scorer": fit.scorer.protocol(get_proxy(fit.members[0])),
             # every member's options (the scorer block shows the first member's): what drove the search
             "options": fit.member_options, **({"failures": failures} if failures else {})}
    if fit.store_reads is not None:  # a resumed search says what it did not compute again
        proto["store_reads"] = fit.store_reads
    front = []
    if cons.objectives:
        from .constraints import front_points

        front = front_points(space, seen, [fit(a) for a in seen], cons)
        proto["front_score"] = fit.score_meaning  # a front's 'score': a proxy's value or an ensemble's rank
    if k is not None:
        from .refine import refine

        label_free = best
        try:
            best, read = refine(space, seen, fit, k, evaluator, neighbours if strategy == "local" else None)
        finally:
            evaluator.close()
        proto["refine"] = {"k": k, "evaluator": evaluator.name, "strategy": strategy,
                           "column": getattr(evaluator, "column", None),
                           "label_free_answer": space.format(label_free),
                           "seconds": round(getattr(evaluator, "seconds", 0.0), 3),  # training, for train
                           "ran_out_of_time": evaluator.ran_out_of_time,
                           **({"out_of_time": evaluator.out_of_time_why} if evaluator.ran_out_of_time else {}),
                           **({"out": str(evaluator.out)} if getattr(evaluator, "keeps", False) else {}),
                           **({"train_recipe": {k: getattr(evaluator.recipe, k) for k in ("epochs", "batch_size",
                                                                                          "lr")}}
                              if getattr(evaluator, "recipe", None) is not None else {}),
                           **({"train_time_limits": [round(t, 1) for t in evaluator.limits],
                               "train_images": evaluator.images, "train_subset": evaluator.train_subset,
                               "reads_cut_short": evaluator.cut}
                              if getattr(evaluator, "deadline", None) is not None else {}),
                           "fitness_meaning": "the search's label-free score (higher is better), not an accuracy",
                           "candidates": [{"arch": a, "fitness": f, "accuracy": acc} for a, f, acc in read]}
    if cons.active and not cons.feasible(best):  # every draw was checked: this would be a bug, never an answer
        raise RuntimeError(f"internal error: infeasible answer {space.format(best)}")
    if fit.scorer.train_steps:
        proto["fast_training_seconds"] = round(fit.scorer.train_seconds, 3)
    values = dict(zip(fit.members, fit.raw(best)))
    described = cons.describe()
    if cons.active or cons.objectives:
        described = {**described, "rejected_draws": cons.rejected, "answer": cons.metrics(best)}
    return SearchResult(method, space.name, space.format(best), space.canonical(best), seed, 0.0,
                        fit.evaluations, values, {}, traj[-200:], proto,
                        accuracy_reads=evaluator.reads if evaluator is not None else 0, front=front,
                        constraints=described if (cons.active or cons.objectives) else {})
