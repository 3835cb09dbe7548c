import contextlib
import math
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

import zeronas
from zeronas.errors import UserError
from zeronas.scoring import ScoreRecord
from zeronas.store import Store, protocol_hash, read_merge_source

H_NWOT, H_SNIP = protocol_hash({"p": "nwot"}), protocol_hash({"p": "snip"})  # real keys: merge, export check them


def rec(canonical, proxy, value, h="h1", error=None):
    return ScoreRecord("nb201", f"arch-{canonical}", canonical, proxy, value, 0.5, 1, {"p": proxy}, h, error)


def test_put_is_idempotent_and_keeps_nonfinite_values(tmp_path):
    db = Store(tmp_path / "s.db")
    assert db.put([rec("a", "nwot", 1.5), rec("a", "synflow", math.nan)]) == 2
    assert db.put([rec("a", "nwot", 9.9)]) == 0  # same key: not written twice
    db.put([rec("b", "nwot", -math.inf), rec("c", "nwot", math.inf)])
    vals = db.values("nb201", "nwot", "h1")
    assert vals == {"a": 1.5, "b": -math.inf, "c": math.inf}
    assert math.isnan(db.values("nb201", "synflow", "h1")["a"])
    assert db.done("nb201", "nwot", "h1") == {"a", "b", "c"} and db.count() == 4
    assert db.protocol("h1") == {"p": "nwot"} or db.protocol("h1") == {"p": "synflow"}
    db.close()
    again = Store(f"sqlite:///{tmp_path / 's.db'}")  # reopen by URL
    assert again.count() == 4


def test_not_a_store_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a zeronas store"):
        Store(junk)
    assert junk.read_bytes() == b"this is not sqlite" * 100  # the refused file is left as it was
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(UserError, match="not a zeronas store"):
        Store(other)
    with sqlite3.connect(other) as c:  # no zeronas tables were added to someone else's database
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["t"]
    with pytest.raises(UserError, match="not a database URL"):
        Store("postgresql://host:notaport/db")


def test_server_url_without_driver_or_server_is_a_clear_error():
    # no psycopg (SQLAlchemy's default postgresql driver) here; if there is one, no server at this address
    with pytest.raises(UserError, match=r"driver is not installed|cannot open store"):
        Store("postgresql://nobody@127.0.0.1:1/zeronas")
    # a misspelt scheme is named as such (it used to advise installing a driver for it)
    with pytest.raises(UserError, match=r"'mysq' is not a database SQLAlchemy knows \(a misspelt scheme.*a store "
                                        r"URL starts with sqlite:///"):
        Store("mysq://x")


def _write_overlapping(url, worker):
    db = Store(url)
    # both writers write keys 0..59 in overlapping, differently ordered chunks of one "arch" each
    order = range(60) if worker == 0 else reversed(range(60))
    new = sum(db.put([rec(str(k), "nwot", float(k)), rec(str(k), "snip", -float(k))]) for k in order)
    db.close()
    return new


def test_concurrent_writers_through_a_url_write_each_key_once(tmp_path):
    """Two processes sharing one database by URL (as machines sharing a server would) never duplicate or
    lose a key, and together report each key as new exactly once."""
    import multiprocessing as mp

    url = f"sqlite:///{tmp_path / 'shared' / 's.db'}"
    Store(url).close()
    with mp.get_context("spawn").Pool(2) as pool:
        new = pool.starmap(_write_overlapping, [(url, 0), (url, 1)])
    db = Store(url)
    assert sum(new) == 120 and db.count() == 120 and db.integrity() == "ok"
    assert db.values("nb201", "snip", "h1") == {str(k): -float(k) for k in range(60)}


def test_export_csv(tmp_path):
    db = Store(tmp_path / "s.db")
    db.put([rec("a", "nwot", 1.0, h=H_NWOT), rec("b", "nwot", math.nan, h=H_NWOT)])
    text = db.export(tmp_path / "out.csv").read_text()
    assert "nwot" in text and "nan" in text and len(text.splitlines()) == 3


def test_an_interrupted_export_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    """The CSV export's temporary file had a fixed name (two exports shared it) and a Ctrl-C left it behind;
    Parquet was written in place. Now: a unique temporary file, removed on any interrupt."""
    import zeronas.store as store_mod

    db = Store(tmp_path / "s.db")
    db.put([rec("a", "nwot", 1.0, h=H_NWOT)])
    before = db.export(tmp_path / "out.csv").read_bytes()
    db.put([rec("b", "nwot", 2.0, h=H_NWOT)])

    class Interrupting:
        def __init__(self, *a, **k):
            pass

        def writeheader(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(store_mod.csv, "DictWriter", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        db.export(tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out.csv"]


def _filled(path):
    db = Store(path)
    db.put([rec("a", "nwot", 0.1 + 0.2, h=H_NWOT), rec("a", "snip", math.nan, h=H_SNIP)])
    db.put([rec("b", "nwot", -math.inf, h=H_NWOT), rec("b", "snip", 0.0, h=H_SNIP, error="ValueError: boom")])
    db.put([rec("c", "nwot", math.inf, h=H_NWOT)])
    return db


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_export_merges_back_losslessly_and_idempotently(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    src = _filled(tmp_path / "src.db")
    out = src.export(tmp_path / f"scores{suffix}")
    dst = Store(tmp_path / "dst.db")
    assert dst.merge(out) == (5, 5)
    assert dst.merge(out) == (5, 0)  # a rerun adds nothing
    assert dst.export_rows() == src.export_rows()  # values (0.30000000000000004, +-inf, NaN), errors, times
    assert dst.values("nb201", "nwot", H_NWOT)["a"] == 0.1 + 0.2 and dst.protocol(H_SNIP) == {"p": "snip"}
    assert dst.summary()[1]["errors"] == 1


def test_merge_from_another_store_keeps_existing_keys_and_filters_by_protocol(tmp_path):
    src = _filled(tmp_path / "src.db")
    dst = Store(f"sqlite:///{tmp_path / 'dst.db'}")
    dst.put([rec("a", "nwot", 7.0, h=H_NWOT)])  # this machine's own value for one key
    assert dst.merge(str(tmp_path / "src.db")) == (5, 4)
    assert dst.values("nb201", "nwot", H_NWOT) == {"a": 7.0, "b": -math.inf, "c": math.inf}
    only_h2 = src.export(tmp_path / "h2.csv.gz", protocol_hashes=[H_SNIP])
    assert Store(tmp_path / "x.db").merge(only_h2) == (2, 2)


def test_compressed_export_is_byte_identical_for_identical_scores(tmp_path):
    a = _filled(tmp_path / "a.db").export(tmp_path / "a.csv.gz").read_bytes()
    b = Store(tmp_path / "b.db")
    b.merge(tmp_path / "a.csv.gz")
    assert b.export(tmp_path / "b.csv.gz").read_bytes() == a


def test_merge_refuses_foreign_damaged_or_edited_files(tmp_path):
    import gzip

    dst = Store(tmp_path / "dst.db")
    with pytest.raises(UserError, match="does not exist"):
        dst.merge(tmp_path / "missing.csv")
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="not a zeronas score export .missing columns: space"):
        dst.merge(foreign)
    good = _filled(tmp_path / "src.db").export(tmp_path / "good.csv.gz").read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="truncated or not an export"):
        dst.merge(cut)
    text = gzip.decompress(good).decode()
    edited = tmp_path / "edited.csv"
    edited.write_text(text.replace('""p"": ""snip""', '""p"": ""SNIP""'))
    with pytest.raises(UserError, match="does not match its JSON"):
        dst.merge(edited)
    bad_value = tmp_path / "bad.csv"
    bad_value.write_text(text.replace(",0.30000000000000004,ok,", ",zero,ok,"))
    with pytest.raises(UserError, match="row 2 is malformed"):
        dst.merge(bad_value)
    # a plausible edit of a value, an arch, a canonical key, a proxy or a space: each row's digest refuses it
    header, first, *rest = text.splitlines(keepends=True)
    for old, new in ((",0.30000000000000004,ok,", ",1.0,ok,"), ("nb201,a,arch-a,nwot", "nb201,a,arch-b,nwot"),
                     ("nb201,a,arch-a,nwot", "nb201,xyz,arch-a,nwot"),
                     ("nb201,a,arch-a,nwot", "nb201,a,arch-a,nosuchproxy"),
                     ("nb201,a,arch-a,nwot", "nb999,a,arch-a,nwot")):
        assert old in first, first
        edited.write_text(header + first.replace(old, new) + "".join(rest))
        with pytest.raises(UserError, match=r"edited.csv: row 2: its contents do not match its row_sha256"):
            dst.merge(edited)
    assert dst.count() == 0  # nothing half-merged from a refused file
    # an export written before the digest column existed is read as it is
    old_format = tmp_path / "old.csv"
    old_format.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in text.splitlines()))
    assert dst.merge(old_format) == (5, 5)


def test_an_error_row_keeps_no_value_and_a_value_added_to_one_is_refused(tmp_path):
    """A failure is stored without a value (even when its record carried one), and a value typed into an
    export's error row, which the row digest leaves out, is refused in one line (a newcomer's trial merged it)."""
    import csv
    import io

    src = _filled(tmp_path / "src.db")
    assert [r["value"] for r in src.export_rows() if r["status"] == "error"] == [None]
    text = src.export(tmp_path / "good.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    (err,) = [r for r in rows if r["status"] == "error"]
    assert err["value"] == ""
    err["value"] = "1.0"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (tmp_path / "edited.csv").write_text(out.getvalue())
    dst = Store(tmp_path / "dst.db")
    with pytest.raises(UserError, match=r"is malformed \(column 'value': 1.0 with status 'error', which carries no "
                                        r"value\)"):
        dst.merge(tmp_path / "edited.csv")
    assert dst.count() == 0


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_export_replaces_only_an_export_of_its_own(tmp_path, suffix):
    """report --export replaced any file at its path (a newcomer's trial lost a user's CSV): now only an earlier
    export is replaced; another file, a folder or a link is refused in one line and left as it was."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    db = _filled(tmp_path / "src.db")
    out = tmp_path / f"scores{suffix}"
    db.export(out)
    db.put([rec("d", "nwot", 1.5, h=H_NWOT)])
    db.export(out)  # an export of its own is replaced
    assert Store(tmp_path / "re.db").merge(out) == (6, 6)
    theirs = tmp_path / f"theirs{suffix}"
    theirs.write_bytes(b"name,salary\nalice,100\n")
    with pytest.raises(UserError, match=r"^--export '.*theirs.*' exists and is not a zeronas score export \(it "
                                        r"would be lost\)"):
        db.export(theirs)
    assert theirs.read_bytes() == b"name,salary\nalice,100\n"
    empty = tmp_path / f"empty{suffix}"  # an empty file (mktemp, touch) loses nothing: replaced
    empty.touch()
    db.export(empty)
    assert empty.stat().st_size > 0
    (tmp_path / f"dir{suffix}").mkdir()
    link = tmp_path / f"link{suffix}"
    link.symlink_to(out)
    for bad, why in ((tmp_path / f"dir{suffix}", "not a regular file"), (link, "a symbolic link")):
        with pytest.raises(UserError, match=why):
            db.export(bad)


def test_summary_counts_by_status_and_report_cli(tmp_path):
    from typer.testing import CliRunner

    from zeronas.cli import app

    db = Store(tmp_path / "s.db")
    db.put([rec("a", "nwot", 1.0, h=H_NWOT), rec("a", "snip", 2.0, h=H_SNIP)])
    db.put([rec("b", "nwot", math.nan, h=H_NWOT), rec("b", "snip", 0.0, h=H_SNIP, error="ValueError: boom")])
    db.put([rec("c", "nwot", -math.inf, h=H_NWOT)])
    by_proxy = {r["proxy"]: r for r in db.summary()}
    assert (by_proxy["nwot"]["rows"], by_proxy["nwot"]["ok"], by_proxy["nwot"]["non_finite"]) == (3, 1, 2)
    assert (by_proxy["snip"]["ok"], by_proxy["snip"]["errors"]) == (1, 1)
    assert by_proxy["nwot"]["mean_seconds"] == pytest.approx(0.5) and db.integrity() == "ok"
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db"), "--export", str(tmp_path / "a.csv")])
    assert res.exit_code == 0, res.output
    assert "5 scores, integrity ok" in " ".join(res.output.split()) and (tmp_path / "a.csv").exists()
    # in an 80-column terminal each row's counts, names and hash stay whole (no word broken across lines)
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db")], env={"COLUMNS": "80"})
    lines = res.output.split("failures:")[0].splitlines()  # the table (each failure below is one unbroken line)
    assert max(map(len, lines)) <= 80 and any("ok/nan/err" in x for x in lines), res.output
    assert [x.split()[:4] for x in lines if x.split()[:1] == ["nb201"]] == [["nb201", "nwot", "3", "1/2/0"],
                                                                           ["nb201", "snip", "2", "1/0/1"]], res.output
    # a long proxy name (a user's file.py:function) folds; it squeezed 'last' and the protocol column out
    long = "/home/user/projects/my_proxies.py:grad_sign_stability"
    db = Store(tmp_path / "long.db")
    db.put([rec("a", long, 1.0, h=protocol_hash({"p": long}))])
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "long.db")], env={"COLUMNS": "80"})
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 80 and "last (UTC)" in res.output and "protocol:" in res.output, res.output
    head = next(x for x in lines if " proxy " in x)
    lo, hi = head.index("proxy"), head.index("rows") - 2  # the proxy column, reassembled from its folds
    body = lines[lines.index(head) + 2:]
    assert "".join(x[lo:hi].strip() for x in body) == long, res.output
    assert protocol_hash({"p": long})[:8] in res.output and "integrity ok" in res.output
    res = CliRunner().invoke(app, ["report", "--store", f"sqlite:///{tmp_path / 's.db'}"])  # same store by URL
    assert res.exit_code == 0 and "5 scores, integrity ok" in " ".join(res.output.split()), res.output
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "missing.db")])
    assert res.exit_code != 0 and isinstance(res.exception, UserError) and not (tmp_path / "missing.db").exists()
    missing_url = f"sqlite:///{tmp_path / 'gone' / 'm.db'}"  # a reader given a URL must not create the store
    res = CliRunner().invoke(app, ["report", "--store", missing_url])
    assert isinstance(res.exception, UserError) and "does not exist" in str(res.exception)
    assert not (tmp_path / "gone").exists()
    res = CliRunner().invoke(app, ["bench", "correlate", "--store", missing_url])
    assert isinstance(res.exception, UserError) and not (tmp_path / "gone").exists()


def test_portable_source_keeps_the_part_that_names_the_files():
    from zeronas.data.datasets import portable_source

    assert portable_source("/work/shared/data/cifar10/cifar10_train10k_jpegq75.npz") == \
        "cifar10/cifar10_train10k_jpegq75.npz"
    assert portable_source("/check/data/cifar10/cifar10_train10k_jpegq75.npz") == \
        "cifar10/cifar10_train10k_jpegq75.npz"
    assert portable_source("/d/cifar100/cifar-100-python/train") == "cifar-100-python/train"
    assert portable_source("/d/cifar-10-batches-py") == "cifar-10-batches-py"
    assert portable_source("/elsewhere/ImageNet16") == "ImageNet16"
    assert portable_source("/my/own/images.npz") == "images.npz"


def test_a_version_1_store_is_rekeyed_to_portable_data_protocols(tmp_path):
    from zeronas.store import protocol_hash

    def data_protocol(where):
        return {"proxy": "nwot", "data": {"source": f"{where}/cifar10/x.npz", "batch0_sha256": "ab"}}

    here, there = data_protocol("/work/shared/data"), data_protocol("/mnt/old")
    agnostic = {"proxy": "synflow", "data": "ones"}
    h_here, h_there, h_agn = (protocol_hash(p) for p in (here, there, agnostic))
    db = Store(tmp_path / "v1.db")
    db.put([ScoreRecord("nb201", "arch-a", "a", "nwot", 1.0, 0.1, 1, here, h_here),
            ScoreRecord("nb201", "arch-b", "b", "nwot", 2.0, 0.1, 1, here, h_here)])
    db.put([ScoreRecord("nb201", "arch-b", "b", "nwot", 9.0, 0.1, 1, there, h_there),  # same key once moved
            ScoreRecord("nb201", "arch-c", "c", "nwot", 3.0, 0.1, 1, there, h_there),
            ScoreRecord("nb201", "arch-a", "a", "synflow", 4.0, 0.1, 1, agnostic, h_agn)])
    db.close()
    with sqlite3.connect(tmp_path / "v1.db") as c:
        c.execute("UPDATE zeronas_meta SET value = '1' WHERE key = 'version'")

    db = Store(tmp_path / "v1.db")
    portable = {"proxy": "nwot", "data": {"source": "cifar10/x.npz", "batch0_sha256": "ab"}}
    new = protocol_hash(portable)
    assert db.migrated == {h_here: new, h_there: new}
    assert db.protocol(new) == portable
    assert db.values("nb201", "nwot", new) == {"a": 1.0, "b": 2.0, "c": 3.0}  # one row per key survives
    assert db.values("nb201", "nwot", h_here) == {} and db.count() == 4
    assert db.values("nb201", "synflow", h_agn) == {"a": 4.0}  # data-agnostic protocols keep their key
    db.close()
    assert Store(tmp_path / "v1.db").migrated == {}  # migrated once


def test_a_store_from_a_newer_zeronas_is_a_clear_error(tmp_path):
    Store(tmp_path / "new.db").close()
    with sqlite3.connect(tmp_path / "new.db") as c:
        c.execute("UPDATE zeronas_meta SET value = '99' WHERE key = 'version'")
    with pytest.raises(UserError, match="version 99, newer"):
        Store(tmp_path / "new.db")
    # as a merge source it keeps its own fix (not 'pass a zeronas store'), and nothing is created
    with pytest.raises(UserError, match=r"^merge source .*new.db: .*version 99, newer .*upgrade zeronas$"):
        read_merge_source(tmp_path / "new.db")


def test_merge_cli_collects_machines_into_one_store(tmp_path):
    from typer.testing import CliRunner

    from zeronas.cli import app

    _filled(tmp_path / "machine1.db").export(tmp_path / "machine1.csv.gz")
    m2 = Store(tmp_path / "machine2.db")
    m2.put([rec("d", "nwot", 4.0, h=H_NWOT)])
    m2.close()
    args = ["merge", str(tmp_path / "machine1.csv.gz"), str(tmp_path / "machine2.db"), "--store",
            str(tmp_path / "all.db")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "all.db: 6 scores" in " ".join(res.output.split())
    res = CliRunner().invoke(app, args)  # again: nothing new
    assert res.exit_code == 0 and Store(tmp_path / "all.db").count() == 6
    res = CliRunner().invoke(app, ["merge", str(tmp_path / "nope.parquet"), "--store", str(tmp_path / "all.db")])
    assert isinstance(res.exception, UserError) and "does not exist" in str(res.exception)
    # every source is checked before the target store is created: a refused merge leaves no empty store
    (tmp_path / "notes.txt").write_text("not a store")
    for bad in ("nope.csv", "notes.txt"):
        res = CliRunner().invoke(app, ["merge", str(tmp_path / "machine1.csv.gz"), str(tmp_path / bad), "--store",
                                       str(tmp_path / "new.db")])
        assert isinstance(res.exception, UserError) and not (tmp_path / "new.db").exists()
    # a source that is neither names itself as the source, not as --store
    msg = str(res.exception)
    assert msg.startswith(f"merge source {tmp_path / 'notes.txt'}: ") and "pass a new path with --store" not in msg


# --- refused stores: one line, exit 2, and a refused file left exactly as it was -------------------------------

def _cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    """Run the installed entry point (``main`` turns a UserError into 'error: ...' and exit 2)."""
    from zeronas.cli import main

    monkeypatch.setattr("sys.argv", ["zeronas", *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code, capsys.readouterr().err


def _one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0], err


def _fingerprint(path):
    import hashlib

    return (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None, path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.iterdir()))


def _big(path, rows=3000):
    """A real store of several pages."""
    db = Store(path)
    for start in range(0, rows, 500):
        db.put([rec(f"arch{k:05d}" * 4, "nwot", float(k), h=H_NWOT) for k in range(start, start + 500)])
    db.close()
    return path


def _scramble(path):
    """Overwrite bytes in the middle of a file, as a failing disk or a bad copy leaves it."""
    import random

    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8192] = random.Random(0).randbytes(8192)
    path.write_bytes(bytes(data))
    return path


def test_an_empty_store_is_refused_by_the_api(tmp_path):
    for blank in ("", "   ", "sqlite://", "sqlite:///"):
        with pytest.raises(UserError, match="empty") as err:
            Store(blank)
        assert "\n" not in str(err.value)
        with pytest.raises(UserError, match="empty"):
            Store(blank, create=False)
    from zeronas.benchmarks import training_states as ts
    from zeronas.correlate import correlate

    with pytest.raises(UserError, match="empty"):
        correlate(proxies="params", sample=5, store="")  # before the table or any scoring
    with pytest.raises(UserError, match="empty"):
        ts.load("")
    with pytest.raises(UserError, match="empty"):
        Store(tmp_path / "dst.db").merge("")
    assert Store(":memory:").count() == 0  # an in-memory store asked for by name stays possible


@pytest.mark.parametrize("args", [
    ["report", "--store", ""], ["merge", "x.csv", "--store", ""], ["bench", "correlate", "--store", ""],
    ["bench", "build", "--store", "", "--sample", "3"],
    ["search", "--method", "sample", "--proxy", "params", "--data", "none", "--budget", "3", "--store", ""],
    ["correlate", "-p", "params", "--sample", "5", "--workers", "1", "--store", ""],
    ["correlate", "-p", "params", "--sample", "5", "--workers", "1", "--store", "  "],
])
def test_an_empty_store_is_one_line_on_the_command_line(monkeypatch, capsys, tmp_path, args):
    monkeypatch.chdir(tmp_path)
    _one_line_error(*_cli(monkeypatch, capsys, *args), "empty")
    assert not any(tmp_path.iterdir())  # nothing written anywhere


def test_a_refused_file_is_left_byte_identical(tmp_path, monkeypatch, capsys):
    other = tmp_path / "other" / "other.db"  # another program's SQLite file
    other.parent.mkdir()
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
        c.execute("INSERT INTO t VALUES (1)")
    c.close()
    before = _fingerprint(other)
    # the fix fits the command: a writer can start a new store, a reader needs one a run wrote
    for create, fix in ((False, "pass --store the path of a store that a correlate, search or bench run wrote"),
                        (True, "pass a new path with --store")):
        with pytest.raises(UserError, match=f"not a zeronas store; {fix}"):
            Store(other, create=create)
    _one_line_error(*_cli(monkeypatch, capsys, "report", "--store", other), "not a zeronas store")
    csv = tmp_path / "correlation.csv"
    csv.write_text("a,b\n1,2\n")
    for create, fix in ((False, "run wrote"), (True, "new path")):
        with pytest.raises(UserError, match=f"not an SQLite database.*{fix}"):
            Store(csv, create=create)
    (tmp_path / "src").mkdir()  # a good source, in a folder of its own: the refused target is what fails
    src = _filled(tmp_path / "src" / "src.db")
    src.export(tmp_path / "src" / "x.csv")
    src.close()
    _one_line_error(*_cli(monkeypatch, capsys, "merge", tmp_path / "src" / "x.csv", "--store", other),
                    "not a zeronas store")
    _one_line_error(*_cli(monkeypatch, capsys, "merge", other, "--store", tmp_path / "dst.db"), "not a zeronas store")
    assert _fingerprint(other) == before  # same bytes, same mtime, no journal or WAL files beside it
    with sqlite3.connect(other) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    c.close()

    for name, content in (("text.db", b"a text file\n" * 50), ("junk.db", bytes(range(256)) * 40),
                          ("zero.db", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        before = _fingerprint(path)
        _one_line_error(*_cli(monkeypatch, capsys, "report", "--store", path), "not a zeronas store"
                        if content else "empty file")
        assert _fingerprint(path) == before
        if content:
            with pytest.raises(UserError, match="not a zeronas store"):
                Store(path)  # a writer too
            assert _fingerprint(path) == before
    folder = tmp_path / "folder"
    folder.mkdir()
    for args in (["report", "--store", folder], ["merge", tmp_path / "x.csv", "--store", folder]):
        _one_line_error(*_cli(monkeypatch, capsys, *args), "is a folder")
    assert not any(folder.iterdir())
    with pytest.raises(UserError, match="is a file, not a folder"):
        Store(tmp_path / "text.db" / "s.db")


def test_another_programs_scores_table_is_not_taken_for_a_store_being_created(tmp_path):
    """A database whose only table is named like one of zeronas's (``scores``) but is another program's was
    taken for a store another process was creating: zeronas added its tables, then failed on a missing column
    (a newcomer's trial). Its columns tell them apart: refused in one line, the file left byte-identical."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE scores (a int)")
        c.execute("INSERT INTO scores VALUES (1)")
    c.close()
    before = _fingerprint(other)
    with pytest.raises(UserError, match="is a database but not a zeronas store; pass a new path with --store"):
        Store(other)
    assert _fingerprint(other) == before
    half = tmp_path / "half.db"  # zeronas's own tables without their metadata: a store being created
    Store(half).close()
    with sqlite3.connect(half) as c:
        c.execute("DELETE FROM zeronas_meta")
    c.close()
    Store(half).close()


def test_a_zero_byte_file_becomes_a_store_for_a_writer(tmp_path):
    path = tmp_path / "new.db"
    path.touch()
    db = Store(path)
    db.put([rec("a", "nwot", 1.0)])
    db.close()
    assert Store(path, create=False).count() == 1


def test_a_scrambled_store_is_one_line_for_report_and_merge(tmp_path, monkeypatch, capsys):
    bad = _scramble(_big(tmp_path / "bad.db"))
    with pytest.raises(UserError, match="is damaged") as err:
        Store(bad, create=False)
    assert "\n" not in str(err.value) and "start a new --store" in str(err.value)
    _one_line_error(*_cli(monkeypatch, capsys, "report", "--store", bad), "is damaged", str(bad))
    export = _filled(tmp_path / "src.db").export(tmp_path / "src.csv")
    _one_line_error(*_cli(monkeypatch, capsys, "merge", export, "--store", bad), "is damaged")
    _one_line_error(*_cli(monkeypatch, capsys, "merge", bad, "--store", tmp_path / "dst.db"), "is damaged")
    assert Store(tmp_path / "dst.db").count() == 0


def test_damage_found_after_opening_is_one_line(tmp_path):
    """A page that goes bad while a store is open fails the query, not with a traceback."""
    path = _big(tmp_path / "s.db")
    db = Store(path)  # sound when opened
    _scramble(path)
    db.engine.dispose()  # fresh connections read the damaged pages
    for query in (lambda: db.values("nb201", "nwot", H_NWOT), db.count, db.summary, db.export_rows):
        with pytest.raises(UserError, match="is damaged") as err:
            query()
        assert "\n" not in str(err.value)


@contextlib.contextmanager
def _read_only(path):
    """Make a file or folder unwritable: chmod for a user, the immutable flag for root (whom modes don't stop)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root where the immutable flag cannot be set: no way to make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_unwritable_store_is_refused_when_opened_for_writing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "s.db"
    _filled(path).close()
    with _read_only(path):
        with pytest.raises(UserError, match="cannot write to store") as err:
            Store(path)
        assert "\n" not in str(err.value) and "writable" in str(err.value)
        assert Store(path, create=False).count() == 5  # reading a read-only store is fine
        export = tmp_path / "e.csv"
        Store(path, create=False).export(export)
        _one_line_error(*_cli(monkeypatch, capsys, "merge", export, "--store", path), "cannot write to store")
    with pytest.raises(UserError, match="cannot write the export"):
        Store(path, create=False).export(export / "under_a_file.csv")
    folder = tmp_path / "ro"
    folder.mkdir()
    _filled(folder / "s.db").close()
    with _read_only(folder):
        for target in (folder / "s.db", folder / "new.db", folder / "sub" / "new.db"):
            with pytest.raises(UserError, match="cannot (write to|create) store") as err:
                Store(target)
            assert "\n" not in str(err.value)


def test_merge_refuses_bad_rows_naming_file_row_and_column_and_writes_nothing(tmp_path):
    import csv

    good = _filled(tmp_path / "src.db").export(tmp_path / "good.csv")
    with open(good, newline="") as f:
        rows = list(csv.DictReader(f))
    dst = Store(tmp_path / "dst.db")
    dst.put([rec("z", "nwot", 1.0, h=H_NWOT)])

    def refused(name, edit, *needles):
        changed = [dict(r) for r in rows]
        edit(changed)
        path = tmp_path / name
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(changed)
        with pytest.raises(UserError) as err:
            dst.merge(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message
        for needle in needles:
            assert needle in message, message
        assert dst.count() == 1  # the whole source refused: not one row of it written

    ok = next(i for i, r in enumerate(rows) if r["status"] == "ok")
    for bad in ("inf", "-inf", "nan"):
        refused(f"ok_{bad}.csv", lambda rs, bad=bad: rs[ok].update(value=bad), f"row {ok + 2}", "'value'",
                "marked 'ok'")
    refused("ok_blank.csv", lambda rs: rs[ok].update(value=""), f"row {ok + 2}", "'value'")
    refused("nan_valued.csv", lambda rs: rs[next(i for i, r in enumerate(rs) if r["status"] == "nan")].update(
        value="3.5"), "'value'", "status 'nan'")
    refused("duplicate.csv", lambda rs: rs.append(dict(rs[0])), f"row {len(rows) + 2} repeats the key", "row 2")
    refused("dup_other_value.csv", lambda rs: rs.append({**rs[0], "value": "42"}), "repeats the key")
    refused("not_json.csv", lambda rs: rs[1].update(protocol="{oops"), "row 3", "'protocol'", "not a JSON object")
    refused("json_list.csv", lambda rs: rs[1].update(protocol="[1, 2]"), "row 3", "'protocol'", "not a JSON object")
    refused("status.csv", lambda rs: rs[0].update(status="fine"), "row 2", "'status'")
    refused("seconds.csv", lambda rs: rs[0].update(seconds="nan"), "row 2", "'seconds'")
    refused("space.csv", lambda rs: rs[0].update(space=""), "row 2", "'space'")

    # created_utc (a newcomer trial: 'created' read as a raw epoch float) is 'created' as a date, and a merge
    # reads 'created', not it
    import datetime

    for r in rows:
        when = datetime.datetime.fromtimestamp(float(r["created"]), datetime.timezone.utc)
        assert r["created_utc"] == when.strftime("%Y-%m-%dT%H:%M:%SZ") and r["created_utc"].startswith("20")

    short = tmp_path / "short.csv"
    lines = good.read_text().splitlines(keepends=True)
    short.write_text("".join(lines[:3]) + lines[3].rsplit(",", 4)[0] + "\n" + "".join(lines[4:]))
    with pytest.raises(UserError, match=r"row 4 has 9 cells, the header has 13"):
        dst.merge(short)
    cut = tmp_path / "cut.csv.gz"
    import gzip

    whole = gzip.compress(good.read_bytes() * 40)
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match="cannot be read after row"):
        dst.merge(cut)
    assert dst.count() == 1


def test_merge_refuses_a_bad_row_of_another_store(tmp_path):
    src = _filled(tmp_path / "src.db")
    src.close()
    with sqlite3.connect(tmp_path / "src.db") as c:  # an ok row without its value (edited by hand)
        c.execute("UPDATE scores SET value = NULL WHERE status = 'ok' AND canonical = 'a' AND proxy = 'nwot'")
    c.close()
    dst = Store(tmp_path / "dst.db")
    with pytest.raises(UserError, match=r"the score of 'arch-a' for nwot .*column 'value'") as err:
        dst.merge(tmp_path / "src.db")
    assert "\n" not in str(err.value) and dst.count() == 0


@pytest.mark.parametrize("edit,column,problem", [
    ("UPDATE scores SET value = 'abc' WHERE canonical = 'a' AND proxy = 'nwot'", "value", "'abc', not a number"),
    ("UPDATE scores SET value = NULL WHERE canonical = 'a' AND proxy = 'nwot'", "value", "blank, but status 'ok'"),
    ("UPDATE scores SET seconds = 'x' WHERE canonical = 'a' AND proxy = 'nwot'", "seconds", "'x', not a finite"),
])
def test_a_damaged_row_is_named_by_report_and_refused_by_export_and_merge(tmp_path, monkeypatch, capsys, edit,
                                                                          column, problem):
    """A newcomer trial: a store whose value was edited to text gave internal errors for report --export
    (ValueError) and merge (TypeError), and report called it 'integrity ok'; a blank value exported, then
    the export was refused by merge with advice to export again (the same file). Report now names the row,
    and an export refuses it in one line (no file) as merge does."""
    _filled(tmp_path / "src.db").close()
    with sqlite3.connect(tmp_path / "src.db") as c:
        c.execute(edit)
    c.close()
    res = zeronas.report(str(tmp_path / "src.db"))
    assert res["integrity"] == "ok" and re.search(rf"the score of 'arch-a' for nwot .*column '{column}': "
                                                  rf"{re.escape(problem)}", res["row_problem"])
    from zeronas.cli import main

    monkeypatch.setattr("sys.argv", ["zeronas", "report", "--store", str(tmp_path / "src.db")])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main()
    shown = capsys.readouterr().out
    assert done.value.code == 0 and "integrity NOT ok" in shown and f"column '{column}'" in " ".join(shown.split())
    out = tmp_path / "x.csv"
    code, err = _cli(monkeypatch, capsys, "report", "--store", tmp_path / "src.db", "--export", out)
    assert code == 2 and f"column '{column}'" in err and "nothing was exported" in err and not out.exists()
    with pytest.raises(UserError, match=rf"column '{column}'") as exc:
        Store(tmp_path / "dst.db").merge(tmp_path / "src.db")
    assert "\n" not in str(exc.value) and "merge an export" not in str(exc.value)  # it cannot make one
    assert zeronas.report(str(tmp_path / "dst.db"))["scores"] == 0


@pytest.mark.parametrize("argv", [["merge", "SRC"], ["correlate", "--sample", "5", "-p", "params"],
                                  ["search", "--method", "sample", "--proxy", "params", "--n", "2", "--data", "none"],
                                  ["report"]])
@pytest.mark.parametrize("name", ["new.csv", "new.csv.gz", "new.PARQUET"])
def test_a_store_named_like_an_export_is_refused(tmp_path, monkeypatch, capsys, argv, name):
    """A newcomer trial: 'merge b.db --store newstore.csv' wrote an SQLite database named .csv, which a later
    merge of that name then read as a damaged CSV. Every verb's --store refuses an export's name, and names
    the command that writes one."""
    _filled(tmp_path / "src.db").close()
    argv = [str(tmp_path / "src.db") if a == "SRC" else a for a in argv]
    code, err = _cli(monkeypatch, capsys, *argv, "--store", tmp_path / name)
    assert code == 2 and "names an export file, but a store is an SQLite file or a database URL" in err, err
    assert f"zeronas report --export {tmp_path / name}" in err and not (tmp_path / name).exists()
    with pytest.raises(UserError, match="names an export file"):
        zeronas.merge([str(tmp_path / "src.db")], store=str(tmp_path / name))


def test_merge_counts_conflicting_keys_and_rows_read_without_their_digest(tmp_path):
    """A newcomer trial: a source whose values differ from the target's for the same keys was dropped silently
    ('rows read 40, new 0'), and an export with its row_sha256 column removed merged edited values with no word.
    Both are now counted in the merge's result (and said by the CLI)."""
    import csv

    _filled(tmp_path / "src.db").close()
    zeronas.report(str(tmp_path / "src.db"), export=str(tmp_path / "a.csv"))
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    with (tmp_path / "edited.csv").open("w", newline="") as f:  # the digest column removed, ok values changed
        w = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "row_sha256"])
        w.writeheader()
        for r in rows:
            r.pop("row_sha256")
            r["value"] = str(float(r["value"]) + 1) if r["status"] == "ok" else r["value"]
            w.writerow(r)
    ok = sum(r["status"] == "ok" for r in rows)
    assert ok == 1  # _filled: one finite score (the others nan, inf, -inf or an error)
    same, edited = (zeronas.merge([str(tmp_path / n)], store=str(tmp_path / "dst.db"))[0]
                    for n in ("src.db", "edited.csv"))
    assert (same["new"], same["conflicts"], same["unchecked"]) == (5, 0, 0)
    assert (edited["read"], edited["new"], edited["conflicts"], edited["unchecked"]) == (5, 0, ok, 5)
    again = zeronas.merge([str(tmp_path / "a.csv")], store=str(tmp_path / "dst.db"))[0]
    assert (again["new"], again["conflicts"], again["unchecked"]) == (0, 0, 0)  # its own export: nothing differs


def test_the_reason_of_an_undefined_value_is_stored_with_its_status(tmp_path):
    db = Store(tmp_path / "z.db")
    h = protocol_hash({"p": "nwot"})
    why = "undefined: K_H is singular (log det = -inf)"
    db.put([ScoreRecord("nb201", "arch-a", "a", "nwot", -math.inf, 0.1, 1, {"p": "nwot"}, h, None, [], why),
            ScoreRecord("nb201", "arch-b", "b", "nwot", math.nan, 0.1, 1, {"p": "nwot"}, h, "RuntimeError: boom")])
    out = db.outcomes("nb201", "nwot", h)
    assert out["a"] == ("-inf", why)  # still ranked last by correlate, and the reason is kept
    assert out["b"] == ("error", "RuntimeError: boom")
    assert db.values("nb201", "nwot", h)["a"] == -math.inf


@pytest.mark.parametrize("data", [None, "cifar10", {"dataset": "cifar100", "batch_size": 16, "seed": 0,
                                                   "stands_in_for": "cifar100", "num_classes": 100}])
def test_report_reads_search_and_bench_records(tmp_path, monkeypatch, capsys, data):
    """te-nas / teg stores recorded data None, a training-states bench a dataset name: report crashed on both
    (TypeError / AttributeError), so these stores could not be exported or merged."""
    from zeronas.search.base import StoredMetrics
    from zeronas.spaces import space as get_space

    db = tmp_path / "s.db"
    sm = StoredMetrics(get_space("nb201"), "te-nas", ("kappa", "regions"), {"method": "te-nas", "data": data}, db)
    sm.put("k0", {"kappa": 3.0, "regions": 7.0}, 0.1)
    sm.store.close()
    code, err = _cli(monkeypatch, capsys, "report", "--store", db, "--export", tmp_path / "x.csv")
    assert code == 0, err
    assert (tmp_path / "x.csv").read_text().count("\n") == 3  # header + 2 rows


def _open_at_once(path, barrier, q):
    barrier.wait()
    try:
        Store(path).close()
        q.put("ok")
    except Exception as exc:  # noqa: BLE001  (reported to the test)
        q.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_creating_one_new_store_at_once(tmp_path, monkeypatch):
    """Two searches or correlate runs started together on a new --store: both saw no table and the second
    CREATE failed ('table zeronas_meta already exists', exit 2). The loser now finds the winner's tables."""
    import multiprocessing

    import sqlalchemy.exc as sa_exc

    import zeronas.store as store_mod

    real, calls = store_mod.METADATA.create_all, []

    def racing(engine, *a, **k):  # another process creates the tables between our check and our CREATE
        if not calls:
            calls.append(1)
            real(engine)
            raise sa_exc.OperationalError("CREATE TABLE zeronas_meta", {}, Exception("table zeronas_meta already "
                                                                                   "exists"))
        return real(engine, *a, **k)

    monkeypatch.setattr(store_mod.METADATA, "create_all", racing)
    s = Store(tmp_path / "race.db")
    s.close()
    assert calls == [1]
    monkeypatch.undo()
    ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing.get_context()
    for k in range(3):  # and for real: four processes open one new file at the same instant
        barrier, q = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(tmp_path / f"new{k}.db", barrier, q)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert sorted(q.get(timeout=5) for _ in procs) == ["ok"] * 4


def test_a_three_slash_sqlite_url_to_an_absolute_store_says_four(tmp_path, monkeypatch):
    """sqlite:///tmp/s.db is the relative tmp/s.db: a newcomer meaning /tmp/s.db read only 'does not exist'."""
    Store(tmp_path / "s.db").close()
    monkeypatch.chdir(tmp_path)  # where tmp/... relative to the working folder is absent
    rel = str(tmp_path / "s.db").lstrip("/")
    with pytest.raises(UserError, match=rf"does not exist; .* \(a URL sqlite:///PATH is relative to this folder; the "
                                        rf"absolute /{rel} is sqlite:////{rel}, with four slashes\)$"):
        Store(f"sqlite:///{rel}", create=False)
    Store(f"sqlite:////{rel}", create=False).close()


def test_a_full_disk_under_the_store_is_said_as_such():
    """SQLite's 'database or disk is full' fell to the generic 'check that the database is reachable'."""
    import sqlite3

    from zeronas.store import _db_failure

    err = _db_failure("runs/z.db", sqlite3.OperationalError("database or disk is full"))
    assert str(err) == ("store runs/z.db could not grow (database or disk is full): free space on its disk, then "
                        "rerun (what it holds is kept), or pass another --store")


def test_merge_and_report_in_python_refuse_missing_sources_and_stores_in_one_line(tmp_path):
    import zeronas as zn

    for call in (lambda: zn.merge(None, store=tmp_path / "m.db"), lambda: zn.merge([], store=tmp_path / "m.db")):
        with pytest.raises(UserError, match=r"^merge needs one or more sources: a store \(path or URL\) or an"):
            call()
    for call in (lambda: zn.report(store=None), lambda: zn.merge([tmp_path / "a.csv"], store=None)):
        with pytest.raises(UserError, match=r"^store=None: omit store= for its default \('runs/zeronas.db'\)"):
            call()
    with pytest.raises(UserError, match=r"^store= is empty; give an SQLite file path or a database URL"):
        zn.report(store="")
    assert not (tmp_path / "m.db").exists()


def test_report_lists_what_failed_grouped_by_message(tmp_path, monkeypatch, capsys):
    """correlate's note ends "'zeronas report' lists them", yet report gave only the counts: which archs failed
    and why was only in an --export file."""
    import zeronas

    db = Store(tmp_path / "s.db")
    h = {p: protocol_hash({"p": p}) for p in ("nwot", "synflow")}  # sound rows: no 'damaged' line below
    db.put([rec("a", "nwot", 1.0, h["nwot"]), rec("b", "nwot", -math.inf, h["nwot"], error="K_H is singular"),
            rec("c", "nwot", -math.inf, h["nwot"], error="K_H is singular"), rec("d", "nwot", math.nan, h["nwot"]),
            rec("e", "synflow", math.nan, h["synflow"], error="RuntimeError: boom"),
            rec("f", "synflow", 2.0, h["synflow"])])
    db.close()
    fails = zeronas.report(tmp_path / "s.db")["failures"]
    # two archs share one message; each group names its smallest arch
    assert [(g["proxy"], g["status"], g["error"], g["archs"], g["example"]) for g in fails] == [
        ("nwot", "error", "K_H is singular", 2, "arch-b"), ("nwot", "nan", None, 1, "arch-d"),
        ("synflow", "error", "RuntimeError: boom", 1, "arch-e")]
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args):
        from zeronas.cli import main

        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["report", "--store", str(tmp_path / "s.db"), *args])
        got = capsys.readouterr()
        return done.value.code, got.out, got.err

    code, out, _ = run()
    flat = "".join(out.split())  # the console may be 80 columns wide: cells fold, words break
    assert code in (0, None) and "4scoreswithnofinitevalue,3kind(s)" in flat
    assert "K_Hissingular" in flat and "arch-b" in flat
    assert "RuntimeError:boom" in flat and "nomessagestored" in flat
    flat = "".join(run("--failures", "1")[1].split())
    assert "K_Hissingular" in flat and "boom" not in flat and "2morekind(s)offailure:--failures3" in flat
    assert "failures:" not in run("--failures", "0")[1]
    code, _, err = run("--failures", "-1")
    assert code == 2 and "--failures" in err


def test_report_names_the_layout_and_init_that_set_protocols_apart(tmp_path):
    """Two protocols of one proxy differing only in --memory-format (or --init) looked alike in report."""
    from typer.testing import CliRunner

    import zeronas as zn
    from zeronas.cli import app

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    db = Store(tmp_path / "s.db")
    for kw in ({}, {"memory_format": "channels-last"}, {"init": "kaiming"}):
        db.put(zn.score(arch, proxies="synflow", data="none", **kw))
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db")], env={"COLUMNS": "200"})
    rows = [x for x in res.output.splitlines() if x.split()[:2] == ["nb201", "synflow"]]
    squeezed = "".join(res.output.split())  # the protocol column may fold onto the next line (terminal width)
    assert len(rows) == 3 and squeezed.count("channels-last") == 1 and squeezed.count("kaiming") == 1, res.output
    # channels-last at two threads, and two option values: rows that read alike but for the hash (a user's
    # trial) now name what differs
    db = Store(tmp_path / "s.db")
    db.put(zn.score(arch, proxies="synflow", data="none", memory_format="channels-last", threads=3))
    for size in (32, 48):
        db.put(zn.score(arch, proxies="meco", data="none", options={"meco": {"input_size": size}}))
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db")], env={"COLUMNS": "200"})
    squeezed = "".join(res.output.split())
    assert squeezed.count("channels-last,3threads") == 1, res.output
    assert "noise;options.input_size=32" in squeezed and "noise;options.input_size=48" in squeezed, res.output


def test_an_export_named_by_its_suffix_alone_is_refused(tmp_path):
    """A user's trial: '--export .csv' wrote a hidden file named '.csv'."""
    from zeronas.store import check_export_target

    with pytest.raises(UserError, match=r"give the export file a name before its suffix, e\.g\. .*scores\.csv$"):
        check_export_target(tmp_path / ".csv")
    check_export_target(tmp_path / "a.csv")  # a name: fine
