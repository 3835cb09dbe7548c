"""How good correlate's ETA was, replayed from the records of real runs, under each per-arch cost weight.

    python benchmarks/eta_replay.py                      # the committed runs (benchmarks/results/eta_runs/)
    python benchmarks/eta_replay.py --store /tmp/eta.db  # a run of your own (its store, any number of them)

``zeronas correlate`` prints an ETA from a weight per architecture (its relative cost) and the rate the run
has shown (``correlate._Eta``, ``correlate._calibrate``). A run's store keeps, per arch and proxy, the
seconds its scoring took and when its record was written. This script replays those records in the order
they were written, through the same ``_Eta``, with the same calibration (the first 2W + 1 units of each
proxy set, W = ``--workers``, their median cost per weight), and compares the ETA it would have printed
after 1, 2, 3 and 4 minutes with the time the run really had left. That makes the weights comparable on the
same runs, without re-running them and without the machine's load changing between tries:

- ``flops``: NB201's closed-form FLOP count (correlate's weight before 2026-12-07);
- ``flops+median``: that count plus the median over the space (correlate's weight since);
- ``count``: 1 per arch.

The committed runs are ``zeronas correlate --space nb201 --sample 700 --proxies nwot,synflow,snip,jacob_cov,meco
--memory-format channels-last`` (two workers), once beside a niced two-worker job and once on an idle machine
with the FLOP weight, and once with the new weight beside another user's commands (2026-12-07;
docs/peer_speed_findings.md), exported as CSV (arch, proxy, seconds, created) with ``--export``. Writes
``benchmarks/results/eta_replay.json``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sqlite3
import statistics
from pathlib import Path

from zeronas.correlate import _cost_weight, _Eta
from zeronas.errors import UserError, int_at_least, run_script

HERE = Path(__file__).parent
RUNS = HERE / "results" / "eta_runs"
MARKS = (60, 120, 180, 240)


def read_run(path: Path) -> list[tuple[str, str, float, float]]:
    """(arch, proxy, seconds, created) of every NB201 record, failed ones too (an arch's set of proxies is
    what correlate grouped it by): from a store (one run: one protocol per proxy)
    or an exported .csv.gz. UserError (one line) for a missing, foreign or empty file, or a store of several
    runs."""
    if not path.is_file():
        raise UserError(f"{path} is not a file: give a correlate run's store (.db) or a run file (.csv.gz)")
    if not path.name.endswith(".csv.gz"):  # a store: one run of one space, failed rows too (they took time)
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = [tuple(r) for r in con.execute(
                    "SELECT arch, proxy, seconds, created FROM scores WHERE space = 'nb201'")]
                runs = con.execute("SELECT COUNT(DISTINCT protocol_hash) - COUNT(DISTINCT proxy) FROM scores "
                                   "WHERE space = 'nb201'").fetchone()[0]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} is not a zeronas store ({exc}): give a correlate run's store or a .csv.gz "
                            "run file") from None
        if runs:
            raise UserError(f"{path} holds more than one run (a proxy under several protocols): replay a store "
                            "that holds one correlate run")
    else:
        with gzip.open(path, "rt", newline="") as fh:
            rows = [(r["arch"], r["proxy"], float(r["seconds"]), float(r["created"])) for r in csv.DictReader(fh)]
    if not rows:
        raise UserError(f"{path} holds no NB201 scores to replay")
    return rows


def export_run(store: Path, out: Path) -> None:
    rows = read_run(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "proxy", "seconds", "created"])
        w.writerows(rows)


def replay(records, weigh, workers: int) -> dict:
    """The ETA ``_Eta`` prints at each of MARKS seconds after the first record, and the true time left."""
    units: dict[str, dict] = {}
    for arch, proxy, seconds, created in records:
        units.setdefault(arch, {})[proxy] = (seconds, created)
    done = sorted((max(t for _, t in d.values()), a, tuple(sorted(d))) for a, d in units.items())
    sets: dict[tuple, list] = {}
    for t, a, k in done:
        sets.setdefault(k, []).append((t, a))
    order = sorted(sets, key=len)  # as correlate runs them: cheap sets first
    n_cal = 2 * workers + 1
    cost = {k: statistics.median(sum(units[a][p][0] for p in k) / weigh(a) for _, a in sets[k][:n_cal])
            for k in order}
    clock = [0.0]
    eta = _Eta([([weigh(a) for _, a in sets[k][n_cal:]], cost[k]) for k in order], clock=lambda: clock[0])
    start, end = done[0][0], done[-1][0]
    marks, out = list(MARKS), {}
    t_prev = max(t for k in order for t, _ in sets[k][:n_cal])  # calibration ends, the run starts
    for g, k in enumerate(order):
        clock[0] = t_prev
        eta.start(g, settle=2 * workers if workers > 1 else 1)
        for t, a in sets[k][n_cal:]:
            clock[0] = t
            while marks and t - start >= marks[0]:
                left, true = eta.left(), end - t
                out[str(marks[0])] = {"eta_s": left, "true_s": true,
                                      "error": None if left is None else (left - true) / true}
                marks.pop(0)
            eta.done(g, weigh(a))
        t_prev = sets[k][-1][0] if len(sets[k]) > n_cal else t_prev
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, action="append", default=None,
                    help="a correlate run's store (repeatable; default: the committed runs)")
    ap.add_argument("--workers", type=int_at_least(1), default=2, help="the runs' --workers (default: %(default)s)")
    ap.add_argument("--export", type=Path, default=None,
                    help="write the one --store given as a .csv.gz run file here (for benchmarks/results/eta_runs)")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "eta_replay.json",
                    help="the JSON written (default: %(default)s)")
    args = ap.parse_args()
    if args.export:
        if not args.store or len(args.store) != 1:
            raise UserError("--export takes exactly one --store (the run to write)")
        export_run(args.store[0], args.export)
        print(f"wrote {args.export}")
        return
    paths = args.store or sorted(RUNS.glob("*.csv.gz"))
    if not paths:
        raise UserError(f"no runs to replay: pass --store DB (none in {RUNS})")
    import zeronas

    sp = zeronas.space("nb201")
    flops = _cost_weight(sp)
    fixed = flops(sp.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")) - sp.count_flops(
        sp.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    weights = {"flops": lambda a: max(flops(a) - fixed, 1.0), "flops+median": flops, "count": lambda a: 1.0}
    result = {"workers": args.workers, "marks_s": list(MARKS), "runs": {}}
    wide = max(len(p.name) for p in paths)
    print(f"{'run':<{wide}} {'weight':<14} " + " ".join(f"{m:>4}s" for m in MARKS) + "   (ETA error: + long, - short)")
    for path in paths:
        records = read_run(path)
        result["runs"][path.name] = {}
        for name, w in weights.items():
            got = replay(records, w, args.workers)
            result["runs"][path.name][name] = got
            cells = [f"{got[str(m)]['error'] * 100:+4.0f}%" if str(m) in got and got[str(m)]["error"] is not None
                     else "   — " for m in MARKS]
            print(f"{path.name:<{wide}} {name:<14} " + " ".join(cells))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    run_script(main)
