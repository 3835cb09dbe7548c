"""The label-free default search (funnel, zeronas-v1) at one time budget, NCHW against channels-last networks.

    python benchmarks/memory_format_search.py --time-budget 60 --seeds 2

Runs ``zeronas.search("nb201", data="cifar10", time_budget=T, seed=s)`` once with the default layout and once
with ``memory_format="channels-last"`` per seed, the order alternating seed by seed, each without a store (so
nothing is reused between runs), and reports per run the archs scored by every member (``full_evaluations``),
the median seconds per such evaluation, the wall time and the answer with its CIFAR-10 test accuracy (read
from the table only to report it). A faster layout can only change the answer through the extra evaluations
the budget then affords, and through its float rounding (``benchmarks/memory_format.py``). Writes
``benchmarks/results/memory_format_search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from zeronas.errors import int_at_least, run_script

FORMATS = ("contiguous", "channels-last")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-budget", type=int_at_least(5), default=60, help="seconds per search (default: %(default)s)")
    ap.add_argument("--seeds", type=int_at_least(1), default=2, help="seeds 0..N-1 (default: %(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--note", default="", help="free text stored with the figures (e.g. the machine's load)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_format_search.json",
                    help="the JSON written (default: %(default)s)")
    args = ap.parse_args(argv)
    import zeronas as zn

    runs = []
    for seed in range(args.seeds):
        for fmt in FORMATS if seed % 2 == 0 else FORMATS[::-1]:
            t0 = time.perf_counter()
            r = zn.search("nb201", data="cifar10", data_dir=args.data_dir, time_budget=args.time_budget, seed=seed,
                          memory_format=fmt)
            row = {"seed": seed, "memory_format": fmt, "arch": r.arch,
                   "cifar10_test": (r.benchmark or {}).get("cifar10"), "full_evaluations":
                   r.protocol.get("full_evaluations"), "seconds_per_full_evaluation":
                   r.protocol.get("seconds_per_full_evaluation"), "archs_screened": r.evaluations,
                   "wall_s": round(time.perf_counter() - t0, 1)}
            runs.append(row)
            print(f"seed {seed} {fmt:13s} full evaluations {row['full_evaluations']:4d} "
                  f"({row['seconds_per_full_evaluation']:.3f} s each), {row['wall_s']:.0f} s, answer "
                  f"{row['cifar10_test']} ({r.arch})", flush=True)
    summary = {f: {"full_evaluations_mean": statistics.mean(r["full_evaluations"] for r in runs
                                                            if r["memory_format"] == f),
                   "seconds_per_full_evaluation_median": statistics.median(
                       r["seconds_per_full_evaluation"] for r in runs if r["memory_format"] == f)} for f in FORMATS}
    same = all(a["arch"] == b["arch"] for a in runs for b in runs if a["seed"] == b["seed"])
    out = {"what": f"zeronas.search('nb201', data='cifar10', time_budget={args.time_budget}, seed=s) (funnel with "
                   "zeronas-v1, no store) with memory_format contiguous and channels-last, alternated",
           "seeds": args.seeds, "time_budget": args.time_budget, "threads": torch.get_num_threads(),
           "cores": os.cpu_count(), "torch": torch.__version__, "cpu": platform.machine(), "note": args.note,
           "runs": runs, "summary": summary, "same_answer_per_seed": same}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for f, s in summary.items():
        print(f"{f:13s} full evaluations {s['full_evaluations_mean']:.1f} on average, "
              f"{s['seconds_per_full_evaluation_median']:.3f} s each (median)")
    print(f"same answer per seed: {same}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main)
