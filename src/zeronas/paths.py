"""Where zeronas looks for datasets and benchmark tables (and ``atomic_path``, how it writes a file whole).

Order: an explicit ``data_dir`` (CLI ``--data-dir``), then ``$ZERONAS_DATA``, then ``../shared/data``
next to the working directory or next to the project checkout when it exists, then the user cache dir.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import os
import sys
import sysconfig
import tempfile
import types
from pathlib import Path

ENV_VAR = "ZERONAS_DATA"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zeronas"


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR]).expanduser()]
    project_root = Path(__file__).resolve().parents[2]
    found = [p for p in (Path.cwd() / ".." / "shared" / "data", project_root / ".." / "shared" / "data") if p.is_dir()]
    return [*dict.fromkeys(p.resolve() for p in found), cache_dir()]


def data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The first existing candidate, or the last one (where downloads would go)."""
    dirs = candidate_dirs(data_dir)
    for d in dirs:
        if d.is_dir():
            return d
    return dirs[-1]


def find(relative_paths: list[str], data_dir: str | os.PathLike | None = None) -> Path | None:
    for d in candidate_dirs(data_dir):
        for rel in relative_paths:
            p = d / rel
            if p.exists():
                return p
    return None


def searched(data_dir: str | os.PathLike | None = None) -> str:
    return ", ".join(str(d) for d in candidate_dirs(data_dir))


def file_sha256(path: Path, _cache: dict = {}) -> str:  # noqa: B006  (memo per process)
    key = (str(path), path.stat().st_mtime_ns, path.stat().st_size)
    if key not in _cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _cache[key] = h.hexdigest()
    return _cache[key]


def _umask() -> int:
    mask = os.umask(0)  # reading it means setting it: put it back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yields a new temporary path beside ``path`` (unique: two writers never share it) to write the whole file
    to; on success it replaces ``path`` in one step (``os.replace``), so a kill leaves the old file or the new
    one, never half of it; on any error or interrupt the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file owner-only (0600): give it the mode a plain open() would, or the old file's
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FolderLock:
    """An exclusive advisory lock on a folder, held until ``release()`` (or the object is freed): ``flock`` on
    the folder's own descriptor, so nothing is written into it. Where ``fcntl`` does not exist (Windows) it
    locks nothing. Raises UserError (one line) naming ``what`` when another process holds it."""

    def __init__(self, folder: str | os.PathLike, what: str):
        import weakref

        self._fd = None
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock on a folder
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from .errors import UserError

            os.close(fd)
            raise UserError(f"another process is writing into {folder} ({what}); wait for it to end, or pass "
                            "another --out") from None
        except OSError:  # a filesystem without flock (some network mounts): run unlocked, as before
            os.close(fd)
            return
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        if self._fd is not None:
            self._finalizer()  # closing the descriptor releases the lock
            self._fd = None


@contextlib.contextmanager
def user_code(folder):
    """Run a user's file as Python runs a script: its own folder first on ``sys.path`` (so it imports the
    modules beside it), no bytecode written next to it; both undone on leaving. A ``sys.exit()`` inside
    becomes ``errors.ExitCalled``, an ordinary exception."""
    from .errors import exit_trapped

    folder, old_bytecode = str(folder), sys.dont_write_bytecode
    sys.path.insert(0, folder)
    sys.dont_write_bytecode = True
    try:
        with exit_trapped():  # the file's own sys.exit(): a failure of it, said in one line
            yield
    finally:
        sys.dont_write_bytecode = old_bytecode
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


@contextlib.contextmanager
def imports_recorded():
    """Collect the absolute module names imported while the block runs: import statements and
    ``__import__`` (``builtins.__import__``) and ``importlib.import_module`` calls, whether the module was
    imported before or not, so that what a plug-in imports depends on its files only, not on what this
    process imported earlier. Yields the list it fills."""
    import builtins

    names: list[str] = []
    real_import, real_module = builtins.__import__, importlib.import_module

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        with contextlib.suppress(ImportError, ValueError, KeyError, TypeError):
            base = importlib.util.resolve_name("." * level + name, (globals or {}).get("__package__")) \
                if level else name
            names.extend([base, *(f"{base}.{f}" for f in fromlist or () if isinstance(f, str) and f != "*")])
        return real_import(name, globals, locals, fromlist, level)

    def recording_module(name, package=None):
        with contextlib.suppress(ImportError, ValueError, TypeError):
            names.append(importlib.util.resolve_name(name, package) if name.startswith(".") else name)
        return real_module(name, package)

    builtins.__import__, importlib.import_module = recording_import, recording_module
    try:
        yield names
    finally:
        builtins.__import__, importlib.import_module = real_import, real_module


def run_user_file(path, prefix: str):
    """Run the user's .py file at ``path`` as a module (``user_code``: its folder importable, a sys.exit() an
    ordinary exception) named ``prefix`` + a digest of its resolved path, and return the module."""
    path = Path(path)
    name = f"{prefix}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    with user_code(path.resolve().parent):
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    return module


class Sources:
    """The files a plug-in (a proxy or space of your own) was loaded from: its file and the user modules it imports,
    followed through their imports (files outside the standard library, installed packages and zeronas), and
    the modules it asked for while it ran (``imports_recorded``: ``importlib.import_module`` and ``__import__``
    too, whether this process had imported them before or not).
    ``digest`` covers their names and contents; ``modules`` are the helpers' names in ``sys.modules``, dropped
    when a file changed so that they are imported anew."""

    def __init__(self, versions: dict, modules: list[str]):
        self.versions, self.modules = versions, modules
        self.digest = digest_parts([p.name.encode() + b"\0" + p.read_bytes()
                                    for p in sorted(versions, key=lambda p: (p.name, p))])

    @classmethod
    def of(cls, path: Path, also: list[str] = ()) -> Sources:
        """The sources of the file ``path``, run just now (its imports are in ``sys.modules``); ``also``: names
        of modules imported while it ran, followed as if it named them in import statements."""
        installed, seen, todo, modules = installed_roots(), {path}, [(path, None)], []
        # a recorded "a.b.c" stands for its packages too, as an import statement's name does
        first = list(dict.fromkeys(".".join(n.split(".")[:i]) for n in also for i in range(1, n.count(".") + 2)))
        distributed, home = _distributed(), path.resolve().parent
        while todo:
            path_now, package = todo.pop()
            for name in _imports(path_now, package) + first:
                module = sys.modules.get(name)
                file = getattr(module, "__file__", None)
                if not isinstance(file, str) or not file.endswith(".py"):
                    continue
                found = Path(file).resolve()
                if name.split(".")[0] in distributed and not found.is_relative_to(home):
                    continue  # an installed distribution's (editable ones too), unless it lies beside the plug-in
                if found not in seen and found.is_file() and not any(found.is_relative_to(r) for r in installed):
                    seen.add(found)
                    modules.append(name)
                    todo.append((found, getattr(module, "__package__", None)))
            first = []
        return cls({p: _version(p) for p in seen}, modules)

    def unchanged(self) -> bool:
        return all(p.is_file() and _version(p) == v for p, v in self.versions.items())


def _imports(path: Path, package: str | None = None) -> list[str]:
    """The absolute module names the file's import statements name (with their parent packages and, for
    ``from a import b``, ``a.b`` in case it is a module); relative imports (``from . import b``,
    ``from .a import b``) are resolved against ``package``, the file's ``__package__`` (skipped without one:
    the proxy file itself runs as a top-level module). None for a file Python cannot parse."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not package:
                    continue
                try:
                    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                except (ImportError, ValueError):
                    continue
            else:
                base = node.module
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return list(dict.fromkeys(".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)))


def _version(path: Path) -> tuple:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _distributed() -> set[str]:
    """Top-level module names that belong to an installed distribution (``pip install``, ``-e`` included): a
    package's modules, not the user's plug-in code (their folders may lie outside site-packages)."""
    import importlib.metadata

    global _DISTRIBUTED
    if _DISTRIBUTED is None:
        try:
            _DISTRIBUTED = set(importlib.metadata.packages_distributions())
        except Exception:  # noqa: BLE001  (broken metadata: fall back to the folders alone)
            _DISTRIBUTED = set()
    return _DISTRIBUTED


_DISTRIBUTED: set[str] | None = None


def installed_roots() -> list[Path]:
    """Folders of the standard library and of installed packages (not the user's code), and zeronas's own."""
    roots = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return [Path(r).resolve() for r in roots if r] + [Path(__file__).resolve().parent]


def digest_parts(parts: list[bytes]) -> str:
    """``sha256:`` and 16 hex digits of a digest of the parts' digests (their boundaries count)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return "sha256:" + h.hexdigest()[:16]


def walk_code(code) -> bytes | None:
    """A digest of compiled code: bytecode, names and constants, nested code too; not its file name or line
    numbers (the same source compiles to the same digest wherever it sits). None for None."""
    if code is None:
        return None
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    parts += [walk_code(c) if isinstance(c, types.CodeType) else  # a set's order varies with string hashing
              repr(sorted(map(repr, c)) if isinstance(c, frozenset) else c).encode() for c in code.co_consts]
    return hashlib.sha256(b"\0".join(parts)).digest()


def user_classes_digest(classes) -> bytes:
    """A digest of the code of the user's own classes among ``classes`` (and of their bases): every function,
    static / class method and property defined on a class whose module is not the standard library, an
    installed package or zeronas (``installed_roots``), its plain class attributes (``scale = 2.0``), and what
    that code reads from its module by name: the user's functions there (followed the same way) and plain
    values (numbers, strings, tuples). b"" when there is none (torch's and torchvision's modules only). Line
    numbers and file names do not enter (``walk_code``). Not covered: objects of other kinds that the code
    reads from its module (a dict, a tensor, an instance), and modules it imports."""
    installed, parts, seen, followed = installed_roots(), [], set(), set()
    plain = (int, float, complex, str, bytes, bool, tuple, frozenset, type(None))

    def user_file(module_name) -> bool:
        file = getattr(sys.modules.get(module_name), "__file__", None)
        return not (isinstance(file, str) and any(Path(file).resolve().is_relative_to(r) for r in installed))

    def names_read(code) -> set[str]:
        found = set(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                found |= names_read(c)
        return found

    def follow(fn, label: str):
        parts.append(label.encode() + b"\0" + walk_code(fn.__code__))
        scope = getattr(fn, "__globals__", {})
        for name in sorted(names_read(fn.__code__)):
            v = scope.get(name)
            if isinstance(v, types.FunctionType) and id(v) not in followed and user_file(v.__module__):
                followed.add(id(v))
                follow(v, f"global {name}")
            elif isinstance(v, plain) and not name.startswith("__") and (name, repr(v)) not in followed:
                followed.add((name, repr(v)))
                parts.append(f"global {name}={v!r}".encode())

    for cls in sorted(classes, key=lambda c: (c.__module__, c.__qualname__)):
        for c in cls.__mro__:
            if c in seen or c is object or not user_file(c.__module__):
                continue
            seen.add(c)
            for name, v in sorted(vars(c).items()):
                fn = v.fget if isinstance(v, property) else getattr(v, "__func__", v)
                if isinstance(getattr(fn, "__code__", None), types.CodeType):
                    follow(fn, f"{c.__qualname__}.{name}")
                elif isinstance(v, plain) and not name.startswith("__"):
                    parts.append(f"{c.__qualname__}.{name}={v!r}".encode())
    return hashlib.sha256(b"\0".join(parts)).digest() if parts else b""


# What each file a verb writes into an --out folder holds near its start, in every zeronas version that wrote
# it (any one of the alternatives, each a set of keys that must all be there): a file of that name without it is
# the user's, and is never replaced (nor removed as a stale output).
_OURS = {
    "scores.json": ((b'"canonical"', b'"protocol_hash"'),),  # and "[]" as the whole file (no records)
    "result.json": ((b'"method"', b'"canonical"', b'"evaluations"'),),
    "front.json": ((b'"front"', b'"objectives"'),),
    "correlation.json": ((b'"meta"', b'"target_sha256"'),),
    "bench_correlation.json": ((b'"protocol"', b'"rows"'),),
    "summary.json": ((b'"arch"', b'"recipe"', b'"epochs_done"'),),
    "log.jsonl": ((b'"epoch"', b'"train_loss"'),),
    "correlation.csv": ((b"proxy,spearman,kendall",),),
    "archs.csv": ((b"index,arch,",),),
}


def _looks_ours(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if not head.strip():  # an empty file loses nothing
        return True
    if path.suffix == ".png":  # every plot zeronas writes is matplotlib's, which signs its PNGs
        return head.startswith(b"\x89PNG\r\n\x1a\n") and b"Matplotlib" in head
    if path.name == "scores.json" and head.strip() == b"[]":
        return True
    return any(all(key in head for key in keys) for keys in _OURS.get(path.name, ()))


def check_outputs(folder, names, flag: str = "--out") -> None:
    """Before any work: a one-line UserError when ``folder`` holds, under one of ``names`` (the files a verb
    writes there), something a run would replace or remove that zeronas did not write: a link, a folder, or a
    file without the content of that output (a user's own result.json). Absent files and earlier zeronas
    outputs pass (a rerun replaces them). ``folder`` itself may be absent (it is made)."""
    from .errors import UserError

    folder = Path(folder)
    if not folder.is_dir():
        return  # absent: made by the writer; a file in its place is refused where the folder is made
    for name in names:
        path = folder / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            what = "a symbolic link" if path.is_symlink() else "not a regular file"
            raise UserError(f"{flag} {str(folder)!r}: its {name} is {what}, which this run would replace; give "
                            f"another {flag} or move it")
        try:
            ours = not path.exists() or _looks_ours(path)
        except OSError as exc:
            raise UserError(f"{flag} {str(folder)!r}: its {name} cannot be read ({exc.strerror}); give another "
                            f"{flag}") from None
        if not ours:
            raise UserError(f"{flag} {str(folder)!r}: the {name} there was not written by zeronas (this run would "
                            f"replace it); give another {flag} or move it")
