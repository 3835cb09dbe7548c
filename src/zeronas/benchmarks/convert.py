"""Convert the official NAS-Bench-201 / NATS-Bench-TSS files into the compact table zeronas reads.

Accepted sources (the benchmark's own names; versions differ slightly in stored metrics, so the output
records which one it came from):

* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` (``torch.save`` of a dict whose
  per-arch results are keyed ``less`` = 12 epochs and ``full`` = 200 epochs);
* ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (a bz2 pickle of the same dict, keyed ``'12'`` / ``'200'``);
* the ``NATS-tss-v1_0-3ffb9-simple/`` (or ``-full/``) folder: ``meta.pickle.pbz2`` plus one
  ``{index:06d}.pickle.pbz2`` per architecture.

Each architecture's results are ``ArchResults`` state dicts: ``all_results[(dataset, seed)]`` holds one
trial with ``eval_acc1es['<split>@<epoch>']``, ``train_acc1es[epoch]``, ``params`` (M) and ``flop`` (M).
Accuracies are averaged over seeds, as NATS-Bench's ``get_more_info(..., is_random=False)`` does.
The output has the columns of ``nb201_main.csv.gz`` that can be derived from these files (the NASLib
single-seed columns cannot), plus seed-mean validation accuracy for CIFAR-100 and ImageNet16-120.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import UserError
from ..safe_io import CONTAINERS, numpy_arrays, numpy_for_torch, safe_pickle_load, safe_torch_load
from .nb201 import MAIN_TABLE
from .table import check_convert_target, write_converted

NUM_ARCHS = 15625
HP_ALIASES = {"full": "200", "less": "12", "200": "200", "12": "12"}
# output column -> (hp, dataset, split); split 'train' is the final training accuracy
COLUMNS = {
    "cifar10_test_acc": ("200", "cifar10", "ori-test"),
    "cifar100_test_acc": ("200", "cifar100", "x-test"),
    "imagenet16_120_test_acc": ("200", "ImageNet16-120", "x-test"),
    "cifar10valid_valid_acc": ("200", "cifar10-valid", "x-valid"),
    "cifar10valid_test_acc": ("200", "cifar10-valid", "ori-test"),
    "cifar10valid_train_acc": ("200", "cifar10-valid", "train"),
    "cifar100_valid_acc": ("200", "cifar100", "x-valid"),
    "imagenet16_120_valid_acc": ("200", "ImageNet16-120", "x-valid"),
    "hp12_cifar10_test_acc": ("12", "cifar10", "ori-test"),
    "hp12_cifar100_test_acc": ("12", "cifar100", "x-test"),
    "hp12_imagenet16_120_test_acc": ("12", "ImageNet16-120", "x-test"),
}
COST_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}

# What an official NATS-Bench pickle holds: ArchResults/ResultsCount state dicts (dicts keyed by strings,
# ints and tuples; lists; floats, ints, strings, None) and, where a value was computed with numpy, numpy
# scalars/arrays. Tensors are refused: outside torch.save they pickle through torch.storage._load_from_bytes,
# which runs a nested torch.load; the accuracies never need them (trained weights sit in -full archives only).
_PBZ2_ALLOWED = {**CONTAINERS, **numpy_arrays()}
_FIX = "download the official file again (or re-run 'zeronas data convert' on an intact copy)"


def _load_pbz2(path: Path):
    return safe_pickle_load(path, _PBZ2_ALLOWED, compression="bz2", fix=_FIX,
                            what="an official NATS-Bench .pickle.pbz2 file")


def _load_pth(path: Path):
    """The NAS-Bench-201 ``.pth`` (a ``torch.save`` of plain dicts/lists/numbers/strings) through torch's
    weights-only loader; numpy scalars/arrays are admitted because older files hold them next to floats."""
    return safe_torch_load(path, what="an official NAS-Bench-201 .pth file", fix=_FIX, extra_globals=numpy_for_torch())


def read_official(source: str | Path):
    """Yield ``(meta_archs, {index: {hp: ArchResults-state}})`` lazily for a file or a per-arch folder."""
    source = Path(source)
    if not source.exists():
        raise UserError(f"{source} does not exist; pass the official NAS-Bench-201 .pth, NATS-tss .pickle.pbz2 "
                        f"file or NATS-tss-*-simple folder")
    if source.is_dir():
        meta_file = source / "meta.pickle.pbz2"
        if not meta_file.exists():
            raise UserError(f"{source} has no meta.pickle.pbz2; pass a NATS-tss-v1_0-3ffb9-simple (or -full) folder")
        meta = _load_pbz2(meta_file)
        archs = _meta_archs(meta, meta_file)

        def per_arch():
            for i in range(len(archs)):
                for name in (f"{i:06d}.pickle.pbz2", f"{i}.pickle.pbz2"):
                    if (source / name).exists():
                        yield i, _load_pbz2(source / name)
                        break
        return archs, per_arch()
    data = _load_pth(source) if source.suffix == ".pth" else _load_pbz2(source)
    if not isinstance(data, dict) or "arch2infos" not in data:
        raise UserError(f"{source} has no 'arch2infos': not an official NAS-Bench-201/NATS-Bench-TSS file")
    archs = _meta_archs(data, source)
    infos = data["arch2infos"]
    if not isinstance(infos, dict):
        raise UserError(f"{source}: 'arch2infos' is a {type(infos).__name__}, not a dict of per-architecture "
                        f"results: not an official NAS-Bench-201/NATS-Bench-TSS file; {_FIX}")
    try:
        indexed = sorted((int(i), r) for i, r in infos.items())
    except (TypeError, ValueError):
        raise UserError(f"{source}: 'arch2infos' has keys that are not architecture indexes: not an official "
                        f"NAS-Bench-201/NATS-Bench-TSS file; {_FIX}") from None
    return archs, iter(indexed)


def _meta_archs(meta, path) -> list[str]:
    archs = meta.get("meta_archs") if isinstance(meta, dict) else None
    if not isinstance(archs, (list, tuple)) or len(archs) != NUM_ARCHS:
        raise UserError(f"{path}: 'meta_archs' is missing or does not list {NUM_ARCHS} architectures; this is "
                        f"not a NAS-Bench-201 / NATS-Bench topology file (the size space is not supported)")
    return [str(a) for a in archs]


def _metric(state: dict, dataset: str, split: str) -> float:
    """Seed-mean final-epoch accuracy of one ArchResults state dict; NaN when the file lacks it."""
    seeds = state.get("dataset_seed", {}).get(dataset, [])
    values = []
    for seed in seeds:
        trial = state["all_results"].get((dataset, seed))
        if trial is None:
            continue
        last = int(trial["epochs"]) - 1
        if split == "train":
            acc = trial.get("train_acc1es", {}).get(last)
        else:
            acc = trial.get("eval_acc1es", {}).get(f"{split}@{last}")
        if acc is not None:
            values.append(float(acc))
    return float(np.mean(values)) if values else math.nan


def _cost(state: dict, dataset: str, key: str) -> float:
    for seed in state.get("dataset_seed", {}).get(dataset, []):
        trial = state["all_results"].get((dataset, seed))
        if trial is not None and trial.get(key) is not None:
            return float(trial[key])
    return math.nan


def convert(source: str | Path, out_dir: str | Path, progress: bool = False, replace: bool = False) -> dict:
    """Write ``<out_dir>/nasbench201/nb201_main.csv.gz`` (+ a ``.source.json`` provenance file); a NAS-Bench-101
    ``.tfrecord`` (by name or by its TFRecord header) goes to ``nb101_tfrecord.convert_nb101`` instead. A table
    already there is replaced only when it came from the same source file, or with ``replace``
    (``table.check_convert_target``). Accuracies must lie in 0..100 (percent)."""
    from ..spaces import space as get_space
    from .nb101_tfrecord import convert_nb101, looks_like_tfrecord

    source, out_dir = Path(source), Path(out_dir)
    if source.suffix == ".tfrecord" or (source.is_file() and looks_like_tfrecord(source)):
        return convert_nb101(source, out_dir, progress, replace)
    if source.is_file() and source.name.endswith((".csv.gz", ".csv")):  # a table zeronas reads, not a release
        raise UserError(f"{source} is a table (zeronas's converted form is nb201_main.csv.gz), not an official "
                        f"release file: nothing to convert; if it is zeronas's, put it under nasbench201/ in a data "
                        f"folder and pass that folder as --data-dir (or ZERONAS_DATA)")
    if source.is_file() and not (source.suffix == ".pth" or source.name.endswith(".pbz2")):
        raise UserError(f"{source}: not a release file zeronas converts (by its name); give NAS-Bench-201's "
                        f"NAS-Bench-201-v1_*.pth, NATS-Bench's NATS-tss-*.pickle.pbz2 (or its -simple folder), or "
                        f"NAS-Bench-101's nasbench_only108.tfrecord")
    t0 = time.perf_counter()
    hashable = source.is_file() or (source / "meta.pickle.pbz2").is_file()  # else read_official refuses it
    source_sha256 = _source_hash(source) if hashable else ""
    if hashable:  # before the (minutes-long) loading of a release file
        check_convert_target(out_dir / MAIN_TABLE, source, source_sha256, replace)
    archs, results = read_official(source)
    sp = get_space("nb201")
    try:  # a malformed string says so before any work, naming the file
        parsed = [sp.parse(a) for a in archs]
    except UserError as exc:
        raise UserError(f"{source}: its 'meta_archs' {exc}; {_FIX}") from None
    header = ["index", "arch_str", *COLUMNS, *(f"params_M_{k}" for k in COST_DATASETS),
              *(f"flops_M_{k}" for k in COST_DATASETS), "in_graf9445"]
    rows = {i: None for i in range(NUM_ARCHS)}
    seen = 0
    for i, per_hp in _progress(results, progress):
        try:
            hps = {HP_ALIASES.get(str(k)): v for k, v in dict(per_hp).items() if str(k) in HP_ALIASES}
            if not hps:
                continue
            row = [_metric(hps[hp], ds, split) if hp in hps else math.nan for hp, ds, split in COLUMNS.values()]
            base = hps.get("200") or next(iter(hps.values()))
            row += [_cost(base, ds, "params") for ds in COST_DATASETS.values()]
            row += [_cost(base, ds, "flop") for ds in COST_DATASETS.values()]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # loaded safely, but not the layout
            raise UserError(f"{source}: the results of architecture {i} do not have the NAS-Bench-201/NATS-Bench "
                            f"layout ({type(exc).__name__}: {' '.join(str(exc).split())[:100]}); {_FIX}") from None
        if not 0 <= i < NUM_ARCHS:
            raise UserError(f"{source}: results for architecture {i}, outside 0..{NUM_ARCHS - 1}; {_FIX}")
        bad = [(c, v) for c, v in zip(COLUMNS, row) if not (math.isnan(v) or 0 <= v <= 100)]
        if bad:  # a percentage outside 0..100 is not NAS-Bench-201's
            raise UserError(f"{source}: architecture {i} has {bad[0][0]} {bad[0][1]:g}, not a percentage in 0..100; "
                            f"{_FIX}")
        rows[i] = row
        seen += 1
    if seen == 0:
        raise UserError(f"{source} lists the architectures but holds no results; for the -simple folder, "
                        f"download the per-architecture files too")
    def table_rows():
        for i, arch in enumerate(archs):
            vals = rows[i] or [math.nan] * (len(header) - 3)
            reachable = not sp.has_unreachable_ops(parsed[i])
            yield [i, arch, *("" if math.isnan(v) else f"{v:.6g}" for v in vals), str(reachable)]

    return write_converted(out_dir / MAIN_TABLE, header, table_rows(), source, source_sha256, t0,
                           archs_with_results=seen, archs=NUM_ARCHS)


def _source_hash(source: Path) -> str:
    """A file's sha256; for a -simple/-full folder, the sha256 of its meta file's digest and every per-arch
    file's name and size: a partial copy of the same release (files missing) is another source, so it cannot
    replace a fuller table unasked (``check_convert_target``)."""
    if source.is_file():
        return paths.file_sha256(source)
    import hashlib

    h = hashlib.sha256(paths.file_sha256(source / "meta.pickle.pbz2").encode())
    for f in sorted(source.glob("*.pickle.pbz2")):
        h.update(f"{f.name}:{f.stat().st_size};".encode())
    return h.hexdigest()


def _progress(items, enabled, every: float = 30.0):
    """A bar on a terminal; in a log one line every ``every`` seconds (a -simple folder unpacks an archive
    per arch inside this loop: minutes)."""
    import sys

    if not enabled:
        yield from items
        return
    if not sys.stderr.isatty():
        t0 = last = time.perf_counter()
        for i, item in enumerate(items, 1):
            yield item
            now = time.perf_counter()
            if now - last >= every:
                last = now
                print(f"converting: {i:,} of {NUM_ARCHS:,} archs, {now - t0:.0f} s elapsed, ETA "
                      f"{(now - t0) * (NUM_ARCHS - i) / i:.0f} s", file=sys.stderr, flush=True)
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task("converting", total=NUM_ARCHS)
        for item in items:
            yield item
            bar.advance(task)
