"""What a full training recipe costs on this machine: time a few real training steps of the recipe's network
on CIFAR-10 and extrapolate to an epoch (50,000 images) and to the whole schedule.

    python benchmarks/train_cost.py --space darts --steps 10
    python benchmarks/train_cost.py --space nb201 --steps 10

Writes benchmarks/results/train_cost_<space>.json. The architecture is DARTS-V2 (darts) or the best NB201
cell (nb201); the time per step hardly depends on which cell of the space is used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ARCHS = {
    "darts": ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
              "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
              "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
              "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
              "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"),
    "nb201": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
}


def main():
    from zeronas.errors import int_at_least

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="darts", choices=sorted(ARCHS),
                    help="space whose architecture is trained (default: %(default)s)")
    ap.add_argument("--steps", type=int_at_least(1), default=10,
                    help="training steps to time (one epoch of steps x batch)")
    ap.add_argument("--threads", type=int_at_least(1), default=2, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default: %(default)s)")
    args = ap.parse_args()
    import torch

    from zeronas.train import recipe_for, train

    torch.set_num_threads(args.threads)
    recipe = recipe_for(args.space)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        s = train(args.space, ARCHS[args.space], tmp, epochs=1, train_subset=args.steps * recipe.batch_size,
                  test_subset=recipe.batch_size, device=args.device, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_step = s["final"]["train_seconds"] / args.steps
    steps_per_epoch = 50_000 // recipe.batch_size
    out = {"space": args.space, "arch": ARCHS[args.space], "recipe": s["recipe"], "params": s["params"],
           "device": args.device, "threads": args.threads, "cpu_count": os.cpu_count(), "steps_timed": args.steps,
           "seconds_per_step": per_step, "seconds_per_epoch_50k": per_step * steps_per_epoch,
           "hours_full_schedule": per_step * steps_per_epoch * recipe.epochs / 3600, "run_wall_s": wall,
           "run_cpu_s": cpu, "final_train_loss": s["final"]["train_loss"]}
    path = Path(__file__).parent / "results" / f"train_cost_{args.space}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"{args.space}: {s['params']:,} params, batch {recipe.batch_size}: {per_step:.2f} s/step -> "
          f"{out['seconds_per_epoch_50k'] / 60:.1f} min per 50k-image epoch -> "
          f"{out['hours_full_schedule']:.0f} h for {recipe.epochs} epochs on {args.device} ({args.threads} threads)")
    print(f"wrote {path}")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
