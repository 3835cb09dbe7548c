"""Argument validation at the edge: one declared domain per argument name, shared by the CLI and the Python API.

Every option of every command and every keyword of the public API is checked here before any work starts, so a
bad value is a one-line ``UserError`` naming the argument, the value, what is allowed and (for outputs) the
fix, instead of a traceback, a NaN result or a run that never stops. Domains are keyed by parameter name, with
``command.name`` overrides where one name means different things in two commands (``--protocol`` of correlate is
a paper preset, of search a FreeDARTS protocol). ``zeronas.cli`` wraps each command with :func:`validated`;
``tests/test_fuzz_cli.py`` checks that every CLI option has a domain here and generates out-of-domain values
from it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import errno
import functools
import inspect
import math
import numbers
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError, shown

SEED_MAX = 2**32 - 1  # numpy's seed range: a larger seed cannot seed every generator a run uses


@dataclass(frozen=True)
class Int:
    lo: int
    hi: int

    def check(self, label, value):
        v = None
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):  # numpy's too
            v = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            v = int(value)
        elif isinstance(value, str):
            try:
                v = int(value.strip())
            except ValueError:
                v = None
        if v is None:
            raise UserError(f"{label} must be an integer in [{self.lo}, {self.hi}], not {shown(value)}")
        if not self.lo <= v <= self.hi:
            raise UserError(f"{label} must be an integer in [{self.lo}, {self.hi}], not {v}")

    def outside(self) -> list:
        """Values just outside the domain (for the fuzz test)."""
        return [self.lo - 1, self.hi + 1]


@dataclass(frozen=True)
class Float:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"

    def check(self, label, value):
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{label} must be a number in {self.describe()}, not {shown(value)}") from None
        if not math.isfinite(v):
            raise UserError(f"{label} must be a finite number in {self.describe()}, not {value}")
        below = v <= self.lo if self.lo_open else v < self.lo
        above = v >= self.hi if self.hi_open else v > self.hi
        if below or above:
            raise UserError(f"{label} must be in {self.describe()}, not {value:g}")

    def outside(self) -> list:
        return [self.lo if self.lo_open else self.lo - 1, self.hi if self.hi_open else self.hi * 2 + 1]


@dataclass(frozen=True)
class Choice:
    values: tuple | Callable  # or a callable giving them (registries load lazily)
    normalise: Callable | None = None

    def allowed(self) -> tuple:
        return tuple(self.values() if callable(self.values) else self.values)

    def check(self, label, value):
        allowed = self.allowed()
        if not isinstance(value, str):  # e.g. arrays given where a name is meant ('in' on them is ambiguous)
            raise UserError(f"{label} takes a name, one of: {', '.join(map(str, allowed))}; not "
                            f"{type(value).__name__} {shown(str(value), 40)}")
        v = self.normalise(value) if self.normalise else value
        if v not in allowed:
            raise UserError(f"unknown {label} {shown(value)}; choose one of: {', '.join(map(str, allowed))}")

    def outside(self) -> list:
        return ["bogus-value"]


@dataclass(frozen=True)
class Text:
    """Free text that must not be blank (a blank proxy list or arch string is never what the user meant)."""

    what: str = "a value"
    many: bool = True  # False: one value, never a list (the API's proxy=)
    paths: bool = False  # True: a pathlib.Path (any os.PathLike) is taken as its text
    names: bool = False  # True: comma-separated proxy names, none of them empty (refused before any work)

    def check(self, label, value):
        if self.paths and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise UserError(f"{label} takes strings ({self.what}), not {type(value).__name__} {shown(value)}")
        if not value.strip():
            raise UserError(f"{label} is empty; give {self.what}")
        if self.names:
            from .proxies.ensembles import split_names

            split_names(value, label)

    def outside(self) -> list:
        return [""]


@dataclass(frozen=True)
class Custom:
    """A domain checked by a function (raising UserError), e.g. a torch device string."""

    fn: Callable
    bad: tuple = ()

    def check(self, label, value):
        self.fn(label, value)

    def outside(self) -> list:
        return list(self.bad)


# suffixes that name a file: an output folder called 'result.json' is a user's slip, not a wish
FILE_SUFFIXES = (".json", ".csv", ".gz", ".png", ".pdf", ".pt", ".pth", ".onnx", ".db", ".parquet", ".txt", ".md",
                 ".jsonl")


@dataclass(frozen=True)
class PathKind:
    """``in_file`` / ``in_dir`` / ``in_any`` must exist as that kind and be readable; ``out_file`` / ``out_dir``
    must not exist as the other kind and must be creatable (the first existing ancestor is a writable folder);
    ``in_or_out_dir`` is ``in_dir`` when it exists, else ``out_dir``;
    ``out_file_or_dir`` is a folder when it exists as one or ends in a separator, a file otherwise."""

    kind: str
    suffixes: tuple = ()

    def check(self, label, value):
        if not isinstance(value, (str, os.PathLike)):  # Path(5) is a raw TypeError
            raise UserError(f"{label} takes a path, not {type(value).__name__} {shown(value)}")
        p = Path(value).expanduser()
        if str(value).strip() == "":
            raise UserError(f"{label} is empty; give a path")
        if self.kind == "in_or_out_dir":  # an existing folder is only read (a read-only mount is fine)
            return PathKind("in_dir" if p.exists() else "out_dir").check(label, value)
        if self.kind.startswith("in_"):
            if not p.exists():
                raise UserError(f"{label} {str(p)!r} does not exist")
            if self.kind == "in_file" and not p.is_file():
                raise UserError(f"{label} {str(p)!r} is {'a folder' if p.is_dir() else 'not a regular file'}; "
                                "give a file")
            if self.kind == "in_dir" and not p.is_dir():
                raise UserError(f"{label} {str(p)!r} is a file; give a folder")
            if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
                raise UserError(f"{label} {str(p)!r} is not readable; check its permissions")
            return
        folder = self.kind == "out_dir" or (self.kind == "out_file_or_dir" and (
            p.is_dir() or str(value).endswith(("/", os.sep))))
        if self.kind == "out_dir" and not p.exists() and p.suffix.lower() in FILE_SUFFIXES:
            raise UserError(f"{label} {str(p)!r} names a {p.suffix} file, but {label} is a folder (the files go into "
                            f"it); give a folder, e.g. {str(p.parent / p.stem)!r}")
        check_output(label, p, folder=folder, suffixes=self.suffixes)

    def outside(self) -> list:
        return []  # path cases need a file system: the fuzz test builds them


def check_output(label: str, path: Path, folder: bool, suffixes: tuple = ()):
    """Fail now, before any work, if ``path`` cannot be written: a file where a folder is wanted (or the
    reverse), a parent that is a file, or a location without write permission. A folder is probed by
    creating (and at once removing) a temporary file in it: permission bits do not tell (root passes them,
    and /proc, /sys or a read-only mount refuse root too). Leaves nothing behind."""
    path = Path(path).expanduser()
    if suffixes and not folder and not str(path).lower().endswith(suffixes):
        raise UserError(f"{label} {str(path)!r} must end in {' or '.join(suffixes)}")
    if path.exists():
        if folder and not path.is_dir():
            raise UserError(f"{label} {str(path)!r} is a file; give a folder (it is created if absent)")
        if not folder and path.is_dir():
            raise UserError(f"{label} {str(path)!r} is a folder; give a file path")
        if not os.access(path, os.W_OK) or (folder and _refuses_files(path)):
            raise UserError(f"{label} {str(path)!r} is not writable; choose another location or fix its "
                            "permissions")
        if folder:
            return
        # an existing file is replaced through a temporary file beside it (atomic_path): probe its folder
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{label} {str(path)!r} cannot be created: {str(parent)!r} is a file")
    why = _refuses_files(parent) if os.access(parent, os.W_OK | os.X_OK) else ""
    if why is not None:
        reason = f" ({why})" if why else ""
        raise UserError(f"{label} {str(path)!r} cannot be {'replaced' if path.exists() else 'created'}: "
                        f"{str(parent)!r} is not writable{reason}; choose another location")


def _refuses_files(folder: Path) -> str | None:
    """Why a new file cannot be made in ``folder`` (the OS's reason), or None when one can."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists (e.g. /proc): "no such file" would mislead
            return "it takes no new files"
        return exc.strerror or type(exc).__name__


def _device(label, value):
    from .scoring import parse_device

    dev = parse_device(value)
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"{label} {shown(value)}: zeronas runs on cpu or cuda only")


def _options(label, value):
    """options= of the API: {proxy: {option: value}} (the CLI's --set PROXY.OPTION=VALUE)."""
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, dict)
                                       and all(isinstance(o, str) for o in v) for k, v in value.items()):
        return
    raise UserError(f"{label} takes {{proxy: {{option: value}}}}, e.g. {{'das': {{'lam': 3}}}}, not "
                    f"{type(value).__name__} {shown(value)}")


def _store(label, value):
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        what = "is empty" if value is None or isinstance(value, (str, os.PathLike)) else \
            f"takes a path or URL, not {type(value).__name__} {shown(value)}"
        raise UserError(f"{label} {what}; give an SQLite file path or a database URL (e.g. runs/zeronas.db)")
    text = str(value)
    if "://" not in text and Path(text).expanduser().is_dir():
        raise UserError(f"{label} {shown(text)} is a folder; give an SQLite file path inside it, e.g. "
                        f"{text}/zeronas.db")
    from .store import EXPORT_SUFFIXES

    if "://" not in text and text.lower().endswith(EXPORT_SUFFIXES):  # else an SQLite file by that name
        raise UserError(f"{label} {shown(text)} names an export file, but a store is an SQLite file or a database "
                        f"URL (e.g. runs/zeronas.db); write an export with 'zeronas report --export {text}'")


def _sample(label, value, least: int = 1):
    if isinstance(value, str) and value.strip().lower() == "all":
        return
    Int(least, 10**7).check(f"{label} (a count, or 'all')", value)


def _correlate_sample(label, value):
    _sample(label, value, least=3)  # a rank correlation needs 3 archs: the same bound as the table's check


def _latency_bounds(label, value):
    from .benchmarks.hwnasbench import latency_bound_texts, parse_latency_bound

    for text in latency_bound_texts(value):
        parse_latency_bound(text, label)


def _objectives(label, value):
    from .search.constraints import parse_objectives

    parse_objectives(value, label)


def _space(label, value):
    """A built-in space name, or a plug-in (path/to/file.py:Class, package.module:Class, an installed
    zeronas.spaces entry point), loaded and checked here so a bad one fails before any work."""
    from .spaces.plugin import check_space_name

    check_space_name(label, value)


def _arch(label, value):
    """An arch string (not blank) or a space's native value, which the space's ``coerce`` checks."""
    if isinstance(value, str) and not value.strip():
        raise UserError(f"{label} is empty; give an architecture string")


def _methods():
    from .search import list_strategies

    return list_strategies()


def _export_formats():
    from .export import FORMATS

    return FORMATS


def _datasets():
    from .data.datasets import DATASETS

    return tuple(DATASETS)


def _norm_dataset(name: str) -> str:
    key = name.lower().replace("_", "-")
    return {"imagenet16": "imagenet16-120", "in16": "imagenet16-120", "c10": "cifar10", "c100": "cifar100"}.get(
        key, key)


def _inits():
    from .proxies.context import INITS

    return INITS


def _ray_address(label, value):
    from .ray_executor import check_address

    check_address(label, value)


def _isomorph():
    from .scoring import ISOMORPH_MEMBERS

    return ISOMORPH_MEMBERS


def _memory_formats():
    from .proxies.context import MEMORY_FORMATS

    return MEMORY_FORMATS


def _presets():
    from .correlate import PRESETS

    return tuple(PRESETS)


def _data(label, value, special=("auto", "none")):
    """A dataset name, auto, none, or an image folder (root/<class>/<images>); arrays and torch datasets (API)
    are checked by their reader."""
    if not isinstance(value, (str, os.PathLike)):
        return
    text = str(value).strip()
    names = (*special, *_datasets())
    if isinstance(value, str) and _norm_dataset(text) in names:
        return
    p = Path(text).expanduser()
    if text and p.is_dir():
        return
    what = f"choose one of: {', '.join(names)}, or give an image folder (root/<class>/<image files>)"
    if text and p.exists():
        raise UserError(f"{label} {shown(text)} is a file, not a dataset or an image folder; {what}")
    if any(c in text for c in ("/", os.sep, "~")) or text.startswith("."):  # meant as a folder
        raise UserError(f"{label} {shown(text)} does not exist; give an existing image folder (root/<class>/<image "
                        f"files>), or one of: {', '.join(names)}")
    raise UserError(f"unknown {label} {shown(value)}; {what}")


def _data_or_folder(label, value):
    """A dataset name or an image folder: what a network is trained on or built for (train, export); no auto /
    none, and no arrays or torch datasets (training reads a folder's split, export its classes and size)."""
    if not isinstance(value, (str, os.PathLike)):
        raise UserError(f"{label} takes a dataset name ({', '.join(_datasets())}) or an image folder path "
                        f"(root/<class>/<image files>), not {type(value).__name__}; save arrays or a torch "
                        "dataset as image files in that layout")
    if isinstance(value, str) and _norm_dataset(value.strip()) in ("auto", "none"):
        raise UserError(f"{label} {shown(value)} names no classes or input size; choose one of: "
                        f"{', '.join(_datasets())}, or give an image folder (root/<class>/<image files>)")
    _data(label, value, special=())


def _heldout(label, value):
    if isinstance(value, (str, os.PathLike)) and not Path(str(value)).expanduser().is_dir():
        raise UserError(f"{label} {str(value)!r} is not a folder; give an image folder (root/<class>/<image files>)")


def _input_size(label, value):
    """``32``, ``"40x24"`` (height x width) or ``(40, 24)``; each side 1..8192."""
    sides = None
    if isinstance(value, int) and not isinstance(value, bool):
        sides = [value]
    elif isinstance(value, str):
        try:
            sides = [int(s) for s in value.lower().split("x")]
        except ValueError:
            sides = None
    elif isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        sides = list(value)
    if not sides or len(sides) > 2 or not all(1 <= s <= 8192 for s in sides):
        raise UserError(f"{label} must be a size in pixels, N or HxW (e.g. 32 or 40x24, each side 1..8192), "
                        f"not {shown(value)}")


def _model(label, value):
    """``path/to/file.py:function``, ``torchvision:NAME`` or ``timm:NAME`` (the body loads it); the CLI's
    repeatable ``--model`` gives a list of these."""
    if isinstance(value, (list, tuple)):
        for v in value:
            _model(label, v)
        return
    text = str(value).strip() if isinstance(value, (str, os.PathLike)) else ""
    source, sep, fn = text.rpartition(":")
    if not sep or not source or not fn:
        raise UserError(f"{label} {shown(value)}: write path/to/file.py:function, torchvision:NAME or timm:NAME")
    if source in ("torchvision", "timm"):
        return
    p = Path(source).expanduser()
    if p.suffix != ".py":
        raise UserError(f"{label} {shown(value)}: {source!r} is not a .py file (nor torchvision or timm)")
    if not p.is_file():
        raise UserError(f"{label} {shown(value)}: {source!r} {'is a folder' if p.is_dir() else 'does not exist'}")
    if not fn.isidentifier():
        raise UserError(f"{label} {shown(value)}: {fn!r} is not a Python function name")


CHANNELS, CELLS = Int(1, 4096), Int(1, 1000)
BATCH = Int(1, 16384)  # a per-proxy minimum (e.g. 2 for a correlation) is enforced by the scorer
DATASET = Choice(_datasets, _norm_dataset)


def _not_a_name(label, value, allowed):
    kinds = ", ".join(sorted({type(v).__name__ for v in value}))  # e.g. data=(x, y) where a name is meant
    raise UserError(f"{label} takes a name, one of: {', '.join(map(str, allowed))}; not a "
                    f"{type(value).__name__} of {len(value)} ({kinds})")


def _benchmark_dataset(label, value):
    """A dataset with benchmark accuracies (correlate's --dataset / --data); an image folder is named as one:
    correlate needs accuracies, which a folder of images has none of."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip() and Path(str(value)).expanduser().is_dir() \
            and _norm_dataset(str(value).strip()) not in _datasets():
        raise UserError(f"{label} {shown(str(value))} is an image folder: correlate ranks proxies against a "
                        f"benchmark's accuracies, which exist for {', '.join(_datasets())} only; score your images "
                        f"with 'zeronas score --data {value}', and train the architectures you pick on them with "
                        f"'zeronas train --data {value}'")
    if isinstance(value, (list, tuple)) and not all(isinstance(v, str) for v in value):
        _not_a_name(label, value, DATASET.allowed())
    DATASET.check(label, value)

# One domain per argument name (CLI option's Python name = API keyword); 'command.name' overrides.
DOMAINS: dict[str, object] = {
    "seed": Int(0, SEED_MAX),
    "score_seed": Int(0, SEED_MAX),
    "threads": Int(1, 1024),
    "batch_size": BATCH,
    "proxy_batch": BATCH,
    "num_classes": Int(2, 100_000),
    "index": Int(0, 10**9),
    "workers": Int(0, 1024),
    "runs": Int(1, 1000),
    "preset": Choice(("cpu", "paper")),
    "budget": Int(1, 10**7),
    "time_budget": Float(0, 7 * 24 * 3600, lo_open=True),  # seconds; a week caps a typo
    "time_limit": Float(0, 7 * 24 * 3600, lo_open=True),
    "n": Int(1, 10**7),
    "population": Int(2, 10**6),
    "tournament": Int(1, 10**6),
    "pool": Int(1, 10**5),
    "validate": Int(1, 10**6),
    "repeat": Int(1, 1000),
    "train_steps": Int(0, 10**6),
    "epochs": Int(1, 100_000),
    "max_epochs_this_run": Int(1, 100_000),
    "lr": Float(0, 10, lo_open=True),
    "lr_min": Float(0, 10),
    "momentum": Float(0, 1, hi_open=True),
    "weight_decay": Float(0, 1),
    "cutout": Int(0, 4096),
    "auxiliary_weight": Float(0, 100),
    "drop_path_prob": Float(0, 1, hi_open=True),
    "grad_clip": Float(0, 1e6),
    "train_lr": Float(0, 10, lo_open=True),  # DAS fast training's rate, as --lr
    "optimizer": Choice(("sgd", "rmsprop-tf")),  # train.trainer.OPTIMIZERS
    "channels": CHANNELS,
    "C": CHANNELS,
    "cells": CELLS,
    "N": CELLS,
    "train_subset": Int(1, 10**8),
    "test_subset": Int(1, 10**8),
    "space": Custom(_space, ("bogus-value", "missing.py:Space", "afile.txt:Space", "adir:Space", "x.py:",
                             "no_such_module_zn:Space")),
    "method": Choice(_methods),
    "dataset": Custom(_benchmark_dataset, ("A", "bogus")),
    "data": Custom(_data, ("bogus-value", "missing_dir", "./missing_dir", "afile.txt")),
    "heldout": Custom(_heldout, ("missing_dir", "afile.txt")),
    "input_size": Custom(_input_size, ("0", "abc", "32x", "-4", "40x24x3", "99999")),
    "model": Custom(_model, ("", "nocolon", "missing.py:build", "afile.txt:build", "adir:build", "x.py:")),
    "model_name": Text("a name for the model"),
    "max_images": Int(1, 10**7),
    "init": Choice(_inits),
    "metric": Choice(("test", "valid")),
    "format": Choice(_export_formats),
    "variant": Choice(("oneshot", "iterative")),
    "alpha_init": Choice(("zero", "random")),
    "edge_order": Choice(("random", "order", "reverse")),
    "isomorph_member": Choice(_isomorph),
    "memory_format": Choice(_memory_formats),
    "executor": Choice(("local", "ray")),
    "ray_address": Custom(_ray_address, ("", "   ", "head-without-port", "ray://head:port")),
    "device": Custom(_device, ("gpu", "meta", "cuda:x")),
    "store": Custom(_store, ("", "   ")),
    "options": Custom(_options),
    "sample": Custom(_sample, ("0", "-5", "abc", "nan")),
    "proxies": Text("proxy names, e.g. nwot,synflow, or 'all'", names=True),
    "proxy": Text("a proxy name or ensemble:a+b", many=False, names=True),
    "arch": Text("an architecture string"),
    "set_": Text("PROXY.OPTION=VALUE"),
    "sources": Text("an export file or a store", paths=True),
    "arch_file": PathKind("in_file"),
    "checkpoint": PathKind("in_file"),
    "data_dir": PathKind("in_dir"),
    "out": PathKind("out_dir"),
    "export": PathKind("out_file", (".csv", ".csv.gz", ".parquet")),
    "source": PathKind("in_any"),
    "download": Choice(("cifar10", "cifar100")),
    "correlate.protocol": Choice(_presets),
    "correlate.sample": Custom(_correlate_sample, ("0", "2", "-5", "abc", "nan")),
    "correlate.data": Custom(_benchmark_dataset, ("A", "bogus")),  # the API's other name for dataset=
    "search.protocol": Choice(("code", "bn-bypass")),
    "bench_correlate.protocol": Text("a bench protocol hash"),
    "bench_build.sample": Int(3, 10**6),
    "report.failures": Int(0, 10**6),
    "export_cmd.out": PathKind("out_file_or_dir"),  # a folder gets model.<format suffix>
    "export.out": PathKind("out_file_or_dir"),
    "train.arch": Custom(_arch, ("", "   ")),  # the API also takes the space's native value
    "export.arch": Custom(_arch, ("", "   ")),
    "data_cmd.data_dir": PathKind("in_or_out_dir"),  # read when it exists (listing); --download may create it
    "max_params": Float(0, 1e6, lo_open=True),  # millions of parameters
    "max_flops": Float(0, 1e9, lo_open=True),  # MFLOPs
    "max_latency": Custom(_latency_bounds, ("edgegpu", "gpu=5", "edgegpu=0", "edgegpu=abc", "=3")),
    "objectives": Custom(_objectives, ("", "score", "latency:edgegpu", "score,latency:gpu", "score,bogus")),
    "refine": Int(1, 10**5),
    "evaluator": Choice(("table", "train")),
    "refine_strategy": Choice(("top", "local")),
    "refine_epochs": Int(1, 100_000),  # --evaluator train's reads
    "refine_batch_size": Int(1, 1_000_000),
    "refine_lr": Float(0, 10, lo_open=True),
    # training needs real images (a dataset's, or an image folder), export the classes and input size they give:
    # no auto / none
    "bench_build.data": DATASET,
    **{f"{c}.data": Custom(_data_or_folder, ("auto", "none", "bogus-value", "./missing_dir", "afile.txt"))
       for c in ("export_cmd", "export", "train")},
}

# Python names whose CLI flag is not --name-with-dashes
FLAGS = {"channels": "--C", "cells": "--N", "C": "--C", "N": "--N", "set_": "--set", "options": "--set",
         "sources": "SOURCE",
         "source": "SOURCE"}

# Options that cannot be given together (each tuple: at most one of them)
EXCLUSIVE = {
    "train": [("arch", "arch_file", "index")],
    "export_cmd": [("arch", "arch_file", "index")],
}


_CALLER = contextvars.ContextVar("zeronas_caller", default=None)
# a quoted zeronas command (kept as written), or a flag word followed by what may be its value: 'x', "x",
# (x) or one bare token
_FLAG_IN_TEXT = re.compile(r"(?P<command>'zeronas [^']*')|(?<![\w-])--(?P<flag>[A-Za-z][A-Za-z0-9]*(?:-[a-z0-9]+)*)"
                           r"(?: (?P<token>'[^']*'|\"[^\"]*\"|\([^()\s]*\)|(?:[^\s;,()]|,(?=\S))+))?")
# flags whose API keyword is not the flag with underscores
KEYWORDS = {"--C": "C", "--N": "N", "--set": "options"}  # the API takes C= / N= (train, export, search)
# the CLI's on/off flags (they take no value, so they have no domain); tests/test_fuzz_cli.py keeps this in step
SWITCHES = ("nesterov", "only_stored", "plot", "replace", "resume")


@contextlib.contextmanager
def caller(kind: str):
    """Mark who called zeronas, ``"cli"`` or ``"api"``, for the duration of the block. The outermost call
    decides (the CLI's verbs call the API's functions), and where a Python API call is the outermost, a
    UserError leaving it names options as keywords (``budget=0``) instead of the CLI's flags (``--budget 0``):
    the deeper layers raise one text for both callers."""
    if _CALLER.get() is not None:
        yield
        return
    token = _CALLER.set(kind)
    try:
        yield
    except UserError as exc:
        if kind == "api" and exc.args and isinstance(exc.args[0], str):
            exc.args = (as_keywords(exc.args[0]), *exc.args[1:])
        raise
    finally:
        _CALLER.reset(token)


_PROSE = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on", "or",
          "that", "the", "then", "this", "to", "with"}


def _is_value(name: str, token: str) -> bool:
    """Whether ``token``, written after a flag in a message, is that option's value (``--data cifar10``) and
    not the sentence going on (``--refine picks one answer``)."""
    if token.isupper() or any(c.isdigit() or c in "./:+=_*<>" for c in token):  # N, SECONDS, 3, a.b, x=y
        return True
    if token.lower() in _PROSE:  # '--store the path of ...': a word some domains would take (any store name)
        return False
    # the option's own domain and any command's (--protocol suite-zero is correlate.protocol's)
    domains = [d for key, d in DOMAINS.items() if key == name or key.endswith("." + name)]
    for d in domains:
        if isinstance(d, Choice):
            try:
                if token in d.allowed():
                    return True
            except Exception:  # a registry that fails to load: take the word for prose
                pass
        elif isinstance(d, Custom):  # e.g. --device cpu, --data cifar10: a word its check accepts
            try:
                d.check(name, token)
                return True
            except Exception:
                pass
    if any(isinstance(d, (Int, Float, Choice, Custom)) for d in domains):
        return False
    if name in ("proxy", "proxies", "space", "model"):
        try:
            from .proxies.base import list_proxies
            from .spaces import list_spaces

            known = {*list_proxies(), *list_spaces(), *(("all",) if name == "proxies" else ())}
            return all(t in known for t in token.split(","))
        except Exception:
            return False
    return False


def as_keywords(message: str) -> str:
    """A message's CLI flags as the Python API's keywords: ``--tournament (30)`` -> ``tournament=30``,
    ``--data cifar10`` -> ``data='cifar10'``, ``raise --time-budget to 20 s`` -> ``raise time_budget= to 20 s``."""

    def one(m: re.Match) -> str:
        flag_word, token = m.group("flag"), m.group("token")
        if m.group("command") or flag_word == "help":  # a command to run, or where to read more
            return m.group(0)
        name = KEYWORDS.get("--" + flag_word, flag_word.replace("-", "_"))
        switch = name[3:] if name.startswith("no_") and name[3:] in SWITCHES else name
        if switch in SWITCHES:
            return f"{switch}={switch == name}" + (f" {token}" if token else "")
        if name not in KEYWORDS.values() and not any(k.rsplit(".", 1)[-1] == name for k in DOMAINS):
            return m.group(0)  # not a zeronas option (e.g. pip's --no-deps in an install hint)
        if token is None:
            return f"{name}="
        if token[0] in "'\"":
            return f"{name}={token}"
        if token[0] == "(":
            return f"{name}={token[1:-1]}"
        bare, tail = token.rstrip(".:"), token[len(token.rstrip(".:")):]
        if name == "options" and re.fullmatch(r"[\w-]+\.\w+=\S+", bare):  # --set PROXY.OPTION=VALUE
            proxy, rest = bare.split(".", 1)
            option, value = rest.split("=", 1)
            return f"options={{{proxy!r}: {{{option!r}: {value}}}}}{tail}"
        if not bare or not _is_value(name, bare):
            return f"{name}= {token}"
        try:
            float(bare)
            shown = bare
        except ValueError:
            shown = bare if bare.isupper() else repr(bare)  # a placeholder (N, SECONDS) stays as written
        return f"{name}={shown}{tail}"

    return _FLAG_IN_TEXT.sub(one, message)


def domain(name: str, command: str | None = None):
    """The declared domain of an argument, or None (booleans and flags need none)."""
    if command is not None and f"{command}.{name}" in DOMAINS:
        return DOMAINS[f"{command}.{name}"]
    return DOMAINS.get(name)


def flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def check(name: str, value, command: str | None = None, label: str | None = None, strict: bool = False):
    """Check one value against its declared domain (None = not given: always fine). ``strict`` (the Python
    API): a number must be a number, not its text, and a one-value text option (``Text(many=False)``) a
    str, not a list (the CLI hands every option over as text, and repeatable ones as lists)."""
    if value is None:
        return
    d = domain(name, command)
    if d is None:
        return
    label = label or flag(name)
    # an Int takes an integer type: a whole float (16.0) used to pass here and then fail deep inside (a slice)
    wrong = (not isinstance(value, numbers.Integral)) if isinstance(d, Int) else not isinstance(value, numbers.Real)
    if strict and isinstance(d, (Int, Float)) and (isinstance(value, bool) or wrong):
        kind = "an integer" if isinstance(d, Int) else "a number"
        raise UserError(f"{label} must be {kind}, not {type(value).__name__} {shown(value)}")
    if strict and isinstance(d, Text) and not d.many and not isinstance(value, str):
        raise UserError(f"{label} takes one string ({d.what}), not {type(value).__name__} {shown(value)}")
    if isinstance(value, (list, tuple)) and isinstance(d, Choice) and not all(isinstance(v, str) for v in value):
        _not_a_name(label, value, d.allowed())
    if isinstance(value, (list, tuple)) and not isinstance(d, Custom):
        for v in value:
            d.check(label, v)
    else:
        d.check(label, value)


def check_all(arguments: dict, command: str | None = None, cli: bool = True, strict: bool | None = None):
    """Check every given argument; ``cli`` names them as flags (``--seed``), else as keywords (``seed=``);
    ``strict`` (default: not ``cli``) as ``check``'s: the API's types, not the CLI's text."""
    strict = not cli if strict is None else strict
    for name, value in arguments.items():
        check(name, value, command, label=flag(name) if cli else f"{name}=", strict=strict)
    for group in EXCLUSIVE.get(command or "", []):
        given = [g for g in group if arguments.get(g) not in (None, [], ())]
        if len(given) > 1:
            names = [flag(g) if cli else g for g in given]
            raise UserError(f"{' and '.join(names)} cannot be used together; give one architecture")


def validated(fn):
    """Decorator for a CLI command: check every argument against its domain before the command body runs."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with caller("cli"):  # the API functions a command calls keep naming options as flags
            bound = sig.bind(*args, **kwargs)
            bound.arguments.update(_choices_as_spelled(bound.arguments, fn.__name__))
            check_all(dict(bound.arguments), fn.__name__)
            return fn(*bound.args, **bound.kwargs)

    return wrapper


def _choices_as_spelled(arguments: dict, command: str) -> dict:
    """A choice given in other letter case (``--format ONNX``, ``--method REA``) as the choice itself, where
    exactly one choice matches: ``--space NB201`` and ``--data CIFAR10`` were taken, these were refused."""
    out = {}
    for name, value in arguments.items():
        d = domain(name, command)
        if isinstance(d, Choice) and d.normalise is None and isinstance(value, str):
            allowed = d.allowed()
            same = [a for a in allowed if isinstance(a, str) and a.casefold() == value.casefold()]
            if value not in allowed and len(same) == 1:
                out[name] = same[0]
    return out


def check_keywords(given: dict, valid, what: str):
    """An unknown keyword is an error naming the valid ones (never silently ignored)."""
    valid = sorted(set(valid))
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise UserError(f"{what} got unknown keyword{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))}; valid keywords: {', '.join(valid)}")


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Torch's CPU thread count set to ``threads`` for the block and restored after (None: left alone): the
    API's ``threads=``, the CLI's ``--threads`` for one call."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == threads:  # a pool worker's units: already pinned, nothing to set each call
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def plain_numbers(value):
    """``value`` with every numpy scalar (``np.int64``, ``np.float32``, ``np.bool_``, ...) made Python's own
    number, inside lists, tuples and dicts too: they pass the integer and number checks, but reached store keys
    as text (``json.dumps(default=str)``), checkpoints as objects a safe loader refuses, and JSON files as
    errors. Arrays, tensors and other objects are left as they are."""
    import numpy as np

    if isinstance(value, np.generic):  # a numpy scalar (an array is not one)
        return value.item()
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):  # (a namedtuple is left whole)
        items = [plain_numbers(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):  # an OrderedDict or a defaultdict of options too, as a plain dict
        return {k: plain_numbers(v) for k, v in value.items()}
    return value


def api(command: str | None = None, extra: tuple | Callable = (), threads: bool = False, public: str | None = None,
        nested: bool = True, defaults: Callable | None = None):
    """Decorator for a public Python function: an unknown keyword is an error naming the valid ones, and every
    keyword with a declared domain is checked (named as ``keyword=``). ``extra``: the keywords a ``**kwargs``
    function forwards (a tuple, or a callable giving them). ``threads``: the function also takes ``threads=``
    (torch CPU threads during the call, as the CLI's ``--threads``). ``public``: the name users call it by, as
    the errors say it (default ``zeronas.<function name>``). ``nested=False``: checked only where the user
    calls it, not when zeronas's own verbs do (``Scorer``: they hand it values of their own, data='given').
    ``defaults``: a callable giving the defaults of the ``extra`` keywords, so that None given for one whose
    default is a value is refused as the function's own are (``refuse_none``)."""

    def deco(fn):
        sig = inspect.signature(fn)
        kinds = inspect.Parameter
        named = [p for p, v in sig.parameters.items() if v.kind not in (kinds.VAR_KEYWORD, kinds.VAR_POSITIONAL)
                 and p != "self"]  # a method's (Scorer.__init__): not a keyword to offer

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            outermost = _CALLER.get() is None
            if not nested and not outermost:
                return fn(*args, **kwargs)
            with caller("api"):
                result = checked(args, kwargs, outermost)
            return _records_as_keywords(result) if outermost else result

        def checked(args, kwargs, outermost):
            args, kwargs = plain_numbers(args), plain_numbers(kwargs)  # np.int64(3) is 3 from here on
            valid = [*named, *(extra() if callable(extra) else extra), *(["threads"] if threads else [])]
            check_keywords(kwargs, valid, f"{public or 'zeronas.' + fn.__name__}()")  # a typo named first
            if outermost:  # a user's call (zeronas's own verbs pass None for options they leave unset)
                _check_outermost(sig, sig.bind_partial(
                    *args, **{k: v for k, v in kwargs.items() if k in sig.parameters}).arguments,
                    public or f"zeronas.{fn.__name__}", command)
                if defaults is not None:
                    refuse_none({k: v for k, v in kwargs.items() if k not in sig.parameters}, defaults())
            bound = sig.bind_partial(*args, **{k: v for k, v in kwargs.items() if k in named})
            if _has_function({**bound.arguments, **kwargs}):  # your own proxy given as the function itself
                bound.arguments.update(with_proxy_names(bound.arguments))
                rest = with_proxy_names({k: v for k, v in kwargs.items() if k not in named})
                args, kwargs = bound.args, {**rest, **bound.kwargs}
            given = {**bound.arguments, **kwargs}
            # named as the caller knows them: a CLI verb's call by its flags (--out), a user's by keywords (out=)
            check_all({k: v for k, v in given.items() if not _is_object(v) or k == "options"}, command,
                      cli=_CALLER.get() == "cli", strict=True)
            n = kwargs.pop("threads", None) if threads and "threads" not in named else None
            with torch_threads(n):
                return fn(*args, **kwargs)

        return wrapper

    return deco


def user_records(method):
    """For a public method that returns records (``Scorer.score``): a user's direct call gets its records'
    texts and its errors with keywords, as ``api``'s functions give them; zeronas's own verbs (a caller is set)
    get them as written."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if _CALLER.get() is not None:
            return method(*args, **kwargs)
        with caller("api"):
            return _records_as_keywords(method(*args, **kwargs))

    return wrapper


def _records_as_keywords(result):
    """A user's API call gets its records' ``error`` / ``reason`` texts, and a result's notes (a summary's
    ``notes``, a CorrelationResult's ``meta["notes"]``), with keywords (``batch_size=``), as its exceptions
    (``caller``): those texts are written once, with the CLI's flags, deep inside. Other results are returned
    as they are."""
    if isinstance(result, dict) and isinstance(result.get("notes"), list):  # train's, bench's summaries
        return {**result, "notes": [as_keywords(n) if isinstance(n, str) else n for n in result["notes"]]}
    meta = getattr(result, "meta", None)  # a CorrelationResult
    if dataclasses.is_dataclass(result) and isinstance(meta, dict) and isinstance(meta.get("notes"), list):
        meta["notes"] = [as_keywords(n) if isinstance(n, str) else n for n in meta["notes"]]
        return result
    if not isinstance(result, list) or not result or not all(
            dataclasses.is_dataclass(r) and hasattr(r, "error") and hasattr(r, "reason") for r in result):
        return result
    out = []
    for r in result:  # copied only where a text changes (most records have none)
        new = {k: as_keywords(v) for k in ("error", "reason") if isinstance(v := getattr(r, k), str)}
        out.append(dataclasses.replace(r, **new) if any(getattr(r, k) != v for k, v in new.items()) else r)
    return out


def _check_outermost(sig: inspect.Signature, given: dict, public: str, command: str | None):
    """What a user's call must get right beyond the domains: every required argument, and a path or a choice
    not None (``out=None``, ``format=None`` failed deep inside; others, such as ``archs=None``, have messages of
    their own); a True/False option given True or False (``resume="no"`` was taken as True); None for an
    argument whose default is a value (``refuse_none``: ``seed=None`` gave NaN records, ``batch_size=None`` a
    TypeError; where None has a meaning, such as ``train_subset=None`` for every image, it is the default)."""
    kinds = inspect.Parameter
    for name, param in sig.parameters.items():
        if name == "self" or param.kind in (kinds.VAR_KEYWORD, kinds.VAR_POSITIONAL):
            continue
        value = given.get(name, param.default)
        if param.default is kinds.empty and (name not in given or (
                value is None and isinstance(domain(name, command), (PathKind, Choice)))):
            raise UserError(f"{public}() needs {name}= (it has no default)")
        numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
        if isinstance(param.default, bool) and name in given and not (isinstance(value, bool) or numpy_bool):
            raise UserError(f"{name}= takes True or False, not {type(value).__name__} {shown(value)}")
    refuse_none(given, {n: p.default for n, p in sig.parameters.items()})


# None means something even where the default is a value: every image (train/test_subset), no time cap
# (search's time_budget: random's default is 60 s)
NONE_HAS_A_MEANING = ("train_subset", "test_subset", "time_budget")


def refuse_none(given: dict, defaults: dict) -> None:
    """A one-line UserError for a keyword given None whose default (``defaults``: name -> default) is a value:
    None means nothing there (it reached arithmetic deep inside, or silently meant unseeded)."""
    for name, value in given.items():
        default = defaults.get(name)
        if value is None and default is not None and default is not inspect.Parameter.empty \
                and name not in NONE_HAS_A_MEANING:
            raise UserError(f"{name}=None: omit {name}= for its default ({default!r}), or give a value")


PROXY_KEYWORDS = ("proxies", "proxy")


def _has_function(arguments: dict) -> bool:
    items = [i for k in PROXY_KEYWORDS for v in [arguments.get(k)] for i in (v if isinstance(v, (list, tuple))
                                                                            else [v])]
    return any(callable(i) and not isinstance(i, (str, type)) for i in items)


def with_proxy_names(arguments: dict) -> dict:
    """``arguments`` with each function given as ``proxies=`` / ``proxy=`` (a proxy of your own) replaced by
    the name it is registered under (``proxies.plugin.register_function``)."""
    if not _has_function(arguments):
        return arguments
    from .proxies.plugin import proxy_names

    return {k: proxy_names(v) if k in PROXY_KEYWORDS else v for k, v in arguments.items()}


def _is_object(v) -> bool:
    """Space objects, image sets and the like are checked by their consumers, not by a name domain."""
    return not isinstance(v, (str, numbers.Number, list, tuple, os.PathLike, type(None)))  # numpy numbers too


def callable_module(module_name: str, fn: Callable):
    """Make the module ``module_name`` callable as ``fn``, so that ``zeronas.search(...)`` and
    ``zeronas.correlate(...)`` run the verb while ``zeronas.search.perturb`` and ``from zeronas.search import
    search`` keep reaching the package (a plain attribute would shadow the module)."""
    import sys
    import types

    class _Verb(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return fn(*args, **kwargs)

    module = sys.modules[module_name]
    module.__class__ = _Verb
    # inspect.signature(zeronas.search) and help(zeronas.search) show the verb, not (*args, **kwargs)
    module.__signature__ = inspect.signature(fn)
    name = module_name.rsplit(".", 1)[-1]
    module.__doc__ = (f"zeronas.{name}{module.__signature__}\n\n{inspect.cleandoc(fn.__doc__ or '')}\n\n"
                      f"{module.__doc__ or ''}")
