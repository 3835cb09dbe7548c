"""Why does ntk_cond correlate more strongly here than in ZiCo's table? Measures the NTK condition number of the
same architectures under the protocol choices of three codes and correlates each with NB201 accuracy.

- zeronas (the report): one batch of real images, kernel and eigenvalues in float64, NaN archs dropped.
- TE-NAS code (lib/procedures/ntk.py): real images, kernel and eigenvalues in float32, NaN -> 1e5 (ranked last).
- Zen-NAS code (ZeroShotProxy/compute_te_nas_score.py, on which ZiCo's repository is built): Gaussian-noise
  inputs (torch.randn), float32, np.nan_to_num(cond) -> NaN becomes 0, the best possible score (-cond).
Every variant is computed from the same networks (same init), two batches of per-sample gradients per arch.
The archs are the first of the report's seeded scoring order (a uniform random subset of its sample), one
member per isomorphism class as the report scores them. Results are appended per arch to a JSONL file, so a
stopped run resumes; the summary goes to benchmarks/results/ntk_protocols_DATASET.json.
    python benchmarks/ntk_protocols.py --dataset cifar10 --archs 100 --workers 2 [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import torch

import zeronas as zn
from zeronas import jsonio
from zeronas.benchmarks.correlation import correlation
from zeronas.correlate import scoring_order
from zeronas.data.datasets import DATASETS
from zeronas.errors import int_at_least, run_script
from zeronas.proxies.base import per_sample_output_grads
from zeronas.scoring import Scorer
from zeronas.spaces import space as get_space

REPORT_JSON = Path(__file__).parent / "results" / "reproduction.json"
VALID_TARGET = {"cifar10": "naslib_cifar10_valacc_1seed", "cifar100": "naslib_cifar100_valacc_1seed",
                "imagenet16-120": "naslib_imagenet16_120_valacc_1seed"}
_scorer = None


def _init(dataset: str, seed: int, batch_size: int):
    global _scorer
    torch.set_num_threads(1)
    _scorer = Scorer("nb201", ["ntk_cond"], data=dataset, batch_size=batch_size, seed=seed, init="torch-default",
                     device="cpu", stand_in=True)


def _eig_ends(grads: list[torch.Tensor], dtype: torch.dtype) -> tuple[float, float]:
    """(lambda_min, lambda_max) of J J^T accumulated and diagonalised in ``dtype``."""
    theta = None
    for g in grads:
        g = g.to(dtype)
        theta = g @ g.T if theta is None else theta + g @ g.T
    if theta is None:
        return 0.0, 0.0
    ev = torch.linalg.eigvalsh(theta)
    return ev[0].item(), ev[-1].item()


def measure(index: int) -> dict:
    sp = _scorer.space
    arch = sp.from_index(index)
    ctx = _scorer.context(arch)
    real = ctx.batch(0, proxy="ntk_cond").x
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(0))  # Zen-NAS: torch.randn inputs
    t0 = time.perf_counter()
    out = {"index": index, "arch": sp.format(arch)}
    for name, x in (("real", real), ("noise", noise)):
        model = ctx.model()  # the same init weights, fresh BN statistics
        params = [p for n, p in model.named_parameters() if "weight" in n and p.requires_grad]  # as ntk_cond
        grads = per_sample_output_grads(model, x, params)
        for bits, dtype in (("64", torch.float64), ("32", torch.float32)):
            out[f"{name}{bits}"] = _eig_ends(grads, dtype)
    out["seconds"] = time.perf_counter() - t0
    return out


def cond(ends) -> float:
    """lambda_max / lambda_min as both codes divide: 0/0 is NaN, x/0 is inf, a negative lambda_min gives a
    negative condition number (float32 rounding of a singular kernel)."""
    lo, hi = ends
    if lo == 0:
        return math.nan if hi == 0 else math.inf
    return hi / lo


def variants(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per variant, the condition number each code ranks by (lower is better), after its NaN rule; NaN where
    the variant drops the arch. Signed as the report's ntk_cond column (a good proxy correlates negatively)."""
    raw = {k: np.array([cond(r[k]) for r in rows]) for k in ("real64", "real32", "noise64", "noise32")}
    lo = {k: np.array([r[k][0] for r in rows]) for k in raw}

    def dropped(k):  # zeronas: lambda_min <= 0 -> NaN (zeronas.proxies.tenas.condition_number)
        return np.where(lo[k] <= 0, np.nan, raw[k])

    return {
        "zeronas: real images, float64, NaN dropped": dropped("real64"),
        "zeronas, NaN ranked last": np.nan_to_num(dropped("real64"), nan=np.inf),
        "TE-NAS code: real images, float32, NaN -> 1e5": np.nan_to_num(raw["real32"], nan=1e5),
        "Zen-NAS/ZiCo code: noise inputs, float32, NaN -> 0": np.nan_to_num(raw["noise32"]),
        "noise inputs, float64, NaN dropped": dropped("noise64"),
        "real images, float64, NaN -> 0 (ranked first)": np.nan_to_num(dropped("real64"), nan=0.0),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10", choices=list(DATASETS),
                    help="report section whose sample and images to use")
    ap.add_argument("--archs", type=int_at_least(1), default=100, help="isomorphism classes to measure")
    ap.add_argument("--workers", type=int_at_least(1), default=2, help="processes (one thread each)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64,
                    help="images (or noise samples) per kernel: the report uses 64, Zen-NAS's script defaults to 16")
    ap.add_argument("--progress", type=Path, default=None, help="per-arch JSONL (default runs/ntk_protocols_DS.jsonl)")
    ap.add_argument("--out", type=Path, default=None, help="summary JSON (default benchmarks/results/...)")
    args = ap.parse_args()
    ds = args.dataset
    tag = ds if args.batch_size == 64 else f"{ds}_b{args.batch_size}"
    progress = args.progress or Path(f"runs/ntk_protocols_{tag}.jsonl")
    out = args.out or Path(__file__).parent / "results" / f"ntk_protocols_{tag}.json"
    meta = json.loads(REPORT_JSON.read_text())["meta"][ds]
    sp = get_space("nb201")
    idx = meta["indices"]
    chosen, seen = [], set()
    for i in scoring_order(len(idx), meta["seed"]):  # the report's order; its first member stands for a class
        c = sp.canonical(sp.from_index(idx[i]))
        if c not in seen:
            seen.add(c)
            chosen.append(idx[i])
        if len(chosen) == args.archs:
            break
    progress.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if progress.exists():
        for line in progress.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["index"]] = r
    todo = [i for i in chosen if i not in done]
    print(f"{ds}: {len(chosen)} archs, {len(done)} already measured, {len(todo)} to go", flush=True)
    if todo:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with mp.get_context("spawn").Pool(args.workers, _init, (ds, meta["seed"], args.batch_size)) as pool, \
                open(progress, "a") as f:
            t0 = time.time()
            for k, r in enumerate(pool.imap_unordered(measure, todo), 1):
                f.write(json.dumps(r) + "\n")
                f.flush()
                done[r["index"]] = r
                print(f"  {k}/{len(todo)} archs, {(time.time() - t0) / k:.0f} s each", flush=True)
    rows = [done[i] for i in chosen]
    table = zn.benchmarks.load_nb201()
    at = np.array(chosen)
    truth = {"test": table.column(f"{ds.replace('-', '_')}_test_acc")[at],
             "valid": table.column(VALID_TARGET[ds])[at]}
    summary = {}
    print(f"\n{'variant':52s} {'rho test':>9s} {'tau test':>9s} {'rho valid':>10s} {'n':>4s}")
    for name, score in variants(rows).items():
        rt, rv = correlation(score, truth["test"], -1), correlation(score, truth["valid"], -1)
        summary[name] = {"spearman_test": rt["spearman"], "kendall_test": rt["kendall"],
                         "spearman_valid": rv["spearman"], "n": rt["n"]}
        print(f"{name:52s} {rt['spearman']:+9.3f} {rt['kendall']:+9.3f} {rv['spearman']:+10.3f} {rt['n']:4d}")
    lo = {k: np.array([r[k][0] for r in rows]) for k in ("real64", "real32", "noise64", "noise32")}
    counts = {k: {"lambda_min_zero": int((v == 0).sum()), "lambda_min_negative": int((v < 0).sum())}
              for k, v in lo.items()}
    zero = lo["real64"] == 0
    print("\nlambda_min = 0 / < 0 per kernel: " + ", ".join(f"{k} {c['lambda_min_zero']}/{c['lambda_min_negative']}"
                                                         for k, c in counts.items()))
    if zero.any():
        print(f"archs with a zero kernel: mean test accuracy {truth['test'][zero].mean():.2f} "
              f"(all: {truth['test'].mean():.2f})")
    secs = [r["seconds"] for r in rows]
    out.write_text(jsonio.dumps({"dataset": ds, "archs": len(rows), "sample_seed": meta["seed"],
                               "batch_size": args.batch_size, "summary": summary, "lambda_min_counts": counts,
                               "mean_seconds_per_arch": float(np.mean(secs)), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
