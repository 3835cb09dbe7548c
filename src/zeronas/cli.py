"""The ``zeronas`` command line: score | correlate | search | train | export | bench | report | merge | proxies |
spaces | data."""

from __future__ import annotations

import collections
import errno
import functools
import json
import math
import os
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import jsonio
from .benchmarks import GROUND_TRUTH
from .errors import UserCodeError, UserError
from .paths import check_outputs
from .validation import flag, validated

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="zeronas: training-free neural architecture search with zero-cost proxies.")
console = Console(emoji=False)  # a ":boom:" in a user's proxy name is text, not an emoji
err_console = Console(stderr=True, emoji=False)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Folder with datasets and benchmark tables "
                                              "(default: $ZERONAS_DATA, else ../shared/data when it exists, "
                                              "else ~/.cache/zeronas).", show_default=False)]
IsomorphMember = Annotated[str, typer.Option(
    help="Which member of an isomorphism class scores the class for proxies that share a score across "
         "isomorphs (snip, synflow, ntk_cond, ...): 'asked' (the arch asked for; in a store, the first member "
         "any run asked for stands for the class) or 'fixed' (the space's representative member, e.g. the "
         "smallest NB201 string of the class, so values depend on neither sample nor order; other store keys).")]
MemoryFormat = Annotated[str, typer.Option(
    help="Layout of the networks' tensors: contiguous (NCHW, the reference codes') or channels-last (NHWC: "
         "1.25-1.6x faster on the CPU for nwot, snip, jacob_cov and meco in our runs, slower for some others, "
         "e.g. grasp; train-mode BatchNorm then sums in another order, so BN-dependent values move in the "
         "3rd-8th digit, e.g. snip by a median 1.5e-4 relative; a protocol of its own, never mixed in a "
         "store; there the torch thread count moves them too, so a count other than 1 is keyed as well).")]
Executor = Annotated[str, typer.Option(
    help="Where to score: local (this machine, --workers processes) or ray (a Ray "
         "cluster at --ray-address, else a local Ray instance, every CPU of it; needs pip install "
         "'zeronas\\[ray]').")]
Threads = Annotated[int | None, typer.Option(
    help="Torch CPU threads of this process (default: torch's choice, one per core), and of each worker process "
         "or Ray unit where the command has them. Give 1 to each of several jobs that share the cores: "
         "multi-threaded jobs side by side spin-wait on each other's cores and can run many times slower. With "
         "--memory-format channels-last a count other than 1 is part of the scores' protocol (their store key).",
    show_default=False)]
RayAddress = Annotated[str | None, typer.Option(
    help="With --executor ray: the running cluster, auto (this machine joined it with 'ray start'), HEAD:6379 "
         "or ray://HEAD:10001 (default: start a local Ray instance).", show_default=False)]
STORE_FORMS = ("an SQLite file path, or a database URL such as sqlite:///runs/z.db or "
               "postgresql+psycopg://user@host/db that several machines can share")


def _parse_options(items: list[str]) -> dict:
    """``--set das.lam=64 --set swap.repeats=8`` -> {"das": {"lam": 64.0}, "swap": {"repeats": 8}}."""
    out: dict = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise UserError(f"bad --set {item!r}; write PROXY.OPTION=VALUE, e.g. --set das.lam=64")
        key, value = item.split("=", 1)
        # path/to/my.py:fn.opt: the option follows the last '.' (a proxy of your own, refused as taking none)
        proxy, opt = key.rsplit(".", 1) if ".py:" in key else key.split(".", 1)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if opt in out.get(proxy, {}):  # the last would win without a word
            raise UserError(f"--set {proxy}.{opt} is given twice ({out[proxy][opt]!r} and {parsed!r}); give it once")
        out.setdefault(proxy, {})[opt] = parsed
    return out


def _batch_label(data: dict) -> str:
    """'cifar10 b64 1a2b3c4d' (dataset, batch size, batch hash) of a record's data protocol; '' without images."""
    return f"{data['dataset']} b{data['batch_size']} {data['batch0_sha256'][:8]}" if data.get("dataset") else ""


def _write_scores(out: Path | None, records) -> None:
    """``out``/scores.json: one record per arch (or model) x proxy, with value and protocol."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "scores.json"
        jsonio.write(path, [r.to_dict() for r in records], indent=1)
        console.print(f"wrote {path}")


ARCH_FORMATS = ("nb201: '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|'; darts and nb301: "
                "\"Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], "
                "reduce_concat=[...])\" or its JSON; nb101: '<V*V adjacency digits, row-major>:<V ops joined by "
                "|>', e.g. '0110001000010000:input|conv3x3-bn-relu|maxpool3x3|output' (ops conv3x3-bn-relu, "
                "conv1x1-bn-relu, maxpool3x3), or the JSON {\"matrix\": [[0, 1, ...], ...], \"ops\": [...]}; "
                "macro: 8 digits, one per layer, 0 identity, 1 MBConv expansion 3 kernel 3, 2 expansion 6 "
                "kernel 5, e.g. '01220012'.")


def _read_archs(space, archs: list[str], arch_file: Path | None, indices: list[int], data_dir) -> list:
    from .spaces.arch_file import read_archs

    found = [space.parse(a) for a in archs]
    if arch_file is not None:
        found += read_archs(space, arch_file)  # not a method a plug-in space could override
    found += [space.from_index(i, data_dir) for i in indices]
    if not found:
        raise UserError("no architecture given; pass --arch STRING, --arch-file FILE or --index N")
    return found


def _set_threads(threads: int | None) -> None:
    if threads is not None:  # validated 1..1024 at the edge
        import torch

        torch.set_num_threads(threads)


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{v:.6g}"


@app.command()
@validated
def score(
    arch: Annotated[list[str], typer.Option("--arch", "-a", help="Architecture string (repeatable). " + ARCH_FORMATS
                                            )] = [],  # noqa: B006
    arch_file: Annotated[Path | None, typer.Option(help="File of architectures: one string per line (a DARTS "
                                                   "genotype also as its JSON), genotypes over several "
                                                   "lines, or a search's result.json (every run's arch).")] = None,
    index: Annotated[list[int], typer.Option("--index", "-i", help="Benchmark index of an architecture "
                                             "(repeatable; NB201 needs its table).")] = [],  # noqa: B006
    space: Annotated[str | None, typer.Option(help="nb201 (the default), darts, nb101, nb301 (the DARTS space with "
                                              "the NB301 table), macro, or a plug-in space (see 'zeronas spaces'); "
                                              "not with --model.", show_default=False)] = None,
    proxies: Annotated[str, typer.Option("--proxies", "-p", help="Comma-separated proxy names, or 'all' "
                                         "(see 'zeronas proxies'), or your own: path/to/file.py:fn.")] = "all",
    data: Annotated[str, typer.Option(help="Images for data-dependent proxies: cifar10, cifar100, "
                                      "ImageNet16-120; 'auto' = cifar10 when found, else data-free proxies only; "
                                      "'none' = data-free proxies only; or your own image folder "
                                      "(root/<class>/<images>, the torchvision ImageFolder layout), for --model "
                                      "and for a space's architectures alike.")] = "auto",
    data_dir: DataDir = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Images per batch of the proxies on real images, and of zen's and AZ-NAS's noise (default 64 as in "
             "NAS-Bench-Suite-Zero and foresight; NASWOT's paper used 128). A note says so when no asked proxy "
             "reads it.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed for network init, batch choice and random inputs.")] = 0,
    init: Annotated[str, typer.Option(help="Weight init: torch-default, kaiming, kaiming-fanout, naslib-nb101 "
                                      "(conv Kaiming fan-out, linear N(0, 0.01): NASLib's NB101 model), normal, "
                                      "xavier.")] = "torch-default",
    device: Annotated[str, typer.Option(help="Torch device: cpu, cuda, cuda:1, ...")] = "cpu",
    num_classes: Annotated[int | None, typer.Option(help="Classifier outputs (default: the dataset's); with "
                                                    "--model it is passed to a model function that takes "
                                                    "num_classes, and to torchvision/timm builders.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Proxy option PROXY.OPTION=VALUE (repeatable), "
                                            "e.g. --set das.lam=64.")] = [],  # noqa: B006
    out: Annotated[Path | None, typer.Option(help="Write scores.json (one record per arch x proxy with value "
                                             "and protocol) into this folder.")] = None,
    threads: Threads = None,
    isomorph_member: IsomorphMember = "asked",
    memory_format: MemoryFormat = "contiguous",
    model: Annotated[list[str], typer.Option(help="Score your own network instead of --arch: path/to/file.py:fn "
                                             "(runs that file and calls fn(), which returns an untrained "
                                             "torch.nn.Module; or names a module the file builds), "
                                             "torchvision:NAME or timm:NAME (those packages installed). "
                                             "Proxies that do not apply are named with the reason. Repeatable: "
                                             "several models are scored on the same batch and ranked per proxy "
                                             "in one table.",
                                             show_default=False)] = [],  # noqa: B006
    input_size: Annotated[str | None, typer.Option(help="With --model and no images: the input size, N or HxW "
                                                   "(default 32); with images it is read from them.",
                                                   show_default=False)] = None,
    heldout: Annotated[Path | None, typer.Option(
        help="Held-out images for teg_mse (TEG-NAS's NTK-regression error on images the kernel was not fitted "
             "on) when --data is your own image folder: another folder of other images, with the same classes "
             "and size. A named dataset's held-out images are its test split.", show_default=False)] = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    store: Annotated[str | None, typer.Option(
        help=f"Results store ({STORE_FORMS}): each arch's scores are written as it finishes, and a rerun (after "
             "a kill, or with more archs) scores only what the store lacks under the same settings (class-sharing "
             "proxies once per isomorphism class). Default: none, nothing kept.", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Scoring processes on this machine (default 1: this process; 0: one per core, each with "
             "cores // workers torch threads). With --executor ray: units at once (default 0: every CPU of the "
             "cluster).", show_default=False)] = None,
):
    """Score architectures with zero-cost proxies and print a table (one row per arch x proxy; a summary per
    proxy beyond 100 archs, with --out holding every record)."""

    from .proxies.base import inapplicable_reason
    from .ray_executor import check_executor
    from .scoring import Scorer, as_asked, resolve_proxies, unread_batch_size, unread_weights

    check_executor(executor, ray_address)
    # said once the scores are out (a refusal stays the one line it is)
    unread = [n for n in (unread_batch_size(proxies, batch_size, _parse_options(set_)) if batch_size is not None
                          else None, unread_weights(proxies, seed, init)) if n]

    def say_unread():
        for n in unread:
            err_console.print(f"[yellow]note:[/] {n}", highlight=False)

    if data_dir is not None and str(data).strip().lower() == "none" and not index and arch_file is None:
        unread.append(f"--data-dir {data_dir} reads nothing here: it holds the datasets' images and the benchmark "
                      "tables, and with --data none (and no --index) neither is read")
    batch_size = 64 if batch_size is None else batch_size
    if out is not None:  # a user's own file there is never replaced, found before any scoring
        check_outputs(out, ["scores.json"])
    if store is not None:
        from .store import check_location

        check_location(store)
    _set_threads(threads)
    if model:
        if store is not None or workers not in (None, 1):
            raise UserError("--store and --workers score architectures of a space; drop them with --model")
        if arch or arch_file is not None or index:
            raise UserError("--model scores your network; drop --arch, --arch-file and --index")
        if space is not None:
            raise UserError(f"--model scores your own network, not an architecture of a space; drop --space {space}")
        if executor != "local":
            raise UserError("--executor ray scores architectures of a space; drop it with --model")
        if isomorph_member != "asked":  # a module has no isomorphism class to take a member of
            raise UserError("--isomorph-member picks a member of an architecture's isomorphism class; a --model has "
                            "none: drop it")
        if any(p.reads_tensors for p in resolve_proxies(proxies)):  # (params, flops: one value in both layouts)
            _note_layout(memory_format)
        if len(model) > 1:
            _score_models(model, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_, out,
                          input_size, memory_format, heldout=heldout)
        else:
            _score_model(model[0], proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_,
                         out, input_size, memory_format, heldout=heldout)
        return say_unread()
    if input_size is not None:
        raise UserError("--input-size is for --model; a space's network takes its dataset's size")
    sp = _space_for(space, arch_file)
    archs = _read_archs(sp, arch, arch_file, index, data_dir)
    if data == "auto" and arch_file is not None:  # as train and export read a result.json: the search's data
        found = _data_of_search(arch_file, "scoring")
        data = found if found and found != "cifar10" else data  # ('auto' already means cifar10, or data-free)
    settings = dict(data=data, data_dir=data_dir, batch_size=batch_size, seed=seed, init=init, device=device,
                    options=_parse_options(set_), num_classes=num_classes, isomorph_member=isomorph_member,
                    memory_format=memory_format, **({"heldout": heldout} if heldout is not None else {}))
    scorer = Scorer(sp, proxies, **settings)
    _note_shadowed(data)
    if scorer.data_note:
        err_console.print(f"[yellow]note:[/] {scorer.data_note}")
    if any(p.reads_tensors for p in scorer.proxies):  # (params, flops: one value in both layouts)
        _note_layout(memory_format)
    _note_skipped(scorer)
    if store is not None or workers not in (None, 1 if executor == "local" else 0):  # resumable, arch by arch
        records = as_asked(_score_stored(sp, proxies, settings, archs, store, workers, executor, ray_address,
                                         threads), archs, sp)
    elif executor == "ray":  # each unit pinned to --threads (default 1): the local values at equal threads
        from .ray_executor import score_archs
        from .spaces.base import loadable

        records = as_asked(score_archs(dict(space=loadable(sp), proxies=proxies, **settings), archs, ray_address,
                                       threads, progress=sys.stderr.isatty()), archs, sp)
    else:
        records = scorer.score(archs, progress=True)  # a bar on a terminal, a line every 30 s in a log
    asked = [sp.format(sp.coerce(a)) for a in archs]
    substituted = any(r.scored for r in records)  # (records are named by the arch asked: as_asked)
    if substituted:
        err_console.print("[yellow]note:[/] class-sharing proxies were measured on their isomorphism class's "
                          + ("representative member (--isomorph-member fixed)" if isomorph_member == "fixed" else
                             "member scored first (a --store holds one score per class)")
                          + "; its string is in the scored column (scores.json: 'scored')")
    many = len(archs) > 1
    _refuse_if_all_failed(records, "every architecture" if many else "the architecture", store)  # before NaNs
    title = f"{sp.name}: {len(archs)} archs x {len(scorer.proxies)} proxies" if many else sp.name
    if len(archs) > SCORE_TABLE_ARCHS:  # a table of 100,000 rows is read by no one: per proxy, and --out
        _print_score_summary(records, title, out)
        _print_record_notes(records, scorer.data_note, many)
        _write_scores(out, records)
        return say_unread()
    if not many:  # on its own line, unbroken (a table title wraps at the terminal's width)
        console.print(f"arch: {asked[0]}", highlight=False, markup=False, soft_wrap=True)
    table = Table(title=title)
    for col in (["arch"] if many else []) + (["scored"] if substituted else []) + ["proxy", "value", "better", "ms",
                                                                                 "data"]:
        table.add_column(col, overflow="fold")
    inapplicable: dict[str, str] = {}  # proxy -> why, listed under the table as for --model
    from .proxies.plugin import short_names

    short = short_names(r.proxy for r in records)  # (a plug-in proxy by FILE.py:fn, not its absolute path)
    for r in records:
        if inapplicable_reason(r.error) is not None:
            inapplicable.setdefault(r.proxy, r.error)
            continue
        d = r.protocol.get("data", {})
        src = _batch_label(d) or (f"{d['synthetic']} b{d['batch_size']}" if "batch_size" in d
                                  else d.get("synthetic", "-"))
        cells = [short[r.proxy], _fmt(r.value), "higher" if r.direction > 0 else "lower", f"{r.seconds * 1000:.0f}",
                 src + (f" [red]{escape(why)}[/]" if (why := r.error or getattr(r, "reason", None)) else "")]
        table.add_row(*([r.arch] if many else []), *([r.scored or "-"] if substituted else []), *cells)
    console.print(table)
    _print_record_notes(records, scorer.data_note, many)
    if inapplicable:
        console.print(f"not applicable on {sp.name} ({len(inapplicable)}):", highlight=False)
        for name, why in inapplicable.items():
            console.print(f"  {name}: {why}", highlight=False, markup=False, soft_wrap=True)
    _write_scores(out, records)
    say_unread()


SCORE_TABLE_ARCHS = 100  # more archs than this: a summary per proxy instead of a row per arch x proxy


def _print_record_notes(records, said: str, many: bool) -> None:
    """Each distinct note the records carry, once, with the archs it concerns (a value's caveat, e.g. a count of
    0 by definition, is not left in scores.json alone); the data note printed above the table is not repeated."""
    by: dict[str, list] = {}
    for r in records:
        for n in r.notes:
            if said and said in n:
                continue
            by.setdefault(n, []).append(r.arch)
    for n, archs in by.items():
        where = ""
        if many:
            names = list(dict.fromkeys(archs))
            where = f" (arch {', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''})"
        console.print(f"note: {n}{where}", highlight=False, markup=False, soft_wrap=True)


def _score_stored(sp, proxies, settings, archs, store, workers, executor, ray_address, threads) -> list:
    """``score --store`` / ``--workers``: through ``correlate.score_into_store`` (without --store, nothing kept)."""
    from .correlate import score_into_store

    kwargs = dict(space=sp, proxies=proxies, **settings)
    records, scored, reused = score_into_store(archs, kwargs, store, workers, executor, ray_address, threads,
                                               progress=True)
    if reused:
        err_console.print(f"[yellow]note:[/] {reused} scores were read from {store} (same settings), {scored} "
                          f"archs scored now", highlight=False)
    return records


def _print_score_summary(records, title: str, out) -> None:
    table = Table(title=title)
    for col in ("proxy", "archs", "finite", "failed", "min", "median", "max", "better", "mean ms"):
        table.add_column(col, overflow="fold")
    by: dict[str, list] = {}
    for r in records:
        by.setdefault(r.proxy, []).append(r)
    from .proxies.plugin import short_names

    short = short_names(by)  # (a plug-in proxy by FILE.py:fn, not its absolute path)
    for name, rs in by.items():
        vals = sorted(r.value for r in rs if math.isfinite(r.value))
        failed = sum(1 for r in rs if r.error and not _not_applicable(r))
        mid = statistics.median(vals) if vals else math.nan  # (an even count: the mean of the middle two)
        table.add_row(short[name], str(len(rs)), str(len(vals)), str(failed), _fmt(vals[0] if vals else math.nan),
                      _fmt(mid), _fmt(vals[-1] if vals else math.nan), "higher" if rs[0].direction > 0 else "lower",
                      f"{1000 * sum(r.seconds for r in rs) / len(rs):.0f}")
    console.print(table)
    if out is None:
        console.print("(a summary per proxy; --out DIR writes every record to scores.json)", highlight=False)


def _not_applicable(r) -> bool:
    """A record of a proxy that does not apply here (listed under a table, never a failure)."""
    from .proxies.base import is_verdict

    return is_verdict(r.error)


def _refuse_if_all_failed(records, what: str, store=None) -> None:
    """Every record of a proxy that applies an error: a one-line error, exit 2, nothing written, so a script does
    not take the table of failures for scores (e.g. a plug-in space whose build() raises)."""
    usable = [r for r in records if not _not_applicable(r)]
    if records and not usable:  # a table of no rows, exit 0, read as "scored" by a script (a user trial)
        why = "; ".join(f"{p}: {e}" for p, e in dict((r.proxy, r.error) for r in records).items())
        why = why if len(why) <= 300 else why[:297] + "..."
        raise UserError(f"no proxy asked applies to {what} ({why}); choose proxies that do ('zeronas "
                        "proxies' lists them with their needs) " + (f"(the verdicts are in {store})"
                                                                    if store is not None else "(nothing was written)"))
    failed = [r for r in usable if r.error is not None]
    if usable and len(failed) == len(usable):  # proxies that do not apply are listed, not counted
        r = failed[0]
        raise UserError(f"every proxy failed on {what} (the first, {r.proxy} on {r.arch}: {r.error}); fix what "
                        "failed and run again " + (f"(the failures are in {store}; a rerun scores them again)"
                                                   if store is not None else "(nothing was written)"))


def _model_scorer(spec, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_, input_size,
                  memory_format="contiguous", loaded=None, name=None, heldout=None):
    """(ModelScorer, its label) for ``--model spec``; ``loaded``: the (module, label) load_model gave already;
    ``name``: the label to record instead (several models whose labels collide)."""
    from .models import ModelScorer, data_classes, load_model

    module, label = loaded or load_model(spec, num_classes, seed, data_classes(data))
    label = name or label
    scorer = ModelScorer(module, proxies, data=data, data_dir=data_dir, input_size=input_size,
                         num_classes=num_classes, model_name=label, batch_size=batch_size, seed=seed, init=init,
                         device=device, options=_parse_options(set_), memory_format=memory_format,
                         heldout=heldout)
    if scorer.data_note:
        err_console.print(f"[yellow]note:[/] {label}: {scorer.data_note}")
    return scorer, label  # (what it skips is listed with its reason under the model's table)


def _reads_no_tensor(proxy) -> bool:
    """Whether a search's --proxy (a name or an ensemble) is made of proxies that run no tensor through the
    network (params, flops, l2_norm), so the memory layout reaches none of its values; False when not given
    (a method's default proxies do) or not parsed here (the search names it)."""
    if not proxy:
        return False
    from .correlate import parse_proxies
    from .proxies.base import get_proxy

    try:
        base, ens = parse_proxies(proxy, "--proxy")
        names = [m for members in ens.values() for m in members] or base
        return bool(names) and not any(get_proxy(n).reads_tensors for n in names)
    except Exception:  # noqa: BLE001  (an unknown name is the search's one-line error, said there)
        return False


def _note_shadowed(data) -> None:
    """A dataset's name given while a folder of that name is here: which one is read (the dataset, everywhere)."""
    from .data.custom import shadowed_folder_note

    note = shadowed_folder_note(data)
    if note:
        err_console.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)


def _note_layout(memory_format: str) -> None:
    if memory_format != "contiguous":  # its values are not the default layout's (README: --memory-format)
        err_console.print(f"[yellow]note:[/] scoring in the {memory_format} layout: BN-dependent values differ from "
                          "the default's in the 3rd-8th digit", highlight=False)


def _note_skipped(scorer) -> None:
    """The proxies of 'all' left out before any work, and why."""
    notes = getattr(scorer, "skip_notes", {})
    lacking = [n for n in scorer.skipped if n not in notes]
    if lacking:
        err_console.print(f"[yellow]note:[/] skipped (need images, or held-out images, not loaded): "
                          f"{', '.join(lacking)}")
    for note in notes.values():
        err_console.print(f"[yellow]note:[/] skipped {note}", highlight=False)


def _score_models(specs, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_, out,
                  input_size, memory_format="contiguous", heldout=None):
    """``score --model A --model B ...``: each model scored as ``--model`` alone does (same data, batch, seed),
    then one table: a row per model, a column per proxy with the value and its rank among the models (1 = best
    by the proxy's direction; equal values share the better rank); a proxy that does not apply to a model is
    '-' there and named under the table."""
    from scipy.stats import rankdata

    from .models import data_classes, load_model, model_key

    seen = {}  # model_key: m.py:f and ./m.py:f are one model
    for spec in specs:
        if (key := model_key(spec)) in seen:
            same = "" if spec == seen[key] else f" (as {spec!r})"
            raise UserError(f"--model {seen[key]!r} is given twice{same}; give each model once")
        seen[key] = spec
    k = data_classes(data)
    loaded = [load_model(spec, num_classes, seed, k) for spec in specs]  # every file runs before any scoring
    labels = [label for _, label in loaded]
    if len(set(labels)) < len(labels):  # e.g. a/m.py:build and b/m.py:build: the specs tell them apart
        labels = list(specs)
    runs = [_model_scorer(spec, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_,
                          input_size, memory_format, loaded=ld, name=label, heldout=heldout)
            for spec, ld, label in zip(specs, loaded, labels)]
    c, h, w = runs[0][0].input_chw
    d = runs[0][0]._data_protocol
    src = f", data {_batch_label(d)}" if _batch_label(d) else ""
    results = [(label, scorer.score_model()) for scorer, label in runs]
    _refuse_if_all_failed([r for _, recs in results for r in recs], "every model")  # before a table of NaNs
    names = list(dict.fromkeys(r.proxy for _, recs in results for r in recs))
    value = {(label, r.proxy): r for label, recs in results for r in recs}
    ok = {k: r for k, r in value.items() if r.error is None and math.isfinite(r.value)}
    rank = {}
    for name in names:
        have = [(label, ok[(label, name)]) for label, _ in results if (label, name) in ok]
        ranks = rankdata([-r.direction * r.value for _, r in have], method="min")  # ties share a rank
        rank.update({(label, name): int(k) for (label, _), k in zip(have, ranks)})
    shown = [n for n in names if any((label, n) in ok for label, _ in results)]
    counted = f"{len(shown)} of {len(names)}" if len(shown) < len(names) else f"{len(shown)}"  # the rest: below
    table = Table(title=f"{len(results)} models x {counted} proxies ({c}x{h}x{w} input{src}; value, rank among "
                        "the models: 1 = best)")

    def cell(label, n):
        return f"{_fmt(ok[(label, n)].value)} ({rank[(label, n)]})" if (label, n) in ok else "-"

    def better(n):
        return "higher" if next(r.direction for (_, p), r in value.items() if p == n) > 0 else "lower"

    from .proxies.plugin import short_names

    short = short_names(shown)  # (a plug-in proxy by FILE.py:fn, not its absolute path)
    if len(shown) > len(results):  # more proxies than models: a row per proxy, so the table fits a terminal
        table.add_column("proxy", overflow="fold")
        for label, _ in results:
            table.add_column(label, overflow="fold")
        for n in shown:
            table.add_row(f"{short[n]} ({better(n)})", *[cell(label, n) for label, _ in results])
    else:
        table.add_column("model", overflow="fold")
        for n in shown:
            table.add_column(f"{short[n]} ({better(n)})", overflow="fold")
        for label, _ in results:
            table.add_row(label, *[cell(label, n) for n in shown])
    console.print(table)
    for label, recs in results:
        for n in dict.fromkeys(n for r in recs for n in r.notes):  # (one note on several records: said once)
            console.print(f"note: {label}: {n}", highlight=False, markup=False, soft_wrap=True)
    missing = [(label, r) for label, recs in results for r in recs if (label, r.proxy) not in ok]
    if missing:
        console.print(f"no value ({len(missing)}):", highlight=False)
        for label, r in missing:
            why = r.error or getattr(r, "reason", None) or "non-finite value"
            console.print(f"  {label} / {r.proxy}: {why}", highlight=False, markup=False, soft_wrap=True)
    _write_scores(out, [r for _, recs in results for r in recs])


def _score_model(spec, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_, out,
                 input_size, memory_format="contiguous", heldout=None):
    """``score --model``: every applicable proxy's value in one table, the others named with the reason."""
    scorer, label = _model_scorer(spec, proxies, data, data_dir, batch_size, seed, init, device, num_classes, set_,
                                  input_size, memory_format, heldout=heldout)
    records = scorer.score_model()
    _refuse_if_all_failed(records, "the model")  # before a table of NaNs
    c, h, w = scorer.input_chw
    d = scorer._data_protocol
    src = f", data {_batch_label(d)}" if _batch_label(d) else ""
    table = Table(title=f"model {label} ({c}x{h}x{w} input, {scorer.num_classes} classes{src})")
    for col in ("proxy", "value", "better", "ms"):
        table.add_column(col, overflow="fold")
    skipped = []
    from .proxies.plugin import short_names

    short = short_names(r.proxy for r in records)
    for r in records:
        if _not_applicable(r):
            skipped.append(r)
            continue
        why = getattr(r, "reason", None) or r.error
        table.add_row(short[r.proxy], _fmt(r.value) + (f" [red]{escape(why)}[/]" if why else ""),
                      "higher" if r.direction > 0 else "lower", f"{r.seconds * 1000:.0f}")
    console.print(table)
    for n in dict.fromkeys(n for r in records for n in r.notes):  # (one note on several records: said once)
        console.print(f"note: {n}", highlight=False, markup=False, soft_wrap=True)
    if skipped:
        console.print(f"not applicable ({len(skipped)}):", highlight=False)
        for r in skipped:
            console.print(f"  {r.proxy}: {r.error}",
                          highlight=False, markup=False, soft_wrap=True)
    _write_scores(out, records)


@app.command()
@validated
def correlate(
    space: Annotated[str, typer.Option(help="Search space with a ground-truth table: nb201 (NAS-Bench-201), "
                                         "macro (NAS-Bench-Macro), nb101 (NAS-Bench-101) or nb301 (the DARTS "
                                         "space as NAS-Bench-301 builds it; the NB301 surrogate's accuracy); the "
                                         "last three CIFAR-10 only.")] = "nb201",
    dataset: Annotated[str | None, typer.Option(help="cifar10, cifar100 or ImageNet16-120: the accuracy to "
                                                "correlate with (and the images to score on, when present) "
                                                "(default: cifar10).", show_default=False)] = None,
    data: Annotated[str | None, typer.Option(help="The same as --dataset, under the name score and search give "
                                             "it.", show_default=False)] = None,
    proxies: Annotated[str, typer.Option("--proxies", "-p", help="Comma-separated proxies; 'ensemble:a+b+c' "
                                         "aggregates ranks (sum of log(rank/N)); 'az_nas' is the AZ-NAS "
                                         "ensemble; path/to/file.py:fn is your own.")] = "nwot,synflow,snip,params",
    sample: Annotated[str | None, typer.Option(help="Number of random architectures, or 'all' (default: 1000, "
                                               "or the whole table when it has fewer)", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the sample, the init and the batch (default: 0; "
                                             "--protocol abdelfattah2021 fixes 42).", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Images per batch of the proxies on real images, and of zen's and AZ-NAS's noise (default 64; "
             "--protocol fixes its own). A note says so when no asked proxy reads it.", show_default=False)] = None,
    metric: Annotated[str | None, typer.Option(
        help="Accuracy to correlate with: test or valid (default: the table's own: test for NB201, "
             "NAS-Bench-Macro and a converted NB101 table; valid for NAS-Bench-Suite-Zero's 500 NB101 cells and "
             "the NB301 surrogate). NB201 valid is, per dataset, the seed-mean column where the table has it "
             "(CIFAR-10: cifar10-valid's cifar10valid_valid_acc), else NASLib's one-seed column (the shared "
             "table's CIFAR-100 and ImageNet16-120); --protocol suite-zero reads NASLib's one-seed columns on all "
             "three. The table's title names the column read. A metric the table lacks is refused.",
        show_default=False)] = None,
    protocol: Annotated[str | None, typer.Option(help="Paper protocol preset, NAS-Bench-201 only: abdelfattah2021 "
                                                 "or suite-zero. It fixes the sample, batch size, init, target and "
                                                 "(abdelfattah2021) seed; a different value given beside it is "
                                                 "refused. (NAS-Bench-Suite-Zero's own nb101 and nb301 tables "
                                                 "are its sample: use --sample all there.)")] = None,
    store: Annotated[str, typer.Option(help=f"Results store ({STORE_FORMS}); reruns resume from it.")
                     ] = "runs/zeronas.db",
    workers: Annotated[int | None, typer.Option(help="Scoring processes (default 0 = one per core; one on a GPU). "
                                                "With --executor ray: units at once (0 = every CPU of the cluster).",
                                                show_default=False)] = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    init: Annotated[str, typer.Option(help="Weight init (see 'zeronas score --help').")] = "torch-default",
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
    data_dir: DataDir = None,
    out: Annotated[Path | None, typer.Option(help="Write correlation.json (the table, its settings and every "
                                             "arch's values), correlation.csv (the table), archs.csv (per arch: "
                                             "table index, arch, target, each proxy's value), scatter.png and "
                                             "rho.png here.")] = None,
    only_stored: Annotated[bool, typer.Option(help="Score nothing: analyse a stopped run on the archs scored "
                                              "so far (the stored prefix of the run's seeded random scoring "
                                              "order, a uniform random subset of the sample).")] = False,
    isomorph_member: IsomorphMember = "asked",
    memory_format: MemoryFormat = "contiguous",
    score_seed: Annotated[int | None, typer.Option(
        help="Seed of the init draw and the batch when it should differ from --seed, which then picks the sample "
             "and the scoring order only (a test-retest of the same archs).", show_default=False)] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Proxy option PROXY.OPTION=VALUE (repeatable), e.g. "
                                            "--set das.lam=64; part of each score's protocol (other options, "
                                            "other store keys).")] = [],  # noqa: B006
    threads: Annotated[int | None, typer.Option(
        help="Torch CPU threads of each scoring process: this one with --workers 1 (default: one per core; give 1 "
             "when other jobs share the cores), each pool worker (default cores // --workers), each Ray unit "
             "(default 1; on a local Ray instance cores // --workers). With --memory-format channels-last a "
             "count other than 1 is part of the scores' protocol, so other counts are other store keys.",
        show_default=False)] = None,
):
    """Rank-correlate proxies with benchmark accuracy: Spearman, Kendall, top-k overlap, with protocols."""
    from .correlate import correlate as run_correlate
    from .ray_executor import check_executor

    if workers is not None and workers < 0:
        raise UserError(f"--workers must be 0 (all cores) or more, not {workers}")
    _set_threads(threads)
    check_executor(executor, ray_address)
    from .correlate import one_dataset

    dataset = one_dataset(dataset, data, cli=True)
    res = run_correlate(space, dataset, proxies, sample, seed, batch_size, store, workers, data_dir, init, device,
                        metric, protocol, progress=True, only_stored=only_stored,
                        isomorph_member=isomorph_member, executor=executor, ray_address=ray_address,
                        score_seed=score_seed, memory_format=memory_format, out=out,
                        options=_parse_options(set_) or None, threads=threads)
    m = res.meta
    from .proxies.plugin import short_names

    short = short_names(res.rows)  # (a plug-in proxy by FILE.py:fn, not the absolute path that keys it)
    lower = [short[p] for p, r in res.rows.items() if r.get("direction") == -1]
    # printed under the table, not as its caption: Rich dropped a letter where a caption wrapped at 80 columns
    caption = ("spearman and kendall are of the raw values, top-k% in each proxy's direction: a lower-is-better "
               f"proxy ({', '.join(lower)}) that ranks well has a negative rho" if lower else None)
    table = Table(title=f"{m['space']} {m['dataset']}: {m['archs']} archs ({m['unique_archs']} unique), "
                        f"target {m['target']}", pad_edge=False)  # (fits 80 columns)
    for col in ("proxy", "better", "spearman", "kendall", "top1%", "top5%", "top10%", "n", "ms/arch"):
        # min_width: an 80-column log folded the headers ("spearma" / "n"); the proxy names fold instead
        table.add_column(col, justify="right" if col not in ("proxy", "better") else "left", overflow="fold",
                         min_width=None if col == "proxy" else len(col))
    for p, r in res.rows.items():
        table.add_row(short[p], "lower" if r.get("direction") == -1 else "higher", _fmt3(r["spearman"]),
                      _fmt3(r["kendall"]),
                      _fmt3(r["top1"]), _fmt3(r["top5"]),
                      _fmt3(r["top10"]), str(r["n"]),
                      "—" if math.isnan(ms := r.get("ms_per_arch", math.nan)) else f"{ms:.0f}")  # ensembles: none
    console.print(table)
    if caption:
        console.print(caption, highlight=False, style="dim")
    member = f", isomorph member {m['isomorph_member']}" if m["isomorph_member"] != "asked" else ""
    member += f", {m['memory_format']} layout" if m["memory_format"] != "contiguous" else ""
    console.print(f"batch {m['batch_size']}, seed {m['seed']}, init {m['init']}{member}, scored now: {m['scored_now']} "
                  f"archs in {m['wall_seconds']:.1f}s with "
                  f"{f'{workers} worker(s)' if workers else 'one worker per core'}"
                  f"{' on Ray' if executor == 'ray' else ''}; store {m['store']}")
    for note in m["notes"]:
        if note not in m.get("notes_said", ()):  # (printed before the scoring started)
            console.print(f"note: {note}", highlight=False)
    for p in m.get("written", []):
        console.print(f"wrote {p}")


def _fmt3(v) -> str:
    return "nan" if not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.3f}"


@app.command()
@validated
def search(
    method: Annotated[str, typer.Option(help="funnel (the default: label-free search with the frozen zeronas-v1 "
                                       "ensemble, see docs/label_free_search.md) | te-nas | teg-rea | teg-reinforce "
                                       "| zero-cost-pt | freedarts | das | sample | rea | random.")] = "funnel",
    space: Annotated[str, typer.Option(help="nb201 (every method), darts (freedarts, te-nas, zero-cost-pt, "
                                       "funnel, das, sample, rea, random), macro (NAS-Bench-Macro: zero-cost-pt, "
                                       "funnel, das, sample, rea, random), nb101 (funnel, das, sample, rea, random), "
                                       "or a plug-in space file.py:Class (see README). nb301 (the darts space "
                                       "with NAS-Bench-301's 725-genotype table) has no search: search --space "
                                       "darts, the same genotypes.")] = "nb201",
    proxy: Annotated[str | None, typer.Option(
        help="Proxy (or ensemble:a+b, a frozen ensemble such as zeronas-v1, or your own path/to/file.py:fn) "
             "driving funnel (default "
             "zeronas-v1), sample/random/rea/zero-cost-pt (default nwot) or das (default das).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first run.")] = 0,
    runs: Annotated[int, typer.Option(help="Run this many seeds (seed, seed+1, ...) and report mean +- std.")] = 1,
    preset: Annotated[str, typer.Option(
        help="cpu (default): on nb201, settings that finish within 5 minutes on a 2-core CPU for zero-cost-pt "
             "(--pool 5 --validate 10 --C 8 --N 1 --batch-size 64), te-nas (--repeat 1 --batch-size 16 --C 8 "
             "--N 1), teg-rea (--repeat 1 --budget 30 --population 10 --tournament 3) and teg-reinforce "
             "(--repeat 1 --budget 30); on macro, zero-cost-pt with --C 8 --pool 5 --validate 10 --batch-size 64; "
             "none on darts, where te-nas and zero-cost-pt run the paper's supernet (hours on a CPU; reduced "
             "settings in docs/darts_searches.md take 10-30 minutes). "
             "paper: the papers' settings. Options given explicitly always win.")
    ] = "cpu",
    budget: Annotated[int | None, typer.Option(
        help="How much to search. sample/das/random/rea: draws (sample/das N; rea default 200); a draw of an "
             "arch, or an isomorph, already drawn spends one but is not scored again, so on a small space fewer "
             "archs are scored, as the result says. teg-rea: evaluations, default population+1000; "
             "teg-reinforce: default 500; funnel: archs scored by the whole ensemble (instead of "
             "--time-budget).")] = None,
    time_budget: Annotated[float | None, typer.Option(
        help="Wall seconds of each search, its set-up included (images, tables, networks); starting zeronas "
             "(about 2 s) and the report after the answer come on top (funnel: default 240; random, rea, teg-*, "
             "sample, das); "
             "with --refine K --evaluator train, half of it is kept for the K training reads, each training for "
             "an equal share of what is left; a read whose share is shorter than one pass of its smallest "
             "training is skipped and said (the answer is then the label-free one; raise --time-budget).")] = None,
    n: Annotated[int | None, typer.Option(help="sample/das: architectures to draw (NASWOT N, default 100).")] = None,
    population: Annotated[int | None, typer.Option(
        help="rea/teg-rea: population size (default 20 / 256).")] = None,
    tournament: Annotated[int | None, typer.Option(
        help="rea/teg-rea: tournament size (default 5 / 64).")] = None,
    variant: Annotated[str | None, typer.Option(
        help="freedarts: oneshot (the code, default) or iterative (our reading).")] = None,
    alpha_init: Annotated[str | None, typer.Option(
        help="freedarts: random (1e-3 N(0,1) logits; the default, and the only one the code protocol takes) or "
             "zero (uniform weights; bn-bypass's default).")] = None,
    protocol: Annotated[str | None, typer.Option(
        help="freedarts: code (the released notebooks: raw random logits, |theta|, train-mode BN on the all-ones "
             "batch of one, float32; the default) or bn-bypass (zeronas's float64 variant with BN bypassed).")
    ] = None,
    pool: Annotated[int | None, typer.Option(
        help="zero-cost-pt: proposals N (default 10); funnel: at most this many random archs in the cheap screen "
             "(default: as many as 30% of the time allows).")] = None,
    validate: Annotated[int | None, typer.Option(help="zero-cost-pt: validation batches V (default 100).")] = None,
    edge_order: Annotated[str | None, typer.Option(
        help="zero-cost-pt: random (default), order or reverse.")] = None,
    repeat: Annotated[int | None, typer.Option(
        help="te-nas/teg-*: networks (and batches) averaged per measurement (default 3).")] = None,
    init: Annotated[str | None, typer.Option(
        help="te-nas/teg-*: torch-default (what the official codes run) or kaiming (what they intend); "
             "proxy methods: any 'score --init'.")] = None,
    train_steps: Annotated[int | None, typer.Option(
        help="das: SGD steps to train each candidate before scoring it (fast training; 0 = at init).")] = None,
    train_lr: Annotated[float | None, typer.Option(
        help="das with --train-steps: the fast training's learning rate (SGD, Nesterov momentum 0.9, weight "
             "decay 5e-4; default 0.1).")] = None,
    memory_format: Annotated[str | None, typer.Option(
        help="Proxy methods (funnel, sample, rea, random, das): contiguous (the default) or channels-last; see "
             "'zeronas score --help'.", show_default=False)] = None,
    lr: Annotated[float | None, typer.Option(help="teg-reinforce: policy learning rate (default 0.04).")] = None,
    channels: Annotated[int | None, typer.Option(
        "--C", help="Supernet channels (te-nas 16, teg-* 3, zero-cost-pt 16, freedarts 16).")] = None,
    cells: Annotated[int | None, typer.Option(
        "--N", help="Supernet cells: NB201 per stage (te-nas 5, teg-* 1, zero-cost-pt 5, freedarts 5); DARTS in "
                    "all (freedarts 8, or 20 for the 20-cell variant).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch (default: the method's).")] = None,
    data: Annotated[str, typer.Option(help="Images for data-dependent methods: cifar10, cifar100, ImageNet16-120, "
                                      "none (data-free proxies only), auto (cifar10 when found, else as none), "
                                      "or your own image folder (root/<class>/<images>, or root/train/ "
                                      "beside root/test/; funnel, sample, rea, random and das; latency bounds "
                                      "and objectives need a named dataset, --refine needs --evaluator train; "
                                      "--max-params/--max-flops count the network built for your images)."
                                      )] = "cifar10",
    data_dir: DataDir = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
    store: Annotated[str | None, typer.Option(help=f"Results store ({STORE_FORMS}): every evaluation (and "
                                              "supernet measurement) is persisted there, and a killed search "
                                              "rerun with the same settings and seed resumes from it.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Option of the driving proxy, PROXY.OPTION=VALUE "
                                            "(repeatable; funnel, sample, das, rea, random), e.g. --proxy das --set "
                                            "das.lam=64 for one of DAS's combination rules.")] = [],  # noqa: B006
    out: Annotated[Path | None, typer.Option(help="Write result.json (and trajectory.png with --plot) here.")] = None,
    plot: Annotated[bool, typer.Option(help="Draw the search trajectory as a PNG (needs --out).")] = False,
    max_params: Annotated[float | None, typer.Option(
        help="funnel/sample/rea/random: only architectures with at most this many million parameters are drawn and "
             "scored (NB201: the data README's closed form; darts: the network 'zeronas train' and 'export' build, "
             "36 channels and 20 cells, auxiliary head excluded, as DARTS reports its 3.3M; other spaces: their "
             "own network, a benchmark's or your plug-in's build() on your images).")] = None,
    max_flops: Annotated[float | None, typer.Option(
        help="funnel/sample/rea/random: at most this many MFLOPs, counted as the space's benchmark table counts "
             "them (NB201: its closed form; macro: conv/linear multiply-adds, its flops column, 2-5% below the "
             "flops proxy's NASLib count there; other spaces: NASLib's rules on the network --max-params "
             "counts).")] = None,
    max_latency: Annotated[list[str] | None, typer.Option(
        help="funnel/sample/rea/random on nb201: DEVICE=MS, at most MS milliseconds on an HW-NAS-Bench device "
             "(edgegpu, raspi4, edgetpu, pixel3, eyeriss, fpga; the --data network); repeatable.")] = None,
    objectives: Annotated[str | None, typer.Option(
        help="funnel/sample/rea/random: Pareto mode, e.g. score,latency:edgegpu (or params, flops): the answer is the "
             "non-dominated front of the proxy score and the costs; --out writes front.json and front.png.")
    ] = None,
    refine: Annotated[int | None, typer.Option(
        help="funnel/sample/rea/random: after the label-free search, make K accuracy reads with --evaluator and "
             "answer with the best read (K accuracy reads, reported; see --refine-strategy).")] = None,
    evaluator: Annotated[str | None, typer.Option(
        help="With --refine: table (NB201's 12-epoch test accuracy, one seed; the default; nb201 only) or train "
             "(short real training of each candidate on this machine: 1 epoch on 5,000 images; spaces with a "
             "training recipe: nb201, darts, nb101, macro; with --data your image folder it trains on those "
             "images, as 'zeronas train --data FOLDER' splits them).")] = None,
    refine_strategy: Annotated[str | None, typer.Option(
        help="With --refine: local (funnel's default: read the top ceil(K/4), then hill-climb on the reads through "
             "one-edit neighbourhoods in proxy order; 15% of the budget is kept for scoring them) or top (the "
             "top K by the proxy; the only choice for sample/rea/random).")] = None,
    refine_epochs: Annotated[int | None, typer.Option(
        help="With --evaluator train: epochs each read trains (default 1).")] = None,
    refine_batch_size: Annotated[int | None, typer.Option(
        help="With --evaluator train: the reads' batch size (default: the space's recipe's; needed for a "
             "plug-in space, which has no recipe).")] = None,
    refine_lr: Annotated[float | None, typer.Option(
        help="With --evaluator train: the reads' initial learning rate, SGD with cosine decay (default: the "
             "space's recipe's; needed for a plug-in space).")] = None,
    threads: Threads = None,
    workers: Annotated[int | None, typer.Option(
        help="With --runs N: run up to this many seeds at once, each in its own process with cores // workers "
             "torch threads (0: one per core; default: one run after another in this process). A --store is "
             "shared by the runs, so a killed set resumes run by run.", show_default=False)] = None,
    executor: Annotated[str, typer.Option(
        help="local (this machine) or ray: each of the --runs seeds is a Ray task on the cluster at "
             "--ray-address (else a local Ray instance), with --threads CPUs each (default 1); give a database-URL "
             "--store that every node reaches to keep their evaluations.")] = "local",
    ray_address: RayAddress = None,
):
    """Search a space and report the architecture found, its proxy values and benchmark accuracy."""
    import statistics

    from .search import search as run_search
    from .search.base import (
        check_method_on_space,
        check_preset,
        check_user_data,
        list_strategies,
        show_progress,
        strategy_keywords,
    )

    show_progress(True)  # a bar with ETA on a terminal, a line every 30 s in a log
    from .ray_executor import check_executor

    check_executor(executor, ray_address)
    from .validation import SEED_MAX

    if seed + runs - 1 > SEED_MAX:  # found before the first run's work, named as typed
        raise UserError(f"--seed {seed} with --runs {runs} reaches seed {seed + runs - 1}, past the largest, "
                        f"{SEED_MAX}: give --seed {SEED_MAX - runs + 1} or less")
    if executor == "ray" and workers is not None:
        raise UserError("--workers sets local processes; with --executor ray the cluster's CPUs (and --threads per "
                        "run) decide how many runs go at once: drop --workers")
    if runs == 1 and workers not in (None, 1):  # one search is one process: nothing to spread
        raise UserError(f"--workers {workers} runs several seeds at once and needs --runs N (N > 1); a single search "
                        "runs in this process (--threads sets its cores): add --runs or drop --workers")
    if out is not None:  # what it writes or removes as an earlier run's: never a file of the user's
        check_outputs(out, ["result.json", *SEARCH_PLOTS_AND_FRONT])
    _set_threads(threads)

    if plot and out is None:
        raise UserError("--plot writes a PNG and needs --out DIR")
    given = dict(proxy=proxy, n=n, population=population, tournament=tournament, variant=variant,
                 alpha_init=alpha_init, protocol=protocol, pool=pool, validate=validate, edge_order=edge_order,
                 repeat=repeat, init=init, train_steps=train_steps, train_lr=train_lr, lr=lr, C=channels, N=cells,
                 budget=budget,
                 time_budget=time_budget, batch_size=batch_size, store=store, max_params=max_params,
                 max_flops=max_flops, max_latency=max_latency or None, objectives=objectives, refine=refine,
                 evaluator=evaluator, refine_strategy=refine_strategy, refine_epochs=refine_epochs,
                 refine_batch_size=refine_batch_size, refine_lr=refine_lr, preset=preset,
                 options=_parse_options(set_) or None, memory_format=memory_format)
    kwargs = {k: v for k, v in given.items() if v is not None}
    from .spaces import space as get_space

    sp = get_space(space)  # loaded once (a plug-in's file runs once), for the check and every run
    check_method_on_space(sp, method)  # first: the options of a method that cannot run are moot
    accepted = strategy_keywords(method)
    if kwargs.get("memory_format") == "contiguous" and "memory_format" not in accepted:
        del kwargs["memory_format"]  # the default layout is the one every method runs: a script may always pass it
    for name in kwargs:  # an option the method would ignore is an error, never silently dropped
        if name not in accepted:
            users = [m for m in list_strategies() if name in strategy_keywords(m)]
            raise UserError(f"{flag(name)} does not apply to --method {method}; it applies to {', '.join(users)}")
    kwargs.update(data=data, device=device, data_dir=data_dir)
    _note_shadowed(data)
    check_user_data(method, kwargs, cli=True)  # said in flags, before any network is built
    if not _reads_no_tensor(proxy):  # (params, flops: one value in both layouts, as score says it)
        _note_layout(kwargs.get("memory_format", "contiguous"))
    if space == "darts" and method in ("te-nas", "zero-cost-pt") and channels is None and cells is None:
        # no cpu preset exists here: the paper's supernet takes hours on a CPU (docs/darts_searches.md)
        quick = ("--repeat 1 --C 4 --N 5 --batch-size 8" if method == "te-nas"
                 else "--pool 2 --validate 5 --C 8 --N 5 --batch-size 32")
        err_console.print(f"[yellow]note:[/] {method} on darts searches the paper's supernet (C=16, 8 cells): "
                          f"hours on a CPU. The smallest measured setting, {quick}, took 10-30 minutes here "
                          "(docs/darts_searches.md)", soft_wrap=True)
    from .train import RECIPES

    # said before the minutes of training start (a space without a recipe is refused by the search instead);
    # funnel without --budget and random always run under a default time budget, which bounds the reads
    timed = time_budget is not None or method == "random" or (method == "funnel" and budget is None)
    if evaluator == "train" and refine and not timed and space in RECIPES:
        err_console.print(f"[yellow]note:[/] without --time-budget each of the {refine} training read(s) of "
                          "--evaluator train trains a network for a full epoch on 5,000 images: minutes each on "
                          "a CPU", soft_wrap=True)
    from .search.funnel import LEADERS as funnel_leaders

    results = []
    seeds = [seed + k for k in range(runs)]
    if executor == "ray" or workers not in (None, 1):  # several seeds at once, each the same search call
        check_preset(sp.name, method, kwargs)  # what every run would refuse, before their store is made
        ran = iter(_parallel_runs(space, method, seeds, kwargs, workers, executor, ray_address, threads))
    else:
        ran = (run_search(sp, method, seed=s, **kwargs) for s in seeds)
    for k, r in enumerate(ran):
        results.append(r)
        stand_in = r.stands_in_for
        if stand_in and k == 0:  # as score says it: the proxies saw CIFAR-10 images, not the dataset's
            err_console.print(f"[yellow]note:[/] {stand_in} images not found: CIFAR-10 images stood in for them "
                              f"(resized to the network's input; recorded as stands_in_for in the result)")
        b = r.benchmark
        feas = b.get("feasible")
        # feasibility is counted for the searched dataset (latency and FLOPs differ per dataset): judged there
        fds = (r.constraints or {}).get("dataset") or "cifar10"
        among = (f"; among the {feas['archs']:,} feasible for {fds}: {SHORT_DATASET[fds]} percentile "
                 f"{_percentile(feas[fds]['percentile'])}, best {feas[fds]['best']:.2f}%"
                 if feas and fds in feas else "")
        acc = ("in the benchmark table, which holds no accuracy for it (a partial table? 'zeronas data' shows "
               "its counts)" if "cifar10" in b and math.isnan(b["cifar10"]) else
               f"C10 {b['cifar10']:.2f}% / C100 {b['cifar100']:.2f}% / IN16 {b['imagenet16-120']:.2f}% "
               f"(C10 percentile {_percentile(b['cifar10_percentile'])}{among})" if "cifar100" in b else
               f"{b['target']} {b['cifar10']:.2f}% (percentile {_percentile(b['cifar10_percentile'])} in the table"
               f"{', an isomorph' if b['matched'] == 'isomorph' else ''})" if "cifar10" in b else
               "not in the benchmark table (a sample of the space)" if b else
               "no benchmark table" if r.space in GROUND_TRUTH else "no benchmark for this space"
               + ("" if r.protocol.get("space_source") else ": measure it with 'zeronas train'"))  # plug-ins: no recipe
        full = r.protocol.get("full_evaluations")  # funnel: the progress line counts these
        cheap, members = r.protocol.get("cheap") or [], r.protocol.get("members") or []
        if full is not None and len(members) > 1:  # funnel: a cheap screen of many archs, the whole ensemble on few
            evals = (f"{r.evaluations} archs screened by {'+'.join(cheap) or 'the cheap members'}, {full} scored "
                     f"by all of {r.protocol.get('proxy', 'the ensemble')} ({'+'.join(members)})")
        else:
            evals = f"{r.evaluations} {r.evaluations_unit}"
            draws = r.protocol.get("draws") if r.method in ("sample", "das", "random", "rea") else None
            if isinstance(draws, int) and draws > r.evaluations:  # N draws are not N archs on a small space
                evals += f" ({draws} draws: {draws - r.evaluations} repeated an arch, or an isomorph, already drawn)"
        if str(r.network.get("data")).startswith("folder:") and "%" in acc:  # not an accuracy on those images
            acc = f"benchmark table (its datasets, not your images): {acc}"
        trained = r.protocol.get("fast_training_seconds")  # das --train-steps: part of the seconds, said
        spent = f"{r.seconds:.1f}s" + (f" ({trained:.1f}s of it fast training)" if trained is not None else "")
        console.print(f"seed {r.seed}: {r.arch}  {acc}  {evals}, {r.accuracy_reads} accuracy reads, {spent}",
                      highlight=False, soft_wrap=True)  # one line, also in a pipe
        reads = {m: n for m, n in (r.protocol.get("store_reads") or {}).items() if n}
        if reads:  # a resume: what came back instead of being computed
            err_console.print(f"[yellow]note:[/] read back from the store {store}, not computed again: "
                              + ", ".join(f"{m} on {n} arch{'s' * (n != 1)}" for m, n in reads.items()),
                              soft_wrap=True, highlight=False)
        same: dict = {}  # members failing on the same archs (a build that raises): one note for them all
        for member, f in (r.protocol.get("failures") or {}).items():
            same.setdefault((f["archs"], f["of"], str(f["first"])), []).append(member)
        for (n_failed, of, first), members in same.items():  # never counted as scored without a word
            err_console.print(f"[yellow]note:[/] {', '.join(members)} gave no value on {n_failed} of the {of} archs "
                              f"asked for (ranked last; the first: {escape(first)})", soft_wrap=True, highlight=False)
        given, each = time_budget or r.protocol.get("time_budget"), r.protocol.get("seconds_per_full_evaluation")
        members = r.protocol.get("members") or []  # (the loop above reuses the name)
        per = f" ({'+'.join(members)} took about {each:.3g} s per architecture here)" if each and full else ""
        if given and r.seconds > 1.05 * given + 1:  # never a silent overrun
            err_console.print(f"[yellow]note:[/] the search took {r.seconds:.0f} s of its {given:g} s budget: an "
                              f"evaluation, once started, runs to its end, and the first one's cost is not known "
                              f"before it runs{per}", soft_wrap=True)
        # the ensemble ranked ~nothing, and a larger budget would have ranked more (not a space it scored whole)
        scored_pool = full is not None and full >= r.protocol.get("pool", 0)
        whole = r.protocol.get("pool_is_whole_space") and scored_pool
        # a space that cannot be listed: 1000 draws in a row found nothing new, likely all of it (not proven)
        drawn_out = r.protocol.get("draws_exhausted") and scored_pool and not whole
        if whole and r.constraints and not refine:  # fewer than asked, and no budget would find more
            err_console.print(f"[yellow]note:[/] the bounds leave only {r.protocol.get('pool')} distinct network(s) "
                              "(up to isomorphism) of the space, and all were scored: more --budget or "
                              "--time-budget cannot find others", soft_wrap=True)
        elif drawn_out and not refine:
            err_console.print(f"[yellow]note:[/] 1000 random draws in a row found no network beyond these "
                              f"{r.protocol.get('pool')} (up to isomorphism), all scored: the "
                              f"{'bounds seem' if r.constraints else 'space seems'} to leave no others (the space "
                              "cannot list its architectures to make sure)", soft_wrap=True)
        whole = whole or drawn_out
        if full is not None and r.protocol.get("dear") and full < funnel_leaders and not whole:
            for_10 = r.protocol.get("time_budget_for_10")
            raise_to = f"; raise --time-budget (about {for_10} s lets it score 10)" if for_10 and given \
                else "; raise --budget or --time-budget"
            err_console.print(f"[yellow]note:[/] only {full} architecture(s) were scored by the whole ensemble{per}, "
                              f"so the answer is mostly the {'+'.join(cheap)} screen's pick{raise_to}",
                              soft_wrap=True)
        if r.protocol.get("tournaments") == 0:  # evolution that never evolved: say it, as the answer reads alike
            pop = r.protocol["population"]
            err_console.print(f"[yellow]note:[/] no tournament ran: the budget ended once the population of {pop} "
                              "was drawn, so this was random sampling; raise --budget (or --time-budget) past "
                              f"{pop} evaluations, or lower --population", soft_wrap=True)
        ref = r.protocol.get("refine") or {}
        if refine and r.accuracy_reads < refine:  # never silently fewer than asked
            left = f"{ref['out_of_time']}; " if ref.get("out_of_time") else ""
            why = (f"the time budget ran out ({left}raise --time-budget)" if ref.get("ran_out_of_time")
                   else f"the bounds leave only {r.protocol.get('pool')} distinct network(s) (up to isomorphism), "
                   "and all were read" if r.protocol.get("pool_is_whole_space") and r.constraints
                   and r.accuracy_reads >= r.protocol.get("pool", 0)
                   else "the search had no more distinct candidates to read (raise "
                   + ("--n" if method == "sample" else "--time-budget or --budget") + ")")
            err_console.print(f"[yellow]note:[/] {r.accuracy_reads} of the {refine} accuracy reads asked: {why}",
                              soft_wrap=True)
        if ref.get("reads_cut_short"):  # a read of a few steps is near chance: never let it pass unremarked
            lo, hi = min(ref["train_images"]), max(ref["train_images"])
            err_console.print(f"[yellow]note:[/] {ref['reads_cut_short']} of the {r.accuracy_reads} training reads "
                              f"stopped part-way to fit the time budget ({lo:,}{f'-{hi:,}' if hi != lo else ''} "
                              f"of {ref['train_subset']:,} images): a weak accuracy signal; raise --time-budget "
                              "for fuller reads", soft_wrap=True)
        if r.constraints.get("answer"):
            console.print("  answer: " + ", ".join(f"{k} {v:.4g}" for k, v in r.constraints["answer"].items()),
                          highlight=False, soft_wrap=True)
        if r.constraints.get("flops_not_counted") and k == 0:
            err_console.print(f"[yellow]note:[/] FLOPs: {r.constraints['flops_not_counted']}", soft_wrap=True,
                              highlight=False)
        # the searched dataset's accuracy (NB201), or the benchmark's own target (NB101 val_acc, ...)
        shown_ds = fds if r.space == "nb201" else "cifar10"
        label = SHORT_DATASET.get(shown_ds, shown_ds) if r.space == "nb201" else b.get("target", "acc")
        for p in r.front:
            costs = ", ".join(f"{k} {p[k]:.4g}" for k in r.constraints["objectives"] if k != "score")
            true = f"  {label} {p['test_acc'][shown_ds]:.2f}" if shown_ds in p.get("test_acc", {}) else ""
            console.print(f"  front: {p['arch']}  score {p['score']:.4g}, {costs}{true}", highlight=False,
                          soft_wrap=True)  # an arch string is copied from here: never broken across lines
    if len(results[0].trajectory) > 1:
        _print_trajectory(results[0])
    if runs > 1:
        if all("cifar10" in r.benchmark for r in results):
            for ds in [d for d in ("cifar10", "cifar100", "imagenet16-120")
                       if all(d in r.benchmark for r in results)]:
                vals = [r.benchmark[ds] for r in results]
                name = results[0].benchmark.get("target", ds) if ds == "cifar10" else ds  # macro: mean_acc, ...
                console.print(f"{name}: {statistics.mean(vals):.2f} +- {statistics.stdev(vals):.2f} over {runs} runs")
        else:  # no accuracy to average (a plug-in space, an arch outside the table): how the seeds agreed
            answers = collections.Counter(r.arch for r in results)
            arch, n = answers.most_common(1)[0]
            console.print(f"no benchmark accuracy to average over the {runs} runs: {len(answers)} distinct "
                          f"answer(s); the most common, {n} of {runs}: {arch}", highlight=False, soft_wrap=True)
        console.print(f"time: {statistics.mean([r.seconds for r in results]):.1f}s +- "
                      f"{statistics.stdev([r.seconds for r in results]):.1f}s per search")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # an earlier search's plot or front in the same --out would sit beside this run's result as if its own
        kept = dict(zip(SEARCH_PLOTS_AND_FRONT, (plot, bool(results[0].front), bool(results[0].front))))
        stale = [out / n for n, ours in kept.items() if not ours and (out / n).exists()]
        for f in stale:
            f.unlink()
        payload = results[0].to_dict() if runs == 1 else [r.to_dict() for r in results]
        jsonio.write(out / "result.json", payload, indent=1, default=str)
        removed = f" (removed the earlier run's {', '.join(f.name for f in stale)})" if stale else ""
        console.print(f"wrote {out / 'result.json'}{removed}")
        if plot:
            _plot_trajectory(results, out / "trajectory.png")
            console.print(f"wrote {out / 'trajectory.png'}")
        if results[0].front:
            from .search.front_report import plot_front

            fronts = [{"seed": r.seed, "space": r.space, "objectives": r.constraints["objectives"],
                       "constraints": r.constraints, "score": r.protocol.get("front_score"), "front": r.front,
                       "network": r.network}
                      for r in results]
            jsonio.write(out / "front.json", fronts[0] if runs == 1 else fronts, indent=1)
            plot_front(results, out / "front.png", data_dir)
            console.print(f"wrote {out / 'front.json'} and {out / 'front.png'}")


SEARCH_PLOTS_AND_FRONT = ("trajectory.png", "front.json", "front.png")  # written beside result.json when asked


def _parallel_runs(space, method, seeds, kwargs, workers, executor, ray_address, threads) -> list:
    """search --workers / --executor ray: the runs at once (``search.parallel.run_seeds``), a line as each ends."""
    from .correlate import _hms
    from .run import _on_gpu, usable_cores
    from .scoring import resolve_device
    from .search.base import no_empty_store
    from .search.parallel import run_seeds

    def said(r, done, total, eta):
        err_console.print(f"run {done}/{total} ended (seed {r.seed}, {r.seconds:.0f} s)"
                          + (f", ETA {_hms(eta)}" if done < total else ""), highlight=False)

    resolve_device(kwargs.get("device") or "cpu")  # what every run would refuse, said once, before they start
    # every run refusing its settings (e.g. --train-lr without --train-steps) leaves no new, empty store
    with no_empty_store(kwargs.get("store")):
        if kwargs.get("store") is not None:
            from .store import Store

            Store(kwargs["store"]).close()  # a file that is not a store, or a server out of reach
        gpu = _on_gpu(kwargs)
        err_console.print(f"running {len(seeds)} seeds " + ("as Ray tasks" if executor == "ray" else
                          f"in {min(len(seeds), workers or (1 if gpu else usable_cores()))} processes at once"),
                          highlight=False)
        return run_seeds(space, method, seeds, kwargs, workers or 0, executor, ray_address, threads,
                         on_result=said)


def _percentile(value: float) -> str:
    """A percentile (percent of archs below) cut, not rounded, to one decimal: 99.96 with archs above it is
    99.9, never 100.0, which only the best reaches."""
    return f"{math.floor(value * 10) / 10:.1f}" if math.isfinite(value) else "nan"


def _print_trajectory(result, rows: int = 6):
    """A short trajectory: a few evenly spaced points of the first run."""
    pts = result.trajectory
    picks = sorted({round(i * (len(pts) - 1) / (rows - 1)) for i in range(rows)})
    refined = result.protocol.get("refine")
    caption = (f"the label-free phase; the answer after --refine's {result.accuracy_reads} accuracy read(s) is the "
               f"seed line above" if refined else None)
    table = Table(title=f"trajectory (seed {result.seed})", caption=caption)
    keys = [k for k in pts[-1] if k not in ("policy_argmax", "ops_left", "arch")]
    for k in keys:
        table.add_column(_accuracy_label(result, k), overflow="fold")
    for i in picks:
        table.add_row(*[f"{pts[i].get(k):.4g}" if isinstance(pts[i].get(k), float) else
                        "-" if k == "cifar10" and pts[i].get(k) is None else str(pts[i].get(k, "")) for k in keys])
    console.print(table)


def _accuracy_label(result, key: str = "cifar10") -> str:
    """A trajectory column's header: the ``cifar10`` accuracy is NB201's test accuracy, elsewhere the table's own
    target column (NB101 val_acc, NB301 val_acc_surrogate, ...), named so; other keys as they are (sample,
    random and rea rows have a ``draw``, repeats of a drawn arch included, and ``evaluation``, the distinct
    archs scored by then)."""
    if key != "cifar10":
        return key
    target = result.benchmark.get("target")
    return f"C10 {target}" if target else "C10 test acc" if result.space == "nb201" else "C10 acc"


MAX_PLOTTED_RUNS = 10
SHORT_DATASET = {"cifar10": "C10", "cifar100": "C100", "imagenet16-120": "IN16"}  # as the answer's line writes them


def _plot_trajectory(results, path: Path):
    """One panel per run (the first MAX_PLOTTED_RUNS): the search's best fitness (or reward) so far, and the
    CIFAR-10 test accuracy of that best on a second axis, both as steps (they change only at improvements)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = results[:MAX_PLOTTED_RUNS]
    runs = [[p for p in r.trajectory if "evaluation" in p] for r in shown]
    if not all(runs):
        raise UserError(f"method {results[0].method} has no per-evaluation trajectory to plot")
    fig, axes = plt.subplots(len(runs), 1, figsize=(6.5, 0.6 + 2.6 * len(runs)), squeeze=False, sharex=True)
    for ax, result, pts in zip(axes[:, 0], shown, runs):
        x = [p.get("draw", p["evaluation"]) for p in pts]  # (sample/random/rea: a row per draw, repeats too)
        key = "best_fitness" if "best_fitness" in pts[0] else "reward" if "reward" in pts[0] else None
        lines = []
        if key:  # drawn thick and dashed: where the two steps coincide, both stay visible
            lines += ax.step(x, [p[key] for p in pts], where="post", color="tab:blue", lw=2.5, ls="--",
                             label=key.replace("_", " "))
            ax.set_ylabel(key.replace("_", " "), color="tab:blue")
        if "cifar10" in pts[0]:
            ax2 = ax.twinx() if key else ax
            label = _accuracy_label(result)
            lines += ax2.step(x, [math.nan if p["cifar10"] is None else p["cifar10"] for p in pts], where="post",
                              color="tab:red", lw=1.2, label=f"{label} of that best (%; gaps: not in the table)")
            ax2.set_ylabel(f"{label} (%)", color="tab:red")
        if lines:
            ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="lower right")
        ax.set_title(f"{result.method} on {result.space}, seed {result.seed}", fontsize=9)
    axes[-1, 0].set_xlabel("draws" if "draw" in runs[0][0] else "evaluations")
    if len(results) > len(shown):
        fig.suptitle(f"the first {len(shown)} of {len(results)} runs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _space_for(space_name: str | None, arch_file: Path | None):
    """--space, else the space the --arch-file result.json records (a search of nb101 exported without
    repeating --space), else nb201."""
    from .spaces import space as get_space
    from .spaces.arch_file import recorded_space

    if space_name is not None:
        return get_space(space_name)
    recorded = recorded_space(arch_file) if arch_file is not None else None
    if recorded is None:
        return get_space("nb201")
    try:
        return get_space(recorded)
    except UserError as exc:  # a plug-in space's file moved, or a relative path read from another folder
        raise UserError(f"{arch_file} records the space {recorded!r}, which does not load here ({exc}); pass "
                        "--space with that space (path/to/file.py:Class)") from None


def _one_arch(space_name: str | None, arch: str | None, arch_file: Path | None, index: int | None, data_dir):
    from .spaces.arch_file import read_arch

    sp = _space_for(space_name, arch_file)
    if arch_file is not None:
        return sp, read_arch(sp, arch_file)
    if arch is None and index is None:
        raise UserError("no architecture given; pass --arch STRING, --arch-file FILE (a genotype, or a "
                        "result.json from 'zeronas search') or --index N")
    return sp, (sp.parse(arch) if arch is not None else sp.from_index(index, data_dir))


def _data_of_search(arch_file: Path | None, doing: str) -> str | None:
    """The data (a dataset name or an image folder) the search whose result.json is ``arch_file`` ran on, said in
    a note when it is not cifar10; None without one. A search on images the file cannot name again (in memory, a
    folder since removed) is a one-line UserError: never cifar10 in their place."""
    from .export import searched_network

    net = _searched_network(arch_file)
    found, _, _, what = searched_network(net) if net else (None, None, None, "")
    if net.get("data") and found is None:
        raise UserError(f"the search in {arch_file} ran on {what}, which {doing} cannot read from the file: "
                        "pass --data (cifar10, cifar100, ImageNet16-120 or your image folder)")
    if found and found != "cifar10":
        err_console.print(f"[yellow]note:[/] {doing} on the data the search in {arch_file} was run on: "
                          f"{found} (--data chooses another)", soft_wrap=True, highlight=False)
    return found


def _searched_network(arch_file: Path | None) -> dict:
    """The ``network`` record (classes, input size, data) of a search's result.json given as --arch-file, else {}."""
    if arch_file is None or Path(arch_file).suffix != ".json":
        return {}
    try:
        doc = json.loads(Path(arch_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    net = doc.get("network") if isinstance(doc, dict) else None
    return net if isinstance(net, dict) and isinstance(net.get("num_classes"), int) else {}


ArchOpt = Annotated[str | None, typer.Option(help="Architecture string. " + ARCH_FORMATS)]
ArchFileOpt = Annotated[Path | None, typer.Option(help="File holding the architecture, or a search result.json.")]
IndexOpt = Annotated[int | None, typer.Option(help="Row of the space's benchmark table (nb201, nb101, nb301, "
                                                   "macro) instead of --arch.")]


@app.command()
@validated
def train(
    space: Annotated[str | None, typer.Option(help="Search space (its recipe gives every default: darts = DARTS "
                                              "600-epoch recipe, nb201 = NAS-Bench-201 200-epoch, nb101 = "
                                              "NAS-Bench-101 108-epoch RMSProp, macro = NAS-Bench-Macro "
                                              "50-epoch; a plug-in space has none: give --epochs, --batch-size "
                                              "and --lr). Default: the space a result.json --arch-file records, "
                                              "else nb201.", show_default=False)] = None,
    arch: ArchOpt = None,
    arch_file: ArchFileOpt = None,
    index: Annotated[int | None, typer.Option(help="Row of the space's benchmark table instead of --arch (on "
                                              "darts, NAS-Bench-301's 725 genotypes).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint.pt, log.jsonl, curve.png, summary.json. "
                                      "Rerunning into the same folder resumes from the last epoch.")] = Path(
        "runs/train"),
    data: Annotated[str | None, typer.Option(help="cifar10 or cifar100 (ImageNet16-120 where its files exist), or "
                                      "your image folder: root/train/<class>/ and root/test/ (or val/), or one "
                                      "root/<class>/ layout of which 20 % of each class is held out as the test "
                                      "set (a fixed split, the same every run); one output per class, the "
                                      "images' own size. Default: the data a search's result.json "
                                      "(--arch-file) was searched on, else cifar10.",
                                      show_default=False)] = None,
    data_dir: DataDir = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (recipe: darts 600, nb201 200, nb101 108, macro "
                                               "50).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (recipe: darts 96, the others 256).")] = None,
    lr: Annotated[float | None, typer.Option(help="Initial learning rate, cosine-annealed to --lr-min "
                                             "(recipe: darts 0.025, nb201 and macro 0.1, nb101 0.2).")] = None,
    lr_min: Annotated[float | None, typer.Option(help="Final learning rate (recipe 0).")] = None,
    momentum: Annotated[float | None, typer.Option(help="Momentum of the optimizer (recipe 0.9).")] = None,
    nesterov: Annotated[bool | None, typer.Option(help="Nesterov momentum, SGD only (recipe: nb201 yes, the others "
                                                  "no).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay (recipe: darts 3e-4, nb201 and macro "
                                                       "5e-4, nb101 1e-4).")] = None,
    optimizer: Annotated[str | None, typer.Option(
        help="sgd, or rmsprop-tf: TensorFlow 1's RMSProp (epsilon 1.0 under the square root, mean square "
             "starting at 1), as NAS-Bench-101 trained (recipe: nb101 rmsprop-tf, the others sgd).")] = None,
    cutout: Annotated[int | None, typer.Option(help="Cutout square side, 0 = off (recipe: darts 16).")] = None,
    auxiliary_weight: Annotated[float | None, typer.Option(
        help="DARTS auxiliary-head loss weight, 0 = no head (recipe 0.4).")] = None,
    drop_path_prob: Annotated[float | None, typer.Option(
        help="DARTS drop-path probability, raised linearly over the epochs (recipe 0.2).")] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Gradient-norm clip, 0 = off (recipe: darts 5).")] = None,
    channels: Annotated[int | None, typer.Option("--C", help="Initial channels (recipe: darts 36, nb201 16, nb101 "
                                                 "128; macro's are fixed).")] = None,
    cells: Annotated[int | None, typer.Option("--N", help="Cells: DARTS in all (recipe 20), NB201 per stage "
                                              "(recipe 5), NB101 per stack (recipe 3); macro's are fixed.")] = None,
    train_subset: Annotated[int | None, typer.Option(help="Train on this many images (seeded pick).")] = None,
    test_subset: Annotated[int | None, typer.Option(help="Evaluate on this many test images.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of init, shuffling, augmentation and drop-path.")] = 0,
    device: Annotated[str, typer.Option(help="Torch device (cpu, cuda, cuda:1, ...).")] = "cpu",
    resume: Annotated[bool, typer.Option(help="Resume from checkpoint.pt in --out when present.")] = True,
    max_epochs_this_run: Annotated[int | None, typer.Option(
        help="Stop after this many epochs of this call and keep the checkpoint: a long recipe run in chunks "
             "(rerun the same command to go on).", show_default=False)] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Seconds this run may take, set-up and evaluation included: training stops before a step that, as "
             "long as the fastest so far and followed by the final evaluation, would pass it (at least one step "
             "runs) and the network is evaluated as it is. A time-limited run starts afresh.",
        show_default=False)] = None,
    threads: Threads = None,
):
    """Train an architecture with its space's standard recipe; every hyperparameter can be overridden."""
    from .train import train as run_train

    _set_threads(threads)
    sp, a = _one_arch(space, arch, arch_file, index, data_dir)
    if data is None:  # the data the search chose the arch on (its folder or dataset), not cifar10 without a word
        data = _data_of_search(arch_file, "training") or "cifar10"
    _note_shadowed(data)
    overrides = dict(epochs=epochs, batch_size=batch_size, lr=lr, lr_min=lr_min, momentum=momentum,
                     nesterov=nesterov, weight_decay=weight_decay, cutout=cutout, auxiliary_weight=auxiliary_weight,
                     drop_path_prob=drop_path_prob, grad_clip=grad_clip, C=channels, N=cells, optimizer=optimizer)
    s = run_train(sp, a, out, data=data, data_dir=data_dir, device=device, seed=seed, train_subset=train_subset,
                  test_subset=test_subset, resume=resume, time_limit=time_limit,
                  max_epochs_this_run=max_epochs_this_run, **overrides)
    if s["finished"] and not s["epochs_this_run"]:  # a rerun of a finished run: nothing trained, said first
        console.print(f"{out} already holds this run, finished ({s['epochs_done']} of {s['recipe']['epochs']} "
                      f"epochs): nothing trained; its log follows (pass --no-resume to train it again)",
                      highlight=False)
    table = Table(title=f"training log ({out / 'log.jsonl'})")
    for col in ("epoch", "lr", "train loss", "train acc", "test loss", "test acc", "s/epoch"):
        table.add_column(col)
    from .train.trainer import read_log

    for r in (read_log(out / "log.jsonl") if (out / "log.jsonl").exists() else [])[-10:]:
        table.add_row(str(r["epoch"]), f"{r['lr']:.4g}", f"{r['train_loss']:.4f}", f"{r['train_acc']:.2f}",
                      f"{r['test_loss']:.4f}", f"{r['test_acc']:.2f}", f"{r['epoch_seconds']:.1f}")
    console.print(table)
    per_epoch = s["train_images_per_epoch"]
    left = s["train_images"] - per_epoch
    dropped = (f", {per_epoch} of them per epoch (the last {left}, fewer than a batch of "
               f"{s['recipe']['batch_size']}, are dropped; a different {left} each epoch)" if left > 0 else "")
    console.print(f"{s['params']:,} parameters; {s['train_images']} train{dropped} / {s['test_images']} test "
                  f"images (training images: {s['fidelity']}); wrote {out / 'curve.png'} and {out / 'summary.json'}",
                  highlight=False)
    for note in s["notes"]:  # (a --time-limit stop among them: the summary keeps it too)
        console.print(f"note: {note}", highlight=False)


@app.command("export")
@validated
def export_cmd(
    space: Annotated[str | None, typer.Option(help="nb201, darts, nb101, nb301, macro, or a plug-in space (see "
                                              "'zeronas spaces'); --C/--N apply to the cell spaces. Default: the "
                                              "space a result.json --arch-file records, else nb201.",
                                              show_default=False)] = None,
    arch: ArchOpt = None,
    arch_file: ArchFileOpt = None,
    index: IndexOpt = None,
    format: Annotated[str, typer.Option(help="json (description to rebuild it), torchscript or onnx (traced, "
                                        "eval mode).")] = "json",
    out: Annotated[str | None, typer.Option(help="Output file (default runs/export/model.json, .pt or .onnx by "
                                            "--format), or a folder (an existing one, or a path ending in /) to "
                                            "write that model file into.", show_default=False)] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Export the trained weights of this 'zeronas train' "
                                                    "checkpoint.pt.")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset (cifar10, cifar100, ImageNet16-120) or your image "
                                             "folder (root/<class>/<images>): sets the classes and input size. "
                                             "Default: the checkpoint's, else the network a search's "
                                             "result.json (--arch-file) scored, else cifar10.",
                                             show_default=False)] = None,
    num_classes: Annotated[int | None, typer.Option(help="Classifier outputs (default: --data's).",
                                                    show_default=False)] = None,
    input_size: Annotated[str | None, typer.Option(help="Input size in pixels, N or HxW, of the traced module "
                                                   "(default: --data's).", show_default=False)] = None,
    channels: Annotated[int | None, typer.Option("--C", help="Channels (default: the training recipe's).")] = None,
    cells: Annotated[int | None, typer.Option("--N", help="Cells (default: the training recipe's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the untrained weights (without --checkpoint; default "
                                             "0): the same seed exports the same network.",
                                             show_default=False)] = None,
    data_dir: DataDir = None,
):
    """Export an architecture as JSON, a TorchScript module or an ONNX model. With --checkpoint and no --arch,
    --arch-file or --index: the arch the checkpoint was trained on."""
    from .export import SUFFIXES, default_out, export_with_summary, searched_network

    if checkpoint is not None and arch is None and arch_file is None and index is None:
        sp, a = space, None  # export reads the arch the checkpoint was trained on
    else:
        sp, a = _one_arch(space, arch, arch_file, index, data_dir)
    suffix = SUFFIXES.get(format, ("",))[0]  # (an unknown --format is refused by export, in one line)
    out = default_out(format) if out is None else out
    net = _searched_network(arch_file) if checkpoint is None and data is None else {}
    said = None
    if net:  # the network the search scored, not cifar10's: each option given replaces its own
        data, k, size, what = searched_network(net)
        num_classes, input_size = num_classes or k, input_size or size
        said = (f"[yellow]note:[/] exported the network the search in {arch_file} scored: {what}; --data, "
                "--num-classes or --input-size choose another")
    _note_shadowed(data)
    into = str(out).endswith(("/", os.sep)) or Path(out).is_dir()  # (as export reads --out)
    replaced = (Path(out) / f"model{suffix}" if into else Path(out)).is_file()
    # images given in memory: the search's record carries their normalisation, which export reads off a result
    # (and a folder's: its digest tells the export whether the images changed since the search)
    target = SimpleNamespace(arch=a, network=net, method="") if net else a
    path, info = export_with_summary(sp, target, format, out, checkpoint=checkpoint, data=data, C=channels,
                                     N=cells, seed=seed, num_classes=num_classes, input_size=input_size)
    if said:  # after the export: an error would have made it a promise not kept
        err_console.print(said, soft_wrap=True, highlight=False)
    weights = f"untrained, seed {0 if seed is None else seed}"
    if checkpoint is not None:  # which weights it holds: an unfinished run's are said (from export's one read)
        done = info["progress"]
        weights = f"weights after {done['epochs_trained']:g}" + (
            f" of {done['epochs_planned']}" if "epochs_planned" in done else "") + " epochs"
        if done.get("epochs_planned", 0) > done["epochs_trained"]:
            weights += ": an unfinished or time-limited run"
    name, classes, (h, w) = info["data"], info["classes"], info["input"]
    console.print(f"wrote {path} ({format}; {weights}; {classes} classes, 3x{h}x{w} input, {name})"
                  + (", replacing the earlier export there" if replaced else ""), highlight=False)
    for note in info.get("notes", []):
        err_console.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)


bench_app = typer.Typer(no_args_is_help=True, help="Training-states bench: train architectures a few epochs and "
                        "record accuracy, loss and proxies on the weights after every epoch.")
app.add_typer(bench_app, name="bench")


@bench_app.command("build")
@validated
def bench_build(
    space: Annotated[str, typer.Option(help="nb201 or darts (see 'zeronas spaces').")] = "nb201",
    sample: Annotated[int, typer.Option(help="Random architectures to train (distinct strings; at least 3, and "
                                        "100 or more for a rho worth reading).")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the init and the training.")] = 0,
    epochs: Annotated[int, typer.Option(help="Epochs per architecture (cosine schedule over them).")] = 3,
    proxies: Annotated[str, typer.Option(help="Proxies measured at init and after every epoch.")] = "nwot,das,das_d,"
                                                                                                      "das_na",
    store: Annotated[str, typer.Option(help=f"Results store ({STORE_FORMS}); a killed build rerun with the same "
                                       "settings resumes at the first unfinished architecture.")] = "runs/bench.db",
    data: Annotated[str, typer.Option(help="Training images: cifar10 or cifar100 (ImageNet16-120 where its files "
                                      "exist).")] = "cifar10",
    train_subset: Annotated[int, typer.Option(help="Training images (seeded pick).")] = 2048,
    test_subset: Annotated[int, typer.Option(help="Test images for the per-epoch accuracy.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 128,
    proxy_batch: Annotated[int | None, typer.Option(
        help="Batch size of the proxies (default 64); a note says so when no asked proxy reads a batch.",
        show_default=False)] = None,
    lr: Annotated[float, typer.Option(help="Initial learning rate (SGD, the space's recipe otherwise).")] = 0.1,
    channels: Annotated[int, typer.Option("--C", help="Network channels (reduced for a CPU).")] = 8,
    cells: Annotated[int | None, typer.Option("--N", help="Cells (NB201: per stage; default 1; DARTS: in all, "
                                              "default 5, at least 3).", show_default=False)] = None,
    data_dir: DataDir = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
    threads: Threads = None,
):
    """Train a sample of architectures briefly and store their per-epoch states."""
    from .bench import build

    _set_threads(threads)

    info = build(space, sample=sample, seed=seed, epochs=epochs, proxies=proxies, store=store, data=data,
                 train_subset=train_subset, test_subset=test_subset, batch_size=batch_size, proxy_batch=proxy_batch,
                 lr=lr, C=channels, N=cells, data_dir=data_dir, device=device, progress=True)
    console.print(f"bench {info['protocol_hash']}: {info['archs']} archs, trained now {info['trained_now']} in "
                  f"{info['seconds']:.0f}s; store {store}")
    for note in info["notes"]:
        console.print(f"note: {note}", highlight=False)


@bench_app.command("correlate")
@validated
def bench_correlate(
    store: Annotated[str, typer.Option(help=f"Store holding the bench ({STORE_FORMS}).")] = "runs/bench.db",
    protocol: Annotated[str | None, typer.Option(help="Bench protocol hash (default: the newest).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write bench_correlation.json and rho_by_epoch.png here.")] = None,
    data_dir: DataDir = None,
):
    """Spearman of each proxy / accuracy at epoch k with the bench's final accuracy and, on NB201, with the
    benchmark's 200-epoch and 12-epoch test accuracy of the bench's dataset."""
    from .bench import correlate as bench_rho

    res = bench_rho(store, protocol=protocol, out=out, data_dir=data_dir)
    proto, tnames = res["protocol"], res["targets"]
    table = Table(title=f"training-states bench: Spearman rho ({res['archs']} archs, {proto['recipe']['epochs']} "
                        f"epochs, C={proto['recipe']['C']} N={proto['recipe']['N']}, {proto['train_subset']} "
                        f"{proto['data']} images)")
    for col in ("metric", "epoch", *tnames):
        table.add_column(col, overflow="fold")
    for r in res["rows"]:
        table.add_row(r["metric"], str(r["epoch"]), *[f"{r[t]:.3f}" if t in r else "-" for t in tnames])
    console.print(table)
    for n in res["notes"]:
        console.print(f"note: {n}", highlight=False)
    if "written" in res:
        console.print(f"wrote {' and '.join(res['written'])}")


def _told_apart(rows: list[dict], described: list[str]) -> list[str]:
    """Each row's protocol words, with the settings that differ added where two protocols of one space and
    proxy read alike (e.g. proxy options): a report never shows two rows the same but for the hash."""
    def leaves(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    groups: dict[tuple, list[int]] = {}
    for i, (r, what) in enumerate(zip(rows, described)):
        groups.setdefault((r["space"], r["proxy"], what), []).append(i)
    out = list(described)
    for members in (g for g in groups.values() if len(g) > 1):
        flat = [leaves(rows[i]["protocol"]) for i in members]
        keys = sorted({k for f in flat for k in f if "sha256" not in k and len({str(g.get(k)) for g in flat}) > 1})
        for i, f in zip(members, flat):
            out[i] += "; " + ", ".join(f"{k}={f.get(k, '-')}" for k in keys[:3]) if keys else ""
    return out


@app.command("report")
@validated
def report(
    store: Annotated[str, typer.Option(help=f"Results store to summarise ({STORE_FORMS}).")] = "runs/zeronas.db",
    export: Annotated[Path | None, typer.Option(help="Also write every score, with its protocol, to this .csv, "
                                                ".csv.gz or .parquet file (Parquet needs pandas and pyarrow); "
                                                "'zeronas merge' loads it into any store. 'created' is epoch "
                                                "seconds (created_utc the same as a date). Scores beside their "
                                                "benchmark accuracy and table index: 'zeronas correlate --out' "
                                                "writes archs.csv.")] = None,
    failures: Annotated[int, typer.Option(help="Kinds of failure to list below the table (errors and NaN/inf "
                                          "values grouped by proxy, protocol and message, most archs first); 0 "
                                          "lists none.")] = 10,
):
    """Summarise a results store: rows per space x proxy x protocol, how many are finite, NaN/inf or errors,
    mean seconds per arch, when the last was written (UTC), and the protocol (dataset, batch, seed, stand-ins);
    then what failed, grouped by message, with an arch each."""
    import datetime

    from .report import report as summarise

    if export is not None:  # a file it may not replace is said before the report, not after it
        from .store import check_export_target

        check_export_target(export)
    res = summarise(store, export=None)
    integrity = res["integrity"] if not res["row_problem"] else "NOT ok: a damaged row (below)"
    table = Table(title=f"{store}: {res['scores']} scores, integrity {integrity}", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("space", "proxy", "rows", "ok/nan/err", "s/arch", "last (UTC)", "protocol: data"):
        # names and numbers never break mid-word; the free-text ones wrap at spaces (and fold a longer word)
        # a long proxy name (a file.py:function, an ensemble) folds: kept whole, it squeezed the other columns
        # out of an 80-column terminal
        table.add_column(col, justify="right" if col in ("rows", "ok/nan/err", "s/arch") else "left",
                         overflow="fold", no_wrap=col in ("space", "rows", "ok/nan/err", "s/arch"),
                         min_width={"space": 5, "proxy": 9, "rows": 4, "ok/nan/err": 10, "s/arch": 6,
                                    "last (UTC)": 10, "protocol: data": 12}.get(col))
    described = []
    for r in res["rows"]:
        data = r["protocol"].get("data")  # a proxy's: a dict; a search method's or a bench's: None or a name
        if not isinstance(data, dict):
            data = {"dataset": data} if isinstance(data, str) else {}
        what = (f"{data.get('dataset', '')} b{data.get('batch_size', '')} seed {data.get('seed', '')}"
                if "batch_size" in data else data.get("dataset")
                or ",".join(f"{k}" for k in data.values()) or "-")
        if data.get("stands_in_for"):
            what += f" (for {data['stands_in_for']})"
        proto = r["protocol"]  # settings that set protocols apart beyond the data, where not the default
        if proto.get("memory_format"):
            what += f", {proto['memory_format']}"
        if proto.get("init") not in (None, "torch-default"):
            what += f", {proto['init']}"
        if proto.get("isomorph_member"):
            what += f", isomorph member {proto['isomorph_member']}"
        if proto.get("threads"):  # channels-last at another thread count: other BN sums, another key
            what += f", {proto['threads']} threads"
        described.append(what)
    for r, what in zip(res["rows"], _told_apart(res["rows"], described)):
        last = (datetime.datetime.fromtimestamp(r["last"], datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
                if r.get("last") is not None else "-")
        table.add_row(r["space"], r["proxy"], str(r["rows"]), f"{r['ok']}/{r['non_finite']}/{r['errors']}",
                      f"{r['mean_seconds']:.2f}", last, f"{r['protocol_hash'][:8]}: {what}")
    console.print(table)
    _print_failures(res["failures"], failures)
    if res["row_problem"]:
        console.print(f"damaged: {res['row_problem']}", highlight=False, soft_wrap=True)
    if export is not None:  # after the table: a store with a damaged row is shown, then its export refused
        if res["row_problem"]:
            raise UserError(f"{res['row_problem']}; nothing was exported")
        from .store import Store

        db = Store(store, create=False)
        try:
            console.print(f"wrote {db.export(export)}")
        finally:
            db.close()


def _print_failures(groups: list[dict], limit: int) -> None:
    """The first ``limit`` kinds of failure of a store (report's ``failures``), one line each (a table squeezed
    the message and arch to a few letters a line at 80 columns): what correlate's 'archs left out' notes
    point to."""
    if not groups or limit == 0:
        return
    archs = sum(g["archs"] for g in groups)
    console.print(f"failures: {archs} scores with no finite value, {len(groups)} kind(s), most archs first:",
                  highlight=False)
    for g in groups[:limit]:
        why = " ".join(str(g["error"]).split())[:300] if g["error"] else "(the proxy's value; no message stored)"
        console.print(f"  {g['proxy']} ({g['space']}, protocol {g['protocol_hash'][:8]}) {g['status']} on "
                      f"{g['archs']} arch(s): {why}; e.g. {g['example']}", highlight=False, markup=False,
                      soft_wrap=True)  # an arch string is copied from here: never broken across lines
    if len(groups) > limit:
        console.print(f"... {len(groups) - limit} more kind(s) of failure: --failures {len(groups)} lists them all; "
                      "every arch with its message: --export FILE", highlight=False)


@app.command("merge")
@validated
def merge(
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE", show_default=False,
        help="Export files (.csv, .csv.gz, .parquet from 'zeronas report --export') or other stores (paths or "
             "database URLs).")],
    store: Annotated[str, typer.Option(help=f"Store to merge into, created if absent ({STORE_FORMS}).")]
    = "runs/zeronas.db",
):
    """Merge scores from other machines' stores or exports into one store. Keys already in the store are kept
    (writers never overwrite); rerunning a merge adds nothing twice, and one killed midway resumes."""
    from .report import merge as merge_into
    from .store import Store

    merged = merge_into(sources, store=store)
    table = Table(title=f"merged into {store}")
    for col in ("source", "rows read", "new"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for m in merged:
        table.add_row(m["source"], str(m["read"]), str(m["new"]))
    console.print(table)
    for m in merged:
        if m["conflicts"]:
            console.print(f"note: {m['source']}: {m['conflicts']} row(s) have keys {store} already held with another "
                          "value; the store's were kept (a store never overwrites a score: delete those rows "
                          "there first to take the source's)", highlight=False, soft_wrap=True)
        if m["unchecked"]:
            console.print(f"note: {m['source']}: {m['unchecked']} row(s) carry no row_sha256 digest (an export "
                          "written before that column existed, or with it removed), so they were merged without "
                          "the check for edits", highlight=False, soft_wrap=True)
    db = Store(store, create=False)
    try:
        console.print(f"{store}: {db.count()} scores")
    finally:
        db.close()


@app.command("proxies")
@validated
def proxies_cmd():
    """List every registered proxy with its metadata."""
    from .proxies import get_proxy, list_proxies

    cols = ("name", "better", "data", "BN", "dtype", "min batch", "defaults", "what")
    # on a narrow terminal eight columns fold every word onto its own line: keep what picks a proxy (a pipe or
    # file gets every column)
    narrow = console.is_terminal and console.width < 140
    shown = ("name", "better", "data", "what") if narrow else cols
    table = Table(title="zeronas proxies")
    for col in shown:
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "better", "data"),  # looked up: not folded
                         ratio=1 if col == "what" else None)
    for name in list_proxies():
        p = get_proxy(name)
        row = dict(zip(cols, (name, "higher" if p.direction > 0 else "lower", p.data, p.bn_mode, p.dtype,
                              str(p.min_batch) + (f" ({p.batch_option})" if p.batch_option else ""),
                              ", ".join(f"{k}={v}" for k, v in p.defaults.items()) or "-", p.description)))
        table.add_row(*(row[c] for c in shown))
    # a pipe or file has no width of its own (rich assumes 80): give it room rather than fold every word
    (console if console.is_terminal else Console(width=max(console.width, 200), emoji=False)).print(table)
    if narrow:
        console.print(f"(a terminal of 140+ columns also shows BN mode, dtype, min batch and defaults; this one has "
                      f"{console.width}: e.g. COLUMNS=160 zeronas proxies)", highlight=False, soft_wrap=True)
    from .proxies.ensembles import ENSEMBLES

    console.print("rank ensembles (they rank a set: for correlate and search; score takes their members): "
                  + "; ".join(f"{n} = {' + '.join(m)}" for n, m in ENSEMBLES.items())
                  + "; and any ensemble:a+b+...", highlight=False, soft_wrap=True)
    console.print("your own proxy: path/to/file.py:function wherever a proxy name goes, called as "
                  "function(model, x, y) ('python -m pydoc zeronas.proxies.plugin'; examples/my_proxy.py "
                  "in the source tree shows one)", highlight=False, soft_wrap=True)


@app.command("spaces")
@validated
def spaces_cmd():
    """List the search spaces: the built-in ones, the installed plug-ins, and how to name your own."""
    from .spaces import list_spaces, space
    from .spaces.plugin import entry_points

    for name in list_spaces():
        sp = space(name)
        only = getattr(sp, "supernet_only_ops", ())
        extra = f" (and {', '.join(only)} in the supernet only)" if only else ""
        console.print(f"{name}: {sp.size()} architectures; ops: {', '.join(o for o in sp.ops if o not in only)}"
                      f"{extra}")
    installed = entry_points()
    for name, ep in sorted(installed.items()):
        console.print(f"{name}: plug-in space ({ep.value}, installed)", highlight=False)
    console.print("your own space: --space path/to/file.py:ClassName or package.module:ClassName (or install one "
                  "under the entry-point group zeronas.spaces); the methods it needs: 'python -m pydoc "
                  "zeronas.spaces.plugin' (and examples/README.md in the source tree)",
                  highlight=False, soft_wrap=True)


data_app = typer.Typer(help="Show which datasets and benchmark tables were found; convert official benchmark files.")
app.add_typer(data_app, name="data")


@data_app.callback(invoke_without_command=True)
@validated
def data_cmd(ctx: typer.Context, data_dir: DataDir = None,
             download: Annotated[str | None, typer.Option(
                 help="Download and unpack a dataset's official archive first (cifar10 or cifar100; needs "
                      "internet).")] = None):
    """Show which datasets and benchmark tables were found, and where zeronas looked."""
    if ctx.invoked_subcommand is not None:
        given = [f for f, v in (("--data-dir", data_dir), ("--download", download)) if v is not None]
        if given:  # options of 'data' itself: the subcommand would run without them, without a word
            raise UserError(f"{' and '.join(given)} {'belong' if len(given) > 1 else 'belongs'} to 'zeronas data' "
                            f"itself, not to 'data {ctx.invoked_subcommand}' (it writes to its --out): drop "
                            f"{'them' if len(given) > 1 else 'it'}, or run "
                            f"'zeronas data {' '.join(given)} ...' on its own")
        return
    from . import paths
    from .benchmarks.nb201 import MAIN_TABLE
    from .data import DATASETS, load_images
    from .data.datasets import download as fetch
    from .errors import DataNotFound

    if download:
        console.print(f"downloaded into {fetch(download, data_dir)}")
    from rich.text import Text

    console.print(f"looked in: {paths.searched(data_dir)}")
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        err_console.print(f"[yellow]note:[/] --data-dir {data_dir} is not a folder (it does not exist?): nothing "
                          "was found there", highlight=False)
    damaged: list[str] = []
    table = Table()
    table.add_column("what")
    table.add_column("status", overflow="fold")
    for name in DATASETS:
        for split in ("train", "test"):
            try:
                im = load_images(name, split, data_dir)
                table.add_row(f"{name} {split}", f"[green]{len(im)} images[/] {im.fidelity} ({im.source})")
            except DataNotFound:
                table.add_row(f"{name} {split}", "[red]not found[/]")
            except UserError as exc:  # a damaged or refused file: list it and go on to the others
                table.add_row(f"{name} {split}", Text.assemble(("damaged: ", "red"), str(exc)))
                damaged.append(str(exc))
    from .benchmarks import hwnasbench, macro, nb101, nb301

    tables = (("NB201 table", [MAIN_TABLE]), ("HW-NAS-Bench latencies (NB201)", [hwnasbench.HW_TABLE]),
              ("NAS-Bench-101 table", [nb101.MAIN_TABLE, nb101.ZC_TABLE]),
              ("NAS-Bench-301 table", [nb301.ZC_TABLE]), ("NAS-Bench-Macro table", [macro.TABLE]))
    import numpy as np

    from .benchmarks import load_ground_truth

    loaders = {"NB201 table": "nb201", "NAS-Bench-101 table": "nb101", "NAS-Bench-301 table": "nb301",
               "NAS-Bench-Macro table": "macro"}
    for label, rels in tables:  # the first found is the one read (NB101: the converted table before the sample)
        p = next((f for f in (paths.find([r], data_dir) for r in rels) if f), None)
        if p is None:
            table.add_row(label, "[red]not found[/]")
            continue
        try:  # read as a command would: a damaged or partial table is said here, not at its first use
            if label in loaders:
                t = load_ground_truth(loaders[label], data_dir)
                col = t.target_column("cifar10")
                held = int(np.isfinite(t.column(col)).sum())
                counts = f"{len(t):,} archs, {held:,} with {col}"
            else:
                counts = f"{len(hwnasbench.load_hwnasbench(data_dir).arch_str):,} archs"
            table.add_row(label, Text.assemble((str(p), "green"), f" ({counts})"))
        except UserError as exc:
            table.add_row(label, Text.assemble(("damaged: ", "red"), str(exc)))
            damaged.append(str(exc))
    console.print(table)
    if damaged:  # the first problem in full; any others are in the table above
        more = f" (and {len(damaged) - 1} more damaged file(s) listed above)" if len(damaged) > 1 else ""
        raise UserError(damaged[0] + more)


@data_app.command("convert")
@validated
def data_convert(
    source: Annotated[Path, typer.Argument(help="The official file or folder: NAS-Bench-201-v1_[01]-*.pth, "
                                           "NATS-tss-v1_0-3ffb9.pickle.pbz2, or the NATS-tss-v1_0-3ffb9-simple/ "
                                           "(or -full/) folder; or NAS-Bench-101's nasbench_only108.tfrecord "
                                           "(written to nasbench101/nb101_main.csv.gz).", show_default=False)],
    out: Annotated[Path, typer.Option(help="Data folder to write the table into: nasbench201/nb201_main.csv.gz, or "
                                      "nasbench101/nb101_main.csv.gz from a .tfrecord (then use the folder as "
                                      "--data-dir or ZERONAS_DATA).")] = Path("data"),
    replace: Annotated[bool, typer.Option("--replace", help="Replace a table already there that was converted "
                                          "from another file (the same file again needs no flag).")] = False,
):
    """Convert the official NAS-Bench-201 / NATS-Bench-TSS files into zeronas's compact table (about 1 MB,
    loads in under a second): 200-epoch test/valid accuracy per dataset (seed mean), 12-epoch test accuracy,
    params and FLOPs; or NAS-Bench-101's nasbench_only108.tfrecord into one row per cell (108-epoch
    validation/test/train accuracy, mean of its 3 repeats, and parameters). The source file's sha256 goes into
    the .source.json next to the table. Progress: a bar on a terminal, a line every 30 s in a log."""
    from .benchmarks.convert import convert

    info = convert(source, out, progress=True, replace=replace)
    console.print(f"wrote {info['table']}: {info['archs_with_results']} of {info['archs']} archs with results "
                  f"in {info['seconds']:.1f}s (source sha256 {info['source_sha256'][:12]})")
    if info["archs_with_results"] < info["archs"]:
        console.print(f"note: {info['archs'] - info['archs_with_results']} archs have no results in the source; "
                      f"their accuracies are empty (NaN)")
    if info.get("hash_mismatches"):  # NB101: the file's hash of a cell against zeronas's graph hash
        console.print(f"note: {info['hash_mismatches']} of {info['archs']} cells carry a hash that differs from "
                      f"the graph hash zeronas computes for them: the file is not the official one, or zeronas's "
                      f"hash differs from the benchmark's (please report it); rows are keyed by the file's hash")


def _usage_error_types():
    try:  # typer >= 0.17 vendors click
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover
        from click import exceptions as cx
    return cx


def _usage_message(exc, cx) -> str:
    """click's message, its guesses for an unknown option kept only when close: at its 0.6 cutoff it offered
    "--store" for bench build's "--threads", "--out" for "--bogus-opt"."""
    if not isinstance(exc, cx.NoSuchOption) or not exc.possibilities:
        return exc.format_message()
    import difflib

    close = [p for p in exc.possibilities if difflib.SequenceMatcher(None, exc.option_name, p).ratio() >= 0.75]
    return exc.message + (f" (did you mean {' or '.join(close)}?)" if close else "")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@functools.cache
def _command():
    return typer.main.get_command(app)  # built once: typer reads every signature and type hint


def _empty_option(command, argv: list[str]) -> str | None:
    """The first option of ``argv`` given an empty or blank value (``--out ""``, ``--export=``): typer would
    turn an empty path into '.', the current folder, and write there without a word."""
    names: set[str] = set()

    def walk(cmd):
        for p in getattr(cmd, "params", ()):
            if not getattr(p, "is_flag", True) and getattr(p, "opts", None):
                names.update([*p.opts, *getattr(p, "secondary_opts", [])])
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(command)
    for i, token in enumerate(argv):
        if token == "--":
            return None
        name, eq, value = token.partition("=")
        if token in names and i + 1 < len(argv) and not argv[i + 1].strip():
            return token
        if eq and name in names and not value.strip():
            return name
    return None


def _after_interrupt(argv: list[str]) -> str:
    """What an interrupted command kept and how to go on, by command: only some resume."""
    verb = next((a for a in argv if not a.startswith("-")), "")
    second = next((a for a in argv[argv.index(verb) + 1:] if not a.startswith("-")), "") if verb else ""
    if verb == "correlate" or (verb == "bench" and second == "build"):
        return "every result already stored is kept: rerun the same command to resume from its store"
    if verb == "train":
        if any(a == "--time-limit" or a.startswith("--time-limit=") for a in argv):
            return "a time-limited run starts afresh when rerun"
        if "--no-resume" in argv:
            return ("the checkpoint of the last finished epoch, if any, is kept: rerun without --no-resume to go "
                    "on from it")
        return "the run folder keeps the last finished epoch, if any: rerun the same command to resume from it"
    if verb == "data" and "--download" in argv:
        return "the download may be incomplete: rerun the same command to fetch it again"
    if verb == "merge":
        return "the rows already merged are kept: rerun the same command to finish (nothing is added twice)"
    stored = any(a == "--store" or a.startswith("--store=") for a in argv)
    if verb in ("search", "score") and stored:
        return "every result already stored is kept: rerun the same command to resume from its --store"
    if verb == "search":
        return "a search without --store keeps nothing: pass --store to make the next run resumable"
    if verb == "score":
        return ("nothing was written: pass --store DB to keep each architecture's scores as they finish and resume "
                "from them")
    return "nothing was written"


class _PipeSafe:
    """stdout that a reader closing early (``zeronas search ... | head -1``) cannot break: the rest of the output
    is dropped and the command goes on to write its files (a BrokenPipeError used to end it before result.json,
    with exit 1 and no word)."""

    def __init__(self, inner):
        self._inner, self.broken = inner, False

    def write(self, text):
        if not self.broken:
            try:
                return self._inner.write(text)
            except BrokenPipeError:
                self._close()
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self._inner.flush()
            except BrokenPipeError:
                self._close()

    def _close(self):
        self.broken = True
        try:  # what Python flushes at exit goes nowhere, instead of an 'Exception ignored' line
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding, ...: the real stream's
        return getattr(self._inner, name)


def main(argv: list[str] | None = None):
    """Entry point. Every failure is one line on stderr: a bad input or usage (exit 2), an interruption
    (130; SIGTERM, as from ``timeout`` or a job scheduler, 143), or an internal error (1, with the traceback
    only under ZERONAS_DEBUG=1). SIGTERM unwinds like Ctrl-C, so scratch files are removed on the way."""
    import signal

    terminated = []

    def on_term(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (zeronas embedded in a threaded program): leave it be
        previous = None
    from .allocator import keep_freed_memory

    keep_freed_memory()  # the CLI's process is ours (never done on import): see zeronas/allocator.py
    cx = _usage_error_types()
    command = _command()
    empty = _empty_option(command, sys.argv[1:] if argv is None else list(argv))
    if empty:
        _fail(f"{empty} is empty: give it a value (see --help) or drop {empty} to use its default", 2)
    # '| head' (and '2>&1 | head', where the notes on stderr hit the closed pipe): the files are still written
    stdout, sys.stdout = sys.stdout, _PipeSafe(sys.stdout)
    stderr, sys.stderr = sys.stderr, _PipeSafe(sys.stderr)
    try:
        code = command.main(args=argv, prog_name="zeronas", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into an Exit(130) that it returns silently: say it as below
            raise KeyboardInterrupt
    except (UserError, UserCodeError) as exc:  # bad input, or a failure inside the user's own plug-in code
        _fail(_one_line(exc), 2)
    except cx.NoArgsIsHelpError as exc:  # 'zeronas' alone: the help is the answer
        console.print(exc.ctx.get_help(), highlight=False, markup=False)
        sys.exit(0)
    except cx.UsageError as exc:  # unknown option, extra argument, a value of the wrong type
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(_one_line(_usage_message(exc, cx)) + where, 2)
    except cx.ClickException as exc:
        _fail(_one_line(exc.format_message()), exc.exit_code or 2)
    except (typer.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc.__cause__, EOFError):  # typer turns an EOFError from a reader into Abort
            _fail(f"an input file ended early (empty or truncated): {_one_line(exc.__cause__)}", 2)
        _fail(f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; "
              f"{_after_interrupt(sys.argv[1:] if argv is None else list(argv))}", 143 if terminated else 130)
    except MemoryError:
        _fail("out of memory; lower --batch-size, --workers or the network size (--C/--N)", 2)
    except OSError as exc:  # the machine refused what the edge checks could not foresee (disk full, ...)
        if exc.errno not in _REFUSED:
            _internal_error(exc)
        where = f" {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.EACCES, errno.EPERM):  # a read or a write: the fix is the same
            _fail(f"permission denied on{where}: fix its permissions, or choose another location, then rerun "
                  "(finished results are kept)", 2)
        _fail(f"the system refused a write to{where}: {exc.strerror}; free space there or choose another "
              "location, then rerun (finished results are kept)", 2)
    except Exception as exc:  # a bug: say so in one line; the traceback is one variable away
        _internal_error(exc)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)


_REFUSED = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _internal_error(exc: BaseException):
    if os.environ.get("ZERONAS_DEBUG"):
        raise exc
    _fail(f"internal error ({type(exc).__name__}: {_one_line(exc)[:300]}); please report it with the "
          "command you ran; ZERONAS_DEBUG=1 shows the traceback", 1)


def _fail(message: str, code: int):
    from rich.text import Text

    prefix = "error:" if code == 2 else "zeronas:"
    err_console.print(Text.assemble((prefix, "red"), " ", message), soft_wrap=True)  # Text: no markup parsing
    sys.exit(code)


if __name__ == "__main__":
    main()
