"""NAS-Bench-Macro (Su et al. CVPR 2021) ground truth: 3^8 = 6,561 MobileNet-like architectures on CIFAR-10.

Arch codes are 8-character strings over {0: identity, 1: MB3_K3, 2: MB6_K5}; keep them as strings (they
have leading zeros). Each arch was trained 3 times; ``mean_acc`` is the mean CIFAR-10 test accuracy.
"""

from __future__ import annotations

from ..errors import UserError
from .table import ArchTable, locate, read_csv

TABLE = "nasbench_macro/nas_bench_macro_cifar10.csv"


class MacroTable(ArchTable):
    missing_arch = "NAS-Bench-Macro (8 digits from 0, 1, 2)"
    benchmark = "NAS-Bench-Macro"

    def target_column(self, dataset: str, metric: str | None = None) -> str:
        """The mean test accuracy for ``metric`` None or "test"; UserError (one line) for another dataset or
        metric (the table has no validation accuracy)."""
        self.cifar10_only(dataset)
        if metric not in (None, "test"):
            raise UserError(f"NAS-Bench-Macro has test accuracy only (mean of 3 runs), no {metric!r} accuracy; "
                            f"use --metric test, or leave --metric out")
        return "mean_acc"


_CACHE: dict[tuple, MacroTable] = {}


def load_macro(data_dir=None) -> MacroTable:
    """The 6,561-arch table (memoized per file version: searches look answers up in it at every step). A
    damaged file is a one-line UserError naming the row and column; a missing one is DataNotFound saying
    where zeronas looked."""
    path, digest = locate(TABLE, "NAS-Bench-Macro table", data_dir,
                          "put nas_bench_macro_cifar10.csv under <data-dir>/nasbench_macro/ or set ZERONAS_DATA")
    key = (path, digest)
    if key in _CACHE:
        return _CACHE[key]
    what = "NAS-Bench-Macro table"
    csv_rows = read_csv(path, what, ("arch", "mean_acc"))
    archs, seen = [], {}
    for i, code in enumerate(csv_rows.text("arch")):
        arch = code.strip().zfill(8)  # spreadsheets drop the leading zeros
        if len(arch) != 8 or not set(arch) <= set("012"):
            raise csv_rows.refuse(i, "arch", f"holds {code!r}, not 8 digits from 0, 1, 2")
        if arch in seen:
            raise csv_rows.refuse(i, "arch", f"repeats the arch of row {csv_rows.numbers[seen[arch]]}")
        seen[arch] = i
        archs.append(arch)
    if len(archs) != 3**8:
        raise UserError(f"{what} {path} is truncated ({len(archs)} archs, want 6561); replace it with an intact "
                        f"copy")
    columns = {k: csv_rows.numeric(k) for k in csv_rows.header if k != "arch"}
    _CACHE[key] = MacroTable(path, digest, archs, columns)
    return _CACHE[key]
