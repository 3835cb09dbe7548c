"""How far proxy values move with the torch thread count, and whether the store keys them apart.

    python benchmarks/thread_values.py --archs 10

Scores the same seeded NB201 archs with 1 and with 2 torch threads, in each memory format, and writes per
proxy the largest and median relative difference, how many values were bit-equal, and whether the two runs'
protocol hashes were the same (the store key: equal hashes mean a store resumed with another thread count
keeps the first value it holds; in channels-last a count other than 1 is keyed, ``Scorer(threads=)``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
from pathlib import Path

import torch

from zeronas.errors import int_at_least
from zeronas.scoring import Scorer
from zeronas.spaces.nb201 import random_archs

PROXIES = "nwot,synflow,snip,jacob_cov,meco,grad_norm,fisher,zico"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int_at_least(1), default=10, help="seeded NB201 archs scored")
    ap.add_argument("--proxies", default=PROXIES, help="comma-separated proxies")
    ap.add_argument("--seed", type=int, default=7, help="arch sample seed")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "thread_values.json",
                    help="JSON written (default: benchmarks/results/thread_values.json)")
    args = ap.parse_args(argv)
    proxies = args.proxies.split(",")
    archs = random_archs(args.archs, seed=args.seed)
    before = torch.get_num_threads()
    rows = []
    try:
        for fmt in ("contiguous", "channels-last"):
            runs = {}
            for threads in (1, 2):
                torch.set_num_threads(threads)
                s = Scorer("nb201", proxies=proxies, data="cifar10", data_dir=args.data_dir, memory_format=fmt)
                runs[threads] = {(r.arch, r.proxy): (r.value, r.protocol_hash) for r in s.score(archs)}
            for p in proxies:
                keys = [k for k in runs[1] if k[1] == p]
                pairs = [(runs[1][k][0], runs[2][k][0]) for k in keys]
                finite = [(a, b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
                rel = [abs(a - b) / abs(a) if a else abs(b) for a, b in finite]
                row = {"memory_format": fmt, "proxy": p, "archs": len(keys), "finite_pairs": len(finite),
                       "max_rel": max(rel, default=None), "median_rel": statistics.median(rel) if rel else None,
                       "bit_equal": sum(r == 0 for r in rel),
                       "same_protocol_hash": all(runs[1][k][1] == runs[2][k][1] for k in keys)}
                rows.append(row)
                print(f"{fmt:>13} {p:>10}  max rel {row['max_rel'] or 0:.1e}  median {row['median_rel'] or 0:.1e}  "
                      f"bit-equal {row['bit_equal']}/{len(finite)}  same protocol hash {row['same_protocol_hash']}")
    finally:
        torch.set_num_threads(before)
    result = {"what": "relative difference of proxy values scored with 1 vs 2 torch threads, same archs and "
                      "settings", "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "archs": args.archs, "seed": args.seed, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
