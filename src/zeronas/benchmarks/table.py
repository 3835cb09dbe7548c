"""What every ground-truth table shares: arch strings in file order, named numeric columns, the file hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass
class ArchTable:
    path: Path
    sha256: str
    arch_str: list[str]
    columns: dict[str, np.ndarray]
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _by_class: dict[str, int] | None = field(default=None, repr=False)

    # completes "arch 'x' is not in ..." for the subclass's benchmark
    missing_arch = "this table"
    # the benchmark's name in the one-line errors of CIFAR-10-only tables (see cifar10_only)
    benchmark = "this benchmark"

    def __post_init__(self):
        self._index = {s: i for i, s in enumerate(self.arch_str)}

    def __len__(self) -> int:
        return len(self.arch_str)

    def target_note(self, metric: str | None, column: str) -> str | None:
        """What a correlation's reader should know about ``column``, the target ``target_column(dataset,
        metric)`` chose (``metric`` None: the table's own accuracy), e.g. that it is a surrogate's prediction
        or the only accuracy the table has; None when there is nothing to add. A table never answers an
        explicit ``--metric`` with another metric's accuracy: ``target_column`` refuses it in one line."""
        return None

    def index_of(self, arch: str) -> int:
        try:
            return self._index[arch]
        except KeyError:
            raise UserError(f"arch {arch!r} is not in {self.missing_arch.format(path=self.path)}") from None

    def find(self, arch: str, canonical=None) -> int | None:
        """The row of arch string ``arch``, else (given ``canonical``, the space's isomorphism key) the first
        row of its class, else None. The class index is built on first use and kept."""
        i = self._index.get(arch)
        if i is None and canonical is not None:
            if self._by_class is None:
                self._by_class = {}
                for j, s in enumerate(self.arch_str):
                    self._by_class.setdefault(canonical(s), j)
            i = self._by_class.get(canonical(arch))
        return i

    def cifar10_only(self, dataset: str) -> None:
        """The one-line error for a dataset other than CIFAR-10 on a CIFAR-10-only benchmark."""
        if dataset.lower().replace("_", "-") not in ("cifar10", "c10"):
            raise UserError(f"{self.benchmark} has CIFAR-10 accuracy only, not {dataset!r}; use --dataset cifar10")

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise UserError(f"column {name!r} is not in {self.path}; columns: {', '.join(self.columns)}")
        return self.columns[name]



def sha256(path: Path) -> str:
    """The file's digest, read now: a table rewritten within one clock tick keeps its size and mtime."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class CsvRows:
    """A benchmark CSV read whole: header, rows, and each row's number in the file (the header is row 1)."""
    path: Path
    what: str
    header: list[str]
    rows: list[list[str]]
    numbers: list[int]

    def refuse(self, i: int, name: str, problem: str) -> UserError:
        return UserError(f"{self.what} {self.path}: row {self.numbers[i]}, column {name!r} {problem}; replace it "
                         f"with an intact copy")

    def text(self, name: str) -> list[str]:
        j = self.header.index(name)
        return [cells[j] for cells in self.rows]

    def numeric(self, name: str) -> np.ndarray:
        """Column ``name`` as floats: a blank or 'nan' cell is NaN (no result; counted where it is used),
        anything else that is not a finite number is refused with its row and column."""
        j = self.header.index(name)
        cells = [c[j] if c[j].strip() else "nan" for c in self.rows]
        try:
            out = np.array(cells, dtype=np.float64)
            if not np.isinf(out).any():
                return out
        except ValueError:
            pass
        out = np.empty(len(self.rows), dtype=np.float64)  # find the cell at fault
        for i, cells in enumerate(self.rows):
            text = cells[j].strip()
            try:
                out[i] = float(text) if text else np.nan
            except ValueError:
                out[i] = np.inf  # refused just below
            if np.isinf(out[i]):
                raise self.refuse(i, name, f"holds {cells[j]!r}, not a number")
        return out


def read_csv(path: Path, what: str, required: tuple[str, ...], gz: bool = False) -> CsvRows:
    """A benchmark CSV (``gz``: gzip-compressed). A file that cannot be read to its end, a header without the
    ``required`` columns or a row whose cell count differs from the header's is a one-line UserError naming
    the file and the row."""
    import csv
    import gzip

    fix = "replace it with an intact copy"
    row, header = 1, None
    try:
        with (gzip.open(path, "rt", newline="") if gz else open(path, newline="")) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise UserError(f"{what} {path} is empty; {fix}")
            missing = [c for c in required if c not in header]
            if missing or len(set(header)) != len(header):
                why = (f"lacks {', '.join(map(repr, missing))}" if missing
                       else f"repeats {sorted({c for c in header if header.count(c) > 1})}")
                raise UserError(f"{what} {path} has the wrong header (row 1 {why}); {fix}")
            rows, numbers = [], []
            for cells in reader:
                row += 1
                if not cells:
                    continue  # a blank line holds nothing
                if len(cells) != len(header):
                    raise UserError(f"{what} {path}: row {row} has {len(cells)} cells, the header has "
                                    f"{len(header)} (truncated or damaged); {fix}")
                rows.append(cells)
                numbers.append(row)
    except (OSError, EOFError, csv.Error, UnicodeDecodeError) as exc:
        where = f" after row {row}" if header is not None else ""  # the last row read whole
        raise UserError(f"{what} {path} is unreadable{where} ({_one_line(exc)}): truncated or damaged; {fix}") \
            from None
    return CsvRows(path, what, header, rows, numbers)


def locate(relative: str, label: str, data_dir, how_to_get: str) -> tuple[Path, str]:
    """Find a benchmark table and its sha256 (the memo key: a replaced file is read again). Missing:
    DataNotFound saying where zeronas looked and how to get it; unreadable: a one-line UserError."""
    from .. import paths
    from ..errors import DataNotFound

    path = paths.find([relative], data_dir)
    if path is None:
        raise DataNotFound(f"{label} not found (looked in {paths.searched(data_dir)}); {how_to_get}")
    path = path.resolve()
    try:
        return path, sha256(path)
    except OSError as exc:
        raise UserError(f"{label} {path} is unreadable ({exc.strerror or exc}); replace it with an intact "
                        "copy") from None


def check_convert_target(target: Path, source: Path, source_sha256: str, replace: bool = False) -> None:
    """Refuse, before the source is read, a converted table's path that cannot take it (a folder there, or a
    file where a folder must be) or that holds a table converted from another file: a partial or foreign source
    used to replace a good table without a word. The same source again (its sha256 in the ``.source.json``
    beside the table) or ``replace`` rewrites it. Errors: one-line UserError."""
    import json

    from ..errors import shown

    for folder in [*reversed(target.parents)][1:]:
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} is a file, but the converted table goes to {target}; pass another --out")
    if target.is_dir():
        raise UserError(f"{target} is a folder, not a table: pass another --out, or move that folder away")
    if not target.exists() or replace:
        return
    stem = target.name.split(".")[0]
    try:
        record = json.loads(target.with_name(f"{stem}.source.json").read_text())
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and record.get("source_sha256") == source_sha256:
        return  # converted from this very file before: the same table again
    held = (f"converted from {shown(str(record.get('source')))}" if isinstance(record, dict) and record.get("source")
            else "of unknown origin")
    raise UserError(f"{target} already holds a table ({held}); converting {source.name} would replace it: pass "
                    f"--replace to do so, or another --out")


def write_converted(target: Path, header: list[str], rows, source: Path, source_sha256: str, t0: float,
                    **facts) -> dict:
    """Write a converted benchmark table (gzip CSV) and, beside it, ``<name>.source.json`` recording where it
    came from. The table goes to a temporary file renamed into place, so a kill never leaves a half-written
    table where the loader looks. ``rows``: an iterable of cell lists; ``t0``: ``time.perf_counter()`` at the
    start of the conversion; ``facts``: more fields for the record. Returns the record."""
    import csv
    import gzip
    import io
    import json
    import time

    from .. import __version__, paths

    target.parent.mkdir(parents=True, exist_ok=True)  # check_convert_target ran first: nothing in the way
    tmp = target.with_suffix(".tmp")
    # mtime 0 in the gzip header: the same source converts to the same bytes (and table_sha256)
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    tmp.replace(target)
    info = {"source": str(source.resolve()), "source_sha256": source_sha256, **facts, "columns": list(header),
            "converted_by": f"zeronas {__version__}",
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.perf_counter() - t0, 2), "table": str(target),
            "table_sha256": paths.file_sha256(target)}
    stem = target.name.split(".")[0]
    target.with_name(f"{stem}.source.json").write_text(json.dumps(info, indent=1))
    return info
