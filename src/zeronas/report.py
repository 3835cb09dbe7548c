"""The ``zeronas report`` and ``zeronas merge`` verbs as calls: ``zeronas.report(...)``, ``zeronas.merge(...)``."""

from __future__ import annotations

from pathlib import Path

from .validation import api, callable_module


@api("report")
def report(store="runs/zeronas.db", export: str | Path | None = None) -> dict:
    """Summarise a results store (an SQLite path or a database URL): ``{"store", "scores" (rows in all),
    "integrity" (SQLite's check: 'ok' when sound), "row_problem" (None, or the first score row that a merge or
    an export would refuse, in one line), "rows"}``, one row per space x proxy x protocol with ``rows``,
    ``ok`` / ``non_finite`` / ``errors`` counts, ``mean_seconds`` per arch, ``last`` (Unix time of the newest),
    ``protocol_hash`` and ``protocol``; ``failures``: the scores that are no finite value, grouped by space,
    proxy, protocol, status and message, most archs first (``Store.failures``: ``status``, ``error``,
    ``archs``, ``example``). ``export``: also write every score with its protocol to this ``.csv``,
    ``.csv.gz`` or ``.parquet`` file (Parquet needs pandas and pyarrow; ``exported``: its path), which
    ``zeronas.merge`` loads into any store. Errors: UserError (one line) for a missing store, a file that is no
    store, an export that cannot be written, or an export of a store with a ``row_problem``."""
    from .store import Store
    from .validation import _store

    _store("store=", store)  # None too (the keyword checks skip None, which means 'not given' elsewhere)
    db = Store(store, create=False)
    try:
        out = {"store": str(store), "scores": db.count(), "integrity": db.integrity(), "rows": db.summary(),
               "failures": db.failures()}
        out["row_problem"] = db.row_problem() if out["integrity"] in ("ok", "not checked (server database)") \
            else None
        if export is not None:
            out["exported"] = str(db.export(export))
        return out
    finally:
        db.close()


@api("merge")
def merge(sources, store="runs/zeronas.db") -> list[dict]:
    """Merge scores from other stores (paths or database URLs) or exports (``.csv``, ``.csv.gz``,
    ``.parquet`` from ``report(export=...)``) into ``store`` (created if absent). Keys already in the store are
    kept (writers never overwrite), so a rerun adds nothing twice and a killed merge resumes. ``sources``: one
    path or a list. Every source is read and checked before the store is touched. Returns one
    ``{"source", "read", "new", "conflicts", "unchecked"}`` per source: ``conflicts``, rows whose key the store
    already held with another outcome (the store's kept); ``unchecked``, export rows without a ``row_sha256``
    digest (an export older than that column, or with it removed), merged without the edit check.
    Errors: UserError (one line) for a missing or malformed source."""
    from .errors import UserError
    from .store import Store, read_merge_source
    from .validation import _store

    _store("store=", store)
    if sources is None or (isinstance(sources, (list, tuple)) and not sources):
        raise UserError("merge needs one or more sources: a store (path or URL) or an export file (.csv, .csv.gz, "
                        ".parquet from report(export=...))")
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    checked = [(str(src), read_merge_source(str(src))) for src in sources]
    db = Store(store)
    try:
        out = []
        for src, (rows, protocols) in checked:
            conflicts = db.conflicts(rows)
            read, new = db.merge_rows(rows, protocols)
            unchecked = sum(1 for r in rows if "_row" in r and not r.get("_digest"))
            out.append({"source": src, "read": read, "new": new, "conflicts": conflicts, "unchecked": unchecked})
        return out
    finally:
        db.close()


callable_module(__name__, report)  # zeronas.report(...) reports; zeronas.report.merge stays reachable
