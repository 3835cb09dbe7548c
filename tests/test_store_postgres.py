"""The results store on a real PostgreSQL server: a throwaway cluster started from the machine's PostgreSQL
binaries. Skips, with the reason, where those binaries or the psycopg driver are missing."""

import glob
import math
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zeronas.cli import app
from zeronas.errors import UserError
from zeronas.store import Store

from .test_store import _write_overlapping, rec

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed: pip install 'zeronas[postgres]'")


def _pg_bin(name):
    """On PATH, else the newest Debian-style /usr/lib/postgresql/<version>/bin."""
    installed = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return shutil.which(name) or (installed[-1] if installed else None)


@pytest.fixture(scope="module")
def server():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    run_as = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to start PostgreSQL as")
        run_as = ["runuser", "-u", "postgres", "--"]
    # not under pytest's tmp folder: the server's user must be able to reach it
    root = Path(tempfile.mkdtemp(prefix="zeronas-pg-"))
    os.chmod(root, 0o777)
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for step in ([initdb, "-D", str(data), "-A", "trust", "-U", "zeronas"],
                 [pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                  f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"]):
        done = subprocess.run([*run_as, *step], capture_output=True, text=True)
        if done.returncode:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip(f"could not start a PostgreSQL server: {(done.stderr or done.stdout).strip()[-200:]}")
    try:
        yield port
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def url(server):
    """A fresh database on the server for each test."""
    name = "z" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"host=127.0.0.1 port={server} user=zeronas dbname=postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://zeronas@127.0.0.1:{server}/{name}"


def test_put_values_and_nonfinite_round_trip(url):
    db = Store(url)
    assert db.put([rec("a", "nwot", 1.5), rec("a", "synflow", math.nan)]) == 2
    assert db.put([rec("a", "nwot", 9.9)]) == 0
    db.put([rec("b", "nwot", -math.inf), rec("c", "nwot", math.inf)])
    assert db.values("nb201", "nwot", "h1") == {"a": 1.5, "b": -math.inf, "c": math.inf}
    assert math.isnan(db.values("nb201", "synflow", "h1")["a"])
    assert db.count() == 4 and db.integrity().startswith("not checked")
    db.close()
    assert Store(url, create=False).count() == 4


def test_concurrent_writers_on_a_server_write_each_key_once(url):
    Store(url).close()
    with mp.get_context("spawn").Pool(2) as pool:
        new = pool.starmap(_write_overlapping, [(url, 0), (url, 1)])
    db = Store(url)
    assert sum(new) == 120 and db.count() == 120
    assert db.values("nb201", "snip", "h1") == {str(k): -float(k) for k in range(60)}


def test_a_server_database_that_is_not_a_store_is_refused(url, server):
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={server} user=zeronas dbname={name}", autocommit=True) as c:
        c.execute("CREATE TABLE t (x int)")
    with pytest.raises(UserError, match="not a zeronas store"):
        Store(url)


def test_report_reads_a_server_store_and_a_missing_database_is_one_line(url, server):
    db = Store(url)
    db.put([rec("a", "nwot", 1.0), rec("b", "nwot", 2.0)])
    db.close()
    res = CliRunner().invoke(app, ["report", "--store", url])
    assert res.exit_code == 0 and "nwot" in res.output
    res = CliRunner().invoke(app, ["report", "--store", url.rsplit("/", 1)[0] + "/nosuchdb"])
    message = str(res.exception)
    assert isinstance(res.exception, UserError) and len(message.splitlines()) == 1
    assert 'database "nosuchdb" does not exist' in message and "create the database" in message
