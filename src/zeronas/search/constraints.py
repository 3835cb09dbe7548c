"""Hardware constraints and Pareto objectives for proxy-driven searches.

Constraints (``max_params`` in millions, ``max_flops`` in MFLOPs, ``max_latency`` as ``DEVICE=MS`` from
HW-NAS-Bench) are checked before an architecture is scored, so an infeasible one is never evaluated and can
never be an answer. NB201 params/FLOPs come from the closed form of the data README (it equals the network's
count; ``tests/test_search_constraints.py`` checks it), other spaces, plug-in spaces included, count the built
network (params: every parameter, frozen ones too; FLOPs at the data's input size as the space's table counts them:
macro the convolution/linear multiply-adds of its flops column, the others the ``flops`` proxy's
count), cached per arch. Under any constraint, an arch whose cell output is cut off from its input
(``space.cut_off``: it computes nothing, chance accuracy) is not feasible. No accuracy is read here.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError, exit_trapped, shown

# a draw or mutation that stays infeasible this many times in a row ends the search with an error
MAX_TRIES = 20_000
# outside NB201 (which is checked whole), this many random draws must hold a feasible one before a search
# starts (counting a large space's networks one by one would take minutes)
PLUGIN_PROBE = 300
COSTS = ("params", "flops")
NB201_COSTLY = ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # the ops with FLOPs (none and skip have none)


def nb201_params_flops(arch, dataset: str) -> tuple[float, float]:
    """(params in M, FLOPs in M) of an NB201 arch (C=16, N=5) for ``dataset``: the data README's closed form
    from the op counts, equal to the built network's count and to the NAS-Bench-Suite-Zero columns."""
    n1 = sum(op == "nor_conv_1x1" for op in arch)
    n3 = sum(op == "nor_conv_3x3" for op in arch)
    npool = sum(op == "avg_pool_3x3" for op in arch)
    k = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}[dataset]
    from ..spaces import space

    params = space("nb201").count_params(arch, num_classes=k)
    if dataset == "imagenet16-120":
        flops = 1.993792 + 1.09056 * n1 + 8.95488 * n3 + 0.32256 * npool
    else:
        flops = 7.943872 + 4.36224 * n1 + 35.81952 * n3 + 1.29024 * npool + (0.00576 if k == 100 else 0.0)
    return params / 1e6, flops


# NB201's feasible set per (dataset, bounds, HW table, data folder): 1.5 s to build, asked again by the report
_NB201_FEASIBLE: dict[tuple, tuple[float, frozenset]] = {}


def parse_objectives(text: str, what: str = "--objectives") -> list[tuple[str, str | None]]:
    """``'score,latency:edgegpu'`` or ``['score', 'latency:edgegpu']`` -> [('score', None), ('latency',
    'edgegpu')]. ``score`` (the proxy fitness, maximised) must come with one or more costs (minimised):
    ``params``, ``flops`` or ``latency:DEVICE``. Anything else is a one-line UserError."""
    from ..benchmarks.hwnasbench import DEVICES, check_device

    if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):  # the API's ["score", ...]
        text = ",".join(text)
    if not isinstance(text, str):
        raise UserError(f"{what} takes objectives as text or a list of texts, e.g. 'score,latency:edgegpu' or "
                        f"['score', 'latency:edgegpu'], not {type(text).__name__} {shown(text)}")
    if not text.strip():
        raise UserError(f"{what} is empty; write e.g. score,latency:edgegpu")
    out: list[tuple[str, str | None]] = []
    for item in (t.strip().lower() for t in text.split(",")):
        if item == "score" or item in COSTS:
            obj = (item, None)
        elif item.startswith("latency:"):
            obj = ("latency", check_device(item.split(":", 1)[1], f"device in {what}"))
        else:
            raise UserError(f"{what} {shown(text)}: unknown objective {shown(item)}; use score, params, flops or "
                            f"latency:DEVICE (devices: {', '.join(DEVICES)})")
        if obj in out:
            raise UserError(f"{what} {shown(text)} repeats {shown(item)}")
        out.append(obj)
    if ("score", None) not in out or len(out) < 2:
        raise UserError(f"{what} {shown(text)}: give score and at least one cost, e.g. score,latency:edgegpu")
    return out


def objective_text(key: str) -> str:
    """The inverse of ``objective_key``, as ``--objectives`` writes it: params_M -> params, latency_ms:pixel3 ->
    latency:pixel3."""
    return {"params_M": "params", "flops_M": "flops"}.get(key) or key.replace("latency_ms:", "latency:")


def objective_key(obj: tuple[str, str | None]) -> str:
    """The field a front point stores an objective under: score, params_M, flops_M or latency_ms:DEVICE."""
    name, dev = obj
    return {"score": "score", "params": "params_M", "flops": "flops_M"}.get(name) or f"latency_ms:{dev}"


class Constraints:
    """The feasibility test of a search and the cost metrics of its architectures (cached per arch).

    ``max_params``: millions of parameters; ``max_flops``: MFLOPs; ``max_latency``: ``DEVICE=MS`` strings (or
    a list of them), devices of HW-NAS-Bench (NB201 only); ``objectives``: the costs of a Pareto search, whose
    metrics are computed for every architecture too. ``data``: the dataset whose network is measured
    (``none``/``auto``: CIFAR-10). Errors (unknown device, a bound no architecture meets, latency on a space
    without a table) are one-line UserErrors raised before any scoring."""

    def __init__(self, space, data=None, data_dir=None, max_params=None, max_flops=None, max_latency=None,
                 objectives=None, images_info=None):
        from ..benchmarks.hwnasbench import hw_dataset, latency_bound_texts, parse_latency_bound

        self.space, self.data_dir = space, data_dir
        # the user's own images (their DatasetInfo): params and FLOPs are counted on the network built for their
        # classes and size (NB201's closed forms are per benchmark dataset); latency tables do not apply
        self.images_info = images_info
        if images_info is not None and hasattr(space, "check_input_size"):  # before a network is built to count
            space.check_input_size(images_info.image_size)
        self._form = None  # NB201 on the user's images: its FLOPs' linear form (_nb201_flops_form)
        self.dataset = hw_dataset(data) if images_info is None else images_info.name
        self.max_params = None if max_params is None else float(max_params)
        self.max_flops = None if max_flops is None else float(max_flops)
        self.max_latency: dict[str, float] = {}
        for text in latency_bound_texts(max_latency):
            dev, ms = parse_latency_bound(text)
            if dev in self.max_latency:
                raise UserError(f"--max-latency gives device {dev} twice")
            self.max_latency[dev] = ms
        self.objectives = parse_objectives(objectives) if objectives is not None else None
        devices = set(self.max_latency) | {d for n, d in (self.objectives or []) if n == "latency"}
        self.hw = None
        if devices:
            if space.name != "nb201":
                raise UserError(f"latency bounds and objectives need HW-NAS-Bench, which covers nb201 only, not "
                                f"{space.name}; use --max-params or --max-flops")
            from ..benchmarks.hwnasbench import load_hwnasbench

            self.hw = load_hwnasbench(data_dir)
        self.devices = sorted(devices)
        self.cache: dict[str, dict] = {}
        self.rejected = 0
        self.uncounted: dict[str, str] = {}  # a plug-in arch whose network failed to count -> why (infeasible)
        self.flops_unseen = 0.0  # the largest share of conv/matmul work outside nn modules seen (not counted)
        self.feasible_fraction = None  # of the space (NB201, when constrained)
        self.feasible_strings: frozenset[str] | None = None  # NB201, when constrained: every feasible arch
        self._direct: list[str] | None = None  # set when random draws cannot find them (sample)
        if self.active:
            self._check_some_feasible()

    @property
    def active(self) -> bool:
        """Whether draws are filtered: a bound is given, or an objective's device lacks some measurements."""
        # a plug-in space's objectives too: an arch whose network fails to build has no cost to place
        return (self.max_params is not None or self.max_flops is not None or bool(self.devices)
                or (bool(self.objectives) and getattr(self.space, "plugin", False)))

    @classmethod
    def from_described(cls, space, described: dict, data_dir=None) -> Constraints:
        """The constraints a result recorded (``describe()``'s dict) made again, for reporting: the same
        bounds and objectives, so the same feasible set (NB201: ``feasible_strings``)."""
        objectives = described.get("objectives")
        text = ",".join(map(objective_text, objectives)) if objectives else None
        return cls(space, described.get("dataset"), data_dir, max_params=described.get("max_params_M"),
                   max_flops=described.get("max_flops_M"), max_latency=described.get("max_latency_ms"),
                   objectives=text)

    def describe(self) -> dict:
        """The constraints as the result's protocol records them."""
        out = {"dataset": self.dataset}
        if self.max_params is not None:
            out["max_params_M"] = self.max_params
        if self.max_flops is not None:
            out["max_flops_M"] = self.max_flops
        if self.space.name == "darts" and (self.max_params is not None or self.max_flops is not None
                                           or self.objectives):
            out["counted_network"] = self.counted_network  # DARTS results before 2026-12-03 counted C 16, N 8
        if self.max_latency:
            out["max_latency_ms"] = dict(self.max_latency)
            out["hw_table_sha256"] = self.hw.sha256[:16]
        if self.objectives:
            out["objectives"] = [objective_key(o) for o in self.objectives]
        if self.uncounted:
            out["uncounted_archs"] = len(self.uncounted)
        if self.flops_unseen and (self.max_flops is not None or any(objective_key(o) == "flops_M"
                                                                     for o in self.objectives or ())):
            out["flops_not_counted"] = (f"up to {self.flops_unseen:.0%} of a network's convolution/matrix-product "
                                        "work ran outside nn.Conv2d/nn.Linear modules (functional calls) and is "
                                        "not in its FLOPs")
        if self.feasible_fraction is not None:
            out["feasible_fraction_of_space"] = round(self.feasible_fraction, 6)
        return out

    def metrics(self, arch) -> dict:
        """params_M, flops_M and latency_ms:DEVICE for every device named, of one architecture."""
        key = self.space.format(arch)
        if key not in self.cache:
            if self.space.name == "nb201" and self.images_info is None:
                p, f = nb201_params_flops(self.space.coerce(arch), self.dataset)
            elif self.space.name == "nb201":  # the user's images: the same linear form, fitted to their network
                arch = self.space.coerce(arch)
                p = self.space.count_params(arch, num_classes=self.images_info.num_classes) / 1e6
                f = float(self._nb201_flops_form() @ [1.0, *(sum(op == o for op in arch) for o in NB201_COSTLY)])
            else:
                p, f = self._network_count(arch)
            m = {"params_M": p, "flops_M": f}
            for dev in self.devices:
                m[f"latency_ms:{dev}"] = self.hw.latency_of(key, dev, self.dataset)
            self.cache[key] = m
        return self.cache[key]

    def _nb201_flops_form(self) -> np.ndarray:
        """[c0, c_1x1, c_3x3, c_pool]: NB201 MFLOPs for the user's images are c0 + the sum of each op's count
        times its c (the cell repeats, so an op costs the same on every edge; none and skip_connect cost
        nothing), as ``nb201_params_flops``'s closed forms are for the benchmark datasets. Counted on four
        built networks (no op, then one of each costly op) and checked on a fifth, so all 15,625 archs are
        bounded in well under a second."""
        if self._form is None:
            def counted(ops):
                return self._network_count(tuple(ops) + ("none",) * (6 - len(ops)))[1]

            base = counted(())
            form = np.array([base, *(counted((op,)) - base for op in NB201_COSTLY)])
            check = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none")
            predicted = form @ [1.0, *(sum(op == o for op in check) for o in NB201_COSTLY)]
            if not math.isclose(predicted, counted(check), rel_tol=1e-9):  # a counter change would break the form
                raise RuntimeError(f"NB201 FLOPs are not linear in the op counts at {self.images_info.image_size}px")
            self._form = form
        return self._form

    def _network_count(self, arch) -> tuple[float, float]:
        import torch

        from ..counting import count_flops, count_flops_detail, count_params
        from ..data.datasets import dataset_info

        info = self.images_info or dataset_info(self.dataset)
        size = info.image_size
        x = torch.zeros(1, 3, *((size, size) if isinstance(size, int) else size))
        if not getattr(self.space, "plugin", False):
            shape = self.counted_network
            if callable(getattr(self.space, "count", None)) and isinstance(size, int):  # DARTS: a closed sum
                p, f = self.space.count(arch, num_classes=info.num_classes, image_size=size, **shape)
                return p / 1e6, f / 1e6
            model = self.space.build(arch, num_classes=info.num_classes, **shape)
            # FLOPs as the space's benchmark table counts them, so a bound reads like its column
            return count_params(model) / 1e6, count_flops(model, x, macs_only=self.space.name == "macro") / 1e6
        try:  # a user's space: an arch whose build or forward fails is infeasible (the search goes on, as it
            # does when scoring it fails), and said in one line if none can be counted
            with exit_trapped():
                model = self.space.build(arch, num_classes=info.num_classes)
                flops, unseen = count_flops_detail(model, x)
                if unseen:  # compute the count leaves out (functional convs/matmuls): said in the result
                    self.flops_unseen = max(self.flops_unseen, unseen / (flops + unseen))
                return count_params(model) / 1e6, flops / 1e6
        except Exception as exc:  # noqa: BLE001
            why = " ".join(str(exc).split())[:200]
            self.uncounted[self.space.format(arch)] = (f"build or forward at {info.image_size}px raised "
                                                       f"{type(exc).__name__}: {why}")
            return math.nan, math.nan

    @property
    def counted_network(self) -> dict:
        """The width and depth of the network params/FLOPs are counted on: for a space with a training recipe,
        the one ``zeronas train`` and ``export`` build (DARTS: 36 channels, 20 cells, as DARTS reports its
        params); otherwise ({}) the space's own build (a benchmark's network, a plug-in's)."""
        from ..train import RECIPES

        recipe = RECIPES.get(self.space.name) if not getattr(self.space, "plugin", False) else None
        return {k: v for k, v in (("C", recipe.C), ("N", recipe.N)) if v is not None} if recipe is not None else {}

    def feasible(self, arch) -> bool:
        """Within every bound, and (Pareto mode) measured on every objective's device: an arch HW-NAS-Bench
        did not measure cannot be placed on a front."""
        m = self.metrics(arch)
        if any(math.isnan(m[f"latency_ms:{d}"]) for d in self.devices):
            return False
        if math.isnan(m["params_M"]) or math.isnan(m["flops_M"]):  # a plug-in network that failed to count
            return False
        cut_off = getattr(self.space, "cut_off", None)
        if cut_off is not None and cut_off(arch):  # the cheapest archs of all: a bound must not leave only these
            return False
        if self.max_params is not None and not m["params_M"] <= self.max_params:
            return False
        if self.max_flops is not None and not m["flops_M"] <= self.max_flops:
            return False
        return all(m[f"latency_ms:{d}"] <= ms for d, ms in self.max_latency.items())

    def _violation(self) -> str:
        parts = []
        if self.max_params is not None:
            parts.append(f"--max-params {self.max_params:g}")
        if self.max_flops is not None:
            parts.append(f"--max-flops {self.max_flops:g}")
        parts += [f"--max-latency {d}={ms:g}" for d, ms in self.max_latency.items()]
        parts += [f"a measured {d} latency" for d in self.devices if d not in self.max_latency]
        return " and ".join(parts)

    def _check_some_feasible(self):
        """NB201: refuse bounds that no architecture of the space meets, naming the least value there is
        (all 15,625 archs are checked: well under a second). Any other space (NB101, DARTS, Macro, a plug-in
        one), whose networks are built to be counted: refuse bounds that none of PLUGIN_PROBE seeded random
        draws meets, naming the least value seen (the draws stop at the first feasible one, use their own
        generator, so the search's draws are unchanged, and stay cached)."""
        if self.space.name != "nb201":
            rng = np.random.default_rng(0)
            for _ in range(PLUGIN_PROBE):
                if self.feasible(self.space.sample(rng)):
                    return
            counted = [m for m in self.cache.values() if not math.isnan(m["params_M"])]
            if not counted:
                arch, why = next(iter(self.uncounted.items()))
                raise UserError(f"none of {PLUGIN_PROBE} random {self.space.name} architectures could be counted "
                                f"for {self._violation() or '--objectives'}: e.g. {shown(arch)}: {why}")
            least = {k: min(m[k] for m in counted) for k in ("params_M", "flops_M")}
            raise UserError(f"none of {PLUGIN_PROBE} random {self.space.name} architectures meets "
                            f"{self._violation()} (the least seen: params_M {least['params_M']:.4g}, flops_M "
                            f"{least['flops_M']:.4g}): none may exist, or too few for random draws to find; "
                            f"loosen the bound")
        # everything feasible() reads: the bounds, the objectives' devices (unmeasured archs are left out), the
        # tables; never cached for the user's own images (their class count and size change the counts)
        key = (self.dataset, self.max_params, self.max_flops, tuple(sorted(self.max_latency.items())),
               tuple(self.devices), self.hw.sha256 if self.hw is not None else None, str(self.data_dir))
        if self.images_info is None and key in _NB201_FEASIBLE:  # the report asks again for the search's own
            self.feasible_fraction, self.feasible_strings = _NB201_FEASIBLE[key]
            return
        archs = list(self.space.enumerate())
        ok = np.array([self.feasible(a) for a in archs])
        self.feasible_fraction = float(ok.mean())
        self.feasible_strings = frozenset(self.space.format(a) for a, keep in zip(archs, ok) if keep)
        if ok.any():
            if self.images_info is None:
                _NB201_FEASIBLE[key] = (self.feasible_fraction, self.feasible_strings)
        else:
            live = [self.metrics(a) for a in archs if not self.space.cut_off(a)]
            least = {k: min((m[k] for m in live if not math.isnan(m[k])), default=math.nan) for k in live[0]}
            have = ", ".join(f"{k} {v:.4g}" for k, v in least.items())
            raise UserError(f"no nb201 architecture meets {self._violation()} with its cell output connected to its "
                            f"input (the least in the space: {have}; cut-off cells compute nothing)")
        self.cache.clear()

    def sample(self, rng):
        """A feasible random architecture: the space's draws, skipping infeasible ones (uniform over the
        feasible set; with no constraint, exactly the space's own draw sequence). Where ``MAX_TRIES`` draws in
        a row miss a feasible set that is known in full (NB201: ``feasible_strings``, a few archs of 15,625),
        this and every later draw pick uniformly from that set instead."""
        if self._direct is not None:
            return self.space.parse(self._direct[int(rng.integers(len(self._direct)))])
        for _ in range(MAX_TRIES):
            a = self.space.sample(rng)
            if not self.active or self.feasible(a):
                return a
            self.rejected += 1
        if self.feasible_strings:  # too few for random draws to meet, yet known: drawn from directly
            self._direct = sorted(self.feasible_strings)
            return self.sample(rng)
        if not self._violation():  # a plug-in's objectives only: its draws' networks failed to count
            raise UserError(f"{MAX_TRIES} random {self.space.name} architectures in a row could not be counted "
                            f"(e.g. {next(reversed(self.uncounted.values()), 'cut off')}); fix the space's build")
        raise UserError(f"{MAX_TRIES} random architectures in a row broke {self._violation()}; loosen the bound")

    def mutate(self, parent, rng):
        """A feasible one-edge mutation of ``parent``; after 100 infeasible ones, a feasible random draw."""
        for _ in range(100):
            a = self.space.mutate(parent, rng)
            if not self.active or self.feasible(a):
                return a
            self.rejected += 1
        return self.sample(rng)


def dominates(a, b) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (tuples to maximise)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_ranks(points: list[tuple]) -> list[int]:
    """Non-domination rank of each point (0 = on the front; tuples to maximise), NSGA-II style peeling
    (Deb et al. 2002). Two objectives take an O(n log n) sweep (a funnel pool holds thousands of archs); more
    take the O(n^2) peel."""
    points = _nan_worst(points)
    if points and all(len(p) == 2 for p in points):
        return _pareto_ranks_2d(points)
    left = set(range(len(points)))
    ranks = [0] * len(points)
    r = 0
    while left:
        front = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = r
        left -= front
        r += 1
    return ranks


def _nan_worst(points: list[tuple]) -> list[tuple]:
    """The points with every NaN coordinate made -inf (worst when maximising), so that NaN compares, and ranks
    the same in every dominance helper, whatever the number of objectives."""
    return [tuple(-math.inf if v != v else v for v in p) for p in points]


def _pareto_ranks_2d(points: list[tuple]) -> list[int]:
    """``pareto_ranks`` of 2-tuples: a sweep in decreasing (x, y). A point's rank is the first rank none of
    whose members seen so far dominates it; being dominated by rank k implies by every rank below k
    (dominance is transitive), so the rank is found by bisection. Per rank it keeps the largest y seen and
    the x of its first holder (the largest x with that y), which decides dominance: y' > y, or y' = y and
    x' > x (equal points do not dominate each other). ``points`` have no NaN (``pareto_ranks`` made it -inf)."""
    pts = points
    ranks = [0] * len(pts)
    top_y: list[float] = []
    top_x: list[float] = []
    for i in sorted(range(len(pts)), key=lambda i: (-pts[i][0], -pts[i][1])):
        x, y = pts[i]
        lo, hi = 0, len(top_y)
        while lo < hi:  # first rank that does not dominate (x, y)
            mid = (lo + hi) // 2
            if top_y[mid] > y or (top_y[mid] == y and top_x[mid] > x):
                lo = mid + 1
            else:
                hi = mid
        ranks[i] = lo
        if lo == len(top_y):
            top_y.append(y)
            top_x.append(x)
        elif y > top_y[lo]:
            top_y[lo], top_x[lo] = y, x
    return ranks


def crowding_distances(points: list[tuple], ranks: list[int]) -> list[float]:
    """NSGA-II crowding distance of each point within its rank (Deb et al. 2002, section III-B): the sum over
    objectives of the gap between its two neighbours along that objective, divided by the rank's range; a
    rank's two extremes per objective (and any rank of one or two points) get ``inf``. Larger means a sparser
    part of the front; values in [0, inf]. NaN counts as -inf; the range is taken over a rank's finite values,
    and a gap to an infinite neighbour is ``inf``."""
    points = _nan_worst(points)
    dist = [0.0] * len(points)
    by_rank: dict[int, list[int]] = {}
    for i, r in enumerate(ranks):
        by_rank.setdefault(r, []).append(i)
    for members in by_rank.values():
        for k in range(len(points[members[0]])):
            order = sorted(members, key=lambda i: points[i][k])
            dist[order[0]] = dist[order[-1]] = math.inf
            finite = [points[i][k] for i in order if math.isfinite(points[i][k])]
            span = finite[-1] - finite[0] if finite else 0.0
            for a, i, b in zip(order, order[1:], order[2:]):
                gap = points[b][k] - points[a][k]
                dist[i] += math.inf if not math.isfinite(gap) else gap / span if span > 0 else 0.0
    return dist


def non_dominated(points: list[tuple]) -> list[int]:
    """Indices of the points no other point dominates (tuples to maximise; NaN counts as worst); duplicates all
    stay."""
    points = _nan_worst(points)
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


def hypervolume_2d(acc, cost, ref_acc: float, ref_cost: float) -> float:
    """Area dominated by the points (accuracy maximised, cost minimised) and bounded by the reference point
    (ref_acc, ref_cost); points worse than the reference in either coordinate add nothing."""
    pts = sorted((c, a) for a, c in zip(acc, cost) if a > ref_acc and c < ref_cost)
    area, best = 0.0, ref_acc
    for c, a in pts:  # cheapest first: each point adds the strip of accuracy above the best cheaper one
        if a > best:
            area += (ref_cost - c) * (a - best)
            best = a
    return area


def front_points(space, archs, scores, constraints: Constraints) -> list[dict]:
    """The non-dominated archs by (score, costs of the objectives), one entry per arch string, cheapest by the
    first cost first. ``scores``: the fitness of each arch (higher is better); NaN/-inf counts as worst."""
    objs = constraints.objectives
    rows, seen = [], set()
    for a, s in zip(archs, scores):
        key = space.format(a)
        m = constraints.metrics(a)
        same = (space.canonical(a), tuple(sorted(m.items())))  # an isomorph at the same costs is the same point
        if key in seen or same in seen:
            continue
        seen.update((key, same))
        rows.append({"arch": key, "canonical": space.canonical(a),
                     "score": float(s) if math.isfinite(s) else -math.inf, **m})
    keys = [objective_key(o) for o in objs]
    vecs = [tuple(r[k] if k == "score" else -r[k] for k in keys) for r in rows]
    front = [rows[i] for i in non_dominated(vecs)]
    cost0 = next(k for k in keys if k != "score")
    return sorted(front, key=lambda r: (r[cost0], -r["score"]))
