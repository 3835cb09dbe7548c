"""Two zeronas jobs sharing this machine's cores: wall time alone, two at once with torch's default threads,
and two at once with ``--threads 1`` each (same run, the configurations interleaved).

    python benchmarks/side_by_side.py --repeats 2

The job is a CLI search (``--job`` replaces its arguments). Multi-threaded torch processes side by side make
their OpenMP threads spin-wait for cores the other job holds; ``--threads 1`` gives each job one thread.
Writes ``benchmarks/results/side_by_side.json``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

JOB = "search --method random --proxy nwot --data cifar10 --budget 40 --seed {seed}"


def run_jobs(args: str, copies: int, threads: int | None) -> list[float]:
    """Start ``copies`` CLI processes at once; each one's wall seconds."""
    procs = []
    for i in range(copies):
        cmd = [sys.executable, "-m", "zeronas", *shlex.split(args.format(seed=i))]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        procs.append((time.perf_counter(), subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                                              stderr=subprocess.PIPE, text=True)))
    walls = []
    for t0, p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"a job failed (rc {p.returncode}): {err.strip().splitlines()[-1:]}")
        walls.append(time.perf_counter() - t0)
    return walls


def main():
    from zeronas.errors import int_at_least

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", default=JOB, help="zeronas arguments of one job ({seed} = the copy's index)")
    ap.add_argument("--repeats", type=int_at_least(1), default=2, help="rounds of the three configurations")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "side_by_side.json",
                    help="the JSON results written (default: %(default)s)")
    a = ap.parse_args()
    configs = {"alone, default threads": (1, None), "two at once, default threads": (2, None),
               "two at once, --threads 1": (2, 1), "alone, --threads 1": (1, 1)}
    walls: dict[str, list[float]] = {k: [] for k in configs}
    for r in range(a.repeats):
        for name, (copies, threads) in configs.items():
            w = run_jobs(a.job, copies, threads)
            walls[name] += w
            print(f"round {r}: {name}: {', '.join(f'{x:.1f}' for x in w)} s", flush=True)
    summary = {k: statistics.median(v) for k, v in walls.items()}
    for k, v in summary.items():
        print(f"{k:32s} median {v:7.1f} s per job")
    res = dict(job=a.job, cores=os.cpu_count(), repeats=a.repeats, walls=walls, median_s=summary,
               slowdown_default=summary["two at once, default threads"] / summary["alone, default threads"],
               slowdown_threads1=summary["two at once, --threads 1"] / summary["alone, default threads"])
    print(f"two jobs at once vs one alone: {res['slowdown_default']:.2f}x with default threads, "
          f"{res['slowdown_threads1']:.2f}x with --threads 1")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    from zeronas.jsonio import write

    write(a.out, res)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
