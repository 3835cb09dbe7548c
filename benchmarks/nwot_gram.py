"""nwot's per-layer Hamming Gram: the codes-then-flatten-then-cast path against ``naswot.active_gram``.

    python benchmarks/nwot_gram.py                 # NB201's three ReLU-input shapes at batch 64, 1 thread

For each shape and memory format (NCHW and channels-last) it times, interleaved, ``code_gram((t > 0).flatten(1))``
(the path before 2026-12-07: a bool pass, a layout copy for channels-last, a cast) and ``active_gram(t)``
(codes written straight into the product's dtype in t's memory order), and the bare product of ready codes
for scale. It checks the two Grams are equal (exact integers) and writes the medians (ms) to JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from zeronas.errors import int_at_least
from zeronas.proxies import naswot

SHAPES = ((64, 16, 32, 32), (64, 32, 16, 16), (64, 64, 8, 8))  # NB201 CIFAR stages at batch 64


def timed(fn, reps: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int_at_least(3), default=50, help="timed calls per way, interleaved in rounds")
    ap.add_argument("--threads", type=int_at_least(1), default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "nwot_gram.json",
                    help="JSON written (default: benchmarks/results/nwot_gram.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    rows = []
    for shape in SHAPES:
        base = torch.randn(*shape, generator=g)
        for fmt, t in (("contiguous", base), ("channels-last", base.contiguous(memory_format=torch.channels_last))):
            codes = (t > 0).flatten(1).float()
            ways = {"codes_flatten_cast": lambda t=t: naswot.code_gram((t > 0).flatten(1)),
                    "active_gram": lambda t=t: naswot.active_gram(t),
                    "product_only": lambda c=codes: c @ c.T}
            times: dict[str, list[float]] = {k: [] for k in ways}
            for _ in range(5):  # rounds: a shared machine's drift falls on every way alike
                for k, fn in ways.items():
                    times[k] += timed(fn, args.reps // 5)
            equal = torch.equal(ways["codes_flatten_cast"](), ways["active_gram"]())
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"shape": list(shape), "memory_format": fmt, "median_ms": med, "equal": equal,
                         "speedup": med["codes_flatten_cast"] / med["active_gram"]})
            print(f"{'x'.join(map(str, shape)):>12} {fmt:>13}  before {med['codes_flatten_cast']:6.3f} ms  "
                  f"active_gram {med['active_gram']:6.3f} ms  ({rows[-1]['speedup']:.2f}x)  product alone "
                  f"{med['product_only']:6.3f} ms  equal {equal}")
    result = {"what": "nwot Hamming Gram per ReLU input: before vs active_gram (median ms over interleaved calls)",
              "threads": args.threads, "reps": args.reps, "int8_product": naswot._int_mm_wins(),
              "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["equal"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
