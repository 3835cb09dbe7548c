"""Your own proxy: a function in a file, named ``path/to/file.py:function`` wherever a proxy name goes
(``zeronas score --proxies nwot,my_proxies.py:grad_sum``, ``correlate``, ``search --proxy``, the Python API,
``ensemble:nwot+my_proxies.py:grad_sum``).

The function is called as ``function(model, x, y)`` and returns a number:
- ``model``: the architecture's untrained network (the same seeded weights every built-in proxy sees, restored
  before each proxy; train mode, gradients enabled, float32, on ``--device``);
- ``x``: a batch of ``--batch-size`` images, float32 [B, C, H, W], normalised per channel; ``y``: their labels,
  int64 [B]. With ``function.data = "noise"`` the function needs no images: ``x`` is seeded N(0, 1) noise of
  that shape and ``y`` is None.
Optional attributes on the function: ``direction`` (+1: higher is better, the default; -1: lower is better),
``data`` ("batch", the default, or "noise"). A NaN or infinite value is kept as such (ranked last).

The proxy's name is the spec as written; its file's SHA-256 enters every score's protocol, so the scores an
edited file stored are not read back. Loading runs the file as Python runs a script: name only files you
trust. Every failure to load is a one-line ``UserError``; an exception inside the function is that
architecture's error record, as a built-in proxy's failure is.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
from pathlib import Path

import torch

from ..errors import UserError, described, exit_trapped, shown, with_article
from ..paths import run_user_file
from .base import ProxySpec, Undefined

DATA = ("batch", "noise")
_LOADED: dict[str, tuple] = {}  # spec -> ((spec, mtime, size) of the file loaded, its ProxySpec)


def load_proxy(spec: str) -> ProxySpec:
    """The ProxySpec of ``path/to/file.py:function``, named ``spec`` (loaded once per file version).
    Errors: UserError (one line) for a missing or non-.py file, a file that fails to run, no such function, a
    signature that cannot take (model, x, y), or a bad ``direction`` / ``data`` attribute."""
    source, _, fn_name = spec.rpartition(":")
    path = Path(source).expanduser()
    label = f"proxy {shown(spec)}"
    if path.suffix != ".py" or not fn_name.isidentifier():
        raise UserError(f"{label}: a proxy of your own is named path/to/file.py:function")
    if not path.is_file():
        raise UserError(f"{label}: file {str(path)!r} does not exist")
    stat = path.stat()
    version = (spec, stat.st_mtime_ns, stat.st_size)
    if _LOADED.get(spec, (None,))[0] == version:  # asked per architecture: the file is read once per version
        return _LOADED[spec][1]
    revision = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    try:
        module = run_user_file(path, "zeronas_user_proxy")
    except Exception as exc:  # noqa: BLE001  (the user's file: one line naming it, not a traceback)
        raise UserError(f"{label}: running {path} failed ({described(exc)}); fix that file") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn) or isinstance(fn, type):
        defined = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
                         and v.__module__ == module.__name__)
        raise UserError(f"{label}: {path} defines no function {fn_name!r} (functions defined there: "
                        f"{', '.join(defined) or 'none'})")
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
    # kept apart from the built-in registry: 'all' and 'zeronas proxies' list the built-in proxies only
    loaded = ProxySpec(spec, _caller(fn, fn_name, data, spec), direction, data, "train",
                       description=doc or f"your proxy {fn_name} in {path.name}", reference=str(path),
                       family="plug-in", revision=revision)
    _LOADED[spec] = (version, loaded)
    return loaded


def _caller(fn, fn_name: str, data: str, spec: str):
    """The registered proxy function: ``fn(model, x, y)`` on the context's network and batch, its value
    checked to be a number."""

    def proxy(ctx, **options) -> float:
        model = ctx.model()
        if data == "batch":
            batch = ctx.batch(proxy=spec)
            x, y = batch.x, batch.y
        else:
            x = torch.randn(ctx.input_shape(ctx.batch_size), generator=ctx.generator()).to(ctx.device)
            y = None
        with exit_trapped():
            value = fn(model, x, y)
        if torch.is_tensor(value) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{fn_name}() returned {with_article(type(value).__name__)}, not a number")
        if not math.isfinite(value):  # kept, with where it came from (ranked last)
            return Undefined(f"{fn_name}() returned {float(value)}", float(value))
        return float(value)

    return proxy
