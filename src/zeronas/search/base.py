"""Shared search machinery: the result object, benchmark lookup, the strategy registry."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataNotFound, UserError, shown
from ..precision import ieee_float32

_STRATEGIES: dict[str, Callable] = {}
_SPACES: dict[str, tuple[str, ...]] = {}


_FORWARDS: dict[str, tuple[str, ...]] = {}
# keywords every search takes: the seed, and where the benchmark table lies (to report the answer's accuracy)
COMMON_KEYWORDS = ("seed", "data_dir", "preset")
PRESETS = ("cpu", "paper")
# preset "cpu" (the default): settings under which a search with no other option finishes within 5 minutes
# on a 2-core CPU (the reduced rows of docs/search_results.md); options given explicitly always win, and
# preset "paper" keeps the papers' settings (each strategy's own defaults). NB201 only: on DARTS even
# reduced supernet searches take 10-30 minutes on this CPU (docs/darts_searches.md).
# NAS-Bench-Macro's zero-cost-pt preset: a C=8 supernet, about a minute (docs/das_spaces.md).
CPU_PRESETS = {
    ("nb201", "zero-cost-pt"): {"pool": 5, "validate": 10, "C": 8, "N": 1, "batch_size": 64},
    ("macro", "zero-cost-pt"): {"pool": 5, "validate": 10, "C": 8, "batch_size": 64},
    ("nb201", "te-nas"): {"repeat": 1, "batch_size": 16, "C": 8, "N": 1},
    ("nb201", "teg-rea"): {"repeat": 1, "budget": 30, "population": 10, "tournament": 3},
    ("nb201", "teg-reinforce"): {"repeat": 1, "budget": 30},
}


def check_preset(space_name: str, method: str, kwargs: dict) -> None:
    """The preset and the options it fills, checked before any work (``search``, and the driver of parallel
    runs before it makes their store): an unknown preset, ``paper`` where no cpu preset exists (recorded, yet
    nothing would change), zero-cost-pt's ``validate`` with one proposal (nothing to rank). UserError."""
    preset = kwargs.get("preset", "cpu")
    if preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    if preset == "paper" and (space_name, method) not in CPU_PRESETS:
        reduced = ", ".join(f"{m} on {s}" for s, m in CPU_PRESETS)
        raise UserError(f"--preset paper changes nothing for --method {method} on {space_name}: it runs the paper's "
                        f"settings already (the cpu preset reduces only {reduced}); drop --preset")
    if method == "zero-cost-pt" and kwargs.get("pool") == 1 and kwargs.get("validate") is not None:
        raise UserError("--validate ranks zero-cost-pt's --pool proposals on V batches; with --pool 1 there is one "
                        "proposal and nothing to rank: raise --pool or drop --validate")


def register_strategy(name: str, spaces: tuple[str, ...] = ("nb201",), forwards: tuple[str, ...] = ()):
    """Register a search strategy for the spaces it has been implemented and tested on. ``forwards``: the
    keywords a strategy takes through ``**kw`` and hands on (to a scorer or evaluator); with its named
    parameters they are the keywords it accepts, and any other keyword is refused."""

    def deco(fn):
        _STRATEGIES[name] = fn
        _SPACES[name] = spaces
        _FORWARDS[name] = tuple(forwards)
        return fn

    return deco


def strategy_keywords(method: str) -> tuple[str, ...]:
    """Every keyword ``search(method=...)`` accepts: the strategy's named parameters, what it forwards, and
    the common ones (seed, data_dir)."""
    import inspect

    _load()
    if method not in _STRATEGIES:
        raise UserError(f"unknown search method {shown(method)}; choose one of: {', '.join(sorted(_STRATEGIES))}")
    params = inspect.signature(_STRATEGIES[method]).parameters
    named = [p for p, v in params.items() if p != "space" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
    return tuple(dict.fromkeys([*COMMON_KEYWORDS, *named, *_FORWARDS[method]]))


def list_strategies() -> list[str]:
    _load()
    return sorted(_STRATEGIES)


def _load():
    from . import freedarts, funnel, perturb, prune, sample, teg  # noqa: F401


EVALUATION_UNITS = {m: "archs scored" for m in ("sample", "random", "rea", "das")} | {
    "funnel": "archs screened", "te-nas": "supernet measurements", "zero-cost-pt": "proxy evaluations",
    "freedarts": "supernet rounds", "teg-rea": "evaluator calls", "teg-reinforce": "evaluator calls"}


@dataclass
class SearchResult:
    """What ``zeronas.search(...)`` returns (``to_dict()``: what ``--out`` writes as result.json).

    ``arch``: the answer's string (``canonical``: its isomorphism class's); ``seconds``: wall seconds of the whole
    search; ``evaluations``: what the method counts, named by ``evaluations_unit``: for sample, random, rea and das
    the distinct architectures scored (a repeat is read from the cache); funnel: the archs its cheap screen scored
    (``protocol["full_evaluations"]``: those scored by the whole ensemble); te-nas: supernet measurements;
    zero-cost-pt: proxy evaluations of the supernet and of candidates; freedarts: supernet rounds; teg-*: evaluator
    calls, repeats included; ``proxy_values``: the answer's value per proxy; ``benchmark``: the answer's benchmark
    record, looked up after the search answered (never read by it): on NB201 ``cifar10``, ``cifar100``,
    ``imagenet16-120`` (200-epoch test accuracy, percent, seed mean), ``cifar10_percentile`` and, under constraints,
    ``feasible``; on other spaces ``target`` and its value under ``cifar10``; empty without a table. ``trajectory``:
    the method's progress rows; for sample, random, rea and das one per draw (``draw``: its number, repeats
    included, as ``--budget`` counts them; ``evaluation``: the distinct archs scored by then) with the best so
    far (``arch``, ``best_fitness``; for a rank ensemble both on its final ranking over every arch evaluated, so
    the column never falls), for funnel one per stage, for teg-rea the best of the current population, for the supernet
    methods the rounds; ``cifar10`` is the row's arch's accuracy (on other spaces than NB201 the table's ``target``
    column, e.g. NB101's ``val_acc``), None where the table lacks the arch; ``protocol``: the settings
    and the scorer's protocol; ``accuracy_reads``, ``front`` and ``constraints`` are described where they are
    declared below."""

    method: str
    space: str
    arch: str
    canonical: str
    seed: int
    seconds: float
    evaluations: int
    proxy_values: dict = field(default_factory=dict)
    benchmark: dict = field(default_factory=dict)
    trajectory: list = field(default_factory=list)
    protocol: dict = field(default_factory=dict)
    # accuracy values of the searched space the search read to choose its answer (0: label-free); the
    # benchmark block, filled in afterwards for reporting, is not counted
    accuracy_reads: int = 0
    # Pareto mode: the non-dominated archs by (score, costs), cheapest first, each with its metrics
    front: list = field(default_factory=list)
    # hardware bounds and objectives as applied, with the answer's metrics (empty: none given)
    constraints: dict = field(default_factory=dict)
    # the network the search scored: num_classes, input_size (N or [H, W]) and its data (a dataset's name,
    # "folder:NAME" with its source, or None when data-free), so an export builds the same head and input
    network: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def __repr__(self) -> str:  # the fields a person reads first; to_dict() holds everything
        acc = self.benchmark.get("cifar10")
        acc = f", cifar10={acc:.2f}" if isinstance(acc, float) and math.isfinite(acc) else ""
        return (f"SearchResult(method={self.method!r}, space={self.space!r}, arch={self.arch!r}, seed={self.seed}"
                f"{acc}, evaluations={self.evaluations}, accuracy_reads={self.accuracy_reads}, "
                f"seconds={self.seconds:.1f}{f', front={len(self.front)} archs' if self.front else ''})")

    @property
    def evaluations_unit(self) -> str:
        """What ``evaluations`` counts, in words (see the class docstring)."""
        return EVALUATION_UNITS.get(self.method, "evaluations")

    @property
    def stands_in_for(self) -> str | None:
        """The dataset whose missing images CIFAR-10 replaced in this search, wherever its method records its
        data protocol (a scorer's, a supernet context's, the method's own), or None."""
        def find(obj):
            if isinstance(obj, dict):
                if isinstance(obj.get("stands_in_for"), str):
                    return obj["stands_in_for"]
                return next((f for v in obj.values() if (f := find(v)) is not None), None)
            return None

        return find(self.protocol)


# the searches driven by a proxy's Scorer, which takes the user's own images; the supernet methods, hardware
# bounds (per-dataset tables and networks) and refinement (a dataset's accuracy) read a named dataset
USER_DATA_METHODS = ("funnel", "sample", "rea", "random", "das")
NAMED_DATA_KEYWORDS = ("max_latency", "refine")  # params/FLOPs bounds count the network built for the images


def check_user_data(method: str, kwargs: dict, cli: bool = False) -> None:
    """Refuse, in one line, the user's own images (``data=`` an image folder, arrays or a torch dataset) where
    the search needs a named dataset: the supernet methods, latency (bounds or objectives) and ``refine``;
    params/FLOPs bounds count the network built for the images (on NB201 by a linear form fitted to it)."""
    from ..scoring import is_user_data

    if not is_user_data(kwargs.get("data")):
        return
    opt = (lambda k: "--" + k.replace("_", "-")) if cli else (lambda k: k + "=")
    if method not in USER_DATA_METHODS:
        raise UserError(f"{opt('data')} with your own images drives the proxy searches "
                        f"({', '.join(USER_DATA_METHODS)}); {method} reads a named dataset: give cifar10, cifar100 "
                        "or ImageNet16-120")
    named = [k for k in NAMED_DATA_KEYWORDS if kwargs.get(k) not in (None, [], ())]
    from ..data.custom import is_image_folder

    if "refine" in named and kwargs.get("evaluator") == "train" and is_image_folder(kwargs.get("data")):
        named.remove("refine")  # its reads train on the folder's images (zeronas train takes a folder)
    if "latency" in str(kwargs.get("objectives") or ""):
        named.append("objectives")
    if named:
        why = ("its accuracy reads are a benchmark dataset's; --evaluator train reads an image folder by "
               "training on it" if named[0] == "refine" else
               "HW-NAS-Bench's latencies are per benchmark dataset")
        raise UserError(f"{opt(named[0])} needs a named dataset ({why}), not your own images: give {opt('data')} "
                        f"cifar10, cifar100 or ImageNet16-120, or drop {opt(named[0])}")


def benchmark_info(space, arch, data_dir=None) -> dict:
    """The answer's accuracy in the space's benchmark table: test accuracy on the three NB201 datasets, or the
    CIFAR-10 target of NAS-Bench-Macro / -101 / -301 (``target`` names the column: NB301's is the surrogate's
    prediction), each with its percentile in the table (percent of the table's archs below it, 0-100).
    NB101 and NB301 answers are matched up to isomorphism (NB101: the benchmark's graph hash; NB301: node
    input order), the first such row standing for the class; ``matched`` says how. ``{}`` when the space has
    no table or it is not found; ``{"in_table": False}`` when the table (a sample of its space for NB101 and
    NB301) lacks the arch. A damaged table raises its one-line UserError."""
    from ..benchmarks import GROUND_TRUTH

    if space.name not in GROUND_TRUTH:
        return {}
    try:
        table = GROUND_TRUTH[space.name](data_dir)
    except DataNotFound:
        return {}
    key = space.format(arch)
    # NB101/NB301 tables hold one labelling per cell: match those up to isomorphism
    up_to_iso = space.name in ("nb101", "nb301")
    i = table.find(key, (lambda s: space.canonical(space.parse(s))) if up_to_iso else None)
    if i is None:
        return {"in_table": False}
    matched = "exact" if table.arch_str[i] == key else "isomorph"
    out = {"index": i, "table_sha256": table.sha256[:16], "matched": matched}
    if space.name == "nb201":
        columns = (("cifar10", "cifar10_test_acc"), ("cifar100", "cifar100_test_acc"),
                   ("imagenet16-120", "imagenet16_120_test_acc"))
    else:
        columns = (("cifar10", table.target_column("cifar10")),)
        out["target"] = columns[0][1]
    for ds, col in columns:
        acc = table.column(col)
        out[ds] = float(acc[i])
        held = acc[~np.isnan(acc)]  # a partial converted table has NaN rows: the answer's may be one of them
        out[f"{ds}_percentile"] = (float((held < acc[i]).mean() * 100) if held.size and not np.isnan(acc[i])
                                   else math.nan)
    return out


def feasible_info(space, result, data_dir=None) -> dict:
    """Under bounds (NB201): the answer's place among the table's feasible archs only, the set it was chosen
    from: ``feasible`` = {archs, per dataset: percentile (percent of feasible archs below the answer) and
    best (the best feasible accuracy)}. ``{}`` without a bound. Reporting, after the search has answered."""
    c = result.constraints or {}
    bounds = {"max_params": c.get("max_params_M"), "max_flops": c.get("max_flops_M"),
              "max_latency": c.get("max_latency_ms")}
    if not any(v is not None for v in bounds.values()):
        return {}
    from ..data.datasets import DATASETS

    if c.get("dataset") not in DATASETS:  # bounds counted on the user's images: another feasible set
        return {}
    from ..benchmarks.nb201 import load_nb201
    from .constraints import Constraints

    feasible = Constraints.from_described(space, c, data_dir).feasible_strings  # the search's own set
    table = load_nb201(data_dir)
    ok = np.array([s in feasible for s in table.arch_str])
    out = {"archs": int(ok.sum())}
    for ds, col in (("cifar10", "cifar10_test_acc"), ("cifar100", "cifar100_test_acc"),
                    ("imagenet16-120", "imagenet16_120_test_acc")):
        acc = table.column(col)[ok]
        acc = acc[~np.isnan(acc)]
        out[ds] = {"percentile": float((acc < result.benchmark[ds]).mean() * 100), "best": float(acc.max())}
    return {"feasible": out}


_PROGRESS = {"enabled": False, "stream": None, "every": 30.0}


def show_progress(enabled: bool = True, stream=None, every: float = 30.0):
    """Have searches report progress with an ETA on ``stream`` (default stderr): a bar on a terminal, a plain
    line every ``every`` seconds otherwise. The CLI turns it on; library calls stay quiet unless asked."""
    _PROGRESS.update(enabled=enabled, stream=stream, every=every)


class Budget:
    """Stops a search after ``evaluations`` proxy evaluations or ``seconds`` of wall time, and shows its
    progress (the fraction of whichever budget runs out first) with an ETA when ``show_progress`` is on."""

    def __init__(self, evaluations: int | None = None, seconds: float | None = None, label: str = "search",
                 start: float | None = None, given: float | None = None):
        if evaluations is not None and evaluations < 1:
            raise UserError(f"--budget must be at least 1 evaluation, not {evaluations}")
        if seconds is not None and seconds <= 0:
            raise UserError(f"--time-budget must be positive, not {seconds}")
        self.evaluations, self.seconds = evaluations, seconds
        # given: the user's --time-budget, where a search keeps part of it for later (reads); start: the
        # search's first perf_counter() instant, so that its set-up counts against the time
        self.given = seconds if given is None else given
        self.t0 = time.perf_counter() if start is None else start
        self.used = 0
        self.label = label
        self._bar = None
        self._last = self.t0
        self._prev = self._cost = None
        self._mark = None  # when ``exhausted`` last let the search go on: the first evaluation began there
        self._replays = False  # some evaluations were read back (no time spent): the mean rate means nothing

    def nothing_evaluated(self, share: float | None = None, given: float | None = None) -> UserError:
        """The error of a search that made no evaluation, saying why: with a time budget, how long the set-up
        took against the ``share`` of the ``given`` seconds (default: ``self.given``, and the share this
        budget's seconds are of it) its first stage had, and a time budget that would leave room (the set-up
        again, plus as much for evaluations)."""
        if self.seconds is None:
            return UserError("the budget allowed no evaluation; raise --budget")
        given = self.given if given is None else given
        share = self.seconds / given if share is None else share
        spent = time.perf_counter() - self.t0
        stage = f"the first stage's {share:.0%} of " if share < 1 else ""
        enough = 5 * math.ceil(2 * spent / share / 5)
        return UserError(f"the time budget allowed no evaluation: the set-up (images, networks, tables) took "
                         f"{spent:.1f} s of {stage}the {given:g} s given; raise --time-budget to {enough} s or more")

    def fraction(self) -> float:
        """How much of the budget is spent, 0..1 (the larger of the evaluation and the time share)."""
        parts = []
        if self.evaluations is not None:
            parts.append(self.used / self.evaluations)
        if self.seconds is not None:
            parts.append((time.perf_counter() - self.t0) / self.seconds)
        return min(1.0, max(parts, default=0.0))

    def spend(self, n: int = 1, replayed: bool = False):
        """Count ``n`` evaluations; ``replayed``: read back from a store (they take no time, so they count
        toward the budget but not toward the going cost that the ETA and the deadline use)."""
        now = time.perf_counter()
        if replayed:
            self._prev = now  # the next computed evaluation is timed from here
            self._replays = True
        elif self._prev is not None:  # the going cost of one evaluation (with the work between evaluations)
            dt = (now - self._prev) / n
            self._cost = dt if self._cost is None else 0.7 * self._cost + 0.3 * dt
        elif self._mark is not None:  # the first: timed from the check that let it start (a 5 s NB101
            self._cost = (now - self._mark) / n  # evaluation no longer lets a second one start at 0 s cost)
        self._prev = now
        self.used += n
        self.tick()

    def eta(self, now: float | None = None) -> float:
        """Seconds left: the remaining evaluations at their going cost (evaluations read back from a store, as
        after a resume, do not make it look cheap), capped by the time left; else by the share of the budget
        spent so far."""
        now = time.perf_counter() if now is None else now
        parts = []
        if self.evaluations is not None and self._cost is not None:
            parts.append(max(0, self.evaluations - self.used) * self._cost)
        if self.seconds is not None:
            parts.append(max(0.0, self.seconds - (now - self.t0)))
        if parts:
            return min(parts)
        f = self.fraction()
        return (now - self.t0) * (1 - f) / f if f > 0 and not self._replays else math.inf

    def tick(self):
        """Refresh the progress display (at most 5 times a second)."""
        if not _PROGRESS["enabled"]:
            return
        import sys

        now = time.perf_counter()
        stream = _PROGRESS["stream"] or sys.stderr
        if self._bar is None and stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn(self.label), BarColumn(), TextColumn("{task.fields[evals]} evals"),
                                 TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                                 console=Console(file=stream, emoji=False), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=1000, evals=0, eta="?")
        if self._bar is not None:
            if now - self._last >= 0.2:
                self._last = now
                eta = self.eta(now)
                self._bar.update(self._task, completed=int(1000 * self.fraction()), evals=self.used,
                                 eta=_clock(eta))
        elif now - self._last >= _PROGRESS["every"]:
            self._last = now
            f, spent, eta = self.fraction(), now - self.t0, self.eta(now)
            eta_text = f"{eta:.0f}s" if math.isfinite(eta) else "?"
            print(f"{self.label}: {100 * f:.0f}% of the budget, {self.used} evaluations, {spent:.0f}s elapsed, "
                  f"ETA {eta_text}", file=stream, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    @property
    def exhausted(self) -> bool:
        """Out of evaluations, or out of time: no evaluation starts that would, at its going cost, end
        after the deadline (so the budget is honoured, not overrun by the last one)."""
        if self.evaluations is not None and self.used >= self.evaluations:
            return True
        now = time.perf_counter()
        self._mark = now
        if self.seconds is None:
            return False
        return now - self.t0 + (self._cost or 0.0) >= self.seconds


def _clock(seconds: float) -> str:
    """H:MM:SS (hours past 24 too), or '?' when not known."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def check_method_on_space(sp, method: str) -> None:
    """A one-line UserError when ``method`` cannot run on the space ``sp`` (before any of its options is judged:
    they would not matter), naming the methods that can."""
    _load()
    if method not in _STRATEGIES:
        raise UserError(f"unknown search method {shown(method)}; choose one of: {', '.join(sorted(_STRATEGIES))}")
    if getattr(sp, "plugin", False):  # a user's space: decided by what it provides, not by its name
        refusal = plugin_refusal(sp, method)
        if refusal:
            raise UserError(refusal)
    elif sp.name not in _SPACES[method]:
        here = [m for m in sorted(_STRATEGIES) if sp.name in _SPACES[m]]
        alternatives = (f"On {sp.name}: {', '.join(here)}" if here else
                        f"No search runs on {sp.name} yet (rank its architectures with 'zeronas correlate "
                        f"--space {sp.name}')")
        why = sp.why_not(method)  # the space's own reason, when it has one
        raise UserError(f"--method {method} is not available on the {sp.name} space (it runs on "
                        f"{', '.join(_SPACES[method])}){': ' + why if why else ''}. {alternatives}")


def search(space="nb201", method="funnel", **kwargs) -> SearchResult:
    """``zeronas.search("nb201", method="freedarts", seed=0)``: run one search, return its ``SearchResult``.
    The default method, ``funnel``, is the label-free search with the frozen ``zeronas-v1`` ensemble.

    Keywords are ``zeronas search``'s options with underscores (``time_budget=``, ``max_latency=``, ...), and
    each method takes its own (``zeronas.search.strategy_keywords(method)`` lists them; ``zeronas search
    --help`` explains them): e.g. ``proxy``, ``seed``, ``budget``, ``time_budget``, ``n`` (sample),
    ``population`` and ``tournament`` (rea), ``data``, ``data_dir``, ``device``, ``store``, ``max_params``,
    ``max_flops``, ``max_latency``, ``objectives``, ``refine``, ``evaluator``, ``preset``, ``memory_format``
    (the proxy-driven methods: see ``zeronas.Scorer``), ``threads`` (torch
    CPU threads during this call, as ``--threads``). Errors: one-line
    UserError for an unknown keyword (naming the valid ones), a value out of its range, or a method that
    does not run on the space."""
    from ..validation import caller

    with caller("api"):
        return _checked_search(space, method, kwargs)


def _checked_search(space, method: str, kwargs: dict) -> SearchResult:
    import inspect

    from ..spaces.base import resolve as resolve_space

    sp = resolve_space(space)
    check_method_on_space(sp, method)  # also loads the strategies and refuses an unknown method
    from ..validation import (
        _is_object,
        check_all,
        check_keywords,
        plain_numbers,
        refuse_none,
        torch_threads,
        with_proxy_names,
    )

    kwargs = with_proxy_names(plain_numbers(kwargs))  # np.int64(3) is 3 from here on
    if "memory_format" in kwargs:
        from ..proxies.context import layout_name

        kwargs["memory_format"] = layout_name(kwargs["memory_format"])  # torch.channels_last: its name
        if kwargs["memory_format"] == "contiguous" and "memory_format" not in strategy_keywords(method):
            del kwargs["memory_format"]  # the default layout is the one every method runs
    check_keywords(kwargs, [*strategy_keywords(method), "threads"], f"zeronas.search(method={shown(method)})")
    refuse_none(kwargs, {n: p.default for n, p in inspect.signature(_STRATEGIES[method]).parameters.items()})
    # keywords a method hands on to its Scorer: None there silently meant the Scorer's default
    from ..scoring import Scorer

    scorer = inspect.signature(Scorer.__init__).parameters
    refuse_none(kwargs, {k: scorer[k].default for k in ("batch_size", "init", "device", "memory_format")
                         if k in _FORWARDS[method]})
    # max_latency={"edgegpu": 5} is a value, not an object: checked here, named as the API's keyword
    check_all({k: v for k, v in kwargs.items() if not _is_object(v) or k == "max_latency"}, "search", cli=False)
    with torch_threads(kwargs.pop("threads", None)):  # as the CLI's --threads, for this call only
        return _search(sp, method, kwargs)


def _search(sp, method: str, kwargs: dict) -> SearchResult:
    check_user_data(method, kwargs)
    device = "cpu"
    if kwargs.get("device") is not None:  # every method, before any network is built on it
        from ..scoring import resolve_device

        device = resolve_device(kwargs["device"])
    data_dir = kwargs.get("data_dir")
    if data_dir is not None or "data_dir" in kwargs:  # for the answer's accuracy; a strategy may not read it
        import inspect

        params = inspect.signature(_STRATEGIES[method]).parameters
        if "data_dir" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k != "data_dir"}
    check_preset(sp.name, method, kwargs)
    preset = kwargs.pop("preset", "cpu")
    applied = {k: v for k, v in CPU_PRESETS.get((sp.name, method), {}).items() if kwargs.get(k) is None} \
        if preset == "cpu" else {}
    kwargs.update(applied)
    t0 = time.perf_counter()
    with no_empty_store(kwargs.get("store")), ieee_float32(device):  # no TF32: precision.py
        result: SearchResult = _STRATEGIES[method](sp, **kwargs)
    result.seconds = time.perf_counter() - t0
    result.protocol["preset"] = {"name": preset, "applied": applied}
    if kwargs.get("memory_format", "contiguous") != "contiguous":  # its scores are of that layout (store keys too)
        result.protocol["memory_format"] = kwargs["memory_format"]
    if getattr(sp, "plugin", False):  # how to load the space again (export, score)
        from ..spaces.plugin import portable_source

        result.protocol["space_source"] = portable_source(sp.source)  # absolute: loads from any folder
    result.network = network_of(result.protocol, kwargs.get("data"))
    result.benchmark = benchmark_info(sp, sp.parse(result.arch), data_dir)
    if sp.name == "nb201" and "cifar10" in result.benchmark:
        result.benchmark.update(feasible_info(sp, result, data_dir))
    has_table = "in_table" in result.benchmark or "cifar10" in result.benchmark
    for point in result.trajectory:
        if "arch" in point and has_table:
            # None (JSON null), not NaN: NB101/NB301 tables are samples, most archs a search meets are not in them
            point["cifar10"] = benchmark_info(sp, sp.parse(point["arch"]), data_dir).get("cifar10")
    for point in result.front:  # reporting only, after the search has answered
        if has_table:
            info = benchmark_info(sp, sp.parse(point["arch"]), data_dir)
            point["test_acc"] = {ds: info[ds] for ds in ("cifar10", "cifar100", "imagenet16-120") if ds in info}
    return result


def network_of(protocol: dict, given=None) -> dict:
    """The network a search's ``protocol`` records it scored, wherever its method keeps it (a scorer's protocol,
    a supernet context's data, the method's own): ``num_classes``, ``input_size`` and ``data`` (the dataset the
    search stood for, "folder:NAME" with ``source`` for the user's images, None when data-free); empty when no
    class count is recorded. ``given``: the search's ``data`` argument, which names the data where only
    data-free proxies ran (no data protocol) and gives a folder's absolute path (the protocol keeps only its
    portable name), so an export from elsewhere finds it."""
    from ..data.custom import folder_label, is_image_folder
    from ..data.datasets import dataset_info, is_dataset_name

    def find(obj, key):
        if isinstance(obj, dict):
            if key in obj and obj[key] is not None and not isinstance(obj[key], dict):
                return obj[key]
            return next((f for v in obj.values() if (f := find(v, key)) is not None), None)
        return None

    k = find(protocol, "num_classes")
    if not isinstance(k, int):
        return {}
    size = find(protocol, "input_size")
    if size is None and isinstance(shape := find(protocol, "input"), list) and len(shape) == 4:  # freedarts: NCHW
        size = shape[2] if shape[2] == shape[3] else shape[2:]
    data = find(protocol, "stands_in_for") or find(protocol, "dataset")
    data = None if data == "none" else data
    out = {"num_classes": k, "input_size": size, "data": data}
    if is_image_folder(given):
        out.update(data=folder_label(given), source=str(Path(given).expanduser().resolve()))
        digest, seed = find(protocol, "content_sha256"), find(protocol, "seed")
        if isinstance(digest, str):  # the images scored: an export from a folder changed since can say so
            out["content_sha256"] = digest
            if isinstance(seed, int) and seed:  # a folder above MAX_IMAGES is read as a seeded subset
                out["seed"] = seed
    elif isinstance(data, str) and data.startswith("folder:"):
        out["source"] = find(protocol, "source")
    elif data is None and isinstance(given, str) and is_dataset_name(given):
        out["data"] = dataset_info(given).name
    elif data is None and (given is None or given == "auto"):  # the default: CIFAR-10's network, as the CLI's
        out["data"] = "cifar10"  # --data cifar10 records it (only data-free proxies ran: no dataset in the protocol)
    elif isinstance(given, (tuple, list)) and len(given) == 2 and data is not None:
        # (x, y) arrays or tensors: the normalisation the search applied, which an export's input contract needs,
        # measured again as the scorer did (arrays in memory read the same twice; a DataLoader may not: its
        # one-shot or shuffled batches are left out, as before)
        from ..data.custom import user_images

        seed = find(protocol, "seed")
        try:
            images = user_images(given, seed=seed if isinstance(seed, int) else 0)
        except (UserError, TypeError, ValueError):
            return out
        out.update(mean=[float(v) for v in images.info.mean], std=[float(v) for v in images.info.std],
                   scale="pixels / 255" if images.x.dtype == np.uint8 else "values as given")
    return out


@contextlib.contextmanager
def no_empty_store(store):
    """A search that fails (or is interrupted) before it stored anything leaves no new, empty SQLite file behind,
    nor the folders made for it (a store that existed, a server URL, or one holding any score is kept)."""
    path = None if store is None or "://" in str(store) else Path(str(store)).expanduser()
    new = path is not None and not path.exists()
    made = []  # folders the store's creation would make, innermost first: removed too when left empty
    folder = path.parent if new else None
    while folder is not None and not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    try:
        yield
    except BaseException:
        if new and path.exists():
            from ..store import Store

            try:
                db = Store(path, create=False)
                empty = db.count() == 0
                db.close()
            except Exception:  # noqa: BLE001  (not ours to judge: left as it is)
                empty = False
            if empty:
                for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
                    p.unlink(missing_ok=True)
                for d in made:
                    try:
                        d.rmdir()
                    except OSError:  # not empty (something else was written there) or gone: kept as it is
                        break
        raise


# What a method needs of a plug-in space (zeronas.spaces.plugin) beyond sample, mutate, build, format and
# parse, which every plug-in has: the proxy-driven searches need nothing more; the supernet methods prune a
# weight-sharing cell network over the space's ops and edges. A method not listed here has not been made to
# run on plug-in spaces and is refused.
PLUGIN_NEEDS: dict[str, tuple[str, ...]] = {
    "sample": (), "random": (), "rea": (), "das": (), "funnel": (),
    "zero-cost-pt": ("supernet", "ops", "edges"),
    "te-nas": ("supernet", "thin_supernet", "ops", "edges", "from_edge_scores"),
    "freedarts": ("supernet", "default_supernet", "ops", "edges", "from_edge_scores"),
    "teg-rea": ("supernet", "thin_supernet", "ops", "edges"),
    "teg-reinforce": ("supernet", "thin_supernet", "ops", "edges"),
}


def plugin_refusal(sp, method: str) -> str | None:
    """Why ``method`` cannot run on the plug-in space ``sp`` (one line), or None when it can."""
    from ..spaces.plugin import provides

    runs = sorted(m for m, needs in PLUGIN_NEEDS.items() if m in _STRATEGIES and all(provides(sp, n) for n in needs))
    if method not in PLUGIN_NEEDS:
        return (f"--method {method} has not been made to run on plug-in spaces such as {sp.name}; on it use "
                f"{', '.join(runs)}")
    missing = [n for n in PLUGIN_NEEDS[method] if not provides(sp, n)]
    if not missing:
        return None
    return (f"--method {method} needs a supernet (SearchSpace.supernet: a weight-sharing cell network over the "
            f"space's ops and edges); the plug-in space {sp.name} lacks {', '.join(missing)}; on it use "
            f"{', '.join(runs)}")


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


class StoredMetrics:
    """Per-architecture metric values of one search protocol: cached in memory and, with a store, written as
    they are produced (one row per metric, proxy name ``prefix:metric``), so a killed search rerun with the same
    seed replays its trajectory from stored values instead of recomputing them."""

    def __init__(self, space, prefix: str, metrics, protocol: dict, store=None):
        from ..scoring import protocol_hash

        self.space, self.prefix, self.metrics = space, prefix, tuple(metrics)
        self.protocol, self.hash = protocol, protocol_hash(protocol)
        self.cache: dict[str, dict] = {}
        self.replayed = False  # whether the last get_or_compute read its values back (no time spent)
        self.store = None
        if store is not None:
            from ..store import Store

            self.store = Store(store)
            stored = {m: self.store.values(space.name, f"{prefix}:{m}", self.hash) for m in self.metrics}
            for key in set.intersection(*(set(v) for v in stored.values())):
                self.cache[key] = {m: stored[m][key] for m in self.metrics}

    def get(self, key: str) -> dict | None:
        return self.cache.get(key)

    def get_or_compute(self, key: str, compute, arch_str: str | None = None) -> dict:
        """The stored values for ``key``, or ``compute()``'s (a dict of the metrics), stored as they come;
        ``replayed`` says which it was."""
        self.replayed = key in self.cache
        if not self.replayed:
            t0 = time.perf_counter()
            self.put(key, compute(), time.perf_counter() - t0, arch_str)
        return self.cache[key]

    def put(self, key: str, values: dict, seconds: float, arch_str: str | None = None):
        self.cache[key] = dict(values)
        if self.store is not None:
            from ..scoring import ScoreRecord

            self.store.put([ScoreRecord(self.space.name, arch_str or key, key, f"{self.prefix}:{m}", float(values[m]),
                                        seconds / len(self.metrics), 0, self.protocol, self.hash)
                            for m in self.metrics])
