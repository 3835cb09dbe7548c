"""Whole-space throughput: all 15,625 NB201 architectures x five core proxies, timed on a fixed prefix.

    python benchmarks/whole_space.py --prefix 150
    python benchmarks/whole_space.py --prefix 150 --resume-check 90   # also run the real CLI twice, killed
    python benchmarks/whole_space.py --prefix 60 --workers 2 --memory-format channels-last

What it projects is the wall time of

    zeronas correlate --space nb201 --sample all --proxies nwot,synflow,snip,jacob_cov,meco

on this machine (with ``--memory-format channels-last`` added when given). The whole run is planned exactly as
``correlate`` plans it: the seeded scoring order of all
15,625 strings, and per arch the proxies still missing when its turn comes (the class-sharing proxies,
synflow, snip and jacob_cov, are scored once per isomorphism class: 6,466 times; nwot and meco for every
string). The first ``--prefix`` archs of that order are then scored with exactly the proxies the whole run
gives them, through the executor ``correlate`` uses and into a throw-away store: the first ``--prefix`` archs
of each kind of work unit (all five proxies; nwot and meco only), the kinds interleaved. The wall time per
arch of each kind is extrapolated to the whole run's count of such units. This is an extrapolation from
a prefix, not a full run; the JSON says so. On a shared machine the figure moves with the load.

``--full`` runs the real command from start to end instead (about an hour on 2 cores), in a fresh store, and
writes the wall time it took: a measurement, not an extrapolation. ``--from-store DB`` summarises a run made
by hand in store DB (rows per proxy: is it complete?, and the span of the rows' write stamps, which leaves
out the command's start-up and its final analysis); ``--wall-s`` adds the command's own elapsed time.

    python benchmarks/whole_space.py --full --memory-format channels-last --out benchmarks/results/whole_space_full.json

``--resume-check N`` also runs the real command for N seconds, kills it (SIGKILL, as a crash would), runs it
again for N seconds and kills it again, and records how many architectures the store held after each run and
the progress lines the command printed: the second run must go on from the first one's stored results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from zeronas.errors import int_at_least

CORE = "nwot,synflow,snip,jacob_cov,meco"
TARGET_S = 3600.0


def plan(sp, proxies: list[str], seed: int, data_dir=None) -> list[tuple[tuple, tuple[str, ...]]]:
    """(arch, missing proxies) per arch in correlate's scoring order for --sample all and an empty store."""
    from zeronas.correlate import scoring_order
    from zeronas.proxies.base import get_proxy

    try:  # correlate's order permutes the benchmark table's indices
        from zeronas.benchmarks import load_nb201

        archs = [sp.parse(s) for s in load_nb201(data_dir).arch_str]
    except Exception:  # noqa: BLE001  (no table: the space's own order; the unit counts do not depend on it)
        archs = list(sp.enumerate())
    order = scoring_order(len(archs), seed)
    missing: dict[int, list[str]] = {}
    for p in proxies:
        shared = get_proxy(p).shares_isomorphs
        seen: set = set()
        for i in order:
            key = sp.canonical(archs[i]) if shared else i
            if key not in seen:
                seen.add(key)
                missing.setdefault(int(i), []).append(p)
    return [(archs[i], tuple(missing[int(i)])) for i in order if int(i) in missing]


def stored_rows(db: Path) -> dict[str, int]:
    """Rows per proxy in a correlate store (its ``scores`` table)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("select proxy, count(*) from scores group by proxy").fetchall())
    except sqlite3.OperationalError:  # killed before the table was made
        return {}
    finally:
        con.close()


def resume_check(seconds: float, proxies: str, seed: int, data_dir: str | None,
                 memory_format: str = "contiguous") -> dict:
    exe = Path(sys.executable).with_name("zeronas")
    tmp = Path(tempfile.mkdtemp(prefix="zeronas_whole_space_"))
    db = tmp / "store.db"
    cmd = [str(exe), "correlate", "--space", "nb201", "--sample", "all", "--proxies", proxies, "--seed", str(seed),
           "--store", str(db)]  # correlate always reports progress (a bar on a terminal, else a line a minute)
    if data_dir:
        cmd += ["--data-dir", data_dir]
    if memory_format != "contiguous":
        cmd += ["--memory-format", memory_format]
    runs = []
    for k in range(2):
        log = tmp / f"run{k}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(seconds)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rows = stored_rows(db)
        runs.append({"killed_after_s": seconds, "rows_in_store": rows, "total_rows": sum(rows.values()),
                     "output_tail": log.read_text()[-1500:]})
        print(f"resume check run {k + 1}: killed after {seconds:.0f} s, store rows per proxy {rows}",
              flush=True)
    return {"command": " ".join(cmd), "runs": runs, "store": str(db),
            "resumed": runs[1]["total_rows"] > runs[0]["total_rows"] > 0}


def store_span(db: Path) -> dict:
    """Rows per proxy of a correlate store and the span of their write stamps (``created``, seconds)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = dict(con.execute("SELECT proxy, COUNT(*) FROM scores GROUP BY proxy"))
        failed = dict(con.execute("SELECT proxy, COUNT(*) FROM scores WHERE status = 'error' GROUP BY proxy"))
        undefined = dict(con.execute("SELECT proxy, COUNT(*) FROM scores WHERE status IN ('nan', 'inf', '-inf') "
                                     "GROUP BY proxy"))
        first, last = con.execute("SELECT MIN(created), MAX(created) FROM scores").fetchone()
        protocols = [json.loads(t) for (t,) in con.execute("SELECT protocol FROM protocols")]
    finally:
        con.close()
    return {"rows_per_proxy": rows, "failed_per_proxy": failed,
            "nan_or_inf_per_proxy": undefined, "rows_written_span_s": (last - first) if rows else 0.0,
            "memory_formats": sorted({p.get("memory_format", "contiguous") for p in protocols})}


def full_summary(db: Path, proxies: list[str], seed: int, data_dir, wall_s: float | None, command: str,
                 note: str) -> dict:
    """The JSON of a complete run: its store's rows checked against the whole run's plan, and its wall time."""
    from zeronas.spaces import space as get_space

    expected = Counter(p for _, missing in plan(get_space("nb201"), proxies, seed, data_dir) for p in missing)
    span = store_span(db)
    complete = all(span["rows_per_proxy"].get(p, 0) == n for p, n in expected.items())
    wall = wall_s if wall_s is not None else span["rows_written_span_s"]
    return {
        "what": f"a FULL run of '{command}' (not extrapolated): "
                + ("its wall time from start to end" if wall_s is not None else
                   "the span of its store's write stamps (start-up and the final analysis left out)"),
        "command": command, "store": str(db), "expected_rows_per_proxy": dict(expected), **span,
        "complete": complete, "wall_s": wall, "wall_h": wall / 3600, "cores": os.cpu_count(),
        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "note": note,
        "target_s": TARGET_S, "meets_target": complete and wall < TARGET_S,
    }


def full_run(args, proxies: list[str]) -> dict:
    """Run the real command to its end in a fresh store (in a temporary folder, kept: the JSON names it), timed."""
    exe = Path(sys.executable).with_name("zeronas")
    work = Path(tempfile.mkdtemp(prefix="zeronas_whole_space_full_"))
    db = work / "store.db"
    cmd = [str(exe), "correlate", "--space", "nb201", "--sample", "all", "--proxies", ",".join(proxies),
           "--seed", str(args.seed), "--store", str(db), "--out", str(work / "out")]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.memory_format != "contiguous":
        cmd += ["--memory-format", args.memory_format]
    print(f"running {' '.join(cmd[1:])} (progress lines follow)", flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    shown = "zeronas " + " ".join(cmd[1:cmd.index("--store")])
    if args.memory_format != "contiguous":
        shown += f" --memory-format {args.memory_format}"
    return full_summary(db, proxies, args.seed, args.data_dir, wall, shown, args.note)


def write_full(result: dict, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"rows per proxy {result['rows_per_proxy']} (expected {result['expected_rows_per_proxy']}; "
          f"{'complete' if result['complete'] else 'INCOMPLETE'}), failed {result['failed_per_proxy']}")
    print(f"whole space, full run: {result['wall_s'] / 3600:.2f} h ({result['wall_s']:.0f} s; "
          f"{'under' if result['meets_target'] else 'NOT under'} the 1 h target)")
    print(f"wrote {out}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxies", default=CORE,
                    help="comma-separated proxy names (zeronas proxies lists them) (default: %(default)s)")
    ap.add_argument("--prefix", type=int_at_least(1), default=150,
                    help="archs timed per kind of work unit: the first ones of the scoring order")
    ap.add_argument("--seed", type=int, default=0, help="correlate's --seed (scoring order, batch, weights)")
    ap.add_argument("--threads", type=int_at_least(1), default=os.cpu_count(),
                    help="torch threads (correlate leaves torch's default: one per core)")
    ap.add_argument("--workers", type=int_at_least(1), default=1,
                    help="scoring processes, as correlate's --workers (each with cores // workers torch threads); "
                         "above 1 each kind's prefix is timed as one parallel batch: wall time / units")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64,
                    help="images per proxy batch (default: %(default)s)")
    ap.add_argument("--memory-format", default="contiguous", choices=("contiguous", "channels-last"),
                    help="correlate's --memory-format (default: %(default)s)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--resume-check", type=float, default=0.0, metavar="SECONDS",
                    help="also run the real CLI twice for SECONDS each, killed, and check that it resumes")
    ap.add_argument("--full", action="store_true",
                    help="run the real command from start to end (about an hour) and write its wall time")
    ap.add_argument("--from-store", type=Path, default=None, metavar="DB",
                    help="summarise a finished run's store instead of timing anything")
    ap.add_argument("--wall-s", type=float, default=None,
                    help="with --from-store: the command's own elapsed seconds (e.g. from /usr/bin/time)")
    ap.add_argument("--command", default=None,
                    help="with --from-store: the command that filled the store, as it was typed")
    ap.add_argument("--note", default="", help="a note stored in the JSON (e.g. the machine was shared)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "whole_space.json",
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args(argv)
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    if args.from_store is not None:
        if not args.from_store.is_file():
            raise SystemExit(f"--from-store {args.from_store}: no such file; give the --store of a finished run")
        command = args.command or f"zeronas correlate --space nb201 --sample all --proxies {args.proxies}"
        return write_full(full_summary(args.from_store, proxies, args.seed, args.data_dir, args.wall_s, command,
                                       args.note), args.out)
    if args.full:
        return write_full(full_run(args, proxies), args.out)

    from zeronas.run import make_executor
    from zeronas.spaces import space as get_space
    from zeronas.store import Store

    torch.set_num_threads(args.threads)
    sp = get_space("nb201")
    t0 = time.perf_counter()
    work = plan(sp, proxies, args.seed, args.data_dir)
    plan_s = time.perf_counter() - t0
    units = Counter(m for _, m in work)
    # the first --prefix archs of the scoring order of each kind of work unit, the kinds interleaved (the
    # order front-loads new isomorphism classes, so a plain prefix would hold few nwot+meco-only units)
    kinds: dict[tuple, list] = {}
    for arch, missing in work:
        if len(kinds.setdefault(missing, [])) < args.prefix:
            kinds[missing].append((arch, missing))
    prefix = [u for group in itertools.zip_longest(*kinds.values()) for u in group if u is not None]
    kwargs = dict(space="nb201", data="cifar10", data_dir=args.data_dir, batch_size=args.batch_size, seed=args.seed,
                  init="torch-default", device="cpu", stand_in=True, isomorph_member="asked",
                  memory_format=args.memory_format)
    walls: dict[tuple, list[float]] = {}
    proxy_s: dict[str, list[float]] = {p: [] for p in proxies}
    executors = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Store(Path(tmp) / "store.db")
        try:
            if args.workers > 1:  # each kind's prefix through a pool, as correlate runs it: wall / units
                for missing, group in kinds.items():
                    ex = make_executor({**kwargs, "proxies": list(missing)}, args.workers)
                    try:  # start every worker (imports, data) before the clock: one warm-up arch each
                        list(ex.map([group[0][0]] * args.workers))
                        t = time.perf_counter()
                        for records in ex.map([a for a, _ in group]):
                            db.put(records)
                            for r in records:
                                proxy_s[r.proxy].append(r.seconds)
                        walls[missing] = [(time.perf_counter() - t) / len(group)] * len(group)
                    finally:
                        ex.close()
                    print(f"{len(group)} archs of {','.join(missing)} timed", flush=True)
                prefix = []
            for k, (arch, missing) in enumerate(prefix):
                if missing not in executors:
                    executors[missing] = make_executor({**kwargs, "proxies": list(missing)}, 1)
                t = time.perf_counter()
                (records,) = list(executors[missing].map([arch]))
                db.put(records)
                walls.setdefault(missing, []).append(time.perf_counter() - t)
                for r in records:
                    proxy_s[r.proxy].append(r.seconds)
                if (k + 1) % 25 == 0:
                    print(f"{k + 1}/{len(prefix)} archs timed", flush=True)
        finally:
            db.close()
            for e in executors.values():
                e.close()
    n_timed = sum(len(g) for g in kinds.values())
    unit_rows = []
    projected = 0.0
    for missing, n in sorted(units.items(), key=lambda kv: -kv[1]):
        w = walls.get(missing)
        if not w:
            raise SystemExit(f"the prefix has no arch scored with {missing}; use a longer --prefix")
        mean = statistics.mean(w)
        projected += n * mean
        unit_rows.append({"proxies": list(missing), "units_in_whole_space": n, "timed_in_prefix": len(w),
                          "wall_s_per_arch_mean": mean, "wall_s_per_arch_median": statistics.median(w),
                          "projected_s": n * mean})
    per_proxy = {p: {"s_per_call_mean": statistics.mean(v), "calls_in_whole_space": sum(
        n for m, n in units.items() if p in m)} for p, v in proxy_s.items() if v}
    for r in per_proxy.values():
        r["projected_s"] = r["s_per_call_mean"] * r["calls_in_whole_space"]
    result = {
        "what": f"projected wall time of 'zeronas correlate --space nb201 --sample all --proxies {args.proxies}"
                f"{'' if args.memory_format == 'contiguous' else ' --memory-format ' + args.memory_format}' "
                f"(workers {args.workers}, {args.threads if args.workers == 1 else 'cores // workers'} torch threads), "
                f"EXTRAPOLATED from the first {args.prefix} archs of "
                f"its scoring order of each kind of work unit ({n_timed} archs), each scored with the proxies "
                f"the whole run gives it; not a full run",
        "archs": len(work), "prefix": sum(len(g) for g in kinds.values()), "seed": args.seed,
        "workers": args.workers, "threads": torch.get_num_threads() if args.workers == 1 else None,
        "batch_size": args.batch_size, "memory_format": args.memory_format, "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "note": args.note, "planning_s": plan_s,
        "units": unit_rows, "per_proxy": per_proxy, "projected_wall_s": projected,
        "projected_wall_h": projected / 3600, "target_s": TARGET_S, "meets_target": projected < TARGET_S,
    }
    if args.resume_check:
        result["resume_check"] = resume_check(args.resume_check, args.proxies, args.seed, args.data_dir,
                                               args.memory_format)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{'work unit (proxies)':42s} {'units':>6s} {'timed':>6s} {'s/arch':>7s} {'projected':>10s}")
    for r in unit_rows:
        print(f"{','.join(r['proxies']):42s} {r['units_in_whole_space']:6d} {r['timed_in_prefix']:6d} "
              f"{r['wall_s_per_arch_mean']:7.3f} {r['projected_s'] / 3600:9.2f}h")
    print("per proxy (proxy time only, projected over its calls in the whole space):")
    for p, r in sorted(per_proxy.items(), key=lambda kv: -kv[1]["projected_s"]):
        print(f"  {p:10s} {1000 * r['s_per_call_mean']:8.1f} ms x {r['calls_in_whole_space']:5d} = "
              f"{r['projected_s'] / 3600:.2f} h")
    print(f"projected wall time for all {len(work)} archs: {projected / 3600:.2f} h "
          f"({'under' if projected < TARGET_S else 'OVER'} the 1 h target; extrapolated from {n_timed} archs)")
    print(f"units: {dict((','.join(m), n) for m, n in units.items())}")
    if "resume_check" in result:
        print(f"resume check: {'resumed' if result['resume_check']['resumed'] else 'DID NOT resume'} "
              f"({[r['total_rows'] for r in result['resume_check']['runs']]} store rows after each run)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
