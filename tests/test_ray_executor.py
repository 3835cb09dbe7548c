"""``--executor ray`` on a simulated two-node Ray cluster (``ray.cluster_utils.Cluster``) on this machine: records
identical to the local executor's at equal threads, a worker killed mid-run loses and duplicates nothing, a
resumed run scores only what the store lacks. The option checks run without ray."""

import dataclasses
import functools
import os
import shutil
import signal
import sqlite3
import sys
import tempfile

import numpy as np
import pytest

from zeronas.cli import main
from zeronas.data import ImageSet
from zeronas.errors import UserError
from zeronas.ray_executor import NEEDS_RAY, _reachable, check_address, check_executor
from zeronas.run import InProcessExecutor, make_executor
from zeronas.store import Store

from .conftest import needs_table

ARCHS = ["|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
         "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
         "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
         "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|"]
PROXIES = ["params", "synflow", "nwot"]


def _images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=64).astype(np.int64)
    return ImageSet("cifar10", "train", x, y, "synthetic", "random")


KWARGS = dict(space="nb201", proxies=PROXIES, images=_images(), batch_size=16)


def _killer_hook(trigger: str, marker: str):
    """A Ray worker setup hook: the first worker asked to score the arch named in ``trigger`` (when that file
    exists) SIGKILLs itself, once (``marker`` records its pid)."""

    def hook():
        from zeronas.scoring import Scorer

        original = Scorer.score_arch

        def score_arch(self, arch, *args, **kwargs):
            if os.path.exists(trigger):
                with open(trigger) as f:
                    target = f.read().strip()
                if self.space.format(self.space.coerce(arch)) == target:
                    try:
                        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    except FileExistsError:
                        pass
                    else:
                        os.write(fd, str(os.getpid()).encode())
                        os.close(fd)
                        os.kill(os.getpid(), signal.SIGKILL)
            return original(self, arch, *args, **kwargs)

        Scorer.score_arch = score_arch

    return hook


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'zeronas[ray]' (CI installs it)")
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook reaches the workers by value
    d = tmp_path_factory.mktemp("ray")
    trigger, marker = str(d / "kill-arch"), str(d / "killed-pid")
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)  # a second node: units run on both
    try:
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False,
                 runtime_env={"worker_process_setup_hook": _killer_hook(trigger, marker)})
        yield {"trigger": trigger, "marker": marker}
    finally:
        ray.shutdown()
        c.shutdown()


def _by_key(records) -> dict:
    return {(r.arch, r.proxy): (r.value, r.protocol_hash, r.canonical) for r in records}


@functools.cache
def _local() -> dict:
    ex = InProcessExecutor(KWARGS, threads=1)  # identical means: at equal thread counts
    return _by_key(r for recs in ex.map(ARCHS) for r in recs)


@pytest.mark.slow  # a simulated cluster starts in ~10 s, and its workers import torch
def test_ray_records_are_the_local_executors_bit_for_bit(cluster):
    import ray

    from zeronas.ray_executor import RayExecutor

    ex = make_executor(KWARGS, workers=0, executor="ray")
    assert isinstance(ex, RayExecutor) and ex.threads == 1 and ex.workers == 2  # two nodes, one CPU each
    try:
        got = [recs for recs in ex.map(ARCHS, ordered=True)]
    finally:
        ex.close()
    assert [recs[0].arch for recs in got] == ARCHS  # ordered: input order
    foreign = dataclasses.replace(got[0][1], protocol={**got[0][1].protocol, "torch": "1.0.0"}, protocol_hash="x")
    with pytest.raises(UserError, match=r"another protocol than this machine \(torch: '1.0.0' there"):
        ex._check([foreign])  # a node with another torch would store under keys a resumed run never finds
    remote = _by_key(r for recs in got for r in recs)
    assert len(remote) == len(ARCHS) * len(PROXIES)
    assert remote == _local()  # values (==, so bit for bit), protocol hashes and store keys
    assert all(np.isfinite(v) for v, _, _ in remote.values())
    assert len({n["NodeID"] for n in ray.nodes() if n["Alive"]}) == 2


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    with open(cluster["trigger"], "w") as f:
        f.write(ARCHS[3])
    db = Store(tmp_path / "z.db")
    ex = make_executor(KWARGS, workers=0, executor="ray")
    yielded = []
    try:
        for records in ex.map(ARCHS):
            db.put(records)
            yielded.append(records[0].arch)
    finally:
        ex.close()
        os.remove(cluster["trigger"])
    killed = open(cluster["marker"]).read()
    assert killed.isdigit() and int(killed) != os.getpid()  # a worker process did die scoring ARCHS[3]
    assert sorted(yielded) == sorted(ARCHS)  # the killed unit came back once, retried; no other twice
    local = _local()
    stored = {}
    for p in PROXIES:
        h = next(v[1] for (a, q), v in local.items() if q == p)
        scored = db.scored("nb201", p, h)
        assert len(scored) == len(ARCHS)
        stored.update({(arch, p): (value, h, key) for key, (arch, value, _) in scored.items()})
    with sqlite3.connect(tmp_path / "z.db") as con:
        assert con.execute("select count(*) from scores").fetchone()[0] == len(ARCHS) * len(PROXIES)
        assert con.execute("select count(*) from (select distinct space, canonical, proxy, protocol_hash "
                           "from scores)").fetchone()[0] == len(ARCHS) * len(PROXIES)
    db.close()
    assert stored == local


@pytest.mark.slow
@needs_table
def test_correlate_on_ray_resumes_from_the_store(cluster, tmp_path):
    from zeronas.correlate import correlate

    args = dict(proxies="params,synflow", sample=6, seed=3)
    local_db, ray_db = tmp_path / "local.db", tmp_path / "ray.db"
    local = correlate(**args, store=local_db, workers=0)  # the process pool: 1 thread per worker, as on Ray
    assert local.meta["scored_now"] == 6
    shutil.copy(local_db, ray_db)
    with sqlite3.connect(ray_db) as con:  # keep 2 archs' scores, drop the other 4 archs'
        kept = [r[0] for r in con.execute("select distinct arch from scores order by arch limit 2")]
        con.execute(f"delete from scores where arch not in ({','.join('?' * len(kept))})", kept)
        before = con.execute("select arch, proxy, value, created from scores order by arch, proxy").fetchall()
    assert len(before) == 2 * 2
    resumed = correlate(**args, store=ray_db, workers=0, executor="ray")
    assert resumed.meta["scored_now"] == 4 and resumed.meta["executor"] == "ray"  # only what the store lacked
    with sqlite3.connect(ray_db) as con:
        after = con.execute("select arch, proxy, value, created from scores order by arch, proxy").fetchall()
    assert [r for r in after if r[0] in kept] == before  # the stored rows were not rewritten
    assert len(after) == 6 * 2
    for p in ("params", "synflow"):
        assert np.array_equal(resumed.values[p], local.values[p])  # equal threads: bit-identical
    assert resumed.rows["synflow"]["protocol_hash"] == local.rows["synflow"]["protocol_hash"]


@pytest.mark.slow
def test_ray_runs_calibrate_the_eta_through_the_cluster(cluster, tmp_path, monkeypatch):
    """With progress shown and two proxy sets, the first units of each set are timed through the executor
    the set runs on: on Ray too (the ETA was uncalibrated there). Every record stays the local one."""
    import io

    import zeronas.correlate as corr
    from zeronas.scoring import Scorer
    from zeronas.store import Store

    monkeypatch.setattr(corr, "CALIBRATE_MIN", 0)
    timed = []
    calibrate = corr._calibrate
    monkeypatch.setattr(corr, "_calibrate", lambda backend, *a: timed.append(type(backend).__name__)
                        or calibrate(backend, *a))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    todo = [(a, PROXIES if i % 2 else PROXIES[:1]) for i, a in enumerate(ARCHS)]
    db = Store(tmp_path / "ray.db")
    assert corr._run(todo, KWARGS, 0, db, True, executor="ray", scorer=Scorer(**KWARGS)) == len(ARCHS)
    db.close()
    assert timed == ["RayExecutor", "RayExecutor"] and "ETA" in sys.stderr.getvalue()
    with sqlite3.connect(tmp_path / "ray.db") as con:
        got = {(a, p): v for a, p, v in con.execute("select arch, proxy, value from scores")}
    local = _local()
    assert got == {(a, p): local[(a, p)][0] for a, m in todo for p in m}


@pytest.mark.slow
def test_score_cli_on_ray_prints_the_local_table(cluster, capsys, monkeypatch):
    from zeronas import cli

    # wide enough that no cell is cut: the ms column's width varies between runs and would move the cuts
    monkeypatch.setattr(cli.console, "width", 400)
    argv = ["score", "-a", ARCHS[0], "-a", ARCHS[1], "-p", "params,synflow", "--data", "none", "--threads", "1"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0, capsys.readouterr().err
    local = capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--executor", "ray"])
    assert exc.value.code == 0
    remote = capsys.readouterr().out

    def cells(text):  # arch, proxy, value of each row (ms differ)
        return [line.split("│")[1:4] for line in text.splitlines() if line.count("│") > 4]

    assert cells(remote) == cells(local)
    assert [c[1].strip() for c in cells(local) if c[1].strip()] == ["params", "synflow"] * 2


@pytest.mark.slow
def test_units_no_node_can_hold_are_refused_not_left_waiting(cluster):
    """Each unit asks one node for --threads CPUs (and a GPU on CUDA); the cluster's nodes have 1 CPU each and
    no GPU, so --threads 2 or --device cuda would wait forever (a newcomer's trial): one line instead."""
    from zeronas.ray_executor import RayExecutor

    with pytest.raises(UserError, match=r"^--threads 2 asks each unit for 2 CPUs, but the largest Ray node has 1; "
                                        r"use --threads 1 or less$"):
        RayExecutor(KWARGS, threads=2)
    import ray

    from zeronas.ray_executor import _check_fits

    _check_fits(ray, 1, gpu=False)
    with pytest.raises(UserError, match="^--device cuda asks each unit for a GPU, but no Ray node has one"):
        _check_fits(ray, 1, gpu=True)  # (RayExecutor refuses cuda earlier here: this driver has no GPU either)


@pytest.mark.slow
def test_the_python_score_call_takes_the_executor_too(cluster):
    """zeronas.score(..., executor="ray") as the CLI's --executor ray (the API lacked it: a newcomer's trial)."""
    import zeronas as zn

    archs = ARCHS[:2]
    kwargs = dict(proxies="params,synflow", data="none", threads=1)
    local, remote = zn.score(archs, **kwargs), zn.score(archs, **kwargs, executor="ray")
    assert [(r.arch, r.proxy, r.value, r.protocol_hash) for r in remote] == \
        [(r.arch, r.proxy, r.value, r.protocol_hash) for r in local]
    with tempfile.TemporaryDirectory() as d:  # through a store: written by the cluster's units, read back
        stored = zn.score(archs, **kwargs, executor="ray", store=f"{d}/s.db")
        assert Store(f"{d}/s.db").count() == len(local)
    assert [(r.arch, r.proxy, r.value, r.protocol_hash) for r in stored] == \
        [(r.arch, r.proxy, r.value, r.protocol_hash) for r in local]
    with pytest.raises(UserError, match="executor='ray' scores architectures of a space"):
        zn.score(torch_module(), proxies="params", executor="ray")


def torch_module():
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(10))


def test_executor_options_are_checked_at_the_edge(monkeypatch, capsys):
    with pytest.raises(UserError, match="unknown executor= 'dask'"):
        check_executor("dask", None, cli=False)
    with pytest.raises(UserError, match=r"--ray-address applies to --executor ray"):
        check_executor("local", "auto")
    for argv in (["correlate", "--ray-address", "auto"], ["correlate", "--executor", "spark"],
                 ["score", "-a", ARCHS[0], "--ray-address", "nohostport", "--executor", "ray"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("error:"), (argv, err)
    for good in ("auto", "10.0.0.5:6379", "ray://head.example.org:10001"):
        check_address("--ray-address", good)
    with pytest.raises(UserError, match=r"cannot reach the Ray cluster at '127.0.0.1:1' \(Connection refused"):
        _reachable("127.0.0.1:1")  # named at once: ray.init would retry for minutes
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(SystemExit) as exc:
        main(["correlate", "--executor", "ray", "--sample", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err == [f"error: {NEEDS_RAY}"]
    with pytest.raises(UserError, match="needs ray"):
        make_executor(KWARGS, executor="ray")


def test_connecting_keeps_the_cli_s_sigterm_handler(monkeypatch):
    """ray.init replaces the Python SIGTERM handler with its own, so a SIGTERM mid-run printed Ray's crash dump
    instead of zeronas's one-line 'terminated' message (a newcomer's trial): the handler is put back."""
    import types

    import zeronas.ray_executor as rx

    def ray_init(**_):
        signal.signal(signal.SIGTERM, lambda *a: None)  # as ray.init does

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=ray_init)
    monkeypatch.setattr(rx, "require_ray", lambda: fake)
    monkeypatch.setattr(rx, "_LOCAL_INSTANCE", rx._LOCAL_INSTANCE)  # connect() sets it: restored afterwards

    def ours(*_):
        pass

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        rx.connect()
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


@needs_table
def test_an_unreachable_cluster_leaves_no_store_behind(monkeypatch, capsys, tmp_path):
    """correlate connects to Ray before it makes the store: a refused connection used to leave an empty
    store file (a newcomer's trial)."""
    import types

    import zeronas.ray_executor as rx

    monkeypatch.setattr(rx, "require_ray", lambda: types.SimpleNamespace(is_initialized=lambda: False))
    store = tmp_path / "r.db"
    with pytest.raises(SystemExit) as exc:
        main(["correlate", "--proxies", "params", "--sample", "5", "--store", str(store), "--executor", "ray",
              "--ray-address", "127.0.0.1:1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "cannot reach the Ray cluster" in err[0]
    assert not store.exists() and not (tmp_path / "o").exists()


def test_auto_with_no_cluster_names_zeronas_s_options_not_ray_s(monkeypatch):
    """ray.init(address='auto') with no cluster advises Ray's own CLI flag '--address' (a newcomer's trial)."""
    import types

    import zeronas.ray_executor as rx

    def ray_init(**_):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to by "
                              "setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(rx, "require_ray", lambda: types.SimpleNamespace(is_initialized=lambda: False, init=ray_init))
    monkeypatch.setattr(rx, "_LOCAL_INSTANCE", rx._LOCAL_INSTANCE)
    with pytest.raises(UserError) as exc:
        rx.connect("auto")
    assert str(exc.value).startswith("--ray-address auto found no running Ray cluster on this machine; start one "
                                     "with 'ray start --head'") and "`--address`" not in str(exc.value)


def test_ctrl_c_shuts_down_zeronas_s_ray_connection_instead_of_cancelling_its_tasks(monkeypatch):
    """Cancelling tasks that were finishing crashed inside Ray's core on 1 interrupt in 10 (a newcomer's trial):
    an interrupt now shuts down the connection zeronas made and cancels nothing."""
    import types

    import zeronas.ray_executor as rx

    calls = []
    ray = types.SimpleNamespace(wait=lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()),
                                cancel=lambda ref: calls.append("cancel"), shutdown=lambda: calls.append("shutdown"))
    executor = object.__new__(rx.RayExecutor)
    executor._ray, executor._pending, executor.chunk, executor.workers = ray, {}, 1, 1
    executor._task = types.SimpleNamespace(remote=lambda *a: object())
    executor.key = executor._kwargs_ref = executor.threads = None
    monkeypatch.setattr(rx, "_CONNECTED_HERE", True)
    with pytest.raises(KeyboardInterrupt):
        list(executor.map(["a", "b"]))
    assert calls == ["shutdown"]
    executor.abort()  # as correlate does when Ctrl-C lands while it stores a unit's records
    assert calls == ["shutdown", "shutdown"]
    monkeypatch.setattr(rx, "_CONNECTED_HERE", False)  # the caller's own connection stays; its tasks are cancelled
    with pytest.raises(KeyboardInterrupt):
        list(executor.map(["a", "b"]))
    assert calls == ["shutdown", "shutdown", "cancel", "cancel"]


def test_ray_unit_threads_are_decided_before_connecting(monkeypatch):
    """correlate keys channels-last scores by the units' thread count before Ray starts (Scorer(threads=))."""
    from zeronas import ray_executor as rx
    from zeronas.run import usable_cores

    monkeypatch.setitem(sys.modules, "ray", None)  # not imported: decided from the address alone
    cores = usable_cores()
    assert rx.unit_threads(None, 2) == max(1, cores // 2)  # a local instance: the process pool's rule
    assert rx.unit_threads("head:6379", 2) == 1 and rx.unit_threads(None, 0) == 1  # a cluster; every CPU
    assert rx.unit_threads("head:6379", 2, threads=3) == 3


@pytest.mark.slow
def test_search_seeds_run_as_ray_tasks_answer_as_local_runs(cluster, tmp_path):
    """search --runs N --executor ray: each seed a task on the cluster, the same answer as run here; a store
    given is written by the tasks (the search's resume)."""
    from zeronas.search import search
    from zeronas.search.parallel import run_seeds

    kw = dict(proxy="synflow", n=5, data="none", store=str(tmp_path / "s.db"))
    remote = run_seeds("nb201", "sample", [0, 1, 2], kw, executor="ray")
    local = [search("nb201", "sample", seed=s, threads=1, **kw) for s in (0, 1, 2)]
    assert [(r.seed, r.arch, r.proxy_values) for r in remote] == [(r.seed, r.arch, r.proxy_values) for r in local]
    assert all(r.protocol.get("store_reads", {}).get("synflow") for r in local)  # the tasks' evaluations, read
