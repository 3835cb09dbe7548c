"""Would channels-last networks make CPU scoring faster at the same values? Measured, not adopted.

    python benchmarks/memory_format.py --archs 12

Scores the same NB201 architectures, one ``Scorer.score_arch`` call per arch with the five core proxies of
issue 24 (nwot, synflow, snip, jacob_cov, meco), once as zeronas does (NCHW networks) and once with the
network converted to channels-last memory format after it is built (the convolutions then run oneDNN's
channels-last kernels and hand channels-last tensors on), interleaved arch by arch in one process, the
layout order alternating. It reports the wall time per arch of each layout and, per proxy, the relative
deviation of the channels-last values from zeronas's; as the floor for float reordering it also reports
zeronas's own deviation between 1 and 2 torch threads. ``benchmarks/reference_scores.py check`` accepts a
relative deviation of 1e-4. Writes ``benchmarks/results/memory_format.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from zeronas.proxies import context as ctx_mod
from zeronas.scoring import Scorer

CORE = ["nwot", "synflow", "snip", "jacob_cov", "meco"]
RTOL = 1e-4  # benchmarks/reference_scores.py


@contextlib.contextmanager
def channels_last():
    """ScoringContext.model hands out its float32 CPU network in channels-last format (weights converted once)."""
    orig = ctx_mod.ScoringContext.model

    def model(self, dtype=torch.float32):
        m = orig(self, dtype)
        if dtype == torch.float32 and self.device.type == "cpu" and not getattr(self, "_bench_cl", False):
            m.to(memory_format=torch.channels_last)
            self._bench_cl = True
        return m

    ctx_mod.ScoringContext.model = model
    try:
        yield
    finally:
        ctx_mod.ScoringContext.model = orig


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), 1e-300)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=12, help="NB201 architectures (a seeded random sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--proxies", default=",".join(CORE))
    ap.add_argument("--note", default="", help="free text stored with the figures (e.g. the machine's load)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_format.json")
    args = ap.parse_args()
    proxies = args.proxies.split(",")
    torch.set_num_threads(1)
    sc = Scorer(space="nb201", proxies=proxies, data="cifar10")
    sp = sc.space
    archs = random.Random(args.seed).sample(list(sp.enumerate()), args.archs + 1)
    sc.score_arch(archs[0])  # warm-up: data, oneDNN primitives
    with channels_last():
        sc.score_arch(archs[0])
    seconds = {"nchw": [], "channels_last": []}
    values: dict = {p: {"nchw": [], "channels_last": [], "nchw_2_threads": []} for p in proxies}
    for i, arch in enumerate(archs[1:]):
        for layout in (("nchw", "channels_last") if i % 2 == 0 else ("channels_last", "nchw")):
            with channels_last() if layout == "channels_last" else contextlib.nullcontext():
                t0 = time.perf_counter()
                recs = sc.score_arch(arch)
                seconds[layout].append(time.perf_counter() - t0)
            for r in recs:
                values[r.proxy][layout].append(r.value)
        torch.set_num_threads(2)  # untimed: the float-reordering floor
        for r in sc.score_arch(arch):
            values[r.proxy]["nchw_2_threads"].append(r.value)
        torch.set_num_threads(1)
        print(f"{i + 1}/{args.archs} {sp.format(arch)}: nchw {seconds['nchw'][-1]:.2f}s, channels-last "
              f"{seconds['channels_last'][-1]:.2f}s", flush=True)
    per_proxy = {}
    for p, v in values.items():
        dev_cl = [rel(a, b) for a, b in zip(v["nchw"], v["channels_last"])]
        dev_th = [rel(a, b) for a, b in zip(v["nchw"], v["nchw_2_threads"])]
        per_proxy[p] = {"max_rel_dev_channels_last": max(dev_cl),
                        "median_rel_dev_channels_last": statistics.median(dev_cl),
                        "max_rel_dev_2_threads": max(dev_th), "within_reference_rtol": max(dev_cl) <= RTOL}
    ratios = [a / b for a, b in zip(seconds["nchw"], seconds["channels_last"])]
    out = {"what": "one score_arch call per NB201 arch with these proxies (shared forward pass), NCHW (zeronas) vs "
                   "the network in channels-last format, interleaved, 1 torch thread",
           "proxies": proxies, "archs": args.archs, "seed": args.seed, "batch_size": sc.batch_size,
           "torch": torch.__version__, "cpu": platform.machine(), "note": args.note,
           "s_per_arch_mean": {k: statistics.mean(v) for k, v in seconds.items()},
           "speedup_median_of_per_arch_ratios": statistics.median(ratios), "reference_rtol": RTOL,
           "per_proxy": per_proxy}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    mean = out["s_per_arch_mean"]
    print(f"\nmean s/arch: nchw {mean['nchw']:.3f}, channels-last {mean['channels_last']:.3f}; median per-arch "
          f"speed-up {out['speedup_median_of_per_arch_ratios']:.2f}x")
    print(f"{'proxy':10s} {'max rel.dev CL':>15s} {'median':>10s} {'2 threads':>10s}  within rtol {RTOL:g}")
    for p, r in per_proxy.items():
        print(f"{p:10s} {r['max_rel_dev_channels_last']:15.2e} {r['median_rel_dev_channels_last']:10.2e} "
              f"{r['max_rel_dev_2_threads']:10.2e}  {r['within_reference_rtol']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
