"""Read pickles and torch files without running code from them.

A pickle names functions that the loader calls; ``pickle.load`` and ``torch.load(weights_only=False)`` call
whatever a file names (``os.system`` included). Every pickle zeronas reads goes through here instead:

* :func:`safe_pickle_load`: a ``pickle.Unpickler`` whose ``find_class`` returns only the objects of an
  explicit allow-list (no import happens; the name is looked up in the list). Dicts, lists, tuples, strings,
  numbers, booleans and ``None`` are pickle opcodes and need no entry.
* :func:`safe_torch_load`: ``torch.load(weights_only=True)`` (tensors, containers, numbers, strings),
  plus, where a format needs them, numpy arrays and scalars.

No entry of any allow-list may load further pickles (``torch.storage._load_from_bytes``, ``torch.load``,
``pickle.loads``, ``numpy.load``): a harmless-looking entry that does would reopen the door.
A refused name, a damaged file or a file of the wrong kind is a one-line :class:`UserError` that names the
file, the problem and the fix.
"""

from __future__ import annotations

import bz2
import contextlib
import os
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .errors import UserError, described

Allowed = Mapping[tuple[str, str], Any]

# What a malformed pickle raises while loading (garbage opcodes, a cut stream, bad arguments to an admitted
# callable, a broken bz2 stream); anything else is a bug and should show its traceback.
DAMAGED = (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError, AttributeError,
           OverflowError)


class _Refused(Exception):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


def _latin1_bytes(text, encoding="latin1"):
    """What ``_codecs.encode`` does for a Python-3 protocol-2 pickle of ``bytes``, and nothing else."""
    if not isinstance(text, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {type(text).__name__} and {encoding!r} is not a "
                                     "pickled bytes object")
    return text.encode("latin1")


def numpy_arrays() -> dict[tuple[str, str], Any]:
    """Numpy arrays, dtypes and scalars as numpy pickles them, under numpy 1.x and 2.x module names.

    ``_reconstruct(ndarray, shape, dtype)`` + ``ndarray.__setstate__`` (raw bytes, or for object arrays the
    items, which this same unpickler loads), ``_frombuffer(bytes, dtype, shape, order)`` (protocol 5),
    ``scalar(dtype, bytes)``, ``dtype(...)`` and, for Python-3 protocol-2 bytes, ``_codecs.encode(str,
    'latin1')``. None of them loads a pickle.
    """
    import numpy as np

    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1_bytes}
    for mod in ("numpy.core", "numpy._core"):  # files written under numpy 1.x and 2.x
        found[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            found[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


# Containers that pickles write as a call (protocols < 4 write sets as ``set([...])``); calling them with
# any argument builds a container and nothing else.
CONTAINERS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict, ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset,  # written by Python 2
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves a global only through ``allowed``; refuses persistent ids (the default) and everything else."""

    def __init__(self, file, allowed: Allowed, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = allowed

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _Refused(module, name) from None


def safe_pickle_load(source: str | os.PathLike | BinaryIO, allowed: Allowed, *, what: str, fix: str,
                     name: str | os.PathLike | None = None, compression: str | None = None,
                     encoding: str = "ASCII") -> Any:
    """Unpickle ``source`` (a path or a binary file object) admitting only the globals in ``allowed``.

    ``what`` names the expected file with its article ("an official CIFAR-10 batch"), ``fix`` says what the
    user should do when it is refused or damaged; ``compression='bz2'`` reads a ``.pbz2``; ``encoding`` is passed to the
    unpickler (``'latin1'`` for Python-2 pickles holding numpy arrays).
    """
    if compression not in (None, "bz2"):
        raise ValueError(f"unknown compression {compression!r}")
    label = name if name is not None else (source if isinstance(source, (str, os.PathLike))
                                           else getattr(source, "name", "<stream>"))
    try:
        with contextlib.ExitStack() as stack:
            f = (stack.enter_context(open(source, "rb")) if isinstance(source, (str, os.PathLike))
                 else source)
            if compression == "bz2":
                f = stack.enter_context(bz2.open(f, "rb"))
            obj = RestrictedUnpickler(f, allowed, encoding=encoding).load()
            if compression == "bz2":
                while f.read(1 << 20):  # the unpickler stops at STOP: reach the end so a cut or bad CRC shows
                    pass
            return obj
    except _Refused as exc:
        raise UserError(f"refusing to unpickle {exc.module}.{exc.name} from {label}: {what} never holds it and "
                        f"loading it could run code (nothing was run); {fix}") from None
    except FileNotFoundError:
        raise UserError(f"{label} does not exist; {fix}") from None
    except DAMAGED as exc:
        raise UserError(f"{label} is damaged, cut short or not {what} ({described(exc)}); {fix}") from None


def numpy_for_torch() -> list:
    """``numpy_arrays()`` in the form ``torch.serialization.safe_globals`` takes, plus the dtype classes
    (torch's weights-only loader also checks the class of an object whose state it sets)."""
    import numpy as np

    items: list = [(obj, f"{mod}.{name}") for (mod, name), obj in numpy_arrays().items()
                   if mod.startswith("numpy")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return items


def _torch_detail(exc: BaseException) -> str:
    """The one informative line of torch's multi-paragraph weights-only message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch colours part of it
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:
        return f"it names {named.group(1)}, which is not allowed"
    after = text.split("WeightsUnpickler error:", 1)
    lines = [ln.strip() for ln in after[-1].splitlines() if ln.strip()]
    boilerplate = ("Weights only load failed", "(1)", "(2)", "Please file an issue", "Check the documentation")
    useful = [ln for ln in lines if not ln.startswith(boilerplate)] or lines
    line = " ".join(useful[0].split())[:200] if useful else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive: a zip holding constants.pkl, torch's own test (``torch.serialization``'s
    ``_is_torchscript_zip``); a torch.save checkpoint, also a zip, has none."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in names)


def safe_torch_load(path: str | os.PathLike, *, what: str, fix: str, extra_globals: list | tuple = (),
                    map_location="cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, dicts/lists/tuples, numbers, strings, plus the
    ``extra_globals`` a format needs (e.g. :func:`numpy_for_torch`). None of torch's weights-only entries
    loads a nested pickle; a refused or damaged file is a one-line UserError."""
    import torch

    path = Path(path)
    if extra_globals:
        try:
            from torch.serialization import safe_globals
        except ImportError:  # torch < 2.5: no allow-list extension; such files are refused below
            scope = contextlib.nullcontext()
        else:
            scope = safe_globals(list(extra_globals))
    else:
        scope = contextlib.nullcontext()
    if is_torchscript(path):  # torch.load would warn, then refuse it with a note on its own defaults
        raise UserError(f"{path} is a TorchScript export (torch.jit.load reads it), not {what}; {fix}")
    try:
        with scope, warnings.catch_warnings():
            # a plain pickle (not torch.save's) gets torch's two-line protocol warning before its refusal below
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; {fix}") from None
    except pickle.UnpicklingError as exc:  # a refused global or an opcode the safe loader does not know
        raise UserError(f"{path} is not {what} or holds objects that a safe loader refuses "
                        f"({_torch_detail(exc)}); nothing in it was run; {fix}") from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise UserError(f"{path} is damaged, cut short or not {what} ({_torch_detail(exc)}); {fix}") from None


# What a malformed .npz raises: not a zip / cut short (BadZipFile, EOFError), a bad member (zlib/lzma/bz2
# errors, bad CRC, an unsupported or encrypted member), a bad .npy header or an object array (ValueError), a
# header claiming an impossible shape (MemoryError).
NPZ_DAMAGED = (OSError, EOFError, ValueError, KeyError, NotImplementedError, RuntimeError, MemoryError)


def safe_npz_load(path: str | os.PathLike, keys: tuple[str, ...] | list[str], *, what: str, fix: str) -> dict:
    """The arrays ``keys`` of an ``.npz`` read with ``allow_pickle=False`` (object arrays are refused, since
    loading them means unpickling); a damaged file or a missing key is a one-line UserError."""
    import lzma
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    damaged = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, *NPZ_DAMAGED)
    try:
        d = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; {fix}") from None
    except damaged as exc:
        if isinstance(exc, ValueError) and "Object arrays" in str(exc):  # an .npy of objects
            raise UserError(f"{path} is a single .npy object (pickled) array, which is never loaded because loading "
                            f"it could run code: not {what}; {fix}") from None
        if isinstance(exc, ValueError) and "allow_pickle" in str(exc):  # neither zip nor .npy: numpy's pickle path
            raise UserError(f"{path} is neither an .npz archive nor an .npy array (numpy would read it as a pickle, "
                            f"which zeronas never does): not {what}; {fix}") from None
        raise UserError(f"{path} is damaged, cut short or not {what} ({described(exc)}); {fix}") from None
    if not hasattr(d, "files"):  # a bare .npy array, not an archive
        raise UserError(f"{path} is a single .npy array, not {what}; {fix}")
    with d:
        missing = [k for k in keys if k not in d.files]
        if missing:
            raise UserError(f"{path} lacks the array(s) {', '.join(missing)} (it holds "
                            f"{', '.join(d.files) or 'none'}): not {what}; {fix}")
        arrays = {}
        for k in keys:
            try:
                arrays[k] = d[k]
            except damaged as exc:
                if isinstance(exc, ValueError) and "allow_pickle" in str(exc):
                    raise UserError(f"{path}: array {k!r} is an object (pickled) array, which is never loaded "
                                    f"because loading it could run code: not {what}; {fix}") from None
                raise UserError(f"{path}: array {k!r} is damaged or cut short ({described(exc)}); {fix}") from None
    return arrays
