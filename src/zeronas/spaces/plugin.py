"""User-defined search spaces: load a space class from a file, a module or an installed entry point.

``zeronas.space(SPEC)`` and every ``--space SPEC`` accept, besides the built-in names (nb201, darts, macro):

- ``path/to/file.py:ClassName``: the file is run as Python runs a script (its folder is on ``sys.path`` while
  it runs, so it can import its neighbours; no ``__pycache__`` is written next to it). Name only files you trust.
- ``package.module:ClassName``: an importable module.
- ``NAME``: an entry point of the group ``zeronas.spaces`` in an installed package, e.g. in its pyproject.toml
  ``[project.entry-points."zeronas.spaces"] myspace = "mypkg.spaces:MySpace"``.

The class subclasses :class:`zeronas.spaces.base.SearchSpace` or simply has the methods (duck typing). Every
method is called on an instance made with no arguments, ``ClassName()``:

=====================  ==========  ======================================================================
method                 needed      what zeronas calls it with / expects
=====================  ==========  ======================================================================
``sample(rng)``        required    a numpy Generator (or an int seed); returns an architecture (any value)
``mutate(arch, rng)``  required    returns a neighbour of ``arch`` (REA, constrained draws)
``build(arch, num_classes=10, **options)``  required   an untrained ``torch.nn.Module`` taking NCHW images
``format(arch)``       required    the architecture as a string (what users see, stores key, exports)
``parse(text)``        required    the inverse of ``format``: ``format(parse(format(a))) == format(a)``
``canonical(arch)``    optional    one key per computed function (isomorphic archs share it); default format
``size()``             optional    the number of architectures; default: refused, naming the missing method
``enumerate()``        optional    every architecture (``--sample all``); default: refused likewise
``supernet(**opts)``   optional    a weight-sharing network for the supernet methods (with ``ops``,
                                   ``edges``, ...); default: those methods are refused in one line
=====================  ==========  ======================================================================

A class attribute ``name`` set on the class itself names the space in results and stores (default: the class
name; a ``name`` inherited from a parent class is not used, since a subclass is another space); it may not be a
built-in space's name. Loading checks the class (methods present, callable the way zeronas calls them) and
round-trips one sampled architecture through ``format``/``parse``; any problem is one ``UserError`` line
naming the file or module and the fix. ``examples/mobilenet_space.py`` is a worked example.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import threading
import types
import uuid
from pathlib import Path

import numpy as np
from torch import nn

from ..errors import UserCodeError, UserError, described, exit_trapped, shown, with_article
from ..paths import Sources, imports_recorded, user_classes_digest, user_code
from .base import SearchSpace

ENTRY_POINT_GROUP = "zeronas.spaces"
REQUIRED = ("sample", "mutate", "build", "format", "parse")
OPTIONAL = ("canonical", "enumerate", "size", "supernet")
# how zeronas calls each required method (bound to the signature at load time)
_CALLS = {"sample": ("(rng)", (None,), {}), "mutate": ("(arch, rng)", (None, None), {}),
          "build": ("(arch, num_classes=10)", (None,), {"num_classes": 10}), "format": ("(arch)", (None,), {}),
          "parse": ("(text)", ("",), {})}
HOW = "see examples/README.md for the methods a space needs"
MODULE_RETURNS = ("build", "supernet")  # methods whose value zeronas runs as a network

_CLASSES: dict[tuple, type] = {}  # loaded (and checked) classes, so a spec is run once per process
_SOURCES: dict[tuple, Sources] = {}  # a plug-in file's sources: run again when one of them changed


def entry_points() -> dict:
    """The installed ``zeronas.spaces`` entry points by name."""
    from importlib.metadata import entry_points as eps

    try:
        found = eps(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001  (a broken distribution's metadata must not break the built-in spaces)
        return {}
    return {ep.name: ep for ep in found}


def is_plugin(name: str) -> bool:
    """A file/module spec (``...:ClassName``) or the name of an installed entry point."""
    return isinstance(name, str) and (":" in name or _entry_point(name) is not None)


def _entry_point(name: str):
    eps = entry_points()
    return eps.get(name) or next((ep for n, ep in eps.items() if n.lower() == name.strip().lower()), None)


def load_space(spec: str, label: str = "space") -> SearchSpace:
    """An instance of the plug-in space ``spec`` (see the module docstring); one-line UserError otherwise."""
    cls = load_space_class(spec, label)
    return _instantiate(cls, spec, label)


def portable_source(source: str) -> str:
    """A plug-in space's ``file.py:Class`` with the file's absolute path, so that a result.json or an export
    that records it loads the space from any folder (a ``package.module:Class`` or entry-point name is kept)."""
    file, sep, cls = source.rpartition(":")
    if sep and (file.endswith(".py") or Path(file).expanduser().is_file()):
        return f"{Path(file).expanduser().resolve()}:{cls}"
    return source


def load_space_class(spec: str, label: str = "space") -> type:
    """The adapted, checked space class of ``spec`` (cached per file version, module or entry point)."""
    text = str(spec).strip()
    source, sep, cls_name = text.rpartition(":")
    if not sep:
        ep = _entry_point(text)
        if ep is None:
            raise UserError(unknown_message(label, spec))
        key = ("entry-point", ep.name, ep.value)
        if key not in _CLASSES:
            try:
                with exit_trapped():
                    user_cls = ep.load()
            except Exception as exc:  # noqa: BLE001  (the installed package's code: one line)
                raise UserError(f"{label} {spec!r}: loading entry point {ep.name} = {ep.value} failed "
                                f"({described(exc)}); reinstall or fix that package") from None
            _CLASSES[key] = _adapt(user_cls, text, ep.value, label)
        return _CLASSES[key]
    if not source or not cls_name:
        raise UserError(f"{label} {spec!r}: write path/to/file.py:ClassName, package.module:ClassName or the name "
                        f"of an installed {ENTRY_POINT_GROUP} entry point")
    if not cls_name.isidentifier():
        raise UserError(f"{label} {spec!r}: {cls_name!r} is not a Python class name")
    path = Path(source).expanduser()
    if source.endswith(".py") or "/" in source or "\\" in source or path.exists():
        return _from_file(text, path, cls_name, label)
    return _from_module(text, source, cls_name, label)


def _from_file(spec: str, path: Path, cls_name: str, label: str) -> type:
    if path.suffix != ".py":
        what = "a folder" if path.is_dir() else "not a .py file"
        raise UserError(f"{label} {spec!r}: {str(path)!r} is {what}; give path/to/file.py:ClassName or "
                        f"package.module:ClassName")
    if not path.is_file():
        raise UserError(f"{label} {spec!r}: file {str(path)!r} does not exist"
                        + (" (it is a folder)" if path.is_dir() else ""))
    resolved = path.resolve()
    key = ("file", str(resolved), cls_name)
    if key in _CLASSES and _SOURCES[key].unchanged():
        return _CLASSES[key]
    for helper in _SOURCES[key].modules if key in _SOURCES else ():  # edited: imported anew, as the file runs
        sys.modules.pop(helper, None)
    mod_name = f"zeronas_user_space_{resolved.stem}_{hashlib.sha256(str(resolved).encode()).hexdigest()[:10]}"
    module = types.ModuleType(mod_name)
    module.__file__ = str(resolved)
    sys.modules[mod_name] = module  # dataclasses, pickling and typing look the module up by name
    try:
        with user_code(resolved.parent), imports_recorded() as imported:
            code = compile(resolved.read_bytes(), str(resolved), "exec")
            exec(code, module.__dict__)  # noqa: S102  (the user's own space file, named on the command line)
    except Exception as exc:  # noqa: BLE001  (the user's file: one line naming it, not a traceback)
        sys.modules.pop(mod_name, None)
        raise UserError(f"{label} {spec!r}: running {path} failed ({described(exc)}); fix that file") from None
    sources = Sources.of(resolved, also=imported)
    user_cls = _class_in(module, cls_name, spec, str(path), label)
    _CLASSES[key] = _adapt(user_cls, spec, f"{path}:{cls_name}", label, sources=sources)
    _SOURCES[key] = sources
    return _CLASSES[key]


def _from_module(spec: str, mod_name: str, cls_name: str, label: str) -> type:
    key = ("module", mod_name, cls_name)
    if key in _CLASSES:
        return _CLASSES[key]
    try:
        with exit_trapped():
            module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise UserError(f"{label} {spec!r}: no module named {exc.name!r} (and no file {mod_name!r}); give "
                            f"path/to/file.py:ClassName or an importable package.module:ClassName") from None
        raise UserError(f"{label} {spec!r}: importing {mod_name} failed ({described(exc)}); fix that module") \
            from None
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{label} {spec!r}: importing {mod_name} failed ({described(exc)}); fix that module") \
            from None
    user_cls = _class_in(module, cls_name, spec, f"module {mod_name}", label)
    _CLASSES[key] = _adapt(user_cls, spec, spec, label)
    return _CLASSES[key]


def _class_in(module, cls_name: str, spec: str, where: str, label: str) -> type:
    obj = getattr(module, cls_name, None)
    if obj is None or not isinstance(obj, type):
        classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        what = "no class" if obj is None else f"a {type(obj).__name__}, not a class,"
        raise UserError(f"{label} {spec!r}: {where} defines {what} named {cls_name!r} (classes defined there: "
                        f"{', '.join(classes) or 'none'})")
    return obj


def _defined(cls: type, name: str) -> bool:
    """``cls`` has a concrete method ``name`` (an abstract SearchSpace stub does not count)."""
    attr = getattr(cls, name, None)
    return callable(attr) and not getattr(attr, "__isabstractmethod__", False)


def provides(sp, capability: str) -> bool:
    """Whether a space offers ``capability``: an optional method its author wrote (plug-in spaces record
    which), or a non-empty attribute such as ``ops``, ``edges`` or ``thin_supernet``. Built-in spaces
    provide whatever they define."""
    if capability in OPTIONAL and getattr(sp, "plugin", False):
        return capability in sp.provides
    value = getattr(sp, capability, None)
    return bool(value) if not callable(value) else not getattr(value, "__isabstractmethod__", False)


def _adapt(user_cls: type, spec: str, origin: str, label: str, whole_file: bool = True,
           sources: Sources | None = None) -> type:
    """A SearchSpace subclass of ``user_cls`` with defaults for the optional methods it lacks (``sources``: the
    plug-in file's, whose helpers' contents enter its ``network_revision``)."""
    missing = [m for m in REQUIRED if not _defined(user_cls, m)]
    if missing:
        raise UserError(f"{label} {spec!r}: class {user_cls.__name__} lacks the required method(s) "
                        f"{', '.join(missing)} (a space needs {', '.join(REQUIRED)}; {HOW})")
    for m in REQUIRED:
        shape, args, kwargs = _CALLS[m]
        # a static or class method is called without the instance
        unbound = not isinstance(inspect.getattr_static(user_cls, m), (staticmethod, classmethod))
        try:
            inspect.signature(getattr(user_cls, m)).bind(*(None,) * unbound, *args, **kwargs)
        except TypeError:
            raise UserError(f"{label} {spec!r}: {user_cls.__name__}.{m} cannot be called as {m}{shape}, which is how "
                            f"zeronas calls it ({HOW})") from None
        except ValueError:  # no signature (a builtin): trust it
            pass
    own = vars(user_cls).get("name", "")  # not inherited: a subclass under its parent's name would mix their results
    name = own if isinstance(own, str) and own.strip() else user_cls.__name__
    from .base import _SPACES, list_spaces

    list_spaces()  # the built-in names, registered
    builtin = {n.replace("-", "").replace("_", "").lower() for n in _SPACES}
    if ":" in name or name.replace("-", "").replace("_", "").lower() in builtin:
        why = "with a ':'" if ":" in name else "a built-in space's name"
        raise UserError(f"{label} {spec!r}: class {user_cls.__name__} names itself {name!r}, {why}; set another "
                        f"name = '...' on the class")
    have = frozenset(m for m in OPTIONAL if _defined(user_cls, m))
    namespace = {"name": name, "plugin": True, "source": spec, "origin": origin, "provides": have,
                 "network_revision": _revision(user_cls, whole_file, sources),
                 "__module__": user_cls.__module__, "__doc__": user_cls.__doc__,
                 "__qualname__": user_cls.__qualname__}
    for m in OPTIONAL:
        if m not in have:
            namespace[m] = _DEFAULTS[m]
    for m in (*REQUIRED, *have):  # the author's methods: a failure inside one is named with it
        namespace[m] = _guarded(user_cls, m)
    for attr in ("edge_weighted", "arch_allows_none"):  # not a cell space unless the author says so
        if not any(attr in vars(c) for c in user_cls.__mro__ if c is not SearchSpace and c is not object):
            namespace[attr] = False
    bases = (user_cls,) if issubclass(user_cls, SearchSpace) else (user_cls, SearchSpace)
    try:
        return types.new_class(user_cls.__name__, bases, exec_body=lambda ns: ns.update(namespace))
    except TypeError as exc:  # e.g. a metaclass that cannot be combined with SearchSpace's ABCMeta
        raise UserError(f"{label} {spec!r}: class {user_cls.__name__} cannot be used as a space ({described(exc)}); "
                        f"subclass zeronas.spaces.base.SearchSpace or a plain class") from None


def _guarded(user_cls: type, method: str):
    """``user_cls.method`` wrapped so that an exception it raises (not a UserError, which already speaks to the
    user) becomes a ``UserCodeError`` naming the class and the method, e.g. 'MySpace.parse() failed (ValueError:
    ...)': it was reported as an internal error of zeronas."""
    import functools

    raw = inspect.getattr_static(user_cls, method)
    kind = type(raw) if isinstance(raw, (staticmethod, classmethod)) else None
    fn = raw.__func__ if kind else raw

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            with exit_trapped():
                out = fn(*args, **kwargs)
        except (UserError, UserCodeError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001  (the author's code: named, with the cause chained)
            # most often the text is wrong, not the code: unless parse() refuses what the space itself writes
            example = _example(args[0]) if method == "parse" and len(args) >= 2 and isinstance(args[1], str) else None
            if example and example != args[1]:
                raise UserError(f"{args[1]!r} is not an architecture of the plug-in space {user_cls.__name__}: "
                                f"its parse() refused it ({described(exc)}); give a string it reads, e.g. "
                                f"{example!r}") from exc
            raise UserCodeError(f"{user_cls.__name__}.{method}() failed ({described(exc)}); fix that method of "
                                f"the plug-in space") from exc
        if method in MODULE_RETURNS and not isinstance(out, nn.Module):
            raise UserCodeError(f"{user_cls.__name__}.{method}() returned {with_article(type(out).__name__)}, not a "
                                f"torch.nn.Module; return the network it builds")
        return out

    return kind(guarded) if kind else guarded


_EXAMPLE_ACTIVE = threading.local()


def _example(space) -> str | None:
    """One arch the space draws and formats and its parse() reads back, or None where any of that fails (or
    where this is already finding one: parse() failing on the example must not look for another)."""
    if getattr(_EXAMPLE_ACTIVE, "on", False):
        return None
    _EXAMPLE_ACTIVE.on = True
    try:
        text = space.format(space.sample(0))
        space.parse(text)
        return text
    except Exception:  # noqa: BLE001  (an example only)
        return None
    finally:
        _EXAMPLE_ACTIVE.on = False


def _revision(user_cls: type, whole_file: bool = True, sources: Sources | None = None):
    """What keeps a plug-in's stored scores apart from those of an edited version (part of every score's
    protocol): the class's own ``network_revision`` when its author sets one (kept as given: its type is part
    of the key), else a SHA-256: of the file that defines the class (a plug-in file: any edit to it gets new
    store keys) and, when ``sources`` name any, of the modules of the user's own it imports (an edited helper
    beside it gets new keys too), or, for a class handed over in Python (``whole_file``
    False), of the source of the class and its bases outside zeronas, so that editing the script around it
    (e.g. a budget) keeps the keys; a class typed into a console: a digest of its compiled methods."""
    own = next((vars(c)["network_revision"] for c in user_cls.__mro__ if "network_revision" in vars(c)
                and c is not SearchSpace), None)
    if own not in (None, ""):
        return own
    if whole_file and sources is not None and len(sources.versions) > 1:
        return sources.digest
    try:
        if whole_file:
            text = Path(getattr(sys.modules.get(user_cls.__module__), "__file__", None)).read_bytes()
        else:
            text = "\n".join(inspect.getsource(c) for c in _own_classes(user_cls)).encode()
    except (TypeError, OSError):  # typed into a console, or from a zip: hash the compiled methods instead
        return _code_digest(user_cls)
    return "sha256:" + hashlib.sha256(text).hexdigest()[:16]


def _own_classes(user_cls: type) -> list[type]:
    """The class and its bases that are the user's (not object, not zeronas's)."""
    return [c for c in user_cls.__mro__ if c is not object and not c.__module__.startswith("zeronas.")]


def _code_digest(user_cls: type) -> str:
    """A digest of the class's compiled methods and plain attributes (and its bases' outside zeronas), for a
    class without source to hash: an edited method gets new store keys ('' when there is nothing to hash)."""
    digest = user_classes_digest([user_cls])
    return "code-sha256:" + digest.hex()[:16] if digest else ""


def _with_state(revision, state: dict):
    """``revision`` joined with a digest of an object's attributes, so that objects of one class built with other
    arguments keep their stored scores apart. Plain values and containers of them, arrays, tensors, modules,
    functions (code, defaults and closure), and objects made of these are hashed by content, the same in every
    process; an attribute with no such content (an open file, a lock) gets a token of its own for this process,
    so scores made with it are never replayed for another value, nor in a later process."""
    digest = hashlib.sha256()
    for name in sorted(state):
        part = _content(state[name])
        digest.update(_framed(name.encode(), part if part is not None else _token(state[name])))
    tag = "state-sha256:" + digest.hexdigest()[:16]
    return f"{revision}+{tag}" if revision not in (None, "") else tag


_TOKENS: dict[int, tuple] = {}  # id -> (the value, kept alive so its id is not reused; its token)


def _token(value) -> bytes:
    held = _TOKENS.get(id(value))
    if held is None or held[0] is not value:
        held = _TOKENS[id(value)] = (value, uuid.uuid4().bytes)
    return held[1]


def _framed(*parts: bytes) -> bytes:
    """Parts joined so that no two different sequences give the same bytes (each is length-prefixed)."""
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def _content(value, depth: int = 0) -> bytes | None:  # noqa: C901  (one branch per kind of value)
    """Bytes that change when ``value``'s content does and are the same in every process (None: no such bytes
    found)."""
    import marshal
    import types

    import torch

    if depth > 20:
        return None
    kind = f"{type(value).__module__}.{type(value).__qualname__}".encode()

    def each(items):
        parts = [_content(v, depth + 1) for v in items]
        return None if None in parts else parts

    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return _framed(kind, repr(value).encode())
    if isinstance(value, (list, tuple)):
        parts = each(value)
        return None if parts is None else _framed(kind, *parts)
    if isinstance(value, (set, frozenset)):
        parts = each(value)
        return None if parts is None else _framed(kind, *sorted(parts))
    if isinstance(value, dict):
        parts = each(value.keys()), each(value.values())
        if None in parts:
            return None
        return _framed(kind, *sorted(_framed(k, v) for k, v in zip(*parts)))
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            parts = each(value.ravel().tolist())
            return None if parts is None else _framed(kind, str(value.shape).encode(), *parts)
        return _framed(kind, str((value.dtype.str, value.shape)).encode(), np.ascontiguousarray(value).tobytes())
    if isinstance(value, torch.Tensor):  # any dtype (bfloat16 has no numpy twin): its raw bytes
        t = value.detach().cpu().contiguous().reshape(-1)
        return _framed(kind, str((t.dtype, tuple(value.shape))).encode(), t.view(torch.uint8).numpy().tobytes())
    if isinstance(value, torch.nn.Module):  # its structure and its weights and buffers
        weights = value.state_dict()
        state = each(weights.values())
        return None if state is None else _framed(kind, repr(value).encode(), *map(str.encode, weights), *state)
    if isinstance(value, (types.FunctionType, types.MethodType)):
        fn = getattr(value, "__func__", value)
        cells = [c.cell_contents for c in (fn.__closure__ or ()) if _filled(c)]
        parts = each([fn.__defaults__, fn.__kwdefaults__, *cells])
        if parts is None:
            return None
        owner = _content(value.__self__, depth + 1) if isinstance(value, types.MethodType) else b""
        return None if owner is None else _framed(kind, marshal.dumps(fn.__code__), owner, *parts)
    if isinstance(value, np.generic):  # a numpy scalar
        return _framed(kind, value.dtype.str.encode(), value.tobytes())
    if isinstance(value, (types.BuiltinFunctionType, np.ufunc)):  # math.sqrt, np.exp: named, no code to hash
        return _framed(kind, f"{getattr(value, '__module__', '')}.{value.__name__}".encode())
    if isinstance(value, type):
        return _framed(kind, f"{value.__module__}.{value.__qualname__}".encode())
    if isinstance(value, types.ModuleType):
        return _framed(kind, value.__name__.encode())
    if hasattr(value, "__dict__") and type(value).__reduce_ex__ is object.__reduce_ex__:  # a plain object
        parts = _content(vars(value), depth + 1)
        return None if parts is None else _framed(kind, parts)
    return None  # e.g. an open file, a lock: no content that stays the same


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises)
    except ValueError:
        return False
    return True


def from_python(obj, label: str = "space=") -> SearchSpace:
    """A space handed over in Python (the API's ``space=``) as a class, or as an object of a class that is not a
    ``SearchSpace``: adapted and checked as a plug-in file's class is (optional methods filled in, the author's
    methods guarded, one sampled arch round-tripped); an object keeps its attributes. One-line UserError for
    anything else (a class passed where ... is meant, a number, a class lacking a required method)."""
    cls = obj if isinstance(obj, type) else type(obj)
    if isinstance(obj, type) and issubclass(obj, SearchSpace) and obj.__module__.startswith("zeronas."):
        return obj()  # a built-in space's class
    if not all(hasattr(cls, m) for m in REQUIRED) or cls.__module__ == "builtins":
        raise UserError(f"{label} takes a space name (e.g. 'nb201', or 'path/to/file.py:ClassName'), a space class "
                        f"or a space object with the methods {', '.join(REQUIRED)}; not {cls.__name__} "
                        f"{shown(str(obj), 60)}")
    spec = f"{cls.__module__}:{cls.__qualname__}"  # zeronas.space(spec) loads it again where the module imports
    key = ("class", cls)
    if key not in _CLASSES:
        _CLASSES[key] = _adapt(cls, spec, spec, label, whole_file=False)
    adapted = _CLASSES[key]
    if isinstance(obj, type):
        return _instantiate(adapted, spec, label)
    sp = adapted.__new__(adapted)  # the object's own state (e.g. constructor arguments) in the adapted class
    state = dict(getattr(obj, "__dict__", {}))
    for c in cls.__mro__:  # and its __slots__ values
        slots = c.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                state[name] = getattr(obj, name)
    for name, value in state.items():
        setattr(sp, name, value)
    if state and "network_revision" not in state:  # MySpace(width=16) and MySpace(width=32) build other networks
        sp.network_revision = _with_state(adapted.network_revision, state)
    if not getattr(adapted, "_zeronas_checked", False):
        _smoke_test(sp, spec, label)
        adapted._zeronas_checked = True
    return sp


def _instantiate(cls: type, spec: str, label: str) -> SearchSpace:
    try:
        with exit_trapped():
            sp = cls()
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{label} {spec!r}: {cls.__name__}() failed ({described(exc)}); the class must be "
                        f"constructible without arguments (set options as class attributes)") from None
    if not getattr(cls, "_zeronas_checked", False):
        _smoke_test(sp, spec, label)
        cls._zeronas_checked = True
    return sp


def _smoke_test(sp, spec: str, label: str):
    """One sampled arch through format -> parse -> format, and one mutation, so a broken space fails at
    load time in one line rather than mid-search."""
    step = "sample(rng)"
    try:
        rng = np.random.default_rng(0)
        arch = sp.sample(rng)
        step = "format(arch)"
        text = sp.format(arch)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{label} {spec!r}: {type(sp).__name__}.format returned {text!r}, not a non-empty "
                            "string")
        step = "parse(format(arch))"
        again = sp.format(sp.parse(text))
        if again != text:
            raise UserError(f"{label} {spec!r}: {type(sp).__name__}.format and parse do not round-trip: "
                            f"{shown(text, 60)} comes back as {shown(str(again), 60)}")
        step = "mutate(arch, rng)"
        sp.format(sp.mutate(arch, rng))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001
        cause = exc.__cause__ if isinstance(exc, UserCodeError) and exc.__cause__ is not None else exc
        raise UserError(f"{label} {spec!r}: {type(sp).__name__}.{step} failed on a sampled architecture "
                        f"({described(cause)})") from None


def unknown_message(label: str, name) -> str:
    from .base import list_spaces

    eps = sorted(entry_points())
    installed = f"; installed plug-ins: {', '.join(eps)}" if eps else ""
    return (f"unknown {label} {name!r}; choose one of: {', '.join(list_spaces())}, or a plug-in space "
            f"path/to/file.py:ClassName or package.module:ClassName{installed}")


def check_space_name(label: str, value):
    """The ``--space`` domain: a built-in name, or a plug-in that loads and passes its checks."""
    from .base import list_spaces

    if not isinstance(value, str) or not value.strip():
        what = "is empty" if isinstance(value, str) else f"takes a name, not {type(value).__name__} {shown(value)}"
        raise UserError(f"{label} {what}; give a space name ({', '.join(list_spaces())}) or "
                        "path/to/file.py:ClassName")
    key = value.lower().replace("-", "").replace("_", "")
    if any(r.replace("-", "").replace("_", "") == key for r in list_spaces()):  # registers the built-ins
        return
    if not is_plugin(value):
        raise UserError(unknown_message(label, value))
    load_space(value, label)


# ---- defaults for what a user space may leave out ----------------------------------------------------------

def _canonical(self, arch) -> str:
    """Without the author's rule, every arch string is its own class."""
    return self.format(arch)


def _enumerate(self):
    raise UserError(f"the {self.name} space does not define enumerate(), so it cannot list its architectures "
                    f"(e.g. --sample all); give a count, or add enumerate() to the class")


def _size(self) -> int:
    raise UserError(f"the {self.name} space does not define size(); add size() to the class to use what needs it")


def _supernet(self, **options):
    raise UserError(f"the {self.name} space defines no supernet (SearchSpace.supernet), which the supernet "
                    f"methods (zero-cost-pt, te-nas, freedarts, teg-*) need; use sample, random, rea or das")


_DEFAULTS = {"canonical": _canonical, "enumerate": _enumerate, "size": _size, "supernet": _supernet}
