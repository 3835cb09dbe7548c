"""Reporting of hardware-aware searches against NB201's ground truth: the true accuracy-vs-cost front, the
hypervolume ratio of a found front, the constraint gap, and the front's PNG.

These read the 200-epoch test accuracy of the table, so a search never calls them: they judge an answer
after it has been given (``accuracy_reads`` does not count them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .constraints import hypervolume_2d, nb201_params_flops

ACC_COLUMNS = {"cifar10": "cifar10_test_acc", "cifar100": "cifar100_test_acc",
               "imagenet16-120": "imagenet16_120_test_acc"}


def space_costs(cost: str, dataset: str = "cifar10", data_dir=None) -> np.ndarray:
    """One cost of all 15,625 NB201 archs in index order: ``params`` (M), ``flops`` (M) or ``latency:DEVICE``
    (ms, NaN where HW-NAS-Bench did not measure)."""
    from ..benchmarks.nb201 import load_nb201
    from ..spaces import space as get_space

    sp = get_space("nb201")
    table = load_nb201(data_dir)
    if cost.startswith("latency:"):
        from ..benchmarks.hwnasbench import load_hwnasbench

        hw = load_hwnasbench(data_dir)
        lat = hw.latency(cost.split(":", 1)[1], dataset)
        return np.array([lat[hw.index_of(s)] for s in table.arch_str])
    j = {"params": 0, "flops": 1}[cost]
    return np.array([nb201_params_flops(sp.parse(s), dataset)[j] for s in table.arch_str])


def true_front(cost: str, dataset: str = "cifar10", data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy %, cost) of every NB201 arch with a cost, and the indices into them of the true
    non-dominated front (accuracy maximised, cost minimised), cheapest first."""
    from ..benchmarks.nb201 import load_nb201

    acc = load_nb201(data_dir).column(ACC_COLUMNS[dataset])
    c = space_costs(cost, dataset, data_dir)
    ok = np.isfinite(c) & np.isfinite(acc)
    acc, c = np.where(ok, acc, np.nan), np.where(ok, c, np.nan)
    order = np.lexsort((-np.nan_to_num(acc, nan=-1), np.nan_to_num(c, nan=np.inf)))
    front, best = [], -np.inf
    for i in order:  # cheapest first; keep each arch more accurate than every cheaper one
        if ok[i] and acc[i] > best:
            front.append(i)
            best = acc[i]
    return np.column_stack([acc, c]), np.array(front)


def hypervolume_ratio(archs: list[str], cost: str, dataset: str = "cifar10", data_dir=None,
                      ref: str = "nadir") -> dict:
    """Hypervolume of ``archs`` (NB201 strings, placed at their true accuracy and cost) over the true front's,
    in (accuracy, cost) space: 1.0 means the found set reaches the true front's hypervolume. Reference point:
    the largest cost of the space, and its least accuracy (``ref='nadir'``) or its median accuracy
    (``'median'``: only the better half counts, which separates good fronts more)."""
    from ..benchmarks.nb201 import load_nb201

    table = load_nb201(data_dir)
    pts, front = true_front(cost, dataset, data_dir)
    ok = np.isfinite(pts[:, 1])
    ref_acc = float(np.nanmin(pts[ok, 0]) if ref == "nadir" else np.nanmedian(pts[ok, 0]))
    ref_cost = float(np.nanmax(pts[ok, 1]))
    idx = [table.index_of(a) for a in archs]
    found = pts[idx]
    found = found[np.isfinite(found).all(1)]
    hv_true = hypervolume_2d(pts[front, 0], pts[front, 1], ref_acc, ref_cost)
    hv_found = hypervolume_2d(found[:, 0], found[:, 1], ref_acc, ref_cost) if len(found) else 0.0
    return {"hv_found": hv_found, "hv_true": hv_true, "ratio": hv_found / hv_true, "reference": [ref_acc, ref_cost],
            "true_front_size": len(front)}


def best_feasible(feasible_mask: np.ndarray, dataset: str = "cifar10", data_dir=None) -> tuple[int, float]:
    """(index, accuracy) of the most accurate NB201 arch where ``feasible_mask`` holds."""
    from ..benchmarks.nb201 import load_nb201

    acc = load_nb201(data_dir).column(ACC_COLUMNS[dataset])
    masked = np.where(feasible_mask & np.isfinite(acc), acc, -np.inf)
    i = int(np.argmax(masked))
    if not math.isfinite(masked[i]):
        raise UserError("no NB201 architecture is feasible under these bounds")
    return i, float(acc[i])


def plot_front(result, path: Path, data_dir=None) -> None:
    """Draw a Pareto search's front: its archs at their test accuracy against the first cost objective, with
    the true front of the table (NB201 with the table); else the proxy score against the cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = result.constraints.get("objectives", [])
    cost_key = next(k for k in objs if k != "score")
    cost = {"params_M": "params", "flops_M": "flops"}.get(cost_key) or cost_key.replace("latency_ms:", "latency:")
    dataset = result.constraints.get("dataset", "cifar10")
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [p[cost_key] for p in result.front]
    have_acc = bool(result.front) and all("test_acc" in p for p in result.front)
    if have_acc and result.space == "nb201":
        pts, front = true_front(cost, dataset, data_dir)
        ax.scatter(pts[:, 1], pts[:, 0], s=2, color="0.8", label="all NB201 archs", rasterized=True)
        ax.step(pts[front, 1], pts[front, 0], where="post", color="k", lw=1.2, label="true front")
        ax.plot(x, [p["test_acc"][dataset] for p in result.front], "o-", color="tab:red", ms=4,
                label="found front (proxy), true accuracy")
        ax.set_ylabel(f"{dataset} test accuracy (%)")
        ax.set_ylim(max(np.nanmin(pts[:, 0]), 60), None)
    else:
        ax.plot(x, [p["score"] for p in result.front], "o-", color="tab:red", ms=4, label="found front")
        ax.set_ylabel("proxy score (higher is better)")
    unit = {"params": "params (M)", "flops": "FLOPs (M)"}.get(cost, f"{cost.split(':')[-1]} latency (ms)")
    ax.set_xlabel(unit)
    ax.set_title(f"{result.method} on {result.space}, seed {result.seed}: {len(result.front)} archs on the front")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
