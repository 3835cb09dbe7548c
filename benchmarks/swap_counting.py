"""SWAP's counting step: distinct per-neuron sign patterns over 16 samples, three ways, same activations.

    python benchmarks/swap_counting.py --archs 5 --out benchmarks/results/swap_counting.json

*rows*: the definition, ``unique`` over the rows of sign(acts)^T. *sort*: the earlier zeronas code, signs
packed into one integer per neuron by a weighted sum over the concatenated activations, then ``unique``
(a sort). *bincount*: the current code, each ReLU output packed into integers as it is produced and the
codes counted with ``bincount``. Every way must give the same count; the script checks it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from zeronas.data import load_images, make_batch
from zeronas.errors import int_at_least, run_script
from zeronas.proxies.base import gaussian_init, hooks, relu_modules
from zeronas.proxies.swap import count_distinct_codes, pack_sign_codes
from zeronas.spaces import space as get_space
from zeronas.spaces.nb201 import random_archs


def by_rows(acts):
    return int(torch.unique(torch.sign(acts).T, dim=0).shape[0])


def by_sort(acts):
    signs = torch.sign(acts)
    weights = (2 ** torch.arange(signs.shape[0], dtype=torch.int64)).view(-1, 1)
    return int(torch.unique(((signs > 0).to(torch.int64) * weights).sum(0)).numel())


def by_bincount(outputs):
    codes = torch.cat([pack_sign_codes(o.reshape(o.shape[0], -1)) for o in outputs])
    return count_distinct_codes(codes, outputs[0].shape[0])


def relu_outputs(model, x) -> list[torch.Tensor]:
    outputs = []

    def hook(module, inputs, output):
        if inputs[0].dim() == 4:
            outputs.append(output.detach())

    with hooks([m.register_forward_hook(hook) for m in relu_modules(model)]), torch.no_grad():
        model.train()(x)
    return outputs


def timed(fn, arg, repeats):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn(arg)
        times.append(time.perf_counter() - t0)
    return value, 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int_at_least(1), default=5, help="random NB201 architectures")
    ap.add_argument("--samples", type=int_at_least(1), default=16, help="images per forward (SWAP: 16)")
    ap.add_argument("--repeats", type=int_at_least(1), default=3, help="timings per method; the median is reported")
    ap.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/swap_counting.json"),
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    x = make_batch(load_images("cifar10"), args.samples, 0, 0).x
    rows = []
    for arch in random_archs(args.archs, seed=0):
        model = space.build(arch)
        gaussian_init(model, torch.Generator().manual_seed(0))
        outputs = relu_outputs(model, x)
        acts = torch.cat([o.reshape(o.shape[0], -1) for o in outputs], 1)
        counts, ms = {}, {}
        for name, fn, arg in (("rows", by_rows, acts), ("sort", by_sort, acts), ("bincount", by_bincount, outputs)):
            counts[name], ms[name] = timed(fn, arg, args.repeats)
        if len(set(counts.values())) != 1:
            raise SystemExit(f"counts differ on {space.format(arch)}: {counts}")
        rows.append({"arch": space.format(arch), "neurons": acts.shape[1], "count": counts["rows"], "ms": ms})
        print(f"{acts.shape[1]:>9} neurons  count {counts['rows']:>7}  "
              + "  ".join(f"{k} {v:8.1f} ms" for k, v in ms.items()), flush=True)
    summary = {k: statistics.mean(r["ms"][k] for r in rows) for k in ("rows", "sort", "bincount")}
    print("mean ms per count: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.items())
          + f"; bincount is x{summary['sort'] / summary['bincount']:.1f} faster than sort, "
          f"x{summary['rows'] / summary['bincount']:.1f} than rows")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "threads": args.threads,
                                    "samples": args.samples, "archs": rows, "mean_ms": summary}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
