"""How a proxy's NaN scores change its rank correlation: dropped (the report's rule) or ranked last.

Reads the reproduction report's stored scores (merging the committed per-arch snapshots first, so it works
in a fresh checkout for the proxies that have one); scores nothing. Example:
    python benchmarks/nan_as_worst.py --dataset imagenet16-120 --proxy ntk_cond
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from reproduction_report import SCORES_DIR, load_snapshots

from zeronas.benchmarks.correlation import correlation
from zeronas.correlate import correlate
from zeronas.errors import UserError, run_script
from zeronas.proxies.base import get_proxy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10", help="NB201 dataset of the report section")
    ap.add_argument("--proxy", default="ntk_cond", help="proxy whose NaN scores to examine")
    ap.add_argument("--metric", default="test", choices=["test", "valid"],
                    help="accuracy to correlate with, as the report's test and valid columns")
    ap.add_argument("--sample", default="1000", help="the report's sample size")
    ap.add_argument("--seed", type=int, default=0, help="the report's seed")
    ap.add_argument("--store", default="runs/reproduction.db", help="the report's results store")
    args = ap.parse_args()
    # as the report: valid = Suite-Zero's NASLib val accuracy (its preset), test = the NB201 test accuracy
    try:
        load_snapshots(args.store, SCORES_DIR / args.dataset)
        res = correlate(dataset=args.dataset, proxies=args.proxy, sample=args.sample, seed=args.seed,
                        batch_size=64, store=args.store, protocol="suite-zero" if args.metric == "valid" else None,
                        metric=None if args.metric == "valid" else args.metric, only_stored=True)
    except UserError as e:
        sys.exit(f"error: {e} (this script only reads stored scores: score them with "
                 f"benchmarks/reproduction_report.py first)")
    v, t = res.values[args.proxy], res.truth
    nan = np.isnan(v)
    direction = get_proxy(args.proxy).direction
    print(f"{args.dataset} {args.proxy} vs {res.meta['target']}: {len(v)} archs, {int(nan.sum())} NaN "
          f"(mean accuracy {t[nan].mean() if nan.any() else float('nan'):.2f} against {t.mean():.2f} overall)")
    for label, x in (("NaN dropped", v), ("NaN ranked last", np.where(nan, -np.inf * direction, v))):
        r = correlation(x, t, direction)
        print(f"  {label:16s} spearman {r['spearman']:+.3f}  kendall {r['kendall']:+.3f}  (n = {r['n']})")
    for note in res.meta["notes"]:
        print(f"  note: {note}")


if __name__ == "__main__":
    run_script(main)
