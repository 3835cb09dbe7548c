"""Several seeds of one search: one after another in this process, against at once on local worker processes.

    python benchmarks/search_runs.py --runs 4 --workers 2 --method sample --proxy nwot --n 20

The same seeds run twice, interleaved per repeat: (a) sequentially, ``zeronas.search`` with all cores' torch
threads (what ``zeronas search --runs N`` does without ``--workers``); (b) ``zeronas.search.parallel.run_seeds``
with ``--workers`` processes of cores // workers threads each (``--runs N --workers W``). A method with an
evaluation budget (not a time budget) is used, so both do the same work; the answers are compared seed by
seed (in the default NCHW layout the thread count moves values by at most about 2e-8 relative, so the
answers should agree). Prints and writes the wall seconds of each and their ratio (JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from zeronas.errors import int_at_least, run_script
from zeronas.run import usable_cores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int_at_least(2), default=4, help="seeds per configuration (default: %(default)s)")
    ap.add_argument("--workers", type=int_at_least(2), default=2,
                    help="worker processes for (b) (default: %(default)s)")
    ap.add_argument("--method", default="sample",
                    help="a search method with an evaluation budget (default: %(default)s)")
    ap.add_argument("--proxy", default="nwot", help="the method's proxy (default: %(default)s)")
    ap.add_argument("--n", type=int_at_least(1), default=20, help="archs each run scores (default: %(default)s)")
    ap.add_argument("--repeats", type=int_at_least(1), default=1, help="interleaved repeats (default: %(default)s)")
    ap.add_argument("--data-dir", default=None, help="datasets folder (default: $ZERONAS_DATA or ../shared/data)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/search_runs.json"),
                    help="JSON written here (default: %(default)s)")
    args = ap.parse_args(argv)

    from zeronas.search import search
    from zeronas.search.parallel import run_seeds

    kwargs = dict(proxy=args.proxy, n=args.n, data="cifar10", data_dir=args.data_dir)
    seeds = list(range(args.runs))
    cores = usable_cores()
    walls: dict[str, list[float]] = {"sequential": [], "workers": []}
    answers: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        seq = [search("nb201", args.method, seed=s, threads=cores, **kwargs) for s in seeds]
        walls["sequential"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        par = run_seeds("nb201", args.method, seeds, kwargs, workers=args.workers)
        walls["workers"].append(time.perf_counter() - t0)
        answers = {"sequential": [r.arch for r in seq], "workers": [r.arch for r in par]}
        print(f"sequential ({cores} threads): {walls['sequential'][-1]:.1f} s; {args.workers} workers "
              f"({max(1, cores // args.workers)} thread(s) each): {walls['workers'][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    same = sum(a == b for a, b in zip(answers["sequential"], answers["workers"]))
    result = {"what": f"{args.runs} seeds of zeronas.search('nb201', {args.method!r}, proxy={args.proxy!r}, "
                      f"n={args.n}): sequential in one process against run_seeds on worker processes",
              "cores": cores, "workers": args.workers, "repeats": args.repeats, "walls_s": walls,
              "median_s": med, "speedup": med["sequential"] / med["workers"],
              "same_answer_seeds": same, "runs": args.runs, "answers": answers,
              "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}
    print(f"median: sequential {med['sequential']:.1f} s, workers {med['workers']:.1f} s, speed-up "
          f"{result['speedup']:.2f}x; same answer on {same} of {args.runs} seeds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main)
