import math
import os
import re
import sqlite3

import numpy as np
import pytest

from zeronas.benchmarks.correlation import correlation, rank_ensemble, top_k_overlap
from zeronas.correlate import parse_proxies
from zeronas.errors import UserError
from zeronas.run import usable_cores

from .conftest import BEST, SHARED, needs_cifar, needs_table


def test_correlation_statistics_by_hand():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    r = correlation(np.array([10.0, 20.0, 30.0, 40.0]), truth)
    assert r["spearman"] == pytest.approx(1.0) and r["kendall"] == pytest.approx(1.0)
    r = correlation(np.array([4.0, 3.0, 2.0, 1.0]), truth, direction=-1)  # lower-is-better proxy
    assert r["spearman"] == pytest.approx(-1.0) and r["top10"] == 1.0  # signed rho, oriented top-k
    r = correlation(np.array([1.0, math.nan, 3.0, 4.0]), truth)
    assert r["n"] == 3 and r["dropped_nan"] == 1
    r = correlation(np.array([-math.inf, 2.0, 3.0, 4.0]), truth)
    assert r["spearman"] == pytest.approx(1.0)  # -inf ranks last
    assert top_k_overlap(np.arange(100.0), np.arange(100.0)[::-1], 0.05) == 0.0


def test_rank_ensemble_log_rank():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    # a ranks 1,2,3; b (lower is better) ranks 1,2,3 too after flipping: sum log(r/3) twice
    out = rank_ensemble([a, b], [1, -1])
    assert np.allclose(out, 2 * np.log(np.array([1, 2, 3]) / 3))


def test_parse_proxies():
    base, ens = parse_proxies("nwot,ensemble:nwot+synflow,az_nas")
    assert base[:2] == ["nwot", "synflow"] and "az_expressivity" in base and set(ens) == {"ensemble:nwot+synflow",
                                                                                       "az_nas"}
    with pytest.raises(UserError):
        parse_proxies("ensemble:nwot")
    with pytest.raises(UserError):
        parse_proxies("nope")


def test_channels_last_scores_are_keyed_by_a_thread_count_other_than_one():
    """In channels-last, train-mode BN's CPU sums depend on the thread count (benchmarks/thread_values.py):
    a count other than 1 is in the protocol; one thread (the pool's) and NCHW keep the earlier keys."""
    import torch

    from zeronas.proxies.base import get_proxy
    from zeronas.scoring import Scorer, protocol_hash
    from zeronas.validation import torch_threads

    synflow, params = get_proxy("synflow"), get_proxy("params")

    def proto(spec, **kw):
        return Scorer("nb201", proxies="synflow,params", data="none", **kw).protocol(spec)

    assert proto(synflow, memory_format="channels-last", threads=2)["threads"] == 2
    for kw in ({"memory_format": "channels-last", "threads": 1}, {"threads": 2}):
        assert "threads" not in proto(synflow, **kw), kw
    assert "threads" not in proto(params, memory_format="channels-last", threads=2)  # reads no tensor
    before = torch.get_num_threads()
    with torch_threads(2):  # None: this process's count, read when the score is made
        assert proto(synflow, memory_format="channels-last")["threads"] == 2
        pinned = Scorer("nb201", proxies="synflow", data="none", memory_format="channels-last", threads=1)
        [rec] = pinned.score_arch(BEST)  # scored with one thread, and keyed so
        assert "threads" not in rec.protocol and rec.protocol_hash == protocol_hash(pinned.protocol(synflow))
        assert torch.get_num_threads() == 2  # restored after the call
    assert torch.get_num_threads() == before
    with pytest.raises(UserError, match="threads"):
        Scorer("nb201", proxies="params", data="none", threads=0)


@needs_table
@pytest.mark.data
def test_correlate_keys_channels_last_scores_by_the_workers_thread_count(tmp_path):
    from zeronas.correlate import correlate

    db = tmp_path / "t.db"
    kw = dict(proxies="synflow", sample=4, seed=5, store=db, memory_format="channels-last")
    inproc = correlate(workers=1, threads=2, **kw)  # this process scores, at 2 threads
    assert inproc.meta["protocols"]["synflow"]["threads"] == 2 and inproc.meta["scored_now"] == 4
    pool = correlate(workers=2, **kw)  # two workers of cores // 2 threads: 1 on this machine's 2 cores
    n = max(1, usable_cores() // 2)
    assert pool.meta["protocols"]["synflow"].get("threads", 1) == n
    assert pool.meta["scored_now"] == (4 if n != 2 else 0)  # another count: its own key, scored again
    again = correlate(workers=2, **kw)
    assert again.meta["scored_now"] == 0 and again.rows["synflow"] == pool.rows["synflow"]
    # --threads reaches the pool's workers (it was the driver's only): 2 threads each, the in-process run's key
    two = correlate(workers=2, threads=2, **kw)
    assert two.meta["protocols"]["synflow"]["threads"] == 2 and two.meta["scored_now"] == 0
    assert two.rows["synflow"] == inproc.rows["synflow"]
    if n != 2:  # the pool's keys were new: the run said what the store held instead
        assert any("threads 2 here, 1 there" in note or "threads 1 here, 2 there" in note
                   for note in pool.meta["notes"]), pool.meta["notes"]


@needs_table
@needs_cifar
@pytest.mark.data
def test_correlate_resumes_and_validates(tmp_path):
    from zeronas.correlate import correlate
    from zeronas.store import Store

    db = tmp_path / "z.db"
    with pytest.raises(UserError, match="does not exist"):  # and it is not made, empty (a newcomer trial found one)
        correlate(proxies="params,synflow", sample=12, seed=3, store=db, only_stored=True)
    assert not db.exists()
    first = correlate(proxies="params,synflow", sample=12, seed=3, store=db, workers=1)
    stored = correlate(proxies="params,synflow", sample=12, seed=3, store=db, only_stored=True)
    assert stored.rows["params"]["spearman"] == first.rows["params"]["spearman"]
    assert first.meta["scored_now"] == 12  # params sees dead branches: every string is scored
    again = correlate(proxies="params,synflow", sample=12, seed=3, store=db, workers=1)
    assert again.meta["scored_now"] == 0 and again.rows["params"] == first.rows["params"]
    s = Store(db)
    rows = s.count()
    assert rows == 12 + first.meta["unique_archs"]  # params per string, synflow per isomorphism class
    s.close()
    for bad in (dict(sample=20000), dict(dataset="mnist", sample=5), dict(sample=5, protocol="nope"),
                dict(protocol="suite-zero", metric="test")):
        with pytest.raises(UserError) as err:
            correlate(proxies="params", store=db, **bad)
        assert "\n" not in str(err.value), bad
    # a preset's target is the paper's: an explicit metric beside it is refused, not ignored
    with pytest.raises(UserError, match=r"^protocol='suite-zero' fixes metric='valid'; drop the options that "
                                        r"differ$"):
        correlate(proxies="params", store=db, protocol="suite-zero", metric="test")
    # so is any value it fixes, given differently (it used to be replaced without a word)
    with pytest.raises(UserError, match=r"^protocol='suite-zero' fixes sample=1000, batch_size=64; drop the options"):
        correlate(proxies="params", store=db, protocol="suite-zero", sample=100, batch_size=32)
    with pytest.raises(UserError, match=r"^protocol='abdelfattah2021' fixes seed=42; drop the options that differ$"):
        correlate(proxies="params", store=db, protocol="abdelfattah2021", seed=3)
    s = Store(db)
    assert s.count() == rows  # refused input writes nothing to the store
    s.close()


@needs_table
@needs_cifar
@pytest.mark.data
def test_correlate_fixed_isomorph_member_stores_the_representative(tmp_path):
    import sqlite3

    import zeronas as zn
    from zeronas.correlate import correlate

    db = tmp_path / "z.db"
    fixed = correlate(proxies="synflow", sample=12, seed=3, store=db, workers=1, isomorph_member="fixed")
    asked = correlate(proxies="synflow", sample=12, seed=3, store=db, workers=1)
    assert fixed.meta["isomorph_member"] == "fixed" and asked.meta["scored_now"] == fixed.meta["scored_now"]
    space = zn.space("nb201")
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT arch, protocol_hash FROM scores").fetchall()
    hashes = {fixed.rows["synflow"]["protocol_hash"], asked.rows["synflow"]["protocol_hash"]}
    assert len(hashes) == 2 and len(rows) == 2 * fixed.meta["unique_archs"]  # one row per class and rule
    fixed_archs = [a for a, h in rows if h == fixed.rows["synflow"]["protocol_hash"]]
    assert all(space.format(space.representative(a)) == a for a in fixed_archs)


def test_scoring_order_is_a_seeded_permutation():
    from zeronas.correlate import scoring_order

    a = scoring_order(50, 0)
    assert sorted(a) == list(range(50)) and (a == scoring_order(50, 0)).all()
    assert not (a == np.arange(50)).all() and not (a == scoring_order(50, 1)).all()


@needs_table
@needs_cifar
@pytest.mark.data
def test_only_stored_analyses_the_stored_prefix_of_the_scoring_order(tmp_path):
    """A stopped run is analysed on the archs scored before the first missing one: a uniform random subset."""
    import sqlite3

    from zeronas.benchmarks.nb201 import load_nb201
    from zeronas.correlate import correlate, scoring_order

    db = tmp_path / "z.db"
    full = correlate(proxies="params", sample=12, seed=3, store=db, workers=1)
    order = scoring_order(12, 3)
    idx = np.array(full.meta["indices"])
    missing = load_nb201().arch_str[idx[order[4]]]
    with sqlite3.connect(db) as con:
        assert con.execute("DELETE FROM scores WHERE arch = ?", (missing,)).rowcount == 1
    part = correlate(proxies="params", sample=12, seed=3, store=db, only_stored=True)
    assert sorted(part.meta["indices"]) == sorted(idx[order[:4]].tolist())
    prefix = [n for n in part.meta["notes"] if "first in the seeded scoring order" in n]
    assert len(prefix) == 1 and "7 more archs" in prefix[0]
    small = [n for n in part.meta["notes"] if n.startswith("only 4 archs: rho is uncertain")]
    # a user trial: this said "use --sample 100 or more" of a run given a sample that was only partly scored (in the
    # API's words, as its errors)
    assert len(small) == 1 and small[0].endswith("rerun without only_stored=True to score the other 8 sampled archs")
    # a user trial: workers and a Ray executor were taken, reported, and ran nothing
    with pytest.raises(UserError, match=r"^only_stored=True scores nothing, so workers= would run nothing: drop it$"):
        correlate(proxies="params", sample=12, seed=3, store=db, only_stored=True, workers=2)
    assert correlate(proxies="params", sample=12, seed=3, store=db, only_stored=True, workers=0).meta["archs"] == 4
    # another sample size draws other archs: the error says so instead of 'fewer than 3 ... stored' alone
    with pytest.raises(UserError, match="the archs first in the seeded scoring order lack scores.*another sample= or "
                                        "seed=, give those"):
        correlate(proxies="params", sample=400, seed=3, store=db, only_stored=True)
    # a newcomer trial: another setting said only 'fewer than 3 ... stored'; it names each proxy's count and what
    # the store holds instead
    with pytest.raises(UserError) as exc:
        correlate(proxies="params", sample=12, seed=3, init="kaiming", store=db, only_stored=True)
    assert str(exc.value) == (
        "only_stored=True: fewer than 3 of the 12 sampled archs have every proxy's score stored under this protocol "
        "(stored: params 0); the store holds params on nb201 for 11 archs under another protocol (init kaiming "
        "here, torch-default there): give those settings, or run without only_stored=True to score these")
    with pytest.raises(UserError, match=r"\(stored: params 11, synflow 0\); the store holds no synflow score on "
                                        "nb201 under any protocol"):
        correlate(proxies="params,synflow", sample=12, seed=3, store=db, only_stored=True)


def test_protocol_difference_names_the_settings_not_their_digests():
    from zeronas.correlate import protocol_difference

    here = {"seed": 0, "data": {"batch_size": 32, "batch0_sha256": "a"}, "init": "x"}
    there = {"seed": 0, "data": {"batch_size": 64, "batch0_sha256": "b"}, "init": "x", "extra": 1}
    assert protocol_difference(here, there) == "data.batch_size 32 here, 64 there; extra (none) here, 1 there"
    assert protocol_difference({"a": {"sha256": 1}}, {"a": {"sha256": 2}}) == "a.sha256 1 here, 2 there"
    assert protocol_difference(here, here) == "the same settings"
    many = {f"k{i}": i for i in range(6)}
    assert protocol_difference(many, {}).endswith("k3 3 here, (none) there and 2 more")


def test_corrupt_or_truncated_table_is_a_clear_error(tmp_path):
    import gzip

    from zeronas.benchmarks.nb201 import _CACHE, load_nb201

    d = tmp_path / "nasbench201"
    d.mkdir()
    (d / "nb201_main.csv.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(UserError, match="unreadable"):
        load_nb201(tmp_path)
    with gzip.open(d / "nb201_main.csv.gz", "wt") as f:
        f.write("index,arch_str\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    _CACHE.clear()
    with pytest.raises(UserError, match="truncated"):
        load_nb201(tmp_path)
    with pytest.raises(UserError, match="not found"):
        load_nb201(tmp_path / "empty")


@pytest.mark.data
def test_macro_table():
    from zeronas import paths
    from zeronas.benchmarks.macro import load_macro

    if paths.find(["nasbench_macro/nas_bench_macro_cifar10.csv"]) is None:
        pytest.skip("NAS-Bench-Macro table not found: set ZERONAS_DATA to the data folder")
    t = load_macro()
    assert len(t) == 6561 and all(len(a) == 8 for a in t.arch_str)
    assert t.columns["mean_acc"].max() == pytest.approx(93.1267, abs=1e-3)


def test_progress_off_a_terminal_prints_plain_lines():
    import io

    from zeronas.correlate import _progress

    log = io.StringIO()  # not a TTY, as a log file or a batch job's output
    with _progress(3, True, every=3600, stream=log) as advance:
        for _ in range(3):
            advance()
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoring 3/3 archs,") and "ETA 0:00:00" in lines[0]
    log = io.StringIO()
    with _progress(3, True, every=0, stream=log) as advance:
        advance()
    assert log.getvalue().startswith("scoring 1/3 archs,")
    with _progress(3, False, stream=log) as advance:
        advance()
    assert log.getvalue().count("\n") == 1  # disabled: silent


# --- damaged tables, missing ground truth, NaN proxy values -----------------------------------------------------

def _nb201_text(rows=15625, extra=""):
    lines = ["index,arch_str,cifar10_test_acc,in_x" + (",params" if extra else "")]
    lines += [f"{i},arch{i},{50 + i / 1000:.3f},True" + (f",{extra}" if extra else "") for i in range(rows)]
    return lines


def _load_nb201_from(tmp_path, lines=None, raw=None):
    import gzip

    from zeronas.benchmarks.nb201 import load_nb201

    d = tmp_path / "nasbench201"
    d.mkdir(exist_ok=True)
    (d / "nb201_main.csv.gz").write_bytes(raw if raw is not None else gzip.compress("\n".join(lines).encode()))
    return load_nb201(tmp_path)


def test_a_damaged_nb201_table_names_the_row_and_column(tmp_path):
    import gzip

    table = _load_nb201_from(tmp_path, _nb201_text())  # a sound (synthetic) table loads
    assert len(table) == 15625 and table.column("cifar10_test_acc")[2] == pytest.approx(50.002)

    def refused(lines=None, raw=None, *needles):
        with pytest.raises(UserError) as err:
            _load_nb201_from(tmp_path, lines, raw)
        message = str(err.value)
        assert "\n" not in message and "nb201_main.csv.gz" in message and "intact copy" in message
        for needle in needles:
            assert needle in message, message

    whole = gzip.compress("\n".join(_nb201_text()).encode())
    refused(None, whole[: len(whole) // 2], "unreadable after row")  # cut short: gzip stream ends early
    refused(None, b"not gzip at all", "unreadable", "BadGzipFile")
    bad = _nb201_text()
    bad[0] = "idx,arch_str,cifar10_test_acc,in_x"
    refused(bad, None, "wrong header", "'index'")
    bad = _nb201_text()
    bad[101] = "100,arch100,ninety,True"
    refused(bad, None, "row 102, column 'cifar10_test_acc'", "'ninety', not a number")
    bad[101] = "100,arch100,inf,True"
    refused(bad, None, "row 102, column 'cifar10_test_acc'")
    bad[101] = "100,arch100,90.1"
    refused(bad, None, "row 102 has 3 cells, the header has 4")
    bad[101] = "100,arch100,90.1,maybe"
    refused(bad, None, "row 102, column 'in_x'", "not True or False")
    bad[101] = "100,arch7,90.1,True"
    refused(bad, None, "row 102, column 'arch_str'", "repeats the arch of row 9")
    bad = _nb201_text()
    del bad[50]
    refused(bad, None, "row 51, column 'index'", "holds '50', expected 49")
    refused(_nb201_text(rows=100), None, "truncated", "100 rows")
    refused([], None, "is empty")
    blank = _nb201_text()
    blank[11] = "10,arch10,,True"  # no result for one arch: allowed, NaN
    blank[12] = "11,arch11,nan,True"
    acc = _load_nb201_from(tmp_path, blank).column("cifar10_test_acc")
    assert np.isnan(acc[10]) and np.isnan(acc[11]) and np.isfinite(acc[12])


def test_a_damaged_macro_table_names_the_row_and_column(tmp_path):
    import itertools

    from zeronas.benchmarks.macro import load_macro

    d = tmp_path / "nasbench_macro"
    d.mkdir()
    codes = ["".join(c) for c in itertools.product("012", repeat=8)]
    good = ["arch,mean_acc,params"] + [f"{c.lstrip('0') or '0'},{80 + i / 1e4:.4f},{1000 + i}"
                                        for i, c in enumerate(codes)]

    def load(lines):
        (d / "nas_bench_macro_cifar10.csv").write_text("\n".join(lines) + "\n")
        return load_macro(tmp_path)

    table = load(good)  # leading zeros dropped by a spreadsheet come back
    assert len(table) == 6561 and table.arch_str[0] == "00000000"
    for edit, needle in ((lambda ls: ls.__setitem__(5, ls[5].split(",")[0] + ",x,1"), "row 6, column 'mean_acc'"),
                         (lambda ls: ls.__setitem__(5, "30000012,80,1"), "row 6, column 'arch'"),
                         (lambda ls: ls.__setitem__(5, ls[5].split(",")[0] + ",80"),
                          "row 6 has 2 cells, the header has 3"),
                         (lambda ls: ls.__setitem__(5, ls[4]), "row 6, column 'arch'"),
                         (lambda ls: ls.__setitem__(0, "code,mean_acc,params"), "wrong header"),
                         (lambda ls: ls.__delitem__(slice(100, None)), "truncated (99 archs")):
        lines = list(good)
        edit(lines)
        with pytest.raises(UserError, match=re.escape(needle)) as err:
            load(lines)
        assert "\n" not in str(err.value)


def test_correlation_counts_missing_truth_and_nan_values_apart():
    truth = np.array([1.0, 2.0, math.nan, 4.0, 5.0, math.nan])
    r = correlation(np.array([1.0, math.nan, 3.0, 4.0, 5.0, math.nan]), truth)
    assert (r["n"], r["dropped_nan"], r["no_truth"], r["nan_values"]) == (3, 3, 2, 1)


def test_training_states_correlations_count_archs_left_out():
    from zeronas.benchmarks.training_states import correlations

    archs = [f"a{i}" for i in range(6)]
    metrics = {"test_acc@1": {a: float(i) for i, a in enumerate(archs)}}
    target = {a: (math.nan if i == 2 else float(i)) for i, a in enumerate(archs)}
    rows = correlations({"recipe": {"epochs": 1}}, metrics, {"final": metrics["test_acc@1"], "nb201_200ep": target})
    assert rows[0]["left_out"] == {"nb201_200ep": 1} and rows[0]["n"] == 5


def _data_copy(tmp_path, blank_rows):
    """The data folder with a copy of the NB201 table whose cifar10_test_acc is blank in ``blank_rows``."""
    import csv
    import gzip
    import io

    data = tmp_path / "data"
    (data / "nasbench201").mkdir(parents=True)
    for entry in SHARED.parent.parent.iterdir():
        if entry.name != "nasbench201":
            (data / entry.name).symlink_to(entry)
    rows = list(csv.reader(io.StringIO(gzip.decompress(SHARED.read_bytes()).decode())))
    column = rows[0].index("cifar10_test_acc")
    for i in blank_rows:
        rows[i + 1][column] = ""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (data / "nasbench201" / "nb201_main.csv.gz").write_bytes(gzip.compress(out.getvalue().encode()))
    return data


@needs_table
@pytest.mark.data
def test_archs_without_ground_truth_are_counted_and_reported(tmp_path):
    import json

    from typer.testing import CliRunner

    from zeronas.cli import app
    from zeronas.correlate import correlate, write_outputs

    db = tmp_path / "z.db"
    full = correlate(proxies="params", sample=12, seed=3, store=db, workers=1)
    assert full.meta["no_ground_truth"] == 0 and not any("ground truth" in n for n in full.meta["notes"])
    data = _data_copy(tmp_path, full.meta["indices"][:3])
    res = correlate(proxies="params", sample=12, seed=3, store=db, workers=1, data_dir=data)
    assert res.meta["archs"] == 12 and res.meta["no_ground_truth"] == 3
    assert (res.rows["params"]["n"], res.rows["params"]["no_truth"], res.rows["params"]["nan_values"]) == (9, 3, 0)
    assert any(n.startswith("3 of 12 sampled archs have no ground truth (cifar10_test_acc") for n in res.meta["notes"])
    write_outputs(res, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "correlation.json").read_text())
    assert saved["meta"]["no_ground_truth"] == 3 and saved["proxies"]["params"]["no_truth"] == 3
    assert any("have no ground truth" in n for n in saved["meta"]["notes"])
    out = CliRunner().invoke(app, ["correlate", "-p", "params", "--sample", "12", "--seed", "3", "--workers", "1",
                                   "--store", str(db), "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    assert "3 of 12 sampled archs have no ground truth" in " ".join(out.output.split())


@needs_table
@pytest.mark.data
def test_nan_proxy_values_are_counted_with_the_reason(tmp_path):
    import sqlite3

    from zeronas.benchmarks.nb201 import load_nb201
    from zeronas.correlate import correlate

    db = tmp_path / "z.db"
    full = correlate(proxies="params", sample=12, seed=3, store=db, workers=1)
    archs = [load_nb201().arch_str[i] for i in full.meta["indices"][:3]]
    with sqlite3.connect(db) as con:
        con.execute("UPDATE scores SET value = NULL, status = 'nan' WHERE arch IN (?, ?)", archs[:2])
        con.execute("UPDATE scores SET value = NULL, status = 'error', error = 'RuntimeError: boom' WHERE arch = ?",
                    archs[2:])
    con.close()
    res = correlate(proxies="params", sample=12, seed=3, store=db, only_stored=True)
    row = res.rows["params"]
    assert (row["n"], row["nan_values"], row["no_truth"]) == (9, 3, 0)
    assert any(("params: 3 archs with ground truth left out of its correlation: 1 failed (e.g. RuntimeError: boom), "
                "2 scored NaN (undefined there)") in n for n in res.meta["notes"])


@needs_table
@pytest.mark.data
def test_a_damaged_or_unwritable_store_stops_correlate_before_scoring(tmp_path, monkeypatch, capsys):
    from zeronas.correlate import correlate

    from .test_store import _big, _cli, _one_line_error, _read_only, _scramble

    bad = _scramble(_big(tmp_path / "bad.db"))
    _one_line_error(*_cli(monkeypatch, capsys, "correlate", "-p", "params", "--sample", "5", "--workers", "1",
                          "--store", bad), "is damaged", str(bad))
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    c.close()
    before = other.read_bytes(), other.stat().st_mtime_ns
    _one_line_error(*_cli(monkeypatch, capsys, "correlate", "-p", "params", "--sample", "5", "--workers", "1",
                          "--store", other), "not a zeronas store")
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before
    ro = _big(tmp_path / "ro.db", rows=10)
    with _read_only(ro):
        with pytest.raises(UserError, match="cannot write to store"):
            correlate(proxies="params", sample=5, store=ro, workers=1)


def test_default_sample_is_the_whole_table_when_smaller_than_1000():
    """NB101's 500 cells and NB301's 725 genotypes: the default must run, not refuse --sample 1000."""
    from zeronas.correlate import default_sample

    assert default_sample(None, 15625, "nb201") == (1000, None)
    n, why = default_sample(None, 500, "nb101")
    assert n == "all" and "more than the 500 of the nb101 table" in why
    assert default_sample(40, 500, "nb101") == (40, None)  # an explicit sample is kept (and checked later)
    assert default_sample(None, 1000, "t") == ("all", None)  # exactly 1,000: every arch, nothing to explain


def test_spearman_interval_by_hand():
    from zeronas.benchmarks.correlation import spearman_interval

    # n = 20, rho = 0.809: z = atanh(0.809) = 1.12413, se = sqrt(1.06 / 17) = 0.24971, 1.95996 * se = 0.48942
    lo, hi = spearman_interval(0.809, 20)
    assert lo == pytest.approx(math.tanh(1.12413 - 0.48942), abs=1e-4) and hi == pytest.approx(0.92368, abs=1e-4)
    assert spearman_interval(1.0, 10) == (1.0, 1.0)
    assert all(math.isnan(v) for v in spearman_interval(0.5, 3))
    lo, hi = spearman_interval(0.5, 10_000)
    assert hi - lo < 0.04  # a large sample: a narrow interval

    from zeronas.benchmarks.correlation import interval_words

    assert interval_words(0.809, 20) == "95% interval about 0.56..0.92"  # tanh(1.12413 -+ 0.48942), as above
    assert interval_words(0.5, 3) == "no 95% interval (fewer than 4 archs)"  # was "about undefined (...)"
    assert interval_words(float("nan"), 30) == "no 95% interval (no finite rho)"


def test_scatter_of_values_spanning_many_decades_has_few_ticks(tmp_path, monkeypatch):
    """synflow-like values (10^15..10^40) used to get one overlapping label per decade; mixed signs take symlog."""
    import matplotlib.pyplot as plt

    from zeronas.benchmarks.correlation import correlation
    from zeronas.correlate import CorrelationResult, write_outputs

    truth = np.linspace(80, 94, 12)
    vals = {"synflow": 10.0 ** np.linspace(15, 40, 12),
            "grasp": np.r_[-(10.0 ** np.arange(6, 0, -1)), 10.0 ** np.arange(6)]}
    res = CorrelationResult(truth=truth, values=vals, meta={"target": "acc", "space": "nb201", "dataset": "cifar10",
                                                              "archs": 12},
                            rows={p: correlation(v, truth, 1) for p, v in vals.items()})
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    write_outputs(res, tmp_path)
    scatter = figs[0]
    for ax, scale in zip(scatter.axes, ("log", "symlog")):
        assert ax.get_xscale() == scale and 2 <= len(ax.get_xticks()) <= 8, (scale, ax.get_xticks())


def test_out_files_keep_infinite_values_so_their_rho_is_the_printed_one(tmp_path):
    """A newcomer trial: nwot = -inf on one arch (a singular kernel) is ranked last by the printed rho, but
    correlation.json wrote it as null and archs.csv as an empty cell, so the files gave another rho (0.354 on
    19 archs against 0.447 on 20). Hand case: 5 archs, nwot -inf on the worst-scoring one, NaN on none; the
    truth in the same order as the values, so rho = 1 on all 5 and the files give it back."""
    import csv
    import json

    from scipy.stats import spearmanr

    from zeronas.benchmarks.correlation import correlation
    from zeronas.correlate import CorrelationResult, write_outputs

    truth = np.array([90.0, 85.0, 70.0, 93.0, 60.0, 88.0])
    nwot = np.array([5.0, 3.0, 1.0, 7.0, -np.inf, np.nan])  # NaN: no value, left out
    res = CorrelationResult(truth=truth, values={"nwot": nwot}, archs=list("abcdef"),
                            meta={"target": "acc", "space": "nb201", "dataset": "cifar10", "archs": 6,
                                  "indices": list(range(6))},
                            rows={"nwot": correlation(nwot, truth, 1)})
    assert res.rows["nwot"]["spearman"] == pytest.approx(1.0) and res.rows["nwot"]["n"] == 5
    write_outputs(res, tmp_path)
    per = json.loads((tmp_path / "correlation.json").read_text())["per_arch"]
    assert per["values"]["nwot"] == [5.0, 3.0, 1.0, 7.0, "-inf", None]
    with open(tmp_path / "archs.csv") as f:
        rows = list(csv.reader(f))[1:]
    assert [r[3] for r in rows] == ["5.0", "3.0", "1.0", "7.0", "-inf", ""]
    v = np.array([float(r[3]) if r[3] else np.nan for r in rows])
    t = np.array([float(r[2]) for r in rows])
    ok = ~np.isnan(v)
    assert spearmanr(v[ok], t[ok])[0] == pytest.approx(res.rows["nwot"]["spearman"])


def test_data_is_another_name_for_dataset_in_the_api_and_the_cli(tmp_path):
    """score and search take --data / data=; correlate took only --dataset and refused --data."""
    from typer.testing import CliRunner

    from zeronas.cli import app
    from zeronas.correlate import correlate, one_dataset

    assert one_dataset(None, None) == "cifar10"
    assert one_dataset(None, "cifar100") == "cifar100" and one_dataset("cifar100", None) == "cifar100"
    assert one_dataset("cifar100", "CIFAR100") == "cifar100"  # the same dataset twice is fine
    with pytest.raises(UserError, match=r"dataset= 'cifar10' and data= 'cifar100' name two datasets"):
        correlate(dataset="cifar10", data="cifar100", proxies="params", sample=3, store=tmp_path / "a.db")
    with pytest.raises(UserError, match=r"unknown data= 'auto'; choose one of: cifar10, cifar100"):
        correlate(data="auto", proxies="params", sample=3, store=tmp_path / "a.db")
    assert not (tmp_path / "a.db").exists()  # refused before a store is made
    out = CliRunner().invoke(app, ["correlate", "--data", "nope", "-p", "params", "--store", str(tmp_path / "b.db")])
    assert isinstance(out.exception, UserError) and "unknown --data 'nope'" in str(out.exception)
    # a user trial: an image folder was refused as an 'unknown' dataset; it is named as what it is
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    for flag in ("--data", "--dataset"):
        out = CliRunner().invoke(app, ["correlate", flag, str(tmp_path / "imgs"), "-p", "params"])
        assert isinstance(out.exception, UserError) and f"{flag} '{tmp_path / 'imgs'}' is an image folder: correlate " \
            "ranks proxies against a benchmark's accuracies, which exist for cifar10, cifar100, imagenet16-120 " \
            f"only; score your images with 'zeronas score --data {tmp_path / 'imgs'}'" in str(out.exception), out
    out = CliRunner().invoke(app, ["correlate", "--data", "cifar10", "--dataset", "cifar100", "-p", "params",
                                   "--store", str(tmp_path / "b.db")])  # typer let the last one win, silently
    assert isinstance(out.exception, UserError) and "--dataset 'cifar100' and --data 'cifar10' name two datasets" \
        in str(out.exception)
    assert not (tmp_path / "b.db").exists()
    assert "--data" in " ".join(CliRunner().invoke(app, ["correlate", "--help"]).output.split())


@needs_table
@pytest.mark.data
def test_correlate_takes_data_like_score_and_search(tmp_path):
    from typer.testing import CliRunner

    from zeronas.cli import app
    from zeronas.correlate import correlate

    res = correlate(data="cifar100", proxies="params", sample=5, store=tmp_path / "a.db", workers=1)
    assert res.meta["dataset"] == "cifar100" and res.meta["target"].startswith("cifar100")
    out = CliRunner().invoke(app, ["correlate", "--data", "cifar100", "-p", "params", "--sample", "5", "--workers",
                                   "1", "--store", str(tmp_path / "b.db")])
    assert out.exit_code == 0 and "nb201 cifar100" in out.output, out.output


def test_the_api_verbs_show_their_signature_and_defaults_of_the_cli():
    """zeronas.search / zeronas.correlate are callable modules: help() and inspect.signature() showed the
    package and (*args, **kwargs); correlate's defaults differed from the CLI's (proxies, store, workers)."""
    import inspect

    import typer

    import zeronas as zn
    from zeronas.cli import correlate as cli_correlate

    sig = inspect.signature(zn.correlate)
    cli = {n: p.default.default if isinstance(p.default, typer.models.OptionInfo) else p.default
           for n, p in inspect.signature(cli_correlate).parameters.items()}
    for name in ("proxies", "store", "workers", "space", "seed", "batch_size", "metric", "init", "device"):
        assert sig.parameters[name].default == cli[name], name
    assert list(inspect.signature(zn.search).parameters)[:2] == ["space", "method"]
    assert zn.search.__doc__.startswith("zeronas.search(space='nb201', method='funnel'")
    assert "strategy_keywords(method)" in zn.search.__doc__ and "budget" in zn.search.strategy_keywords("rea")
    assert zn.correlate.__doc__.startswith("zeronas.correlate(space='nb201'")


@needs_table
def test_review_fixes_presets_take_their_own_values_and_long_inputs_are_cut(tmp_path):
    """A preset refuses only what differs from it ('ALL' is 'all', its score seed is its seed); a long value
    is cut in the error; correlate(out=) writes what --out writes."""
    from zeronas.correlate import correlate

    db = tmp_path / "s.db"
    with pytest.raises(UserError, match=r"^protocol='abdelfattah2021' fixes score_seed=42; drop the options"):
        correlate(proxies="params", store=db, protocol="abdelfattah2021", score_seed=7)
    with pytest.raises(UserError, match="does not exist; pass store= the path"):  # the preset took them
        correlate(proxies="params", store=db, protocol="abdelfattah2021", sample="ALL", seed=42, metric="test",
                  only_stored=True)
    with pytest.raises(UserError) as err:
        correlate(proxies="params", store=db, metric="x" * 5000)
    assert len(str(err.value)) < 300 and "... (5,000 characters)" in str(err.value)
    res = correlate(proxies="params", sample=5, store=db, out=tmp_path / "o", workers=1)
    assert [p.rsplit("/", 1)[1] for p in res.meta["written"]] == ["correlation.json", "correlation.csv",
                                                                  "scatter.png", "rho.png", "archs.csv"]
    assert all((tmp_path / "o" / f).exists() for f in ("correlation.json", "rho.png"))


@needs_table
def test_ms_per_arch_counts_the_archs_analysed_only(tmp_path):
    """ms_per_arch averaged every stored score of the protocol: another sample's scores in the same store moved
    it, so a rerun of the reproduction page printed other timings for the same archs."""
    from zeronas.correlate import correlate

    db = tmp_path / "z.db"
    first = correlate(proxies="params", sample=8, seed=3, store=db)
    con = sqlite3.connect(db)
    mine = [c for (c,) in con.execute("SELECT canonical FROM scores")]
    correlate(proxies="params", sample=20, seed=3, store=db)  # the same protocol, more archs
    marks = ",".join("?" * len(mine))
    changed = con.execute(f"UPDATE scores SET seconds = 1000 WHERE canonical NOT IN ({marks})", mine).rowcount
    con.commit()
    con.close()
    assert changed > 0  # the larger sample stored archs of its own, 1000 s each now
    again = correlate(proxies="params", sample=8, seed=3, store=db, only_stored=True)
    assert again.rows["params"]["ms_per_arch"] == first.rows["params"]["ms_per_arch"] < 1000


@needs_table
def test_correlate_takes_proxy_options_into_the_protocol_and_the_store_keys(tmp_path):
    """correlate had no --set: a proxy could only be correlated at its defaults. Options now reach the scorer,
    are recorded in each proxy's protocol, and other options are other store keys (scored afresh)."""
    from typer.testing import CliRunner

    from zeronas import correlate
    from zeronas.cli import app

    store = tmp_path / "s.db"
    small = correlate(proxies="meco", sample=5, store=store, workers=1, options={"meco": {"input_size": 8}})
    assert small.meta["protocols"]["meco"]["options"] == {"input_size": 8} and small.meta["scored_now"] == 5
    default = correlate(proxies="meco", sample=5, store=store, workers=1)
    assert default.meta["protocols"]["meco"]["options"] == {"input_size": 64} and default.meta["scored_now"] == 5
    again = CliRunner().invoke(app, ["correlate", "-p", "meco", "--sample", "5", "--store", str(store), "--workers",
                                     "1", "--set", "meco.input_size=8"])
    assert again.exit_code == 0 and "scored now: 0" in " ".join(again.output.split()), again.output


def test_a_larger_sample_holds_every_arch_of_a_smaller_one():
    """NB201 --sample 12 then --sample 20 on one store reused 1 of the 12 scores: numpy draws small samples of a
    large table another way, so they were not nested (newcomer trials, twice). Samples of one seed are now
    nested at every size; sizes above a 50th of the table keep numpy's own draw (the committed reports')."""
    import numpy as np

    from zeronas.correlate import sample_indices

    for seed in (0, 1, 7):
        sets = [set(sample_indices(15625, n, seed)) for n in (3, 12, 20, 312, 313, 1000, 15625)]
        assert all(a <= b for a, b in zip(sets, sets[1:])), seed
        assert [len(x) for x in sets] == [3, 12, 20, 312, 313, 1000, 15625]
        assert (sample_indices(15625, 1000, seed) == np.sort(np.random.default_rng(seed).choice(15625, 1000,
                                                                                               replace=False))).all()
    assert (sample_indices(6561, 30, 0) == np.sort(np.random.default_rng(0).choice(6561, 30, replace=False))).all()


def test_protocol_difference_names_an_absent_layout_by_its_default():
    from zeronas.correlate import protocol_difference

    assert protocol_difference({"memory_format": "channels-last", "seed": 0}, {"seed": 0}) == \
        "memory_format channels-last here, contiguous there (--memory-format)"
    assert protocol_difference({"a": 1}, {}) == "a 1 here, (none) there"
    # channels-last keys a thread count other than 1: its absence there is one thread, in NCHW no key at all
    cl = {"memory_format": "channels-last"}
    assert protocol_difference(cl, {**cl, "threads": 2}) == "threads 1 here, 2 there (--threads, --workers)"
    assert protocol_difference({}, {**cl, "threads": 2}).endswith(
        "threads (not keyed in NCHW) here, 2 there (--threads, --workers)")


def test_eta_weighs_later_groups_by_their_calibrated_cost():
    """Cheap groups run first, so an ETA from the count of archs left at the rate so far was half the real
    time of the whole-space run (nwot,meco for 9,159 strings first, then all five proxies for 6,466 classes at
    3x the cost per arch). Hand case: group A 10 units of weight 1 (calibrated 1 s per weight), group B 5
    units of weight 2 (3 s per weight). A shows 5 weight in 10 s (0.5 per s): A's 5 left take 10 s; B's 10
    weight at 0.5 per s scaled by 3/1 take 60 s."""
    from zeronas.correlate import _Eta

    now = [0.0]
    eta = _Eta([([1.0] * 10, 1.0), ([2.0] * 5, 3.0)], clock=lambda: now[0])
    assert eta.left() is None  # nothing measured yet
    eta.start(0)
    for _ in range(5):
        now[0] += 2.0
        eta.done(0, 1.0)
    assert eta.left() == pytest.approx(10 + 60)
    for _ in range(5):
        now[0] += 2.0
        eta.done(0, 1.0)
    eta.start(1)  # before B shows its own rate: A's rate scaled by the calibrations
    assert eta.left() == pytest.approx(60)
    now[0] += 4.0
    eta.done(1, 2.0)  # B's own rate now: 0.5 weight per s, 8 weight left
    assert eta.left() == pytest.approx(16)
    settled = _Eta([([1.0] * 10, 1.0), ([2.0] * 5, 3.0)], clock=lambda: now[0], settle=2)
    settled.start(0)
    for _ in range(10):
        now[0] += 2.0
        settled.done(0, 1.0)  # A: 0.5 weight per s
    settled.start(1)
    now[0] += 10.0  # B's first unit took long (its workers started): not yet its rate
    settled.done(1, 2.0)
    assert settled.left() == pytest.approx(8 * 3 / 0.5)
    now[0] += 2.0
    settled.done(1, 2.0)  # settled: 4 weight in 12 s
    assert settled.left() == pytest.approx(6 * 3)
    plain = _Eta([([1.0] * 4, None), ([1.0] * 4, None)], clock=lambda: now[0])
    plain.start(0)
    now[0] += 1.0
    plain.done(0, 1.0)  # no calibrations: weight left at the rate shown
    assert plain.left() == pytest.approx(7)


def test_progress_lines_use_the_callers_eta():
    import io

    from zeronas.correlate import _progress

    log = io.StringIO()
    with _progress(4, True, every=0, stream=log) as advance:
        advance.eta = lambda: 3725.0
        advance()
        advance.eta = lambda: None  # not known yet
        advance()
    lines = log.getvalue().splitlines()
    assert lines[0].endswith("ETA 1:02:05") and lines[1].endswith("ETA ?")


def test_calibration_stores_the_same_records_as_the_pool(tmp_path, monkeypatch):
    """With progress shown and several proxy sets, correlate scores the first archs of each set through that
    set's executor to time them for the ETA; the records must equal those of a run without calibration (and
    of one in this process)."""
    import io
    import sys

    import zeronas.correlate as corr
    from zeronas.scoring import Scorer
    from zeronas.spaces import space
    from zeronas.store import Store

    monkeypatch.setattr(corr, "CALIBRATE_MIN", 0)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    sp = space("nb201")
    archs = [sp.sample(i) for i in range(8)]
    todo = [(a, ["synflow", "zen"] if i % 2 else ["synflow"]) for i, a in enumerate(archs)]
    kw = dict(space="nb201", proxies=["synflow", "zen"], batch_size=8, seed=3)
    rows = {}
    for name, progress, workers in (("shown", True, 2), ("quiet", False, 2), ("one", True, 1)):
        db = Store(tmp_path / f"{name}.db")
        scorer = Scorer(**kw)
        n = corr._run([(a, list(m)) for a, m in todo], kw, workers, db, progress, scorer=scorer,
                      weigh=corr._cost_weight(sp))
        assert n == 8
        db.close()
        con = sqlite3.connect(tmp_path / f"{name}.db")
        rows[name] = sorted(con.execute("select canonical, proxy, value from scores"))
        con.close()
    assert len(rows["shown"]) == 12 and rows["shown"] == rows["quiet"]
    assert len(rows["one"]) == 12  # in-process: calibrated at this process's own thread count
    assert "ETA" in sys.stderr.getvalue()


def test_calibration_takes_the_median_of_the_records_own_seconds_per_weight():
    """Hand case: a pool of 2 workers gets 2 * 2 + 1 = 5 calibration units; each worker's first unit paid a
    one-time set-up (10 s, 12 s for weight 1 and 2); the other three took 1 s per unit of weight. The median
    per weight is 1.0, where a mean would say 4.4. Records are stored and counted as they come."""
    from types import SimpleNamespace

    from zeronas.correlate import _calibrate, _settle

    secs = {"a": 10.0, "b": 24.0, "c": 1.0, "d": 3.0, "e": 2.0, "f": 99.0}
    weights = [1.0, 2.0, 1.0, 3.0, 2.0, 1.0]

    class Pool:
        workers = 2
        asked: list = []

        def map(self, archs):
            self.asked.extend(archs)
            for a in reversed(archs):  # completion order is not submission order: weights are found by arch
                yield [SimpleNamespace(arch=a, seconds=secs[a] / 2), SimpleNamespace(arch=a, seconds=secs[a] / 2)]

    stored, steps = [], []
    pool = Pool()
    n, per = _calibrate(pool, list("abcdef"), weights, lambda a: a, SimpleNamespace(put=stored.append),
                        lambda: steps.append(1))
    assert (n, per) == (5, 1.0) and pool.asked == list("abcde") and len(stored) == len(steps) == 5
    assert _settle(pool) == 4 and _settle(SimpleNamespace()) == 1  # in flight before a rate means anything


def test_each_proxy_set_runs_on_its_own_executor_after_calibration(monkeypatch):
    """A review found it: the first set's executor, kept open from its calibration, went on to score the next
    set when calibration had used up the first set (2 units, at most 2W+1 = 5 calibrated), so the next set's
    extra proxy was never computed. Each set must be scored by an executor made for exactly its proxies, and
    every executor closed once."""
    import io
    import sys
    from types import SimpleNamespace

    import zeronas.correlate as corr

    made = []

    class Fake:
        workers = 2

        def __init__(self, kw):
            self.proxies, self.closed = tuple(kw["proxies"]), 0
            made.append(self)

        def map(self, archs):
            for a in archs:
                yield [SimpleNamespace(arch=a, proxy=p, seconds=0.01) for p in self.proxies]

        def close(self):
            self.closed += 1

    monkeypatch.setattr(corr, "CALIBRATE_MIN", 0)
    monkeypatch.setattr(corr, "make_executor", lambda kw, *a: Fake(kw))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    stored = []
    todo = [(f"x{i}", ["a"]) for i in range(2)] + [(f"y{i}", ["a", "b"]) for i in range(30)]
    assert corr._run(todo, {}, 2, SimpleNamespace(put=stored.extend), True) == 32
    got = {(r.arch, r.proxy) for r in stored}
    assert got == {(a, p) for a, m in todo for p in m} and len(stored) == len(got)  # each once, none missing
    assert all(f.closed == 1 for f in made)


def test_a_worker_killed_while_calibrating_is_reported_as_in_the_run(tmp_path, monkeypatch):
    """Calibration used to score in the driver, so the out-of-memory killer took the driver itself and no
    message was left. It now runs through the pool: the driver says how the worker died, keeps what was
    stored, and the rerun resumes."""
    import io
    import multiprocessing
    import signal
    import sys

    import zeronas.correlate as corr
    from zeronas.errors import UserError
    from zeronas.scoring import Scorer
    from zeronas.spaces import space
    from zeronas.store import Store

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the patched scorer reaches the workers only when they are forked")
    monkeypatch.setattr(corr, "CALIBRATE_MIN", 0)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    sp = space("nb201")
    archs = [sp.format(sp.sample(i)) for i in range(6)]
    driver, original = os.getpid(), Scorer.score_arch
    victim = archs[5]  # in the set calibrated first (the dearer one, synflow + zen)

    def score_arch(self, arch, *a, **k):
        if os.getpid() != driver and self.space.format(self.space.coerce(arch)) == victim:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, arch, *a, **k)

    monkeypatch.setattr(Scorer, "score_arch", score_arch)  # forked workers inherit it
    todo = [(a, ["synflow", "zen"] if i % 2 else ["synflow"]) for i, a in enumerate(archs)]
    kw = dict(space="nb201", proxies=["synflow", "zen"], batch_size=8, seed=3)
    db = Store(tmp_path / "s.db")
    with pytest.raises(UserError, match=r"worker process died \(killed by SIGKILL"):
        corr._run(todo, kw, 2, db, True, scorer=Scorer(**kw))
    db.close()
    monkeypatch.setattr(Scorer, "score_arch", original)
    con = sqlite3.connect(tmp_path / "s.db")
    kept = {(a, p) for a, p in con.execute("select arch, proxy from scores")}
    con.close()
    assert (victim, "zen") not in kept
    rest = [(a, [p for p in m if (a, p) not in kept]) for a, m in todo]
    db = Store(tmp_path / "s.db")
    corr._run([(a, m) for a, m in rest if m], kw, 2, db, True, scorer=Scorer(**kw))  # the rerun
    db.close()
    con = sqlite3.connect(tmp_path / "s.db")
    assert sorted(con.execute("select arch, proxy from scores")) == sorted((a, p) for a, m in todo for p in m)
    con.close()


def test_calibration_runs_at_the_executors_thread_count(monkeypatch):

    import zeronas.run as run

    cores = usable_cores()
    assert run.make_executor_threads({}, 1) is None  # scored in this process, at its own thread count
    assert run.make_executor_threads({}, 0) == 1  # one process per core
    assert run.make_executor_threads({}, 2) == max(1, cores // 2)
    monkeypatch.setattr(run, "_on_gpu", lambda kw: True)
    assert run.make_executor_threads({}, 0) is None  # one process drives the GPU


def test_eta_weight_is_flops_plus_the_median_count_of_the_space():
    """An arch's cost for the ETA is NB201's closed-form FLOP count plus a constant, the median count over the
    space: 51,996,352 (the cost every arch pays whatever its FLOPs; benchmarks/eta_replay.py). So the all-none
    cell weighs its 7,943,872 FLOPs (stem, stage transitions, head) + the median, and the all-3x3 cell,
    222,860,992 FLOPs, weighs 4.6x as much, not the 28x of its FLOPs. Other spaces: 1 per arch."""
    import zeronas.correlate as corr
    from zeronas import space

    sp = space("nb201")
    weigh = corr._cost_weight(sp)
    none = sp.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    conv = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert sp.count_flops(none) == 7_943_872 and sp.count_flops(conv) == 222_860_992
    assert weigh(none) == 7_943_872 + 51_996_352
    assert weigh(conv) == 222_860_992 + 51_996_352
    assert round(weigh(conv) / weigh(none), 1) == 4.6
    assert corr._cost_weight(space("macro"))("01220012") == 1.0


def test_scatter_draws_infinite_values_at_the_edge_and_no_negative_tick_for_nonnegative_values(tmp_path,
                                                                                             monkeypatch):
    """A newcomer trial: nwot = -inf on one arch (10% accuracy) counted in the panel's rho but was not drawn
    (the panel's y axis started at 70); and synflow with one value exactly 0 got a symlog axis whose margin
    below 0 drew "-10^6" over "10^6". Now the -inf arch is a red x at the left edge, counted in the title, and
    a panel of non-negative values starts at 0."""
    import matplotlib.pyplot as plt

    from zeronas.benchmarks.correlation import correlation
    from zeronas.correlate import CorrelationResult, write_outputs

    truth = np.r_[10.0, np.linspace(80, 94, 11)]
    vals = {"nwot": np.r_[-np.inf, np.linspace(500, 600, 11)], "synflow": np.r_[0.0, 10.0 ** np.linspace(6, 40, 11)]}
    res = CorrelationResult(truth=truth, values=vals, meta={"target": "acc", "space": "nb201", "dataset": "cifar10",
                                                              "archs": 12},
                            rows={p: correlation(v, truth, 1) for p, v in vals.items()})
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    write_outputs(res, tmp_path)
    nwot, synflow = figs[0].axes[:2]
    assert "1 at +-inf, drawn at the edge" in nwot.get_title()
    drawn = np.concatenate([c.get_offsets() for c in nwot.collections])
    left = nwot.get_xlim()[0]
    assert [tuple(p) for p in drawn if p[1] == 10.0] == [(left, 10.0)]  # the -inf arch, at the left edge
    assert len(drawn) == 12 and left <= 500
    assert synflow.get_xscale() == "symlog" and synflow.get_xlim()[0] == 0
    assert min(synflow.get_xticks()) >= 0 and "inf" not in synflow.get_title()


@needs_table
def test_a_batch_size_no_proxy_reads_is_said_in_the_notes(tmp_path):
    """correlate(batch_size=) where neither a proxy nor an ensemble's member reads a batch: a note (in the
    API's words, as its errors), the same values as without it; where a member reads it, no note."""
    from zeronas import correlate

    kw = dict(space="nb201", sample=3, seed=0, store=str(tmp_path / "s.db"), workers=1)
    given = correlate(proxies="synflow,ensemble:params+synflow", batch_size=8, **kw)
    assert [n for n in given.meta["notes"] if "changes no value" in n] == [
        "batch_size=8 changes no value here: it sets the images per batch of proxies on real images and the "
        "noise batch of zen and AZ-NAS, and synflow, params read no such batch"]
    plain = correlate(proxies="synflow,ensemble:params+synflow", **kw)
    assert not any("changes no value" in n for n in plain.meta["notes"])
    assert plain.meta["scored_now"] == 0  # the same keys: nothing scored again
    zen = correlate(proxies="synflow,ensemble:params+zen", batch_size=8, **kw)
    assert not any("changes no value" in n for n in zen.meta["notes"])


@needs_table
def test_a_sample_given_as_text_or_a_whole_float_is_recorded_as_its_count(tmp_path):
    """A Python user's trial: sample=10.0 and " 10 " ran and were echoed as given into meta (the CLI's "10");
    10.5 was cut to 10 without a word."""
    from zeronas import correlate

    for given in (10.0, " 10 ", "10"):
        assert correlate(proxies="params", sample=given, store=str(tmp_path / "s.db")).meta["sample"] == 10
    with pytest.raises(UserError, match="10.5"):
        correlate(proxies="params", sample=10.5, store=str(tmp_path / "s.db"))


def test_rho_plot_labels_wrap_between_members_never_inside_a_name():
    """A correctness audit: rho.png cut long proxy names (ensembles, a plug-in's path) under rotated bars."""
    from zeronas.correlate import _wrapped

    assert _wrapped("params") == "params"
    assert _wrapped("ensemble:params+synflow+flops+l2_norm+jacob_cov+nwot (lower better)") == \
        "ensemble:params+synflow+flops+\nl2_norm+jacob_cov+nwot (lower\nbetter)"
    assert all(len(line) <= 36 for line in _wrapped("a+" * 40).split("\n"))
