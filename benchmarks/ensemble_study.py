"""Which rank ensemble of zero-cost proxies predicts NB201 accuracy best, measured without peeking.

    python benchmarks/ensemble_study.py --datasets cifar100,cifar10 --store runs/reproduction.db

Reads the scores the reproduction report stored (nothing is scored here). The sampled architectures are
split in two halves by ``--split-seed``: every ensemble of 2..``--max-size`` candidate proxies (AZ-NAS's
sum of log(rank/N)) is ranked by its Spearman rho on the *selection* half, and the winner is reported on the
*held-out* half, whose accuracies played no part in choosing it. Ranks are computed within each half, so the
ensemble never sees the other half's architectures either. ``--transfer`` datasets were not used for the
choice at all: the winner of ``--select-on`` is scored there on every sampled arch whose member scores are
stored (score them first with ``zeronas correlate --proxies <members> --store <same store>``).
Writes JSON and a markdown section.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from zeronas.benchmarks.correlation import rank_ensemble
from zeronas.correlate import correlate
from zeronas.errors import UserError, int_at_least, run_script
from zeronas.proxies.base import get_proxy

# the cheap, strong proxies (all under ~0.6 s/arch on CIFAR here), so that a chosen ensemble can be scored
# on every dataset; zico, snip and zen were left out for their cost
CANDIDATES = ("meco,synflow,jacob_cov,nwot,flops,params,az_expressivity,az_progressivity,az_trainability,l2_norm,"
              "das_na,das_d")
FIXED = {"az_nas": ("az_expressivity", "az_progressivity", "az_trainability", "flops"),
         "nwot+synflow+jacob_cov": ("nwot", "synflow", "jacob_cov"),
         "zico+meco+nwot+synflow": ("zico", "meco", "nwot", "synflow")}


def rho(members, values, truth, rows) -> float:
    cols = [values[m][rows] for m in members]
    score = rank_ensemble(cols, [get_proxy(m).direction for m in members])
    return float(stats.spearmanr(score, truth[rows])[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="cifar100", help="datasets to select and report on (split halves)")
    ap.add_argument("--select-on", default=None, help="dataset whose selection half picks the transfer ensemble "
                                                      "(default: the first of --datasets)")
    ap.add_argument("--transfer", default="", help="datasets to report the chosen ensemble on, untouched by "
                                                   "the choice")
    ap.add_argument("--candidates", default=CANDIDATES, help="comma-separated candidate members (default: %(default)s)")
    ap.add_argument("--max-size", type=int_at_least(1), default=5,
                    help="largest ensemble tried, in members (default: %(default)s)")
    ap.add_argument("--sample", default="1000",
                    help="NB201 architectures scored: a count or 'all' (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the architecture sample, the image batch and the initial weights (default: "
                         "%(default)s)")
    ap.add_argument("--split-seed", type=int, default=0,
                    help="seed of the selection / held-out split of the architectures (default: %(default)s)")
    ap.add_argument("--store", default="runs/reproduction.db",
                    help="SQLite results store: stored scores are reused, so a rerun resumes (default: %(default)s)")
    ap.add_argument("--metric", default="test",
                    help="NB201 accuracy correlated against: test or valid (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/ensemble_study.json"),
                    help="the JSON results written (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("docs/ensemble_study.md"),
                    help="the markdown page written (default: %(default)s)")
    args = ap.parse_args()
    cands = [c for c in args.candidates.split(",") if c]
    data = {}
    for ds in args.datasets.split(","):
        res = correlate(dataset=ds, proxies=",".join(cands), sample=args.sample, seed=args.seed,
                        store=args.store, metric=args.metric, only_stored=True)
        data[ds] = (res.values, res.truth, res.meta)
    report = {"candidates": cands, "max_size": args.max_size, "split_seed": args.split_seed, "metric": args.metric,
              "datasets": {}, "command": "python benchmarks/ensemble_study.py " + shlex.join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d")}
    combos = [c for k in range(2, args.max_size + 1) for c in itertools.combinations(cands, k)]
    sel_rho = {}
    for ds, (values, truth, meta) in data.items():
        n = len(truth)
        perm = np.random.default_rng(args.split_seed).permutation(n)
        sel, held = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
        sel_rho[ds] = {c: rho(c, values, truth, sel) for c in combos}
        best = max(combos, key=lambda c: sel_rho[ds][c])
        singles = {m: float(stats.spearmanr(values[m][held] * get_proxy(m).direction, truth[held])[0])
                   for m in cands}
        report["datasets"][ds] = {
            "archs": n, "selection": len(sel), "heldout": len(held), "target": meta["target"],
            "notes": meta["notes"], "best_on_selection": list(best), "selection_rho": sel_rho[ds][best],
            "heldout_rho": rho(best, values, truth, held), "all_rho": rho(best, values, truth, np.arange(n)),
            "fixed_heldout": {name: rho(m, values, truth, held) for name, m in FIXED.items() if set(m) <= set(cands)},
            "best_single_heldout": max(singles.items(), key=lambda kv: kv[1]),
        }
        print(f"{ds}: best on selection {'+'.join(best)} rho {sel_rho[ds][best]:.3f}; held-out "
              f"{report['datasets'][ds]['heldout_rho']:.3f}", flush=True)
    select_on = args.select_on or next(iter(data))
    chosen = max(combos, key=lambda c: sel_rho[select_on][c])
    report["transfer"] = {"select_on": select_on, "members": list(chosen), "datasets": {}}
    for ds in [d for d in args.transfer.split(",") if d]:
        out = {}
        for name, members in {"chosen": chosen, **FIXED}.items():
            try:
                res = correlate(dataset=ds, proxies=",".join(members), sample=args.sample, seed=args.seed,
                                store=args.store, metric=args.metric, only_stored=True)
            except UserError:
                continue  # this ensemble's members are not scored on ds
            n = len(res.truth)
            out[name] = {"members": list(members), "rho": rho(members, res.values, res.truth, np.arange(n)), "archs": n,
                         "notes": res.meta["notes"]}
        report["transfer"]["datasets"][ds] = out
        print(f"transfer {ds}: " + ", ".join(f"{k} {v['rho']:.3f} ({v['archs']})" for k, v in out.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    write_markdown(report, args.out)


def write_markdown(report, out: Path):
    lines = ["# Rank-ensemble study (NB201)", "",
             f"Generated by `{report['command']}` on {report['date']}. Ensembles aggregate proxies by AZ-NAS's "
             f"sum of log(rank/N). Every ensemble of 2-{report['max_size']} of the candidates "
             f"({', '.join(report['candidates'])}) is scored on a random half of the sampled archs (the "
             f"*selection* half, split seed {report['split_seed']}); the winner is reported on the other "
             f"(*held-out*) half, which played no part in choosing it. Target: {report['metric']} accuracy.", "",
             "| dataset | archs (sel / held-out) | best on selection | rho selection | rho held-out | "
             "best single proxy, held-out | az_nas held-out | nwot+synflow+jacob_cov held-out |",
             "|---|---|---|---|---|---|---|---|"]
    for ds, r in report["datasets"].items():
        fx = r["fixed_heldout"]
        lines.append(f"| {ds} | {r['archs']} ({r['selection']} / {r['heldout']}) | "
                     f"{'+'.join(r['best_on_selection'])} | {r['selection_rho']:.3f} | **{r['heldout_rho']:.3f}** | "
                     f"{r['best_single_heldout'][0]} {r['best_single_heldout'][1]:.3f} | "
                     f"{fx.get('az_nas', float('nan')):.3f} | {fx.get('nwot+synflow+jacob_cov', float('nan')):.3f} |")
    t = report.get("transfer", {})
    if t.get("datasets"):
        lines += ["", f"**Transfer.** The ensemble chosen on the {t['select_on']} selection half, "
                  f"**{'+'.join(t['members'])}**, on datasets that played no part in the choice (all sampled "
                  f"archs whose member scores are stored):", "",
                  "| dataset | chosen | az_nas | nwot+synflow+jacob_cov | zico+meco+nwot+synflow | archs |",
                  "|---|---|---|---|---|---|"]
        for ds, res in t["datasets"].items():
            def cell(k, res=res):
                return f"{res[k]['rho']:.3f}" if k in res else "not scored"
            lines.append(f"| {ds} | **{cell('chosen')}** | {cell('az_nas')} | {cell('nwot+synflow+jacob_cov')} | "
                         f"{cell('zico+meco+nwot+synflow')} | {res.get('chosen', {}).get('archs', '—')} |")
    for ds, r in report["datasets"].items():
        lines += [""] + [f"- {ds}: {n}" for n in r["notes"]]
    findings = out.with_name("ensemble_study_findings.md")
    if findings.exists():
        lines += ["", findings.read_text()]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main)
