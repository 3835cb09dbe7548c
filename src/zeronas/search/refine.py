"""Few-shot refinement: after a label-free search, read a real accuracy signal for its top K candidates and
answer with the best. Every read is counted (``SearchResult.accuracy_reads``)."""

from __future__ import annotations

import math

from ..errors import UserError

EVALUATORS = ("table", "train")
# 12-epoch schedule (hp=12) test accuracy, one seed, per dataset: the data README's source E
HP12 = {"cifar10": "hp12_cifar10_test_acc_1seed", "cifar100": "hp12_cifar100_test_acc_1seed",
        "imagenet16-120": "hp12_imagenet16_120_test_acc_1seed"}


class TableEvaluator:
    """NB201's 12-epoch test accuracy (percent, one seed) of an architecture, from ``nb201_main.csv.gz``; the
    200-epoch columns the results report are never read here. ``reads``: distinct architectures read.
    Errors: another space, or no table (one-line UserError)."""

    name = "table"

    def __init__(self, space, data=None, data_dir=None):
        from ..benchmarks.hwnasbench import hw_dataset
        from ..benchmarks.nb201 import load_nb201

        if space.name != "nb201":
            raise UserError(f"--evaluator table reads NB201's 12-epoch accuracy and has nothing for the "
                            f"{space.name} space; use --evaluator train")
        self.space, self.dataset = space, hw_dataset(data)
        self.table = load_nb201(data_dir)
        self.column = HP12[self.dataset]
        self.values: dict[str, float] = {}

    @property
    def reads(self) -> int:
        return len(self.values)

    def __call__(self, arch) -> float:
        """The accuracy (NaN counts as worst when ranking: -inf)."""
        key = self.space.format(arch)
        if key not in self.values:
            v = float(self.table.column(self.column)[self.table.index_of(key)])
            self.values[key] = v if math.isfinite(v) else -math.inf
        return self.values[key]


def make_evaluator(space, evaluator: str, data=None, data_dir=None):
    """The evaluator named ``evaluator`` (``table``; ``train`` is not available yet: a one-line UserError)."""
    if evaluator == "table":
        return TableEvaluator(space, data, data_dir)
    if evaluator == "train":
        raise UserError("--evaluator train is not available for search refinement yet; use --evaluator table "
                        "(nb201), or train the candidates with 'zeronas train'")
    raise UserError(f"unknown --evaluator {evaluator!r}; choose one of: {', '.join(EVALUATORS)}")


def refine(space, candidates, fitness, k: int, evaluator) -> tuple:
    """The best of the top ``k`` distinct ``candidates`` by ``fitness`` (higher is better), judged by
    ``evaluator``; returns (best arch, [(arch string, fitness, accuracy) for the k read])."""
    unique = list({space.format(a): a for a in candidates}.values())
    top = sorted(unique, key=fitness, reverse=True)[:k]
    read = [(space.format(a), float(fitness(a)), evaluator(a)) for a in top]
    best = max(range(len(top)), key=lambda i: read[i][2])  # ties: the higher-fitness one (earlier)
    return top[best], read
