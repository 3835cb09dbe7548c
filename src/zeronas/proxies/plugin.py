"""Your own proxy: a function in a file, named ``path/to/file.py:function`` wherever a proxy name goes
(``zeronas score --proxies nwot,my_proxies.py:grad_sum``, ``correlate``, ``search --proxy``,
``ensemble:nwot+my_proxies.py:grad_sum``), or in the Python API the function itself
(``zeronas.score(arch, proxies=[grad_sum, "nwot"])``, ``zeronas.search(proxy=grad_sum)``).

The function is called as ``function(model, x, y)`` and returns a number:
- ``model``: the architecture's untrained network (the same seeded weights every built-in proxy sees, restored
  before each proxy; train mode, gradients enabled, float32, on ``--device``);
- ``x``: a batch of ``--batch-size`` images, float32 [B, C, H, W], normalised per channel; ``y``: their labels,
  int64 [B]. With ``function.data = "noise"`` the function needs no images: ``x`` is seeded N(0, 1) noise of
  that shape and ``y`` is None.
Optional attributes on the function: ``direction`` (+1: higher is better, the default; -1: lower is better),
``data`` ("batch", the default, or "noise"). A NaN or infinite value is kept as such (ranked last). A proxy of
your own takes no ``--set`` options: read settings inside the function.

Its name is the file's absolute path and the function (``/home/me/proj/my_proxies.py:grad_sum``), however the
path was written (relative, ``./``, absolute) and whether the file or the function object was given: the same
proxy has one name and one store key, and worker processes (``--workers``, Ray) load it by that name. A digest
of the file, of the modules of your own it imports (files outside the standard library and installed packages,
followed through their imports) and of the function's compiled code enters every score's protocol, so scores
stored before an edit are not read back. A function with no file (typed at a prompt) is named
``module:function``; it runs in this process only.
Loading runs the file as Python runs a script: name only files you trust. Every failure to load is a one-line
``UserError``; an exception inside the function is that architecture's error record, as a built-in proxy's
failure is.
"""

from __future__ import annotations

import inspect
import math
import numbers
import sys
import types
from pathlib import Path

import torch

from ..errors import UserError, described, exit_trapped, shown, with_article
from ..paths import Sources, digest_parts, imports_recorded, installed_roots, run_user_file, walk_code
from .base import ProxySpec, Undefined

DATA = ("batch", "noise")
# name ("/path/file.py:function") -> (resolved file or None, its Sources or None, spec, given as a function object)
_BY_NAME: dict[str, tuple] = {}
FORM = "path/to/file.py:function"


def short_names(names) -> dict[str, str]:
    """{name: how tables and plots show it}: a plug-in proxy from a file (named by its absolute path, which keys
    its scores) by ``FILE.py:fn``, where no other shown name shortens alike; every other name as it is.
    Ensembles' members too (``ensemble:/a/b/p.py:f+nwot`` -> ``ensemble:p.py:f+nwot``)."""
    import re

    path = re.compile(r"(?:[^+:]*[/\\])([^/\\+:]+\.py:)")
    names = list(dict.fromkeys(names))
    short = {n: path.sub(r"\1", n) for n in names}
    taken: dict[str, int] = {}
    for s in short.values():
        taken[s] = taken.get(s, 0) + 1
    return {n: s if taken[s] == 1 else n for n, s in short.items()}


def load_proxy(spec: str) -> ProxySpec:
    """The ProxySpec of ``path/to/file.py:function`` (loaded once per version of its files), named
    ``/absolute/path/to/file.py:function``; also the name of a function this process registered.
    Errors: UserError (one line) for a missing or non-.py file, a file that fails to run, no such function, a
    signature that cannot take (model, x, y), or a bad ``direction`` / ``data`` attribute."""
    entry = _BY_NAME.get(spec)
    if entry is not None and entry[3] and (entry[1] is None or "@" in spec or entry[1].unchanged()):
        return entry[2]  # a function object registered under this name (its file, if any, unchanged since)
    source, _, fn_name = spec.rpartition(":")
    label = f"proxy {shown(spec)}"
    path = Path(source).expanduser()
    if path.suffix != ".py" or not fn_name.isidentifier():
        raise UserError(f"{label}: a proxy of your own is named {FORM}")
    if not path.is_file():
        raise UserError(f"{label}: file {str(path)!r} does not exist")
    path = path.resolve()
    name = f"{path}:{fn_name}"
    known = _BY_NAME.get(name)
    if known is not None and known[1].unchanged():  # asked per arch: read once per version of its files
        return known[2]
    if known is not None and not known[3]:  # edited: its helper modules are imported anew, as the file is run
        for module_name in known[1].modules:
            sys.modules.pop(module_name, None)
    try:
        with imports_recorded() as imported:
            module = run_user_file(path, "zeronas_user_proxy")
    except Exception as exc:  # noqa: BLE001  (the user's file: one line naming it, not a traceback)
        raise UserError(f"{label}: running {path} failed ({described(exc)}); fix that file") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn) or isinstance(fn, type):
        defined = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
                         and v.__module__ == module.__name__)
        what = (f"no function {fn_name!r}" if fn is None else
                f"{fn_name} as {with_article(_type_name(fn))}, not a function")
        raise UserError(f"{label}: {path} defines {what} (functions defined there: {', '.join(defined) or 'none'})")
    sources = Sources.of(path, also=imported)
    loaded = _spec(fn, name, label, path, digest_parts([sources.digest.encode(), _code_digest(fn)]))
    _BY_NAME[name] = (path, sources, loaded, False)
    return loaded


def proxy_names(value):
    """The API's ``proxies=`` / ``proxy=`` with each function object replaced by its proxy name (the function
    registered as a proxy of your own); strings, lists of strings and anything else pass unchanged."""
    if isinstance(value, (list, tuple)):
        return type(value)(proxy_names(v) for v in value)
    if callable(value) and not isinstance(value, (str, type)):
        return register_function(value)
    return value


def register_function(fn) -> str:
    """Register the function object ``fn`` as a proxy of your own and return its name: ``/path/file.py:function``
    for a function defined in a file (the name, digest and store keys of naming that file, while its code is
    the file's), else ``module:function`` (typed at a prompt: it cannot reach worker processes). The digest
    covers the function's compiled code, so a function imported before its file was edited is keyed by the code
    that runs. Errors: UserError for a lambda or an object without a name, a signature that cannot take
    (model, x, y), or a bad ``direction`` / ``data`` attribute."""
    fn_name = getattr(fn, "__name__", None)
    if not isinstance(fn_name, str) or not fn_name.isidentifier():
        raise UserError(f"proxy {shown(fn, 60)}: a proxy of your own needs a name; define it with def (a lambda "
                        f"or a callable object has none), or pass its file as {FORM}")
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    path = Path(file).resolve() if isinstance(file, str) and file.endswith(".py") and Path(file).is_file() else None
    if path is not None and any(path.is_relative_to(r) for r in installed_roots()):  # an installed package's function
        path = None
    sources = Sources.of(path) if path is not None else None
    code = _code_digest(fn)
    if path is None:
        name = f"{getattr(fn, '__module__', None) or 'function'}:{fn_name}"
    elif walk_code(_compiled(path, fn_name)) == code:  # the file's code: the file's name and keys
        name = f"{path}:{fn_name}"
    else:  # imported before its file was edited (or made at run time): its own name, in this process only
        name = f"{path}:{fn_name}@{code.hex()[:8]}"
    revision = digest_parts([sources.digest.encode() if sources else b"", code])
    known = _BY_NAME.get(name)
    if known is not None and known[2].fn.__wrapped__ is fn and known[2].revision == revision:
        return name
    _BY_NAME[name] = (path, sources, _spec(fn, name, f"proxy {name}", path or name, revision), True)
    return name


def has_file(spec: ProxySpec) -> bool:
    """Whether another process can load this proxy again by its name: a built-in one, or yours as its file
    holds it (not typed at a prompt, nor imported before its file was edited)."""
    where, _, fn_name = spec.name.rpartition(":")
    return not spec.revision or (where.endswith(".py") and "@" not in fn_name)


def _spec(fn, name: str, label: str, reference, revision: str) -> ProxySpec:
    fn_name = fn.__name__
    try:
        inspect.signature(fn).bind(None, None, None)
    except TypeError:
        raise UserError(f"{label}: {fn_name} cannot be called as {fn_name}(model, x, y), which is how zeronas "
                        "calls a proxy") from None
    except ValueError:  # no signature (a builtin): trusted
        pass
    direction, data = getattr(fn, "direction", 1), getattr(fn, "data", "batch")
    if direction not in (1, -1) or isinstance(direction, bool):
        raise UserError(f"{label}: {fn_name}.direction is {shown(direction)}; set 1 (higher is better) or -1")
    if data not in DATA:
        raise UserError(f"{label}: {fn_name}.data is {shown(data)}; set one of: {', '.join(DATA)}")
    doc = (inspect.getdoc(fn) or "").strip().split("\n")[0]
    where = Path(reference).name if isinstance(reference, Path) else reference
    # kept apart from the built-in registry: 'all' and 'zeronas proxies' list the built-in proxies only
    return ProxySpec(name, _caller(fn, fn_name, data, name), direction, data, "train",
                     description=doc or f"your proxy {fn_name} in {where}", reference=str(reference),
                     family="plug-in", revision=revision, noise_batch=data == "noise")


def _code_digest(fn) -> bytes:
    """A digest of the code that runs when ``fn`` is called (bytecode, names and constants, nested functions
    too; not its file name or line numbers): the same source compiles to the same digest."""
    code = getattr(fn, "__code__", None)
    return walk_code(code) if isinstance(code, types.CodeType) else repr(fn).encode()


def _compiled(path: Path, fn_name: str):
    """The code of the top-level ``def fn_name`` in the file as it is now (compiled, not run), or None."""
    try:
        module_code = compile(path.read_bytes(), str(path), "exec")
    except (SyntaxError, ValueError, OSError):
        return None
    found = [c for c in module_code.co_consts if isinstance(c, types.CodeType) and c.co_name == fn_name]
    return found[-1] if found else None  # (redefined: the last definition is the one the name holds)


def _type_name(value) -> str:
    kind = type(value)
    package = kind.__module__.split(".")[0]  # numpy.ndarray, torch.Tensor: the name users know it by
    return kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"


def _caller(fn, fn_name: str, data: str, name: str):
    """The registered proxy function: ``fn(model, x, y)`` on the context's network and batch, its value
    checked to be a number."""

    def proxy(ctx, **options) -> float:
        model = ctx.model()
        if data == "batch":
            batch = ctx.batch(proxy=name)
            x, y = batch.x, batch.y
        else:
            x = torch.randn(ctx.input_shape(ctx.batch_size), generator=ctx.generator()).to(ctx.device)
            y = None
        with exit_trapped():
            value = fn(model, x, y)
        size = getattr(value, "size", None)
        elements = value.numel() if torch.is_tensor(value) else size if isinstance(size, int) else None
        if elements == 1 and hasattr(value, "item"):  # a one-element tensor or array
            value = value.item()
        elif elements is not None:
            raise TypeError(f"{fn_name}() returned {with_article(_type_name(value))} of {elements} elements, not "
                            "one number; reduce it (e.g. .sum().item())")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{fn_name}() returned {with_article(_type_name(value))}, not a number")
        if not math.isfinite(value):  # kept, with where it came from (ranked last)
            return Undefined(f"{fn_name}() returned {float(value)}", float(value))
        return float(value)

    proxy.__wrapped__ = fn
    return proxy
