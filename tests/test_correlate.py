import math

import numpy as np
import pytest

from zeronas.benchmarks.correlation import correlation, rank_ensemble, top_k_overlap
from zeronas.correlate import parse_proxies
from zeronas.errors import UserError

from .conftest import needs_cifar, needs_table


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


@needs_table
@needs_cifar
@pytest.mark.data
def test_correlate_resumes_and_validates(tmp_path):
    from zeronas.correlate import correlate
    from zeronas.store import Store

    db = tmp_path / "z.db"
    with pytest.raises(UserError, match="only-stored"):
        correlate(proxies="params,synflow", sample=12, seed=3, store=db, only_stored=True)
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
    for bad in (dict(sample=20000), dict(dataset="mnist", sample=5), dict(sample=5, protocol="nope")):
        with pytest.raises(UserError) as err:
            correlate(proxies="params", store=db, **bad)
        assert "\n" not in str(err.value), bad
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
    assert "first in the seeded scoring order" in part.meta["notes"][-1] and "7 more archs" in part.meta["notes"][-1]


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
