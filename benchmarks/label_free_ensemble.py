"""Choose zeronas's label-blind ensemble without any NB201 label, and write how (docs/label_free_ensemble.md).

Ground truth used, and only this: NAS-Bench-101 (500 archs, validation accuracy), NAS-Bench-301 (725 DARTS
genotypes, surrogate accuracy) and NAS-Bench-Macro (a random sample scored by zeronas into a store, mean test
accuracy of 3 runs). The rule, fixed before the search:

* candidates (``--candidates v2``, the default): v1's eight (nwot, synflow, flops, params, l2_norm, snip,
  grad_norm, jacob_cov) and the data-free proxies zeronas implements that v1 left out (meco, zen, AZ-NAS's
  expressivity, progressivity and trainability). Values: NASLib's released scores where its tables have the
  proxy, zeronas's own stored scores otherwise (the protocol of benchmarks/reproduction_report.py: batch 32,
  NASLib's init for NB101); ``--candidates v1`` is the set and source that chose zeronas-v1 (the eight,
  NASLib's scores only, so no nwot on NB101);
* aggregation: AZ-NAS's rank ensemble (sum of log(rank/N)), the one zeronas uses everywhere;
* an ensemble's merit is its *worst* Spearman rho over the benchmarks where every member is measured (at least
  two of the three): it must transfer to a space it was not chosen on, so the weakest space counts;
* ties within 0.005 go to fewer members (cheaper, less fitted);
* an ensemble has two or more members: single proxies are listed for reference, not chosen.

Usage: python benchmarks/label_free_ensemble.py [--candidates v2|v1] [--macro-store runs/macro_lf.db]
[--own-store runs/reproduction.db] [--data-dir DIR]. The scores it reads, all resumable:
  zeronas correlate --space macro --sample 300 --seed 0 --batch-size 64 --store runs/macro_lf.db \
      --proxies nwot,synflow,flops,params,l2_norm,snip,grad_norm,jacob_cov,meco,zen,az_expressivity,\
az_progressivity,az_trainability
  zeronas correlate --space nb101 --sample all --batch-size 32 --init naslib-nb101 --metric valid \
      --store runs/reproduction.db --proxies nwot,meco,zen,az_expressivity,az_progressivity,az_trainability
  (and the same with --space nb301 --init torch-default). Writes benchmarks/results/label_free_ensemble.json.
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
from zeronas.errors import UserError, int_at_least, run_script  # noqa: E402

SUITE_ZERO = ["nwot", "synflow", "flops", "params", "l2_norm", "snip", "grad_norm", "jacob_cov"]
# the data-free proxies zeronas implements that v1 left out (MeCo, Zen-NAS, AZ-NAS): no NASLib NB101/NB301 columns
LATER = ["meco", "zen", "az_expressivity", "az_progressivity", "az_trainability"]
CANDIDATE_SETS = {"v1": SUITE_ZERO, "v2": SUITE_ZERO + LATER}
ENSEMBLE_NAME = {"v1": "zeronas-v1", "v2": "zeronas-v2"}
NASLIB = {"jacob_cov": "jacov"}  # zeronas name -> NASLib column
DIRECTIONS = {p: 1 for p in SUITE_ZERO + LATER}  # every candidate: higher = better (NASLib and zeronas alike)
TABLES = {"nb101": ("nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz", "val_acc"),
          "nb301": ("nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz", "val_acc_surrogate")}
TIE = 0.005


def naslib_table(name: str, data_dir, candidates, own_store=None) -> tuple[dict, np.ndarray, dict]:
    """One Suite-Zero table: candidate -> values in the table's row order, the target, and candidate -> where its
    values came from. A candidate without a NASLib column takes zeronas's own scores from ``own_store`` (None:
    left out), matched to the table's rows by index; the store's target must equal the table's, row by row."""
    rel, target = TABLES[name]
    path = paths.find([rel], data_dir)
    if path is None:
        raise UserError(f"{rel} not found under the data folder; pass --data-dir DIR or set ZERONAS_DATA")
    rows = read_csv(path, name, (target,), gz=str(path).endswith(".gz"))
    col = {c: i for i, c in enumerate(rows.header)}

    def column(c):
        return np.array([float(r[col[c]]) if r[col[c]] != "" else np.nan for r in rows.rows])

    values = {p: column(NASLIB.get(p, p)) for p in candidates if NASLIB.get(p, p) in col}
    source = {p: "NASLib's released scores" for p in values}
    truth = column(target)
    missing = [p for p in candidates if p not in values]
    if own_store and missing:
        idx, got, own_truth = own_values(name, missing, own_store, data_dir, len(truth))
        if not np.allclose(own_truth, truth[idx], equal_nan=True):
            raise UserError(f"{name}: the stored target does not match {rel} row by row; rescore the store")
        for p, v in got.items():
            full = np.full(len(truth), np.nan)
            full[idx] = v
            values[p], source[p] = full, f"zeronas's own: {int((~np.isnan(full)).sum())} of {len(truth)} rows"
    return values, truth, source


def own_values(name: str, proxies, store: str, data_dir, n_rows: int):
    """zeronas's stored scores of ``proxies`` on a whole Suite-Zero table, in the protocol of
    benchmarks/frozen_ensemble_nb201.py's BENCH_PROTOCOL (that of reproduction_report.py): (row indices,
    proxy -> values, target). Every proxy must be stored for every row: a missing store, or a proxy scored on
    part of the table, stops the script with the command that scores it (a candidate never silently loses a
    benchmark, which would change what the rule compares)."""
    from frozen_ensemble_nb201 import BENCH_PROTOCOL

    from zeronas.correlate import correlate

    pr = BENCH_PROTOCOL[name]
    fix = (f"score them first: zeronas correlate --space {name} --sample all --batch-size {pr['batch_size']} "
           f"--init {pr['init']} --metric {pr['metric']} --store {store} --proxies {','.join(proxies)}")
    if "://" not in store and not Path(store).exists():
        raise UserError(f"{name}: no store {store} with zeronas's own {', '.join(proxies)} scores; {fix}")
    try:
        res = correlate(space=name, dataset="cifar10", proxies=",".join(proxies), sample="all", seed=0,
                        batch_size=pr["batch_size"], store=store, metric=pr["metric"], init=pr["init"],
                        data_dir=data_dir, only_stored=True)
    except UserError as e:  # nothing stored for some of them
        raise UserError(f"{name}: {e}; {fix}") from None
    idx = np.asarray(res.meta["indices"])
    if len(idx) < n_rows:  # only_stored keeps the rows every proxy has
        raise UserError(f"{name}: {len(idx)} of {n_rows} rows have all of {', '.join(proxies)} in {store}; {fix}")
    got = {p: np.asarray(v, dtype=float) for p, v in res.values.items() if p in proxies}
    return idx, got, np.asarray(res.truth, dtype=float)


def macro_values(store: str, data_dir, candidates) -> tuple[dict, np.ndarray, dict]:
    from zeronas.correlate import correlate

    res = correlate(space="macro", proxies=",".join(candidates), sample=300, seed=0, store=store, data_dir=data_dir,
                    only_stored=True)
    return {p: np.asarray(v, dtype=float) for p, v in res.values.items()}, np.asarray(res.truth), res.meta


def rho(values: dict, truth: np.ndarray, members) -> float:
    if len(members) == 1:
        x = values[members[0]]
    else:
        x = rank_ensemble([values[m] for m in members], [DIRECTIONS[m] for m in members])
    ok = np.isfinite(x) & np.isfinite(truth)
    return float(stats.spearmanr(x[ok], truth[ok])[0])


def choose(benches: dict, candidates, max_members: int) -> tuple[list, list, dict]:
    """The rule of the module docstring. ``benches``: name -> (proxy -> values, target), rows aligned within a
    benchmark. Returns every scored set (singles too) best first, the ensembles (2+ members) best first, and
    the chosen ensemble: {"members", "rho" (benchmark -> Spearman), "worst", "mean"}."""
    rows = []
    for k in range(1, max_members + 1):
        for members in itertools.combinations(candidates, k):
            per = {b: rho(v, t, members) for b, (v, t) in benches.items() if all(m in v for m in members)}
            if len(per) < 2:
                continue
            rows.append({"members": list(members), "rho": per, "worst": min(per.values()),
                         "mean": float(np.mean(list(per.values())))})
    rows.sort(key=lambda r: (-r["worst"], len(r["members"])))
    ensembles = [r for r in rows if len(r["members"]) >= 2]  # an ensemble: singles are reported, not chosen
    best = ensembles[0]
    close = [r for r in ensembles if r["worst"] >= best["worst"] - TIE]
    return rows, ensembles, min(close, key=lambda r: (len(r["members"]), -r["worst"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--macro-store", default="runs/macro_lf.db",
                    help="the NAS-Bench-Macro store scored by benchmarks/macro_report.py (read only) (default: "
                         "%(default)s)")
    ap.add_argument("--own-store", default="runs/reproduction.db",
                    help="zeronas's own NB101/NB301 scores, for candidates NASLib did not release (read only) "
                         "(default: %(default)s)")
    ap.add_argument("--candidates", choices=sorted(CANDIDATE_SETS), default="v2",
                    help="v2: Suite-Zero's eight and the later data-free proxies, own scores filling NASLib's "
                         "gaps; v1: the eight and NASLib's scores only, as zeronas-v1 was chosen (default: "
                         "%(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--max-members", type=int_at_least(1), default=4,
                    help="largest ensemble tried, in members (default: %(default)s)")
    ap.add_argument("--out", default=None,
                    help="the JSON results written (default: benchmarks/results/label_free_ensemble.json; "
                         "label_free_ensemble_v1.json with --candidates v1)")
    ap.add_argument("--doc", default=None,
                    help="the markdown page written (default: docs/label_free_ensemble.md; "
                         "label_free_ensemble_v1.md with --candidates v1)")
    args = ap.parse_args(argv)
    suffix = "" if args.candidates == "v2" else "_" + args.candidates
    args.out = args.out or str(ROOT / f"benchmarks/results/label_free_ensemble{suffix}.json")
    args.doc = args.doc or str(ROOT / f"docs/label_free_ensemble{suffix}.md")
    candidates = CANDIDATE_SETS[args.candidates]
    own = args.own_store if args.candidates != "v1" else None
    benches, sources = {}, {}
    for name in TABLES:
        v, t, sources[name] = naslib_table(name, args.data_dir, candidates, own)
        benches[name] = (v, t)
    mv, mt, meta = macro_values(args.macro_store, args.data_dir, candidates)
    benches["macro"] = (mv, mt)
    sources["macro"] = {p: "zeronas's own" for p in mv}
    n = {b: len(t) for b, (_, t) in benches.items()}
    rows, ensembles, chosen = choose(benches, candidates, args.max_members)
    out = {"date": str(date.today()), "name": ENSEMBLE_NAME[args.candidates], "candidates": args.candidates,
           "sources": sources, "rule": "max over ensembles (2+ members) of the worst Spearman over the "
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
    argv = sys.argv[1:] if argv is None else argv
    cmd = "python benchmarks/label_free_ensemble.py" + (" " + " ".join(argv) if argv else "")

    def row(r):
        cells = " | ".join(f"{r['rho'][b]:.3f}" if b in r["rho"] else "—" for b in ("nb101", "nb301", "macro"))
        return f"| {'+'.join(r['members'])} | {cells} | {r['worst']:.3f} |"

    head = "| members | NB101 | NB301 | Macro | worst |\n|---|---|---|---|---|"
    name = out.get("name", "zeronas-v1")
    if out.get("candidates", "v1") == "v1":
        labels = (f"NAS-Bench-101 validation accuracy of {n['nb101']} cells and NAS-Bench-301 surrogate accuracy of "
                  f"{n['nb301']} DARTS genotypes (both with NASLib's released proxy scores, "
                  "`../shared/data/nasbench101`, `nasbench301`)")
        labels_nb201 = ("**No NAS-Bench-201 value of any kind** (accuracy, or the NB201 results of earlier zeronas "
                        "studies) entered the candidates, the rule or the choice.")
        cands = ("Candidates: the proxies zeronas implements that are measured on NB301 and Macro; NB101 has no nwot, "
                 "so ensembles with nwot are judged on NB301 and Macro.")
        history = []
    else:
        labels = (f"NAS-Bench-101 validation accuracy of {n['nb101']} cells and NAS-Bench-301 surrogate accuracy of "
                  f"{n['nb301']} DARTS genotypes (`../shared/data/nasbench101`, `nasbench301`)")
        labels_nb201 = ("**NAS-Bench-201 results shaped the candidate set, not the choice within it** (see "
                        "below). No NB201 value entered the rule, the scores or the choice among the "
                        "candidates.")
        cands = ("Candidates: v1's eight (nwot, synflow, flops, params, l2_norm, snip, grad_norm, jacob_cov) "
                 "and the data-free proxies zeronas implements that v1 left out (meco, zen, az_expressivity, "
                 "az_progressivity, az_trainability). Each value comes from NASLib's released scores where its table "
                 "has the proxy and from zeronas's own stored scores otherwise (the protocol of "
                 "benchmarks/reproduction_report.py: batch 32, NASLib's init for NB101), so every candidate, nwot "
                 "included, is now judged on all three benchmarks. zico needs data (two batches and a backward pass), "
                 "so it is outside this data-free family; NASLib's other columns (epe_nas, fisher, grasp, plain) "
                 "were not v1 candidates either and are not added.")
        history = [
            "**Why a v2, and what it knew.** `zeronas-v1` (nwot+params) was chosen by the same rule from the eight "
            "proxies with NASLib scores and without nwot on NB101 (`docs/label_free_ensemble_v1.md`). It reached only "
            "0.847 / 0.840 / 0.810 on all of NB201 and 0.557 on NB101 (`docs/frozen_ensemble_nb201.md`). The wider "
            "candidate set was prompted by NB201 results: meco alone reached Spearman 0.895 on all 15,625 NB201 "
            "CIFAR-10 archs in the throughput work (issue 24), and meco had never been a candidate. The NB201 "
            "results of every added proxy were known too (docs/reproduction.md), and the ensemble chosen with NB201 "
            "CIFAR-100 labels in docs/ensemble_study.md (meco + synflow + jacob_cov + az_expressivity + "
            "az_trainability) is made mostly of this family. So NB201 labels touched *which family of candidates* "
            "was added (the whole class of data-free proxies v1 left out, not meco alone); they did not touch the "
            "rule, the scores, or the choice among the candidates, which is made on NB101, NB301 and Macro only. "
            "`zeronas-v1` stays frozen under its name.",
            ""]
    own = {b: [f"{p} ({w.split(': ')[-1]})" for p, w in sorted(out.get("sources", {}).get(b, {}).items())
               if not w.startswith("NASLib")] for b in ("nb101", "nb301")}
    src = "; ".join(f"{b.upper()}: {', '.join(o)}" for b, o in own.items() if o)
    lines = [
        f"# The label-blind ensemble `{name}`: how it was chosen",
        "",
        f"Generated by `{cmd}` on {out['date']}. Do not edit by hand.",
        "",
        f"**Labels that touched the choice:** {labels}, and NAS-Bench-Macro mean "
        f"test accuracy of {n['macro']} random architectures scored by zeronas (sample seed "
        f"{out['macro_meta'].get('seed')}). {labels_nb201}",
        "",
        *history,
        f"**Rule**: {out['rule']}. It was written after a first look at the NB101/NB301 single-proxy "
        "correlations and before the ensemble table was computed; the '2+ members' clause was added after the "
        "first run chose nwot alone (an ensemble was asked for). Aggregation: AZ-NAS's rank ensemble "
        f"(sum of log(rank/N)), zeronas's only ensemble rule. {cands}"
        + (f" zeronas's own scores, with the rows that have a value: {src}." if src else ""),
        "",
        f"**Chosen:** `{'+'.join(out['chosen']['members'])}`, worst Spearman {out['chosen']['worst']:.3f}, frozen as "
        f"`{name}` (`zeronas.proxies.ensembles.ENSEMBLES`).",
        "",
        "## On NB201, after freezing (these labels played no part in the choice)",
        "",
        *(["NAS-Bench-Suite-Zero's released scores of the members (not zeronas's) on the 9,445 NB201 archs without "
           "unreachable ops, against the seed-mean 200-epoch test accuracy; 'best in top k': the best accuracy "
           "among the ensemble's k highest-ranked archs. zeronas's own scores of the members on every NB201 arch "
           "are measured by benchmarks/frozen_ensemble_nb201.py (docs/frozen_ensemble_nb201.md).",
           "",
           "| dataset | archs | Spearman | Kendall | best in top 1 | top 10 | top 100 | optimum of the 9,445 |",
           "|---|---|---|---|---|---|---|---|",
           *[f"| {ds} | {r['n']} | {r['spearman']:.3f} | {r['kendall']:.3f} | {r['best_in_top']['1']:.2f} | "
             f"{r['best_in_top']['10']:.2f} | {r['best_in_top']['100']:.2f} | {r['optimum']:.2f} |"
             for ds, r in out["nb201_after_freezing"].items()]] if out.get("nb201_after_freezing") else
          ["NAS-Bench-Suite-Zero released no NB201 scores for some member, so the figures on NB201 are zeronas's own "
           "scores on every NB201 arch: `benchmarks/frozen_ensemble_nb201.py` (docs/frozen_ensemble_nb201.md)."]),
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
