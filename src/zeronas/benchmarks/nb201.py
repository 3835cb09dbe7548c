"""NAS-Bench-201 ground truth from the compact ``nb201_main.csv.gz`` table (see the data README).

The official benchmark files take up to 28 GB of RAM to load; this table is 1.2 MB and loads in well
under a second. Every result that uses it records ``source_sha256``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError, shown
from .table import ArchTable, locate, read_csv

MAIN_TABLE = "nasbench201/nb201_main.csv.gz"
HOW_TO_GET = (
    "put nb201_main.csv.gz under <data-dir>/nasbench201/ (or convert the official NATS-Bench file with "
    "'zeronas data convert'), then pass --data-dir or set ZERONAS_DATA"
)

# Accuracy columns per dataset and metric, as the data README documents them; where several are listed
# the first one the table has is used (tables converted from the official files carry seed-mean
# validation accuracy; the shared table only NASLib's single-seed one).
TARGETS = {
    ("cifar10", "test"): ("cifar10_test_acc",),
    ("cifar10", "valid"): ("cifar10valid_valid_acc",),
    ("cifar10-valid", "test"): ("cifar10valid_test_acc",),
    ("cifar10-valid", "valid"): ("cifar10valid_valid_acc",),
    ("cifar100", "test"): ("cifar100_test_acc",),
    ("cifar100", "valid"): ("cifar100_valid_acc", "naslib_cifar100_valacc_1seed"),
    ("imagenet16-120", "test"): ("imagenet16_120_test_acc",),
    ("imagenet16-120", "valid"): ("imagenet16_120_valid_acc", "naslib_imagenet16_120_valacc_1seed"),
}
DATASET_KEYS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16_120"}


def normalize_dataset(name: str) -> str:
    key = name.lower().replace("_", "-")
    aliases = {"imagenet16": "imagenet16-120", "in16": "imagenet16-120", "imagenet": "imagenet16-120",
               "c10": "cifar10", "c100": "cifar100"}
    key = aliases.get(key, key)
    if key not in ("cifar10", "cifar10-valid", "cifar100", "imagenet16-120"):
        raise UserError(f"unknown dataset {shown(name)}; choose one of: cifar10, cifar100, ImageNet16-120")
    return key


# 12-epoch schedule (hp=12) test accuracy, one seed, per dataset: the data README's source E
HP12 = {"cifar10": "hp12_cifar10_test_acc_1seed", "cifar100": "hp12_cifar100_test_acc_1seed",
        "imagenet16-120": "hp12_imagenet16_120_test_acc_1seed"}


class NB201Table(ArchTable):
    missing_arch = "the NB201 table {path}"

    def target_column(self, dataset: str, metric: str | None = None) -> str:
        """The accuracy column of ``dataset`` and ``metric`` (test or valid; None: test); UserError (one line)
        for an unknown pair or a column the table lacks."""
        key = (normalize_dataset(dataset), metric or "test")
        if key not in TARGETS:
            raise UserError(f"no {metric!r} accuracy for {dataset}; use --metric test or valid")
        for name in TARGETS[key]:
            if name in self.columns:
                return name
        raise UserError(f"{self.path} has no {metric or 'test'} accuracy for {dataset} (looked for "
                        f"{', '.join(TARGETS[key])}); " + ("use --metric test" if metric == "valid" else
                                                           "replace it with an intact copy"))

    def accuracy(self, dataset: str, metric: str | None = None) -> np.ndarray:
        return self.column(self.target_column(dataset, metric))

    def params_m(self, num_classes: int) -> np.ndarray:
        name = {10: "cifar10", 100: "cifar100", 120: "imagenet16_120"}.get(num_classes)
        if name is None:
            raise UserError(f"NB201 has params for 10, 100 or 120 classes, not {num_classes}")
        return self.column(f"params_M_{name}")


_CACHE: dict[tuple, NB201Table] = {}
ROWS = 15625
TEXT_COLUMNS = ("arch_str", "naslib_arch")  # op_* too: strings, not read


def load_nb201(data_dir=None) -> NB201Table:
    """Load the NB201 table (memoized per process, per file version). A damaged file is a one-line error
    naming its row and column; a blank accuracy is NaN (an arch without that result)."""
    path, digest = locate(MAIN_TABLE, "NB201 benchmark table", data_dir, HOW_TO_GET)
    key = (path, digest)  # a replaced file is read again
    if key in _CACHE:
        return _CACHE[key]
    what = "NB201 table"
    csv_rows = read_csv(path, what, ("index", "arch_str"), gz=True)
    header, n = csv_rows.header, len(csv_rows.rows)
    for i, text in enumerate(csv_rows.text("index")):
        if text.strip() != str(i):
            # a missing or repeated row shows here, at the row where the order breaks
            raise csv_rows.refuse(i, "index", f"holds {shown(text)}, expected {i} (rows missing, repeated or out of "
                                              f"order)")
    if n != ROWS:
        raise UserError(f"{what} {path} is truncated or not an NB201 table ({n} rows, want {ROWS} with 'index' "
                        f"and 'arch_str'); replace it with an intact copy")
    archs = csv_rows.text("arch_str")
    seen: dict[str, int] = {}
    for i, arch in enumerate(archs):
        if not arch.strip():
            raise csv_rows.refuse(i, "arch_str", "is blank")
        if arch in seen:
            raise csv_rows.refuse(i, "arch_str", f"repeats the arch of row {csv_rows.numbers[seen[arch]]}")
        seen[arch] = i
    columns: dict[str, np.ndarray] = {}
    for name in header:
        if name == "index" or name in TEXT_COLUMNS or name.startswith("op_"):
            continue
        if name.startswith("in_"):
            cells = csv_rows.text(name)
            for i, v in enumerate(cells):
                if v not in ("True", "False"):
                    raise csv_rows.refuse(i, name, f"holds {v!r}, not True or False")
            columns[name] = np.array([v == "True" for v in cells])
            continue
        columns[name] = csv_rows.numeric(name)
    table = NB201Table(path, digest, archs, columns)
    _CACHE[key] = table
    return table
