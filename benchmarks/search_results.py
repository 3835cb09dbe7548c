"""Multi-seed NB201 search results of every zeronas method, next to the published figures.

    python benchmarks/search_results.py --seeds 5 --out docs/search_results.md
    python benchmarks/search_results.py --hw --only-stored ...   # + the hardware-aware section (run_hw)

Each (method, dataset, seed) search runs through ``zeronas.search`` and its result is appended to a JSON-lines
file as soon as it finishes, so a killed run resumes where it stopped. Methods that use data search with
the matching dataset's images when present; without CIFAR-100 / ImageNet16-120 images, CIFAR-10 images stand
in on a network with the right classes and input size (stated in the table). The settings below are the
reduced CPU settings named in the table, not the papers' GPU ones, unless the row says "paper settings".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from zeronas.errors import int_at_least

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DATASETS = ("cifar10", "cifar100", "imagenet16-120")
DATA_FREE = {"freedarts"}  # methods whose search reads no images (ZEROS is data-agnostic)
OPTIMUM = {"cifar10": 94.37, "cifar100": 73.51, "imagenet16-120": 47.31}

# label -> (method, kwargs, settings note, published (C10, C100, IN16) or None, source); EXPENSIVE ones run
# --expensive-seeds seeds (3 by default) to fit the CPU budget, as the table says
METHODS = {
    "freedarts": ("freedarts", {"protocol": "code"}, "one-shot ZEROS, supernet C=16 N=5 (paper settings), the "
                  "released notebooks' protocol (the default)",
                  None, "FreeDARTS NB201 numbers: see published_numbers.md (not a like-for-like protocol)"),
    "freedarts-iterative": ("freedarts", {"variant": "iterative", "protocol": "code"},
                            "our reading of the iterative schedule, code protocol", None, ""),
    "freedarts-bn-bypass": ("freedarts", {"protocol": "bn-bypass"}, "one-shot ZEROS, our bn-bypass protocol "
                            "(float64, BN bypassed, softmax weights at alpha = 0)", None, ""),
    "freedarts-iterative-bn-bypass": ("freedarts", {"variant": "iterative", "protocol": "bn-bypass"},
                                      "the iterative schedule, bn-bypass protocol", None, ""),
    "sample-nwot-100": ("sample", {"proxy": "nwot", "n": 100, "batch_size": 128}, "NASWOT N=100, batch 128",
                        (92.81, 69.48, 43.10), "NASWOT paper, N=100"),
    "rea-nwot-100": ("rea", {"proxy": "nwot", "budget": 100, "population": 20, "tournament": 5},
                     "REA with nwot, 100 evaluations, population 20, tournament 5", None, ""),
    "rea-ensemble-100": ("rea", {"proxy": "ensemble:nwot+synflow+jacob_cov", "budget": 100, "population": 20,
                                 "tournament": 5},
                         "REA with the nwot+synflow+jacob_cov rank ensemble (members TUNED WITH NB201 "
                         "CIFAR-100 LABELS, docs/ensemble_study.md), 100 evaluations",
                         None, ""),
    "rea-aznas-100": ("rea", {"proxy": "az_nas", "budget": 100, "population": 20, "tournament": 5},
                      "REA with the AZ-NAS rank ensemble (expressivity, progressivity, trainability, FLOPs), "
                      "100 evaluations", None, ""),
    "das-100": ("das", {"n": 100}, "DAS (D + log N_A) sample-and-rank, N=100, at init", None, "no DAS NB201 search"),
    "das-20": ("das", {"n": 20}, "DAS sample-and-rank, N=20, at init (cost twin of the next row)", None, ""),
    "das-ft10-20": ("das", {"n": 20, "train_steps": 10},
                    "DAS sample-and-rank, N=20, each candidate fast-trained 10 SGD steps (batch 64) first", None, ""),
    "zero-cost-pt": ("zero-cost-pt", {"proxy": "nwot", "pool": 5, "validate": 10, "C": 8, "N": 1, "batch_size": 64},
                     "nwot, N=5 proposals, V=10, supernet C=8 N=1, batch 64 (paper: N=10, V=100, C=16 N=5, b256)",
                     (93.42, 70.77, 45.11), "ZiCo's reimplementation of Zero-Cost-PT with NASWOT"),
    "te-nas": ("te-nas", {"repeat": 1, "batch_size": 16, "C": 8, "N": 1},
               "repeat 1, batch 16, supernet C=8 N=1 (paper: repeat 3, batch 72, C=16 N=5)",
               (93.9, 71.24, 42.38), "TE-NAS paper"),
    "te-nas-kaiming": ("te-nas", {"repeat": 1, "batch_size": 16, "C": 8, "N": 1, "init": "kaiming"},
                       "as te-nas, with the Kaiming init the paper intends (the official code's never applies)",
                       (93.9, 71.24, 42.38), "TE-NAS paper"),
    "teg-rea": ("teg-rea", {"repeat": 1, "budget": 30, "population": 10, "tournament": 3},
                "repeat 1, 30 evaluations, population 10, tournament 3 (paper: repeat 3, 256 + 1000 steps, 64)",
                None, "TEG-NAS NB201 search table not retrieved"),
    "teg-reinforce": ("teg-reinforce", {"repeat": 1, "budget": 30},
                      "repeat 1, 30 evaluations (paper: repeat 3, 500 steps)", None, ""),
}
# zeronas's label-free default and its few-shot twin: one search answers both rows (the twin's label-free
# answer is recorded in its protocol), so the two differ only by the accuracy reads
_FUNNEL = {"proxy": "zeronas-v1", "time_budget": 120.0}
METHODS["funnel-v1"] = ("funnel", _FUNNEL,
                        "LABEL-FREE default method: frozen zeronas-v1 (nwot+params, chosen without NB201 labels), "
                        "--time-budget 120 (wall, set-up included): 30% params screen of a random pool, 40% nwot "
                        "on the pool's leaders, 30% best-first one-edit local search; 0 accuracy reads", None, "")
METHODS["funnel-v1-refine20"] = ("funnel", {**_FUNNEL, "refine": 20, "evaluator": "table", "refine_strategy": "top"},
                                 "few-shot (`--refine-strategy top`): the same search, then NB201's 12-epoch "
                                 "accuracy (hp12, one seed) of its top 20 contenders: 20 accuracy reads", None, "")
METHODS["funnel-v1-local20"] = ("funnel", {**_FUNNEL, "refine": 20, "evaluator": "table", "refine_strategy": "local"},
                                "few-shot, the default `--refine 20`: funnel on 85% of the 120 s, then 20 hp12 "
                                "reads: the top 5 contenders, then hill climbing on the reads through one-edit "
                                "neighbourhoods in ensemble order (missing neighbours scored in the last 15%)",
                                None, "")
METHODS["funnel-v1-train5"] = ("funnel", {"proxy": "zeronas-v1", "time_budget": 900.0, "refine": 5,
                                          "evaluator": "train", "refine_strategy": "top"},
                               "few-shot with real training inside the budget (`--time-budget 900 --refine 5 "
                               "--evaluator train`): funnel on 450 s, then its top 5 contenders each trained within "
                               "an equal share of the other 450 s (1 epoch on 5,000 CIFAR-10 images at most, judged "
                               "on 1,000 test images): 5 accuracy reads, training time included", None, "")
METHODS["funnel-v1-train5-r1"] = ("funnel", {**_FUNNEL, "refine": 5, "evaluator": "train", "refine_strategy": "top"},
                                  "few-shot with real training as measured before 2026-12-01's change, when "
                                  "--time-budget did not bound the reads: funnel on 120 s, then its top 5 "
                                  "contenders trained a full epoch each on top of it; kept for comparison, never "
                                  "rerun", None, "")
METHODS["funnel-v1-r1"] = ("funnel", _FUNNEL,
                           "funnel-v1 as measured on 2026-11-30, before the local-stage fix of 2026-12-01 (on NB201 "
                           "its local stage scored nothing, so searches ended at ~70% of the budget); kept for "
                           "comparison, never rerun", None, "")
_FUNNEL2 = {"proxy": "zeronas-v2", "time_budget": 120.0}
METHODS["funnel-v2"] = ("funnel", _FUNNEL2,
                        "LABEL-FREE: frozen zeronas-v2 (nwot + az_expressivity, chosen without NB201 accuracies: "
                        "docs/label_free_ensemble.md), --time-budget 120 (wall, set-up included): 30% az_expressivity "
                        "screen of a random pool (a forward pass each, not a closed form), 40% nwot on the pool's "
                        "leaders, 30% best-first one-edit local search; 0 accuracy reads", None, "")
METHODS["funnel-v2-local20"] = ("funnel", {**_FUNNEL2, "refine": 20, "evaluator": "table", "refine_strategy": "local"},
                                "few-shot: funnel-v2 on 85% of the 120 s, then 20 hp12 reads (as funnel-v1-local20)",
                                None, "")
HISTORICAL = {"funnel-v1-r1", "funnel-v1-train5-r1"}  # records of code that no longer exists: reported, never rerun
TWINS = {"funnel-v1-refine20": "funnel-v1"}  # label run -> label-free row written from the same search
# the label-free twin of stored few-shot rows (funnel-v1-refine20 ran before the local-stage fix)
FREE_TWIN = {"funnel-v1-refine20": "funnel-v1-r1"}
EXPENSIVE = {"funnel-v1-train5", "rea-ensemble-100", "das-ft10-20", "zero-cost-pt", "teg-rea", "teg-reinforce",
             "te-nas-kaiming", "rea-aznas-100"}


def _finished(path: Path) -> set:
    if not path.exists():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(d["label"], d["dataset"], d["seed"]) for d in rows}


def refuse_changed(rows: list[dict], labels, jsonl: Path) -> None:
    """Exit 2 with one line when ``settings_changed`` finds a label."""
    changed = settings_changed(rows, labels)
    if changed:
        print(f"error: stored rows in {jsonl} were searched with other settings than METHODS gives: "
              f"{'; '.join(changed)}; give the new settings a new label (keep the old one in HISTORICAL) or "
              "remove that label's rows", file=sys.stderr)
        sys.exit(2)


def settings_changed(rows: list[dict], labels) -> list[str]:
    """One line per label whose stored rows were searched with other settings than ``METHODS`` now gives it:
    resuming would report them under the new settings. A key a stored row lacks is not compared (rows written
    before that option existed ran with the search's default of their day, which the label's note says);
    rows without settings at all predate their recording. Historical labels are never rerun."""
    out = []
    for label in labels:
        if label in HISTORICAL:
            continue
        now = json.loads(json.dumps(METHODS[label][1]))  # as a JSON row holds it (tuples as lists)
        # a twin row holds the settings of the few-shot search whose label-free answer it is
        twins = [json.loads(json.dumps(METHODS[t][1])) for t, free in TWINS.items() if free == label]
        diff: dict = {}  # key -> the first stored value that differs
        for r in rows:
            if r.get("label") == label and "settings" in r and r["settings"] not in twins:
                for k, v in r["settings"].items():
                    if v != now.get(k, _MISSING):
                        diff.setdefault(k, v)
        if diff:
            keys = ", ".join(f"{k}: stored {v!r}, now {now.get(k, '(absent)')!r}" for k, v in sorted(diff.items()))
            out.append(f"{label} ({keys})")
    return out


_MISSING = object()


def run(args) -> list[dict]:
    import torch

    from zeronas.search import search

    torch.set_num_threads(args.threads)
    done = []
    if args.jsonl.exists():
        done = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    refuse_changed(done, args.methods, args.jsonl)  # a resumed run would mix both settings under one label
    have = {(d["label"], d["dataset"], d["seed"]) for d in done}
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    for label in args.methods:
        method, kwargs, *_ = METHODS[label]
        if label in HISTORICAL:
            continue
        for dataset in args.datasets:
            for seed in range(args.expensive_seeds if label in EXPENSIVE else args.seeds):
                if (label, dataset, seed) in have or (label, dataset, seed) in _finished(args.jsonl):
                    continue  # the file is re-read: another process may be filling in other methods
                if label in TWINS.values() and label in args.methods and any(
                        TWINS[t] == label and t in args.methods for t in TWINS):
                    continue  # written by its twin's search
                t0, c0 = time.perf_counter(), time.process_time()
                r = search("nb201", method, seed=seed, data=dataset, data_dir=args.data_dir, **kwargs)
                row = {"label": label, "method": method, "settings": kwargs, "dataset": dataset, "seed": seed,
                       "arch": r.arch,
                       "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                       "evaluations": r.evaluations, "benchmark": r.benchmark, "accuracy_reads": r.accuracy_reads,
                       "fast_training_seconds": r.protocol.get("fast_training_seconds"),
                       "stands_in_for": r.stands_in_for}
                if "refine" in r.protocol:  # what the accuracy reads changed: the label-free answer, judged
                    from zeronas.search.base import benchmark_info
                    from zeronas.spaces import space

                    free = r.protocol["refine"]["label_free_answer"]
                    row.update(label_free_answer=free,
                               label_free_benchmark=benchmark_info(space("nb201"), space("nb201").parse(free),
                                                                   args.data_dir),
                               refine_seconds=r.protocol["refine"].get("seconds"))
                rows = [row]
                if label in TWINS:
                    from zeronas.search.base import benchmark_info
                    from zeronas.spaces import space

                    sp = space("nb201")
                    free = r.protocol["refine"]["label_free_answer"]
                    twin = {k: v for k, v in row.items()
                            if k not in ("label_free_answer", "label_free_benchmark", "refine_seconds")}
                    rows.append({**twin, "label": TWINS[label], "arch": free, "accuracy_reads": 0,
                                 "benchmark": benchmark_info(sp, sp.parse(free), args.data_dir)})
                with args.jsonl.open("a") as f:
                    f.write("".join(json.dumps(x) + "\n" for x in rows))
                done += rows
                have |= {(x["label"], dataset, seed) for x in rows}
                print(f"{label:20s} {dataset:15s} seed {seed}: {r.benchmark.get(dataset, float('nan')):.2f} "
                      f"({row['seconds']:.0f}s)", flush=True)
    return done


# hardware-aware section (issue 23 item 4): label-free sample-and-rank under HW-NAS-Bench latency bounds
HW_DEVICES = ("edgegpu", "raspi4", "pixel3", "fpga")
HW_BOUNDS = {"tight": 25, "loose": 75}  # percentiles of the device's latency over the whole space (no labels)
HW_KW = {"proxy": "nwot", "batch_size": 64}


def _hw_bound(device: str, pct: int, data_dir) -> float:
    import numpy as np

    from zeronas.benchmarks.hwnasbench import load_hwnasbench

    lat = load_hwnasbench(data_dir).latency(device, "cifar10")
    return round(float(np.nanpercentile(lat, pct)), 3)


def _hw_search_kw(args, method: str) -> dict:
    """The search each hardware-aware row runs: NASWOT's sample-and-rank (N feasible draws) or the default
    label-free funnel (zeronas-v1, a wall-time budget)."""
    strategy = args.hw_refine_strategy or ("local" if method == "funnel" else "top")
    refine = {"refine": args.hw_refine, "evaluator": "table", "refine_strategy": strategy} if args.hw_refine else {}
    if method == "funnel":
        if args.hw_budget:  # a count of full-ensemble evaluations instead of wall time
            return {"proxy": "zeronas-v1", "budget": args.hw_budget, **refine}
        return {"proxy": "zeronas-v1", "time_budget": args.hw_time_budget, **refine}
    return dict(HW_KW, n=args.hw_n, **refine)


def _hw_label(row: dict) -> str:
    """The search a hardware-aware row ran, as its table shows it (rows before settings were kept: N=30)."""
    st = row.get("settings") or {}
    # rows from before --refine-strategy existed read the top K
    refine = f" + refine {st['refine']} (hp12, {st.get('refine_strategy', 'top')})" if st.get("refine") else ""
    if row.get("method", "sample") == "funnel":
        if st.get("budget"):
            return f"funnel ({st['budget']} full evaluations){refine}"
        return f"funnel ({st['time_budget']:.0f} s){refine}"
    return f"sample (N={st.get('n', 30)}){refine}"


def run_hw(args) -> list[dict]:
    """Constraint gap (found vs best feasible 200-epoch CIFAR-10 test accuracy) at a tight and a loose latency
    bound, and the Pareto hypervolume ratio (found front / true front), per device and search method; one JSON
    line per run. All runs of a method share one score store, so an arch drawn again (another device, bound or
    mode) is not rescored."""
    import numpy as np
    import torch

    from zeronas.search import search
    from zeronas.search.base import rng_for
    from zeronas.search.constraints import Constraints
    from zeronas.search.front_report import best_feasible, hypervolume_ratio, space_costs
    from zeronas.spaces import space as get_space

    torch.set_num_threads(args.threads)
    sp = get_space("nb201")
    have = set()
    if args.hw_jsonl.exists():
        have = {(_hw_label(d), d["mode"], d["device"], d.get("bound"), d["seed"]) for d in
                (json.loads(x) for x in args.hw_jsonl.read_text().splitlines() if x.strip())}
    args.hw_jsonl.parent.mkdir(parents=True, exist_ok=True)
    method = args.hw_method
    store = args.hw_store if method == "sample" else args.hw_store.with_name(f"{args.hw_store.stem}_{method}.db")
    kw = dict(_hw_search_kw(args, method), data="cifar10", data_dir=args.data_dir, store=str(store))
    label = _hw_label({"method": method, "settings": kw})
    rows = []
    for seed in range(args.hw_seeds):
        for device in HW_DEVICES:
            lat = space_costs(f"latency:{device}", "cifar10", args.data_dir)
            jobs = [("pareto", None)] * ("pareto" in args.hw_modes) + [("gap", b) for b in HW_BOUNDS] * (
                "gap" in args.hw_modes)
            for mode, bound in jobs:
                if (label, mode, device, bound, seed) in have:
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                if mode == "pareto":
                    r = search("nb201", method, seed=seed, objectives=f"score,latency:{device}", **kw)
                    front = [p["arch"] for p in r.front]
                    hv = hypervolume_ratio(front, f"latency:{device}", "cifar10", args.data_dir)
                    hv_med = hypervolume_ratio(front, f"latency:{device}", "cifar10", args.data_dir, "median")
                    row = {"mode": mode, "device": device, "bound": None, "seed": seed, "front_size": len(r.front),
                           "hv_ratio": hv["ratio"], "hv_ratio_median": hv_med["ratio"],
                           "true_front_size": hv["true_front_size"], "reference": hv["reference"],
                           "reference_median": hv_med["reference"], "front": front}
                    if method == "sample":  # the same draws (reconstructed): the best any selection could reach
                        cons = Constraints(sp, "cifar10", args.data_dir, objectives=f"score,latency:{device}")
                        rng = rng_for(seed)
                        drawn = [sp.format(cons.sample(rng)) for _ in range(kw["n"])]
                        row.update(drawn=drawn, hv_ratio_all_drawn=hypervolume_ratio(
                            drawn, f"latency:{device}", "cifar10", args.data_dir)["ratio"],
                            hv_ratio_median_all_drawn=hypervolume_ratio(
                                drawn, f"latency:{device}", "cifar10", args.data_dir, "median")["ratio"])
                else:
                    ms = _hw_bound(device, HW_BOUNDS[bound], args.data_dir)
                    r = search("nb201", method, seed=seed, max_latency=f"{device}={ms}", **kw)
                    _, best = best_feasible(lat <= ms, "cifar10", args.data_dir)
                    from zeronas.benchmarks.nb201 import load_nb201

                    acc = load_nb201(args.data_dir).column("cifar10_test_acc")
                    feas = (lat <= ms) & np.isfinite(acc)
                    row = {"mode": mode, "device": device, "bound": bound, "bound_ms": ms, "seed": seed,
                           "found": r.benchmark["cifar10"], "best_feasible": best, "gap": best - r.benchmark["cifar10"],
                           "random_feasible_mean": float(acc[feas].mean()),
                           "answer_latency_ms": r.constraints["answer"][f"latency_ms:{device}"],
                           "feasible_fraction": r.constraints["feasible_fraction_of_space"]}
                row.update(method=method, settings={k: v for k, v in kw.items() if k not in ("data_dir", "store")},
                           seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                           evaluations=r.evaluations, accuracy_reads=r.accuracy_reads)
                if "full_evaluations" in r.protocol:  # funnel: archs scored by every member (nwot too)
                    row["full_evaluations"] = r.protocol["full_evaluations"]
                with args.hw_jsonl.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k not in ("front", "drawn")}), flush=True)
    return rows


def _full_evals(sel: list[dict]) -> str:
    """' (N full)': the mean count of archs every ensemble member scored, when each run recorded it."""
    v = [r["full_evaluations"] for r in sel if "full_evaluations" in r]
    return f" ({statistics.mean(v):.0f} full)" if v and len(v) == len(sel) else ""


def sd(v) -> float:
    return statistics.stdev(v) if len(v) > 1 else 0.0


HW_METHOD_NOTES = {
    "sample": "NASWOT's sample-and-rank, proxy nwot, batch 64, N feasible draws (`--hw-n`)",
    "funnel": "the label-free default: funnel with the frozen zeronas-v1, a wall-time budget (`--hw-time-budget`) "
              "per search, feasible archs only in every stage",
}


def hw_markdown(rows: list[dict], args) -> list[str]:
    if not rows:
        return []
    for r in rows:  # rows written before the method was recorded are sample runs
        r.setdefault("method", "sample")
        r["search"] = _hw_label(r)
    methods = [m for m in HW_METHOD_NOTES if any(r["method"] == m for r in rows)]
    searches = sorted({r["search"] for r in rows}, key=lambda x: (not x.startswith("sample"), len(x), x))

    lines = ["", "## Hardware-aware search (HW-NAS-Bench latency, CIFAR-10)", "",
             "Label-free searches under HW-NAS-Bench latency: "
             + "; ".join(f"`{m}`: {HW_METHOD_NOTES[m]}" for m in methods)
             + ". Every run read 0 accuracies (`accuracy_reads`) except the '+ refine K' rows (K reads of NB201's "
             "12-epoch accuracy, `--refine K --evaluator table`). Latency of the CIFAR-10 network from HW-NAS-Bench "
             "(`nb201_hw_metrics_hwnasbench.csv.gz`); accuracy: the 200-epoch CIFAR-10 test accuracy (seed mean), "
             "read only to judge the answers. Commands (seeds 0..2): `python benchmarks/search_results.py --hw "
             "--hw-method sample --hw-seeds 3 --hw-n 30 --threads 1 --only-stored --shared-cpu`, the same with "
             "`--hw-n 300 --hw-modes pareto`, `--hw-method funnel --hw-time-budget 60`, `--hw-method funnel "
             "--hw-refine 20 --hw-modes gap --hw-refine-strategy top` and the same with `local`, `--hw-method "
             "funnel --hw-modes pareto --hw-budget 300` (each runs what is "
             f"missing from `{args.hw_jsonl}`, then writes this file); one run by hand: `zeronas search --space "
             "nb201 --data cifar10 --time-budget 60 --max-latency edgegpu=MS` or `--objectives "
             "score,latency:edgegpu --out DIR` (front.json, front.png).", "",
             "**Constraint gap.** Bounds are set without labels: tight = the 25th, loose = the 75th percentile of "
             "the device's latency over all 15,625 archs. Gap = best feasible accuracy in the table - accuracy "
             "of the answer (0 is perfect; the target is <= 0.3); 'random feasible' is the mean accuracy of a "
             "uniformly drawn feasible arch. Mean +- std over seeds. 'feasible share' is the share of all 15,625 "
             "strings under the bound (how the bound was set); the set a search chooses from, which the CLI's "
             "'among the N feasible' counts, also leaves out the cut-off cells (output cut off from the input: "
             "they compute nothing).", "",
             "| device | bound | ms | feasible share | search | seeds | answer acc | best feasible | gap | "
             "random feasible | s / search |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for device in HW_DEVICES:
        for bound in HW_BOUNDS:
            for m in searches:
                sel = [r for r in rows if r["mode"] == "gap" and r["device"] == device and r["bound"] == bound
                       and r["search"] == m]
                if not sel:
                    continue
                f = [r["found"] for r in sel]
                g = [r["gap"] for r in sel]
                lines.append(f"| {device} | {bound} | {sel[0]['bound_ms']:.3f} | {sel[0]['feasible_fraction']:.2f} | "
                             f"{m} | {len(sel)} | {statistics.mean(f):.2f} +- {sd(f):.2f} | "
                             f"{sel[0]['best_feasible']:.2f} | {statistics.mean(g):.2f} +- {sd(g):.2f} | "
                             f"{sel[0]['random_feasible_mean']:.2f} | "
                             f"{statistics.mean(r['seconds'] for r in sel):.0f} |")
    lines += ["", "**Pareto hypervolume ratio** (`--objectives score,latency:DEVICE`): the archs of the found front "
              "(non-dominated by the search's score and latency) placed at their true accuracy and latency; "
              "hypervolume over the true accuracy-latency front's, reference point = (least accuracy, largest "
              "latency) of the space (nadir), or (median accuracy of the space, largest latency): only the better "
              "half counts (target: >= 0.98 within 300 evaluations). 'all drawn' (sample only) is the ratio of all N "
              "drawn archs: the most any selection from these draws could reach. 'evaluations' counts the calls "
              "of the search's most-called proxy: for sample, nwot; for funnel, the params screen of its pool, "
              "and in brackets the archs scored by every member (nwot too) where the run recorded it.", "",
              "| device | search | seeds | found / true HV (nadir) | all drawn (nadir) | "
              "found / true HV (median ref) | all drawn (median ref) | front size | true front size | "
              "evaluations | s / search |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for device in HW_DEVICES:
        for m in searches:
            sel = [r for r in rows if r["mode"] == "pareto" and r["device"] == device and r["search"] == m]
            if not sel:
                continue
            cells = []
            for key in ("hv_ratio", "hv_ratio_all_drawn", "hv_ratio_median", "hv_ratio_median_all_drawn"):
                v = [r[key] for r in sel if key in r]
                cells.append(f"{statistics.mean(v):.3f} +- {sd(v):.3f}" if v else "—")
            lines.append(f"| {device} | {m} | {len(sel)} | {' | '.join(cells)} | "
                         f"{statistics.mean(r['front_size'] for r in sel):.1f} | {sel[0]['true_front_size']} | "
                         f"{statistics.mean(r['evaluations'] for r in sel):.0f}{_full_evals(sel)} | "
                         f"{statistics.mean(r['seconds'] for r in sel):.0f} |")
    lines += ["", "Times are wall seconds on a shared 2-core CPU. The runs of one search method share one score "
              "store, so an arch already scored by an earlier run (same seed, another device, bound or mode; or a "
              "rerun) is read back, not rescored: these times are those of this sequence of runs, not of a cold "
              "search (see the rows above for the cold cost). A funnel search spends its whole time budget "
              "either way: what the store saves goes into more evaluations."]
    return lines


# zeronas-v1's members over all of NB201, committed by benchmarks/frozen_ensemble_nb201.py
WHOLE_SPACE_SCORES = Path(__file__).resolve().parent / "results" / "scores" / "nb201_all" / "cifar10"


def _stored_values(path: Path) -> dict:
    """arch string -> value of one committed score snapshot (``Store.export``'s CSV), ok rows only."""
    import csv
    import gzip

    with gzip.open(path, "rt", newline="") as f:
        return {r["arch"]: float(r["value"]) for r in csv.DictReader(f) if r["status"] == "ok"}


def hw_hp12_ceiling(data_dir) -> list[dict] | str:
    """What 12-epoch reads can reach under each latency bound, from the tables alone (no search run), one dict
    per device and bound: the gap of the hp12 argmax over every feasible arch, how many feasible archs a read
    set must avoid (hp12 at or above that of every arch within 0.3 of the best feasible, accuracy below it),
    and the gap of reading the top K of zeronas-v1 ranked within the whole feasible set (from its committed
    scores of all 15,625 archs), i.e. a `top` refine after a label-free phase that had scored every feasible
    arch (a log-rank sum depends on the population ranked, so ranking all archs and then filtering differs).
    Without the tables: the reason, a string."""
    import numpy as np

    from zeronas.benchmarks.correlation import rank_ensemble
    from zeronas.benchmarks.hwnasbench import load_hwnasbench
    from zeronas.benchmarks.nb201 import load_nb201
    from zeronas.search.refine import HP12

    try:
        t, hw = load_nb201(data_dir), load_hwnasbench(data_dir)
    except Exception as exc:  # the report still writes without the tables
        return str(exc)
    acc = np.asarray(t.column("cifar10_test_acc"), dtype=float)
    hp12 = np.asarray(t.column(HP12["cifar10"]), dtype=float)
    ens = None
    files = [WHOLE_SPACE_SCORES / f"{m}.csv.gz" for m in ("nwot", "params")]
    if all(f.exists() for f in files):
        cols = [_stored_values(f) for f in files]
        ens = np.array([[c.get(a, np.nan) for a in hw.arch_str] for c in cols])
    out = []
    for device in HW_DEVICES:
        lat = hw.latency(device, "cifar10")
        for bound, pct in HW_BOUNDS.items():
            feas = (lat <= _hw_bound(device, pct, data_dir)) & np.isfinite(acc)
            best = float(acc[feas].max())
            feas = np.flatnonzero(feas & np.isfinite(hp12))  # what a read can return
            good = feas[acc[feas] >= best - 0.3]
            # a tie with the best good read is a trap too: which of the two a search answers is arbitrary
            traps = int(((hp12[feas] >= hp12[good].max()) & (acc[feas] < best - 0.3)).sum())
            row = {"device": device, "bound": bound, "best_feasible": best,
                   "hp12_argmax_gap": best - float(acc[feas[np.argmax(hp12[feas])]]), "traps": traps}
            if ens is not None:
                ok = feas[np.isfinite(ens[:, feas]).all(axis=0)]
                order = ok[np.argsort(-rank_ensemble(list(ens[:, ok]), [1, 1]), kind="stable")]
                row["zeronas_v1_top_k_gap"] = {k: best - float(acc[order[:k]][np.argmax(hp12[order[:k]])])
                                               for k in HW_CEILING_KS}
            out.append(row)
    return out


HW_CEILING_KS = (20, 50, 100)


def hw_ceiling_markdown(ceiling: list[dict] | str) -> list[str]:
    if isinstance(ceiling, str):
        return ["", f"(12-epoch ceiling under bounds not computed: {ceiling})"]
    lines = ["", "**What 12-epoch reads can reach under a bound** (from the tables alone, no search run; same "
             "bounds as above; `benchmarks/results/search_results.json`, key `hw_hp12_ceiling`). 'hp12 argmax' "
             "reads the 12-epoch accuracy of every feasible arch and answers the best read; 'traps' counts the "
             "feasible archs whose hp12 read equals or beats that of every arch within 0.3 of the best feasible "
             "while they are not: a refine meets the 0.3 target only if it reads a good arch and none of these. "
             "'zeronas-v1 top K' ranks every feasible arch by zeronas-v1 (nwot and params over all 15,625 archs, "
             "the committed scores of `benchmarks/frozen_ensemble_nb201.py`) and answers the hp12 best of its top "
             "K: a `top` refine of K reads after a label-free phase that scored the whole feasible set.", "",
             "| device | bound | best feasible | gap of the hp12 argmax | traps | "
             + " | ".join(f"gap, zeronas-v1 top {k}" for k in HW_CEILING_KS) + " |",
             "|---|---|---|---|---|" + "---|" * len(HW_CEILING_KS)]
    for r in ceiling:
        gaps = r.get("zeronas_v1_top_k_gap")
        cells = [f"{gaps[k]:.2f}" if gaps else "—" for k in HW_CEILING_KS]
        lines.append(f"| {r['device']} | {r['bound']} | {r['best_feasible']:.2f} | {r['hp12_argmax_gap']:.2f} | "
                     f"{r['traps']} | " + " | ".join(cells) + " |")
    return lines


def summarize(rows: list[dict], args) -> dict:
    """Every stored (method, dataset), not only those this run searched: the page is the whole table."""
    out = {}
    for label in METHODS:
        entry = {}
        for dataset in DATASETS:
            sel = [r for r in rows if r["label"] == label and r["dataset"] == dataset]
            if not sel:
                continue
            accs = [r["benchmark"][dataset] for r in sel]
            entry[dataset] = {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                              "n": len(accs), "seconds": statistics.mean(r["seconds"] for r in sel),
                              "cpu_seconds": (statistics.mean(r["cpu_seconds"] for r in sel)
                                              if all("cpu_seconds" in r for r in sel) else None),
                              "accuracy_reads": max(r.get("accuracy_reads", 0) for r in sel),
                              "at_optimum": sum(abs(r["benchmark"][dataset] - OPTIMUM[dataset]) < 0.005
                                                for r in sel),
                              "stand_in": any(r.get("stands_in_for") for r in sel),
                              # records of data-using methods written before their stand-in was looked up
                              "stand_in_unrecorded": dataset != "cifar10" and not any(
                                  r.get("stands_in_for") for r in sel) and all(
                                  r["method"] not in DATA_FREE for r in sel),
                              "training_seconds": statistics.mean(r.get("fast_training_seconds") or 0.0 for r in sel)}
        out[label] = entry
    return out


def hp12_ceiling(rows: list[dict], data_dir) -> list[str]:
    """What the `table` evaluator can reach, from the NB201 table alone: the 200-epoch test accuracy of the
    12-epoch (hp12) argmax over the whole space, the archs whose hp12 read beats the optimum's, and, per few-shot
    row, what the reads changed (the label-free answer of the same search vs the answer)."""
    import numpy as np

    from zeronas.benchmarks.nb201 import load_nb201
    from zeronas.search.refine import HP12

    try:
        t = load_nb201(data_dir)
    except Exception as exc:  # the report still writes without the table
        return ["", f"(12-epoch ceiling not computed: {exc})"]
    lines = ["", "## What 12-epoch reads can reach", "",
             "A `table` read is the 12-epoch test accuracy of one training seed (hp12). Reading it for every "
             "architecture of the space and answering with the best read gives the first column; the optimum "
             "(200-epoch test accuracy; of archs tied there, the best in hp12) is beaten in hp12 by the archs of "
             "the second column, so a few-shot search "
             "that reads the optimum answers with it only if it reads none of those. Computed from the table by "
             "this script.", "",
             "| dataset | hp12 argmax of the whole space: test acc | archs above the optimum in hp12 | "
             "best test acc in the hp12 top 5 | few-shot row: label-free answer -> answer (mean over seeds) |",
             "|---|---|---|---|---|"]
    for ds in DATASETS:
        test = np.asarray(t.column({"cifar10": "cifar10_test_acc", "cifar100": "cifar100_test_acc",
                                    "imagenet16-120": "imagenet16_120_test_acc"}[ds]), dtype=float)
        hp12 = np.asarray(t.column(HP12[ds]), dtype=float)
        order = np.argsort(-hp12, kind="stable")
        # archs tied at the optimum (CIFAR-10 has two at 94.3733): the one a 12-epoch read ranks highest
        tied = np.flatnonzero(np.isclose(test, np.nanmax(test), rtol=0, atol=1e-6))
        opt = int(tied[np.argmax(hp12[tied])])
        changed = []
        twin = {(r["label"], r["seed"]): r["benchmark"] for r in rows if r["dataset"] == ds}

        def free_of(r, twin=twin):  # the label-free answer of the same search (older records: the twin row's)
            return r.get("label_free_benchmark") or twin.get((FREE_TWIN.get(r["label"]), r["seed"]))

        for label in sorted({r["label"] for r in rows if r["dataset"] == ds and r.get("accuracy_reads")}):
            sel = [r for r in rows if r["label"] == label and r["dataset"] == ds and free_of(r)]
            if not sel:
                continue
            free = statistics.mean(free_of(r)[ds] for r in sel)
            got = statistics.mean(r["benchmark"][ds] for r in sel)
            changed.append(f"{label}: {free:.2f} -> {got:.2f} ({len(sel)} seeds)")
        lines.append(f"| {ds} | {test[order[0]]:.2f} | {int((hp12 > hp12[opt]).sum())} | "
                     f"{np.nanmax(test[order[:5]]):.2f} | {'; '.join(changed) or '—'} |")
    return lines


def markdown(summary: dict, args, rows: list[dict] = ()) -> str:
    lines = [
        "# Search results on NAS-Bench-201",
        "",
        f"Generated by `python benchmarks/search_results.py {shlex.join(sys.argv[1:])}` on "
        f"{datetime.date.today().isoformat()}. Do not edit by hand.",
        "",
        "NB201 200-epoch test accuracy (seed mean of the table) of the architecture each search returns, mean +- std "
        "over seeds 0..n-1, with the search's wall time on this machine "
        f"({os.cpu_count()} CPU cores, torch threads {args.threads}, no GPU). Each dataset column searches with "
        "that dataset: the network has its classes and input size. Benchmark optimum: "
        "94.37 / 73.51 / 47.31. CIFAR-100 / ImageNet16-120 images are not in the data folder, so every "
        "data-dependent method (all but freedarts) searches those columns with CIFAR-10 images on a network "
        "with the right classes and input size; (s) marks the rows whose records carry that note, (s*) those "
        "whose records predate the lookup that finds the stand-in for their method (te-nas, teg-*, zero-cost-pt, "
        "AZ-NAS's ensemble): they searched with CIFAR-10 images too (the data folder's README: those images could "
        "not be obtained), but their records do not say so. A row with "
        "fewer seeds than its 'seeds' column in some dataset was still running when the table was written."
        + (" Other benchmark jobs shared the CPU while these searches ran, so the times are upper bounds."
           if args.shared_cpu else ""),
        "",
        "| method | settings | CIFAR-10 | CIFAR-100 | ImageNet16-120 | seeds | s / search | CPU s / search "
        "| accuracy reads | seeds at the optimum (C10 / C100 / IN16) | published (C10 / C100 / IN16) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, entry in summary.items():
        _, _, note, pub, src = METHODS[label]
        cells = []
        for ds in DATASETS:
            e = entry.get(ds)
            mark = " (s)" if e and e["stand_in"] else " (s*)" if e and e.get("stand_in_unrecorded") else ""
            cells.append("—" if e is None else f"{e['mean']:.2f} +- {e['std']:.2f}" + mark)
        n = max((e["n"] for e in entry.values()), default=0)
        secs = [e["seconds"] for e in entry.values()]
        train_s = statistics.mean(e["training_seconds"] for e in entry.values()) if entry else 0.0
        pub_s = " / ".join(f"{v:.2f}" for v in pub) + f" ({src})" if pub else (src or "—")
        if not secs:
            lines.append(f"| {label} | {note} | — | — | — | 0 | — | — | — | — | — |")
            continue
        cost = f"{statistics.mean(secs):.0f}" + (f" (of which {train_s:.0f} fast training)" if train_s else "")
        cpus = [e["cpu_seconds"] for e in entry.values() if e.get("cpu_seconds") is not None]
        cpu = f"{statistics.mean(cpus):.0f}" if cpus else "—"
        reads = max((e.get("accuracy_reads", 0) for e in entry.values()), default=0)
        opt = " / ".join(f"{entry[ds]['at_optimum']}/{entry[ds]['n']}" if ds in entry and "at_optimum" in entry[ds]
                         else "—" for ds in DATASETS)
        lines.append(f"| {label} | {note} | {' | '.join(cells)} | {n} | {cost} | {cpu} | {reads} | {opt} | {pub_s} |")
    lines += ["", "Gap to the optimum of the best mean per dataset:", ""]
    for ds in DATASETS:
        best = max(((lbl, e[ds]["mean"]) for lbl, e in summary.items() if ds in e), key=lambda t: t[1], default=None)
        if best:
            lines.append(f"- {ds}: {best[0]} {best[1]:.2f} ({best[1] - OPTIMUM[ds]:+.2f} vs the optimum {OPTIMUM[ds]})")
    lines += hp12_ceiling(rows, args.data_dir)
    if args.hw_jsonl.exists():
        lines += hw_markdown([json.loads(x) for x in args.hw_jsonl.read_text().splitlines() if x.strip()], args)
        lines += hw_ceiling_markdown(args.hw_ceiling)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated labels from METHODS")
    ap.add_argument("--datasets", default=",".join(DATASETS),
                    help="comma-separated NB201 datasets searched (default: %(default)s)")
    ap.add_argument("--seeds", type=int_at_least(1), default=5,
                    help="seeds per method and dataset (default: %(default)s)")
    ap.add_argument("--expensive-seeds", type=int_at_least(1), default=3, help="seeds for the EXPENSIVE methods")
    ap.add_argument("--threads", type=int_at_least(1), default=2, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--jsonl", type=Path, default=Path("benchmarks/results/search_results.jsonl"),
                    help="one JSON line per finished run, appended; rows already there are not rerun (default: "
                         "%(default)s)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/search_results.json"),
                    help="the JSON results written (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("docs/search_results.md"),
                    help="the markdown page written (default: %(default)s)")
    ap.add_argument("--only-stored", action="store_true", help="write the report from finished runs only")
    ap.add_argument("--shared-cpu", action="store_true", help="say in the report that other jobs shared the CPU")
    ap.add_argument("--hw", action="store_true", help="run the hardware-aware measurements (run_hw) first")
    ap.add_argument("--hw-seeds", type=int_at_least(1), default=3,
                    help="seeds per hardware-aware measurement (default: %(default)s)")
    ap.add_argument("--hw-n", type=int_at_least(1), default=30,
                    help="feasible archs drawn per hardware-aware sample search")
    ap.add_argument("--hw-method", choices=("sample", "funnel"), default="sample",
                    help="search the hardware-aware rows run: sample (NASWOT, --hw-n draws) or funnel (zeronas-v1)")
    ap.add_argument("--hw-modes", default="pareto,gap", help="hardware-aware measurements to run: pareto, gap")
    ap.add_argument("--hw-refine", type=int_at_least(0), default=0,
                    help="few-shot: read NB201's 12-epoch accuracy of the top K feasible candidates (0: label-free)")
    ap.add_argument("--hw-refine-strategy", choices=("top", "local"), default=None,
                    help="with --hw-refine: top (the top K) or local (hill climbing on the reads; funnel only); "
                         "default: local for funnel, top for sample")
    ap.add_argument("--hw-time-budget", type=float, default=60.0,
                    help="wall seconds per hardware-aware funnel search")
    ap.add_argument("--hw-budget", type=int_at_least(0), default=0,
                    help="funnel only: a budget of N full-ensemble evaluations (archs scored by every member) "
                         "instead of --hw-time-budget")
    ap.add_argument("--hw-jsonl", type=Path, default=Path("benchmarks/results/search_hw.jsonl"),
                    help="one JSON line per finished hardware-aware run, appended; rows already there are not rerun "
                         "(default: %(default)s)")
    ap.add_argument("--hw-store", type=Path, default=Path(tempfile.gettempdir()) / "zeronas_search_hw.db",
                    help="score store shared by the hardware-aware runs (kept out of the repository)")
    args = ap.parse_args()
    args.hw_modes = [m for m in args.hw_modes.split(",") if m]
    if not args.hw_modes or set(args.hw_modes) - {"pareto", "gap"}:
        sys.exit(f"error: --hw-modes takes pareto and/or gap, comma-separated, not {','.join(args.hw_modes)!r}")
    args.methods = [m for m in args.methods.split(",") if m]
    args.datasets = [d for d in args.datasets.split(",") if d]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        sys.exit(f"error: unknown method label(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if args.hw_budget and args.hw_method != "funnel":
        sys.exit("error: --hw-budget is for --hw-method funnel (sample draws --hw-n archs)")
    if args.hw_refine_strategy == "local" and args.hw_method != "funnel":
        sys.exit("error: --hw-refine-strategy local needs --hw-method funnel (sample reads its top K)")
    if args.hw:
        run_hw(args)
    if args.only_stored:
        rows = [json.loads(x) for x in args.jsonl.read_text().splitlines() if x.strip()] if args.jsonl.exists() else []
    else:
        rows = run(args)
    refuse_changed(rows, list(METHODS), args.jsonl)  # the page reports every stored label under METHODS' words
    summary = summarize(rows, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.hw_ceiling = hw_hp12_ceiling(args.data_dir) if args.hw_jsonl.exists() else None
    args.json.write_text(json.dumps({"summary": summary, "settings": {k: METHODS[k][2] for k in summary},
                                     "hw_hp12_ceiling": args.hw_ceiling}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(summary, args, rows)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
