"""How much does the isomorph member rule move a proxy's correlation? 'asked' against 'fixed', same archs.

Class-sharing proxies store one score per isomorphism class. With the default rule ('asked') that is the score
of the member a run asked for first; with 'fixed' it is the score of the class's representative member. Both
are measured on the same sample (the report's: 1,000 archs, seed 0) and read from their stores; nothing is
scored here. First score the fixed rule, e.g.
    zeronas correlate --dataset imagenet16-120 --proxies snip,grad_norm,... --sample 1000 --seed 0 \
        --isomorph-member fixed --store runs/fixed_member.db
then
    python benchmarks/isomorph_rule.py --dataset imagenet16-120 --proxies snip,grad_norm,...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from zeronas.correlate import correlate
from zeronas.errors import run_script


def measure(dataset, proxies, store, rule, metric):
    return correlate(space="nb201", dataset=dataset, proxies=",".join(proxies), sample=1000, seed=0, batch_size=64,
                     store=store, init="torch-default", metric=metric, only_stored=True, isomorph_member=rule)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="imagenet16-120",
                    help="NB201 dataset whose accuracy is correlated against (default: %(default)s)")
    ap.add_argument("--proxies", default="snip,grad_norm,plain,grasp,fisher,jacob_cov,epe_nas,synflow,zeros,zico",
                    help="comma-separated proxy names (zeronas proxies lists them) (default: %(default)s)")
    ap.add_argument("--asked-store", default="runs/reproduction.db", help="the report's store ('asked' rule)")
    ap.add_argument("--fixed-store", default="runs/fixed_member.db", help="the 'fixed' rule's store")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON path (default benchmarks/results/isomorph_rule_<dataset>.json)")
    args = ap.parse_args()
    proxies = [p for p in args.proxies.split(",") if p]
    out = args.out or Path(f"benchmarks/results/isomorph_rule_{args.dataset}.json")
    rows = {}
    for metric in ("valid", "test"):
        asked = measure(args.dataset, proxies, args.asked_store, "asked", metric)
        fixed = measure(args.dataset, proxies, args.fixed_store, "fixed", metric)
        if list(asked.meta["indices"]) != list(fixed.meta["indices"]):
            raise SystemExit("the two stores cover different archs; score both rules to completion first")
        for p in proxies:
            a, f = asked.values[p], fixed.values[p]
            ok = np.isfinite(a) & np.isfinite(f)
            row = rows.setdefault(p, {"n": int(asked.rows[p]["n"]),
                                      "values_spearman": float(spearmanr(a[ok], f[ok])[0]),
                                      "values_identical": float(np.mean(a[ok] == f[ok]))})
            row[f"asked_{metric}"] = asked.rows[p]["spearman"]
            row[f"fixed_{metric}"] = fixed.rows[p]["spearman"]
    print(f"{args.dataset}: signed Spearman rho, 1000 archs (seed 0), 'asked' (report) vs 'fixed' member")
    print(f"{'proxy':10s} {'asked val':>9s} {'fixed val':>9s} {'asked test':>10s} {'fixed test':>10s} "
          f"{'delta test':>10s} {'values rho':>10s} {'identical':>9s}")
    for p, r in rows.items():
        print(f"{p:10s} {r['asked_valid']:9.3f} {r['fixed_valid']:9.3f} {r['asked_test']:10.3f} "
              f"{r['fixed_test']:10.3f} {r['fixed_test'] - r['asked_test']:+10.3f} {r['values_spearman']:10.4f} "
              f"{r['values_identical']:9.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "sample": 1000, "seed": 0,
                               "stores": {"asked": args.asked_store, "fixed": args.fixed_store}, "rows": rows},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main)
