"""Reporting of hardware-aware searches against a ground truth (NB201's; NAS-Bench-Macro's for the plot):
the true accuracy-vs-cost front, the hypervolume ratio of a found front, the constraint gap, and the front's
PNG.

These read the 200-epoch test accuracy of the table, so a search never calls them: they judge an answer
after it has been given (``accuracy_reads`` does not count them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .constraints import hypervolume_2d, nb201_params_flops, objective_text

ACC_COLUMNS = {"cifar10": "cifar10_test_acc", "cifar100": "cifar100_test_acc",
               "imagenet16-120": "imagenet16_120_test_acc"}


# spaces whose table holds every architecture with its accuracy and costs: a true front can be drawn
TRUE_FRONT_SPACES = ("nb201", "macro")


def space_costs(cost: str, dataset: str = "cifar10", data_dir=None, space: str = "nb201") -> np.ndarray:
    """One cost of all 15,625 NB201 archs in index order: ``params`` (M), ``flops`` (M) or ``latency:DEVICE``
    (ms, NaN where HW-NAS-Bench did not measure); ``space="macro"``: params or flops (M, the table's columns:
    multiply-adds, as ``--max-flops`` counts them there) of its 6,561 archs."""
    from ..benchmarks.nb201 import load_nb201
    from ..spaces import space as get_space

    if space == "macro":
        from ..benchmarks.macro import load_macro

        return load_macro(data_dir).column(cost) / 1e6
    sp = get_space("nb201")
    table = load_nb201(data_dir)
    if cost.startswith("latency:"):
        from ..benchmarks.hwnasbench import load_hwnasbench

        hw = load_hwnasbench(data_dir)
        lat = hw.latency(cost.split(":", 1)[1], dataset)
        return np.array([lat[hw.index_of(s)] for s in table.arch_str])
    j = {"params": 0, "flops": 1}[cost]
    return np.array([nb201_params_flops(sp.parse(s), dataset)[j] for s in table.arch_str])


def true_front(cost: str, dataset: str = "cifar10", data_dir=None,
               mask: np.ndarray | None = None, space: str = "nb201") -> tuple[np.ndarray, np.ndarray]:
    """(accuracy %, cost) of every NB201 (or ``space="macro"``) arch with a cost, and the indices into them of
    the true non-dominated front (accuracy maximised, cost minimised), cheapest first; with ``mask`` (a bool
    per arch in index order), the front of the archs where it holds (e.g. those under a search's hard
    bounds)."""
    acc = table_accuracy(space, dataset, data_dir)
    c = space_costs(cost, dataset, data_dir, space)
    ok = np.isfinite(c) & np.isfinite(acc) & (True if mask is None else mask)
    acc, c = np.where(ok, acc, np.nan), np.where(ok, c, np.nan)
    order = np.lexsort((-np.nan_to_num(acc, nan=-1), np.nan_to_num(c, nan=np.inf)))
    front, best = [], -np.inf
    for i in order:  # cheapest first; keep each arch more accurate than every cheaper one
        if ok[i] and acc[i] > best:
            front.append(i)
            best = acc[i]
    return np.column_stack([acc, c]), np.array(front)


def table_accuracy(space: str, dataset: str = "cifar10", data_dir=None) -> np.ndarray:
    """The accuracy a front is judged by, per arch in table order: NB201's 200-epoch test accuracy of
    ``dataset``, or NAS-Bench-Macro's mean CIFAR-10 test accuracy."""
    from ..benchmarks import load_ground_truth

    table = load_ground_truth(space, data_dir)
    return table.column(ACC_COLUMNS[dataset] if space == "nb201" else table.target_column("cifar10"))


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


def feasible_mask(constraints: dict, data_dir=None, space: str = "nb201") -> np.ndarray | None:
    """Which archs of the table (NB201's 15,625 or NAS-Bench-Macro's 6,561, in table order) the search could
    answer under a result's hard bounds (``max_params_M``, ``max_flops_M``, ``max_latency_ms``): its own
    feasible set (NB201: ``Constraints``, where cut-off cells and archs unmeasured on a device it names are out
    too; macro: the table's params and FLOPs columns); None without bounds."""
    from ..benchmarks.nb201 import load_nb201
    from ..spaces import space as get_space
    from .constraints import Constraints

    if all(constraints.get(k) is None for k in ("max_params_M", "max_flops_M", "max_latency_ms")):
        return None
    if space == "macro":  # the table's own costs, as the search counted them
        ok = np.ones(len(space_costs("params", data_dir=data_dir, space=space)), dtype=bool)
        for cost, key in (("params", "max_params_M"), ("flops", "max_flops_M")):
            if constraints.get(key) is not None:
                ok &= space_costs(cost, data_dir=data_dir, space=space) <= constraints[key]
        return ok
    feasible = Constraints.from_described(get_space("nb201"), constraints, data_dir).feasible_strings
    return np.array([s in feasible for s in load_nb201(data_dir).arch_str])


def plot_front(results, path: Path, data_dir=None) -> None:
    """Draw a Pareto search's front (one result, or several seeds' results: one colour each): its archs at their
    test accuracy against each cost objective (one panel per cost), with the true front of the table (NB201
    or NAS-Bench-Macro, with the table) among the archs that meet the search's hard bounds, which are drawn
    as dashed lines; else the proxy score against the cost. With more than one cost, a panel shows a
    projection of the front, so its points are not joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = list(results) if isinstance(results, (list, tuple)) else [results]
    first = results[0]
    cons = first.constraints
    costs = [k for k in cons.get("objectives", []) if k != "score"]
    dataset = cons.get("dataset", "cifar10")
    have_acc = first.space in TRUE_FRONT_SPACES and any(r.front for r in results) and \
        all(p.get("test_acc", {}).get(dataset) is not None for r in results for p in r.front)
    mask = feasible_mask(cons, data_dir, first.space) if have_acc else None
    bounds = {"params_M": cons.get("max_params_M"), "flops_M": cons.get("max_flops_M"),
              **{f"latency_ms:{d}": ms for d, ms in (cons.get("max_latency_ms") or {}).items()}}
    fig, axes = plt.subplots(1, len(costs), figsize=(6 * len(costs), 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], costs):
        cost = objective_text(key)
        if have_acc:
            pts, front = true_front(cost, dataset, data_dir, mask, first.space)
            if mask is not None:
                ax.scatter(pts[~mask, 1], pts[~mask, 0], s=2, color="0.88", label="outside the bounds",
                           rasterized=True)
            inside = np.ones(len(pts), dtype=bool) if mask is None else mask
            ax.scatter(pts[inside, 1], pts[inside, 0], s=2, color="0.7", rasterized=True,
                       label=f"all {'NB201' if first.space == 'nb201' else 'NAS-Bench-Macro'} archs" if mask is None
                       else f"within the bounds ({int(mask.sum())})")
            ax.step(pts[front, 1], pts[front, 0], where="post", color="k", lw=1.2,
                    label="true front" if mask is None else "true front within the bounds")
            ax.set_ylabel(f"{dataset} test accuracy (%)")
            found = [p["test_acc"][dataset] for r in results for p in r.front]
            low = min(max(np.nanmin(pts[:, 0]), 60), *found) if found else max(np.nanmin(pts[:, 0]), 60)
            ax.set_ylim(low - 1, None)  # the failed archs' near-10 % stay off; every found point stays on
        else:
            ax.set_ylabel("proxy score (higher is better)")
        for i, r in enumerate(results):
            order = sorted(r.front, key=lambda p: p[key])
            y = [p["test_acc"][dataset] if have_acc else p["score"] for p in order]
            what = "found front (proxy), true accuracy" if have_acc else "found front"
            ax.plot([p[key] for p in order], y, "o" if len(costs) > 1 else "o-", color=colours(3 + i % 7), ms=4,
                    label=what if len(results) == 1 else f"{what}, seed {r.seed}")
        if bounds.get(key) is not None:
            ax.axvline(bounds[key], color="tab:blue", ls="--", lw=1, label=f"bound {bounds[key]:g}")
        ax.set_xlabel({"params": "params (M)", "flops": "FLOPs (M)"}.get(cost, f"{cost.split(':')[-1]} latency (ms)"))
        ax.legend(fontsize=7, loc="best")  # (found points may sit low: "lower right" hid them)
    seeds = ", ".join(str(r.seed) for r in results)
    sizes = "/".join(str(len(r.front)) for r in results)
    fig.suptitle(f"{first.method} on {first.space}, seed{'s' if len(results) > 1 else ''} {seeds}: {sizes} archs "
                 f"on the front" + (" (projections of a front over several costs)" if len(costs) > 1 else ""),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
