"""Time every proxy on the same NB201 architectures (same batch, same seed); write ms/arch per proxy as JSON.

    python benchmarks/proxy_speed.py --archs 50 --threads 1 --out benchmarks/results/proxy_speed_cpu.json

Each proxy is timed standalone (the shared nwot/DAS kernel cache is cleared before every proxy), with the
network already built; the build time per architecture is reported separately. Proxies slower than
``--slow-ms`` on the warm-up architecture are timed on the first ``--slow-archs`` architectures only, and
the JSON says so. Runs on CUDA with ``--device cuda`` (timings synchronise the device).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import zeronas as zn
from zeronas.errors import int_at_least, run_script
from zeronas.spaces.nb201 import random_archs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int_at_least(1), default=50, help="number of random NB201 architectures")
    ap.add_argument("--proxies", default="all", help="comma-separated proxy names, or all (default: %(default)s)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64,
                    help="images per proxy batch (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the architecture sample, the image batch and the initial weights (default: "
                         "%(default)s)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default: %(default)s)")
    ap.add_argument("--threads", type=int_at_least(1), default=None, help="torch CPU threads")
    ap.add_argument("--slow-ms", type=float, default=5000.0,
                    help="a proxy slower than this on the warm-up arch counts as slow (default: %(default)s)")
    ap.add_argument("--slow-archs", type=int_at_least(1), default=10,
                    help="a slow proxy is timed on this many archs only (default: %(default)s)")
    ap.add_argument("--data", default="cifar10",
                    help="images: a dataset name, or none for the data-free proxies (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/proxy_speed.json"),
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scorer = zn.Scorer("nb201", args.proxies, data=args.data, batch_size=args.batch_size, seed=args.seed,
                       device=args.device)
    archs = random_archs(args.archs + 1, seed=args.seed)
    sync = torch.cuda.synchronize if scorer.device.type == "cuda" else (lambda: None)

    def timed(fn):
        sync()
        t0 = time.perf_counter()
        value = fn()
        sync()
        return value, (time.perf_counter() - t0) * 1000

    times: dict[str, list[float]] = {p.name: [] for p in scorer.proxies}
    build_ms: list[float] = []
    slow: set[str] = set()
    for k, arch in enumerate(archs):
        warmup = k == 0
        ctx = scorer.context(arch)
        _, ms = timed(ctx.model)
        if not warmup:
            build_ms.append(ms)
        for spec in scorer.proxies:
            if spec.name in slow and k > args.slow_archs:
                continue
            ctx.cache.clear()
            _, ms = timed(lambda spec=spec, ctx=ctx: spec.fn(ctx, **scorer.options[spec.name]))
            if warmup:
                if ms > args.slow_ms:
                    slow.add(spec.name)
            else:
                times[spec.name].append(ms)
        print(f"arch {k}/{args.archs} done", flush=True)

    rows = {name: {"ms_per_arch_mean": statistics.mean(v), "ms_per_arch_median": statistics.median(v),
                   "archs": len(v)} for name, v in times.items() if v}
    result = {
        "what": "ms per architecture per proxy (standalone; network build excluded and reported separately)",
        "space": "nb201", "C": 16, "N": 5, "batch_size": args.batch_size, "seed": args.seed, "data": args.data,
        "device": str(scorer.device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "archs": args.archs,
        "build_ms_per_arch_mean": statistics.mean(build_ms), "proxies": rows,
        "slow_proxies_timed_on_fewer_archs": sorted(slow),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'proxy':20s} {'ms/arch':>10s} {'median':>10s} {'archs':>6s}")
    print(f"{'(network build)':20s} {result['build_ms_per_arch_mean']:10.1f}")
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["ms_per_arch_mean"]):
        print(f"{name:20s} {r['ms_per_arch_mean']:10.1f} {r['ms_per_arch_median']:10.1f} {r['archs']:6d}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
