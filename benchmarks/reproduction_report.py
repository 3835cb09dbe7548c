"""Measure zeronas's Spearman rho on NB201 for every proxy and write docs/reproduction.md next to the
published values (``SUITE_ZERO``, ``ZICO`` and ``OTHER`` below, each with its paper, table and protocol).

    python benchmarks/reproduction_report.py --datasets cifar10 --sample 1000 --workers 0

Scores go to the results store (resumable: rerun after a crash and only missing work is done). The same
scores are correlated with two targets: validation accuracy (the NAS-Bench-Suite-Zero protocol: 1,000
random archs, batch 64) and test accuracy (ZiCo's tables). Per-architecture agreement with the released
Suite-Zero scores (``nb201_zc_proxies_*.csv.gz``) is reported where those files cover the proxy.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

import zeronas as zn
from zeronas import paths
from zeronas.benchmarks.correlation import correlation
from zeronas.correlate import correlate
from zeronas.errors import UserError, int_at_least, run_script
from zeronas.store import Store

SCORES_DIR = Path("benchmarks/results/scores")

# Suite-Zero Fig. 2 (signed rho vs validation accuracy, 1000 archs, batch 64, CPU) [P-text]
SUITE_ZERO = {
    "nwot": (0.77, 0.80, 0.77), "jacob_cov": (0.75, 0.71, 0.71), "synflow": (0.73, 0.76, 0.75),
    "params": (0.72, 0.73, 0.69), "epe_nas": (0.70, 0.60, 0.33), "flops": (0.69, 0.71, 0.67),
    "l2_norm": (0.68, 0.72, 0.69), "grad_norm": (0.58, 0.63, 0.57), "snip": (0.58, 0.63, 0.57),
    "grasp": (0.51, 0.54, 0.55), "fisher": (0.50, 0.54, 0.48), "zen": (0.35, 0.35, 0.39),
    "plain": (-0.26, -0.21, -0.22),
}
# ZiCo Tables 1/3 (rho vs test accuracy) [P-text]; ntk_cond is reported there with the sign flipped
ZICO = {
    "grad_norm": (0.63, 0.63, 0.58), "snip": (0.63, 0.63, 0.58), "grasp": (0.54, 0.51, 0.56),
    "fisher": (0.55, 0.55, 0.50), "synflow": (0.73, 0.76, 0.75), "nwot": (0.77, 0.80, 0.78),
    "ntk_cond": (-0.44, -0.43, -0.63), "zen": (0.38, 0.36, 0.40), "flops": (0.73, 0.71, 0.67),
    "params": (0.75, 0.73, 0.69), "zico": (0.80, 0.81, 0.79),
}
OTHER = {  # single published figures with their own protocols
    "meco": ((0.894, 0.883, 0.845), "MeCo Tab.1 [S], test acc (cifar10-valid target for C10)"),
    "az_nas": ((0.913, None, None), "AZ-NAS notebook [P-code], all 15,625, C10 test acc"),
}
# White et al., ICLR 2022 blog "A Deeper Look at Zero-Cost Proxies", Table 1: C100, 1000 random archs, val acc
BLOG_C100 = {"fisher": 0.610, "grad_norm": 0.678, "grasp": 0.632, "jacob_cov": 0.719, "snip": 0.679,
             "synflow": 0.794, "flops": 0.714, "params": 0.735}
# Suite-Zero Fig. 2, the NB101-C10 and NB301-C10 columns (signed rho vs validation accuracy) [P-text]
SUITE_ZERO_BENCH = {
    "nb101": {"nwot": 0.31, "jacob_cov": -0.29, "synflow": 0.31, "params": 0.37, "epe_nas": 0.00, "flops": 0.36,
              "l2_norm": 0.50, "grad_norm": -0.25, "snip": -0.19, "grasp": 0.27, "fisher": -0.28, "zen": 0.59,
              "plain": -0.32},
    "nb301": {"nwot": 0.47, "jacob_cov": -0.04, "synflow": 0.18, "params": 0.46, "epe_nas": 0.00, "flops": 0.42,
              "l2_norm": 0.45, "grad_norm": -0.04, "snip": -0.05, "grasp": 0.34, "fisher": -0.28, "zen": 0.43,
              "plain": -0.32},
}
BENCH_TITLES = {"nb101": "NAS-Bench-101 (CIFAR-10, Suite-Zero's 500-cell sample)",
                "nb301": "NAS-Bench-301 (DARTS space, CIFAR-10, Suite-Zero's 725-genotype sample)"}
# NASLib's init per benchmark network: its NB101 model initializes itself (conv weights N(0, 2/(k*k*C_out)),
# i.e. Kaiming-normal fan-out, linear N(0, 0.01); naslib/search_spaces/nasbench101/model.py
# _initialize_weights): zeronas's init naslib-nb101. Its DARTS graph keeps PyTorch's defaults. Measured: NB101
# l2_norm agrees 0.998 with the released scores under kaiming-fanout and 0.919 under torch-default on the same
# 60 cells; snip 0.965 under kaiming-fanout, 0.987 with the linear layer's N(0, 0.01) as well.
BENCH_INIT = {"nb101": "naslib-nb101", "nb301": "torch-default"}
BENCH_PROXIES = "params,flops,l2_norm,synflow,snip,grad_norm,fisher,plain,nwot,jacob_cov,epe_nas"
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
REF_FILES = {"cifar10": "nasbench201/nb201_zc_proxies_graf9445_cifar10.csv.gz",
             "imagenet16-120": "nasbench201/nb201_zc_proxies_graf9445_imagenet16_120.csv.gz"}
REF_NAMES = {"jacob_cov": "jacov"}
# sections written before commands were recorded per dataset
LEGACY_COMMAND = ("python benchmarks/reproduction_report.py --datasets cifar10 --sample 1000 --workers 0, "
                  "then --only-stored")


def reference_agreement(result, dataset, table, idx) -> dict:
    """Spearman between zeronas's and Suite-Zero's per-arch scores on the archs both have, and the rho of
    each with the Suite-Zero target (NASLib val acc) on exactly those archs."""
    p = paths.find([REF_FILES.get(dataset, "")]) if dataset in REF_FILES else None
    if p is None:
        return {}
    with gzip.open(p, "rt") as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    out = {}
    for proxy, col in result.values.items():
        ref = REF_NAMES.get(proxy, proxy)
        shared = [(v, float(rows[i][ref]), float(rows[i]["naslib_valacc_1seed"])) for v, i in zip(col, idx)
                  if i in rows and ref in rows[i] and np.isfinite(v) and rows[i][ref] not in ("", "nan")]
        if len(shared) >= 20:
            a, b, t = zip(*shared)
            out[proxy] = (float(stats.spearmanr(a, b)[0]), len(shared), float(stats.spearmanr(a, t)[0]),
                          float(stats.spearmanr(b, t)[0]))
    return out


def load_snapshots(store: str, folder: Path):
    """Merge the committed per-arch scores into the store (idempotent), so only missing archs are scored."""
    files = sorted(folder.glob("*.csv.gz"))
    if files:
        db = Store(store)
        try:
            new = sum(db.merge(f)[1] for f in files)
        finally:
            db.close()
        print(f"{folder}: {new} scores merged into {store} from {len(files)} files", flush=True)


def save_snapshots(store: str, folder: Path, rows: dict):
    """Write each scored proxy's stored scores (its protocol only) to FOLDER/PROXY.csv.gz; the files are
    byte-identical when the scores are, so an unchanged proxy leaves no diff."""
    db = Store(store, create=False)
    try:
        for proxy, row in rows.items():
            if "protocol_hash" in row:  # ensembles rank stored member scores and keep none of their own
                db.export(folder / f"{proxy}.csv.gz", protocol_hashes=[row["protocol_hash"]])
    finally:
        db.close()


def fmt(v, digits=3):
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated NB201 datasets to measure")
    ap.add_argument("--proxies", help="comma-separated proxies to score",
                    default="nwot,synflow,snip,grad_norm,fisher,grasp,jacob_cov,epe_nas,plain,l2_norm,"
                            "params,flops,zen,zico,meco,zeros,das_d,das_na,das,linear_regions,az_nas")
    ap.add_argument("--ensembles", default="ensemble:nwot+synflow+jacob_cov,ensemble:zico+meco+nwot+synflow",
                    help="rank ensembles to add ('' for none); members missing from --proxies are scored too")
    ap.add_argument("--sample", default="1000", help="random archs per NB201 dataset: only 1000, since the NB201 "
                    "sections' valid target is NAS-Bench-Suite-Zero's preset, which fixes 1000 and batch 64 (a "
                    "smaller check: --datasets '' with --benchmarks and --bench-sample)")
    ap.add_argument("--seed", type=int, default=0, help="sampling and scoring seed")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64, help="images per proxy batch (Suite-Zero: 64)")
    ap.add_argument("--workers", type=int_at_least(0), default=0, help="scoring processes (0: one per core)")
    ap.add_argument("--device", default="cpu",
                    help="torch device for scoring (on a GPU --workers 0 means one process; the device is part of "
                         "the protocol, so its scores are kept apart from CPU ones)")
    ap.add_argument("--store", default="runs/reproduction.db", help="results store: a file path or database URL")
    ap.add_argument("--out", type=Path, default=Path("docs/reproduction.md"), help="markdown report to write")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/reproduction.json"),
                    help="figures as JSON; sections of datasets not run now are kept from it")
    ap.add_argument("--only-stored", action="store_true",
                    help="score nothing; report on the sampled archs already in the store")
    ap.add_argument("--scores-dir", type=Path, default=SCORES_DIR,
                    help="per-arch scores kept in the repository (DATASET/PROXY.csv.gz), merged into the store "
                         "before scoring and rewritten after, so a fresh checkout resumes without the store")
    ap.add_argument("--benchmarks", default="",
                    help="also measure these other benchmarks (comma-separated: nb101, nb301) on their tables' "
                         "archs, with per-arch agreement against the reference scores the tables carry")
    ap.add_argument("--bench-proxies", default=BENCH_PROXIES + ",zeronas-v1",
                    help="proxies (and ensembles) for --benchmarks")
    ap.add_argument("--bench-sample", default="all", help="archs per --benchmarks table, or 'all'")
    ap.add_argument("--retest-seed", type=int, default=None,
                    help="also score the --benchmarks archs with this other seed (other init draw and batch) and "
                         "report each proxy's test-retest agreement: how closely two runs of the same definition "
                         "can agree, the yardstick for the agreement with the released scores")
    ap.add_argument("--bench-init", default="naslib",
                    help="weight init for --benchmarks: 'naslib' (the init NASLib's network for that benchmark "
                         "has: kaiming-fanout on NB101, torch-default on NB301) or any zeronas init")
    ap.add_argument("--bench-batch-size", type=int, default=32,
                    help="images per batch for --benchmarks (NASLib's NB101/NB301 correlation configs: 32)")
    args = ap.parse_args()
    if [d for d in args.datasets.split(",") if d] and args.sample != "1000":  # said in this script's flags
        ap.error(f"--sample {args.sample}: the NB201 sections (--datasets) follow NAS-Bench-Suite-Zero's preset, "
                 "which fixes 1000 archs; drop --sample, or give --datasets '' to run only --benchmarks (sized by "
                 "--bench-sample)")
    table = zn.benchmarks.load_nb201()
    proxies = args.proxies + ("," + args.ensembles if args.ensembles else "")
    all_rows, metas = {}, {}
    benches = measure_benchmarks(args)
    for ds in [d for d in args.datasets.split(",") if d]:
        t0 = time.time()
        load_snapshots(args.store, args.scores_dir / ds)
        res_valid = correlate(dataset=ds, proxies=proxies, sample=args.sample, seed=args.seed,
                              batch_size=args.batch_size, store=args.store, workers=args.workers,
                              device=args.device, protocol="suite-zero", progress=True, only_stored=args.only_stored)
        res_test = correlate(dataset=ds, proxies=proxies, sample=args.sample, seed=args.seed,
                             batch_size=args.batch_size, store=args.store, workers=1, metric="test", device=args.device,
                             only_stored=args.only_stored)
        save_snapshots(args.store, args.scores_dir / ds, res_valid.rows)
        agree = reference_agreement(res_valid, ds, table, res_valid.meta["indices"])
        reachable = table.column("in_graf9445")[np.array(res_valid.meta["indices"])]
        # quoted so an empty value (--ensembles '') survives a copy and paste into a shell
        command = "python benchmarks/reproduction_report.py " + shlex.join(sys.argv[1:])
        if args.only_stored and args.json.exists():
            old = json.loads(args.json.read_text())
            old_rows = old.get("rows", {})
            if all(f"{ds}/{p}" in old_rows and "partial" not in old_rows[f"{ds}/{p}"]
                   for p in res_valid.rows):  # a report-only rerun
                command = old.get("meta", {}).get(ds, {}).get("command", command)
            else:  # reporting a run that was stopped: the same command without the flag scored it
                command = command.replace(" --only-stored", "")
        metas[ds] = {**res_valid.meta, "test_target": res_test.meta["target"], "seconds": time.time() - t0,
                     "command": command}
        for p in res_valid.rows:
            vals, truth = res_valid.values[p][reachable], res_valid.truth[reachable]
            sub = correlation(vals, truth, res_valid.rows[p]["direction"])
            all_rows[(ds, p)] = {"valid": res_valid.rows[p], "test": res_test.rows[p], "agreement": agree.get(p),
                                 "valid_reachable": sub}
        print(f"{ds}: done in {time.time() - t0:.0f}s", flush=True)
    keep_other_datasets(all_rows, metas, args)
    write_report(all_rows, metas, args, benches)


def measure_benchmarks(args) -> dict:
    """Correlate ``--bench-proxies`` on each of ``--benchmarks`` (validation accuracy, or NB301's surrogate),
    next to the reference scores of the same archs; sections not measured now are kept from the JSON."""
    old = json.loads(args.json.read_text()).get("benchmarks", {}) if args.json.exists() else {}
    out = dict(old)
    for b in [b for b in args.benchmarks.split(",") if b]:
        if b not in BENCH_TITLES:
            raise UserError(f"--benchmarks: unknown benchmark {b!r}; choose from {', '.join(BENCH_TITLES)}")
        t0 = time.time()
        load_snapshots(args.store, args.scores_dir / b)
        init = BENCH_INIT[b] if args.bench_init == "naslib" else args.bench_init
        res = correlate(space=b, dataset="cifar10", proxies=args.bench_proxies, sample=args.bench_sample,
                        seed=args.seed, batch_size=args.bench_batch_size, store=args.store, workers=args.workers,
                        device=args.device, metric="valid", progress=True, only_stored=args.only_stored, init=init)
        save_snapshots(args.store, args.scores_dir / b, res.rows)
        retest = None
        retest_proxies = ",".join(p for p in res.rows if "protocol_hash" in res.rows[p])  # ensembles: none
        if args.retest_seed is not None and retest_proxies:
            load_snapshots(args.store, args.scores_dir / f"{b}_seed{args.retest_seed}")
            retest = correlate(space=b, dataset="cifar10", proxies=retest_proxies, sample=args.bench_sample,
                               seed=args.seed, batch_size=args.bench_batch_size, store=args.store,
                               workers=args.workers, device=args.device, metric="valid", progress=True,
                               only_stored=args.only_stored, score_seed=args.retest_seed, init=init)
            if retest.meta["indices"] != res.meta["indices"]:
                raise UserError("the retest run covers other archs than the main one; rerun both")
            save_snapshots(args.store, args.scores_dir / f"{b}_seed{args.retest_seed}", retest.rows)
        table = zn.benchmarks.load_ground_truth(b)
        refs, idx = table.reference_proxies(), np.array(res.meta["indices"])
        truth = res.truth
        rows = {}
        for p, row in res.rows.items():
            r = {k: row.get(k) for k in ("spearman", "kendall", "top10", "n", "ms_per_arch", "direction")}
            ref_col = refs.get(REF_NAMES.get(p, p))
            if ref_col is not None:
                ours, ref = res.values[p], ref_col[idx]
                ok = np.isfinite(ours) & np.isfinite(ref) & np.isfinite(truth)
                if ok.sum() >= 20:
                    r["agreement"] = float(stats.spearmanr(ours[ok], ref[ok])[0])
                    r["ref_spearman"] = float(stats.spearmanr(ref[ok], truth[ok])[0])
                    r["ours_same_archs"] = float(stats.spearmanr(ours[ok], truth[ok])[0])
                    r["shared"] = int(ok.sum())
            if retest is not None and p in retest.values:
                a, c = res.values[p], retest.values[p]
                ok = np.isfinite(a) & np.isfinite(c)
                if ok.sum() >= 20:
                    r["retest"] = float(stats.spearmanr(a[ok], c[ok])[0])
            rows[p] = r
        command = "python benchmarks/reproduction_report.py " + shlex.join(sys.argv[1:])
        if args.only_stored and b in old:
            command = old[b]["meta"].get("command", command)
        meta = {k: res.meta[k] for k in ("archs", "unique_archs", "seed", "batch_size", "init", "target",
                                        "target_sha256", "notes", "sample")}
        meta.update({"table_rows": len(table), "seconds": time.time() - t0, "command": command,
                     "retest_seed": args.retest_seed})
        out[b] = {"meta": meta, "rows": rows}
        print(f"{b}: done in {time.time() - t0:.0f}s", flush=True)
    return out


def benchmark_sections(benches: dict) -> list[str]:
    lines = []
    for b, sec in benches.items():
        m = sec["meta"]
        batch_why = " (NASLib's correlation configs for this benchmark)" if m["batch_size"] == 32 else ""
        init_why = " (as NASLib's network for this benchmark)" if m["init"] == BENCH_INIT.get(b) else ""
        lines += [f"## {BENCH_TITLES.get(b, b)}", "",
                  f"{m['archs']} of the table's {m['table_rows']} archs ({m['unique_archs']} unique after "
                  f"isomorphism; sample {m['sample']}, seed {m['seed']}), batch {m['batch_size']}{batch_why}, init "
                  f"{m['init']}{init_why}; target `{m['target']}`; table "
                  f"sha256 {m['target_sha256'][:12]}. Measured by `{m['command']}`.", ""]
        lines += [f"- note: {n}" for n in m["notes"]] + [""]
        retest = m.get("retest_seed")
        if retest is not None:
            lines += [f"*retest*: Spearman between zeronas's scores at seed {m['seed']} and at seed {retest} (another "
                      f"init draw and batch) on the same archs: how closely two runs of one definition agree, the "
                      f"yardstick for the agreement with the released scores (NASLib drew its own init and batch).", ""]
        lines += ["*ms/arch*: CPU time per arch on a shared machine; proxies that share one forward pass (nwot, the "
                  "loss-gradient and the Jacobian families, `proxies/shared_pass.py`) charge it to the first of them "
                  "scored.", ""]
        lines += ["| proxy | n | rho (ours) | Kendall | top-10% | rho of the released scores, same archs | "
                  "Suite-Zero Fig. 2 | per-arch agreement ours vs released (n) | retest | ms/arch |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for p, r in sec["rows"].items():
            ag = (f"{fmt(r['agreement'])} ({r['shared']})" if "agreement" in r else "—")
            lines.append(f"| {p} | {r.get('n', '—')} | {fmt(r['spearman'])} | {fmt(r['kendall'])} | "
                         f"{fmt(r.get('top10'), 2)} | {fmt(r.get('ref_spearman'))} | "
                         f"{fmt(SUITE_ZERO_BENCH.get(b, {}).get(p), 2)} | {ag} | {fmt(r.get('retest'))} | "
                         f"{fmt(r.get('ms_per_arch', math.nan), 0)} |")
        lines.append("")
    return lines


def keep_other_datasets(all_rows, metas, args):
    """Datasets not run this time keep their rows from the previous JSON, so datasets can be measured in
    separate sessions (each section states its own sample, count and protocol)."""
    if not args.json.exists():
        return
    old = json.loads(args.json.read_text())
    for ds, meta in old.get("meta", {}).items():
        meta["notes"] = [n for n in meta.get("notes", []) if not COMPLETE_BUT_NOTED_PARTIAL.fullmatch(n)]
        if ds in metas:
            merge_same_sample(ds, meta, old["rows"], all_rows, metas)
            continue
        metas[ds] = meta
        for key, row in old["rows"].items():
            d, p = key.split("/", 1)
            if d == ds:
                all_rows[(d, p)] = row
    order = {d: i for i, d in enumerate(DATASETS)}
    metas_sorted = dict(sorted(metas.items(), key=lambda kv: order.get(kv[0], 9)))
    metas.clear()
    metas.update(metas_sorted)


# an older correlate wrote this note even when every sampled arch was stored
COMPLETE_BUT_NOTED_PARTIAL = re.compile(r"analysed the (\d+) of \1 sampled archs .*")
PARTIAL_NOTE = re.compile(r"analysed the (\d+) of (\d+) sampled archs .*")
SAME_PROTOCOL = ("seed", "batch_size", "init", "target", "target_sha256", "test_target")
SECTION_RUN = ("seconds", "wall_seconds", "scored_now", "workers")


def merge_same_sample(ds, old_meta, old_rows, all_rows, metas):
    """A rerun of some proxies on the same archs and protocol (e.g. after a proxy fix) replaces those
    proxies' rows and keeps the others; the section then names both commands. A rerun with --only-stored on
    a subset of the section's archs (a slow proxy not yet scored on all of them) is merged the same way,
    the section keeping its full sample and each such row saying on how many archs it stands."""
    new = metas[ds]
    if any(old_meta.get(k) != new.get(k) for k in SAME_PROTOCOL):
        return  # a different protocol: the new section stands alone
    old_idx, new_idx = old_meta.get("indices", []), new.get("indices", [])
    partial = old_idx != new_idx
    if partial and not set(new_idx) < set(old_idx):
        return  # a different sample: the new section stands alone
    fresh = [p for (d, p) in all_rows if d == ds]
    kept = [key.split("/", 1)[1] for key in old_rows if key.startswith(ds + "/")]
    # a row never shrinks: after a lost store the rescoring has to catch up with the row before replacing it
    behind = [p for p in fresh if partial and p in kept and archs_behind(old_rows[f"{ds}/{p}"], old_idx) >
              len(new_idx)]
    for p in behind:
        all_rows.pop((ds, p))
        print(f"{ds}/{p}: {len(new_idx)} archs stored, fewer than its row stands on; the row is kept", flush=True)
    fresh = [p for p in fresh if p not in behind]
    if not set(kept) - set(fresh):
        return
    rows = {p: all_rows.pop((ds, p)) for p in fresh}
    for p in fresh:
        rows[p].pop("partial", None)
        if partial:
            rows[p]["partial"] = f"scored so far on {len(new_idx)} of the {len(old_idx)} sampled archs"
    # an ensemble's members come back with it; read from the same stored scores they keep their old row
    unchanged = {p for p in fresh if p in kept and same_figures(rows[p], old_rows[f"{ds}/{p}"])}
    for p in kept + [p for p in fresh if p not in kept]:
        all_rows[(ds, p)] = rows[p] if p in rows and p not in unchanged else old_rows[f"{ds}/{p}"]
        if p in unchanged:  # same figures, but the scores may now sit under a new key (store version 2)
            for t in ("valid", "test"):
                if "protocol_hash" in rows[p].get(t, {}):
                    all_rows[(ds, p)][t]["protocol_hash"] = rows[p][t]["protocol_hash"]
    notes = [n for n in new.get("notes", []) if not (partial and PARTIAL_NOTE.fullmatch(n))]
    command, scored_now = new["command"], new.get("scored_now")
    if partial:  # the section's sample, count and timing stay those of the full run
        new.clear()
        new.update({k: v for k, v in old_meta.items() if k not in ("protocols", "notes", "command")})
    else:  # the timing stays that of the run that measured the section
        new.update({k: old_meta[k] for k in SECTION_RUN if k in old_meta})
    new["protocols"] = {**old_meta.get("protocols", {}), **new.get("protocols", {})}
    new["notes"] = list(dict.fromkeys(old_meta.get("notes", []) + notes))
    old_command = old_meta.get("command", LEGACY_COMMAND)
    report_only = f"`{command}`" in f"`{old_command}`"  # a rerun of the same or an earlier command
    completed = set()  # stopped runs resumed by another command: named in their clause, not as re-measured
    for p in fresh:
        if p in kept and old_rows[f"{ds}/{p}"].get("partial") and not report_only:
            clause = rf"{re.escape(p)} added, scored so far on a subset of the same archs by `([^`]*)"
            done = f"{p} added on the same archs by `{command}"
            grown = rf"{p} added, scored so far on a subset of the same archs by `\1`, resumed by `{command}"
            old_command, hits = re.subn(clause, grown if partial else done, old_command)
            if hits:
                completed.add(p)
    if not partial:  # proxies whose stopped runs have since completed no longer say "so far"
        for p in fresh:
            old_command = old_command.replace(f"{p} added, scored so far on a subset of the same archs by",
                                              f"{p} added on the same archs by")
    if report_only:
        new["command"] = old_command
        return
    where = "scored so far on a subset of the same archs" if partial else "on the same archs"
    redone = [p for p in fresh if p in kept and p not in unchanged and p not in completed]
    added = [p for p in fresh if p not in kept]
    again = "re-measured" if scored_now != 0 else "read again from the store"  # e.g. scored meanwhile by another run
    what = "; ".join(f"{', '.join(ps)} {verb}" for ps, verb in ((redone, again), (added, "added")) if ps)
    if not what:  # every fresh proxy completed a stopped run: named in place above
        new["command"] = old_command
        return
    new["command"] = f"{old_command}`; {what}{', ' if partial else ' '}{where} by `{command}"


def archs_behind(row, section_idx) -> int:
    """How many of the section's archs a row stands on (all of them unless it is partial)."""
    m = re.search(r"scored so far on (\d+) of", row.get("partial", ""))
    return int(m.group(1)) if m else len(section_idx)


def same_figures(row, old_row) -> bool:
    return all(row[t].get(k) == old_row.get(t, {}).get(k) for t in ("valid", "test") for k in ("spearman", "n"))


def write_report(all_rows, metas, args, benches=None):
    benches = benches or {}
    lines = ["# Reproduction report: zero-cost proxies on NAS-Bench-201, -101 and -301", "",
             f"Generated by `benchmarks/reproduction_report.py` on {time.strftime('%Y-%m-%d')}; each dataset "
             "section names the command that measured it. Do not edit by hand.", "",
             "Signed Spearman rho. *valid* = correlation with validation accuracy (the NAS-Bench-Suite-Zero "
             "target, one seed), compared with Suite-Zero Fig. 2 (1,000 random archs, batch 64, CPU). *test* = "
             "correlation with the seed-mean 200-epoch test accuracy, compared with ZiCo Tables 1/3. "
             "Delta = measured - published; |Delta| > 0.03 is flagged (!). *ref agreement* = Spearman between "
             "zeronas's and Suite-Zero's released per-architecture scores on the shared architectures "
             "(their two releases agree at 0.99 nwot, 0.98 snip/grad_norm/fisher, 0.96 jacov, 0.70 grasp). "
             "*no unreachable ops* restricts the same scores to the archs of the 9,445-arch set without unreachable "
             "operations (the set Suite-Zero's released NB201 scores cover). *ms/arch*: where proxies share one "
             "pass, the first one scored is charged for it (nwot for das*, az_expressivity for the other AZ "
             "components, and in the CIFAR-10 and CIFAR-100 sections snip for grad_norm, plain, fisher and grasp's "
             "first gradient).", ""]
    for ds, meta in metas.items():
        j = DATASETS.index(ds) if ds in DATASETS else 0
        lines += [f"## {ds}", "",
                  f"{meta['archs']} archs ({meta['unique_archs']} unique after isomorphism), sample seed "
                  f"{meta['seed']}, batch {meta['batch_size']}, init {meta['init']}; valid target "
                  f"`{meta['target']}`, test target `{meta['test_target']}`; table sha256 "
                  f"{meta['target_sha256'][:12]}. Measured by `{meta.get('command', LEGACY_COMMAND)}`.", ""]
        lines += [f"- note: {n}" for n in meta["notes"]] + [""]
        lines += ["| proxy | n | rho valid | rho valid, no unreachable ops | Suite-Zero | Delta | rho test | ZiCo "
                  "| Delta | Kendall test | top-10% test | ref agreement (n) "
                  "| same archs: rho ours / rho Suite-Zero scores | ms/arch |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for (d, p), r in all_rows.items():
            if d != ds:
                continue
            rv, rt = r["valid"]["spearman"], r["test"]["spearman"]
            sz = SUITE_ZERO.get(p, (None,) * 3)[j]
            zc = ZICO.get(p, (None,) * 3)[j]
            if p in OTHER and OTHER[p][0][j] is not None:
                zc = OTHER[p][0][j]

            def delta(m, ref):
                if ref is None or not math.isfinite(m):
                    return "—"
                d_ = m - ref
                return f"{d_:+.3f}{' (!)' if abs(d_) > 0.03 else ''}"

            ag = r["agreement"]
            n = r["valid"].get("n", "—")
            label = f"{p} (partial)" if r.get("partial") else p
            lines.append(f"| {label} | {n} | {fmt(rv)} | {fmt(r['valid_reachable']['spearman'])} | {fmt(sz, 2)} | "
                         f"{delta(rv, sz)} | {fmt(rt)} | {fmt(zc, 2)} | "
                         f"{delta(rt, zc)} | {fmt(r['test']['kendall'])} | {fmt(r['test']['top10'], 2)} | "
                         f"{fmt(ag[0]) + f' ({ag[1]})' if ag else '—'} | "
                         f"{fmt(ag[2]) + ' / ' + fmt(ag[3]) if ag else '—'} | "
                         f"{fmt(r['valid'].get('ms_per_arch', math.nan), 0)} |")
        lines += [""] + [f"- {p}: {r['partial']}: the first ones in the run's seeded random scoring order, a "
                         "uniform random subset of the sample (archs further along are left out even when an "
                         "isomorph gave them a score: they would favour large, often degenerate, classes); "
                         "rerunning the section's command resumes from the store"
                         for (d, p), r in all_rows.items() if d == ds and r.get("partial")]
        lines.append("")
    lines += benchmark_sections(benches)
    lines += ["## Other published references", ""]
    lines += [f"- {p}: {v[0]} ({v[1]})" for p, v in OTHER.items()]
    lines += ["- CIFAR-100, 1,000 random archs, rho vs validation accuracy (White et al., ICLR 2022 blog, Table 1): "
              + ", ".join(f"{p} {v:.3f}" for p, v in BLOG_C100.items()), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    findings = Path(args.out).with_name("reproduction_findings.md")
    if findings.exists():
        lines += [findings.read_text()]
    args.out.write_text("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": metas, "rows": {f"{d}/{p}": r for (d, p), r in all_rows.items()},
                                     "benchmarks": benches}, indent=1, default=str))
    print(f"wrote {args.out} and {args.json}")


if __name__ == "__main__":
    run_script(main)
