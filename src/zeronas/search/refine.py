"""Few-shot refinement: after a label-free search, make K reads of a real accuracy signal (the top K
candidates, or hill climbing from the top ceil(K/4): ``refine``) and answer with the best read. Every read is
counted (``SearchResult.accuracy_reads``)."""

from __future__ import annotations

import math

from ..benchmarks.nb201 import HP12
from ..errors import UserError
from ..precision import user_float32

EVALUATORS = ("table", "train")
# With a time budget, the share of it a search keeps back for --evaluator train's reads (the label-free phase
# gets the rest); fixed a priori: half, so that K reads of a few tens of seconds each fit a 5-minute search
TRAIN_SHARE = 0.5
MIN_READ_SECONDS = 2.0  # the least time a read is started with (more where its probe predicts more)
PROBE_IMAGES = 32  # images of the forward pass that predicts a read's cost (fewer: cheaper, noisier)


SCRATCH_PREFIX = "zeronas-refine-"  # + "<pid>@<host>-": see scratch_prefix and sweep_orphans


def _host() -> str:
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"


def scratch_prefix() -> str:
    """The name prefix of this search's scratch folder: its pid and host, so that a later search on this host
    can tell whether the search that made it is still running."""
    import os

    return f"{SCRATCH_PREFIX}{os.getpid()}@{_host()}-"


def sweep_orphans(tmp: str | None = None) -> list[str]:
    """Remove the scratch folders of training reads whose search is gone (killed by SIGKILL or a crash, so its
    ``close`` never ran): those in the temp folder made on this host (a temp folder shared between hosts
    holds others' live searches), owned by this user, whose pid has no live process here. A live pid, also
    one reused by another process, keeps its folder. Not on Windows, where os.kill is no liveness test.
    Returns the folders removed."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    if os.name == "nt":
        return []
    removed = []
    uid = os.getuid()
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*@{_host()}-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("@", 1)[0]
        try:
            if not pid.isdigit() or not folder.is_dir() or folder.stat().st_uid != uid:
                continue
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except (OSError, OverflowError):  # another user's live process, no such pid at all, a vanished folder
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


class OutOfTime(Exception):
    """No time is left for another accuracy read (the search's time budget)."""




class Evaluator:
    """An accuracy signal read once per distinct architecture: ``reads`` counts them. Subclasses give
    ``name`` and ``evaluate(arch)`` (percent)."""

    name = ""

    def __init__(self, space):
        self.space = space
        self.values: dict[str, float] = {}
        self.ran_out_of_time = False  # set by refine() when a read found no time left
        self.out_of_time_why = ""  # and why (the seconds left against those a read needs)

    @property
    def reads(self) -> int:
        return len(self.values)

    def __call__(self, arch) -> float:
        """The accuracy (NaN counts as worst when ranking: -inf)."""
        key = self.space.format(arch)
        if key not in self.values:
            v = self.evaluate(arch)
            self.values[key] = v if math.isfinite(v) else -math.inf
        return self.values[key]

    def evaluate(self, arch) -> float:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the reads left behind (nothing here)."""


class TableEvaluator(Evaluator):
    """NB201's 12-epoch test accuracy (percent, one seed) of an architecture, from ``nb201_main.csv.gz``; the
    200-epoch columns the results report are never read here. ``reads``: distinct architectures read.
    Errors: another space, or no table (one-line UserError)."""

    name = "table"

    def __init__(self, space, data=None, data_dir=None):
        from ..benchmarks.hwnasbench import hw_dataset
        from ..benchmarks.nb201 import load_nb201

        if space.name != "nb201":
            from ..train import RECIPES

            fix = ("use --evaluator train" if space.name in RECIPES else
                   f"--evaluator train needs a training recipe, which exists for {', '.join(RECIPES)} only, so "
                   f"{space.name} searches run label-free (drop --refine)")
            raise UserError(f"--evaluator table reads NB201's 12-epoch accuracy and has nothing for the "
                            f"{space.name} space; {fix}")
        super().__init__(space)
        self.dataset = hw_dataset(data)
        self.table = load_nb201(data_dir)
        self.column = HP12[self.dataset]

    def evaluate(self, arch) -> float:
        return float(self.table.column(self.column)[self.table.index_of(self.space.format(arch))])


class TrainEvaluator(Evaluator):
    """Real short training (``zeronas.train.train``) of a candidate, for spaces without a table: the space's
    recipe, shortened to ``epochs`` (default 1) on ``train_subset`` training images (default 5,000), judged on
    ``test_subset`` held-out test images (default 1,000); the answer is the final test accuracy (percent).
    Each candidate trains into ``out``/<arch hash> with its checkpoint, so with ``out`` given a killed
    refinement resumes (not under a time budget: see below); without it the reads train in a scratch folder
    that ``close()`` removes (each checkpoint is ~10 MB). The accuracy is a short-training signal (as in
    DAS's fast training or RoBoT), not the benchmark's 200 epochs.
    ``reads``: distinct architectures trained. Errors: a space without a recipe (one-line UserError).

    Under a time budget the search sets ``deadline`` (a ``time.perf_counter()`` instant) and ``planned`` (the
    reads it means to make): each read then gets an equal share of the time left (``train``'s ``time_limit``,
    which covers its set-up, steps and evaluation); when that share is under the least a read of this candidate
    takes (one step and the evaluation: ``probe``'s prediction, calibrated by the last read's measured least,
    and at least ``MIN_READ_SECONDS``) the read takes all the time left instead, and when even that is under
    it, the read raises ``OutOfTime`` instead of starting; the seconds the last read ran past its limit (its
    last files) are kept back from the next. A read always trains one step and evaluates, so a read can end
    past the deadline by what the prediction missed (NB201's recipe on 2 cores: one step and the evaluation of
    1,000 images take 7-20 s)."""

    name = "train"

    def __init__(self, space, data=None, data_dir=None, epochs: int = 1, train_subset: int = 5000,
                 test_subset: int = 1000, out=None, device: str = "cpu", seed: int = 0,
                 batch_size: int | None = None, lr: float | None = None):
        import torch

        from ..train import trainer

        epochs = 1 if epochs is None else epochs
        # the recipe's fields a read replaces (a plug-in space has no published recipe: it needs both)
        self.overrides = {k: v for k, v in (("batch_size", batch_size), ("lr", lr)) if v is not None}
        if getattr(space, "plugin", False) and len(self.overrides) < 2:
            missing = " and ".join(f"--refine-{k.replace('_', '-')}" for k in ("batch_size", "lr")
                                   if k not in self.overrides)
            raise UserError(f"--evaluator train on the plug-in space {space.name}, which has no published training "
                            f"recipe: give {missing} (its reads train {epochs} epoch(s) with SGD, momentum 0.9, "
                            f"weight decay 3e-4, cosine to 0)")
        # refuses a space without a recipe before the search runs
        self.recipe = trainer.base_recipe(space, {"epochs": epochs, **self.overrides}).replace(
            epochs=epochs, **self.overrides)
        # one-off costs of a first training run (plotting, the optimizer's first import of torch's compiler:
        # ~3 s together on 2 cores) paid here, inside the search's clock, not inside a read's time share
        trainer._pyplot()
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        super().__init__(space)
        from ..data.datasets import ImageSet

        if isinstance(data, ImageSet) and str(data.dataset).startswith("folder:"):  # the user's folder, as loaded
            data = data.source  # for scoring: its reads train on the folder itself, split as 'zeronas train' does
        elif isinstance(data, ImageSet):
            raise UserError("--evaluator train trains on a named dataset or an image folder, not images given as "
                            "arrays or a torch dataset; save them as root/<class>/<images> or drop --refine")
        self.data = data if data not in (None, "auto", "none") else "cifar10"
        self.fit_batch = {}  # a folder with fewer training images than the recipe's batch: one batch of them all
        self.sizes = (train_subset, test_subset)  # the images a read trains and tests on
        from ..data.custom import folder_split_sizes, folder_splits, is_image_folder

        if is_image_folder(self.data):
            folder_splits(self.data)  # its refusals (one class, no test images, memory) before the search runs;
            n_train, n_test = folder_split_sizes(self.data)  # decoded once, the reads reuse it
            self.sizes = (min(n_train, train_subset), min(n_test, test_subset))
            if self.sizes[0] < self.recipe.batch_size:
                self.fit_batch = {"batch_size": max(1, self.sizes[0])}
        self.data_dir = data_dir
        self.epochs, self.train_subset, self.test_subset = epochs, train_subset, test_subset
        self.device, self.seed = device, seed
        self.out, self.keeps = out, out is not None  # no out: a scratch folder, removed by close()
        self.seconds = 0.0
        self.deadline: float | None = None
        self.planned = 1
        self.limits: list[float] = []  # the time limit each read trained under
        self.images: list[int] = []  # the images each read trained on in its last epoch
        self.cut = 0  # reads whose time limit ended their training part-way
        # a read that trains one step, predicted from a forward pass of the candidate (``probe``) times the
        # ratio of the last read's measured least to its prediction (1 before any read: the prediction alone)
        self.calibration = 1.0
        self.over = 0.0  # the seconds the last read took past its limit (writing its files): kept back next time

    @property
    def column(self) -> str:
        """What a read is (a time limit may have cut reads short: ``images`` says how short)."""
        if self.cut:
            return (f"test_acc after time-limited training (at most {self.epochs} epoch(s) on {self.sizes[0]} "
                    f"images{self._batch_note}; train_images has each read's)")
        return f"test_acc after {self.epochs} epoch(s) on {self.sizes[0]} images{self._batch_note}"

    @property
    def _batch_note(self) -> str:
        return f", batches of {self.fit_batch['batch_size']}" if self.fit_batch else ""

    def close(self) -> None:
        """Remove the scratch folder of the trained networks (kept when ``out`` was given)."""
        import shutil

        if not self.keeps and self.out is not None:
            shutil.rmtree(self.out, ignore_errors=True)
            self.out = None

    def evaluate(self, arch) -> float:
        import hashlib
        import tempfile
        import time
        from pathlib import Path

        from ..train import train

        if self.out is None:
            sweep_orphans()
            self.out = tempfile.mkdtemp(prefix=scratch_prefix())

        limit = None
        if self.deadline is not None:
            probed = self.probe(arch)  # inside the deadline: a read's cost includes it
            least = max(MIN_READ_SECONDS, probed * self.calibration)
            t0 = time.perf_counter()
            limit = (self.deadline - t0) / max(1, self.planned - self.reads) - self.over
            if limit < least:  # too little for an equal share: this read takes all that is left
                limit = self.deadline - t0 - self.over
            if limit < least:
                raise OutOfTime(f"{max(0.0, self.deadline - t0):.0f} s left, a read of this candidate needs about "
                                f"{least:.0f} s")
            self.limits.append(limit)
        t0 = time.perf_counter()
        folder = Path(self.out) / hashlib.sha256(self.space.format(arch).encode()).hexdigest()[:16]
        with user_float32():  # trains as 'zeronas train' does (the search scores without TF32: precision.py)
            summary = train(self.space, arch, folder, data=self.data, data_dir=self.data_dir, device=self.device,
                            seed=self.seed, train_subset=self.train_subset, test_subset=self.test_subset,
                            progress=False, epochs=self.epochs, time_limit=limit,
                            resume=limit is None,  # a time-limited read trains afresh: its limit is this run's
                            **{**self.overrides, **self.fit_batch})
        spent = time.perf_counter() - t0
        self.seconds += spent
        if limit is not None:
            self.over = max(0.0, spent - limit)
        final = summary.get("final")
        self.images.append(int(final.get("images", 0)) if final else 0)
        self.cut += bool(final and final.get("stopped_early"))
        if limit is not None and final and final.get("images") and probed > 0:
            steps = final["images"] / summary["recipe"]["batch_size"]
            self.calibration = (spent - final["train_seconds"] * (1 - 1 / steps)) / probed
        return float(final["test_acc"]) if final else math.nan

    def probe(self, arch) -> float:
        """Predicted seconds of a read of ``arch`` that trains one step: the candidate is built as ``train``
        builds it and timed on a forward pass of ``PROBE_IMAGES`` random images of the data's size (eval mode,
        no grad, after an untimed warm-up pass of the same images), counted as 3 forward passes per image of a
        training step (forward and backward) and 1 per test image, plus the build. A deliberately plain rule,
        fixed a priori; each read then calibrates the next prediction (``calibration``). Costs about 0.3-1.1 s on
        NB201 and 3-4 s on DARTS's 20-cell network (2 cores; the warm-up pass adds about a third), inside the
        time budget; the read then builds the network again."""
        import time

        import torch

        from ..data.custom import network_for
        from ..train import trainer

        t0 = time.perf_counter()
        recipe = self.recipe
        _, num_classes, (h, w) = network_for(self.data, training=True)  # as train() resolves it
        build = trainer.network_options(self.space.name, num_classes, recipe)
        device = torch.device(self.device)
        cuda = device.type == "cuda"
        sync = torch.cuda.synchronize if cuda else (lambda: None)  # time the work, not its launch
        with torch.random.fork_rng(devices=[device] if cuda else []), torch.no_grad():
            torch.manual_seed(self.seed)
            model = self.space.build(arch, **build).to(device).eval()
            x = torch.randn(PROBE_IMAGES, 3, h, w, device=device)
            sync()
            t_build = time.perf_counter() - t0
            # warm-up at the timed shapes: a shape's first pass pays one-off kernel choices (the CPU pooling's
            # per-shape timing, oneDNN's primitives), which made single probes of one arch 1 to 27 s apart
            model(x)
            sync()
            t1 = time.perf_counter()
            model(x)
            sync()
            per_image = (time.perf_counter() - t1) / len(x)
        batch = self.fit_batch.get("batch_size", recipe.batch_size)
        return t_build + per_image * (3 * batch + self.sizes[1])


def make_evaluator(space, evaluator: str, data=None, data_dir=None, train: dict | None = None):
    """The evaluator named ``evaluator``: ``table`` (NB201's 12-epoch accuracy) or ``train`` (short training;
    ``train``: its ``epochs``, ``batch_size`` and ``lr``, None for the defaults). UserError for ``train``
    options given to another evaluator."""
    train = {k: v for k, v in (train or {}).items() if v is not None}
    if evaluator != "train" and train:
        flags = ", ".join(f"--refine-{k.replace('_', '-')}" for k in train)
        raise UserError(f"{flags} set(s) the training reads of --evaluator train; add --evaluator train or drop it")
    if evaluator == "table":
        return TableEvaluator(space, data, data_dir)
    if evaluator == "train":
        return TrainEvaluator(space, data, data_dir, **train)
    raise UserError(f"unknown --evaluator {evaluator!r}; choose one of: {', '.join(EVALUATORS)}")


def refine(space, candidates, fitness, k: int, evaluator, neighbours=None) -> tuple:
    """The best of ``k`` accuracy reads (``evaluator``) among ``candidates``; higher ``fitness`` is better.

    Strategy ``top`` (``neighbours`` is None): the top ``k`` distinct candidates by fitness. Strategy ``local``
    (``neighbours(arch)`` gives the one-edit neighbours of ``arch`` that now have a fitness): the top
    ceil(k/4) by fitness, then, one read at a time, the best-fitness unread neighbour of the best
    architecture read so far (hill climbing on the accuracy signal, ordered by the label-free score), or the
    next unread candidate when that neighbourhood is spent. The split and the order were fixed a priori, not
    tuned on a benchmark's labels. Returns (best arch, [(arch string, fitness when read, accuracy)] in read
    order); ties go to the higher fitness. An evaluator that raises ``OutOfTime`` ends the reads: the best
    read answers, or the best fitness when there was none."""
    unique = {space.format(a): a for a in candidates}
    read: dict[str, tuple] = {}
    evaluator.planned = k

    def take(a):
        read[space.format(a)] = (a, float(fitness(a)), evaluator(a))

    def best_read():  # ties: today's fitness (an ensemble's ranks move as contenders are added)
        return max(read.values(), key=lambda r: (r[2], fitness(r[0])))[0]

    try:
        if neighbours is None:
            for a in sorted(unique.values(), key=fitness, reverse=True)[:k]:
                take(a)
        else:
            for a in sorted(unique.values(), key=fitness, reverse=True)[:max(1, math.ceil(k / 4))]:
                take(a)
            while len(read) < k:
                near = [a for a in neighbours(best_read()) if space.format(a) not in read]
                for a in near:
                    unique.setdefault(space.format(a), a)
                rest = near or [a for key, a in unique.items() if key not in read]
                if not rest:
                    break
                take(max(rest, key=fitness))
    except OutOfTime as exc:  # the time budget is spent: the reads made so far decide (none: the label-free answer)
        evaluator.ran_out_of_time, evaluator.out_of_time_why = True, str(exc)
    best = best_read() if read else max(unique.values(), key=fitness)
    return best, [(key, f, acc) for key, (_, f, acc) in read.items()]
