"""Every zeronas search on the DARTS space, timed on this machine, with the genotype each returns.

    python benchmarks/darts_searches.py --out docs/darts_searches.md

With benchmarks/results/freedarts_protocols.json (``benchmarks/freedarts_protocols.py``) present, the page
also gets the FreeDARTS protocol comparison (5 seeds, op histograms, parameters, the released genotypes).

Each search runs through ``zeronas.search`` and is appended to a JSON-lines file as soon as it finishes (a
killed run resumes). The settings are the reduced CPU ones named in the table unless a row says "paper
settings"; the DARTS-space numbers of the papers need 600-epoch retraining on GPUs and are context only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

from zeronas.errors import int_at_least

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# label -> (method, kwargs, settings note)
SEARCHES = {
    "freedarts-code": ("freedarts", {"protocol": "code"},
                       "ZEROS one-shot, released-code protocol (the default), supernet C=16, 8 cells (paper settings)"),
    "freedarts-code-20cells": ("freedarts", {"protocol": "code", "N": 20},
                               "ZEROS one-shot, released-code protocol, C=16, 20 cells (FreeDARTS-dagger)"),
    "freedarts-code-iterative": ("freedarts", {"protocol": "code", "variant": "iterative"},
                                 "ZEROS iterative (our reading), released-code protocol, C=16, 8 cells"),
    # the labels without "-code" are the float64 BN-bypassed protocol (the default before the code protocol)
    "freedarts": ("freedarts", {"protocol": "bn-bypass"}, "ZEROS one-shot, bn-bypass protocol, C=16, 8 cells"),
    "freedarts-20cells": ("freedarts", {"protocol": "bn-bypass", "N": 20},
                          "ZEROS one-shot, bn-bypass protocol, C=16, 20 cells"),
    "freedarts-iterative": ("freedarts", {"protocol": "bn-bypass", "variant": "iterative"},
                            "ZEROS iterative (our reading), bn-bypass protocol, C=16, 8 cells"),
    "das": ("das", {"n": 20, "batch_size": 32}, "DAS sample-and-rank, N=20, batch 32, network C=16, 8 cells"),
    "das-ft": ("das", {"n": 10, "batch_size": 32, "train_steps": 5},
               "DAS sample-and-rank, N=10, each fast-trained 5 SGD steps (batch 32) first"),
    "zero-cost-pt": ("zero-cost-pt", {"proxy": "nwot", "pool": 2, "validate": 5, "C": 8, "N": 5, "batch_size": 32},
                     "nwot, N=2 proposals, V=5, supernet C=8, 5 cells, batch 32 (paper: N=10, V=100, C=16, 8 cells, "
                     "batch 64)"),
    "te-nas": ("te-nas", {"repeat": 1, "batch_size": 8, "C": 4, "N": 5, "lr_samples": 500},
               "repeat 1, NTK batch 8, supernet C=4, 5 cells, 500x3 LR crops (paper: repeat 3, batch 14, C=16, "
               "8 cells, "
               "1000x3 crops)"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--searches", default=",".join(SEARCHES),
                    help="comma-separated search labels to run (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="search seed (default: %(default)s)")
    ap.add_argument("--threads", type=int_at_least(1), default=2, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--jsonl", type=Path, default=Path("benchmarks/results/darts_searches.jsonl"),
                    help="one JSON line per finished run, appended; rows already there are not rerun (default: "
                         "%(default)s)")
    ap.add_argument("--out", type=Path, default=Path("docs/darts_searches.md"),
                    help="the markdown page written (default: %(default)s)")
    ap.add_argument("--only-stored", action="store_true",
                    help="search nothing; write the page from the rows in --jsonl")
    args = ap.parse_args()
    import torch

    from zeronas.search import search

    torch.set_num_threads(args.threads)
    labels = [s for s in args.searches.split(",") if s]
    unknown = [s for s in labels if s not in SEARCHES]
    if unknown:
        sys.exit(f"error: unknown search(es) {', '.join(unknown)}; choose from {', '.join(SEARCHES)}")
    rows = [json.loads(x) for x in args.jsonl.read_text().splitlines() if x.strip()] if args.jsonl.exists() else []
    have = {(r["label"], r["seed"]) for r in rows}
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    for label in labels if not args.only_stored else []:
        if (label, args.seed) in have:
            continue
        method, kwargs, _ = SEARCHES[label]
        t0, c0 = time.perf_counter(), time.process_time()
        r = search("darts", method, seed=args.seed, data="cifar10", **kwargs)
        row = {"label": label, "method": method, "seed": args.seed, "genotype": r.arch,
               "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
               "evaluations": r.evaluations, "fast_training_seconds": r.protocol.get("fast_training_seconds"),
               "threads": args.threads}
        with args.jsonl.open("a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"{label:22s} {row['seconds']:7.1f}s  {r.arch}", flush=True)
    lines = ["# Searches on the DARTS space", "",
             f"Generated by `python benchmarks/darts_searches.py {shlex.join(sys.argv[1:])}` on "
             f"{datetime.date.today().isoformat()} ({os.cpu_count()} CPU cores, no GPU). Do not edit by hand.", "",
             "Wall and CPU seconds of one search (seed shown) on this machine; other jobs may have shared the CPU, "
             "so CPU seconds are the cleaner cost. The genotypes are untrained: their CIFAR-10 error needs the "
             "600-epoch DARTS recipe (`zeronas train --space darts`), which is not run on this CPU.", "",
             "| search | settings | seed | wall s | CPU s | evaluations | genotype |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        note = SEARCHES.get(r["label"], (None, None, ""))[2]
        lines.append(f"| {r['label']} | {note} | {r['seed']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                     f"{r['evaluations']} | `{r['genotype']}` |")
    protocols = args.jsonl.with_name("freedarts_protocols.json")  # benchmarks/freedarts_protocols.py
    if protocols.exists():
        from freedarts_protocols import markdown

        lines += ["", *markdown(protocols)]
    findings = args.out.with_name(args.out.stem + "_findings.md")
    if findings.exists():  # written by hand after reading the numbers
        lines += ["", findings.read_text()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
