import math
import sqlite3

import pytest

from zeronas.errors import UserError
from zeronas.scoring import ScoreRecord
from zeronas.store import Store, protocol_hash


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
    db.put([rec("a", "nwot", 1.0), rec("b", "nwot", math.nan)])
    text = db.export(tmp_path / "out.csv").read_text()
    assert "nwot" in text and "nan" in text and len(text.splitlines()) == 3


H_NWOT, H_SNIP = protocol_hash({"p": "nwot"}), protocol_hash({"p": "snip"})  # real keys: merge checks them


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
    assert dst.count() == 0  # nothing half-merged from a refused file


def test_summary_counts_by_status_and_report_cli(tmp_path):
    from typer.testing import CliRunner

    from zeronas.cli import app

    db = Store(tmp_path / "s.db")
    db.put([rec("a", "nwot", 1.0), rec("a", "snip", 2.0)])
    db.put([rec("b", "nwot", math.nan), rec("b", "snip", 0.0, error="ValueError: boom")])
    db.put([rec("c", "nwot", -math.inf)])
    by_proxy = {r["proxy"]: r for r in db.summary()}
    assert (by_proxy["nwot"]["rows"], by_proxy["nwot"]["ok"], by_proxy["nwot"]["non_finite"]) == (3, 1, 2)
    assert (by_proxy["snip"]["ok"], by_proxy["snip"]["errors"]) == (1, 1)
    assert by_proxy["nwot"]["mean_seconds"] == pytest.approx(0.5) and db.integrity() == "ok"
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.db"), "--export", str(tmp_path / "a.csv")])
    assert res.exit_code == 0, res.output
    assert "5 scores, integrity ok" in " ".join(res.output.split()) and (tmp_path / "a.csv").exists()
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
