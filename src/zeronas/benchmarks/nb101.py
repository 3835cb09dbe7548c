"""NAS-Bench-101 (Ying et al., ICML 2019) ground truth for the ``nb101`` space.

Two tables are read, the first one found:

* ``nasbench101/nb101_main.csv.gz``: written by ``zeronas data convert nasbench_only108.tfrecord`` (see
  ``benchmarks/nb101_tfrecord.py``): every unique cell (423,624 in the official file) with
  ``mean_val_acc`` / ``mean_test_acc`` (percent, mean of the 3 repeats at 108 epochs),
  ``trainable_parameters`` and ``train_time_s``;
* ``nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz``: NAS-Bench-Suite-Zero's 500-cell sample (NASLib
  ``naslib/data/zc_nasbench101.json``): ``val_acc`` (percent, **one random repeat** at 108 epochs, as the
  nasbench ``query()`` returns it) and NASLib's reference scores of 11 proxies (``REFERENCE_PROXIES``;
  ``params`` in millions). It has no test accuracy.

Arch strings are the space's ``'<adjacency_rowmajor>:<ops>'`` form (``zeronas.spaces.nb101``). The 500-cell
sample holds unpruned random specs: several rows can share one graph hash (isomorphic after pruning), and
each such row keeps its own repeat's accuracy.
"""

from __future__ import annotations

import numpy as np

from .. import paths
from ..errors import UserError, shown
from .table import ArchTable, locate, read_csv

MAIN_TABLE = "nasbench101/nb101_main.csv.gz"
ZC_TABLE = "nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz"
ZC_ROWS = 500
HOW_TO_GET = ("put nb101_zc_proxies_nbsz500_cifar10.csv.gz under <data-dir>/nasbench101/ (or convert the "
              "official nasbench_only108.tfrecord with 'zeronas data convert'), then pass --data-dir or set "
              "ZERONAS_DATA")
# NASLib's reference proxy scores in the 500-cell table (NAS-Bench-Suite-Zero, Krishnakumar et al. 2022)
REFERENCE_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "params", "plain",
                     "snip", "synflow")
TEXT_COLUMNS = ("naslib_arch", "adjacency_rowmajor", "ops", "module_hash")
# accuracy columns per metric, the first one present is used: the converted table's 3-repeat means, else
# the 500-cell table's one-repeat validation accuracy (it has no test accuracy: without --metric it is the
# target, with a note; an explicit --metric test is refused)
TARGETS = {"valid": ("mean_val_acc", "val_acc"), "test": ("mean_test_acc",)}


class NB101Table(ArchTable):
    missing_arch = "the NAS-Bench-101 table {path}"
    benchmark = "NAS-Bench-101"

    def target_column(self, dataset: str, metric: str | None = None) -> str:
        """The accuracy column of ``metric`` (test or valid); None: test accuracy where the table has it (the
        converted official release), else the 500-cell table's validation accuracy. UserError (one line) for
        another dataset or metric, or a metric this table lacks."""
        self.cifar10_only(dataset)
        if metric is not None and metric not in TARGETS:
            raise UserError(f"no {metric!r} accuracy in NAS-Bench-101; use --metric test or valid")
        for name in TARGETS[metric] if metric else (*TARGETS["test"], *TARGETS["valid"]):
            if name in self.columns:
                return name
        if metric == "test" and "val_acc" in self.columns:
            raise UserError(f"{self.path.name} (NAS-Bench-Suite-Zero's 500 cells) has validation accuracy only; "
                            f"use --metric valid, or leave --metric out (a table converted from the official "
                            f"nasbench_only108.tfrecord with 'zeronas data convert' has test accuracy)")
        raise UserError(f"{self.path} has no {metric or 'test or valid'} accuracy (looked for "
                        f"{', '.join(TARGETS[metric] if metric else (*TARGETS['test'], *TARGETS['valid']))}); "
                        f"replace it with an intact copy")

    def target_note(self, metric: str | None, column: str) -> str | None:
        if column == "val_acc":
            return ("this NAS-Bench-101 table (NAS-Bench-Suite-Zero's 500 cells) has validation accuracy only "
                    "(one random repeat at 108 epochs): the target is val_acc (the table converted from the "
                    "official release has mean_test_acc)")
        return None

    def reference_proxies(self) -> dict[str, np.ndarray]:
        """NASLib's released proxy scores per row (500-cell table only; empty for a converted table)."""
        return {p: self.columns[p] for p in REFERENCE_PROXIES if p in self.columns}


_CACHE: dict[tuple, NB101Table] = {}


def load_nb101(data_dir=None, table: str | None = None) -> NB101Table:
    """The NB101 table (memoized per file version): the converted full table when present, else the 500-cell
    sample; ``table='zc'`` or ``'main'`` asks for one. A damaged file is a one-line UserError naming the
    row and column; a missing one is DataNotFound saying where zeronas looked."""
    if table not in (None, "zc", "main"):
        raise UserError(f"unknown NB101 table {table!r}; choose zc (500-cell sample) or main (converted)")
    rel = {"zc": ZC_TABLE, "main": MAIN_TABLE}.get(table)
    if rel is None:
        rel = MAIN_TABLE if paths.find([MAIN_TABLE], data_dir) else ZC_TABLE
    path, digest = locate(rel, "NAS-Bench-101 table", data_dir, HOW_TO_GET)
    key = (path, digest)
    if key in _CACHE:
        return _CACHE[key]
    what = "NAS-Bench-101 table"
    csv_rows = read_csv(path, what, ("adjacency_rowmajor", "ops"), gz=True)
    archs, seen = [], {}
    for i, (adj, ops) in enumerate(zip(csv_rows.text("adjacency_rowmajor"), csv_rows.text("ops"))):
        adj, ops = adj.strip(), ops.strip()
        n = len(ops.split("|"))
        if len(adj) != n * n or not set(adj) <= {"0", "1"}:
            raise csv_rows.refuse(i, "adjacency_rowmajor", f"holds {shown(adj, 60)}, not {n * n} 0/1 digits for "
                                                           f"{n} ops")
        arch = f"{adj}:{ops}"
        if arch in seen:
            raise csv_rows.refuse(i, "adjacency_rowmajor", f"repeats the cell of row {csv_rows.numbers[seen[arch]]}")
        seen[arch] = i
        archs.append(arch)
    if rel == ZC_TABLE and len(archs) != ZC_ROWS:
        raise UserError(f"{what} {path} is truncated or not the 500-cell sample ({len(archs)} rows, want "
                        f"{ZC_ROWS}); replace it with an intact copy")
    if not archs:
        raise UserError(f"{what} {path} holds no cells; convert the official file again")
    columns = {name: csv_rows.numeric(name) for name in csv_rows.header if name not in TEXT_COLUMNS}
    if not any(name in columns for names in TARGETS.values() for name in names):
        raise UserError(f"{what} {path} has no accuracy column (val_acc or mean_val_acc); replace it with an "
                        f"intact copy")
    result = NB101Table(path, digest, archs, columns)
    _CACHE[key] = result
    return result
