"""Export a found architecture so it can leave zeronas: JSON description, TorchScript or ONNX module.

TorchScript and ONNX are traced in eval mode (inference graph: BN running statistics, no drop-path, no
auxiliary head); the JSON form rebuilds the trainable module (its ``rebuild`` field: ``sp =
zeronas.space(name); net = sp.build(sp.parse(arch), **build)``). With ``checkpoint`` (a ``zeronas train``
output) the trained weights are exported.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path

import torch

from .data.custom import searched_network
from .errors import UserError, exit_trapped, shown, with_article
from .paths import atomic_path
from .safe_io import is_torchscript
from .spaces.plugin import portable_source
from .validation import api, callable_module

FORMATS = ("json", "torchscript", "onnx")
# what each format's file is usually named; another known model suffix is refused (it would mislabel the file)
SUFFIXES = {"json": (".json",), "torchscript": (".pt", ".pth", ".ts", ".torchscript"), "onnx": (".onnx",)}


def checkpoint_arch(ckpt: dict, path, space=None) -> tuple:
    """(space, arch string) a ``zeronas train`` checkpoint (``ckpt``, read from ``path``) was trained on; ``space``
    given wins (a plug-in space is recorded by its name alone, so it must be given: UserError otherwise)."""
    from .spaces import list_spaces

    ident = ckpt["identity"]
    if space is None and ident["space"] not in list_spaces():
        src = ckpt.get("space_source")  # recorded by train since 2026-12-07: named, never run unasked (loading a
        if isinstance(src, str):  # plug-in runs its file, and a weights-only checkpoint must not run code)
            raise UserError(f"{path} was trained on the plug-in space {ident['space']!r} of {src}: pass --space "
                            f"{src} to export it (that file is run to build the network)")
        raise UserError(f"{path} was trained on the plug-in space {ident['space']!r}: pass --space "
                        "path/to/file.py:ClassName (space=) to export it")
    return (ident["space"] if space is None else space), ident["arch"]


def space_flag(ckpt: dict) -> str:
    """What ``--space`` names the space a checkpoint was trained on: a built-in name, the plug-in's recorded
    ``file.py:Class``, else a placeholder that says which plug-in (its name alone loads nothing)."""
    from .spaces import list_spaces

    name = ckpt["identity"]["space"]
    if name in list_spaces():
        return name
    src = ckpt.get("space_source")
    return src if isinstance(src, str) else f"path/to/file.py:ClassName (of the plug-in space {name!r})"


@api("export")
def export(space, arch, format: str = "json", out: str | Path | None = None, *, checkpoint: str | Path | None = None,
           data: str | Path | None = None, C: int | None = None, N: int | None = None, seed: int | None = None,
           num_classes: int | None = None, input_size=None) -> Path:
    """``zeronas.export(space, arch, format, out, ...)``, the ``zeronas export`` verb: write ``arch`` (an arch
    string, the space's native value, or a ``SearchResult``: its answer, built for the network its search
    scored unless ``data`` / ``num_classes`` / ``input_size`` are given) of ``space`` (a name or a space
    object) as ``format``: ``json`` (the arch string, its canonical key and the build options:
    ``sp.build(sp.parse(arch), **build)`` with ``sp = zeronas.space(name)`` rebuilds it, its ``rebuild`` field
    says so),
    ``torchscript`` or ``onnx`` (a module traced in eval mode on a ``data``-sized input, 1x3xHxW).
    ``arch=None`` with a ``checkpoint``: the arch it was trained on (``space=None``: its space too).
    ``format`` defaults to ``json``. ``out``: a file, or a folder that receives ``model.json`` / ``model.pt`` /
    ``model.onnx`` (default ``runs/export/model.json`` / ``.pt`` / ``.onnx``, as ``zeronas export``); written
    atomically; an existing file is replaced only when it is an export of this format (never a link, a device
    or another kind of file). ``checkpoint``: a ``zeronas train`` checkpoint whose trained weights are exported
    (its build options and dataset are used; ``data`` may only repeat its dataset); else the network is
    untrained, its weights drawn under ``seed`` (default 0; refused with a checkpoint; the same seed, the same
    weights: the JSON's ``rebuild`` recipe seeds alike; with a checkpoint the JSON names it, its sha256,
    ``epochs_trained`` / ``epochs_planned``
    (a ``note`` when the run was unfinished or time-limited) and a ``load`` line that loads its weights),
    built with ``C`` / ``N`` or the width and depth of the space's training recipe (with
    a checkpoint, ``C`` / ``N`` may only repeat its own). ``data``: the dataset whose classes and image size
    the network takes (default: the checkpoint's, else cifar10), or the user's image folder
    (root/<class>/<images>: one output per class folder, the input its most common image size, as a search on
    that folder built it). ``num_classes`` (outputs) and ``input_size`` (pixels: N, "HxW" or (H, W); the traced
    input, written in the JSON) override ``data``'s; with a checkpoint ``num_classes`` may only repeat its own.
    Returns the written path (``export_with_summary`` also returns what it read, and notes on what the record
    leaves out, e.g. class names a folder no longer matches). Errors: UserError (one line) for an unknown format
    or keyword, a suffix of
    another format, an --out that is not replaceable, a checkpoint of another arch, space or dataset, or an
    ONNX export without the onnx package."""
    if out is None:  # as zeronas export: runs/export/model.json, .pt or .onnx by format
        out = default_out(format)
    return export_with_summary(space, arch, format, out, checkpoint=checkpoint, data=data, C=C, N=N, seed=seed,
                               num_classes=num_classes, input_size=input_size)[0]


def default_out(format: str) -> Path:
    """Where an export goes without ``out``: ``runs/export/model`` with the format's suffix."""
    return Path(f"runs/export/model{SUFFIXES.get(format, ('',))[0]}")


@api("export", public="zeronas.export")  # the CLI's call: its arguments checked, and named by their flags
def export_with_summary(space, arch, format: str, out: str | Path, *, checkpoint: str | Path | None = None,
                        data: str | Path | None = None, C: int | None = None, N: int | None = None,
                        seed: int | None = None, num_classes: int | None = None, input_size=None) -> tuple[Path, dict]:
    """``export``, and what the CLI says of it: (written path, {``progress``: the checkpoint's
    ``checkpoint_progress`` ({} untrained), ``data``: the dataset name the network takes, ``classes``,
    ``input``: (H, W)}), from the one read of the checkpoint."""
    from .data.custom import is_image_folder
    from .spaces.base import resolve as resolve_space
    from .train import RECIPES, recipe_for
    from .train.trainer import IMAGE_FOLDER, read_checkpoint

    fmt = format  # the CLI's --format (@api checks it against FORMATS); the builtin is not needed here
    if checkpoint is not None and seed is not None:  # a seed draws untrained weights; these are trained
        raise UserError("--seed draws untrained weights, and --checkpoint exports trained ones: drop --seed")
    seed = 0 if seed is None else seed
    ckpt = in_memory = None
    scored = None  # a SearchResult's network record: what its search read
    arch_given = arch is not None  # (without one, the checkpoint names both the arch and its space)
    if arch is None:  # the arch the checkpoint was trained on (read once: its weights are used below)
        if checkpoint is None:
            raise UserError("no architecture given: pass arch= (an arch string, the space's value or a "
                            "SearchResult), or checkpoint= to export the arch it was trained on")
        ckpt = read_checkpoint(checkpoint, fix="give the checkpoint.pt that 'zeronas train' wrote")
        space, arch = checkpoint_arch(ckpt, checkpoint, space)
    if all(hasattr(arch, k) for k in ("arch", "network", "method")):  # a SearchResult: its answer, and the
        net = arch.network  # network its search scored, each of data / num_classes / input_size replacing its own
        arch = arch.arch
        scored = net if checkpoint is None else None
        if net and checkpoint is None and data is None:
            data, k, size, _ = searched_network(net)
            num_classes, input_size = num_classes or k, input_size or size
            if data is None and net.get("mean"):  # images given in memory: the normalisation the search used
                in_memory = net
    if str(out).endswith(("/", os.sep)) or Path(out).is_dir():  # a folder: the file goes into it
        out = Path(out) / f"model{SUFFIXES[fmt][0]}"
    suffix = Path(out).suffix.lower()
    claimed = next((f for f, sx in SUFFIXES.items() if suffix in sx), None)
    if claimed is not None and claimed != fmt:
        raise UserError(f"--out {str(out)!r} ends in {suffix}, the suffix of --format {claimed}, but --format {fmt} "
                        f"was given: name it *{SUFFIXES[fmt][0]} or pass --format {claimed}")
    space = resolve_space(space)
    if checkpoint is not None:
        path = Path(checkpoint)
        if ckpt is None:
            ckpt = read_checkpoint(path, fix="give the checkpoint.pt that 'zeronas train' wrote")
        ident = ckpt["identity"]
        if ident["space"] != space.name:  # checked before the arch is read in a space it cannot belong to
            flag = space_flag(ckpt)
            drop = ("" if flag != ident["space"] or arch_given  # (a plug-in's file is named, never loaded unasked)
                    else ", or drop --space (the checkpoint names it)")
            raise UserError(f"{path} was trained on the {ident['space']} space, not {space.name}: pass --space "
                            f"{flag} with its arch ({shown(ident['arch'])}){drop}")
    arch = space.coerce(arch)
    if checkpoint is not None:
        trained_on = ckpt["identity"].get("data")
        if trained_on == IMAGE_FOLDER:  # its classes and size are in the identity: any folder may be named
            if data is not None and not is_image_folder(data):
                raise UserError(f"{path} was trained on an image folder, not --data {data}; drop --data (the "
                                "checkpoint's classes and image size are used)")
        elif data is not None and trained_on is not None and _data_label(data) != _data_label(trained_on):
            # its classifier and the input size it was trained at are the trained data's
            raise UserError(f"{path} was trained on {trained_on}, not --data {data}; drop --data (the "
                            "checkpoint's is used)")
        data = data or trained_on
    data_name, classes, hw = network_target(data, num_classes, input_size, ckpt["identity"] if ckpt else None)
    if ckpt is not None and num_classes is not None and num_classes != ckpt["identity"]["build"].get("num_classes"):
        raise UserError(f"{path} was trained with {ckpt['identity']['build'].get('num_classes')} classes, not "
                        f"--num-classes {num_classes}; drop --num-classes (the checkpoint's are used)")
    plugin = getattr(space, "plugin", False)  # a user's space: its build takes the class count only
    if plugin and (C is not None or N is not None):
        raise UserError(f"--C/--N set the channels and cells of the built-in cell spaces; the plug-in space "
                        f"{space.name} builds its own network (set options as class attributes)")
    if plugin:
        build = {"num_classes": classes}
    elif space.name in RECIPES and recipe_for(space.name).C is not None:  # the width and depth it trains
        recipe = recipe_for(space.name)
        build = {"C": C or recipe.C, "N": N or recipe.N, "num_classes": classes}
    else:  # a benchmark's fixed network (Macro, NB301): its own network, C/N only where its build takes them
        import inspect

        takes = inspect.signature(space.build).parameters
        fixed = [f"--{k}" for k, v in (("C", C), ("N", N)) if v is not None and k not in takes]
        if fixed:  # said as the CLI's flags, not as the build's keywords
            raise UserError(f"{'/'.join(fixed)} sets the width or depth of a cell space's network; the {space.name} "
                            f"network is the benchmark's own, fixed: drop {' and '.join(fixed)}")
        build = {"num_classes": classes, **{k: v for k, v in (("C", C), ("N", N)) if v is not None}}
        space.build(arch, **build)  # refuses what it does not take, in one line, before anything is written
    state, progress = None, {}
    if ckpt is not None:
        if ident["arch"] != space.format(arch):
            raise UserError(f"{path} holds {ident['space']} arch {ident['arch']!r}, not the one given; drop "
                            "--arch, --arch-file and --index (the checkpoint's arch is exported), or give the "
                            "checkpoint of the arch you named")
        build = {k: v for k, v in ident["build"].items() if k in ("C", "N", "num_classes")}
        clash = [f"--{k} {v} (it holds {build.get(k)})" for k, v in (("C", C), ("N", N))
                 if v is not None and v != build.get(k)]
        if clash:  # its weights fix the network: a width or depth given beside it would be dropped
            raise UserError(f"{path} was trained with another network than {', '.join(clash)}; drop --C/--N "
                            "(the checkpoint's are used)")
        state = {k: v for k, v in ckpt["model"].items() if not k.startswith("auxiliary_head")}
        progress = checkpoint_progress(ckpt)
    out = Path(out)
    if checkpoint is not None and out.resolve() == Path(checkpoint).resolve():
        raise UserError(f"--out {str(out)!r} is the checkpoint being exported; give another path")
    _check_replaceable(out, fmt)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # deepest first
    existed = out.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        notes: list[str] = []
        written = _write(space, arch, fmt, out, build, state,
                         (data_name, hw, _preprocess(data, ckpt, data_name, classes, in_memory, notes, scored)),
                         plugin, checkpoint, seed, progress)
        return written, {"progress": progress, "data": data_name, "classes": classes, "input": tuple(hw),
                         "notes": notes}
    except BaseException:  # nothing half-written is left: the new file, and the folders made for it
        if not existed:
            out.unlink(missing_ok=True)
        for p in created:
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def checkpoint_progress(ckpt: dict) -> dict:
    """How far a read ``zeronas train`` checkpoint trained: ``epochs_trained`` (epochs, >= 0; a fraction when
    --time-limit stopped an epoch part-way) and ``epochs_planned`` (its recipe's, when recorded), so an export of
    an unfinished or time-limited run is not read as the full recipe's network."""
    planned = ckpt.get("recipe", {}).get("epochs") if isinstance(ckpt.get("recipe"), dict) else None
    trained = ckpt.get("epochs_trained")
    trained = trained if isinstance(trained, float) and 0 <= trained <= ckpt["epoch"] else ckpt["epoch"]
    trained = int(trained) if trained == int(trained) else trained
    return {"epochs_trained": trained, **({"epochs_planned": planned} if type(planned) is int else {})}


def _check_replaceable(out: Path, fmt: str) -> None:
    """A one-line UserError unless ``out`` is absent or a regular file holding an export of ``fmt`` (a re-export
    replaces it): a link, a device, a folder or another kind of file (a search's result.json) is never
    replaced."""
    if out.is_symlink() or (out.exists() and not out.is_file()):
        what = "a symbolic link" if out.is_symlink() else "not a regular file"
        raise UserError(f"--out {str(out)!r} is {what}; export writes a new regular file: give another path")
    if not out.exists():
        return
    try:
        with out.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise UserError(f"--out {str(out)!r} cannot be read ({exc.strerror}); give another path") from None
    ours = (b'"rebuild"' in head if fmt == "json" else is_torchscript(out) if fmt == "torchscript"
            else head[:1] == b"\x08")  # ONNX's ModelProto opens with its ir_version field
    if not ours:
        raise UserError(f"--out {str(out)!r} exists and is not {with_article(fmt)} export (it would be lost); give "
                        "another path or remove it")


def _data_label(data) -> str:
    """A dataset's name, or ``folder:NAME`` for an image folder (existing or not), without reading it."""
    from .data import dataset_info
    from .data.custom import folder_label
    from .data.datasets import is_dataset_name

    text = str(data)
    if is_dataset_name(text):
        return dataset_info(text).name
    return folder_label(text)


def network_target(data, num_classes: int | None = None, input_size=None,
                   identity: dict | None = None) -> tuple[str, int, tuple[int, int]]:
    """(data's name, classes, (H, W)) of the network to export: a dataset's (default cifar10), or an image
    folder's (its class folders; its most common image size, as a search on the folder read it);
    ``num_classes`` / ``input_size`` replace what ``data`` gives. ``identity``: a checkpoint's, whose run on
    an image folder recorded its classes and size (used even where the folder has gone since)."""
    if identity is not None and "input_hw" in identity:
        label = "image folder" if data in (None, identity["data"]) else _data_label(data)
        return (label, num_classes or identity["build"].get("num_classes"),
                tuple(network_target(None, None, input_size or tuple(identity["input_hw"]))[2]))
    from .data.custom import network_for
    from .models import input_hw

    name, classes, hw = network_for("cifar10" if data is None else str(data))
    if data is None and (num_classes or input_size):  # sizes given, no dataset: not cifar10's network
        name = "as given"
    return name, num_classes or classes, input_hw(input_size) or tuple(hw)


def _preprocess(data, ckpt, data_name: str, classes: int, in_memory: dict | None = None,
                notes: list | None = None, scored: dict | None = None) -> dict | None:
    """How the exported network reads an image (``preprocess_record``): a checkpoint's, as it trained; else
    the dataset's normalisation, or the image folder's own (its images' mean and std, its class names, dropped
    when ``classes`` outputs are not one per folder), or, for a search on images given in memory, the mean
    and std it measured on them (``in_memory``: its ``SearchResult.network``; uint8 arrays scaled to [0, 1]
    first, float ones taken as given); None when only sizes were given ("as given"). ``notes`` gets a line for
    each thing the record leaves out or reads anew: class names that do not match the outputs, a folder whose
    images are not those the search scored (``scored``: its ``SearchResult.network``, with their digest)."""
    from .data import dataset_info
    from .data.custom import is_image_folder, user_images
    from .data.datasets import is_dataset_name, preprocess_record

    if ckpt is not None and isinstance(ckpt.get("preprocess"), dict):
        return ckpt["preprocess"]
    if in_memory is not None:
        record = preprocess_record(in_memory["mean"], in_memory["std"])
        if in_memory.get("scale") == "values as given":
            record["input"] = "NCHW float values as given (not divided by 255), then (x - mean) / std per channel"
        return record
    if data_name == "as given":
        return None
    if is_image_folder(data):
        same = (scored or {}).get("source") and Path(scored["source"]).resolve() == Path(data).expanduser().resolve()
        # the images a search on the folder scored: the same seeded pick (a folder above MAX_IMAGES) and stats
        images = user_images(str(data), seed=(scored or {}).get("seed", 0) if same else 0)
        names = images.classes if len(images.classes) == classes else None
        said = notes if notes is not None else []
        digest = (scored or {}).get("content_sha256")
        if digest and same and images.content_sha256[:len(digest)] != digest:
            said.append(f"the images in {data} are not those the search scored (they changed since): the export "
                        "records their mean/std as they are now")
        if names is None:
            said.append(f"{data} has {len(images.classes)} class folders and the network {classes} outputs: no "
                        "class names recorded (give --num-classes to match the folders, or the folder the "
                        "outputs stand for)")
        return preprocess_record(images.info.mean, images.info.std, names)
    if data is None or is_dataset_name(data):
        info = dataset_info(str(data or "cifar10"))
        return preprocess_record(info.mean, info.std)
    return None


def _write(space, arch, fmt, out, build, state, target, plugin, checkpoint, seed, progress) -> Path:
    data_name, (h, w), preprocess = target
    meta = json.dumps({"input": [3, h, w], "data": None if data_name == "as given" else data_name,
                       "num_classes": build.get("num_classes"), "preprocess": preprocess})
    if hasattr(space, "check_input_size"):  # a size its networks cannot take, said as search and train say it
        space.check_input_size((h, w), what="the export's input (--input-size, or --data's images)")
    with torch.random.fork_rng(devices=[]):  # untrained weights drawn under the seed, as the JSON recipe does
        torch.manual_seed(seed)
        model = space.build(arch, **build)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # names match the identity, but the weights do not fit the network
            raise UserError(f"{checkpoint}: its weights do not fit the network its identity describes "
                            f"({' '.join(str(exc).split())[:160]}); the file is damaged: train again") from None
    model.eval()
    example = torch.randn(1, 3, h, w)
    try:  # a JSON recipe that cannot run, or a trace failing deep inside, is said here in one line
        with torch.no_grad(), exit_trapped():
            model(example)
    except Exception as exc:  # noqa: BLE001  (a plug-in's forward may raise anything on a size it refuses)
        raise UserError(f"the {space.name} network fails on a {h}x{w} input ({' '.join(str(exc).split())[:140]}); "
                        "give an --input-size (or --data images) it takes") from None
    if fmt == "json":
        key = portable_source(space.source) if plugin else space.name
        seeded = "" if state is not None else f"torch.manual_seed({seed}); "  # untrained: the same weights
        desc = {"space": space.name, "arch": space.format(arch), "canonical": space.canonical(arch), "build": build,
                "rebuild": f"import torch, zeronas; {seeded}sp = zeronas.space({key!r}); "
                           "net = sp.build(sp.parse(arch), **build)",
                "trained": state is not None, "input": [3, h, w],
                "data": None if data_name == "as given" else data_name, "preprocess": preprocess}
        if state is None:
            desc["seed"] = seed
        if plugin:
            desc.update(space_source=portable_source(space.source), input_size=h if h == w else [h, w])
        if state is not None:  # which weights: the JSON alone rebuilds the network, these load into it
            from .paths import file_sha256

            ckpt = Path(checkpoint).resolve()
            desc.update(progress, checkpoint=str(ckpt), checkpoint_sha256=file_sha256(ckpt),
                        load="ck = torch.load(checkpoint, weights_only=True); net.load_state_dict({k: v for k, v "
                             "in ck['model'].items() if not k.startswith('auxiliary_head')}); net.eval()")
            if progress.get("epochs_planned", 0) > progress["epochs_trained"]:
                desc["note"] = (f"trained {progress['epochs_trained']} of its recipe's {progress['epochs_planned']}"
                                " epochs (an unfinished run, or one stopped by --time-limit)")
        with atomic_path(out) as tmp:  # a kill never leaves half a file at --out
            tmp.write_text(json.dumps(desc, indent=1))
        return out
    if fmt == "torchscript":
        traced = torch.jit.trace(model, example)
        with atomic_path(out) as tmp:
            traced.save(str(tmp), _extra_files={"zeronas.json": meta})  # torch.jit.load(..., _extra_files=...)
        return out
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install 'zeronas[export]'") from None
    import inspect

    # the TorchScript-based exporter needs only onnx; newer torch defaults to the dynamo one (needs onnxscript)
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # torch's exporter notes that it folds constants of one opset step only: advice to its own developers
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(model, (example,), str(tmp), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, **legacy)
        proto = onnx.load(str(tmp))  # the input contract travels in the file: metadata_props["zeronas"]
        proto.metadata_props.add(key="zeronas", value=meta)
        onnx.save(proto, str(tmp))
    return out


callable_module(__name__, export)  # zeronas.export(...) exports; zeronas.export.FORMATS stays reachable
