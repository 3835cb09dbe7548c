"""Score architectures on a Ray cluster (``--executor ray``): the same ``map``/``close`` contract as the local
executors in ``zeronas.run``, so the caller stores each architecture's records as they arrive.

Work units are architectures (or small chunks of them, ``chunk``), submitted as Ray tasks with a bounded number
in flight. Each worker process builds its ``Scorer`` once and keeps it for every later unit with the same
settings; each unit runs with a pinned torch thread count (``threads``), so values are bit-identical to the local
executors' at equal thread counts (see ``zeronas.run``). A worker process or node that dies mid-unit loses
nothing: Ray runs the unit again (``max_retries``), and the driver receives exactly one result per unit, so the
store gets every record once (the store never overwrites a key either).

Every record is checked against the protocol this machine computes: a node with another torch, zeronas or data
would store its values under another key, which a resumed run would never find; that stops the run with the
differing fields named instead.

Where Ray runs: an existing connection (``ray.init`` already called) is used as it is; else ``address`` (a
running cluster: ``auto``, ``HOST:PORT`` or ``ray://HOST:10001``); else a local Ray instance with this machine's
CPUs. An instance started here stays up for later executors of this process (Ray stops it at exit;
``ray.shutdown()`` stops it earlier).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import pickle
import re
import socket
import sys
from collections.abc import Iterable, Iterator

import torch

from .allocator import keep_freed_memory
from .errors import UserCodeError, UserError
from .run import usable_cores

EXECUTORS = ("local", "ray")
NEEDS_RAY = "`--executor ray` needs ray: pip install 'zeronas[ray]'"
_ADDRESS = re.compile(r"^(ray://)?[^\s:/]+:\d{1,5}$")

_SCORERS: collections.OrderedDict = collections.OrderedDict()  # in a worker: settings key -> Scorer
_KEEP = 2  # scorers a worker keeps (one per proxy group of a correlate run; the oldest goes first)
_LOCAL_INSTANCE = False  # Ray runs as an instance this process started on this machine (no address)
_CONNECTED_HERE = False  # connect() made the connection (not the caller's own ray.init)


def require_ray():
    """The ``ray`` module, or a one-line UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(NEEDS_RAY) from None
    return ray


def check_address(label: str, value) -> None:
    """``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT``."""
    text = str(value).strip() if isinstance(value, str) else ""
    if text in ("auto", "local") or _ADDRESS.match(text):
        return
    raise UserError(f"{label} {value!r} is not a Ray address; give auto (the cluster this machine joined with "
                    f"'ray start'), HEAD:6379 or ray://HEAD:10001")


def check_executor(executor: str, ray_address: str | None, cli: bool = True) -> None:
    """Option combinations, before any work: ``--ray-address`` only with ``--executor ray``, ray installed."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown {'--executor' if cli else 'executor='} {executor!r}; choose one of: "
                        f"{', '.join(EXECUTORS)}")
    if ray_address is not None and executor != "ray":
        raise UserError(f"{'--ray-address' if cli else 'ray_address='} applies to "
                        f"{'--executor ray' if cli else 'executor=' + repr('ray')}; add it or drop the address")
    if executor == "ray":
        require_ray()


def _settings_key(scorer_kwargs: dict) -> str:
    return hashlib.sha256(pickle.dumps(sorted(scorer_kwargs.items(), key=lambda kv: kv[0]))).hexdigest()


def _worker_scorer(key: str, scorer_kwargs: dict):
    scorer = _SCORERS.get(key)
    if scorer is None:
        from .scoring import Scorer
        from .validation import caller

        with caller("worker"):  # settings the driver checked: not a user's call to check (and word) again
            scorer = Scorer(**scorer_kwargs)
        _SCORERS[key] = scorer
        while len(_SCORERS) > _KEEP:
            _SCORERS.popitem(last=False)
    _SCORERS.move_to_end(key)
    return scorer


def _score_unit(key: str, scorer_kwargs: dict, threads: int, unit: list) -> list:
    """Runs in a Ray worker: [(index, arch), ...] -> [(index, records), ...]."""
    keep_freed_memory()  # once per Ray worker process
    scorer = _worker_scorer(key, scorer_kwargs)
    torch.set_num_threads(threads)  # pinned per unit: the same value at the same thread count, whatever ran before
    return [(i, scorer.score_arch(a)) for i, a in unit]


def connect(address: str | None = None):
    """Connect to Ray once per process (a connection already made is used as it is): the cluster at
    ``address``, else a local instance with this machine's CPUs. A one-line UserError when the cluster cannot be
    reached. Callers connect before they create files (a store), so a failed connection leaves none behind."""
    global _LOCAL_INSTANCE, _CONNECTED_HERE
    ray = require_ray()
    if address is not None:
        check_address("--ray-address", address)
    if not ray.is_initialized():
        import signal
        import threading

        # ray.init puts its own SIGTERM handler in place of the CLI's, which unwinds to the one-line message
        term = signal.getsignal(signal.SIGTERM)
        options = dict(log_to_driver=False, logging_level=logging.ERROR, include_dashboard=False)
        _LOCAL_INSTANCE = address is None
        if address is None:
            ray.init(num_cpus=usable_cores(), **options)
        else:
            _reachable(address)
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                if address == "auto" and "could not find any running ray instance" in str(exc).lower():
                    # Ray's own advice names its CLI's --address, not zeronas's option
                    raise UserError("--ray-address auto found no running Ray cluster on this machine; start one "
                                    "with 'ray start --head', give its address (--ray-address HEAD:6379), or leave "
                                    "--ray-address out for a local instance") from None
                raise UserError(f"cannot reach the Ray cluster at {address!r}: {' '.join(str(exc).split())[:200]}"
                                f"; start it with 'ray start --head' (and 'ray start --address HEAD:6379' on "
                                f"the other machines)") from None
        _CONNECTED_HERE = True
        if callable(term) and threading.current_thread() is threading.main_thread():  # (only it sets handlers)
            signal.signal(signal.SIGTERM, term)
    return ray


def task_result(ray, ref, died: str, kept: str):
    """``ray.get(ref)``: the user's own error (bad input, their plug-in code failing) raised again as it was
    raised, a worker or node that died a one-line UserError (``died``, the exception's kind, ``kept``)."""
    exc_types = ray.exceptions
    try:
        return ray.get(ref)
    except exc_types.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, (UserError, UserCodeError)):
            raise type(cause)(str(cause)) from None
        raise
    except (exc_types.WorkerCrashedError, exc_types.NodeDiedError, exc_types.OutOfMemoryError) as exc:
        raise UserError(f"{died} ({type(exc).__name__}; out of memory?); {kept}") from None


def unit_threads(address: str | None = None, workers: int = 0, threads: int | None = None) -> int:
    """Torch threads of each unit a ``RayExecutor`` runs: ``threads`` when given; else, on a local instance
    (``address`` None, no connection made by the caller) with ``workers`` N, the process pool's cores // N;
    else 1. Decided before connecting, so a caller can key its scores (``Scorer(threads=)``) first."""
    if threads:
        return threads
    ray = sys.modules.get("ray")  # (not imported for it: a stored run never needs Ray installed)
    local = _LOCAL_INSTANCE if ray is not None and ray.is_initialized() else address is None
    return max(1, usable_cores() // workers) if local and workers else 1


class RayExecutor:
    """Scores on Ray. ``workers``: 0 uses every CPU Ray has, N at most N units at once. ``threads``: torch
    threads per unit (each unit asks Ray for that many CPUs); default 1 on a cluster, and on a local instance
    the process pool's rule (cores // workers), so local runs match ``--workers`` of the local executor."""

    def __init__(self, scorer_kwargs: dict, address: str | None = None, workers: int = 0, threads: int | None = None,
                 max_retries: int = 3, chunk: int = 1):
        from .scoring import Scorer, parse_device, protocol_hash

        if workers < 0 or (threads is not None and threads < 1) or max_retries < 0 or chunk < 1:
            raise UserError(f"bad Ray executor settings: workers {workers}, threads {threads}, "
                            f"max_retries {max_retries}, chunk {chunk}")
        if address is not None:
            check_address("--ray-address", address)
        ray = self._ray = require_ray()
        # built here too: settings are refused before the cluster does any work, and every record that comes
        # back is checked against the protocol of this machine
        scorer = Scorer(**scorer_kwargs)
        connect(address)
        self.threads = unit_threads(address, workers, threads or scorer_kwargs.get("threads"))
        # units pinned to self.threads, and keyed by it where the protocol names it (channels-last)
        scorer_kwargs = {**scorer_kwargs, "threads": self.threads}
        scorer.threads = self.threads
        self.expected = {spec.name: (protocol_hash(p := scorer.protocol(spec)), p) for spec in scorer.proxies}
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpu = parse_device(scorer_kwargs.get("device", "cpu")).type != "cpu"
        _check_fits(ray, self.threads, gpu)
        slots = max(1, cpus // self.threads)
        self.workers = min(workers, slots) if workers else slots
        self.chunk, self.max_retries = chunk, max_retries
        self.key = _settings_key(scorer_kwargs)
        remote = ray.remote(_score_unit)
        self._task = remote.options(num_cpus=self.threads, num_gpus=1 if gpu else 0, max_retries=max_retries,
                                    retry_exceptions=False)
        self._kwargs_ref = ray.put(scorer_kwargs)
        self._pending: dict = {}

    def map(self, archs: Iterable, ordered: bool = False) -> Iterator[list]:
        """Each architecture's records as its unit finishes (any order; in input order with ``ordered``)."""
        ray = self._ray
        units = _chunks(enumerate(archs), self.chunk)
        pending = self._pending
        waiting: dict[int, list] = {}
        next_index = 0
        in_flight = 2 * self.workers  # units queued or running: enough to keep every slot busy

        def submit():
            for unit in units:
                pending[self._task.remote(self.key, self._kwargs_ref, self.threads, unit)] = unit
                if len(pending) >= in_flight:
                    break

        try:
            submit()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)  # all that are done
                for ref in ready:
                    unit = pending.pop(ref)
                    for i, records in self._result(ref, unit):
                        self._check(records)
                        if not ordered:
                            yield records
                            continue
                        waiting[i] = records
                        while next_index in waiting:
                            yield waiting.pop(next_index)
                            next_index += 1
                submit()
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the CLI
            self.abort()
            raise
        finally:
            self._cancel()

    def _result(self, ref, unit) -> list:
        return task_result(self._ray, ref, f"Ray workers died {self.max_retries + 1} times scoring {unit[0][1]!r}",
                           "the scores stored so far are kept: rerun to resume")

    def _check(self, records: list) -> None:
        for r in records:
            want, proto = self.expected.get(r.proxy, (None, {}))
            if r.protocol_hash != want:
                diff = sorted(k for k in set(proto) | set(r.protocol) if proto.get(k) != r.protocol.get(k))
                shown = "; ".join(f"{k}: {r.protocol.get(k)!r} there, {proto.get(k)!r} here" for k in diff[:3])
                raise UserError(f"a Ray worker scored {r.proxy} under another protocol than this machine ({shown}); "
                                f"install the same zeronas and torch, and the same data folder, on every node")

    def _cancel(self):
        for ref in list(self._pending):
            try:
                self._ray.cancel(ref)
            except Exception:  # noqa: BLE001  (already finished or gone: nothing to stop)
                pass
        self._pending.clear()

    def close(self):
        self._cancel()

    def abort(self):
        """Stop at once (an interrupt, a failure): a Ray connection this process made is shut down, which ends
        its tasks; cancelling tasks that were finishing raced in Ray's core ("Check failed: Tried to complete
        task that was not pending", 1 interrupt in 10 in a newcomer trial) and left its agents running for 40 s.
        A connection the caller made (``ray.init`` before zeronas) is left up: its tasks are cancelled."""
        if _CONNECTED_HERE:
            self._pending.clear()
            self._ray.shutdown()
        else:
            self._cancel()


def _check_fits(ray, threads: int, gpu: bool) -> None:
    """A unit asks one node for ``threads`` CPUs (and a GPU on CUDA): one no node has would wait forever, so it is
    refused up front in one line. (The nodes alive now are what counts: an autoscaling cluster's nodes that would
    start on demand are not seen; start them first.)"""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most = max((int(r.get("CPU", 0)) for r in nodes), default=0)
    if most == 0:
        raise UserError("no Ray node offers a CPU yet; start workers ('ray start --address HEAD:6379') or give the "
                        "head CPUs ('ray start --head --num-cpus N')")
    if threads > most:
        raise UserError(f"--threads {threads} asks each unit for {threads} CPUs, but the largest Ray node has {most}; "
                        f"use --threads {most} or less")
    if gpu and not any(r.get("GPU", 0) >= 1 for r in nodes):
        raise UserError("--device cuda asks each unit for a GPU, but no Ray node has one; drop --device or add "
                        "a node with a GPU ('ray start --num-gpus 1 ...')")


def _reachable(address: str, timeout: float = 10.0) -> None:
    """A HOST:PORT that does not answer is named at once (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); start it with "
                        f"'ray start --head' on that machine, or check the host and port") from None


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    unit: list = []
    for item in items:
        unit.append(item)
        if len(unit) == size:
            yield unit
            unit = []
    if unit:
        yield unit


def score_archs(scorer_kwargs: dict, archs: list, address: str | None = None, threads: int | None = None,
                progress: bool = False) -> list:
    """``zeronas score --executor ray``: every record of ``archs``, in their order, scored on Ray."""
    from .correlate import _progress

    executor = RayExecutor(scorer_kwargs, address=address, threads=threads or 1)
    out: list = []
    try:
        with _progress(len(archs), progress and len(archs) > 1) as advance:
            for records in executor.map(archs, ordered=True):
                out.extend(records)
                advance()
    finally:
        executor.close()
    return out
