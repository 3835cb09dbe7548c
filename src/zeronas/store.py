"""Results store: every score keyed by (space, canonical arch, proxy, protocol hash), committed as produced.

A file path (SQLite, the default) or any SQLAlchemy database URL (``sqlite:///path``,
``postgresql+psycopg://user@host/db``, ``mysql+pymysql://...``) so that one server database can collect the
scores of several machines. The ``canonical`` column holds the sharing key: the isomorphism class for proxies
that depend only on the computed function (``ProxySpec.shares_isomorphs``), the exact arch string for the
others (dead branches change params, ReLU-code kernels, ...).
Each architecture's records are written in one transaction, so a run killed at any point (SIGKILL, power
loss) keeps every finished architecture and no half-written one; rerunning skips what is stored. Writers never
overwrite: a key already present (written by this run earlier, or by another machine meanwhile) is kept.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import gzip
import hashlib
import io
import json
import math
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .errors import UserError, shown
from .paths import atomic_path

FORMAT = "zeronas-store"
VERSION = "2"  # 2: data sources recorded from the data folder on (1 held absolute paths)

METADATA = sa.MetaData()
META = sa.Table("zeronas_meta", METADATA,
                sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
PROTOCOLS = sa.Table("protocols", METADATA,
                     sa.Column("protocol_hash", sa.String(64), primary_key=True),
                     sa.Column("protocol", sa.Text, nullable=False))
# String lengths matter only to servers that need them for keys (MySQL); SQLite ignores them.
SCORES = sa.Table(
    "scores", METADATA,
    sa.Column("space", sa.String(32), primary_key=True), sa.Column("canonical", sa.String(255), primary_key=True),
    sa.Column("proxy", sa.String(96), primary_key=True), sa.Column("protocol_hash", sa.String(64), primary_key=True),
    sa.Column("arch", sa.Text, nullable=False), sa.Column("value", sa.Float), sa.Column("status", sa.String(8),
                                                                                          nullable=False),
    sa.Column("seconds", sa.Float, nullable=False), sa.Column("created", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
)
KEY = ("space", "canonical", "proxy", "protocol_hash")
# the protocol's JSON travels with each row, so an export loads into any store losslessly (``Store.merge``)
EXPORT_COLUMNS = ["space", "canonical", "arch", "proxy", "protocol_hash", "value", "status", "seconds", "created",
                  "error", "protocol"]
# each exported row's digest of its contents: merge refuses a row edited after export (files written before
# the column existed carry none and are read as they are)
ROW_DIGEST = "row_sha256"
EXPORT_SUFFIXES = (".csv", ".csv.gz", ".parquet")
NON_FINITE = ("nan", "inf", "-inf")


def _protocol_json(protocol: dict) -> str:
    return json.dumps(protocol, sort_keys=True, default=str)


def protocol_hash(protocol: dict) -> str:
    """The store key of a scoring protocol: a digest of its canonical JSON."""
    return hashlib.sha256(_protocol_json(protocol).encode()).hexdigest()[:16]


def _portable(protocol):
    """The protocol with every data description's source path cut to its portable part (store version 2)."""
    from .data.datasets import portable_source

    if isinstance(protocol, list):
        return [_portable(v) for v in protocol]
    if not isinstance(protocol, dict):
        return protocol
    out = {k: _portable(v) for k, v in protocol.items()}
    if isinstance(out.get("source"), str) and "batch0_sha256" in out:
        out["source"] = portable_source(out["source"])
    return out


def _migrate_to_v2(conn) -> dict[str, str]:
    """Version 1 stores keyed data protocols by the absolute image path, so a store stopped resuming once the
    data folder moved (another machine, CI). Rekey them; where two old keys meet in one new key, the row
    rekeyed first is kept (writers never overwrite)."""
    moved = {}
    for old, text in conn.execute(sa.select(PROTOCOLS.c.protocol_hash, PROTOCOLS.c.protocol)).all():
        proto = json.loads(text)
        portable = _portable(proto)
        if portable == proto:
            continue
        new = moved[old] = protocol_hash(portable)
        _insert_missing(conn, PROTOCOLS, [{"protocol_hash": new, "protocol": _protocol_json(portable)}],
                        ("protocol_hash",))
        s_new = SCORES.alias("s_new")
        taken = sa.select(s_new.c.canonical).where(
            s_new.c.protocol_hash == new, s_new.c.space == SCORES.c.space,
            s_new.c.canonical == SCORES.c.canonical, s_new.c.proxy == SCORES.c.proxy)
        conn.execute(sa.delete(SCORES).where(SCORES.c.protocol_hash == old, sa.exists(taken)))
        conn.execute(sa.update(SCORES).where(SCORES.c.protocol_hash == old).values(protocol_hash=new))
        conn.execute(sa.delete(PROTOCOLS).where(PROTOCOLS.c.protocol_hash == old))
    conn.execute(sa.update(META).where(META.c.key == "version").values(value=VERSION))
    return moved


EMPTY_STORE = ("the store is empty: it names no file, and scores would be kept in memory only and lost; "
               "pass a file path such as runs/zeronas.db or a database URL")


def _url(url: str | Path) -> sa.URL:
    text = str(url)
    if not text.strip():
        raise UserError(EMPTY_STORE)
    if "://" not in text:
        return sa.URL.create("sqlite", database=text)
    try:
        parsed = sa.make_url(text)
    except (sa_exc.ArgumentError, ValueError):
        raise UserError(f"store URL {text!r} is not a database URL; pass a file path or e.g. "
                        f"sqlite:///runs/zeronas.db or postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite" and not (parsed.database or "").strip():
        raise UserError(f"store URL {text!r}: {EMPTY_STORE}")  # sqlite:// alone is an in-memory database
    return parsed


def check_location(url: str | Path) -> None:
    """Refuse an empty store or a malformed URL before any work is done (opening it comes later)."""
    _url(url)


SQLITE_HEADER = b"SQLite format 3\x00"


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return _one_line(lines[0]) if lines else type(orig).__name__


def _db_failure(where: str, exc: BaseException) -> UserError:
    """A database error as one line that names the store and the fix."""
    reason = _reason(exc)
    low = reason.lower()
    if any(w in low for w in ("malformed", "not a database", "corrupt", "disk i/o error")):
        return UserError(f"store {where} is damaged ({reason}): restore it from a copy or start a new --store")
    if any(w in low for w in ("readonly", "read-only", "unable to open", "permission denied")):
        return UserError(f"cannot write to store {where} ({reason}): make the file and its folder writable, "
                         f"or pass another --store")
    if any(w in low for w in ("disk is full", "disk full", "no space left", "quota")):
        return UserError(f"store {where} could not grow ({reason}): free space on its disk, then rerun (what "
                         "it holds is kept), or pass another --store")
    if "locked" in low or "busy" in low:
        return UserError(f"store {where} is locked by another program ({reason}); wait for it to finish or "
                         f"pass another --store")
    return UserError(f"store {where} failed ({reason}); check that the database is reachable and intact")


DB_ERRORS = (sa_exc.DBAPIError, sqlite3.Error)


@contextlib.contextmanager
def _guard(where: str):
    try:
        yield
    except DB_ERRORS as exc:
        raise _db_failure(where, exc) from None


def _contended(exc: BaseException, seconds: float) -> bool:
    """Another process's concurrent write, not a fault: SQLite answers a transaction that must upgrade its read
    lock while another connection writes with "database is locked" at once (its busy timeout does not apply,
    to avoid a deadlock); the work is rolled back and can simply run again. A lock that outlasted the busy
    timeout (``seconds`` this attempt took) is another program's: said, not retried."""
    return "database is locked" in str(exc).lower() and seconds < 1.0


def _retry(work, again, attempts: int = 20):
    """``work()``, run again after a short, growing pause while ``again(exc, seconds the attempt took)`` says
    its failure was another process's concurrent write (the work was rolled back); else, or at the last
    attempt, the failure is raised."""
    for attempt in range(attempts):
        t0 = time.monotonic()
        try:
            return work()
        except DB_ERRORS as exc:
            if attempt == attempts - 1 or not again(exc, time.monotonic() - t0):
                raise
            time.sleep(0.05 * (attempt + 1))


def _create_tables(engine) -> None:
    """Create the missing tables and indexes. create_all checks, then creates: two processes opening the same
    new store at once (two searches or correlate runs started together) both see no table, and the second
    CREATE fails with "already exists" (then the other one made it: check again), or finds the file locked."""
    _retry(lambda: METADATA.create_all(engine),
           lambda exc, seconds: "already exists" in str(exc).lower() or _contended(exc, seconds))


WROTE = "pass --store the path of a store that a correlate, search or bench run wrote"  # where one is read


def _other_path(create: bool) -> str:
    """The fix for a file that is not a zeronas store: a new path where the command makes one, else a store."""
    return "pass a new path with --store" if create else WROTE


def _store_version(meta: dict, where: str, create: bool = True) -> str:
    """The store format version from its metadata, or a one-line error for a foreign or newer database."""
    if meta.get("format") != FORMAT:
        raise UserError(f"{where} is a database but not a zeronas store; {_other_path(create)}")
    version = meta.get("version", VERSION)
    if version not in ("1", VERSION):
        raise UserError(f"{where} is a zeronas store of version {version}, newer than this zeronas reads "
                        f"({VERSION}); upgrade zeronas")
    return version


def _inspect_sqlite(path: Path, where: str, create: bool, url_text: str = "") -> str | None:
    """Look at an SQLite store file read-only, so that a file that is not a zeronas store is never changed.
    Returns None for a file to create (absent, empty), else the store's version; raises UserError otherwise.
    ``url_text``: the store as the user wrote it (a three-slash URL to a missing relative path gets a hint)."""
    if not path.exists():
        if not create:
            # sqlite:///tmp/s.db is the relative tmp/s.db: say so where /tmp/s.db exists
            hint = (f" (a URL sqlite:///PATH is relative to this folder; the absolute /{path} is sqlite:////{path}, "
                    "with four slashes)" if url_text.startswith("sqlite:///") and not path.is_absolute()
                    and Path("/", path).exists() else "")
            raise UserError(f"store {where} does not exist; {WROTE}{hint}")
        above = path.parent
        while not above.exists() and above != above.parent:
            above = above.parent
        if not above.is_dir():
            raise UserError(f"cannot create store {where}: {above} is a file, not a folder; pass another --store")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create store {where} ({exc.strerror or exc}): pass a --store in a writable "
                            f"folder") from None
        return None
    if path.is_dir():
        raise UserError(f"store {where} is a folder, not a store file; pass a file path such as "
                        f"{path / 'zeronas.db'}")
    if not path.is_file():
        raise UserError(f"store {where} is not a regular file; pass a file path with --store")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UserError(f"cannot read store {where} ({exc.strerror or exc}): make it readable or pass another "
                        f"--store") from None
    if not head:
        if create:
            return None  # SQLite takes an empty file as an empty database
        raise UserError(f"store {where} is an empty file, not a zeronas store; {WROTE}")
    if head != SQLITE_HEADER:
        raise UserError(f"{where} is not a zeronas store (not an SQLite database, or its first page is damaged); "
                        f"{_other_path(create)}")
    damaged = f"store {where} is damaged ({{}}): restore it from a copy or start a new --store"
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
    except sqlite3.Error as exc:
        raise _db_failure(where, exc) from None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if create:
                return None
            raise UserError(f"store {where} is an empty SQLite database, not a zeronas store; {WROTE}")
        meta = dict(con.execute("SELECT key, value FROM zeronas_meta").fetchall()) if "zeronas_meta" in tables \
            else {}
        if create and "format" not in meta and tables <= set(METADATA.tables) and all(
                {r[1] for r in con.execute(f"PRAGMA table_info('{t}')")} == set(METADATA.tables[t].columns.keys())
                for t in tables):
            return None  # only zeronas's tables, its metadata not yet written: another process is creating it
        version = _store_version(meta, where, create)
        # the b-tree check reads every page once (~0.2 s per 100 MB): a damaged store is refused before any work
        check = [r[0] for r in con.execute("PRAGMA quick_check(1)")]
        if check != ["ok"]:
            raise UserError(damaged.format(_one_line("; ".join(check))))
        return version
    except sqlite3.Error as exc:
        raise _db_failure(where, exc) from None
    finally:
        con.close()


def _encode(value: float) -> tuple[float | None, str]:
    if math.isnan(value):
        return None, "nan"  # SQL has no NaN/inf: keep the fact in status
    if math.isinf(value):
        return None, "inf" if value > 0 else "-inf"
    return value, "ok"


def _decode(value, status) -> float:
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(status, value)


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=60000")  # first: switching to WAL waits on another opener too
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; survives SIGKILL
    cur.close()


def _insert_missing(conn, table, rows: list[dict], key: tuple[str, ...]) -> int:
    """Insert the rows whose key is absent (portable insert-or-ignore); returns how many were new."""
    cols = [table.c[k] for k in key]
    wanted = [tuple(r[k] for k in key) for r in rows]
    seen: set[tuple] = set()
    for start in range(0, len(wanted), 200):  # bounded IN lists
        chunk = wanted[start:start + 200]
        match = sa.tuple_(*cols).in_(chunk) if len(key) > 1 else cols[0].in_([k[0] for k in chunk])
        seen.update(tuple(r) for r in conn.execute(sa.select(*cols).where(match)))
    new = []
    for r, k in zip(rows, wanted):
        if k not in seen:
            seen.add(k)
            new.append(r)
    if new:
        conn.execute(table.insert(), new)
    return len(new)


class Store:
    """Open a zeronas results store at a path or SQLAlchemy URL, creating it unless ``create`` is False
    (readers: a missing store is then an error, not a new empty one)."""

    def __init__(self, url: str | Path, create: bool = True):
        self.url = _url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.path = Path(self.url.database) if self.is_sqlite and self.url.database else None
        self.where = where = str(self)
        file = self.path is not None and str(self.path) != ":memory:"
        version = _inspect_sqlite(self.path, where, create, str(url)) if file else None
        try:
            self.engine = sa.create_engine(self.url)
        except sa_exc.NoSuchModuleError:  # no such dialect at all: most often a misspelt scheme
            scheme = str(self.url).split("://", 1)[0]
            raise UserError(f"store {where}: {scheme!r} is not a database SQLAlchemy knows (a misspelt scheme, or "
                            f"a dialect whose package is not installed); a store URL starts with sqlite:///, "
                            f"postgresql+psycopg://, mysql+pymysql:// (or another installed dialect), or give a "
                            f"file path") from None
        except ImportError as e:
            raise UserError(f"store {where}: the database driver is not installed ({e}); pip install it "
                            f"(e.g. psycopg for postgresql+psycopg://) or use a file path") from None
        try:
            if not file:
                version = self._inspect_server(create)
            if self.is_sqlite:  # only now: a file that is not a zeronas store was never switched to WAL
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            with _guard(where):
                _create_tables(self.engine)
            meta_rows = [{"key": "format", "value": FORMAT}, {"key": "version", "value": VERSION}]
            self._transaction(lambda conn: _insert_missing(conn, META, meta_rows, ("key",)))
            if create:
                # a write that changes nothing: a read-only file, folder or login fails here, before any work
                self._transaction(lambda conn: conn.execute(sa.delete(META).where(META.c.key == "")))
            self.migrated: dict[str, str] = {}  # old protocol hash -> new, when this open upgraded the store
            if version == "1":
                self.migrated = self._transaction(_migrate_to_v2)
        except BaseException:
            self.engine.dispose()
            raise

    def _inspect_server(self, create: bool) -> str | None:
        """A server database (or an in-memory one): its zeronas version, None when it has no tables yet."""
        where = self.where
        try:
            tables = set(sa.inspect(self.engine).get_table_names())
        except sa_exc.DatabaseError as e:
            reason = _reason(e)
            hint = ("; create the database on the server first (e.g. createdb), zeronas creates only its tables"
                    if "does not exist" in reason else "; check the host, port, user and that the server runs")
            raise UserError(f"cannot open store {where}: {reason}{hint}") from None
        if not tables:
            if not create:
                raise UserError(f"store {where} holds no zeronas store; {WROTE}")
            return None
        meta = {}
        if "zeronas_meta" in tables:
            with _guard(where), self.engine.connect() as c:
                meta = dict(c.execute(sa.select(META.c.key, META.c.value)).all())
        version = _store_version(meta, where, create)
        return version

    def __str__(self) -> str:
        return str(self.path) if self.path else self.url.render_as_string(hide_password=True)

    def close(self):
        self.engine.dispose()

    def _transaction(self, work):
        """Run ``work(conn)`` in one transaction. If another writer inserts one of our keys between our read
        and our write, the unique key rejects the transaction and we retry: the second read sees its rows."""
        def once():
            with self.engine.begin() as conn:
                return work(conn)

        try:  # a key inserted by another writer, or a lock upgrade SQLite refused at once: rolled back, again
            return _retry(once, lambda exc, seconds: isinstance(exc, sa_exc.IntegrityError) or _contended(exc, seconds))
        except DB_ERRORS as exc:
            raise _db_failure(self.where, exc) from None

    def put(self, records) -> int:
        """Write one architecture's records atomically; returns how many were new."""
        rows, protos, now = [], {}, time.time()
        for r in records:
            value, status = _encode(r.value)
            if r.error:
                value, status = None, "error"  # a failure has no value (exports and merges rely on it)
            rows.append({"space": r.space, "canonical": r.canonical, "proxy": r.proxy,
                         "protocol_hash": r.protocol_hash, "arch": r.arch, "value": value, "status": status,
                         "seconds": r.seconds, "created": now,
                         # a failure's message, or why a NaN/inf value is undefined (status says which)
                         "error": r.error or getattr(r, "reason", None)})
            protos[r.protocol_hash] = _protocol_json(r.protocol)
        protocol_rows = [{"protocol_hash": h, "protocol": p} for h, p in protos.items()]

        def write(conn):  # protocols and scores together: a score row never points at a missing protocol
            _insert_missing(conn, PROTOCOLS, protocol_rows, ("protocol_hash",))
            return _insert_missing(conn, SCORES, rows, KEY)

        return self._transaction(write)

    def _rows(self, query) -> list:
        with _guard(self.where), self.engine.connect() as c:
            return c.execute(query).all()

    def _where(self, space: str, proxy: str, protocol_hash: str):
        return (SCORES.c.space == space, SCORES.c.proxy == proxy, SCORES.c.protocol_hash == protocol_hash)

    def done(self, space: str, proxy: str, protocol_hash: str) -> set[str]:
        return {r[0] for r in self._rows(sa.select(SCORES.c.canonical).where(*self._where(space, proxy,
                                                                                           protocol_hash)))}

    def retry_failures(self, space: str, proxy: str, protocol_hash: str, keys=None, keep=None) -> set[str]:
        """Delete the failed rows (an exception while scoring: out of memory, a missing package, a fixed bug) of
        one proxy and protocol, of ``keys`` or all, so that a rerun scores them again; a row whose error
        ``keep(error)`` holds (a verdict that the proxy does not apply) and an undefined value (NaN/inf status)
        are kept. Returns the keys deleted."""
        s = SCORES.c
        q = sa.select(s.canonical, s.error).where(*self._where(space, proxy, protocol_hash), s.status == "error")
        gone = {c for c, e in self._rows(q) if keep is None or not keep(e)}
        if keys is not None:
            gone &= set(keys)
        if gone:
            chunks = [sorted(gone)[i:i + 200] for i in range(0, len(gone), 200)]  # bounded IN lists
            self._transaction(lambda conn: [conn.execute(sa.delete(SCORES).where(
                *self._where(space, proxy, protocol_hash), s.status == "error", s.canonical.in_(c))) for c in chunks])
        return gone

    def values(self, space: str, proxy: str, protocol_hash: str) -> dict[str, float]:
        q = sa.select(SCORES.c.canonical, SCORES.c.value, SCORES.c.status).where(
            *self._where(space, proxy, protocol_hash))
        return {c: _decode(v, s) for c, v, s in self._rows(q)}

    def outcomes(self, space: str, proxy: str, protocol_hash: str) -> dict[str, tuple[str, str | None]]:
        """Store key -> (status, error message): why a value is NaN (a failure, or undefined there)."""
        q = sa.select(SCORES.c.canonical, SCORES.c.status, SCORES.c.error).where(
            *self._where(space, proxy, protocol_hash))
        return {c: (s, e) for c, s, e in self._rows(q)}

    def seconds(self, space: str, proxy: str, protocol_hash: str) -> dict[str, float]:
        """{canonical: scoring seconds} of one proxy's stored scores under one protocol."""
        q = sa.select(SCORES.c.canonical, SCORES.c.seconds).where(*self._where(space, proxy, protocol_hash))
        return {c: sec for c, sec in self._rows(q)}

    def count(self) -> int:
        return self._rows(sa.select(sa.func.count()).select_from(SCORES))[0][0]

    def protocol(self, protocol_hash: str) -> dict:
        rows = self._rows(sa.select(PROTOCOLS.c.protocol).where(PROTOCOLS.c.protocol_hash == protocol_hash))
        return json.loads(rows[0][0]) if rows else {}

    def protocol_hashes(self, proxy_prefix: str = "") -> list[str]:
        """Protocols with scores for proxies named ``proxy_prefix...``, newest first."""
        q = (sa.select(SCORES.c.protocol_hash, sa.func.max(SCORES.c.created).label("last"))
             .where(SCORES.c.proxy.startswith(proxy_prefix, autoescape=True))
             .group_by(SCORES.c.protocol_hash).order_by(sa.desc("last")))
        return [r[0] for r in self._rows(q)]

    def records(self, protocol_hash: str, proxy_prefix: str = "") -> list[tuple[str, str, float]]:
        """(arch, proxy, value) for every score of one protocol whose proxy starts with ``proxy_prefix``."""
        q = sa.select(SCORES.c.arch, SCORES.c.proxy, SCORES.c.value, SCORES.c.status).where(
            SCORES.c.protocol_hash == protocol_hash, SCORES.c.proxy.startswith(proxy_prefix, autoescape=True))
        return [(a, p, _decode(v, s)) for a, p, v, s in self._rows(q)]

    def scored(self, space: str, proxy: str, protocol_hash: str) -> dict[str, tuple[str, float, float]]:
        """Store key -> (the arch string that was scored, value, seconds): for a key shared by isomorphs, the
        member scored first."""
        q = sa.select(SCORES.c.canonical, SCORES.c.arch, SCORES.c.value, SCORES.c.status, SCORES.c.seconds).where(
            *self._where(space, proxy, protocol_hash))
        return {c: (a, _decode(v, s), secs) for c, a, v, s, secs in self._rows(q)}

    def summary(self) -> list[dict]:
        """One row per (space, proxy, protocol): counts by status, mean seconds, time span, protocol."""
        s = SCORES.c

        def n(cond):
            return sa.func.sum(sa.case((cond, 1), else_=0))

        q = (sa.select(s.space, s.proxy, s.protocol_hash, sa.func.count(), n(s.status == "ok"),
                       n(s.status.in_(("nan", "inf", "-inf"))), n(s.status == "error"), sa.func.avg(s.seconds),
                       sa.func.min(s.created), sa.func.max(s.created))
             .group_by(s.space, s.proxy, s.protocol_hash).order_by(s.space, s.proxy, s.protocol_hash))
        keys = ["space", "proxy", "protocol_hash", "rows", "ok", "non_finite", "errors", "mean_seconds", "first",
                "last"]
        return [{**dict(zip(keys, r)), "protocol": self.protocol(r[2])} for r in self._rows(q)]

    def failures(self) -> list[dict]:
        """The scores that are not a finite value, grouped by (space, proxy, protocol, status, message), most
        archs first: ``status`` (error, nan, inf, -inf), ``error`` (the stored message; None when the proxy gave
        a non-finite value without one), ``archs`` (how many), ``example`` (one arch string, the smallest)."""
        s = SCORES.c
        q = (sa.select(s.space, s.proxy, s.protocol_hash, s.status, s.error, sa.func.count(), sa.func.min(s.arch))
             .where(s.status != "ok")
             .group_by(s.space, s.proxy, s.protocol_hash, s.status, s.error))
        keys = ["space", "proxy", "protocol_hash", "status", "error", "archs", "example"]
        rows = [dict(zip(keys, r)) for r in self._rows(q)]
        return sorted(rows, key=lambda r: (-r["archs"], r["space"], r["proxy"], r["protocol_hash"], r["status"],
                                           r["error"] or ""))

    def integrity(self) -> str:
        """SQLite's own consistency check of the file ('ok' when sound); servers check themselves."""
        if not self.is_sqlite:
            return "not checked (server database)"
        return self._rows(sa.text("PRAGMA integrity_check"))[0][0]

    def row_problem(self) -> str | None:
        """The first score row that a merge or an export would refuse (a value that is no number or is blank
        under status 'ok', a protocol edited away from its hash, ...), said in one line; None when every row
        is sound. SQLite's ``integrity`` cannot see these: the file is sound, a row's contents are not."""
        try:
            _check_rows(self.where, self.export_rows(), STORE_ROW_FIX)
        except UserError as exc:
            return str(exc)
        return None

    def export_rows(self, protocol_hashes=None) -> list[dict]:
        """Every score (or those of ``protocol_hashes``) as export rows, sorted by key: values decoded (NaN,
        inf), the protocol's JSON included."""
        q = sa.select(*[SCORES.c[c] for c in EXPORT_COLUMNS[:-1]], PROTOCOLS.c.protocol).join(
            PROTOCOLS, PROTOCOLS.c.protocol_hash == SCORES.c.protocol_hash)
        if protocol_hashes is not None:
            q = q.where(SCORES.c.protocol_hash.in_(list(protocol_hashes)))
        rows = [dict(zip(EXPORT_COLUMNS, r)) for r in self._rows(q.order_by(*[SCORES.c[k] for k in KEY]))]
        for r in rows:
            r["value"] = _decode(r["value"], r["status"])
        return rows

    def export(self, path: str | Path, protocol_hashes=None) -> Path:
        """Scores to CSV (``.csv``; ``.csv.gz`` compressed, byte-identical for identical scores) or Parquet
        (``.parquet``, needs pandas and pyarrow). ``Store.merge`` reads any of them back."""
        path = Path(path)
        suffix = _export_suffix(path)
        _check_replaceable(path, suffix)
        rows = self.export_rows(protocol_hashes)
        _check_rows(self.where, rows, f"{STORE_ROW_FIX}; nothing was exported")  # never an export merge refuses
        # created_utc: 'created' (epoch seconds, what the digest and a merge read) as a person reads a date
        rows = [{**r, ROW_DIGEST: row_digest(r), "created_utc": _utc(r["created"])} for r in rows]
        columns = [*EXPORT_COLUMNS, ROW_DIGEST, "created_utc"]
        if suffix == ".parquet":
            _parquet_module("pyarrow", "Parquet export")  # (pandas writes through it)
            frame = _parquet_module("pandas", "Parquet export").DataFrame(rows, columns=columns)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:  # a crash mid-write never leaves a truncated export
                frame.to_parquet(tmp)
            return path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # a unique temporary file, removed on any error or Ctrl-C: never a truncated or stray export
            with atomic_path(path) as tmp, open(tmp, "wb") as raw:
                binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if suffix == ".csv.gz" else raw
                with io.TextIOWrapper(binary, encoding="utf-8", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=columns)
                    w.writeheader()
                    w.writerows(rows)
        except OSError as exc:
            raise UserError(f"cannot write the export {path} ({exc.strerror or exc}): pass a path in a writable "
                            f"folder") from None
        return path

    def merge(self, source: str | Path) -> tuple[int, int]:
        """Add the scores of an export file (.csv, .csv.gz, .parquet) or of another store (path or URL); keys
        already here are kept, as for any writer. Idempotent; a merge that is killed keeps whole chunks and
        a rerun adds the rest. A source is checked whole before anything is written: a refused source adds
        nothing. Returns (rows read, rows new)."""
        return self.merge_rows(*read_merge_source(source))

    def conflicts(self, rows: list[dict]) -> int:
        """How many of ``rows`` (export rows) have a key this store holds with another outcome (status, value or
        error): a merge keeps the store's, so these are said, not dropped silently."""
        mine = {tuple(r[k] for k in KEY): r for r in self.export_rows({r["protocol_hash"] for r in rows})}

        def same(a, b):
            if a["status"] != b["status"] or (a["error"] or None) != (b["error"] or None):
                return False
            return a["status"] != "ok" or a["value"] == b["value"]

        return sum(1 for r in rows if (m := mine.get(tuple(r[k] for k in KEY))) is not None and not same(m, r))

    def merge_rows(self, rows: list[dict], protocols: dict) -> tuple[int, int]:
        """Write rows checked by ``read_merge_source`` (in chunks, keys already here kept)."""
        chunk = 2000
        new = 0
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            # status carries NaN/inf (SQL has neither); ok and error rows keep their value as stored
            score_rows = [{**{k: r[k] for k in EXPORT_COLUMNS[:-1]},
                           "value": None if r["status"] in NON_FINITE else r["value"]} for r in part]
            proto_rows = [{"protocol_hash": h, "protocol": protocols[h]} for h in {r["protocol_hash"] for r in part}]

            def write(conn, proto_rows=proto_rows, score_rows=score_rows):
                _insert_missing(conn, PROTOCOLS, proto_rows, ("protocol_hash",))
                return _insert_missing(conn, SCORES, score_rows, KEY)

            new += self._transaction(write)
        return len(rows), new


def read_merge_source(source: str | Path) -> tuple[list[dict], dict]:
    """The rows of a merge source (an export file, or a store: path or URL) and their protocols, checked
    whole; nothing is written anywhere. A source that is neither is a one-line UserError naming it."""
    if _export_suffix(Path(source), strict=False):
        rows = _read_export(Path(source))
        fix = "the file is damaged or edited: export it again with 'zeronas report --export'"
    else:
        try:
            other = Store(source, create=False)
        except UserError as exc:
            msg = str(exc)
            if not any(w in msg for w in ("not a zeronas store", "does not exist", "empty file")):
                raise UserError(f"merge source {source}: {msg}") from None  # its own fix (upgrade, wait, ...)
            # these name --store, the target, as the fix: say what a source must be instead
            raise UserError(f"merge source {source}: {msg.split('; ')[0]}; pass a zeronas store or an export "
                            f"file (.csv, .csv.gz, .parquet from 'zeronas report --export')") from None
        try:
            rows = other.export_rows()
        finally:
            other.close()
        fix = f"{STORE_ROW_FIX} (an export of it is refused too)"
    return rows, _check_rows(source, rows, fix)


STORE_ROW_FIX = "repair or delete that row in the store (sqlite3: UPDATE or DELETE FROM scores WHERE ...)"


def _utc(epoch: float) -> str:
    """ISO 8601 UTC to the second, e.g. '2026-12-05T18:40:12Z'."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_digest(r: dict) -> str:
    """16 hex digits of sha256 over a score row's contents (key, arch, value, status, seconds, created, error):
    what an export writes per row and a merge checks. A value that is not 'ok' is implied by its status."""
    value = repr(float(r["value"])) if r["status"] == "ok" and r["value"] is not None else None
    parts = [r["space"], r["canonical"], r["arch"], r["proxy"], r["protocol_hash"], value, r["status"],
             repr(float(r["seconds"])), repr(float(r["created"])), r["error"] or None]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _label(r: dict) -> str:
    if "_row" in r:
        return f"row {r['_row']}"
    return f"the score of {r.get('arch')!r} for {r.get('proxy')} (protocol {r.get('protocol_hash')})"


def _value_problem(status: str, value) -> str | None:
    """Why a (status, value) pair cannot be stored as it is, or None."""
    if status in NON_FINITE:  # the value, if given, must be the one the status names
        if value is None or (math.isnan(value) if status == "nan" else value == _decode(None, status)):
            return None
        return f"{value!r} with status {status!r}"
    if status == "error":  # a failure has no value: one here was added by hand (the row digest leaves it out)
        return None if value is None else f"{value!r} with status 'error', which carries no value"
    if value is None:
        return "blank, but status 'ok' needs a finite number"
    if not math.isfinite(value):
        return (f"{value!r} is marked {status!r}; a non-finite score carries status nan, inf or -inf "
                f"(an ok value is finite)")
    return None


def _check_rows(source, rows: list[dict], fix: str) -> dict[str, str]:
    """Check every row before anything is written; returns {protocol hash: canonical protocol JSON}."""
    protocols: dict[str, str] = {}
    parsed: dict[str, dict | None] = {}
    checked: dict[str, str] = {}  # protocol hash -> the JSON text found sound for it
    first: dict[tuple, dict] = {}

    def refuse(r, column, problem):
        raise UserError(f"{source}: {_label(r)} is malformed (column {column!r}: {problem}); {fix}")

    for r in rows:
        for column in ("space", "canonical", "arch", "proxy", "protocol_hash"):
            if not isinstance(r[column], str) or not r[column].strip():
                refuse(r, column, f"{r[column]!r}, not a name")
        if r["status"] not in ("ok", "error", *NON_FINITE):
            refuse(r, "status", f"{r['status']!r} is none of ok, error, nan, inf, -inf")
        if r["value"] is not None and (isinstance(r["value"], bool) or not isinstance(r["value"], (int, float))):
            refuse(r, "value", f"{r['value']!r}, not a number")
        problem = _value_problem(r["status"], r["value"])
        if problem:
            refuse(r, "value", problem)
        for column in ("seconds", "created"):
            if not isinstance(r[column], (int, float)) or not math.isfinite(r[column]) or r[column] < 0:
                refuse(r, column, f"{r[column]!r}, not a finite number of seconds")
        if r["error"] is not None and not isinstance(r["error"], str):
            refuse(r, "error", f"{r['error']!r}, not a message")
        text = r["protocol"] if isinstance(r["protocol"], str) else ""
        h = r["protocol_hash"]
        if checked.get(h) != text:  # each (hash, JSON text) pair is checked once, not on every row
            if text not in parsed:
                try:
                    proto = json.loads(text)
                except ValueError:
                    proto = None
                parsed[text] = proto if isinstance(proto, dict) else None
            proto = parsed[text]
            if proto is None:
                refuse(r, "protocol", f"{shown(str(r['protocol']), 60)} is not a JSON object")
            if h not in protocols:
                if protocol_hash(proto) != h:
                    raise UserError(f"{source}: {_label(r)}: protocol {h} does not match its JSON (edited or "
                                    f"corrupt); {fix}")
                protocols[h] = _protocol_json(proto)
            elif _protocol_json(proto) != protocols[h]:
                raise UserError(f"{source}: {_label(r)}: protocol {h} does not match its JSON (edited or "
                                f"corrupt); {fix}")
            checked[h] = text
        key = tuple(r[k] for k in KEY)
        if key in first:
            raise UserError(f"{source}: {_label(r)} repeats the key (space, canonical, proxy, protocol_hash) of "
                            f"{_label(first[key])}; a store holds one score per key: {fix}")
        first[key] = r
        if r.get("_digest") and r["_digest"] != row_digest(r):
            raise UserError(f"{source}: {_label(r)}: its contents do not match its {ROW_DIGEST} (edited or "
                            f"corrupt); export the scores again")
    return protocols


def _export_suffix(path: Path, strict: bool = True) -> str | None:
    name = path.name.lower()
    for suffix in EXPORT_SUFFIXES:
        if name.endswith(suffix):
            if strict and name == suffix:  # '.csv' alone is a hidden file named by its suffix, not a table
                raise UserError(f"{path}: give the export file a name before its suffix, e.g. "
                                f"{path.with_name('scores' + suffix)}")
            return suffix
    if strict:
        raise UserError(f"{path}: name an export file .csv, .csv.gz or .parquet")
    return None


def _parquet_module(name: str, doing: str):
    """``import name`` (pandas, pyarrow.parquet), or a one-line UserError saying what ``doing`` needs."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UserError(f"{doing} needs pandas and pyarrow ({exc}); pip install pandas pyarrow, or use .csv") from None


def check_export_target(path) -> None:
    """Before any work: the one-line UserError ``Store.export(path)`` would raise for a target it may not
    replace (a user's own table, a link, a folder)."""
    path = Path(path)
    _check_replaceable(path, _export_suffix(path))


def _check_replaceable(path: Path, suffix: str) -> None:
    """A one-line UserError unless ``path`` is absent or a regular file holding a zeronas score export (a new
    export replaces it): a link, a folder, a device or any other file (a user's own table) is never replaced."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        what = "a symbolic link" if path.is_symlink() else "not a regular file"
        raise UserError(f"--export {str(path)!r} is {what}; the export is a new regular file: give another path")
    if not path.exists() or path.stat().st_size == 0:  # (an empty file loses nothing)
        return
    pq = _parquet_module("pyarrow.parquet", "Parquet export") if suffix == ".parquet" else None
    try:
        if pq is not None:
            columns = pq.read_schema(path).names
        else:
            with (gzip.open if suffix == ".csv.gz" else open)(path, "rt", encoding="utf-8", newline="") as f:
                columns = next(csv.reader([f.readline(1 << 16)]), [])
    except Exception:  # unreadable, foreign or damaged: not ours either way
        columns = []
    if any(c not in columns for c in EXPORT_COLUMNS):
        raise UserError(f"--export {str(path)!r} exists and is not a zeronas score export (it would be lost); give "
                        f"another path or remove it")


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in EXPORT_COLUMNS if c not in columns]
    if missing:
        hint = ("exports written before zeronas carried protocols lack it; export the store again"
                if missing == ["protocol"] else "pass a file written by 'zeronas report --export'")
        raise UserError(f"{path} is not a zeronas score export (missing columns: {', '.join(missing)}); {hint}")


def _read_export(path: Path) -> list[dict]:
    """The rows of an export file, typed; a clear error for a missing, foreign or truncated file."""
    if not path.exists():
        raise UserError(f"{path} does not exist; pass a file written by 'zeronas report --export'")
    suffix = _export_suffix(path)
    line = 1  # the last row read whole, for a file cut short
    try:
        if suffix == ".parquet":
            frame = _parquet_module("pandas", "reading Parquet").read_parquet(path)
            columns, raw = list(frame.columns), frame.astype(object).where(frame.notna(), None).to_dict("records")
        else:
            opener = gzip.open if suffix == ".csv.gz" else open
            with opener(path, "rt", encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                columns, raw = list(reader.fieldnames or []), []
                _check_columns(path, columns)
                for r in reader:
                    if None in r or None in r.values():  # DictReader's marks of extra and missing cells
                        cells = len(columns) + len(r.get(None, [])) - sum(v is None for v in r.values())
                        raise UserError(f"{path}: row {line + 1} has {cells} cells, the header has {len(columns)}; "
                                        f"the file is truncated or damaged, export it again")
                    raw.append(r)
                    line += 1
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        where = f" after row {line}" if line > 1 else ""
        raise UserError(f"{path} cannot be read{where} ({type(exc).__name__}: {exc}); it is truncated or not an "
                        f"export, write it again with 'zeronas report --export'") from None
    _check_columns(path, columns)
    rows = []
    for line, r in enumerate(raw, start=2):
        column = "status"
        try:
            status = r["status"]
            values = {}
            for column in ("value", "seconds", "created"):
                cell = r[column]
                values[column] = None if cell is None or (isinstance(cell, str) and not cell.strip()) \
                    else float(cell)
            column = "error"
            error = r["error"]
            rows.append({**{k: r[k] for k in ("space", "canonical", "arch", "proxy", "protocol_hash", "protocol")},
                         **values, "status": status, "error": None if error in (None, "") else str(error),
                         "_row": line, "_digest": r.get(ROW_DIGEST) or None})
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}: row {line} is malformed (column {column!r}: {exc}); the file is damaged, "
                            f"export it again") from None
    return rows
