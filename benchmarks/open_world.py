"""Open-world check (issue 25 item 5): zeronas's proxies on torchvision's classifiers vs their published accuracy.

torchvision ships, inside the package, the ImageNet-1K top-1 of each classification model's DEFAULT weights
(``get_model_weights(name).DEFAULT.meta['_metrics']['ImageNet-1K']['acc@1']``). No one here chose those models
or trained them. This script builds every classifier of ``torchvision.models.list_models(module=torchvision.models)``
UNTRAINED (``weights=None``: nothing is downloaded), scores it with the data-free proxies and with nwot (the image
member of the frozen ``zeronas-v1`` = nwot+params ensemble) through ``zeronas.models.ModelScorer``, and reports
Spearman and Kendall against those accuracies, overall and within families.

    nice -n 10 python benchmarks/open_world.py            # score what is missing, then write the report
    python benchmarks/open_world.py --report-only          # rewrite the report from the jsonl
    python benchmarks/open_world.py --models resnet18,vit_b_16 --jsonl /tmp/x.jsonl   # a subset elsewhere

Protocol (recorded in the json): every model at ``--input-size`` (224, the size at which most of these models
are evaluated and the one the fixed-size ViT/MaxViT builders take) with 1000 classes; torch default init, model
built with torch seeded 0; images: the first ``--images`` CIFAR-10 training images resized to 224 (bilinear),
``--batch-size`` per batch; 1 thread (on this shared 2-core machine two OpenMP threads spin against other jobs:
a 512x512 eigvalsh took 10 s with 2 threads, 0.03 s with 1). Each model runs in a forked child; a proxy that
runs past ``--proxy-limit`` seconds is recorded as ``timeout`` and the remaining proxies run in a fresh child.
Models over ``--max-params`` are skipped before building (CPU time and memory of a 2-core, 24 GiB machine).
Results are appended per model to the jsonl as they finish; a rerun scores only the models not there yet.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zeronas.benchmarks.correlation import correlation, rank_ensemble  # noqa: E402
from zeronas.errors import UserError, int_at_least, run_script  # noqa: E402
from zeronas.models import import_torchvision, torchvision_note  # noqa: E402

PROXIES = ["params", "flops", "l2_norm", "synflow", "nwot", "zen", "meco"]  # cheap first: a timeout loses the rest
ENSEMBLE = ("zeronas-v1", ["nwot", "params"])
FAMILIES = [  # (family, name prefixes): first match wins
    ("resnet", ("resnet",)), ("wide_resnet", ("wide_resnet",)), ("resnext", ("resnext",)), ("vgg", ("vgg",)),
    ("densenet", ("densenet",)), ("efficientnet_v2", ("efficientnet_v2",)), ("efficientnet", ("efficientnet_b",)),
    ("mobilenet", ("mobilenet",)), ("mnasnet", ("mnasnet",)), ("shufflenet", ("shufflenet",)),
    ("squeezenet", ("squeezenet",)), ("regnet_x", ("regnet_x",)), ("regnet_y", ("regnet_y",)), ("vit", ("vit_",)),
    ("swin", ("swin_",)), ("convnext", ("convnext",)),
]
GROUPS = {"regnet": ("regnet_x", "regnet_y"), "efficientnet (b0-b7 + v2)": ("efficientnet", "efficientnet_v2"),
          "resnet + wide + resnext": ("resnet", "wide_resnet", "resnext")}
MIN_FAMILY = 4  # a within-family correlation needs at least this many models with values


def family(name: str) -> str:
    return next((f for f, prefixes in FAMILIES if name.startswith(prefixes)), "other")


def model_meta(tm, name: str) -> dict:
    w = tm.get_model_weights(name).DEFAULT
    m = w.meta
    crop = getattr(w.transforms, "keywords", {}).get("crop_size")
    return {"model": name, "family": family(name), "weights": str(w).split(".")[-1],
            "top1": float(m["_metrics"]["ImageNet-1K"]["acc@1"]), "num_params": int(m["num_params"]),
            "published_gflops": float(m.get("_ops", math.nan)), "eval_crop": crop}


def images(n: int, size: int, data_dir):
    from PIL import Image

    from zeronas.data import load_images

    src = load_images("cifar10", "train", data_dir)
    x = np.stack([np.asarray(Image.fromarray(src.x[i]).resize((size, size), Image.BILINEAR)) for i in range(n)])
    return x, src.y[:n].astype(np.int64), f"CIFAR-10 train[:{n}] ({src.fidelity}) resized 32->{size} bilinear"


def _child(name, proxies, data, args, conn):
    """In the forked child: build, score one proxy at a time, send each record as it finishes."""
    import torch

    from zeronas.models import ModelScorer, load_model

    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    try:
        t0 = time.perf_counter()
        # weights=None, torch seeded 0 at build time; googlenet/inception_v3 without their auxiliary heads
        model, label = load_model(f"torchvision:{name}", seed=0)
        scorer = ModelScorer(model, proxies, data=data, batch_size=args.batch_size, seed=0, model_name=label,
                             max_images=len(data[0]))
        conn.send(("setup", {"setup_seconds": round(time.perf_counter() - t0, 2),
                             "offers": sorted(scorer.model_probe.offers), "input_chw": list(scorer.input_chw)}))
        for spec in list(scorer.requested):
            conn.send(("start", spec.name))
            scorer.requested = [spec]
            r = scorer.score_model()[0]
            conn.send(("proxy", {"proxy": r.proxy, "value": r.value if math.isfinite(r.value) else str(r.value),
                                 "error": r.error, "reason": r.reason, "seconds": round(r.seconds, 3),
                                 "notes": [n for n in r.notes if n != torchvision_note()]}))
    except UserError as exc:
        conn.send(("failed", " ".join(str(exc).split())))
    except Exception as exc:  # noqa: BLE001  (recorded for this model; the run goes on)
        conn.send(("failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"))
    conn.send(("done", None))
    conn.close()


def _run_child(name, proxies, data, args, row) -> str | None:
    """Score ``proxies`` in one forked child; returns the proxy that ran past ``--proxy-limit`` (child killed),
    or None when the child finished."""
    ctx = mp.get_context("fork")  # the parent has imported torch/torchvision but run no op: safe to fork
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(name, proxies, data, args, child), daemon=True)
    proc.start()
    child.close()
    current, late = "setup", None
    deadline = time.perf_counter() + args.proxy_limit
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not parent.poll(left):
            late = current
            break
        try:
            kind, payload = parent.recv()
        except EOFError:  # the child died (e.g. killed for memory)
            row["status"] = f"failed: the scoring process died (exit code {proc.exitcode})"
            break
        if kind == "setup":
            row.update(payload)
        elif kind == "start":
            current, deadline = payload, time.perf_counter() + args.proxy_limit
        elif kind == "proxy":
            row["proxies"][payload.pop("proxy")] = payload
        elif kind == "failed":
            row["status"] = f"failed: {payload}"
        else:
            break
    if proc.is_alive():
        proc.kill()
    proc.join()
    return late


def score_one(name, meta, data, args) -> dict:
    """Every proxy of ``args.proxies`` on one model; a proxy past ``--proxy-limit`` is recorded as a timeout and
    the others run in a fresh child."""
    row = {**meta, "status": "ok", "proxies": {}}
    t0 = time.perf_counter()
    while True:
        todo = [p for p in args.proxies if p not in row["proxies"]]
        if not todo or row["status"] != "ok":
            break
        late = _run_child(name, todo, data, args, row)
        if late is None:
            break
        if late == "setup":
            row["status"] = f"failed: building and probing took more than {args.proxy_limit:.0f} s"
            break
        row["proxies"][late] = {"value": "nan", "error": f"timeout: not finished within {args.proxy_limit:.0f} s",
                                "reason": None, "seconds": None, "notes": []}
    for p in args.proxies:
        if p not in row["proxies"]:
            row["proxies"][p] = {"value": "nan", "error": row["status"], "reason": None, "seconds": None, "notes": []}
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return row


def value_of(row, proxy) -> float:
    rec = row.get("proxies", {}).get(proxy)
    if rec is None or rec.get("error"):
        return math.nan
    v = float(rec["value"])
    return v if math.isfinite(v) else math.nan


def corr_row(rows, proxy, direction=1) -> dict:
    vals = np.array([value_of(r, proxy) for r in rows])
    truth = np.array([r["top1"] for r in rows])
    c = correlation(vals, truth, direction)
    return {"n": c["n"], "spearman": c["spearman"], "kendall": c["kendall"]}


def ensemble_values(rows, members) -> tuple[list, np.ndarray]:
    """zeronas-v1 over the models where every member has a value (a refused member is not a 'worst' rank here:
    it is undefined, so the model is left out)."""
    keep = [r for r in rows if all(math.isfinite(value_of(r, m)) for m in members)]
    if not keep:
        return [], np.array([])
    cols = [np.array([value_of(r, m) for r in keep]) for m in members]
    return keep, rank_ensemble(cols, [1] * len(members))


def analyse(rows, proxies) -> dict:
    scored = [r for r in rows if r.get("status") != "skipped" and r.get("proxies")]
    out = {"overall": {}, "families": {}, "groups": {}}

    def block(sub):
        res = {p: corr_row(sub, p) for p in proxies}
        keep, ens = ensemble_values(sub, ENSEMBLE[1])
        if len(keep) >= 3:
            c = correlation(ens, np.array([r["top1"] for r in keep]), 1)
            res[ENSEMBLE[0]] = {"n": c["n"], "spearman": c["spearman"], "kendall": c["kendall"]}
        else:
            res[ENSEMBLE[0]] = {"n": len(keep), "spearman": math.nan, "kendall": math.nan}
        return res

    out["overall"] = block(scored)
    # the same models for every proxy: those where every member of zeronas-v1 (nwot needs nn.ReLU) has a value
    out["ensemble_subset"] = block(ensemble_values(scored, ENSEMBLE[1])[0])
    fams = sorted({r["family"] for r in scored} - {"other"})  # 'other' is not a family
    for f in fams:
        sub = [r for r in scored if r["family"] == f]
        if len(sub) >= MIN_FAMILY:
            out["families"][f] = {"models": [r["model"] for r in sub], **block(sub)}
    for g, members in GROUPS.items():
        sub = [r for r in scored if r["family"] in members]
        if len(sub) >= MIN_FAMILY:
            out["groups"][g] = {"models": [r["model"] for r in sub], **block(sub)}
    return out


def _f(v, digits=3):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.{digits}f}"


def _cell(c):
    return f"{_f(c['spearman'])} / {_f(c['kendall'])} ({c['n']})"


def fmt_value(v):
    if isinstance(v, str):
        return v
    return f"{v:.4g}"


def write_markdown(path: Path, rows, result, proto, command):
    proxies = proto["proxies"] + [ENSEMBLE[0]]
    scored = [r for r in rows if r.get("status") != "skipped"]
    skipped = [r for r in rows if r.get("status") == "skipped"]
    lines = [
        "# Open-world check: zeronas proxies on torchvision's classifiers",
        "",
        "Made by `benchmarks/open_world.py` (issue 25 item 5); numbers from `benchmarks/results/open_world.json`,",
        f"per-model records in `benchmarks/results/open_world.jsonl`. Written {proto['date']}.",
        "",
        "```",
        command,
        "```",
        "",
        "**Question.** Do zeronas's training-free proxies, computed on an *untrained* network, rank networks no one "
        "here designed or trained the way their published ImageNet-1K top-1 does? The target is torchvision's own "
        "record of each classifier's DEFAULT weights (`get_model_weights(name).DEFAULT.meta['_metrics']"
        "['ImageNet-1K']['acc@1']`, shipped in the package). The networks are built with `weights=None`: nothing "
        "is downloaded, and the weights behind those accuracies are never seen.",
        "",
        "**Protocol.**",
        "",
        f"- models: `torchvision.models.list_models(module=torchvision.models)` ({proto['listed']} classifiers, "
        f"torchvision {proto['torchvision']}, torch {proto['torch']}); {len(scored)} scored, {len(skipped)} "
        "skipped before building (below).",
        f"- input {proto['input_size']}x{proto['input_size']}, 1000 classes, torch default init with torch seeded 0 "
        "at build time (the ModelScorer default: the weights as built). 224 is the evaluation crop of most of "
        "these models and the size the fixed-size builders (ViT, MaxViT) take; EfficientNet-B1..B7, V2, "
        "Inception-v3, Swin-V2 and RegNet-Y-128GF are *evaluated* at larger crops, so their flops here are at "
        "224, not at their evaluation size.",
        f"- images (nwot only): {proto['images']}; batch {proto['batch_size']}; normalised by their own "
        "per-channel mean/std.",
        f"- wall-clock limit {proto['proxy_limit']:.0f} s per proxy per model, in a forked process with "
        f"{proto['threads']} thread(s), `nice -n 10` on a 2-core machine shared with other jobs; a proxy not "
        "finished by then is `timeout` (that model is left out of that proxy's correlation only).",
        f"- proxies: {', '.join(proto['proxies'])}; ensemble `zeronas-v1` = rank ensemble (sum of log(rank/N)) of "
        "nwot and params, computed over the models where both apply. Data-free: params, flops, l2_norm, synflow, "
        "zen, meco; nwot needs one batch of images. Not run: the AZ-NAS components (az_expressivity, "
        "az_progressivity, az_trainability) need a built-in cell space's per-cell features and are refused for "
        "every module; zico, snip, grad_norm, jacob_cov, ... are data-dependent (labelled batches, a backward "
        "pass at 224 on every image) and were left out to keep the run within the CPU budget.",
        "- Spearman rho / Kendall tau (signed, raw values, higher value = predicted better) with the number of "
        "models in parentheses; `—` where fewer than 3 models have a value.",
        "",
        "## Overall",
        "",
        "| proxy | Spearman / Kendall (n) |",
        "|---|---|",
    ]
    for p in proxies:
        lines.append(f"| {p} | {_cell(result['overall'][p])} |")
    sub = result["ensemble_subset"]
    lines += ["", f"## The same models for every proxy: the {sub['params']['n']} where nwot (hence zeronas-v1) "
              "has a value", "", "| proxy | Spearman / Kendall (n) |", "|---|---|"]
    for p in proxies:
        lines.append(f"| {p} | {_cell(sub[p])} |")
    fams = result["families"]
    if fams:
        lines += ["", f"## Within families (families with at least {MIN_FAMILY} scored models)", "",
                  "Spearman / Kendall (n).", "",
                  "| family | models | " + " | ".join(proxies) + " |",
                  "|---|---|" + "---|" * len(proxies)]
        for f, res in fams.items():
            lines.append(f"| {f} | {len(res['models'])} | " + " | ".join(_cell(res[p]) for p in proxies) + " |")
        for g, res in result["groups"].items():
            lines.append(f"| *{g}* | {len(res['models'])} | " + " | ".join(_cell(res[p]) for p in proxies)
                         + " |")
    # which proxies do not apply to which models
    refusals: dict = {}
    for r in scored:
        for p, rec in r.get("proxies", {}).items():
            err = rec.get("error")
            if err and not err.startswith("timeout"):
                refusals.setdefault((p, err), []).append(r["model"])
    timeouts: dict = {}
    for r in scored:
        for p, rec in r.get("proxies", {}).items():
            if (rec.get("error") or "").startswith("timeout"):
                timeouts.setdefault(r["model"], []).append(p)
    undefined: dict = {}
    for r in scored:
        for p, rec in r.get("proxies", {}).items():
            if not rec.get("error") and rec.get("reason"):
                undefined.setdefault((p, rec["reason"]), []).append(r["model"])
    lines += ["", "## Proxies that do not apply (ModelScorer refusals)", ""]
    if refusals:
        for (p, err), models in sorted(refusals.items()):
            lines.append(f"- **{p}** on {len(models)} models ({', '.join(models)}): {err}")
    else:
        lines.append("- none")
    if undefined:
        lines += ["", "Values that are undefined (NaN with a reason):", ""]
        for (p, why), models in sorted(undefined.items()):
            lines.append(f"- **{p}** on {', '.join(models)}: {why}")
    lines += ["", "## Timeouts and failures", ""]
    if timeouts:
        for m, ps in timeouts.items():
            lines.append(f"- {m}: {', '.join(ps)} not finished within {proto['proxy_limit']:.0f} s")
    failed = [r for r in scored if r.get("status", "").startswith("failed")]
    for r in failed:
        lines.append(f"- {r['model']}: {r['status']}")
    if not timeouts and not failed:
        lines.append("- none")
    lines += ["", "## Skipped (not built)", ""]
    for r in skipped:
        lines.append(f"- {r['model']} ({r['num_params'] / 1e6:.0f} M params, {r['published_gflops']:.0f} GFLOPs at "
                     f"its {r['eval_crop']} px evaluation crop): {r['reason']}")
    if not skipped:
        lines.append("- none")
    checks = proto.get("checks", {})
    if checks:
        lines += ["", "## Checks", ""]
        for k, v in checks.items():
            lines.append(f"- {k}: {v}")
    lines += ["", "## Per model", "",
              "| model | family | weights | top-1 | " + " | ".join(proto["proxies"]) + " | s |",
              "|---|---|---|---|" + "---|" * len(proto["proxies"]) + "---|"]
    for r in sorted(scored, key=lambda r: -r["top1"]):
        cells = []
        for p in proto["proxies"]:
            rec = r.get("proxies", {}).get(p, {})
            err = rec.get("error")
            cells.append("n/a" if err and not err.startswith("timeout") else "timeout" if err
                         else fmt_value(value_of(r, p)) if math.isfinite(value_of(r, p)) else "NaN")
        lines.append(f"| {r['model']} | {r['family']} | {r['weights']} | {r['top1']:.2f} | " + " | ".join(cells)
                     + f" | {r.get('wall_seconds', '')} |")
    lines += ["", "## Reading", "", "READING_PLACEHOLDER", ""]
    text = "\n".join(lines)
    reading_file = ROOT / "docs" / "open_world_reading.md"
    if reading_file.exists():  # the hand-written interpretation, kept apart so that reruns keep it
        text = text.replace("READING_PLACEHOLDER", reading_file.read_text().strip())
    else:
        text = text.replace("\n## Reading\n\nREADING_PLACEHOLDER\n", "")
    path.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jsonl", type=Path, default=ROOT / "benchmarks/results/open_world.jsonl",
                    help="one JSON line per finished run, appended; rows already there are not rerun (default: "
                         "%(default)s)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/open_world.json",
                    help="the JSON results written (default: %(default)s)")
    ap.add_argument("--md", type=Path, default=ROOT / "docs/open_world.md",
                    help="the markdown page written (default: %(default)s)")
    ap.add_argument("--models", default=None, help="comma-separated subset to score (default: every classifier); the "
                    "report covers every model stored in --jsonl")
    ap.add_argument("--proxies", default=",".join(PROXIES),
                    help="comma-separated proxy names (zeronas proxies lists them) (default: %(default)s)")
    ap.add_argument("--input-size", type=int_at_least(1), default=224,
                    help="side of the images the models score, resized from CIFAR-10's 32 (default: %(default)s)")
    ap.add_argument("--images", type=int_at_least(1), default=32,
                    help="CIFAR-10 training images in the batch (default: %(default)s)")
    ap.add_argument("--batch-size", type=int_at_least(1), default=8,
                    help="images per proxy batch (default: %(default)s)")
    ap.add_argument("--proxy-limit", type=float, default=40.0, help="seconds per proxy (and for build + probe)")
    ap.add_argument("--max-params", type=float, default=300e6,
                    help="models with more parameters are skipped, with the reason recorded (default: %(default)s)")
    ap.add_argument("--threads", type=int_at_least(1), default=1, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    ap.add_argument("--report-only", action="store_true", help="score nothing; write the page from the rows in --jsonl")
    args = ap.parse_args(argv)
    args.proxies = [p for p in args.proxies.split(",") if p]

    import torch

    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        tv = import_torchvision()
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        raise UserError("this check scores torchvision's classifiers: pip install 'zeronas[vision]'") from None
    tm = tv.models
    listed = tm.list_models(module=tm)
    names = listed if args.models is None else [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(listed))
    if unknown:
        raise SystemExit(f"not torchvision classifiers: {', '.join(unknown)}")
    done = {}
    if args.jsonl.exists():
        for line in args.jsonl.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["model"]] = r
    x = y = None
    data_desc = f"CIFAR-10 train[:{args.images}] resized 32->{args.input_size} bilinear"
    todo = [n for n in names if n not in done]
    if todo and not args.report_only:
        args.jsonl.parent.mkdir(parents=True, exist_ok=True)
        t_start = time.perf_counter()
        for i, name in enumerate(todo, 1):
            meta = model_meta(tm, name)
            if meta["num_params"] > args.max_params:
                row = {**meta, "status": "skipped",
                       "reason": f"{meta['num_params'] / 1e6:.0f} M parameters > the {args.max_params / 1e6:.0f} M "
                                 "limit: float64 synflow and the deep copies of a 2-core, 24 GiB machine would take "
                                 "minutes per proxy and most of the memory"}
            else:
                if x is None:
                    x, y, data_desc = images(args.images, args.input_size, args.data_dir)
                row = score_one(name, meta, (x, y), args)
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            done[name] = row
            took = time.perf_counter() - t_start
            vals = " ".join(f"{p}={fmt_value(value_of(row, p))}" for p in args.proxies
                            if math.isfinite(value_of(row, p)))
            print(f"[{i}/{len(todo)} {took / 60:.1f} min] {name}: {row['status']} "
                  f"{row.get('wall_seconds', '')}s {vals}", flush=True)
    # the page covers every stored model, not only those --models named (a run that adds one keeps the rest)
    rows = [done[n] for n in listed if n in done] + [r for n, r in done.items() if n not in listed]
    scored = [r for r in rows if r.get("status") != "skipped" and r.get("proxies")]
    checks = {}
    pm = [r for r in scored if math.isfinite(value_of(r, "params"))]
    if pm:
        same = sum(int(value_of(r, "params")) == r["num_params"] for r in pm)
        off = [r["model"] for r in pm if int(value_of(r, "params")) != r["num_params"]]
        checks["params proxy = torchvision's num_params"] = (
            f"{same} of {len(pm)} models" + (f" (not: {', '.join(off)}; zeronas builds googlenet and inception_v3 "
                                              "without the auxiliary heads that torchvision's inception_v3 "
                                              "weights keep)" if off else ""))
    fl = [r for r in scored if math.isfinite(value_of(r, "flops")) and r["eval_crop"] == args.input_size]
    if fl:
        ratio = np.array([value_of(r, "flops") / 1e9 / r["published_gflops"] for r in fl])
        checks[f"flops proxy / torchvision's _ops (models evaluated at {args.input_size})"] = (
            f"median {np.median(ratio):.3f}, range {ratio.min():.3f}-{ratio.max():.3f} over {len(fl)} models "
            "(zeronas counts conv/linear/BN/ReLU/pooling modules; attention matmuls and other functional ops are "
            "not counted)")
    result = analyse(rows, args.proxies)
    proto = {"date": str(date.today()), "torchvision": tv.__version__, "torch": torch.__version__,
             "listed": len(listed), "input_size": args.input_size, "images": data_desc,
             "batch_size": args.batch_size, "proxy_limit": args.proxy_limit, "threads": args.threads,
             "max_params": args.max_params, "proxies": args.proxies, "seed": 0, "init": "torch-default",
             "torchvision_note": torchvision_note(), "checks": checks}
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    args.json.write_text(json.dumps(clean({"protocol": proto, "result": result,
                                           "skipped": {r["model"]: r["reason"] for r in rows
                                                       if r.get("status") == "skipped"}}), indent=1))
    given = [a for a in (sys.argv[1:] if argv is None else list(argv)) if a != "--report-only"]
    command = "nice -n 10 .venv/bin/python benchmarks/open_world.py" + "".join(f" {a}" for a in given)
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        write_markdown(args.md, rows, result, proto, command)
    print(f"{len(scored)} scored, {len(rows) - len(scored)} skipped; overall Spearman / Kendall (n):")
    for p in [*args.proxies, ENSEMBLE[0]]:
        print(f"  {p:11s} {_cell(result['overall'][p])}")
    print(f"wrote {args.json} and {args.md}")


if __name__ == "__main__":
    run_script(main)
