"""Can another proxy choose among funnel's leaders better than the ensemble that found them? Judged without NB201.

    python benchmarks/leader_rerank.py [--macro-store runs/macro_lf.db] [--data-dir DIR]

issue 23's hint: the optimum sits in the ensemble's top 100 on NB201 while its argmax is far from it, so the
choice among the leaders decides a label-free search. A label-free search may not learn that choice from
NB201 accuracies, so this script asks the question on the other ground truths only, with the rule written
before it ran:

* leaders: the top q (5%, 10%, 20%) of a table by zeronas-v1 (rank ensemble of nwot and params), as funnel's
  contenders are;
* a ranker's merit: its Spearman rho with the table's accuracy *within the leaders*, worst over NB101 (500
  cells, validation accuracy), NB301 (725 genotypes, surrogate accuracy) and NAS-Bench-Macro (the 300-arch
  sample of docs/label_free_ensemble_v1.md);
* funnel would answer a ranker's argmax among its leaders instead of the ensemble's only if that ranker beats
  zeronas-v1 itself on this worst-case merit at every q.

Candidates: the proxies of docs/label_free_ensemble_v1.md (NASLib's released scores on NB101 / NB301; zeronas's
own nwot and params there, and zeronas's scores on Macro). Also printed: the regret of each ranker's argmax
among the leaders (its accuracy minus the leaders' best). Writes benchmarks/results/leader_rerank.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import label_free_ensemble as lfe  # noqa: E402
from frozen_ensemble_nb201 import BENCH_PROTOCOL  # noqa: E402

from zeronas.benchmarks.correlation import rank_ensemble  # noqa: E402
from zeronas.correlate import correlate  # noqa: E402
from zeronas.errors import run_script  # noqa: E402
from zeronas.proxies.ensembles import ENSEMBLES  # noqa: E402

SHARES = (0.05, 0.10, 0.20)
ENSEMBLE = "zeronas-v1"


def tables(data_dir, macro_store: str) -> dict:
    """{benchmark: (values by proxy, accuracy)}, rows aligned."""
    out = {}
    for b in ("nb101", "nb301"):
        vals, truth, _ = lfe.naslib_table(b, data_dir, lfe.SUITE_ZERO)
        pr = BENCH_PROTOCOL[b]
        res = correlate(space=b, dataset="cifar10", proxies=",".join(ENSEMBLES[ENSEMBLE]), sample="all", seed=0,
                        batch_size=pr["batch_size"], store=pr["store"] or "runs/reproduction.db", metric=pr["metric"],
                        only_stored=True, init=pr["init"], data_dir=data_dir)
        stored = np.asarray(res.truth, float)
        if stored.shape != truth.shape or not np.allclose(stored, truth, equal_nan=True):
            raise SystemExit(f"{b}: the store lacks some of the table's archs, or they are not in its row order; "
                             f"score them with benchmarks/frozen_ensemble_nb201.py --benchmarks {b}")
        vals = {p: np.asarray(v, float) for p, v in vals.items()}
        vals.update({p: np.asarray(v, float) for p, v in res.values.items() if p in ENSEMBLES[ENSEMBLE]})
        out[b] = (vals, np.asarray(truth, float))
    mv, mt, _ = lfe.macro_values(macro_store, data_dir, lfe.SUITE_ZERO)
    out["macro"] = (mv, np.asarray(mt, float))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--macro-store", default="runs/macro_lf.db",
                    help="the NAS-Bench-Macro store scored by benchmarks/macro_report.py (read only) (default: "
                         "%(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "leader_rerank.json",
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args(argv)
    benches = tables(args.data_dir, args.macro_store)
    members = ENSEMBLES[ENSEMBLE]
    rankers = [ENSEMBLE] + lfe.SUITE_ZERO
    result = {"date": str(date.today()), "rule": __doc__.split("\n\n")[3],
              "benchmarks": {b: len(t) for b, (_, t) in benches.items()}, "shares": {}}
    for q in SHARES:
        rows = {}
        for p in rankers:
            per = {}
            for b, (v, t) in benches.items():
                ens = rank_ensemble([v[m] for m in members], [1] * len(members))
                lead = np.argsort(-ens, kind="stable")[:max(5, round(q * len(t)))]
                x = ens[lead] if p == ENSEMBLE else v.get(p, np.full(len(t), np.nan))[lead]
                ok = np.isfinite(x) & np.isfinite(t[lead])
                if ok.sum() < 5:
                    continue
                xs, ts = x[ok], t[lead][ok]
                per[b] = {"rho": float(stats.spearmanr(xs, ts)[0]), "regret": float(ts[np.argmax(xs)] - ts.max()),
                          "leaders": int(ok.sum())}
            rows[p] = {"per": per, "worst_rho": min(r["rho"] for r in per.values()) if len(per) == 3 else None}
        result["shares"][str(q)] = rows
    beats = [p for p in lfe.SUITE_ZERO
             if all((r := result["shares"][str(q)])[p]["worst_rho"] is not None
                    and r[p]["worst_rho"] > r[ENSEMBLE]["worst_rho"] for q in SHARES)]
    result["chosen"] = beats[0] if beats else ENSEMBLE
    args.out.write_text(json.dumps(result, indent=1))
    for q in SHARES:
        print(f"\nleaders: top {q:.0%} by {ENSEMBLE}; Spearman within the leaders (regret of the argmax, points)")
        print(f"{'ranker':12s}" + "".join(f"{b:>22s}" for b in benches) + f"{'worst':>8s}")
        for p, r in result["shares"][str(q)].items():
            cells = "".join(f"{r['per'][b]['rho']:+12.3f} ({r['per'][b]['regret']:+.2f})" if b in r["per"]
                            else f"{'—':>22s}" for b in benches)
            worst = "—" if r["worst_rho"] is None else f"{r['worst_rho']:+.3f}"
            print(f"{p:12s}{cells}{worst:>8s}")
    print(f"\nchosen ranker among the leaders: {result['chosen']}"
          + ("" if beats else " (no candidate beats the ensemble itself at every share)"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
