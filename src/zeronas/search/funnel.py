"""``funnel``: zeronas's label-free search. A frozen rank ensemble ranks architectures; the budget goes where
the ranking is decided: the cheap (data-free) members screen a large pool, the dear (data-dependent) members
score only the pool's leaders, and a best-first local search scores the unscored one-edit neighbours of the
ensemble's leaders, the cheapest screen first.

Nothing of the searched space's accuracy is read (``accuracy_reads`` is 0) unless ``refine`` asks for it.
The default ensemble is ``zeronas-v1`` (see ``docs/label_free_search.md`` for how it and the stage shares were
fixed without NB201 labels). Every value goes through the store when one is given, so a rerun with the same
seed replays from it.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..benchmarks.correlation import rank_ensemble
from ..correlate import parse_proxies
from ..errors import UserError
from ..proxies.base import get_proxy
from .base import Budget, SearchResult, register_strategy, rng_for
from .constraints import crowding_distances, objective_key, pareto_ranks
from .sample import (
    HW_KEYWORDS,
    SCORER_KEYWORDS,
    Fitness,
    _reserve_reads,
    _result,
    _scorer_kwargs,
    _setup,
    check_options_used,
)

# Shares of the time budget: pool screening by the cheap members, then the dear members on the pool's leaders
# in cheap-ensemble order, then local search around the leaders. Fixed a priori (docs/label_free_search.md).
POOL_SHARE, SCREEN_SHARE = 0.3, 0.4
DEFAULT_SECONDS = 240.0  # with set-up and reporting, under the 5 minutes a default search may take
LEADERS = 5  # leaders whose neighbourhoods the local phase expands, best first
STRATA = 10  # Pareto mode: cost quantile bins the screen takes its archs from in turn (fixed a priori)
REFINE_SHARE = 0.15  # with --refine-strategy local: the budget kept for scoring the neighbourhoods it reads


class _Members:
    """The ensemble's members, each with its own cached, store-backed fitness; ``full`` holds the archs scored
    by every member (the contenders the answer is chosen from)."""

    def __init__(self, space, proxy: str, seed: int, scorer_kwargs: dict):
        base, ens = parse_proxies(proxy, "--proxy")
        if len(ens) > 1 or (not ens and len(base) != 1):
            raise UserError(f"--proxy takes one proxy or one ensemble, not {proxy!r}")
        self.space, self.name = space, proxy
        self.members = next(iter(ens.values())) if ens else base
        self.directions = [get_proxy(m).direction for m in self.members]
        # data-free members are the cheap screen; a one-member "ensemble" or an all-data-free one screens by all
        dear = [m for m in self.members if get_proxy(m).needs_images]
        self.cheap = [m for m in self.members if m not in dear] or list(self.members)
        self.dear = [m for m in self.members if m not in self.cheap]
        options = scorer_kwargs.pop("options", None) or {}
        check_options_used(options, self.members, proxy)
        self.fits = {m: Fitness(space, m, seed=seed, **scorer_kwargs,
                                options={m: options[m]} if m in options else None) for m in self.members}
        for f in self.fits.values():  # errors name the ensemble the user asked for
            f.ensemble = proxy
        self.replayed = False  # whether the last score_all computed nothing
        self.full: dict[str, object] = {}  # format -> arch, scored by every member
        self.full_seconds: list[float] = []  # wall seconds of each score_all

    @property
    def evaluations(self) -> int:
        return max(f.evaluations for f in self.fits.values())

    def value(self, m: str, arch) -> float:
        return self.fits[m].raw(arch)[0]

    def screen(self, arch) -> list[float]:
        """The cheap members' values (a non-empty list)."""
        return [self.value(m, arch) for m in self.cheap]

    def score_all(self, arch):
        t0 = time.perf_counter()
        for m in self.members:
            self.value(m, arch)
        # every member's values came from the store (a resume): no time spent in this run. (Values the screen
        # computed moments ago are not replays: that time is this evaluation's cost.)
        self.replayed = all(self.fits[m].from_store(arch) for m in self.members)
        self.full[self.space.format(arch)] = arch
        self.full_seconds.append(time.perf_counter() - t0)  # (a store's values too: what it cost this run)

    def ranking(self, archs, members) -> np.ndarray:
        """Rank-ensemble (sum of log rank/N) of ``archs`` by ``members``; higher is better."""
        cols = [np.array([self.value(m, a) for a in archs], dtype=float) for m in members]
        dirs = [get_proxy(m).direction for m in members]
        return rank_ensemble(cols, dirs)

    def leaders(self, k: int | None = None, cost=None) -> list:
        """The contenders best first by the full ensemble; with ``cost`` (Pareto mode) only those on the front
        of (ensemble score, cost), in NSGA-II order (``nsga_order``): the front's two ends first, then its
        sparsest parts, so the local stage widens the front at both ends instead of only at the top."""
        archs = list(self.full.values())
        if not archs:
            return []
        score = self.ranking(archs, self.members)
        if cost is None:
            order = np.argsort(-score, kind="stable")
        else:
            order = nsga_order(score, [cost(a) for a in archs], front_only=True)
        return [archs[i] for i in order[:k]]


def nsga_order(score, costs, front_only: bool = False) -> list[int]:
    """Indices of the archs with ensemble (or screen) score ``score`` (higher is better) and cost ``costs``
    (lower is better) in NSGA-II survival order (Deb et al. 2002): by non-domination rank, then by crowding
    distance, largest first (each rank's two ends first), then by score. ``front_only`` keeps rank 0."""
    pts = [(float(s), -float(c)) for s, c in zip(score, costs)]
    ranks = pareto_ranks(pts)
    crowd = crowding_distances(pts, ranks)
    order = sorted(range(len(pts)), key=lambda i: (ranks[i], -crowd[i], -pts[i][0]))
    return [i for i in order if ranks[i] == 0] if front_only else order


LISTABLE = 20_000  # a space of at most this many archs is listed to complete a pool its draws stopped finding


def _undrawn_classes(space, cons, seen: set) -> dict | None:
    """{canonical key: one arch} for each (feasible) isomorphism class of ``space`` whose key is not in
    ``seen``, or None where the feasible set cannot be listed (a constrained space other than NB201, a large or
    plug-in space)."""
    if cons.feasible_strings is not None:  # NB201 under bounds: every feasible string, known in full
        archs = [space.parse(s) for s in sorted(cons.feasible_strings)]
    elif cons.active or not hasattr(space, "enumerate"):
        return None
    else:
        try:
            size = int(space.size())
        except Exception:  # noqa: BLE001  (a plug-in space may not know its size: not listed)
            return None
        if size > LISTABLE:
            return None
        try:
            archs = list(space.enumerate())
        except (UserError, NotImplementedError, TypeError):  # a plug-in space that cannot list its archs
            return None
    rest: dict = {}
    for a in archs:
        key = space.canonical(a)
        if key not in seen:
            rest.setdefault(key, a)
    return rest


def _stratified(order, costs: list[float], strata: int = STRATA) -> list[int]:
    """``order`` (pool indices, best first) regrouped for a Pareto search: the best of each cost quantile bin,
    then the second best of each, ..., so the dear members score archs over the whole cost range."""
    edges = np.quantile(costs, np.linspace(0, 1, strata + 1)[1:-1])
    bins: dict[int, list[int]] = {}
    for i in order:
        bins.setdefault(int(np.searchsorted(edges, costs[i], side="right")), []).append(int(i))
    columns = [bins[b] for b in sorted(bins)]
    return [c[r] for r in range(max(map(len, columns))) for c in columns if r < len(c)]


class _Fit:
    """The final fitness over the contenders (what ``_result`` and refinement rank by): the full ensemble's
    rank score within ``members.full``."""

    def __init__(self, members: _Members):
        self.m = members
        self.members = members.members
        self.scorer = members.fits[members.members[0]].scorer
        self._keys: list[str] = []
        self._scores = None

    @property
    def evaluations(self) -> int:
        return self.m.evaluations

    @property
    def store_reads(self) -> dict[str, int] | None:
        """{member: archs whose value was read back from the store}; None without a store."""
        reads = [f.store_reads for f in self.m.fits.values()]
        return None if any(r is None for r in reads) else {k: v for r in reads for k, v in r.items()}

    @property
    def member_options(self) -> dict:
        """Each member's options, from its own scorer."""
        return {m: self.m.fits[m].scorer.options.get(m, {}) for m in self.members}

    def _update(self):
        if self._scores is None or len(self._keys) != len(self.m.full):
            self._keys = list(self.m.full)
            archs = [self.m.full[k] for k in self._keys]
            self._scores = dict(zip(self._keys, self.m.ranking(archs, self.members)))

    @property
    def score_meaning(self) -> str:
        from .sample import score_meaning

        return score_meaning(self.members, [get_proxy(m).direction for m in self.members],
                             "the whole ensemble scored (the contenders)")

    def __call__(self, arch) -> float:
        if len(self.members) == 1:  # the proxy's value, as sample, random and rea report it (same order)
            v = self.m.value(self.members[0], arch) * get_proxy(self.members[0]).direction
            return -math.inf if math.isnan(v) else float(v)
        self._update()
        return float(self._scores.get(self.m.space.format(arch), -math.inf))

    def raw(self, arch) -> list[float]:
        return [self.m.value(mem, arch) for mem in self.members]

    def best(self, archs):
        return max(archs, key=self)

    def check_scored(self) -> None:
        """A member that gave no value on any arch it scored is refused (``Fitness.check_scored``)."""
        for f in self.m.fits.values():
            f.check_scored()

    def failures(self) -> dict:
        """Every member's ``Fitness.failures``."""
        return {m: v for f in self.m.fits.values() for m, v in f.failures().items()}


def _neighbours(space, arch) -> list:
    """Every one-edit neighbour of ``arch`` when the space lists them (``space.neighbours``), else 24 draws of
    ``space.mutate``."""
    if hasattr(space, "neighbours"):
        return list(space.neighbours(arch))
    import hashlib  # a stable seed per arch (Python's hash() of a str changes between processes)

    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(space.format(arch).encode()).digest()[:8], "big"))
    return [space.mutate(arch, rng) for _ in range(24)]


@register_strategy("funnel", spaces=("nb201", "darts", "macro", "nb101"),
                   forwards=(*SCORER_KEYWORDS, *HW_KEYWORDS))
def funnel(space, proxy="zeronas-v1", seed=0, budget=None, time_budget=None, pool=None, **kw) -> SearchResult:
    """Label-free ensemble search in three stages (and a fourth while budget is left) under one time budget (wall
    seconds, everything included;
    default 240) or ``budget`` full-ensemble evaluations:

    1. *pool* (30% of the time): distinct random architectures (feasible ones under constraints), each scored
       by the data-free members of ``proxy`` (for ``zeronas-v1``: params); ``pool`` caps its size. When 1000
       draws in a row find no new class and the (feasible) space can be listed (NB201 under bounds; an
       unconstrained space of at most ``LISTABLE`` archs), the classes not drawn join the pool, and only then
       is it recorded as the whole space (``pool_is_whole_space``);
    2. *screen* (40%): the data-dependent members (for ``zeronas-v1``: nwot) score the pool in order of the
       cheap rank ensemble;
    3. *local* (the rest): the unscored one-edit neighbours of the top-5 contenders by the full ensemble are
       scored, cheap members first, the best cheap-ranked neighbours fully, until the time is spent; when no
       contender is left to expand, the rest of the pool is scored in screen order while the budget lasts.

    The answer is the contender (scored by every member) with the best full rank ensemble. ``refine`` K makes
    K accuracy reads (reported) and answers with the best read: ``refine_strategy="local"`` (the default
    here) keeps 15% of the budget back from the stages (their shares above are then of the other 85%),
    reads the top ceil(K/4) contenders, then hill-climbs on the reads through one-edit neighbourhoods in
    ensemble order, scoring missing neighbours while the budget lasts (``refine.refine``); ``"top"`` reads
    the top K contenders. With ``evaluator="train"`` and a time budget, the last half of the budget
    (``refine.TRAIN_SHARE``) is kept for the reads' training, besides the 15% of local scoring (the stages get
    35%, neighbours are scored until the half-way mark). ``objectives`` returns the front of the contenders, and
    spreads the search over the first cost objective: the screen takes the pool's archs from 10 cost quantile bins
    in turn, each bin in the pool-wide NSGA-II order of (cheap score, cost) (``nsga_order``: earlier fronts first,
    each front's ends and sparse parts before its crowded ones), and the local stage expands every contender on the
    front of (ensemble score, cost) in the same order. Raises UserError for a bad proxy, budget or
    constraint (before any scoring)."""
    if pool is not None and pool < 1:
        raise UserError(f"--pool must be at least 1, not {pool}")
    if budget is None and time_budget is None:
        time_budget = DEFAULT_SECONDS
    rng = rng_for(seed)
    t_start = time.perf_counter()  # set-up (data, tables) counts against the time
    cons, refining = _setup(space, kw, seed, local_refine=True)
    # local refinement scores the neighbourhoods it reads within the budget (keep), training reads train within
    # it after that (reads_share, the end of the budget): the stages get the rest
    keep = REFINE_SHARE if refining[2] == "local" else 0.0
    full_budget, full_seconds = budget, time_budget
    budget = None if budget is None else max(1, math.floor(budget * (1 - keep)))
    label_free_seconds = _reserve_reads(time_budget, refining, t_start)
    reads_share = 0.0 if time_budget is None else 1 - label_free_seconds / time_budget
    time_budget = None if time_budget is None else time_budget * (1 - keep - reads_share)
    limit = Budget(budget, time_budget, label="funnel", start=t_start, given=full_seconds)
    members = _Members(space, proxy, seed, _scorer_kwargs(kw))
    cost = None  # Pareto mode: the first cost objective spreads the screen and picks the leaders
    if cons.objectives:
        cost_key = next(objective_key(o) for o in cons.objectives if o[0] != "score")

        def cost(a):
            return cons.metrics(a)[cost_key]
    t0 = limit.t0
    traj: list[dict] = []

    def phase_over(share: float) -> bool:
        """Whether the stages up to cumulative share ``share`` have used their part: of the time, or (for the
        screen) of the full-ensemble evaluations, which the pool's cheap screen does not spend."""
        if limit.exhausted:
            return True
        if time_budget is not None and time.perf_counter() - t0 >= share * time_budget:
            return True
        return (budget is not None and share > POOL_SHARE
                and limit.used >= budget * (share - POOL_SHARE) / (1 - POOL_SHARE))

    def record(stage: str):
        lead = members.leaders(1)
        if lead:
            traj.append({"evaluation": limit.used, "stage": stage, "contenders": len(members.full),
                         "arch": space.format(lead[0])})

    # 1. pool: cheap screen of distinct random archs (canonical keys: isomorphs are one network)
    pool_archs, pool_keys, seen_keys = [], [], set()  # (pool_keys: the pool's canonical keys, in its order)
    cap = pool if pool is not None else (budget * 20 if budget is not None else None)
    misses = 0
    while not phase_over(POOL_SHARE) and (cap is None or len(pool_archs) < cap) and misses < 1000:
        a = cons.sample(rng)
        key = space.canonical(a)
        if key in seen_keys:
            misses += 1
            continue
        misses = 0
        seen_keys.add(key)
        members.screen(a)
        pool_archs.append(a)
        pool_keys.append(key)
        limit.tick()
    # a run of misses says the draws are nearly spent, not that every class was met (rare classes of few strings
    # escape 1000 draws): where the (feasible) space can be listed, its classes not drawn join the pool, in a
    # seeded order, and only then is the pool the whole space
    space_drawn = False
    if misses >= 1000:
        rest = _undrawn_classes(space, cons, seen_keys)
        if rest is not None:
            keys = list(rest)
            for i in rng.permutation(len(keys)):
                if phase_over(POOL_SHARE) or (cap is not None and len(pool_archs) >= cap):
                    break
                members.screen(rest[keys[i]])
                pool_archs.append(rest[keys[i]])
                pool_keys.append(keys[i])
                seen_keys.add(keys[i])
                limit.tick()
            else:
                space_drawn = True
    if not pool_archs:
        raise limit.nothing_evaluated(POOL_SHARE * limit.seconds / full_seconds if full_seconds else None)
    # 2. screen: dear members in cheap-ensemble order (a pure data-free ensemble is complete already)
    cheap_score = members.ranking(pool_archs, members.cheap)
    if cost is None:
        order = np.argsort(-cheap_score, kind="stable")
    else:  # spread over the cost range; within a bin the (screen, cost) front first, its ends first
        costs = [cost(a) for a in pool_archs]
        order = _stratified(nsga_order(cheap_score, costs), costs)
    for i in order:
        if members.full and phase_over(POOL_SHARE + SCREEN_SHARE):
            break
        members.score_all(pool_archs[i])
        limit.spend(replayed=members.replayed)
        if limit.exhausted:
            break
    record("screen")
    # 3. local: best-first over the leaders' one-edit neighbourhoods, cheap screen first. A neighbour is
    # skipped only once scored by every member (or queued here): on NB201 the pool's cheap screen covers
    # nearly every isomorphism class, so skipping the merely screened ones would leave this stage nothing
    expanded: set[str] = set()
    queued = {space.canonical(a) for a in members.full.values()}
    while not limit.exhausted:
        fresh = [a for a in members.leaders(None if cost else LEADERS, cost) if space.format(a) not in expanded]
        if not fresh:
            break
        parent = fresh[0]
        expanded.add(space.format(parent))
        nbrs = []
        for a in _neighbours(space, parent):
            if (cons.active and not cons.feasible(a)) or space.canonical(a) in queued:
                continue
            queued.add(space.canonical(a))
            nbrs.append(a)
        nbrs = [a for a in nbrs if not limit.exhausted and members.screen(a)]
        if not nbrs:
            continue
        # neighbours ranked by the cheap members against the whole pool, so the bar is the pool's, not theirs
        ref = pool_archs + nbrs
        cheap_rank = members.ranking(ref, members.cheap)[len(pool_archs):]
        for j in np.argsort(-cheap_rank, kind="stable"):
            if limit.exhausted:
                break
            members.score_all(nbrs[j])
            limit.spend(replayed=members.replayed)
        record("local")
    # 4. the leaders' neighbourhoods spent with budget left: the rest of the pool in screen order, so a budget
    # that covers a (feasible) space it has listed scores every class of it, not a part and an idle remainder
    done = {space.canonical(a) for a in members.full.values()}
    rest = [i for i in order if pool_keys[i] not in done]
    for i in rest:
        if limit.exhausted:
            break
        members.score_all(pool_archs[i])
        limit.spend(replayed=members.replayed)
    if len(members.full) > len(done):
        record("pool rest")
    limit.close()
    fit = _Fit(members)
    contenders = list(members.full.values())
    protocol = {"proxy": proxy, "members": members.members, "cheap": members.cheap, "dear": members.dear,
                "pool": len(pool_archs), "pool_is_whole_space": space_drawn, "contenders": len(contenders),
                # 1000 draws in a row found no new class: likely all of them, yet not proven (a space not listed)
                "draws_exhausted": misses >= 1000,
                "time_budget": full_seconds,
                "budget": full_budget, "stage_shares": [POOL_SHARE, SCREEN_SHARE, 1 - POOL_SHARE - SCREEN_SHARE],
                "leaders": "the front" if cost else LEADERS, "strata": STRATA if cost else None,
                "pareto_order": "nsga2" if cost else None,
                "label_free": refining[0] is None, "refine_share": keep, "reads_share": reads_share,
                "seconds_per_full_evaluation": round(each := float(np.median(members.full_seconds)), 3),
                # the --time-budget whose screen stage would score 10 archs at this cost (set-up not counted)
                "time_budget_for_10": (round(10 * each / (SCREEN_SHARE * (1 - keep - reads_share)))
                                       if full_seconds is not None and each >= 0.05 else None)}

    # refinement (local strategy) scores neighbours in the rest of the budget but the training reads' share,
    # with the same look-ahead (the reads themselves answer to the evaluator's deadline, the budget's end)
    limit.evaluations = full_budget
    limit.seconds = None if full_seconds is None else full_seconds * (1 - reads_share)
    limit.label = "funnel refine"  # its progress is of the whole budget, the stages' of their share

    def neighbours(arch) -> list:
        """The feasible one-edit neighbours of ``arch`` as contenders, scoring the missing ones while the
        whole budget lasts; a neighbour isomorphic to a contender is that contender (one network, one read)."""
        by_canonical = {space.canonical(a): a for a in members.full.values()}
        out = []
        for a in _neighbours(space, arch):
            if cons.active and not cons.feasible(a):
                continue
            canon = space.canonical(a)
            if canon not in by_canonical and not limit.exhausted:
                members.score_all(a)
                limit.spend(replayed=members.replayed)  # full-ensemble evaluations, as the stages count them
                by_canonical[canon] = a
            if canon in by_canonical:
                out.append(by_canonical[canon])
        return out

    result = _result("funnel", space, contenders, seed, fit, traj, protocol, cons, refining, neighbours)
    limit.close()  # the refinement's scoring may have reopened the progress bar
    result.protocol["full_evaluations"] = limit.used  # archs scored by every member, refinement included
    result.protocol["contenders_after_refine"] = len(members.full)
    return result
