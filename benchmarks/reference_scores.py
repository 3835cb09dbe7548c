"""Per-architecture reference scores: the reproduction report's own scores for a few archs, to diff against.

`write` takes, for each dataset section of the reproduction report, the first --archs archs of its seeded
scoring order (a uniform random subset of its sample) and writes every stored score of the report's proxies
for them: the arch string that was actually scored (for isomorphism-sharing proxies, the class member scored
first), the value with full precision and the protocol hash. `check` rescores those rows here and prints,
per proxy, the largest relative deviation: a changed implementation, library or data shows up as a failing
row. It rescores only the proxies that took under --max-seconds per arch when stored, unless --proxies names
others.

    python benchmarks/reference_scores.py write            # from runs/reproduction.db
    python benchmarks/reference_scores.py check --datasets cifar10

Float32 gradients depend on which CPU kernels run: the same code on one machine moved zico by 8.8e-3, plain
by 3.2e-4 and snip by 1.2e-4 relative when ATen's vector kernels dropped from AVX2 to the generic ones, and
by 6.8e-3 / 6.2e-4 / 1.0e-4 when oneDNN's convolutions were capped at SSE4.1. `check` therefore reruns
itself with the kernels the rows were computed with (ATen AVX2, oneDNN capped at AVX2, one thread), which
any x86-64 CPU with AVX2 also runs; `--native-kernels` keeps this CPU's own.

The pins do not cover everything: oneDNN also picks its blocking by the CPU's caches, so another CPU model
sums a few gradients in another order. On an Intel Xeon (AVX-512, pinned to AVX2) the CIFAR-10 rows, computed
on an AMD EPYC, moved snip by 4.8e-8 relative, which shows how close the gradients are, and the two proxies
that amplify such last-bit differences moved much more: zico by 1.3e-3 (mean|g| / std(g) over 2 batches: a
weight whose two gradients nearly coincide has a std near 0) and plain by 5.6e-5 (a signed sum that cancels).
`check` names the rows' CPU vendor and this one's, so such a DIFFERS is read for what it is.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from zeronas.benchmarks import load_nb201
from zeronas.correlate import scoring_order
from zeronas.errors import UserError, int_at_least, run_script
from zeronas.proxies.base import get_proxy
from zeronas.scoring import Scorer, protocol_hash
from zeronas.spaces import space as get_space
from zeronas.store import Store

RESULTS = Path(__file__).parent / "results"
REPORT_JSON = RESULTS / "reproduction.json"
CSV_PATH = RESULTS / "reference_scores.csv"
PROTOCOLS_PATH = RESULTS / "reference_protocols.json"
FIELDS = ["dataset", "nb201_index", "arch_scored", "proxy", "value", "seconds", "protocol_hash"]
# With the thread count the scores were stored with (one) rescoring is bit-exact; with two threads float
# reductions run in another order and deviations reached 1.8e-6 (plain), far below any real change of a proxy.
RTOL = 1e-4
# The kernels under which every row reproduces bit-exactly (checked 2026-12-02 on an AVX2-only AMD EPYC,
# torch 2.13.0+cpu); an AVX-512/AMX CPU left to its own kernels gave 21 of the rows beyond RTOL.
PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
DATASETS = ("cifar10", "cifar100", "imagenet16-120")  # the report's section names


def write(args) -> None:
    report = json.loads(REPORT_JSON.read_text())
    sp = get_space("nb201")
    table = load_nb201(args.data_dir)
    db = Store(args.store, create=False)
    rows, protocols = [], {}
    try:
        for ds in args.datasets:
            meta = report["meta"][ds]  # names checked in main()
            indices = np.array(meta["indices"])
            picked = indices[scoring_order(len(indices), meta["seed"])[:args.archs]]
            archs = [sp.parse(table.arch_str[i]) for i in picked]
            for key in sorted(k for k in report["rows"] if k.startswith(ds + "/")):
                proxy = key.split("/", 1)[1]
                h = report["rows"][key]["valid"].get("protocol_hash")
                if h is None:  # an ensemble: its members are listed themselves
                    continue
                stored = db.scored(sp.name, proxy, h)
                shared = get_proxy(proxy).shares_isomorphs
                for i, a in zip(picked, archs):
                    hit = stored.get(sp.canonical(a) if shared else sp.format(a))
                    if hit is not None:
                        arch, value, seconds = hit
                        rows.append({"dataset": ds, "nb201_index": int(i), "arch_scored": arch, "proxy": proxy,
                                     "value": repr(value), "seconds": f"{seconds:.3f}", "protocol_hash": h})
                        protocols.setdefault(h, None)
        protocols = {h: db.protocol(h) for h in protocols}
    finally:
        db.close()
    RESULTS.mkdir(exist_ok=True)
    with open(CSV_PATH, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    PROTOCOLS_PATH.write_text(json.dumps(protocols, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} scores ({len(protocols)} protocols) to {CSV_PATH} and {PROTOCOLS_PATH}")


def relative_deviation(new: float, ref: float) -> float:
    if math.isnan(ref) or math.isnan(new):
        return 0.0 if math.isnan(ref) and math.isnan(new) else math.inf
    if new == ref:
        return 0.0
    return abs(new - ref) / max(abs(ref), 1e-300)


def select(datasets, proxies=(), max_seconds=2.0, archs=None) -> list[dict]:
    """Reference rows of ``datasets``: of ``proxies`` if given, else of those that took <= max_seconds when stored;
    with ``archs``, only the first N archs of each section's scoring order."""
    with open(CSV_PATH, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["dataset"] in datasets]
    rows = [r for r in rows if (r["proxy"] in proxies if proxies else float(r["seconds"]) <= max_seconds)]
    if archs:  # rows are written in scoring order within each proxy
        order: dict[str, dict[str, None]] = {}
        for r in rows:
            order.setdefault(r["dataset"], {}).setdefault(r["nb201_index"], None)
        keep = {(ds, i) for ds, idx in order.items() for i in list(idx)[:archs]}
        rows = [r for r in rows if (r["dataset"], r["nb201_index"]) in keep]
    if not rows:
        raise UserError("no reference rows selected; check --datasets, --proxies and --max-seconds")
    return rows


def rescore(rows: list[dict], data_dir=None, verbose=False) -> dict[tuple[str, str], tuple[float, int, str]]:
    """(dataset, proxy) -> (largest relative deviation, archs rescored, why it could not rescore)."""
    protocols = json.loads(PROTOCOLS_PATH.read_text())
    worst: dict[tuple[str, str], tuple[float, int, str]] = {}
    scorers: dict[str, Scorer] = {}
    for r in rows:
        ds, proxy = r["dataset"], r["proxy"]
        if ds not in scorers:
            names = sorted({x["proxy"] for x in rows if x["dataset"] == ds})
            scorers[ds] = Scorer("nb201", names, data=ds, data_dir=data_dir, batch_size=64, seed=0,
                                 init="torch-default", device="cpu", stand_in=True)
        scorer, spec = scorers[ds], get_proxy(proxy)
        proto = scorer.protocol(spec)
        if protocol_hash(proto) != r["protocol_hash"]:
            ref = protocols.get(r["protocol_hash"], {})
            changed = sorted(k for k in set(proto) | set(ref) if proto.get(k) != ref.get(k))
            worst[(ds, proxy)] = (math.inf, 0, f"protocol differs in {', '.join(changed)}")
            continue
        value = scorer.score_arch(r["arch_scored"], [spec])[0].value
        dev = relative_deviation(value, float(r["value"]))
        old = worst.get((ds, proxy), (0.0, 0, ""))
        worst[(ds, proxy)] = (max(old[0], dev), old[1] + 1, old[2])
        if verbose:
            print(f"{ds:15s} {proxy:18s} {r['arch_scored']}  stored {float(r['value']):.9g}  now {value:.9g}  "
                  f"rel.dev {dev:.1e}", flush=True)
    return worst


def pinned_env(environ: dict) -> dict | None:
    """``environ`` with PINNED_KERNELS set, or None when it already has them (no rerun needed)."""
    if all(environ.get(k) == v for k, v in PINNED_KERNELS.items()):
        return None
    return {**environ, **PINNED_KERNELS}


ROWS_CPU_VENDOR = "AuthenticAMD"  # the CIFAR-10 rows were computed, and reproduced, on AMD EPYC machines
ILL_CONDITIONED = ("zico", "plain")  # they amplify last-bit gradient differences (see the module docstring)


def cpu_vendor() -> str | None:
    """/proc/cpuinfo's vendor_id (GenuineIntel, AuthenticAMD), or None where it does not say."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), None)
    except OSError:
        return None


def kernels_line(native: bool) -> str:
    import torch
    cap = torch.backends.cpu.get_cpu_capability()
    vendor = cpu_vendor()
    line = f"kernels: ATen {cap}, {torch.get_num_threads()} thread(s)"
    if vendor not in (None, ROWS_CPU_VENDOR):
        line = (f"CPU {vendor}, the rows' {ROWS_CPU_VENDOR}: oneDNN's blocking may differ, so "
                f"{' and '.join(ILL_CONDITIONED)} may DIFFER by up to ~1e-3 relative\n{line}")
    if native:
        return line + " (this CPU's own, --native-kernels: gradient proxies may differ by up to ~1e-2 relative)"
    if cap != PINNED_KERNELS["ATEN_CPU_CAPABILITY"].upper():
        return line + " (this CPU lacks AVX2: the rows' kernels cannot run here, expect DIFFERS for gradient proxies)"
    return line + ", oneDNN capped at AVX2: as the rows were computed"


def check(args) -> int:
    """Rescore the selected reference rows and print a verdict per proxy; returns how many differ."""
    rows = select(args.datasets, args.proxies, args.max_seconds, args.archs)
    print(kernels_line(args.native_kernels), flush=True)
    worst = rescore(rows, args.data_dir, verbose=True)
    failed = 0
    print(f"\n{'dataset':15s} {'proxy':18s} {'archs':>5s} {'max rel.dev':>12s}  verdict (rtol {RTOL:g})")
    for (ds, proxy), (dev, n, why) in sorted(worst.items()):
        ok = dev <= RTOL
        failed += not ok
        print(f"{ds:15s} {proxy:18s} {n:5d} {dev:12.1e}  {'ok' if ok else 'DIFFERS'} {why}")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["write", "check"], help="write the reference file, or rescore and compare")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated report sections")
    ap.add_argument("--archs", type=int_at_least(1), default=None,
                    help="write: archs per dataset (default 10); check: rescore only the first N archs")
    ap.add_argument("--proxies", default="", help="check: these proxies only (comma-separated), whatever their cost")
    ap.add_argument("--max-seconds", type=float, default=2.0,
                    help="check: without --proxies, rescore rows that took at most this long when stored")
    ap.add_argument("--store", default="runs/reproduction.db", help="write: the report's results store")
    ap.add_argument("--data-dir", default=None,
                    help="benchmark tables and images (default: ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--native-kernels", action="store_true",
                    help="check: rescore with this CPU's own kernels and threads instead of the rows' (AVX2, 1 thread)")
    args = ap.parse_args()
    env = None if args.mode != "check" or args.native_kernels else pinned_env(dict(os.environ))
    if env is not None:  # kernels are chosen when torch loads: rerun with them set
        sys.stdout.flush()
        os.execve(sys.executable, getattr(sys, "orig_argv", [sys.executable, *sys.argv]), env)  # -X, -u kept
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.proxies = [p for p in args.proxies.split(",") if p]
    try:
        source = REPORT_JSON if args.mode == "write" else CSV_PATH
        if not source.exists():
            raise UserError(f"{source} not found; run benchmarks/reproduction_report.py first"
                            if args.mode == "write" else f"{source} not found; run 'reference_scores.py write' first")
        unknown = sorted(set(args.datasets) - set(DATASETS))
        if unknown:
            raise UserError(f"unknown dataset {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
        if args.mode == "write":
            args.archs = args.archs or 10
            write(args)
            return 0
        return 1 if check(args) else 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    run_script(main)
