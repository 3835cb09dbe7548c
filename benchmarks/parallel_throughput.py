"""Throughput (archs/second) per proxy: the local process pool against one process, same archs, same run.

    python benchmarks/parallel_throughput.py --archs 40 --proxies nwot,synflow,snip,params

Each configuration scores the same architectures into a fresh store; one process uses all torch threads,
the pool uses one process per core with one thread each.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from zeronas.errors import int_at_least, run_script
from zeronas.run import make_executor
from zeronas.spaces.nb201 import random_archs
from zeronas.store import Store


def measure(proxy: str, archs, workers: int, batch_size: int) -> float:
    kwargs = dict(space="nb201", proxies=[proxy], data="cifar10", batch_size=batch_size, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Store(Path(tmp) / "t.db")
        ex = make_executor(kwargs, workers)
        list(ex.map(archs[:2]))  # warm-up: workers start, data loads (not timed)
        t0 = time.perf_counter()
        for recs in ex.map(archs[2:]):
            db.put(recs)
        dt = time.perf_counter() - t0
        ex.close()
        db.close()
    return (len(archs) - 2) / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int_at_least(1), default=40,
                    help="NB201 architectures timed (default: %(default)s)")
    ap.add_argument("--proxies", default="nwot,synflow,snip,params",
                    help="comma-separated proxy names (zeronas proxies lists them) (default: %(default)s)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64,
                    help="images per proxy batch (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/parallel_throughput.json"),
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    archs = random_archs(args.archs + 2, seed=123)
    cores = os.cpu_count()
    rows = {}
    for p in args.proxies.split(","):
        one = measure(p, archs, 1, args.batch_size)
        pool = measure(p, archs, 0, args.batch_size)
        rows[p] = {"one_process_archs_per_s": one, "pool_archs_per_s": pool, "speedup": pool / one}
        print(f"{p:12s} one process {one:7.2f} arch/s   pool ({cores} workers) {pool:7.2f} arch/s   "
              f"x{pool / one:.2f}", flush=True)
    result = {"cores": cores, "torch_threads_one_process": torch.get_num_threads(), "archs": args.archs,
              "batch_size": args.batch_size, "torch": torch.__version__, "proxies": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
