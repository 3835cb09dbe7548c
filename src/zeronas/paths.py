"""Where zeronas looks for datasets and benchmark tables (and ``atomic_path``, how it writes a file whole).

Order: an explicit ``data_dir`` (CLI ``--data-dir``), then ``$ZERONAS_DATA``, then ``../shared/data``
next to the working directory or next to the project checkout when it exists, then the user cache dir.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    import hashlib

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


@contextlib.contextmanager
def user_code(folder):
    """Run a user's file as Python runs a script: its own folder first on ``sys.path`` (so it imports the
    modules beside it), no bytecode written next to it; both undone on leaving. A ``sys.exit()`` inside
    becomes ``errors.ExitCalled``, an ordinary exception."""
    import sys

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


def run_user_file(path, prefix: str):
    """Run the user's .py file at ``path`` as a module (``user_code``: its folder importable, a sys.exit() an
    ordinary exception) named ``prefix`` + a digest of its resolved path, and return the module."""
    import hashlib
    import importlib.util

    path = Path(path)
    name = f"{prefix}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    with user_code(path.resolve().parent):
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    return module

