"""zeronas on a GPU, in one prepared run: archs/s per proxy on the device, and device values against CPU values.

    bash benchmarks/gpu_check.sh                                   # a machine with CUDA: the full check, < 8 min
    bash benchmarks/gpu_check.sh --device cpu --archs 4 --agree-archs 3 --proxy-seconds 5   # CPU smoke

Phases, run in the order a, b (API), c, b (CLI), d (the JSON is rewritten after each, so a hard stop keeps
what was done, and the agreement check comes before the CLI runs when time is short):

a. environment: torch, its CUDA and cuDNN, the device's name, capability, memory, multiprocessors, and the
   float32 precision flags (PyTorch lets cuDNN convolutions use TF32 by default on Ampere and later).
b. speed through the public API: for every proxy (and the frozen ensemble zeronas-v1, its members scored
   together as a search does) one ``zeronas.Scorer`` is set up (data loaded, batches put on the device once)
   and ``Scorer.score_arch`` is called in a loop over ``--archs`` seeded NB201 architectures: network
   construction, its upload and the scoring are timed, set-up and ``--warmup`` architectures are not; the
   device is synchronised around every architecture. Each proxy stops after ``--proxy-seconds``. A short row
   also times ``zeronas.score(arch, ...)`` called once per architecture, which sets everything up again on
   every call (what a loop over ``zeronas.score`` costs, against reusing one Scorer or passing a list).
   Then the CLI path users take to score many: ``zeronas correlate ... --device D --workers W`` into a
   throw-away store, per proxy group and worker count; archs/s is the CLI's own "scored now" count over its
   wall seconds (executor set-up, scoring and store writes), process start and table loading are reported
   apart. Isomorphic architectures are scored once there for proxies that share them, as in real use.
c. agreement: the same ``--agree-archs`` architectures, same seed, scored on the CPU and on the device (on CUDA
   twice: with PyTorch's default float32 flags and with TF32 off around the phase, "ieee"; zeronas turns TF32
   off while it scores in both, so the first checks that the user's flags cannot bring it back); per proxy the
   per-arch Spearman,
   max relative and absolute difference, and whether the values are equal bit for bit. Every proxy measured
   here is deterministic given the seed (zeronas draws initial weights and random inputs from CPU generators,
   so both devices see the same network and inputs): PASS when Spearman >= 0.99 and the same architectures
   are non-finite on both sides. With ``--device cpu`` this compares the CPU with itself and must be exact.
d. a verdict per target: every data-free proxy >= 50 archs/s, nwot >= 20 archs/s (GPU targets; on the CPU the
   verdict is "n/a" and the figures are labelled CPU smoke).

Exit status: 0 measured and every agreement check passed (speed verdicts are reported, never an exit status);
1 an agreement check failed; 2 nothing measured: ``--device cuda`` on a machine where torch sees no CUDA device
(one line on stderr, "no CUDA device: nothing measured ..."; no JSON written) or a malformed argument.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROXIES = "synflow,params,flops,zen,meco,nwot,snip,grad_norm,jacob_cov"
DEFAULT_ENSEMBLES = "zeronas-v1"
DEFAULT_CLI_GROUPS = "synflow,params,flops,zen,meco;nwot"
TARGETS = {"data-free": 50.0, "nwot": 20.0}  # archs/s on the GPU (issue 24, item 5)
AGREE = 0.99


def parse_args(argv=None):
    from zeronas.errors import int_at_least

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (cpu: a smoke run, not GPU figures)")
    ap.add_argument("--proxies", default=DEFAULT_PROXIES, help="proxies timed and compared, comma-separated")
    ap.add_argument("--ensembles", default=DEFAULT_ENSEMBLES,
                    help="frozen ensembles timed as one set of proxies per arch ('' for none)")
    ap.add_argument("--archs", type=int_at_least(1), default=200, help="timed NB201 archs per proxy (API loop)")
    ap.add_argument("--warmup", type=int_at_least(1), default=2, help="untimed archs before each proxy's timing")
    ap.add_argument("--proxy-seconds", type=float, default=15.0, help="cap on each proxy's timed loop")
    ap.add_argument("--per-call-archs", type=int_at_least(0), default=5,
                    help="archs for the zeronas.score-per-call row (0: skip)")
    ap.add_argument("--cli-groups", default=DEFAULT_CLI_GROUPS,
                    help="proxy groups for the CLI path, ';' between groups ('' or 'none': skip the CLI path)")
    ap.add_argument("--cli-archs", type=int_at_least(1), default=200, help="NB201 sample size of each CLI run")
    ap.add_argument("--cli-workers", default=None,
                    help="worker counts for the CLI runs, comma-separated (default: 1,4 on CUDA, 1 on the CPU)")
    ap.add_argument("--cli-seconds", type=float, default=90.0, help="cap on the whole CLI phase")
    ap.add_argument("--agree-archs", type=int_at_least(1), default=20, help="archs scored on both devices")
    ap.add_argument("--agree-seconds", type=float, default=120.0, help="cap on the agreement phase")
    ap.add_argument("--budget", type=float, default=450.0,
                    help="seconds for everything; phases are cut to what is left (gpu_check.sh kills at 480)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=64,
                    help="images per proxy batch (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the architecture sample, the image batch and the initial weights (default: "
                         "%(default)s)")
    ap.add_argument("--data", default="auto",
                    help="auto (CIFAR-10 when found, else data-free proxies only), cifar10, none")
    ap.add_argument("--data-dir", default=None, help="the data folder (else $ZERONAS_DATA, ../shared/data, ...)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON path (default benchmarks/results/gpu_check.json; on the CPU gpu_check_cpu_smoke.json)")
    args = ap.parse_args(argv)
    for name in ("archs", "agree_archs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# ---- helpers ------------------------------------------------------------------------------------------------

class Clock:
    """The overall budget: each phase gets min(its cap, what is left)."""

    def __init__(self, budget: float):
        self.t0, self.budget = time.perf_counter(), budget

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def cap(self, phase_cap: float) -> float:
        return max(0.0, min(phase_cap, self.left()))


def precision_flags(torch) -> dict:
    """The float32 precision flags, read through the API PyTorch wants (reading the legacy ``allow_tf32`` after
    the new one was set raises)."""
    out = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        out["cudnn_conv_fp32_precision"] = conv.fp32_precision
        out["cuda_matmul_fp32_precision"] = torch.backends.cuda.matmul.fp32_precision
    else:
        out["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        out["cuda_matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return out


@contextlib.contextmanager
def fp32_mode(torch, mode: str):
    """``torch-default``: leave the flags (zeronas itself turns TF32 off while it scores: zeronas.precision);
    ``ieee``: TF32 off around the whole phase as well."""
    from zeronas.precision import ieee_float32

    with ieee_float32("cuda" if mode == "ieee" else "cpu"):
        yield


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rho of two equal-length lists; 1.0 when they are equal element for element (also n < 3)."""
    if a == b:
        return 1.0
    if len(a) < 3:
        return math.nan
    from scipy.stats import spearmanr

    rho = spearmanr(a, b).statistic
    return float(rho)


def compare(ref: list[float], dev: list[float]) -> dict:
    """Per-arch agreement of two value lists (same archs, same order)."""
    finite_ref = [math.isfinite(v) for v in ref]
    finite_dev = [math.isfinite(v) for v in dev]
    mismatch = sum(x != y for x, y in zip(finite_ref, finite_dev))
    pairs = [(r, d) for r, d, fr, fd in zip(ref, dev, finite_ref, finite_dev) if fr and fd]
    rs, ds = [p[0] for p in pairs], [p[1] for p in pairs]
    same_nonfinite = all(r == d or (math.isnan(r) and math.isnan(d))
                         for r, d, fr, fd in zip(ref, dev, finite_ref, finite_dev) if not (fr and fd))
    abs_diff = [abs(d - r) for r, d in pairs]
    rel_diff = [abs(d - r) / abs(r) if r != 0 else (0.0 if d == 0 else math.inf) for r, d in pairs]
    rho = spearman(rs, ds) if pairs else math.nan
    exact = mismatch == 0 and same_nonfinite and rs == ds
    if mismatch:
        verdict = "FAIL"
    elif not pairs or math.isnan(rho):
        verdict = "PASS" if exact else "n/a"  # too few finite archs to rank
    else:
        verdict = "PASS" if rho >= AGREE else "FAIL"
    return {"archs": len(ref), "finite_both": len(pairs), "nonfinite_mismatch": mismatch, "spearman": rho,
            "max_rel_diff": max(rel_diff, default=0.0), "max_abs_diff": max(abs_diff, default=0.0),
            "exact": exact, "verdict": verdict}


def clean(obj):
    """JSON without NaN/inf (written as strings)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


# ---- phases -------------------------------------------------------------------------------------------------

def environment(torch, zn, device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
           "zeronas": zn.__version__, "git_commit": git_commit(), "platform": platform.platform(),
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
           "fp32_flags": precision_flags(torch)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        free, total = torch.cuda.mem_get_info(device)
        env.update({"cuda_device_name": props.name, "cuda_capability": f"{props.major}.{props.minor}",
                    "cuda_memory_gib": round(total / 2**30, 1), "cuda_memory_free_gib": round(free / 2**30, 1),
                    "cuda_multiprocessors": props.multi_processor_count,
                    "cudnn": torch.backends.cudnn.version(), "cuda_device_count": torch.cuda.device_count()})
    return env


def make_scorer(zn, names, args):
    return zn.Scorer("nb201", list(names), data=args.data, data_dir=args.data_dir, batch_size=args.batch_size,
                     seed=args.seed, device=args.device, skip_unavailable=True)


def time_api(torch, zn, label, names, archs, warm, cap, args, sync) -> dict:
    """One Scorer for ``names``; score_arch over ``archs`` until ``cap`` seconds have passed."""
    t = time.perf_counter()
    scorer = make_scorer(zn, names, args)
    setup = time.perf_counter() - t
    if not scorer.proxies:
        return {"proxies": list(names), "skipped": f"needs images and none were found ({scorer.data_note})"}
    on_cuda = scorer.device.type == "cuda"
    for a in warm:
        scorer.score_arch(a)
    sync()
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(scorer.device)
    per_arch, errors, nonfinite = [], 0, 0
    t0 = time.perf_counter()
    for a in archs:
        t = time.perf_counter()
        recs = scorer.score_arch(a)
        sync()
        per_arch.append(time.perf_counter() - t)
        errors += sum(r.error is not None for r in recs)
        nonfinite += sum(r.error is None and not math.isfinite(r.value) for r in recs)
        if time.perf_counter() - t0 >= cap:
            break
    total = time.perf_counter() - t0
    row = {"proxies": [p.name for p in scorer.proxies], "archs": len(per_arch), "seconds": total,
           "archs_per_s": len(per_arch) / total if total > 0 else math.nan,
           "ms_per_arch_median": 1000 * statistics.median(per_arch), "ms_per_arch_max": 1000 * max(per_arch),
           "setup_seconds": setup, "warmup_archs": len(warm), "errors": errors, "nonfinite_values": nonfinite,
           "stopped_at_cap": len(per_arch) < len(archs), "data": scorer.dataset}
    if scorer.skipped:
        row["skipped_members"] = scorer.skipped
    if on_cuda:
        row["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(scorer.device) / 2**20, 1)
    print(f"  {label:14s} {row['archs_per_s']:8.1f} archs/s  ({row['archs']} archs, "
          f"median {row['ms_per_arch_median']:.1f} ms/arch)", flush=True)
    return row


def time_per_call(zn, name, archs, cap, args, sync) -> dict:
    """``zeronas.score(arch, proxies=[name], ...)`` once per arch: set-up (data, batch upload) on every call."""
    kwargs = {"data": args.data, "data_dir": args.data_dir, "batch_size": args.batch_size, "seed": args.seed,
              "device": args.device, "skip_unavailable": True}
    per_arch = []
    t0 = time.perf_counter()
    for a in archs:
        t = time.perf_counter()
        recs = zn.score(a, [name], **kwargs)
        sync()
        per_arch.append(time.perf_counter() - t)
        if not recs:
            return {"proxy": name, "skipped": "needs images and none were found"}
        if time.perf_counter() - t0 >= cap:
            break
    total = time.perf_counter() - t0
    return {"proxy": name, "archs": len(per_arch), "seconds": total, "archs_per_s": len(per_arch) / total,
            "ms_per_arch_median": 1000 * statistics.median(per_arch)}


def stored_archs(path: Path, n_proxies: int) -> int:
    """About the archs scored: the store's rows over the group's size (rows per proxy on average; isomorphic
    archs share rows for proxies keyed by class, so this undercounts rather than overcounts)."""
    if not path.is_file():
        return 0
    from zeronas.store import Store

    try:
        return Store(path, create=False).count() // max(n_proxies, 1)
    except Exception:  # noqa: BLE001  (a store cut off mid-write: nothing to count)
        return 0


def run_cli(group: str, workers: int, args, timeout: float) -> dict:
    """``zeronas correlate`` on a fresh throw-away store; its "scored now" count over its own wall seconds."""
    row = {"proxies": group, "workers": workers, "sample": args.cli_archs}
    if timeout < 5:
        row["skipped"] = "no time left in the CLI phase"
        return row
    with tempfile.TemporaryDirectory(prefix="zeronas-gpu-check-") as tmp:
        cmd = [sys.executable, "-c", "from zeronas.cli import main; main()", "correlate", "--space", "nb201",
               "--dataset", "cifar10", "--proxies", group, "--sample", str(args.cli_archs), "--seed",
               str(args.seed), "--batch-size", str(args.batch_size), "--store", str(Path(tmp) / "store.db"),
               "--out", str(Path(tmp) / "out"), "--workers", str(workers), "--device", args.device]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        env = {**os.environ, "COLUMNS": "200",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
        row["command"] = "zeronas " + " ".join(cmd[3:])
        t = time.perf_counter()
        # its own process group: a stop reaches the --workers processes too, which would otherwise go on
        # using the GPU under the next run
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=ROOT, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:  # Ctrl-C as a user would press it (zeronas keeps what it stored)
            stopped = time.perf_counter() - t
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.communicate(timeout=15)
            except ProcessLookupError:  # it ended just as its time did
                proc.communicate()
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
            done = stored_archs(Path(tmp) / "store.db", len(group.split(",")))
            row.update({"stopped_after_seconds": stopped, "archs_stored": done,
                        "archs_per_s_at_least": done / stopped,
                        "skipped": f"stopped after its share of the CLI phase, {stopped:.0f} s, with {done} of "
                                   f"{args.cli_archs} archs stored: at least {done / stopped:.1f} archs/s end to "
                                   f"end, process start and table load included"})
            return row
        proc = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        row["process_seconds"] = time.perf_counter() - t
        corr = Path(tmp) / "out" / "correlation.json"
        if proc.returncode != 0 or not corr.is_file():
            lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
            row["error"] = f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}"
            return row
        meta = json.loads(corr.read_text())["meta"]
        scored, wall = int(meta["scored_now"]), float(meta["wall_seconds"])
        row.update({"scored_now": scored, "unique_archs": meta.get("unique_archs"), "wall_seconds": wall,
                    "archs_per_s": scored / wall if wall > 0 else math.nan,
                    "outside_scoring_seconds": row["process_seconds"] - wall})
        m = re.search(r"scored now: (\d+)", proc.stdout)
        if m and int(m.group(1)) != scored:
            row["note"] = f"printed 'scored now: {m.group(1)}', correlation.json says {scored}"
    rate = row.get("archs_per_s", math.nan)
    print(f"  {group:28s} workers {workers}: {rate:8.1f} archs/s ({row['scored_now']} scored in "
          f"{row['wall_seconds']:.1f} s; process {row['process_seconds']:.1f} s)", flush=True)
    return row


def agreement(torch, zn, names, archs, cap, args, modes) -> dict:
    """Values of ``names`` on the CPU and on the device for the same archs; per proxy per mode, compare()."""
    t0 = time.perf_counter()
    cpu_args = argparse.Namespace(**{**vars(args), "device": "cpu"})
    ref_scorer = make_scorer(zn, names, cpu_args)
    measured = [p.name for p in ref_scorer.proxies]
    if not measured:
        return {"skipped": "no proxy could run (images needed and none found)"}
    ref: dict[str, list[float]] = {p: [] for p in measured}
    done = []
    for a in archs:  # the CPU side is the slow one: it sets how many archs fit in the cap
        for r in ref_scorer.score_arch(a):
            ref[r.proxy].append(r.value)
        done.append(a)
        # keep time for the device side: a GPU pass is taken to cost a quarter of the CPU's, a CPU pass the same
        if time.perf_counter() - t0 >= cap / (1 + len(modes) * (0.25 if args.device != "cpu" else 1.0)):
            break
    out = {"reference_device": "cpu", "device": args.device, "archs": [ref_scorer.space.format(a) for a in done],
           "skipped_proxies": ref_scorer.skipped, "threshold": AGREE, "values": {"cpu": ref}, "modes": {}}
    for mode in modes:
        with fp32_mode(torch, mode):
            dev_scorer = make_scorer(zn, measured, args)
            vals: dict[str, list[float]] = {p: [] for p in measured}
            for a in done:
                for r in dev_scorer.score_arch(a):
                    vals[r.proxy].append(r.value)
        out["values"][f"{args.device}/{mode}"] = vals
        out["modes"][mode] = {p: compare(ref[p], vals[p]) for p in measured}
    out["seconds"] = time.perf_counter() - t0
    if len(done) < len(archs):
        out["note"] = f"{len(done)} of {len(archs)} archs fit in the phase's {cap:.0f} s"
    return out


def verdicts(throughput: dict, cli: list, is_cuda: bool, data_free: set[str]) -> list[dict]:
    rows = throughput.get("rows", {})
    out = []
    for target, need in TARGETS.items():
        names = sorted(n for n in rows if n in data_free) if target == "data-free" else [target]
        got = {n: rows[n]["archs_per_s"] for n in names if "archs_per_s" in rows.get(n, {})}
        v = {"target": f"{target} >= {need:g} archs/s (API loop, one proxy per Scorer)", "threshold": need,
             "archs_per_s": got}
        if not got:
            v["verdict"], v["why"] = "n/a", "not measured"
        elif not is_cuda:
            v["verdict"], v["why"] = "n/a", "CPU smoke run: the targets are GPU targets"
        else:
            v["verdict"] = "PASS" if all(r >= need for r in got.values()) else "FAIL"
            slow = [n for n, r in got.items() if r < need]
            if slow:
                v["why"] = f"below target: {', '.join(slow)}"
        cli_rates = {f"{c['proxies']} (workers {c['workers']})": c["archs_per_s"] for c in cli
                     if "archs_per_s" in c and (set(c["proxies"].split(",")) <= data_free if target == "data-free"
                                                else c["proxies"] == target)}
        if cli_rates:
            v["cli_archs_per_s"] = cli_rates
        out.append(v)
    return out


# ---- main ---------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    wants_cuda = args.device.startswith("cuda")
    if wants_cuda and not (torch.cuda.is_available() and torch.cuda.device_count() > 0):
        print(f"no CUDA device: nothing measured (--device {args.device} asked; torch {torch.__version__} sees "
              f"no CUDA device; --device cpu runs the CPU smoke)", file=sys.stderr)
        return 2
    import zeronas as zn
    from zeronas.errors import UserError
    from zeronas.proxies.ensembles import ENSEMBLES
    from zeronas.scoring import resolve_device, resolve_proxies
    from zeronas.spaces.nb201 import random_archs

    try:
        device = resolve_device(args.device)
        names = [p.name for p in resolve_proxies(args.proxies)]
    except UserError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    ensembles = [e.strip() for e in args.ensembles.split(",") if e.strip()]
    unknown = [e for e in ensembles if e not in ENSEMBLES]
    if unknown:
        print(f"gpu_check: unknown ensemble(s) {', '.join(unknown)}; known: {', '.join(ENSEMBLES)}", file=sys.stderr)
        return 2
    is_cuda = device.type == "cuda"
    out_path = args.out or ROOT / "benchmarks" / "results" / ("gpu_check.json" if is_cuda
                                                              else "gpu_check_cpu_smoke.json")
    clock = Clock(args.budget)
    sync = (lambda: torch.cuda.synchronize(device)) if is_cuda else (lambda: None)
    data_free = {n for n in names if not zn.get_proxy(n).needs_images}
    result = {
        "what": "zeronas GPU check: archs/s per proxy on the device and device-vs-CPU agreement "
                "(benchmarks/gpu_check.py; docs/gpu.md)",
        "label": "GPU measurement" if is_cuda else "CPU smoke run: NOT GPU figures (tests the script only)",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets_archs_per_s": TARGETS, "complete": False,
    }

    def save():
        result["seconds"] = time.perf_counter() - clock.t0
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(clean(result), indent=1) + "\n")

    print(f"[a] environment ({result['label']})", flush=True)
    result["environment"] = env = environment(torch, zn, device)
    dev_line = env.get("cuda_device_name", platform.processor() or platform.machine())
    print(f"  torch {env['torch']} (CUDA {env['torch_cuda']}), {dev_line}"
          + (f", capability {env['cuda_capability']}, {env['cuda_memory_gib']} GiB" if is_cuda else "")
          + f"; fp32 flags {env['fp32_flags']}", flush=True)
    save()

    # b. speed through the API, one Scorer per proxy (and per ensemble)
    print(f"[b] archs/s on {device}: API loop (Scorer.score_arch, build included, warm-up excluded)", flush=True)
    all_archs = random_archs(args.warmup + args.archs, seed=args.seed)
    warm, timed = all_archs[:args.warmup], all_archs[args.warmup:]
    rows = {}
    jobs = [(n, [n]) for n in names] + [(e, ENSEMBLES[e]) for e in ensembles]
    for label, members in jobs:
        cap = clock.cap(args.proxy_seconds)
        if cap <= 0:
            rows[label] = {"proxies": members, "skipped": "overall budget spent"}
            continue
        try:
            rows[label] = time_api(torch, zn, label, members, timed, warm, cap, args, sync)
        except Exception as exc:  # noqa: BLE001  (recorded; the other rows and phases still run)
            rows[label] = {"proxies": members, "error": f"{type(exc).__name__}: {exc}"}
            print(f"  {label:14s} error: {exc}", flush=True)
    per_call = []
    if args.per_call_archs > 0:
        for n in [n for n in ("synflow", "nwot") if n in names]:
            cap = clock.cap(min(args.proxy_seconds, 10.0))
            if cap > 0:
                try:
                    per_call.append(time_per_call(zn, n, timed[:args.per_call_archs], cap, args, sync))
                except Exception as exc:  # noqa: BLE001
                    per_call.append({"proxy": n, "error": f"{type(exc).__name__}: {exc}"})
                r = per_call[-1]
                if "archs_per_s" in r:
                    print(f"  zeronas.score per call, {n}: {r['archs_per_s']:.1f} archs/s", flush=True)
    result["throughput"] = {"how": "one zeronas.Scorer per row, score_arch per arch; set-up and warm-up "
                                   "excluded; network build, upload and scoring included; device synchronised "
                                   "per arch", "device": str(device), "batch_size": args.batch_size,
                            "rows": rows, "per_call": per_call}
    save()

    # c. agreement with the CPU
    modes = ["torch-default", "ieee"] if is_cuda else ["torch-default"]
    cap = clock.cap(args.agree_seconds)
    print(f"[c] agreement: {args.agree_archs} archs on cpu and {device} ({', '.join(modes)}), cap {cap:.0f} s",
          flush=True)
    agree = {"skipped": "overall budget spent"}
    if cap > 0:
        try:
            agree = agreement(torch, zn, names, random_archs(args.agree_archs, seed=args.seed + 1), cap, args,
                              modes)
        except Exception as exc:  # noqa: BLE001
            agree = {"error": f"{type(exc).__name__}: {exc}"}
    result["agreement"] = agree
    failed = [f"{p} ({mode})" for mode, per in agree.get("modes", {}).items() for p, r in per.items()
              if r["verdict"] == "FAIL"]
    save()

    # b2. the CLI path (after the agreement check, which matters more when time is short)
    groups = [g.strip() for g in args.cli_groups.split(";") if g.strip() and g.strip() != "none"]
    workers = [int(w) for w in (args.cli_workers or ("1,4" if is_cuda else "1")).split(",") if w.strip()]
    cli = []
    if groups:
        print(f"[b] archs/s on {device}: CLI (zeronas correlate into a throw-away store, {args.cli_archs} archs)",
              flush=True)
        phase_end = time.perf_counter() + clock.cap(args.cli_seconds)
        runs = [(w, g) for w in workers for g in groups]
        for k, (w, g) in enumerate(runs):  # each run gets an equal share of what is left of the phase
            cli.append(run_cli(g, w, args, (phase_end - time.perf_counter()) / (len(runs) - k)))
            if "error" in cli[-1] or "skipped" in cli[-1]:
                print(f"  {g} workers {w}: {cli[-1].get('error') or cli[-1].get('skipped')}", flush=True)
    result["cli"] = {"how": "zeronas correlate --workers W --device D on a fresh store; archs_per_s = its "
                            "'scored now' over its wall seconds (executor set-up, scoring, store writes); "
                            "isomorphic archs scored once for proxies that share them", "runs": cli}
    save()

    # d. verdicts
    result["verdicts"] = verdicts(result["throughput"], cli, is_cuda, data_free)
    result["agreement_failed"] = failed
    result["complete"] = True
    status = 1 if failed else 0
    result["exit_status"] = status
    save()
    print_table(result)
    print(f"wrote {out_path}")
    return status


def print_table(result: dict) -> None:
    print(f"\n== {result['label']} ==")
    rows = result["throughput"]["rows"]
    agree = result["agreement"].get("modes", {})
    mode_names = list(agree)
    head = f"{'proxy':14s} {'archs/s':>9s} {'ms/arch':>9s} {'archs':>6s}"
    for m in mode_names:
        head += f" | {('rho ' + m)[:18]:>18s} {'max rel diff':>12s} {'':4s}"
    print(head)
    for name, r in rows.items():
        if "archs_per_s" not in r:
            print(f"{name:14s} {r.get('skipped') or r.get('error')}")
            continue
        line = f"{name:14s} {r['archs_per_s']:9.1f} {r['ms_per_arch_median']:9.1f} {r['archs']:6d}"
        for m in mode_names:
            a = agree[m].get(name)
            if a is None:
                line += f" | {'-':>18s} {'':>12s} {'':4s}"
            else:
                rho = a["spearman"]
                line += f" | {rho:18.4f} {a['max_rel_diff']:12.2e} {a['verdict']:4s}"
        print(line)
    for c in result["cli"]["runs"]:
        if "archs_per_s" in c:
            print(f"CLI {c['proxies']} workers {c['workers']}: {c['archs_per_s']:.1f} archs/s "
                  f"({c['scored_now']} scored in {c['wall_seconds']:.1f} s)")
        else:
            print(f"CLI {c['proxies']} workers {c['workers']}: {c.get('error') or c.get('skipped')}")
    for v in result["verdicts"]:
        extra = f" ({v['why']})" if v.get("why") else ""
        rates = ", ".join(f"{n} {r:.1f}" for n, r in v["archs_per_s"].items())
        print(f"verdict {v['target']}: {v['verdict']}{extra} [{rates}]")
    if not agree:
        a = result["agreement"]
        print(f"agreement: {a.get('error') or a.get('skipped') or 'not run'}")
    elif result["agreement_failed"]:
        print(f"agreement: FAIL: {', '.join(result['agreement_failed'])}")
    else:
        print("agreement: all PASS")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
