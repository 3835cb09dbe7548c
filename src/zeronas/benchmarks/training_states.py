"""A training-states bench (the DTB idea of DAS, Liu et al. arXiv 2212.12132): train each architecture a few
epochs and record, after every epoch (and at init, epoch 0), its accuracy and loss and each selected proxy
computed on the current weights. It answers "does a proxy on briefly trained weights (DAS's fast training)
predict the final accuracy better than at init?" without retraining anything.

Rows go to the results store, one per (arch, metric@epoch), under one protocol hash that names every
setting; an architecture's rows are written in one transaction when it finishes, so a killed build
resumes at the first unfinished architecture and never holds half an architecture.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ..errors import UserError
from ..proxies.base import get_proxy
from ..scoring import Scorer, ScoreRecord, protocol_hash
from ..train.trainer import (
    evaluate,
    load_split,
    make_optimizer,
    recipe_for,
    recipe_record,
    subset_notes,
    train_one_epoch,
)

PREFIX = "dtb:"


class _ProxyBatchScorer(Scorer):
    batch_flag = "--proxy-batch"  # the bench's own flag for the proxies' batch, named in a too-small-batch error


def bench_protocol(space, *, proxies, epochs, data, train_subset, test_subset, batch_size, lr, C, N, seed,
                   proxy_batch, fidelity) -> dict:
    recipe = recipe_for(space.name).replace(epochs=epochs, batch_size=batch_size, lr=lr, C=C, N=N, cutout=0,
                                           auxiliary_weight=0.0, drop_path_prob=0.0)
    return {"bench": "training-states", "space": space.name, "data": data, "train_subset": train_subset,
            "test_subset": test_subset, "seed": seed, "recipe": recipe_record(recipe),
            "proxies": canonical_proxies(proxies), "proxy_batch": proxy_batch, "fidelity": fidelity,
            "torch": torch.__version__}


DEFAULT_PROXIES = ("nwot", "das", "das_d", "das_na")


def canonical_proxies(proxies) -> list[str]:
    """The proxies in one order whatever order they were asked in (the default's own order first, as its
    stores were keyed, then the rest by name), repeats dropped: the same set, the same bench key."""
    names = list(dict.fromkeys(get_proxy(p).name for p in proxies))  # your own: one name however it was written
    return sorted(names, key=lambda n: (DEFAULT_PROXIES.index(n) if n in DEFAULT_PROXIES else len(DEFAULT_PROXIES), n))


DEFAULT_N = {"nb201": 1, "darts": 5}  # DARTS needs N >= 3 for a normal cell; 5 as its reduced searches use


def build(space, archs, store, *, proxies=DEFAULT_PROXIES, epochs=3, data="cifar10",
          data_dir=None, train_subset=2048, test_subset=1000, batch_size=128, lr=0.1, C=8, N=None, seed=0,
          proxy_batch=64, device="cpu", progress=True) -> dict:
    """Train and measure every arch in ``archs`` (skipping those already in ``store``); returns a summary
    (``notes``: e.g. a subset larger than its set, of which all is used).
    ``N`` defaults to the space's smallest useful depth (``DEFAULT_N``: NB201 1 cell per stage, DARTS 5)."""
    N = DEFAULT_N.get(space.name, 1) if N is None else N
    from ..store import Store

    if epochs < 1:
        raise UserError(f"--epochs must be at least 1, not {epochs}")
    xtr, ytr, xte, yte, train_set = load_split(data, data_dir, train_subset, test_subset, seed)
    if len(ytr) < batch_size:
        raise UserError(f"{len(ytr)} training images are fewer than one batch of {batch_size}; lower --batch-size")
    proto = bench_protocol(space, proxies=proxies, epochs=epochs, data=data, train_subset=train_subset,
                           test_subset=test_subset, batch_size=batch_size, lr=lr, C=C, N=N, seed=seed,
                           proxy_batch=proxy_batch, fidelity=train_set.fidelity)
    recipe = recipe_for(space.name).replace(**proto["recipe"])
    phash = protocol_hash(proto)
    if archs:  # a width or depth the space refuses (DARTS N < 3): its own words (--N), before the store exists
        space.build(space.coerce(archs[0]), C=C, N=N)
    # proxies score batches of the same training images the networks learn from
    scorer = _ProxyBatchScorer(space, proto["proxies"], images=train_set, batch_size=proxy_batch, seed=seed,
                               device=device, build_options={"C": C, "N": N})
    db = store if isinstance(store, Store) else Store(store)  # only now: a refused build leaves no store behind
    final_key = f"{PREFIX}test_acc@{epochs}"
    done = db.done(space.name, final_key, phash)
    todo = [a for a in dict.fromkeys(space.format(a) for a in archs) if a not in done]
    t_start, n_done = time.perf_counter(), 0
    bar = None
    if progress and todo:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("[bold]bench build[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                       TimeRemainingColumn())
        bar.start()
        task = bar.add_task("", total=len(todo))
    try:
        for text in todo:
            arch = space.parse(text)
            records = []

            def put(metric, epoch, value, seconds=0.0, text=text, records=records):
                records.append(ScoreRecord(space.name, text, text, f"{PREFIX}{metric}@{epoch}", float(value), seconds,
                                           1, proto, phash))

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = space.build(arch, C=C, N=N, num_classes=scorer.num_classes).to(device)
            opt = make_optimizer(model, recipe)
            for epoch in range(epochs + 1):
                if epoch > 0:
                    t0 = time.perf_counter()
                    row = train_one_epoch(model, opt, xtr, ytr, recipe, epoch - 1, seed, device)
                    put("train_loss", epoch, row["train_loss"], time.perf_counter() - t0)
                    put("train_acc", epoch, row["train_acc"])
                test_loss, test_acc = evaluate(model, xte, yte, 500, device)
                put("test_loss", epoch, test_loss)
                put("test_acc", epoch, test_acc)
                # a copy: proxies must not touch the weights being trained; failures are recorded as NaN
                for r in scorer.score_arch(arch, weights=copy.deepcopy(model)):
                    put(r.proxy, epoch, r.value, r.seconds)
                model.train()
            db.put(records)
            n_done += 1
            if bar is not None:
                bar.update(task, advance=1)
    finally:
        if bar is not None:
            bar.stop()
    return {"protocol_hash": phash, "protocol": proto, "archs": len(set(space.format(a) for a in archs)),
            "trained_now": n_done, "seconds": time.perf_counter() - t_start,
            "notes": subset_notes(data, train_subset, ytr, test_subset, yte)}


def load(store, protocol_hash_: str | None = None) -> tuple[dict, dict[str, dict[str, float]]]:
    """The bench in ``store``: (protocol, {metric@epoch: {arch: value}}). Without a hash, the only (or newest)
    training-states protocol in the store."""
    from ..store import Store

    db = store if isinstance(store, Store) else Store(store, create=False)  # a reader never creates a store
    hashes = db.protocol_hashes(PREFIX)
    if not hashes:
        raise UserError(f"{db} holds no training-states bench; build one with 'zeronas bench build'")
    h = protocol_hash_ or hashes[0]
    if h not in hashes:
        raise UserError(f"no bench with protocol {h} in {db}; it holds {', '.join(hashes)}")
    out: dict[str, dict[str, float]] = {}
    for arch, proxy, value in db.records(h, PREFIX):
        out.setdefault(proxy[len(PREFIX):], {})[arch] = value
    return db.protocol(h), out


def targets(protocol: dict, metrics: dict, data_dir=None) -> dict[str, dict[str, float]]:
    """What to correlate with: the bench's own final test accuracy and, on NB201, the benchmark's 200-epoch
    and 12-epoch test accuracy of the dataset the bench trained on (``protocol["data"]``: CIFAR-10, CIFAR-100 or
    ImageNet16-120; none for other images). The 12-epoch column is also added to ``metrics`` as a predictor
    (``nb201_12ep@12``): how much the benchmark's own short schedule predicts. Raises DataNotFound without
    the NB201 table."""
    epochs = protocol["recipe"]["epochs"]
    out = {"final": metrics.get(f"test_acc@{epochs}", {})}
    columns = benchmark_columns(protocol)
    if columns:
        from .nb201 import load_nb201

        table = load_nb201(data_dir)
        archs = list(out["final"])
        idx = [table.index_of(a) for a in archs]
        for name, col in columns.items():
            values = table.column(col)
            out[name] = {a: float(values[i]) for a, i in zip(archs, idx)}
        metrics["nb201_12ep@12"] = out["nb201_12ep"]
    return out


def benchmark_columns(protocol: dict) -> dict[str, str]:
    """{target name: NB201 table column} for a bench's dataset: ``nb201_200ep`` and ``nb201_12ep`` are that
    dataset's 200- and 12-epoch test accuracy (CIFAR-100's for a CIFAR-100 bench); {} off NB201 or for images
    that are not one of its datasets."""
    from .nb201 import HP12, TARGETS, normalize_dataset

    if protocol["space"] != "nb201":
        return {}
    try:
        dataset = normalize_dataset(str(protocol["data"]))
    except UserError:  # the user's own images: the benchmark's accuracies are of another task
        return {}
    if dataset not in HP12:
        return {}
    return {"nb201_200ep": TARGETS[(dataset, "test")][0], "nb201_12ep": HP12[dataset]}


def correlations(protocol: dict, metrics: dict, targets: dict[str, dict[str, float]]) -> list[dict]:
    """Spearman of every metric@epoch with every target ({name: {arch: value}}) on the archs that have both.
    Only complete architectures (that reached the last epoch) count; ``left_out`` counts, per target, the
    complete archs without a value or a target (NaN, e.g. a blank benchmark cell)."""
    from .correlation import correlation

    epochs = protocol["recipe"]["epochs"]
    complete = set(metrics.get(f"test_acc@{epochs}", {}))
    out = []
    for key in sorted(metrics, key=lambda k: (k.split("@")[0], int(k.split("@")[1]))):
        name, epoch = key.split("@")
        row = {"metric": name, "epoch": int(epoch)}
        for tname, target in targets.items():
            archs = sorted(a for a in complete if a in target and a in metrics[key])
            if len(archs) < 3:
                continue
            v = np.array([metrics[key][a] for a in archs])
            t = np.array([target[a] for a in archs])
            direction = -1 if name.endswith("loss") else 1
            c = correlation(v, t, direction)
            row[tname] = c["spearman"]
            row["n"] = c["n"]  # the last target's (kept for older readers); per target in n_by_target
            row.setdefault("n_by_target", {})[tname] = c["n"]
            if len(complete) - c["n"]:
                row.setdefault("left_out", {})[tname] = len(complete) - c["n"]
        out.append(row)
    return out
