"""Results store: every score keyed by (space, canonical arch, proxy, protocol hash), committed as produced.

SQLite by default (a file path or ``sqlite:///path``). The ``canonical`` column holds the sharing key: the
isomorphism class for proxies that depend only on the computed function (``ProxySpec.shares_isomorphs``),
the exact arch string for the others (dead branches change params, ReLU-code kernels, ...).
Each architecture's records are written in one
transaction, so a run killed at any point (SIGKILL, power loss) keeps every finished architecture and no
half-written one; rerunning skips what is stored.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import time
from pathlib import Path

from .errors import UserError

FORMAT = "zeronas-store"
VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS zeronas_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS protocols (protocol_hash TEXT PRIMARY KEY, protocol TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    space TEXT NOT NULL, canonical TEXT NOT NULL, proxy TEXT NOT NULL, protocol_hash TEXT NOT NULL,
    arch TEXT NOT NULL, value REAL, status TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL,
    error TEXT,
    PRIMARY KEY (space, canonical, proxy, protocol_hash)
);
"""


def _path_from_url(url: str | Path) -> Path:
    text = str(url)
    if "://" not in text:
        return Path(text)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):])
    raise UserError(f"store URL {text!r} is not supported yet; use a file path or sqlite:///path "
                    f"(server databases for several machines are planned)")


def _encode(value: float) -> tuple[float | None, str]:
    if math.isnan(value):
        return None, "nan"  # SQLite turns NaN into NULL: keep the fact in status
    if math.isinf(value):
        return None, "inf" if value > 0 else "-inf"
    return value, "ok"


def _decode(value, status) -> float:
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(status, value)


class Store:
    def __init__(self, url: str | Path):
        self.path = _path_from_url(url)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if not exists:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=60)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            raise UserError(f"{self.path} is not a zeronas store (not an SQLite database); "
                            f"pass a new path with --store") from None
        if exists:
            meta = dict(self.conn.execute("SELECT key, value FROM zeronas_meta")) if "zeronas_meta" in tables else {}
            if meta.get("format") != FORMAT:
                self.conn.close()
                raise UserError(f"{self.path} is an SQLite database but not a zeronas store; pass a new path "
                                f"with --store")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO zeronas_meta VALUES ('format', ?), ('version', ?)",
                              (FORMAT, VERSION))

    def close(self):
        self.conn.close()

    def put(self, records) -> int:
        """Write one architecture's records atomically; returns how many were new."""
        rows, protos = [], {}
        for r in records:
            value, status = _encode(r.value)
            if r.error:
                status = "error"
            rows.append((r.space, r.canonical, r.proxy, r.protocol_hash, r.arch, value, status, r.seconds,
                         time.time(), r.error))
            protos[r.protocol_hash] = json.dumps(r.protocol, sort_keys=True, default=str)
        with self.conn:
            self.conn.executemany("INSERT OR IGNORE INTO protocols VALUES (?, ?)", list(protos.items()))
            cur = self.conn.executemany("INSERT OR IGNORE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        return cur.rowcount

    def done(self, space: str, proxy: str, protocol_hash: str) -> set[str]:
        q = "SELECT canonical FROM scores WHERE space=? AND proxy=? AND protocol_hash=?"
        return {r[0] for r in self.conn.execute(q, (space, proxy, protocol_hash))}

    def values(self, space: str, proxy: str, protocol_hash: str) -> dict[str, float]:
        q = "SELECT canonical, value, status FROM scores WHERE space=? AND proxy=? AND protocol_hash=?"
        return {c: _decode(v, s) for c, v, s in self.conn.execute(q, (space, proxy, protocol_hash))}

    def seconds(self, space: str, proxy: str, protocol_hash: str) -> list[float]:
        q = "SELECT seconds FROM scores WHERE space=? AND proxy=? AND protocol_hash=?"
        return [r[0] for r in self.conn.execute(q, (space, proxy, protocol_hash))]

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def protocol(self, protocol_hash: str) -> dict:
        row = self.conn.execute("SELECT protocol FROM protocols WHERE protocol_hash=?", (protocol_hash,)).fetchone()
        return json.loads(row[0]) if row else {}

    def summary(self) -> list[dict]:
        """One row per (space, proxy, protocol): counts by status, mean seconds, time span, protocol."""
        q = ("SELECT space, proxy, protocol_hash, COUNT(*), SUM(status='ok'), SUM(status IN ('nan','inf','-inf')), "
             "SUM(status='error'), AVG(seconds), MIN(created), MAX(created) FROM scores "
             "GROUP BY space, proxy, protocol_hash ORDER BY space, proxy, protocol_hash")
        keys = ["space", "proxy", "protocol_hash", "rows", "ok", "non_finite", "errors", "mean_seconds", "first",
                "last"]
        return [{**dict(zip(keys, r)), "protocol": self.protocol(r[2])} for r in self.conn.execute(q)]

    def integrity(self) -> str:
        """SQLite's own consistency check of the file ('ok' when sound)."""
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def export(self, path: str | Path) -> Path:
        """All scores to CSV (``.csv``) or Parquet (``.parquet``, needs pandas and pyarrow)."""
        path = Path(path)
        cols = ["space", "canonical", "arch", "proxy", "protocol_hash", "value", "status", "seconds", "created",
                "error"]
        rows = [dict(zip(cols, r)) for r in self.conn.execute(f"SELECT {', '.join(cols)} FROM scores")]
        for r in rows:
            r["value"] = _decode(r["value"], r["status"])
        if path.suffix == ".parquet":
            try:
                import pandas as pd

                pd.DataFrame(rows, columns=cols).to_parquet(path)
            except ImportError as exc:
                raise UserError(f"Parquet export needs pandas and pyarrow ({exc}); pip install pandas pyarrow, "
                                f"or export to .csv") from None
            return path
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        return path
