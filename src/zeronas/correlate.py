"""Correlate proxies with benchmark ground truth: sample, score into the store (resumable, parallel), analyse."""

from __future__ import annotations

import contextlib
import functools
import math
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import jsonio
from .benchmarks import load_ground_truth
from .benchmarks.correlation import SMALL_SAMPLE, correlation, interval_words, rank_ensemble, top_k_size
from .benchmarks.nb201 import normalize_dataset
from .errors import UserError, shown
from .paths import atomic_path, check_outputs
from .proxies.base import get_proxy, inapplicable_reason
from .proxies.ensembles import ENSEMBLES, ensemble_members, split_names
from .proxies.plugin import has_file, short_names
from .run import make_executor, make_executor_threads
from .scoring import Scorer, resolve_proxies, unread_batch_size
from .spaces import space as get_space
from .store import Store, check_location
from .validation import api, callable_module

PAPER_TARGETS = {
    # Abdelfattah et al. 2021 notebook: cifar10-valid test accuracy for C10, x-test for C100/IN16, seed mean
    "abdelfattah2021": {"cifar10": "cifar10valid_test_acc", "cifar100": "cifar100_test_acc",
                        "imagenet16-120": "imagenet16_120_test_acc"},
    # NAS-Bench-Suite-Zero: NASLib "val_accuracy" (one seed)
    "suite-zero": {"cifar10": "naslib_cifar10_valacc_1seed", "cifar100": "naslib_cifar100_valacc_1seed",
                   "imagenet16-120": "naslib_imagenet16_120_valacc_1seed"},
}
PRESETS = {
    "abdelfattah2021": {"sample": "all", "batch_size": 64, "seed": 42, "init": "torch-default", "abs": True,
                        "metric": "test",
                        "notes": ["all 15,625 cell strings (isomorphic duplicates scored once, counted each time)",
                                  "one random training batch of 64 (the pickle names do not record the batch "
                                  "size; 64 is the code default)", "the paper reports |rho|"]},
    "suite-zero": {"sample": 1000, "batch_size": 64, "init": "torch-default", "abs": False, "metric": "valid",
                   "notes": ["1,000 random architectures; the paper's sampling seed is unknown, zeronas uses "
                             "--seed", "target: NASLib val_accuracy (one seed)"]},
}


@dataclass
class CorrelationResult:
    """What ``zeronas.correlate(...)`` returns (``to_json()``: what ``--out`` writes as correlation.json).

    ``rows``: proxy or ensemble name -> ``spearman``, ``kendall`` (signed, -1..1, of the raw values against the
    target: a proxy whose lower is better correlates negatively; ``abs_spearman`` with a paper protocol that
    reports |rho|), ``top1``/``top5``/``top10`` (0..1: the share of the benchmark's top 1/5/10 % that the
    proxy's top 1/5/10 % holds, in the proxy's direction), ``n`` (archs counted), ``dropped_nan`` (left out: of
    which ``no_truth`` lack ground truth and ``nan_values`` a value), ``direction`` (+1 higher is better, -1
    lower), ``protocol_hash`` and ``ms_per_arch`` (mean scoring milliseconds of the archs analysed, as stored);
    an ensemble row has ``members`` and ``rule`` instead of the last three.
    ``meta``: ``space``, ``dataset``, ``target`` (the benchmark column), ``archs`` and ``unique_archs`` (isomorphism
    classes), ``indices`` (the sampled rows of the benchmark table), ``seed``, ``batch_size``, ``init``,
    ``protocols`` (per proxy), ``notes`` (what to know before reading the numbers: stand-in images, small
    samples, NaN values; ``notes_said``: those of them already printed while the run went on, with progress),
    ``scored_now``, ``wall_seconds``, ``workers``, ``store``, ``executor``.
    ``values``: proxy (and ensemble) -> array of values per sampled arch (NaN where none), in ``indices`` order;
    ``truth``: the target per sampled arch (percent accuracy), in the same order; ``archs``: the table's arch
    string of each, in the same order.
    ``to_json()`` holds ``meta``, ``proxies`` (the rows) and ``per_arch``: ``index``, ``arch``, ``truth`` and
    ``values`` (name -> list), in ``indices`` order, a value or truth that is missing (NaN) written as null and
    +-inf as the strings "inf" / "-inf" (as ``scores.json`` and ``report --export`` write them: the correlation
    ranks them); ``--out`` also writes them as archs.csv, one row per arch (inf / -inf there too)."""

    rows: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    truth: np.ndarray | None = None
    archs: list = field(default_factory=list)

    def __repr__(self) -> str:  # the rows a person reads first; to_json() holds everything
        rho = ", ".join(f"{p}: {r['spearman']:.3f}" for p, r in self.rows.items()
                        if isinstance(r.get("spearman"), float))
        return (f"CorrelationResult(space={self.meta.get('space')!r}, dataset={self.meta.get('dataset')!r}, "
                f"archs={self.meta.get('archs')}, spearman={{{rho}}}, notes={len(self.meta.get('notes', []))})")

    def to_json(self) -> dict:
        def clean(v):
            return v if not (isinstance(v, float) and not math.isfinite(v)) else str(v)

        def column(a):  # +-inf is a value the correlation ranks (last or first): kept, as scores.json keeps it
            return [None if math.isnan(v) else v if math.isfinite(v) else str(v)
                    for v in np.asarray(a, dtype=float).tolist()]

        per_arch = {"index": list(self.meta.get("indices", [])), "arch": list(self.archs),
                    "truth": column(self.truth) if self.truth is not None else [],
                    "values": {p: column(v) for p, v in self.values.items()}}
        return {"meta": self.meta, "proxies": {p: {k: clean(v) for k, v in r.items()} for p, r in self.rows.items()},
                "per_arch": per_arch}


def one_dataset(dataset: str | None, data: str | None, cli: bool = False) -> str:
    """The dataset named by ``dataset`` or its alias ``data`` (the name ``score`` and ``search`` use)."""
    if dataset is not None and data is not None and normalize_dataset(dataset) != normalize_dataset(data):
        a, b = ("--dataset", "--data") if cli else ("dataset=", "data=")
        raise UserError(f"{a} {shown(dataset)} and {b} {data!r} name two datasets; give one ({b} is another name for "
                        f"{a})")
    return dataset or data or "cifar10"


def parse_proxies(text: str, option: str = "--proxies") -> tuple[list[str], dict[str, list[str]]]:
    """'nwot,ensemble:a,b' is ambiguous, so ensembles use '+': 'nwot,ensemble:nwot+synflow,az_nas'. ``option``:
    the option the text came from, as errors name it."""
    base, ens = [], {}
    for item in split_names(text, option):
        members = ensemble_members(item)  # a named ensemble (also inside ensemble:a+b) stands for its members
        if members is None:
            base.append(item)
        elif len(members) < 2:
            raise UserError(f"{shown(item)}: an ensemble needs two or more proxies joined by '+', "
                            f"e.g. ensemble:nwot+synflow")
        else:
            ens[item] = members
    for members in ens.values():
        base += [m for m in members if m not in base]
    # each name as its proxy is named (a proxy of your own: its file's absolute path, however it was written)
    specs = {name: get_proxy(name) for name in base}
    for item, members in ens.items():  # a member twice would weigh double, or leave a one-member "ensemble"
        named = [specs[m].name for m in members]
        twice = [n for n in dict.fromkeys(named) if named.count(n) > 1]
        if twice:
            inner = [part for part in item[len("ensemble:"):].split("+") if ensemble_members(part) is not None] \
                if item.startswith("ensemble:") else []
            via = f" ({', '.join(inner)} already holds {', '.join(ENSEMBLES[inner[0]])})" if inner else ""
            raise UserError(f"{item} names {', '.join(twice)} twice{via}; an ensemble ranks by each member once: "
                            "drop the repeat")
    ens = {item: [specs[m].name for m in members] for item, members in ens.items()}
    return list(dict.fromkeys(spec.name for spec in specs.values())), ens


DEFAULT_SAMPLE = 1000


def _constant_note(proxy: str, col: np.ndarray, truth: np.ndarray) -> str:
    """Why a proxy with values has no correlation: it gave one value to every arch that has ground truth."""
    kept = col[~np.isnan(col) & ~np.isnan(truth)]  # +-inf included: one infinity everywhere ranks none either
    value = f"{kept[0]:.6g}" if kept.size else "its value"
    return (f"{proxy} gave one value ({value}) on all {kept.size} archs, so it ranks none above another: its "
            f"correlations are undefined (NaN); check that it depends on the network")


def sample_indices(n_total: int, n: int, seed: int) -> np.ndarray:
    """The sorted table rows of a seeded ``--sample n`` of ``n_total``: nested, so a larger sample of the same
    seed holds every arch of a smaller one (a resumed correlate that raises --sample reuses them all). numpy's
    ``choice`` without replacement shuffles a prefix of one Fisher-Yates pass, whose picks are nested, except
    for small samples of a large table (more than 10,000 rows, at most a 50th of them), which it draws another
    way; those are the first ``n`` of the smallest nested draw instead. Sizes above that are numpy's own."""
    rng = np.random.default_rng(seed)
    least = n_total // 50 + 1
    if n_total > 10_000 and n < least:
        return np.sort(rng.choice(n_total, least, replace=False)[:n])
    return np.sort(rng.choice(n_total, n, replace=False))


def default_sample(sample, n_total: int, space: str) -> tuple[int | str, str | None]:
    """``sample`` as given, or for None the default: DEFAULT_SAMPLE archs, or "all" when the table is smaller
    (with the note saying so)."""
    if sample is not None:
        return sample, None
    if n_total > DEFAULT_SAMPLE:
        return DEFAULT_SAMPLE, None
    if n_total == DEFAULT_SAMPLE:
        return "all", None
    return "all", (f"the default sample of {DEFAULT_SAMPLE:,} archs is more than the {n_total:,} of the {space} "
                   f"table: every arch of it")


@api("correlate")
def correlate(space="nb201", dataset: str | None = None, proxies="nwot,synflow,snip,params",
              sample: int | str | None = None, seed: int | None = None, batch_size: int | None = None,
              store: str | Path = "runs/zeronas.db", workers: int | None = None, data_dir=None,
              init="torch-default", device="cpu", metric=None, protocol: str | None = None, progress=False,
              only_stored: bool = False, isomorph_member: str = "asked", executor: str = "local",
              ray_address: str | None = None, score_seed: int | None = None,
              data: str | None = None, out: str | Path | None = None,
              options: dict | None = None, memory_format: str = "contiguous",
              threads: int | None = None) -> CorrelationResult:
    """Rank-correlate ``proxies`` (comma-separated names, ``ensemble:a+b``, ``az_nas``, ``zeronas-v1``) with a
    benchmark's accuracy over ``sample`` architectures of ``space`` (nb201, macro, nb101, nb301); returns a
    ``CorrelationResult``. The defaults are ``zeronas correlate``'s: the same names, the same values.
    ``dataset`` (or ``data``, its name in ``score`` and ``search``): cifar10 (default), cifar100 or
    ImageNet16-120; UserError when both are given and differ.
    ``store``: where scores persist (an SQLite path or a database URL); a rerun scores only what is missing.
    ``workers``: scoring processes, 0 one per core (one on a GPU); where processes are spawned (macOS,
    Windows) a script must call this under ``if __name__ == "__main__":``, or pass ``workers=1``.
    Errors: UserError (one line) for a bad argument, a missing table or images, or nothing to correlate.
    ``sample``: a number of random archs, or "all"; None (the default) is 1,000, or the whole table when it
    has fewer (NB101's 500 cells, NB301's 725 genotypes), said in the notes.
    ``seed``: picks the sample and the scoring order and (without ``score_seed``) seeds the init and the batch;
    None (the default) is 0. ``batch_size``: images per batch of the proxies on real images and of zen's and
    AZ-NAS's noise; None (the default) is 64; given where no proxy reads it, a note says so. ``protocol``: a paper
    preset (``PRESETS``) that fixes the sample, batch size,
    init, target and (abdelfattah2021) seed; a different value given beside it is a UserError, never replaced.
    ``metric``: "test" or "valid"; None (the default) is the table's own accuracy (test for NB201,
    NAS-Bench-Macro and a converted NB101 table, validation for the 500-cell NB101 table and the NB301
    surrogate), said in the notes where it is not test accuracy. A metric the table lacks is a UserError.
    ``only_stored``: score nothing; analyse the sampled archs whose values are all in the store.
    ``score_seed``: the seed of the init draw and the batch when it should differ from ``seed``, which then
    picks the sample and the scoring order only (a test-retest of the same archs).
    ``out``: a folder that also receives correlation.json, correlation.csv, scatter.png and rho.png (as
    ``--out``; their paths in ``meta["written"]``).
    ``options``: proxy options, ``{proxy: {option: value}}`` (as ``--set PROXY.OPTION=VALUE``); they are part
    of each score's protocol, so other options are other store keys.
    ``isomorph_member``: which member scores an isomorphism class for class-sharing proxies (see
    ``zeronas.scoring.ISOMORPH_MEMBERS``). ``memory_format``: "contiguous" or "channels-last" (see
    ``zeronas.Scorer``; part of each score's protocol). ``executor``: "local" (this machine, ``workers`` processes) or
    "ray" (a Ray cluster at ``ray_address``, else a local Ray instance; see ``zeronas.ray_executor``).
    ``threads``: torch CPU threads of each scoring process: this one with ``workers=1``, each pool worker
    (default cores // workers), each Ray unit (default 1, or cores // workers on a local instance)."""
    from .proxies.context import layout_name
    from .ray_executor import check_executor

    check_executor(executor, ray_address, cli=False)
    if only_stored and layout_name(memory_format) == "contiguous":  # (channels-last: they pick the threads key)
        # (workers 0 or 1, the defaults' values, are what report scripts pass: harmless)
        moot = [f for f, v in (("--workers", None if workers in (0, 1) else workers),
                               ("--executor", None if executor == "local" else executor),
                               ("--ray-address", ray_address)) if v is not None]
        if moot:
            raise UserError(f"--only-stored scores nothing, so {' and '.join(moot)} would run nothing: drop "
                            f"{'them' if len(moot) > 1 else 'it'}")
    workers = 0 if workers is None else workers
    dataset = one_dataset(dataset, data)
    notes: list[str] = []
    target_col = None
    use_abs = False
    check_location(store)  # an empty store is refused before any work
    if out is not None:  # a user's own file there is never replaced, found before any scoring
        check_outputs(out, OUT_FILES, "--out")
    memory_format = layout_name(memory_format)  # torch.channels_last: its name (the meta is JSON)
    base, ensembles = parse_proxies(proxies if isinstance(proxies, str) else ",".join(proxies))  # before the table
    sp = get_space(space)
    table = load_ground_truth(sp.name, data_dir)
    if protocol is not None:
        if protocol not in PRESETS:
            raise UserError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PRESETS)}")
        if sp.name != "nb201":
            naslib_init = "naslib-nb101" if sp.name == "nb101" else "torch-default"  # NASLib's networks' init
            suite_zero = Path(str(getattr(table, "path", ""))).name.startswith(("nb101_zc_", "nb301_zc_"))
            own = (f"; its table is NAS-Bench-Suite-Zero's own {sp.name} sample: --sample all --batch-size 32 "
                   f"--init {naslib_init} reads it with NASLib's settings (docs/reproduction.md)"
                   if suite_zero else "")
            raise UserError(f"protocol presets are NAS-Bench-201 protocols; drop --protocol for {sp.name}{own}")
        preset = PRESETS[protocol]
        # what the preset fixes wins; a different value given beside it would be silently replaced: refused
        given = {"sample": sample, "batch_size": batch_size, "seed": seed, "init": init, "metric": metric}
        clash = [f"--{k.replace('_', '-')} {preset[k]}" for k, v in given.items()
                 if k in preset and v is not None and not _same(v, preset[k], len(table))]
        if "seed" in preset and score_seed is not None and not _same(score_seed, preset["seed"], 0):
            clash.append(f"--score-seed {preset['seed']}")
        if clash:
            raise UserError(f"--protocol {protocol} fixes {', '.join(clash)}; drop the options that differ")
        sample, batch_size, init = preset["sample"], preset["batch_size"], preset["init"]
        seed = preset.get("seed", seed)
        use_abs = preset["abs"]
        notes += preset["notes"]
        target_col = PAPER_TARGETS[protocol][normalize_dataset(dataset)]
    seed = 0 if seed is None else seed
    if batch_size is not None and protocol is None:  # (a preset's batch is the preset's)
        why = unread_batch_size(base, batch_size, options)  # (base holds the ensembles' members too)
        notes += [why] if why else []
    batch_size = 64 if batch_size is None else batch_size
    dataset = normalize_dataset(dataset)
    if target_col is None:
        target_col = table.target_column(dataset, metric)
        if (why := table.target_note(metric, target_col)) is not None:
            notes.append(why)
    truth_all = table.column(target_col)
    n_total = len(table)
    if isinstance(sample, str) and sample.strip().lower() == "all":  # as the domain reads it ('ALL', ' all')
        sample = "all"
    sample, why = default_sample(sample, n_total, sp.name)
    notes += [why] if why else []
    if sample == "all":
        idx = np.arange(n_total)
    else:
        try:
            n = int(sample)
        except ValueError:
            raise UserError(f"--sample must be a number or 'all', not {shown(sample)}") from None
        if isinstance(sample, float) and not sample.is_integer():  # int() would cut 10.5 to 10 without a word
            raise UserError(f"--sample must be a whole number or 'all', not {sample}")
        sample = n  # (10.0, "10" and " 10 " are 10, recorded so in the meta)
        if not 3 <= n <= n_total:
            try:
                whole = int(sp.size())
            except Exception:  # a plug-in space's size may be unknown: the table's count is said alone
                whole = None
            what = (f"the {sp.name} space's size" if whole == n_total else
                    f"the archs of the {sp.name} table {Path(str(getattr(table, 'path', ''))).name}"
                    + (f", a sample of the space's {whole:,}" if whole and whole < 10**9 else
                       f", a sample of the space's {whole:.2g}" if whole else ""))
            raise UserError(f"--sample {n} is outside 3..{n_total} ({what}); use 'all' for every arch")
        idx = sample_indices(n_total, n, seed)
    scorer_kwargs = dict(space=sp.name, proxies=base, data=dataset.replace("cifar10-valid", "cifar10"),
                         data_dir=data_dir, batch_size=batch_size, seed=seed if score_seed is None else score_seed,
                         init=init, device=device,
                         stand_in=True, isomorph_member=isomorph_member, options=options,
                         memory_format=memory_format)
    scorer_kwargs["threads"] = _unit_threads(scorer_kwargs, workers, executor, ray_address, threads)
    scorer = Scorer(**scorer_kwargs)
    if scorer.data_note:
        notes.append(scorer.data_note)
    if workers or executor == "ray":  # other processes load each proxy again, by its name
        _check_loadable(base)
    if not only_stored:  # (a stored run with nothing left to score never needs Ray)
        _connect_before_a_new_store(executor, store, ray_address)
    said_early: list[str] = []  # notes printed while the run went on (progress=True): the CLI does not repeat them
    db = Store(store, create=not only_stored)  # --only-stored reads a store; it never makes an empty one
    try:
        hashes = {p.name: p_hash for p, p_hash in ((p, _hash(scorer, p)) for p in scorer.proxies)}
        archs = [sp.parse(table.arch_str[i]) for i in idx]
        canon = [sp.canonical(a) for a in archs]
        strs = [sp.format(a) for a in archs]
        # the store key of (proxy, arch): the isomorphism class when the proxy may share it, else the string
        keys = {p: canon if get_proxy(p).shares_isomorphs else strs for p in base}
        # archs are scored in a seeded random order, so a run stopped early has scored a uniform random
        # subset of the sample (in index order, NB201's large degenerate classes would come first)
        order = scoring_order(len(idx), seed)
        sampled = len(idx)  # (the notes below tell a small sample from a partly scored one: --only-stored)
        done, todo = _missing(db, sp.name, base, hashes, keys, archs, strs, order, retry=not only_stored)
        t0 = time.perf_counter()
        scored = 0
        if only_stored:
            # the longest fully stored prefix of the scoring order: a uniform random subset of the sample,
            # unlike "every arch with a stored score", which favours archs of large isomorphism classes
            stored = [all(keys[p][i] in done[p] for p in base) for i in order]
            prefix = stored.index(False) if False in stored else len(order)
            keep = np.zeros(len(idx), dtype=bool)
            keep[order[:prefix]] = True
            if keep.sum() < 3:
                raise UserError(_too_little_stored(db, sp.name, scorer, hashes, keys, done))
            if keep.sum() < len(idx):
                notes.append(f"analysed the {int(keep.sum())} of {len(idx)} sampled archs first in the seeded "
                             f"scoring order, a uniform random subset (scoring was not run to completion; "
                             f"{sum(stored) - prefix} more archs have scores stored but lie past the first "
                             f"unscored one)")
            idx, canon = idx[keep], [c for c, k in zip(canon, keep) if k]
            keys = {p: [k for k, kk in zip(keys[p], keep) if kk] for p in base}
        else:
            other = _other_protocol_note(db, sp.name, scorer, hashes, done) if todo else None
            if other:
                notes.append(other)
                if progress:  # said before the scoring starts, not only under the table after it
                    print(f"note: {other}", file=sys.stderr, flush=True)
                    said_early.append(other)
            scored = _run(list(todo.values()), scorer_kwargs, workers, db, progress, executor, ray_address,
                          weigh=_cost_weight(sp), scorer=scorer)
        wall = time.perf_counter() - t0
        truth = truth_all[idx]
        no_truth = int(np.isnan(truth).sum())
        if no_truth:
            notes.append(f"{no_truth} of {len(idx)} sampled archs have no ground truth ({target_col} is blank or "
                         f"NaN in {Path(table.path).name}); every correlation leaves them out")
        result = CorrelationResult(truth=truth, archs=[str(table.arch_str[i]) for i in idx])
        for p in base:
            vals = db.values(sp.name, p, hashes[p])
            col = np.array([vals.get(k, math.nan) for k in keys[p]], dtype=float)
            result.values[p] = col
            spec = get_proxy(p)
            row = correlation(col, truth, spec.direction)
            if row["nan_values"]:
                notes.append(_nan_note(p, col, truth, keys[p], db.outcomes(sp.name, p, hashes[p])))
            if row["n"] >= 3 and math.isnan(row["spearman"]):  # 3+ values, all equal
                notes.append(_constant_note(p, col, truth))
            # of the archs analysed only: the store may hold other samples' scores, timed on other runs
            held = db.seconds(sp.name, p, hashes[p])
            secs = [held[k] for k in dict.fromkeys(keys[p]) if held.get(k) is not None]  # a class once
            row.update({"direction": spec.direction, "protocol_hash": hashes[p],
                        "ms_per_arch": 1000 * float(np.mean(secs)) if secs else math.nan})
            if use_abs:
                row["abs_spearman"] = abs(row["spearman"])
            result.rows[p] = row
        if base and all(result.rows[p]["n"] == 0 for p in base):  # nothing to correlate: an error, not a table
            if no_truth == len(idx):
                raise UserError(f"none of the {len(idx)} sampled archs has ground truth ({target_col} is blank in "
                                f"{Path(table.path).name}); choose another --dataset or --metric")
            first = next((n for n in notes if n.startswith(tuple(base))), "no values")
            raise UserError(f"no proxy gave a value on any of the {len(idx)} sampled archs ({first.rstrip('.')}); "
                            f"no correlation was written; the store keeps each arch's outcome ('zeronas report "
                            f"--store {shlex.quote(str(store))}' lists them), and a rerun scores the failed ones "
                            f"again")
        for name, members in ensembles.items():
            empty = [m for m in members if np.isnan(result.values[m]).all()]
            rest = [m for m in members if m not in empty]
            if empty:  # a member with no value at all leaves the others to rank alone: never silently
                alone = (f"so this ensemble ranks by {'+'.join(rest)} alone" if rest else
                         "so this ensemble ranks nothing")
                notes.append(f"{name}: {', '.join(empty)} gave no value on any of the {len(idx)} archs (see "
                             f"{'its' if len(empty) == 1 else 'their'} note), {alone}; drop "
                             f"{'it' if len(empty) == 1 else 'them'} from the ensemble")
            worst = int(np.logical_or.reduce([np.isnan(result.values[m]) for m in rest]).sum()) if rest else 0
            if worst:
                notes.append(f"{name}: {worst} archs have a NaN member score, ranked worst for that member "
                             f"(kept, not left out)")
            col = rank_ensemble([result.values[m] for m in members], [get_proxy(m).direction for m in members])
            result.values[name] = col
            row = correlation(col, truth, 1)
            row.update({"direction": 1, "members": members, "rule": "sum of log(rank/N)"})
            result.rows[name] = row
        small = {p: r for p, r in result.rows.items() if r["n"] < SMALL_SAMPLE and math.isfinite(r["spearman"])}
        if small:
            p, r = next(iter(small.items()))
            tops = "/".join(str(top_k_size(r["n"], f)) for f in (0.01, 0.05, 0.1))
            why = (f"rerun without --only-stored to score the other {sampled - len(idx)} sampled archs"
                   if sampled > len(idx) else
                   f"use --sample {SMALL_SAMPLE} or more for a reading" if len(idx) < SMALL_SAMPLE else
                   f"{len(idx) - r['n']} of the {len(idx)} sampled archs have no value or no ground truth (see the "
                   "notes on them)")
            notes.append(f"only {r['n']} archs: rho is uncertain at this size ({p}'s {r['spearman']:.3f}: "
                         f"{interval_words(r['spearman'], r['n'])}; Fisher z, Fieller et al. 1957), and "
                         f"top-1%/5%/10% rest on {tops} archs; {why}")
        result.meta = {
            "space": sp.name, "dataset": dataset, "target": target_col, "target_sha256": table.sha256,
            "benchmark_file": str(table.path), "archs": len(idx), "unique_archs": len(set(canon)), "sample": sample,
            "indices": idx.tolist(),
            "seed": seed, "score_seed": seed if score_seed is None else score_seed, "batch_size": batch_size,
            "init": init, "protocol_preset": protocol,
            "isomorph_member": isomorph_member, "memory_format": memory_format,
            "protocols": {p: scorer.protocol(get_proxy(p)) for p in base}, "notes": notes, "notes_said": said_early,
            "no_ground_truth": no_truth,
            "scored_now": scored, "wall_seconds": wall, "workers": workers, "store": str(db),
            "executor": executor,
        }
        if out is not None:
            result.meta["written"] = [str(p) for p in write_outputs(result, Path(out))]
        return result
    finally:
        db.close()


def _nan_note(proxy: str, col: np.ndarray, truth: np.ndarray, keys: list[str], outcomes: dict) -> str:
    """Why a proxy's NaN values were left out: failures (with the first message), values undefined there,
    or no stored score."""
    failed, undefined, absent, first_error = 0, 0, 0, None
    inapplicable, why = 0, None
    for k in (k for k, v, t in zip(keys, col, truth) if np.isnan(v) and not np.isnan(t)):
        status, error = outcomes.get(k, (None, None))
        if status is None:
            absent += 1
        elif status == "error" and inapplicable_reason(error) is not None:
            inapplicable += 1
            why = why or inapplicable_reason(error)
        elif status == "error":
            failed += 1
            first_error = first_error or error
        else:
            undefined += 1
    if inapplicable == int((~np.isnan(truth)).sum()):  # the proxy has nothing to read on this space
        return f"{proxy} does not apply here ({why}): no correlation; drop it from --proxies"
    parts = [f"{inapplicable} do not apply ({why})"] if inapplicable else []
    if failed:
        shown = " ".join(str(first_error or "").split())[:100]
        parts.append(f"{failed} failed" + (f" (e.g. {shown})" if shown else ""))
    if undefined:
        parts.append(f"{undefined} scored NaN (undefined there)")
    if absent:
        parts.append(f"{absent} have no stored score")
    return (f"{proxy}: {inapplicable + failed + undefined + absent} archs with ground truth left out of its "
            f"correlation: "
            f"{', '.join(parts)}; 'zeronas report' lists them")


def _same(given, fixed, n_total: int) -> bool:
    """Whether a value given beside a preset is the preset's own (``sample`` 'ALL' or the table's size is
    'all'; 1000.0 is 1000)."""
    if str(given).strip().lower() == str(fixed).lower():
        return True
    try:
        number = float(given)
    except (TypeError, ValueError):
        return False
    if fixed == "all":
        return number == n_total
    return not isinstance(fixed, str) and number == float(fixed)


def scoring_order(n: int, seed: int) -> np.ndarray:
    """The order in which ``correlate`` scores its n sampled archs: a permutation seeded apart from the sample."""
    return np.random.default_rng([seed, 0x5C0]).permutation(n)


def _other_protocol_note(db, space: str, scorer, hashes: dict, done: dict) -> str | None:
    """A run about to score a proxy anew while the store holds it under other settings (a resume that is not
    one: e.g. another thread count in channels-last): which settings differ, said before the work."""
    rows = None
    for spec in scorer.proxies:
        if done.get(spec.name):
            continue
        rows = db.summary() if rows is None else rows
        other = [r for r in rows if r["space"] == space and r["proxy"] == spec.name
                 and r["protocol_hash"] != hashes[spec.name]]
        if other:
            most = max(other, key=lambda r: r["rows"])
            return (f"the store holds {spec.name} on {space} for {most['rows']:,} archs under other settings "
                    f"({protocol_difference(scorer.protocol(spec), most['protocol'])}), so they are not reused: "
                    f"these settings are scored now (give those settings to reuse them)")
    return None


def _too_little_stored(db, space: str, scorer, hashes: dict, keys: dict, done: dict) -> str:
    """--only-stored found fewer than 3 sampled archs with every score: how many each proxy has under this
    protocol, and for one that lacks them, what the store holds instead (the settings that differ)."""
    n = len(next(iter(keys.values())))
    have = {p: sum(k in done[p] for k in keys[p]) for p in keys}
    msg = (f"--only-stored: fewer than 3 of the {n} sampled archs have every proxy's score stored under this "
           f"protocol (stored: {', '.join(f'{p} {have[p]}' for p in keys)})")
    specs = {spec.name: spec for spec in scorer.proxies}
    rows = db.summary()
    lacking = [p for p in keys if have[p] < 3]
    for p in lacking:
        other = [r for r in rows if r["space"] == space and r["proxy"] == p and r["protocol_hash"] != hashes[p]]
        if other:
            most = max(other, key=lambda r: r["rows"])
            diff = protocol_difference(scorer.protocol(specs[p]), most["protocol"])
            return (f"{msg}; the store holds {p} on {space} for {most['rows']:,} archs under another protocol "
                    f"({diff}): give those settings, or run without --only-stored to score these")
    if lacking and all(not done[p] for p in lacking):
        return (f"{msg}; the store holds no {'/'.join(lacking)} score on {space} under any protocol: run without "
                "--only-stored to score them")
    return (f"{msg}; the archs first in the seeded scoring order lack scores: if the stored ones come from a run "
            "with another --sample or --seed, give those (another sample draws other archs); if that run stopped "
            "early, finish it without --only-stored")


def protocol_difference(here: dict, there: dict, limit: int = 4) -> str:
    """'KEY here-value here, there-value there' for each leaf where two protocols differ (nested keys joined by
    '.'), at most ``limit`` of them and then how many more; 'the same settings' when none differ."""
    def leaves(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(leaves(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = leaves(here), leaves(there)
    missing = object()
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, missing) != b.get(k, missing))
    settings = [k for k in keys if "sha256" not in k]  # a digest differs because a setting does: name the setting
    keys = settings or keys
    def shown_value(d, k):  # a key absent from a protocol stands for its default
        if k in d:
            return d[k]
        if k == "threads":  # keyed in channels-last only, where its absence is one thread
            return 1 if d.get("memory_format") == "channels-last" else "(not keyed in NCHW)"
        return {"memory_format": "contiguous"}.get(k, "(none)")

    flags = {"threads": " (--threads, --workers)", "memory_format": " (--memory-format)"}
    said = [f"{k} {shown_value(a, k)} here, {shown_value(b, k)} there{flags.get(k, '')}" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return "; ".join(said) + more if said else "the same settings"


def _hash(scorer, spec):
    from .scoring import protocol_hash

    return protocol_hash(scorer.protocol(spec))


def _unit_threads(scorer_kwargs: dict, workers: int, executor: str, ray_address=None, threads=None) -> int | None:
    """The torch threads each work unit will run with: ``threads`` when given, else the executor's rule (None:
    this process scores, at its own count), so that this process keys the scores as the workers will record
    them (channels-last keys a count other than 1)."""
    if executor == "ray":
        from .ray_executor import unit_threads

        return unit_threads(ray_address, workers, threads)
    return threads if threads is not None else make_executor_threads(scorer_kwargs, workers)


def _connect_before_a_new_store(executor: str, store, ray_address) -> None:
    """Connect to Ray before a new store file is made: a failed connection must not leave an empty store."""
    if executor == "ray" and "://" not in str(store) and not Path(str(store)).expanduser().exists():
        from .ray_executor import connect

        connect(ray_address)


def _missing(db, space: str, names, hashes: dict, keys: dict, archs: list, strs: list, order,
             retry: bool = True) -> tuple[dict, dict]:
    """What a run must score: (per proxy, the store keys held under its protocol; arch string -> (arch, its
    missing proxies), in ``order``, a key shared by isomorphs scheduled once). ``retry``: failed rows are
    deleted first, so that they are scored again (a verdict that a proxy does not apply stays)."""
    from .proxies.base import is_verdict

    done, todo = {}, {}
    for p in names:
        if retry:
            db.retry_failures(space, p, hashes[p], set(keys[p]), keep=is_verdict)
        done[p] = db.done(space, p, hashes[p])
        scheduled = set(done[p])
        for i in order:
            k = keys[p][i]
            if k not in scheduled:
                scheduled.add(k)
                todo.setdefault(strs[i], (archs[i], []))[1].append(p)
    return done, todo


def _check_loadable(names) -> None:
    alone = next((p for p in names if not has_file(get_proxy(p))), None)
    if alone:
        raise UserError(f"proxy {alone} exists in this process only (typed at a prompt, or imported before its "
                        f"file was edited), so worker processes cannot load it; pass path/to/file.py:fn (or the "
                        f"function as its file now holds it), or run without --workers / --executor ray")


def score_into_store(archs: list, scorer_kwargs: dict, store: str | Path | None, workers: int | None = None,
                     executor: str = "local",
                     ray_address: str | None = None, threads: int | None = None,
                     progress: bool = False) -> tuple[list, int, int]:
    """Score ``archs`` (of ``scorer_kwargs["space"]``) with ``Scorer(**scorer_kwargs)``'s proxies through the
    results ``store`` (an SQLite path or a database URL, created if absent): a score the store already holds
    under the same protocol is read, not computed again (class-sharing proxies: once per isomorphism class);
    the rest is scored by ``workers`` local processes (None or 1: this process; 0: one per core) or on Ray
    (``executor="ray"``; ``workers`` None or 0: every CPU), each arch's records written as it finishes, so a
    run killed at any point resumes where it stopped. ``threads``: torch threads of each scoring process
    (default: the executor's rule, see ``correlate``). ``progress``: a bar with the ETA (a line a minute in a
    log). Returns (one ScoreRecord per arch x proxy in arch-then-proxy order, read back from the store, so a
    resumed run answers as an uninterrupted one; the number of archs scored now; the number of distinct
    (proxy, store key) scores the store held before the run, read instead of computed). A class-sharing proxy's
    record names the member it was measured on (``arch``) under the class's key (``canonical``).
    ``store`` None: nothing is read or kept, and every arch is scored on its own (isomorphs too), so the
    records equal ``Scorer.score``'s at equal threads.
    Errors: UserError (one line) for bad settings, a store that cannot be written, or a proxy that exists in
    this process only when other processes score."""
    from .scoring import ScoreRecord, protocol_hash
    from .spaces.base import loadable

    workers = (1 if executor == "local" else 0) if workers is None else workers
    kwargs = {**scorer_kwargs, "threads": _unit_threads(scorer_kwargs, workers, executor, ray_address,
                                                         threads if threads is not None else
                                                         scorer_kwargs.get("threads"))}
    scorer = Scorer(**kwargs)
    sp, specs = scorer.space, list(scorer.proxies)
    kwargs["space"] = loadable(sp)  # workers load it again: a name or a plug-in's spec, never the object
    if (workers != 1 and kwargs["threads"] is not None) or executor == "ray":  # (0 on a GPU: this process)
        _check_loadable([s.name for s in specs])
    archs = [sp.coerce(a) for a in archs]
    strs = [sp.format(a) for a in archs]
    if store is None:  # no store: every arch scored on its own, as Scorer.score does, and nothing kept
        return (_score_in_memory(archs, strs, kwargs, workers, executor, ray_address, scorer, progress),
                len(set(strs)), 0)
    check_location(store)
    canon = [sp.canonical(a) for a in archs]
    hashes = {s.name: protocol_hash(scorer.protocol(s)) for s in specs}
    keys = {s.name: canon if s.shares_isomorphs else strs for s in specs}
    _connect_before_a_new_store(executor, store, ray_address)
    db = Store(store)
    try:
        names = [s.name for s in specs]
        done, todo = _missing(db, sp.name, names, hashes, keys, archs, strs, range(len(archs)))
        reused = sum(k in done[p] for p in names for k in set(keys[p]))
        run_kwargs = {**kwargs, "proxies": [s.name for s in specs]}
        scored = _run(list(todo.values()), run_kwargs, workers, db, progress, executor, ray_address,
                      weigh=_cost_weight(sp), scorer=scorer)
        records = []
        for s in specs:
            held = db.scored(sp.name, s.name, hashes[s.name])
            how = db.outcomes(sp.name, s.name, hashes[s.name])
            proto = scorer.protocol(s)
            for i, k in enumerate(keys[s.name]):
                arch, value, secs = held[k]
                status, said = how[k]
                value = math.nan if value is None else value  # a failure is stored without a value
                error = said if status == "error" else None
                records.append((i, ScoreRecord(sp.name, arch, k, s.name, value, secs, s.direction, proto,
                                               hashes[s.name], error, [], None if error else said)))
    finally:
        db.close()
    records.sort(key=lambda ir: ir[0])  # arch-then-proxy order (a stable sort keeps the proxies' order)
    return [r for _, r in records], scored, reused


class _Collected:
    """What ``_run`` writes its records to when nothing is kept: this process's memory, a unit's records each."""

    def __init__(self):
        self.units: list[list] = []

    def put(self, records) -> None:
        self.units.append(records)


def _score_in_memory(archs, strs, kwargs, workers, executor, ray_address, scorer, progress=False) -> list:
    """Every distinct arch scored with every proxy on the executor (units come back in any order), its records
    in the list's order, as ``Scorer.score`` gives them (a repeated arch's are its first's: the same seeded
    draw gives the same values)."""
    sp = scorer.space
    todo, seen = [], set()
    for a, s in zip(archs, strs):
        if s not in seen:
            seen.add(s)
            todo.append((a, [p.name for p in scorer.proxies]))
    got = _Collected()
    _run(todo, kwargs, workers, got, progress, executor, ray_address, weigh=_cost_weight(sp), scorer=scorer)
    # a unit is told by the arch its records name: the asked one, except a class-sharing proxy's under
    # isomorph_member "fixed", which names the class's representative (any asked member's records are then equal)
    rep = ({s: sp.format(sp.representative(a)) for a, s in zip(archs, strs)}
           if scorer.isomorph_member == "fixed" else {})
    by: dict[str, list] = {}
    for records in got.units:
        own = next((r.arch for r in records if not get_proxy(r.proxy).shares_isomorphs), None)
        if own is not None or not rep:
            by[own if own is not None else records[0].arch] = records
            continue
        for s in strs:
            if rep[s] == records[0].arch:
                by.setdefault(s, records)
    return [r for s in strs for r in by[s]]


CALIBRATE_MIN = 200  # units below which no calibration is worth its few seconds


def _run(todo, scorer_kwargs, workers, db, progress, executor="local", ray_address=None, weigh=None,
         scorer=None) -> int:
    """Score ``todo`` ((arch, missing proxies) pairs), one executor per set of missing proxies, cheap sets
    first, storing each arch's records as they come. ``weigh(arch)``: its relative cost for the ETA (NB201:
    FLOPs plus a constant, ``_cost_weight``); ``scorer``: this process's Scorer (its space names the archs).
    With progress shown and several
    sets, the first units of each set are scored through that set's own executor before the run (stored like
    the rest) to time them for the ETA (``_calibrate``, ``_Eta``): the same workers, threads and device as the
    run, on every executor (Ray too), and a worker's crash there is reported as one in the run is. The price:
    each set but the first starts its executor twice (a pool's workers, Ray's actors), and the ETA reads "?"
    while the calibration units run."""
    if not todo:
        return 0
    groups: dict[tuple, list] = {}
    for a, missing in todo:
        groups.setdefault(tuple(missing), []).append(a)
    ordered = sorted(groups.items(), key=lambda kv: len(kv[0]))  # cheap groups first
    weigh = weigh if (weigh and progress) else (lambda a: 1.0)  # a weight only steers the ETA
    fmt = getattr(getattr(scorer, "space", None), "format", None)
    weights = {m: [float(weigh(a)) for a in archs] for m, archs in ordered}
    count = 0
    cost: dict[tuple, float] = {}

    def executor_for(missing):
        kw = {**scorer_kwargs, "proxies": list(missing)}
        if kw.get("isomorph_member", "asked") != "asked" and not any(
                p.shares_isomorphs for p in resolve_proxies(list(missing))):
            # the member rule reaches class-sharing proxies only (the others' keys never carry it): a set
            # without one, e.g. params left to score beside a stored synflow, is scored as asked
            kw["isomorph_member"] = "asked"
        return make_executor(kw, workers, executor, ray_address)

    backend = kept = None  # kept: (set, its executor) made by its calibration, still open
    with _progress(len(todo), progress) as advance:
        advance.eta = lambda: None  # "?" until the run shows a rate
        try:
            if progress and len(ordered) > 1 and len(todo) >= CALIBRATE_MIN:
                # the set that runs first is calibrated last: its executor, started, goes on into the run
                for missing, archs in reversed(ordered):
                    backend = executor_for(missing)
                    n, took = _calibrate(backend, archs, weights[missing], fmt, db, advance)
                    count += n
                    del archs[:n], weights[missing][:n]
                    if took is not None:
                        cost[missing] = took
                    if missing == ordered[0][0]:
                        kept = (missing, backend)
                    else:
                        backend.close()
                    backend = None
            eta = _Eta([(weights[m], cost.get(m)) for m, _ in ordered])
            advance.eta = eta.left
            for g, (missing, archs) in enumerate(ordered):
                # an executor scores only the set it was made for
                backend = kept[1] if kept and kept[0] == missing else None
                kept = None if backend is not None else kept
                if not archs:  # every unit of the set was a calibration unit
                    if backend is not None:
                        backend.close()
                        backend = None
                    continue
                # map yields in completion order: a unit's weight is found by its arch
                by_arch = {fmt(a): w for a, w in zip(archs, weights[missing])} if fmt else {}
                backend = backend or executor_for(missing)
                eta.start(g, settle=_settle(backend))  # units in flight before the rate means anything
                for i, records in enumerate(backend.map(archs)):
                    db.put(records)
                    count += 1
                    w = by_arch.get(records[0].arch) if records and by_arch else None
                    eta.done(g, weights[missing][i] if w is None else w)
                    advance()
                backend.close()
                backend = None
        except BaseException:  # Ctrl-C, SIGTERM, a failure: stop the workers, never wait on them
            for b in {id(x): x for x in (backend, kept and kept[1]) if x is not None}.values():
                getattr(b, "abort", b.close)()
            raise
    return count


def _settle(backend) -> int:
    """Units a group must finish before its rate means anything: those a pool holds in flight (2 per worker;
    the first ones also paid the workers' start), 1 in this process."""
    p = _parallel(backend)
    return 2 * p if p > 1 else 1


def _parallel(backend) -> int:
    """Units an executor scores at once (a pool's or Ray's workers; 1 in this process)."""
    return max(1, int(getattr(backend, "workers", 1) or 1))


def _calibrate(backend, archs, weights, fmt, db, advance) -> tuple[int, float | None]:
    """Score the first units of ``archs`` through ``backend`` (the executor their set runs on), storing them;
    (units scored, seconds per unit of weight or None). The seconds are the records' own (a worker's compute,
    not its queueing or start-up); 2W + 1 units for W parallel workers, and their median, because each
    worker's first unit also pays what a process does once (kernel choices timed on first use)."""
    n = min(len(archs), 2 * _parallel(backend) + 1)
    by_arch = {fmt(a): w for a, w in zip(archs[:n], weights[:n])} if fmt else {}
    per: list[float] = []
    for i, records in enumerate(backend.map(archs[:n])):
        db.put(records)
        advance()
        w = by_arch.get(records[0].arch, weights[i]) if records and by_arch else weights[i]
        if records and w > 0:
            per.append(sum(r.seconds for r in records) / w)
    return n, (statistics.median(per) if per else None)


class _Eta:
    """Seconds left in a run of groups of units, each unit with a weight (its relative cost), run one group
    after another. The running group's remaining weight goes at the rate it has shown (weight per second,
    from the group's start: worker start-up included), once it has finished ``settle`` units (a pool has
    that many in flight); until then, and for later groups, at the last such rate scaled by the ratio of the
    groups' calibrated costs (seconds per weight, timed on a few units before the run: a group with more
    proxies costs more per arch, which a count of archs cannot know); a group without a calibration at the
    last rate. None until a unit is done."""

    def __init__(self, groups: list[tuple[list[float], float | None]], clock=time.perf_counter, settle: int = 1):
        self.total = [float(sum(w)) for w, _ in groups]
        self.cost = [c for _, c in groups]
        self.done_w = [0.0] * len(groups)
        self.done_n = [0] * len(groups)
        self.settle = max(1, settle)
        self.clock = clock
        self.g = None
        self.t0 = None
        self.rate = None  # weight per wall second of the last group that showed one
        self.rate_group = None

    def start(self, g: int, settle: int | None = None) -> None:
        """Group ``g`` starts now; ``settle``: as in the constructor, for this group's executor."""
        self.g, self.t0 = g, self.clock()
        if settle is not None:
            self.settle = max(1, settle)

    def done(self, g: int, weight: float) -> None:
        self.done_w[g] += weight
        self.done_n[g] += 1
        elapsed = self.clock() - self.t0
        if elapsed > 0 and self.done_w[g] > 0 and (self.done_n[g] >= self.settle or self.rate is None):
            self.rate, self.rate_group = self.done_w[g] / elapsed, g

    def left(self) -> float | None:
        if self.rate is None or self.g is None:
            return None
        base = self.cost[self.rate_group]
        secs = 0.0
        for g in range(self.g, len(self.total)):
            rest = self.total[g] - self.done_w[g]
            ratio = self.cost[g] / base if base and self.cost[g] and g != self.rate_group else 1.0
            secs += max(rest, 0.0) * ratio / self.rate
        return secs


@contextlib.contextmanager
def _progress(total: int, enabled: bool, every: float = 60.0, stream=None):
    """Yields ``advance()``. On a terminal a rich bar with rate and ETA; otherwise (a log file, a batch job)
    one plain line at most every ``every`` seconds and at the end, where a bar would print nothing useful.
    The ETA is the count of archs left at the rate so far, unless the caller sets ``advance.eta`` to a
    function giving the seconds left (or None: not known yet)."""

    class Advance:
        eta = None

        def __call__(self):
            step()

        def left(self, done: int, elapsed: float) -> float:
            if self.eta is not None:
                secs = self.eta()
                return math.inf if secs is None else secs
            return (total - done) * elapsed / done if done else math.inf

    advance = Advance()
    if not enabled:
        step = lambda: None  # noqa: E731
        yield advance
        return
    stream = stream or sys.stderr
    t0 = time.perf_counter()
    done = 0
    if stream.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}")]
        with Progress(*columns) as bar:
            task = bar.add_task("scoring", total=total, rate="", eta="?")

            def step():
                nonlocal done
                done += 1
                elapsed = time.perf_counter() - t0
                bar.update(task, advance=1, rate=f"{done / elapsed:.2f} arch/s",
                           eta=_hms(0.0 if done == total else advance.left(done, elapsed)))

            yield advance
        return
    last = t0

    def step():
        nonlocal done, last
        done += 1
        now = time.perf_counter()
        if now - last >= every or done == total:
            last, rate = now, done / (now - t0)
            eta = 0.0 if done == total else advance.left(done, now - t0)
            print(f"scoring {done}/{total} archs, {rate:.3g} arch/s, elapsed {_hms(now - t0)}, "
                  f"ETA {_hms(eta)}", file=stream, flush=True)

    yield advance


def _cost_weight(sp):
    """A unit's relative cost for the ETA: on NB201 its closed-form FLOP count (no network built) plus the
    median count over the space (51.996 M), else 1 (another space's count may build networks: too dear for a
    weight). The constant is the cost every arch pays whatever its FLOPs (the build, batch norm, hooks and
    Python): fitted as seconds = a + b FLOPs on the records of two 700-arch runs of the five core proxies
    (CPU), a / b was 48-72 M, near the median, and FLOPs alone explained little (R^2 0.11-0.37 against
    0.60-0.73), so a FLOP-proportional weight swung the first minute's ETA from 41 % short to 25 % long."""
    from .spaces.nb201 import NB201Space

    count = sp.count_flops if isinstance(sp, NB201Space) else None

    def weigh(arch) -> float:
        try:
            return float(count(arch) or 1.0) + _median_flops(sp) if count else 1.0
        except Exception:  # noqa: BLE001  (a weight only steers the ETA)
            return 1.0

    return weigh


@functools.lru_cache(maxsize=1)
def _median_flops(sp) -> float:
    """The median closed-form FLOP count over NB201's 15,625 archs (51,996,352), counted on first use (0.1-0.3 s)
    and kept: only a run that shows an ETA needs it."""
    import statistics

    return float(statistics.median(sp.count_flops(a) for a in sp.enumerate()))


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


OUT_FILES = ["correlation.json", "correlation.csv", "scatter.png", "rho.png", "archs.csv"]  # --out's, in order


def _wrapped(name: str, width: int = 36) -> str:
    """A proxy name on lines of at most about ``width`` characters, broken after '+', '/', ':' or a space
    (an ensemble's members, a plug-in's path), never inside a member's name."""
    import re

    lines, line = [], ""
    for piece in re.findall(r"[^+/: ]+[+/: ]?|[+/: ]", name):
        if line and len(line) + len(piece) > width:
            lines.append(line.rstrip())
            line = ""
        line += piece
    return "\n".join([*lines, line.rstrip()])


def write_outputs(result: CorrelationResult, out: Path) -> list[Path]:
    """correlation.json, correlation.csv, archs.csv (per arch: table index, arch, target, each value),
    scatter.png (score vs accuracy per proxy) and rho.png."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator, SymmetricalLogLocator

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUT_FILES]
    jsonio.write(paths[0], result.to_json(), indent=1, default=str)
    keys = ["spearman", "kendall", "top1", "top5", "top10", "n", "dropped_nan", "no_truth", "nan_values",
            "direction"]
    with atomic_path(paths[1]) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["proxy", *keys])
        for p, r in result.rows.items():
            w.writerow([p, *[r.get(k) for k in keys]])
    per = result.to_json()["per_arch"]
    with atomic_path(paths[4]) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "arch", result.meta.get("target", "truth"), *per["values"]])
        for i, (index, arch, t) in enumerate(zip(per["index"], per["arch"], per["truth"])):
            w.writerow([index, arch, "" if t is None else t if isinstance(t, str) else repr(t),
                        *["" if v[i] is None else v[i] if isinstance(v[i], str) else repr(v[i])
                          for v in per["values"].values()]])
    names = list(result.rows)
    short = short_names(names)  # a plug-in's absolute path overran its panel
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.3 * rows), squeeze=False)
    for ax, p in zip(axes.flat, names):
        v = result.values[p]
        ok = np.isfinite(v)
        inf = np.isinf(v) & np.isfinite(result.truth)  # ranked (last or first) in rho: drawn at an edge, counted
        ax.scatter(v[ok], result.truth[ok], s=3, alpha=0.4)
        lower = " (lower better)" if result.rows[p].get("direction") == -1 else ""
        at_edge = f"\n{int(inf.sum())} at +-inf, drawn at the edge (x)" if inf.any() else ""
        ax.set_title(f"{short[p]}{lower}  rho={result.rows[p]['spearman']:.3f}{at_edge}", fontsize=9)
        if not ok.any():  # an empty panel would read as a plotting fault: say why it is empty
            ax.text(0.5, 0.5, f"no finite value on any of\nthe {len(v)} archs: see\n'zeronas report' or the table",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8, color="tab:red")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        ax.set_xlabel("score")
        ax.set_ylabel(result.meta["target"], fontsize=7)
        pos = np.abs(v[ok][v[ok] != 0])
        if len(pos) and pos.max() / pos.min() > 1e3:  # synflow-like values span tens of decades
            if (v[ok] > 0).all():
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10, numticks=6))  # not one label per decade
            else:
                ax.set_xscale("symlog", linthresh=float(pos.min()))
                loc = SymmetricalLogLocator(base=10, linthresh=float(pos.min()))
                loc.set_params(numticks=6)
                ax.xaxis.set_major_locator(loc)
                if (v[ok] >= 0).all():  # zeros and positives: the margin below 0 drew a -10^k tick over +10^k
                    ax.set_xlim(left=0)
                # the linear part around 0 is a sliver of tens of decades: a decade tick next to 0 overlaps it
                scale = ax.xaxis.get_transform().transform
                lo, hi = scale(np.array(ax.get_xlim(), dtype=float))
                ticks = ax.xaxis.get_majorticklocs()
                ax.set_xticks([t for t in ticks if t == 0 or abs(scale(t) - scale(0.0)) > 0.1 * (hi - lo)])
            ax.xaxis.set_minor_locator(NullLocator())
        else:  # params-like values (1e5..1e6): a shared exponent, not six-digit labels running into each other
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        if inf.any():
            lo, hi = ax.get_xlim()
            ax.scatter(np.where(v[inf] > 0, hi, lo), result.truth[inf], s=14, marker="x", color="tab:red",
                       clip_on=False, zorder=3)
            ax.set_xlim(lo, hi)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    rhos = [result.rows[p]["spearman"] for p in names]
    # a lower-is-better proxy that ranks well has a negative rho: its bar says so, beside its name; long names
    # (ensembles, a plug-in's path) wrap beside horizontal bars instead of being cut off under rotated ones
    short = short_names(names)
    labels = [_wrapped(f"{short[p]} (lower better)" if result.rows[p].get("direction") == -1 else short[p])
              for p in names]
    widest = max((len(line) for label in labels for line in label.split("\n")), default=8)
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(figsize=(4.5 + 0.075 * widest, max(2.8, 0.3 * lines + 0.25 * len(names) + 1.2)))
    ax.barh(range(len(names)), rhos, color=["tab:blue" if r >= 0 else "tab:red" for r in rhos])
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.invert_yaxis()  # the order asked, top to bottom
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel("Spearman rho (signed, raw values)")
    ax.set_title(f"{result.meta['space']} {result.meta['dataset']}: {result.meta['archs']} archs")
    fig.tight_layout()
    fig.savefig(paths[3], dpi=110)
    plt.close(fig)
    return paths


callable_module(__name__, correlate)  # zeronas.correlate(...) runs correlate()
