"""FreeDARTS's two ZEROS protocols (``code``: the released notebooks; ``bn-bypass``: ours) on DARTS and NB201.

    python benchmarks/freedarts_protocols.py --released /tmp/freedarts_genotypes.py

DARTS, seeds 0-4: the genotypes, their op histogram (normal + reduce, 16 ops per seed), the parameters of
each genotype's CIFAR-10 evaluation network (C=36, 20 cells, no auxiliary head) and R (the notebook prints
R = 0.2526 for seed 0 with 8 cells, 0.4065 with 20). Numerical stability of the code protocol: the same
supernet and alpha in float64, and with softmax(alpha) mixing instead of the raw alpha. ``--released``: the
authors' ``DARTS_CNN/genotypes.py`` (github.com/anonymous-submission1991/FreeDARTS, commit b64bfdc; it is
not copied into this project): its SYNFLOW one-shot genotypes are parsed and compared with ours. NB201,
seeds 0-4: the architecture each protocol finds and its test accuracy in the NB201 table, and the stored
NB201 notebook run (alpha = 1) rebuilt to show where its NaN comes from. Prints, and writes JSON.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SEEDS = (0, 1, 2, 3, 4)
NOTEBOOK_R = {8: 0.2526, 20: 0.4065}  # printed by the released notebooks for seed 0 (8 and 20 cells)


def pairs(g):
    return list(g.normal) + list(g.reduce)


def histogram(genotypes) -> dict:
    c = collections.Counter(op for g in genotypes for op, _ in pairs(g))
    return dict(sorted(c.items(), key=lambda t: (-t[1], t[0])))


def overlap(a, b) -> dict:
    """Per node (8 per genotype), how many of the 2 chosen inputs agree and how many (op, input) pairs agree."""
    same_inputs = same_pairs = 0
    for k in range(0, 16, 2):
        pa, pb = pairs(a)[k:k + 2], pairs(b)[k:k + 2]
        same_inputs += sum((collections.Counter(i for _, i in pa) & collections.Counter(i for _, i in pb)).values())
        same_pairs += sum((collections.Counter(pa) & collections.Counter(pb)).values())
    return {"same_inputs": same_inputs, "same_pairs": same_pairs}


def released_genotypes(path: Path, space) -> dict:
    """``{cells: {seed: Genotype}}`` from the authors' genotypes.py (the SYNFLOW one-shot entries)."""
    out: dict[int, dict[int, object]] = {8: {}, 20: {}}
    pat = re.compile(r"^SYNFLOW_oneshot(_20cells)?_seed(\d+)\s*=\s*(Genotype\(.*\))\s*$")
    for line in path.read_text().splitlines():
        m = pat.match(line.strip())
        if m:
            out[20 if m.group(1) else 8][int(m.group(2))] = space.parse(m.group(3))
    return out


def params_c36(space, g) -> int:
    from zeronas.spaces.darts import count_parameters

    return count_parameters(space.build(g, C=36, N=20, num_classes=10))


def code_scores(space, seed, N, *, dtype=None, mixing=None, alpha_init="random", C=16):
    """The code protocol's [E, O] scores and R for one seed, optionally in float64 or with another mixing."""
    import torch

    from zeronas.proxies.zeros import connection_sensitivity_code
    from zeronas.search.freedarts import code_supernet

    sup, alpha = code_supernet(space, seed, C, N, 10, alpha_init)
    return connection_sensitivity_code(sup, alpha, (1, 3, 32, 32), abs_alpha=space.name == "nb201",
                                       dtype=dtype or torch.float32, mixing=mixing)


def genotype_from(space, scores):
    s = scores.clone()
    s[:, space.ops.index("none")] = float("-inf")
    return space.from_edge_scores(s)


def darts_part(args, log) -> dict:
    import torch

    import zeronas as zn
    from zeronas.search import search

    space = zn.space("darts")
    res: dict = {"runs": [], "stability": [], "released": {}, "comparison": {}}
    for N in (8, 20):
        for protocol in ("code", "bn-bypass"):
            if N == 20 and protocol == "bn-bypass":
                continue  # the fault report already has it (sep_conv_5x5 everywhere); 20 cells is the slow one
            for seed in SEEDS:
                t0, c0 = time.perf_counter(), time.process_time()
                r = search("darts", "freedarts", seed=seed, protocol=protocol, N=N)
                g = space.parse(r.arch)
                row = {"protocol": protocol, "cells": N, "seed": seed, "genotype": r.arch,
                       "params_c36_20cells": params_c36(space, g), "R": r.protocol.get("R"),
                       "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
                res["runs"].append(row)
                log(f"darts {protocol:9s} {N:2d} cells seed {seed}: {row['params_c36_20cells'] / 1e6:.3f}M params "
                    f"R={row['R']}  {r.arch}")
    for seed in SEEDS:  # the code protocol's sensitivity to rounding: same supernet and alpha, other numerics
        base = next(r for r in res["runs"] if r["protocol"] == "code" and r["cells"] == 8 and r["seed"] == seed)
        g32 = space.parse(base["genotype"])
        s32, _ = code_scores(space, seed, 8)
        row = {"seed": seed}
        for label, kw in (("float64", {"dtype": torch.float64}),
                          ("softmax", {"mixing": lambda a: torch.softmax(a, dim=-1)})):
            s, r = code_scores(space, seed, 8, **kw)
            g = genotype_from(space, s)
            keep = s32.flatten() > 0
            corr = torch.corrcoef(torch.stack([s32.flatten()[keep].double(), s.flatten()[keep].double()]))[0, 1]
            row[label] = {"genotype": space.format(g), "R": r, "score_corr_vs_float32": float(corr),
                          **overlap(g, g32)}
        res["stability"].append(row)
        log(f"darts code seed {seed}: float64 keeps {row['float64']['same_pairs']}/16 pairs (score corr "
            f"{row['float64']['score_corr_vs_float32']:.2f}); softmax mixing keeps {row['softmax']['same_pairs']}/16")
    ours = {(r["protocol"], r["cells"]): [space.parse(x["genotype"]) for x in res["runs"]
                                          if (x["protocol"], x["cells"]) == (r["protocol"], r["cells"])]
            for r in res["runs"]}
    res["histograms"] = {f"{p} {n} cells": histogram(gs) for (p, n), gs in ours.items()}
    res["histograms"]["code 8 cells, float64"] = histogram(space.parse(r["float64"]["genotype"])
                                                           for r in res["stability"])
    res["histograms"]["code 8 cells, softmax mixing"] = histogram(space.parse(r["softmax"]["genotype"])
                                                                  for r in res["stability"])
    if args.released:
        rel = released_genotypes(args.released, space)
        for N in (8, 20):
            theirs = [rel[N][s] for s in SEEDS if s in rel[N]]
            if not theirs:
                continue
            res["released"][f"{N} cells"] = {str(s): {"genotype": space.format(rel[N][s]),
                                                      "params_c36_20cells": params_c36(space, rel[N][s])}
                                             for s in SEEDS if s in rel[N]}
            res["histograms"][f"released {N} cells"] = histogram(theirs)
            mine = ours[("code", N)]
            same = [overlap(mine[s], rel[N][s]) | {"seed": s} for s in SEEDS if s in rel[N]]
            cross = [overlap(mine[s], rel[N][t])["same_pairs"] for s in SEEDS for t in SEEDS if s != t and t in rel[N]]
            res["comparison"][f"{N} cells"] = {"same_seed": same, "cross_seed_mean_same_pairs": statistics.mean(cross)}
            log(f"released {N} cells: same-seed pairs in common {[x['same_pairs'] for x in same]} of 16 "
                f"(other seeds: {statistics.mean(cross):.1f})")
        res["released_source"] = ("github.com/anonymous-submission1991/FreeDARTS @ b64bfdc, DARTS_CNN/genotypes.py "
                                  "(SYNFLOW_oneshot_seed0-4, SYNFLOW_oneshot_20cells_seed0-4)")
    for k, h in res["histograms"].items():
        log(f"histogram {k}: {h}")
    return res


def nb201_part(args, log) -> dict:
    import torch

    import zeronas as zn
    from zeronas.errors import UserError
    from zeronas.search import search
    from zeronas.search.freedarts import _check_code_scores

    space = zn.space("nb201")
    res: dict = {"runs": []}
    for protocol in ("code", "bn-bypass"):
        for seed in SEEDS:
            r = search("nb201", "freedarts", seed=seed, protocol=protocol)
            b = r.benchmark
            row = {"protocol": protocol, "seed": seed, "arch": r.arch, "R": r.protocol.get("R"),
                   **{k: b.get(k) for k in ("cifar10", "cifar100", "imagenet16-120")}}
            if protocol == "code":
                s, _ = code_scores(space, seed, 5, dtype=torch.float64)
                row["arch_float64"] = space.format(genotype_from(space, s))
            res["runs"].append(row)
            log(f"nb201 {protocol:9s} seed {seed}: {r.arch}  C10 {row['cifar10']} C100 {row['cifar100']} "
                f"IN16 {row['imagenet16-120']}")
    res["mean"] = {p: {k: statistics.mean(r[k] for r in res["runs"] if r["protocol"] == p)
                       for k in ("cifar10", "cifar100", "imagenet16-120")}
                   for p in ("code", "bn-bypass") if all(r["cifar10"] is not None for r in res["runs"])}
    # the stored NB201 notebook run: alpha = 1 (made absolute), seed 4
    s, r = code_scores(space, 4, 5, alpha_init="ones")
    mask = torch.ones_like(s, dtype=torch.bool)
    mask[:, space.ops.index("none")] = False
    try:
        _check_code_scores(s, mask, r, "nb201")
        verdict = "accepted"
    except UserError as e:
        verdict = f"UserError: {e}"
    res["notebook_run_alpha_ones"] = {"seed": 4, "R": r, "finite": bool(torch.isfinite(s).all()),
                                      "all_zero": bool((s == 0).all()), "search_says": verdict}
    log(f"nb201 alpha=1 (stored notebook run): R={r}, finite={res['notebook_run_alpha_ones']['finite']}, "
        f"all zero={res['notebook_run_alpha_ones']['all_zero']} -> {verdict}")
    return res


def markdown(path: Path) -> list[str]:
    """The FreeDARTS protocol section of docs/darts_searches.md, from this script's JSON."""
    d = json.loads(path.read_text())
    dm, nb = d["darts"], d["nb201"]
    lines = ["## FreeDARTS: the released code's protocol vs ours", "",
             f"Generated by `{d['command']}` on {d['date']} ({d['threads']} torch thread). `code`: the released "
             "notebooks' ZEROS (raw alpha = 1e-3 N(0,1) as mixing weights, |theta|, train-mode BN on one all-ones "
             "image, float32, |alpha dR/dalpha|); `bn-bypass`: ours (float64, BN bypassed, softmax weights at "
             "alpha = 0). Params: the genotype's CIFAR-10 evaluation network, C=36, 20 cells, no auxiliary head.", "",
             "| protocol | cells | seed | R | params (M) | genotype |", "|---|---|---|---|---|---|"]
    for r in dm["runs"]:
        R = "" if r["R"] is None else f"{r['R']:.4f}"
        lines.append(f"| {r['protocol']} | {r['cells']} | {r['seed']} | {R} | {r['params_c36_20cells'] / 1e6:.3f} | "
                     f"`{r['genotype']}` |")
    for key, rel in dm["released"].items():
        for s, x in rel.items():
            lines.append(f"| released | {key.split()[0]} | {s} |  | {x['params_c36_20cells'] / 1e6:.3f} | "
                         f"`{x['genotype']}` |")
    ops = sorted({op for h in dm["histograms"].values() for op in h})
    lines += ["", "Op histogram over seeds 0-4 (16 ops per genotype, 80 in all):", "",
              "| genotypes | " + " | ".join(ops) + " |", "|---|" + "---|" * len(ops)]
    for k, h in dm["histograms"].items():
        lines.append(f"| {k} | " + " | ".join(str(h.get(op, 0)) for op in ops) + " |")
    if dm["comparison"]:
        lines += ["", "Agreement with the released genotype of the same seed (of 16: chosen inputs per node, and "
                  "identical (op, input) pairs), against the mean over other seeds' released genotypes:", "",
                  "| cells | seed | same inputs | same pairs |", "|---|---|---|---|"]
        for key, c in dm["comparison"].items():
            for x in c["same_seed"]:
                lines.append(f"| {key.split()[0]} | {x['seed']} | {x['same_inputs']} | {x['same_pairs']} |")
            lines.append(f"| {key.split()[0]} | other seeds (mean) |  | {c['cross_seed_mean_same_pairs']:.1f} |")
    lines += ["", "Rounding sensitivity of the code protocol (8 cells): the same supernet and alpha in float64, and "
              "with softmax(alpha) mixing; pairs kept of the float32 genotype's 16, and the correlation of the "
              "[28, 8] scores with float32's:", "", "| seed | float64: pairs kept | float64: score corr | "
              "softmax: pairs kept |", "|---|---|---|---|"]
    for r in dm["stability"]:
        lines.append(f"| {r['seed']} | {r['float64']['same_pairs']} | {r['float64']['score_corr_vs_float32']:.2f} | "
                     f"{r['softmax']['same_pairs']} |")
    lines += ["", "NB201 (C=16, N=5), test accuracy from the NB201 table:", "",
              "| protocol | seed | arch | CIFAR-10 | CIFAR-100 | IN16-120 | code in float64 |",
              "|---|---|---|---|---|---|---|"]
    for r in nb["runs"]:
        f64 = r.get("arch_float64")
        f64 = "" if f64 is None else "same" if f64 == r["arch"] else f"`{f64}`"
        lines.append(f"| {r['protocol']} | {r['seed']} | `{r['arch']}` | {r['cifar10']:.2f} | {r['cifar100']:.2f} | "
                     f"{r['imagenet16-120']:.2f} | {f64} |")
    for p, m in nb.get("mean", {}).items():
        lines.append(f"| {p} | mean |  | {m['cifar10']:.2f} | {m['cifar100']:.2f} | {m['imagenet16-120']:.2f} |  |")
    o = nb["notebook_run_alpha_ones"]
    lines += ["", f"The stored NB201 notebook run rebuilt (alpha = 1, seed {o['seed']}): R = {o['R']:.4g}, scores "
              f"finite: {o['finite']}, all zero: {o['all_zero']}; the search: {o['search_says']}"]
    return lines


def main():
    from zeronas.errors import int_at_least

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--released", type=Path, help="the authors' DARTS_CNN/genotypes.py, to compare with")
    ap.add_argument("--threads", type=int_at_least(1), default=1, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/freedarts_protocols.json"),
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    def log(msg):
        print(msg, flush=True)

    cmd = "python benchmarks/freedarts_protocols.py " + shlex.join(sys.argv[1:])
    out = {"command": cmd.strip(), "date": datetime.date.today().isoformat(), "threads": args.threads,
           "torch": torch.__version__, "darts": darts_part(args, log), "nb201": nb201_part(args, log)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {args.json}")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
