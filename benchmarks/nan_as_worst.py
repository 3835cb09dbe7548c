"""How a proxy's NaN scores change its rank correlation: dropped (the report's rule) or ranked last.

Reads the reproduction report's stored scores; scores nothing. Example:
    python benchmarks/nan_as_worst.py --dataset imagenet16-120 --proxy ntk_cond
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import kendalltau, spearmanr

from zeronas.correlate import correlate
from zeronas.proxies.base import get_proxy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10", help="NB201 dataset of the report section")
    ap.add_argument("--proxy", default="ntk_cond", help="proxy whose NaN scores to examine")
    ap.add_argument("--metric", default="test", help="accuracy to correlate with: test or valid")
    ap.add_argument("--sample", default="1000", help="the report's sample size")
    ap.add_argument("--seed", type=int, default=0, help="the report's seed")
    ap.add_argument("--store", default="runs/reproduction.db", help="the report's results store")
    args = ap.parse_args()
    res = correlate(dataset=args.dataset, proxies=args.proxy, sample=args.sample, seed=args.seed, batch_size=64,
                    store=args.store, protocol="suite-zero", metric=args.metric, only_stored=True)
    v, t = res.values[args.proxy], res.truth
    ok = np.isfinite(v)
    worst = np.where(ok, v, -np.inf * get_proxy(args.proxy).direction)
    print(f"{args.dataset} {args.proxy} vs {args.metric} accuracy: {len(v)} archs, {int((~ok).sum())} NaN "
          f"(mean accuracy {t[~ok].mean() if (~ok).any() else float('nan'):.2f} against {t.mean():.2f} overall)")
    for label, x, y in (("NaN dropped", v[ok], t[ok]), ("NaN ranked last", worst, t)):
        print(f"  {label:16s} spearman {spearmanr(x, y)[0]:+.3f}  kendall {kendalltau(x, y)[0]:+.3f}")
    for note in res.meta["notes"]:
        print(f"  note: {note}")


if __name__ == "__main__":
    main()
