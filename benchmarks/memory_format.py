"""How much faster is CPU scoring with channels-last (or bfloat16) networks, and how far do the values move?

    python benchmarks/memory_format.py --archs 12
    python benchmarks/memory_format.py --archs 16 --variants channels_last,bf16

Scores the same NB201 architectures, one ``Scorer.score_arch`` call per arch with the five core proxies of
issue 24 (nwot, synflow, snip, jacob_cov, meco), once as zeronas does by default (NCHW networks) and once
with ``Scorer(memory_format="channels-last")`` (``--memory-format channels-last``: the network's 4-d weights
in channels-last format, so the convolutions run oneDNN's channels-last kernels and hand channels-last tensors
on), interleaved arch by arch in one process, the layout order alternating. It reports the wall time per arch
of each layout and, per proxy, the relative deviation of the channels-last values from the NCHW ones; as the
floor for float reordering it also reports the NCHW deviation between 1 and 2 torch threads, and, untimed, the
error of each layout against the same network run in float64 (inputs cast by a forward pre-hook): which
float32 value is nearer the exact one. ``benchmarks/reference_scores.py check`` accepts a relative deviation
of 1e-4. Writes ``benchmarks/results/memory_format.json``.

``--variants channels_last,bf16`` adds a third way, interleaved with the other two: the channels-last network
run under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (convolutions and matrix products in bfloat16, on
the AMX / AVX512-BF16 units where the CPU has them; float64 work such as synflow's is left alone), and also
reports per proxy the Spearman correlation over the archs of each variant's values with zeronas's, the
criterion issue 24 sets for a speed-up to count (>= 0.99). Written to ``memory_format_bf16.json`` then.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import random
import statistics
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from zeronas.errors import int_at_least, run_script
from zeronas.proxies import context as ctx_mod
from zeronas.scoring import Scorer

CORE = ["nwot", "synflow", "snip", "jacob_cov", "meco"]
RTOL = 1e-4  # benchmarks/reference_scores.py


@contextlib.contextmanager
def float64():
    """ScoringContext.model hands out its network in float64, its inputs cast by a forward pre-hook (a wrapper
    module would add terms to proxies that hook every module, e.g. meco)."""
    orig = ctx_mod.ScoringContext.model

    def model(self, dtype=torch.float32):
        m = orig(self, torch.float64)
        if not getattr(m, "_bench_f64", False):
            m.register_forward_pre_hook(lambda mod, inputs: tuple(
                t.double() if torch.is_tensor(t) and t.is_floating_point() else t for t in inputs))
            m._bench_f64 = True
        return m

    ctx_mod.ScoringContext.model = model
    try:
        yield
    finally:
        ctx_mod.ScoringContext.model = orig


def variant(name: str):
    """bf16 runs the channels-last scorer under bf16 autocast; the others need nothing around the call."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if name == "bf16" else contextlib.nullcontext()


def cpu_flags() -> list[str]:
    try:
        words = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({w for w in words if w.startswith(("amx", "avx512_bf16", "avx512f"))})


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), 1e-300)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int_at_least(1), default=12, help="NB201 architectures (a seeded random sample)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the architecture sample (default: %(default)s)")
    ap.add_argument("--proxies", default=",".join(CORE),
                    help="comma-separated proxy names (zeronas proxies lists them) (default: %(default)s)")
    ap.add_argument("--variants", default="channels_last",
                    help="comma-separated ways to compare with zeronas's NCHW float32: channels_last, bf16")
    ap.add_argument("--note", default="", help="free text stored with the figures (e.g. the machine's load)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON to write (default: results/memory_format.json, or memory_format_bf16.json "
                         "when bf16 is among the variants)")
    args = ap.parse_args()
    proxies = args.proxies.split(",")
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - {"channels_last", "bf16"}:
        ap.error(f"--variants takes channels_last and/or bf16, not {args.variants!r}")
    out_path = args.out or Path(__file__).parent / "results" / (
        "memory_format_bf16.json" if "bf16" in variants else "memory_format.json")
    ways = ["nchw", *variants]
    torch.set_num_threads(1)
    scorers = {w: Scorer(space="nb201", proxies=proxies, data="cifar10",
                         memory_format="contiguous" if w == "nchw" else "channels-last") for w in ways}
    sc = scorers["nchw"]
    sp = sc.space
    archs = random.Random(args.seed).sample(list(sp.enumerate()), args.archs + 1)
    for w in ways:  # warm-up: data, oneDNN primitives
        with variant(w):
            scorers[w].score_arch(archs[0])
    seconds: dict = {w: [] for w in ways}
    values: dict = {p: {**{w: [] for w in ways}, "nchw_2_threads": [], "float64": []} for p in proxies}
    for i, arch in enumerate(archs[1:]):
        k = i % len(ways)
        for w in ways[k:] + ways[:k]:  # rotate the order arch by arch
            with variant(w):
                t0 = time.perf_counter()
                recs = scorers[w].score_arch(arch)
                seconds[w].append(time.perf_counter() - t0)
            for r in recs:
                values[r.proxy][w].append(r.value)
        torch.set_num_threads(2)  # untimed: the float-reordering floor
        for r in sc.score_arch(arch):
            values[r.proxy]["nchw_2_threads"].append(r.value)
        torch.set_num_threads(1)
        with float64():  # untimed: the value float32 approximates
            for r in sc.score_arch(arch):
                values[r.proxy]["float64"].append(r.value)
        print(f"{i + 1}/{args.archs} {sp.format(arch)}: "
              + ", ".join(f"{w} {seconds[w][-1]:.2f}s" for w in ways), flush=True)
    per_proxy: dict = {}
    for p, v in values.items():
        dev_th = [rel(a, b) for a, b in zip(v["nchw"], v["nchw_2_threads"])]
        per_proxy[p] = {"max_rel_dev_2_threads": max(dev_th)}
        for w in ways:  # error against the float64 network's value
            err = [rel(b, a) for a, b in zip(v[w], v["float64"]) if math.isfinite(a) and math.isfinite(b)] or [math.nan]
            per_proxy[p].update({f"max_rel_err_vs_float64_{w}": max(err),
                                 f"median_rel_err_vs_float64_{w}": statistics.median(err)})
        for w in variants:
            pairs = [(a, b) for a, b in zip(v["nchw"], v[w]) if math.isfinite(a) and math.isfinite(b)]
            dev = [rel(a, b) for a, b in pairs] or [math.nan]  # no finite pair: NaN, not a crash
            per_proxy[p].update({
                f"max_rel_dev_{w}": max(dev), f"median_rel_dev_{w}": statistics.median(dev),
                f"spearman_{w}": float(spearmanr(*zip(*pairs)).statistic) if len(pairs) > 2 else None,
                f"finite_pairs_{w}": len(pairs), f"within_reference_rtol_{w}": max(dev) <= RTOL})
    out = {"what": "one score_arch call per NB201 arch with these proxies (shared forward pass), NCHW float32 "
                   "(zeronas's default) vs " + " and ".join(variants) + " (channels_last: --memory-format "
                   "channels-last; bf16: that under torch.autocast bfloat16), interleaved, 1 torch thread; "
                   "rel_err_vs_float64: against the same network in float64 (untimed)",
           "proxies": proxies, "archs": args.archs, "seed": args.seed, "batch_size": sc.batch_size,
           "torch": torch.__version__, "cpu": platform.machine(), "cpu_flags": cpu_flags(), "note": args.note,
           "s_per_arch_mean": {k: statistics.mean(v) for k, v in seconds.items()},
           "speedup_median_of_per_arch_ratios": {
               w: statistics.median(a / b for a, b in zip(seconds["nchw"], seconds[w])) for w in variants},
           "reference_rtol": RTOL, "per_proxy": per_proxy}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1))
    mean = out["s_per_arch_mean"]
    print("\nmean s/arch: " + ", ".join(f"{w} {mean[w]:.3f}" for w in ways) + "; median per-arch speed-up: "
          + ", ".join(f"{w} {r:.2f}x" for w, r in out["speedup_median_of_per_arch_ratios"].items()))
    head = "".join(f" {'max dev ' + w:>20s} {'median':>9s} {'spearman':>9s}" for w in variants)
    f64 = "".join(f" {'f64 err ' + w + ' med/max':>26s}" for w in ways)
    print(f"{'proxy':10s}{head} {'2 threads':>10s}{f64}")
    for p, r in per_proxy.items():
        row = "".join(f" {r[f'max_rel_dev_{w}']:20.2e} {r[f'median_rel_dev_{w}']:9.2e} "
                      f"{r[f'spearman_{w}'] if r[f'spearman_{w}'] is not None else float('nan'):9.4f}"
                      for w in variants)
        err = "".join(f" {r[f'median_rel_err_vs_float64_{w}']:17.2e}/{r[f'max_rel_err_vs_float64_{w}']:8.2e}"
                      for w in ways)
        print(f"{p:10s}{row} {r['max_rel_dev_2_threads']:10.2e}{err}")
    print(f"reference_scores.py tolerance: {RTOL:g} relative; wrote {out_path}")


if __name__ == "__main__":
    run_script(main)
