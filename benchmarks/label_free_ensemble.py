"""Choose zeronas's label-blind ensemble without any NB201 label, and write how (docs/label_free_search.md).

Ground truth used, and only this: NAS-Bench-101 (500 archs, validation accuracy, NASLib's proxy scores),
NAS-Bench-301 (725 DARTS genotypes, surrogate accuracy, NASLib's proxy scores) and NAS-Bench-Macro (a random
sample scored by zeronas into a store, mean test accuracy of 3 runs). The rule, fixed before the search:

* candidates: proxies zeronas implements that are measured on NB301 and Macro (NB101 has no nwot);
* aggregation: AZ-NAS's rank ensemble (sum of log(rank/N)), the one zeronas uses everywhere;
* an ensemble's merit is its *worst* Spearman rho over the benchmarks where every member is measured (at least
  two of the three): it must transfer to a space it was not chosen on, so the weakest space counts;
* ties within 0.005 go to fewer members (cheaper, less fitted);
* an ensemble has two or more members: single proxies are listed for reference, not chosen.

Usage: python benchmarks/label_free_ensemble.py [--macro-store runs/macro_lf.db] [--data-dir DIR]
(the Macro scores: zeronas correlate --space macro --proxies nwot,synflow,flops,params,l2_norm,snip,grad_norm,
jacob_cov --sample 300 --store runs/macro_lf.db). Writes benchmarks/results/label_free_ensemble.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zeronas import paths  # noqa: E402
from zeronas.benchmarks.correlation import rank_ensemble  # noqa: E402
from zeronas.benchmarks.table import read_csv  # noqa: E402
from zeronas.errors import int_at_least, run_script  # noqa: E402

CANDIDATES = ["nwot", "synflow", "flops", "params", "l2_norm", "snip", "grad_norm", "jacob_cov"]
NASLIB = {"jacob_cov": "jacov"}  # zeronas name -> NASLib column
DIRECTIONS = {p: 1 for p in CANDIDATES}  # every candidate: higher = better (NASLib and zeronas alike)
TABLES = {"nb101": ("nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz", "val_acc"),
          "nb301": ("nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz", "val_acc_surrogate")}
TIE = 0.005


def naslib_table(name: str, data_dir) -> tuple[dict, np.ndarray]:
    rel, target = TABLES[name]
    path = paths.find([rel], data_dir)
    if path is None:
        raise SystemExit(f"{rel} not found under the data folder (--data-dir)")
    rows = read_csv(path, name, (target,), gz=str(path).endswith(".gz"))
    col = {c: i for i, c in enumerate(rows.header)}

    def column(c):
        return np.array([float(r[col[c]]) if r[col[c]] != "" else np.nan for r in rows.rows])

    values = {p: column(NASLIB.get(p, p)) for p in CANDIDATES if NASLIB.get(p, p) in col}
    return values, column(target)


def macro_values(store: str, data_dir) -> tuple[dict, np.ndarray, dict]:
    from zeronas.correlate import correlate

    res = correlate(space="macro", proxies=",".join(CANDIDATES), sample=300, seed=0, store=store, data_dir=data_dir,
                    only_stored=True)
    return {p: np.asarray(v, dtype=float) for p, v in res.values.items()}, np.asarray(res.truth), res.meta


def rho(values: dict, truth: np.ndarray, members) -> float:
    if len(members) == 1:
        x = values[members[0]]
    else:
        x = rank_ensemble([values[m] for m in members], [DIRECTIONS[m] for m in members])
    ok = np.isfinite(x) & np.isfinite(truth)
    return float(stats.spearmanr(x[ok], truth[ok])[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--macro-store", default="runs/macro_lf.db",
                    help="the NAS-Bench-Macro store scored by benchmarks/macro_report.py (read only) (default: "
                         "%(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--max-members", type=int_at_least(1), default=4,
                    help="largest ensemble tried, in members (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/label_free_ensemble.json"),
                    help="the JSON results written (default: %(default)s)")
    ap.add_argument("--doc", default=str(ROOT / "docs/label_free_ensemble.md"),
                    help="the markdown page written (default: %(default)s)")
    args = ap.parse_args(argv)
    benches = {name: naslib_table(name, args.data_dir) for name in TABLES}
    mv, mt, meta = macro_values(args.macro_store, args.data_dir)
    benches["macro"] = (mv, mt)
    n = {b: len(t) for b, (_, t) in benches.items()}
    rows = []
    for k in range(1, args.max_members + 1):
        for members in itertools.combinations(CANDIDATES, k):
            per = {b: rho(v, t, members) for b, (v, t) in benches.items() if all(m in v for m in members)}
            if len(per) < 2:
                continue
            rows.append({"members": list(members), "rho": per, "worst": min(per.values()),
                         "mean": float(np.mean(list(per.values())))})
    rows.sort(key=lambda r: (-r["worst"], len(r["members"])))
    ensembles = [r for r in rows if len(r["members"]) >= 2]  # an ensemble: singles are reported, not chosen
    best = ensembles[0]
    close = [r for r in ensembles if r["worst"] >= best["worst"] - TIE]
    chosen = min(close, key=lambda r: (len(r["members"]), -r["worst"]))
    out = {"date": str(date.today()), "rule": "max over ensembles (2+ members) of the worst Spearman over the "
           "benchmarks where every member is measured (>= 2); ties within 0.005 to fewer members",
           "benchmarks": n, "macro_meta": {k: meta.get(k) for k in ("sample", "seed", "table_sha256")},
           "chosen": chosen, "top": ensembles[:25],
           "singles": [r for r in rows if len(r["members"]) == 1]}
    out["nb201_after_freezing"] = nb201_report(chosen["members"], args.data_dir)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"archs: {n}")
    print(f"{'members':45s} {'nb101':>7s} {'nb301':>7s} {'macro':>7s} {'worst':>7s}")
    for r in ensembles[:15] + [r for r in rows if len(r["members"]) == 1]:
        print(f"{'+'.join(r['members']):45s} " + " ".join(f"{r['rho'].get(b, float('nan')):7.3f}"
                                                          for b in ("nb101", "nb301", "macro"))
              + f" {r['worst']:7.3f}")
    print(f"chosen: {'+'.join(chosen['members'])} (worst rho {chosen['worst']:.3f}); wrote {args.out}")
    Path(args.doc).write_text(render(out, argv))
    print(f"wrote {args.doc}")


NB201_ZC = {"cifar10": ("nasbench201/nb201_zc_proxies_graf9445_cifar10.csv.gz", "cifar10_test_acc"),
            "imagenet16-120": ("nasbench201/nb201_zc_proxies_graf9445_imagenet16_120.csv.gz",
                               "imagenet16_120_test_acc")}


def nb201_report(members, data_dir) -> dict:
    """The frozen ensemble on NB201, computed only after the choice (it reads NB201 accuracies): NAS-Bench-Suite-
    Zero's released scores of the members on the 9,445 archs without unreachable ops, against the seed-mean
    200-epoch test accuracy. Spearman, Kendall, and the best accuracy in the ensemble's top 1 / 10 / 100."""
    from zeronas.benchmarks.nb201 import load_nb201

    table = load_nb201(data_dir)
    out = {}
    for ds, (rel, col) in NB201_ZC.items():
        path = paths.find([rel], data_dir)
        if path is None or any(NASLIB.get(m, m) not in read_csv(path, ds, (), gz=True).header for m in members):
            continue
        rows = read_csv(path, ds, ("arch_str",), gz=True)
        c = {h: i for i, h in enumerate(rows.header)}
        vals = [np.array([float(r[c[NASLIB.get(m, m)]]) for r in rows.rows]) for m in members]
        acc = table.column(col)[[table.index_of(r[c["arch_str"]]) for r in rows.rows]]
        score = rank_ensemble(vals, [DIRECTIONS[m] for m in members])
        order = np.argsort(-score, kind="stable")
        out[ds] = {"n": len(acc), "spearman": float(stats.spearmanr(score, acc)[0]),
                   "kendall": float(stats.kendalltau(score, acc)[0]),
                   "best_in_top": {str(k): float(acc[order[:k]].max()) for k in (1, 10, 100)},
                   "optimum": float(acc.max())}
    return out


def render(out: dict, argv) -> str:
    n = out["benchmarks"]
    cmd = "python benchmarks/label_free_ensemble.py" + (" " + " ".join(argv) if argv else "")

    def row(r):
        cells = " | ".join(f"{r['rho'][b]:.3f}" if b in r["rho"] else "—" for b in ("nb101", "nb301", "macro"))
        return f"| {'+'.join(r['members'])} | {cells} | {r['worst']:.3f} |"

    head = "| members | NB101 | NB301 | Macro | worst |\n|---|---|---|---|---|"
    lines = [
        "# The label-blind ensemble `zeronas-v1`: how it was chosen",
        "",
        f"Generated by `{cmd}` on {out['date']}. Do not edit by hand.",
        "",
        "**Labels that touched the choice:** NAS-Bench-101 validation accuracy of "
        f"{n['nb101']} cells and NAS-Bench-301 surrogate accuracy of {n['nb301']} DARTS genotypes (both with "
        "NASLib's released proxy scores, `../shared/data/nasbench101`, `nasbench301`), and NAS-Bench-Macro mean "
        f"test accuracy of {n['macro']} random architectures scored by zeronas (sample seed "
        f"{out['macro_meta'].get('seed')}). **No NAS-Bench-201 value of any kind** (accuracy, or the NB201 "
        "results of earlier zeronas studies) entered the candidates, the rule or the choice.",
        "",
        f"**Rule**: {out['rule']}. It was written after a first look at the NB101/NB301 single-proxy "
        "correlations and before the ensemble table was computed; the '2+ members' clause was added after the "
        "first run chose nwot alone (an ensemble was asked for). Aggregation: AZ-NAS's rank ensemble "
        "(sum of log(rank/N)), zeronas's only ensemble rule. Candidates: the proxies zeronas implements that are "
        "measured on NB301 and Macro; NB101 has no nwot, so ensembles with nwot are judged on NB301 and Macro.",
        "",
        f"**Chosen:** `{'+'.join(out['chosen']['members'])}`, worst Spearman {out['chosen']['worst']:.3f}, frozen as "
        "`zeronas-v1` (`zeronas.proxies.ensembles.ENSEMBLES`).",
        "",
        "## On NB201, after freezing (these labels played no part in the choice)",
        "",
        "NAS-Bench-Suite-Zero's released scores of the members (not zeronas's) on the 9,445 NB201 archs without "
        "unreachable ops, against the seed-mean 200-epoch test accuracy; 'best in top k': the best accuracy "
        "among the ensemble's k highest-ranked archs. zeronas's own scores of the members on every NB201 arch are "
        "measured by benchmarks/frozen_ensemble_nb201.py (docs/frozen_ensemble_nb201.md).",
        "",
        "| dataset | archs | Spearman | Kendall | best in top 1 | top 10 | top 100 | optimum of the 9,445 |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {ds} | {r['n']} | {r['spearman']:.3f} | {r['kendall']:.3f} | {r['best_in_top']['1']:.2f} | "
          f"{r['best_in_top']['10']:.2f} | {r['best_in_top']['100']:.2f} | {r['optimum']:.2f} |"
          for ds, r in out.get("nb201_after_freezing", {}).items()],
        "",
        "## Best ensembles by the rule",
        "",
        head,
        *[row(r) for r in out["top"][:15]],
        "",
        "## Single proxies",
        "",
        head,
        *[row(r) for r in out["singles"]],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
