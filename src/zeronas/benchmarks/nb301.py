"""NAS-Bench-301 (Siems et al., 2020) ground truth for the ``nb301`` space (the DARTS space as NASLib builds it).

One table is read: ``nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz``, NAS-Bench-Suite-Zero's
725-genotype sample (NASLib ``naslib/data/zc_nasbench301.json``). Its accuracy, ``val_acc_surrogate``, is the
**NB301 surrogate model's prediction** of CIFAR-10 validation accuracy (percent) after 100 epochs of the DARTS
recipe, not a trained network; it is the target without ``--metric`` and with ``--metric valid`` (an explicit
``--metric test`` is refused), and every correlate output names the column. It also holds NASLib's
reference scores of 12 proxies (``REFERENCE_PROXIES``; ``params`` in millions, ``synflow`` as NASLib stores
it: log of the foresight value).

Arch strings are the space's ``Genotype(...)`` text (``zeronas.spaces.darts.format_genotype``).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .table import ArchTable, locate, read_csv

ZC_TABLE = "nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz"
ZC_ROWS = 725
HOW_TO_GET = ("put nb301_zc_proxies_nbsz725_cifar10.csv.gz under <data-dir>/nasbench301/ (NASLib "
              "naslib/data/zc_nasbench301.json, see the data README), then pass --data-dir or set ZERONAS_DATA")
REFERENCE_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
                     "plain", "snip", "synflow")
TEXT_COLUMNS = ("naslib_compact", "genotype")
TARGET = "val_acc_surrogate"


class NB301Table(ArchTable):
    missing_arch = "the NAS-Bench-301 table {path}"
    benchmark = "NAS-Bench-301"

    def target_column(self, dataset: str, metric: str | None = None) -> str:
        """The surrogate's predicted validation accuracy for ``metric`` None or "valid"; UserError (one line)
        for another dataset or metric (the table has no test accuracy)."""
        self.cifar10_only(dataset)
        if metric not in (None, "valid"):
            raise UserError(f"NAS-Bench-301's table holds the surrogate model's predicted validation accuracy "
                            f"({TARGET}) only, no {metric!r} accuracy; use --metric valid, or leave --metric out")
        return TARGET

    def target_note(self, metric: str | None, column: str) -> str | None:
        return (f"NAS-Bench-301's table holds one target, the surrogate model's predicted validation accuracy "
                f"({TARGET}), not a trained network's accuracy")

    def reference_proxies(self) -> dict[str, np.ndarray]:
        """NASLib's released proxy scores per row."""
        return {p: self.columns[p] for p in REFERENCE_PROXIES if p in self.columns}


_CACHE: dict[tuple, NB301Table] = {}


def load_nb301(data_dir=None) -> NB301Table:
    """The 725-genotype NB301 table (memoized per file version). A damaged file is a one-line UserError naming
    the row and column; a missing one is DataNotFound saying where zeronas looked."""
    from ..spaces.darts import format_genotype, parse_genotype

    path, digest = locate(ZC_TABLE, "NAS-Bench-301 table", data_dir, HOW_TO_GET)
    key = (path, digest)
    if key in _CACHE:
        return _CACHE[key]
    what = "NAS-Bench-301 table"
    csv_rows = read_csv(path, what, ("genotype", TARGET), gz=True)
    archs, seen = [], {}
    for i, text in enumerate(csv_rows.text("genotype")):
        try:
            arch = format_genotype(parse_genotype(text.strip()))
        except UserError as e:
            raise csv_rows.refuse(i, "genotype", f"is not a DARTS genotype ({e})") from None
        if arch in seen:
            raise csv_rows.refuse(i, "genotype", f"repeats the genotype of row {csv_rows.numbers[seen[arch]]}")
        seen[arch] = i
        archs.append(arch)
    if len(archs) != ZC_ROWS:
        raise UserError(f"{what} {path} is truncated or not the 725-genotype sample ({len(archs)} rows, want "
                        f"{ZC_ROWS}); replace it with an intact copy")
    columns = {name: csv_rows.numeric(name) for name in csv_rows.header if name not in TEXT_COLUMNS}
    result = NB301Table(path, digest, archs, columns)
    _CACHE[key] = result
    return result
