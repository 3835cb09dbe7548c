"""Do isomorphic NB201 members get the same score? Scores several members of the same isomorphism class.

Proxies that share isomorphs store one score per class: the score of the member scored first. Members compute
the same function, but they can start from different weights (the net is built from one seeded random stream).
This script measures how far the members' scores differ. It takes the report's sample (the seeded indices in
benchmarks/results/reproduction.json) and the first classes in the seeded scoring order with enough members.
    python benchmarks/isomorph_members.py --dataset imagenet16-120 --classes 10 --members 3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from zeronas import jsonio
from zeronas.correlate import scoring_order
from zeronas.data.datasets import DATASETS
from zeronas.errors import int_at_least, run_script
from zeronas.proxies.base import get_proxy
from zeronas.scoring import Scorer
from zeronas.spaces import space as get_space

REPORT_JSON = Path(__file__).parent / "results" / "reproduction.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="imagenet16-120", choices=list(DATASETS),
                    help="report section whose sample to use")
    ap.add_argument("--proxies", default="snip,grad_norm,grasp,plain,epe_nas,zico", help="comma-separated")
    ap.add_argument("--classes", type=int_at_least(1), default=10, help="isomorphism classes to examine")
    ap.add_argument("--members", type=int_at_least(1), default=3, help="members scored per class")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/isomorph_members.json"),
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    names = [p for p in args.proxies.split(",") if p]
    specs = [get_proxy(p) for p in names]
    sp = get_space("nb201")
    meta = json.loads(REPORT_JSON.read_text())["meta"][args.dataset]
    idx = meta["indices"]
    archs = [sp.from_index(i) for i in idx]
    classes: dict[str, list] = {}
    for i in scoring_order(len(idx), meta["seed"]):  # the report's scoring order
        classes.setdefault(sp.canonical(archs[i]), []).append(sp.format(archs[i]))
    chosen = [m[:args.members] for m in classes.values() if len(m) >= args.members][:args.classes]
    scorer = Scorer("nb201", names, data=args.dataset, batch_size=64, seed=0, init="torch-default", device="cpu",
                    stand_in=True)
    rows = []
    for members in chosen:
        values = [{r.proxy: r.value for r in scorer.score_arch(a, specs)} for a in members]
        rows.append({"members": members, "values": values})
        print(" | ".join(f"{p} " + "/".join(f"{v[p]:.4g}" for v in values) for p in names), flush=True)
    summary = {}
    print(f"\n{'proxy':10s} {'classes whose members differ':>28s} {'median spread / |mean|':>24s}"
          "  (NaN classes skipped)")
    for p in names:
        vals = np.array([[v[p] for v in r["values"]] for r in rows])
        differ = int((np.ptp(vals, axis=1) > 0).sum())
        spread = float(np.nanmedian(np.ptp(vals, axis=1) / np.maximum(np.abs(vals.mean(1)), 1e-12)))
        summary[p] = {"classes_differing": differ, "classes": len(rows), "median_relative_spread": spread}
        print(f"{p:10s} {differ:>20d} of {len(rows):<5d} {spread:24.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonio.dumps({"dataset": args.dataset, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
