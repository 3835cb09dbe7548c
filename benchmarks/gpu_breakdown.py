"""Where one NB201 architecture's time goes on a GPU: building the network on the CPU, moving it to the
device, and a forward pass there, at several torch CPU thread counts (issue 24, item 5; docs/gpu.md).

    python benchmarks/gpu_breakdown.py --device cuda --out benchmarks/results/gpu_breakdown.json
    python benchmarks/gpu_breakdown.py --device cpu --archs 3     # smoke run (no GPU figures)

Per thread count, over ``--archs`` seeded NB201 archs (medians, ms, the device synchronised around each step):
``build`` (``space.build`` under a forked seeded RNG, as ``ScoringContext.build`` does), ``move``
(``Module.to(device)``: one host-to-device copy per parameter and buffer), ``move_flat`` (the same tensors
copied in one transfer per dtype and viewed back: what a flat copy would save), ``forward`` (batch of 64
random images, no grad) and ``forward_hooked`` (the same with a no-op forward hook on every module, as meco,
nwot and the counts hook them). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def flat_move(model, device, torch):
    """Every parameter and buffer copied to ``device`` in one transfer per dtype, then viewed back."""
    tensors = {}
    for m in model.modules():
        for store in (m._parameters, m._buffers):
            for t in store.values():
                if t is not None:
                    tensors.setdefault(id(t), t)
    by_dtype: dict = {}
    for t in tensors.values():
        by_dtype.setdefault(t.dtype, []).append(t)
    moved = {}
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group]).to(device)
        offset = 0
        for t in group:
            moved[id(t)] = flat[offset:offset + t.numel()].view_as(t)
            offset += t.numel()
    for m in model.modules():
        for p in m._parameters.values():
            if p is not None:
                p.data = moved[id(p)]
        for name, b in m._buffers.items():
            if b is not None:
                m._buffers[name] = moved[id(b)]
    return model


def timed(sync, fn, *args):
    """fn(*args) and its milliseconds, the device synchronised before and after."""
    sync()
    t = time.perf_counter()
    out = fn(*args)
    sync()
    return out, 1000 * (time.perf_counter() - t)


def build(sp, arch, torch):
    with torch.random.fork_rng(devices=[]):  # seeded, as ScoringContext.build
        torch.manual_seed(0)
        return sp.build(arch, num_classes=10)


def no_op(*args):
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (a smoke run: no GPU figures)")
    ap.add_argument("--archs", type=int, default=20, help="timed NB201 archs per thread count (after 2 warm-up)")
    ap.add_argument("--threads", default="1,4,16", help="torch CPU thread counts, comma-separated")
    ap.add_argument("--out", default=None, help="JSON file to write (default: print only)")
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    from zeronas.spaces import space

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing measured", file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sp = space("nb201")
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(args.archs + 2)]
    x = torch.randn(64, 3, 32, 32).to(dev)
    rows = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        steps: dict[str, list[float]] = {k: [] for k in ("build", "move", "move_flat", "forward", "forward_hooked")}
        for i, arch in enumerate(archs):
            net, t_build = timed(sync, build, sp, arch, torch)
            net, t_move = timed(sync, net.to, dev)
            net2, t_flat = timed(sync, flat_move, build(sp, arch, torch), dev, torch)
            with torch.no_grad():
                _, t_fwd = timed(sync, net, x)
                handles = [m.register_forward_hook(no_op) for m in net.modules()]
                _, t_hooked = timed(sync, net, x)
                for h in handles:
                    h.remove()
            if i >= 2:  # warm-up
                for k, v in zip(steps, (t_build, t_move, t_flat, t_fwd, t_hooked)):
                    steps[k].append(v)
        rows[str(threads)] = {k: statistics.median(v) for k, v in steps.items()}
        print(f"threads {threads:2d}: " + "  ".join(f"{k} {v:7.2f} ms" for k, v in rows[str(threads)].items()),
              flush=True)
    net = sp.build(archs[0], num_classes=10)
    result = {"what": "median ms per NB201 arch by step (benchmarks/gpu_breakdown.py)", "device": str(dev),
              "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
              "torch": torch.__version__, "archs": args.archs, "modules": len(list(net.modules())),
              "tensors": len(list(net.parameters())) + len(list(net.buffers())), "by_threads": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
