"""NAS-Bench-Macro (Su et al. CVPR 2021) ground truth: 3^8 = 6,561 MobileNet-like architectures on CIFAR-10.

Arch codes are 8-character strings over {0: identity, 1: MB3_K3, 2: MB6_K5}; keep them as strings (they
have leading zeros). Each arch was trained 3 times; ``mean_acc`` is the mean CIFAR-10 test accuracy.
"""

from __future__ import annotations

import csv

import numpy as np

from .. import paths
from ..errors import DataNotFound, UserError
from .table import ArchTable

TABLE = "nasbench_macro/nas_bench_macro_cifar10.csv"


class MacroTable(ArchTable):
    missing_arch = "NAS-Bench-Macro (8 digits from 0, 1, 2)"

    def target_column(self, dataset: str, metric: str = "test") -> str:
        if dataset.lower().replace("_", "-") not in ("cifar10", "c10"):
            raise UserError(f"NAS-Bench-Macro has CIFAR-10 accuracy only, not {dataset!r}; use --dataset cifar10")
        if metric != "test":
            raise UserError("NAS-Bench-Macro has test accuracy only (mean of 3 runs); use --metric test")
        return "mean_acc"


def load_macro(data_dir=None) -> MacroTable:
    path = paths.find([TABLE], data_dir)
    if path is None:
        raise DataNotFound(f"NAS-Bench-Macro table not found (looked in {paths.searched(data_dir)}); put "
                           f"nas_bench_macro_cifar10.csv under <data-dir>/nasbench_macro/ or set ZERONAS_DATA")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        archs = [r["arch"].zfill(8) for r in rows]
        columns = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "arch"}
    except (OSError, KeyError, ValueError, IndexError, TypeError, csv.Error) as exc:
        raise UserError(f"NAS-Bench-Macro table {path} is unreadable ({exc}); replace it with an intact copy") from None
    if len(archs) != 3**8 or len(set(archs)) != 3**8:
        raise UserError(f"NAS-Bench-Macro table {path} has {len(set(archs))} distinct archs, not 6561; replace it")
    return MacroTable(path, paths.file_sha256(path), archs, columns)
