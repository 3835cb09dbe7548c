"""Several seeds of one search at once: local processes or Ray tasks (``zeronas search --runs N --workers W``,
``--executor ray``). Each run is the very ``zeronas.search`` call a sequential run makes, in its own process with
its own torch threads (cores // workers locally, 1 on Ray unless asked); a store given is shared (SQLite's WAL
locking on one machine, a database URL across machines), so a killed set of runs resumes run by run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from ..errors import UserError
from ..run import _on_gpu, terminate_pool, usable_cores, worker_process_setup


def _one(space, method: str, seed: int, kwargs: dict, threads: int, kind: str):
    """One search in a worker: pinned threads, no progress bar of its own (the driver reports runs)."""
    import torch

    from ..validation import caller
    from .base import search, show_progress

    torch.set_num_threads(threads)
    show_progress(False)
    with caller(kind):  # errors worded for who asked: the CLI's flags, or the API's keywords
        return search(space, method, seed=seed, **kwargs)


def run_seeds(space, method: str, seeds: list[int], kwargs: dict, workers: int = 0, executor: str = "local",
              ray_address: str | None = None, threads: int | None = None,
              on_result: Callable | None = None) -> list:
    """Run ``zeronas.search(space, method, seed=s, **kwargs)`` for every seed of ``seeds``, several at once, and
    return the SearchResults in seed order. ``space``: a name or a plug-in's ``path.py:Class`` (each worker loads
    it). ``workers``: local processes (0: one per core, at most one per seed); with ``executor="ray"`` the runs
    are Ray tasks on the cluster at ``ray_address`` (else a local instance), each asking ``threads`` CPUs
    (default 1). ``threads``: torch threads per run (default locally cores // workers). ``on_result(result,
    done, total, eta_seconds)``: called in the driver as each run ends (any order). Errors: the first run's
    UserError as it was raised; a worker that dies is a one-line UserError (the runs stored so far are kept)."""
    from ..ray_executor import check_executor
    from ..spaces.base import loadable, resolve
    from ..validation import _CALLER

    kind = _CALLER.get() or "api"
    api = kind != "cli"
    check_executor(executor, ray_address, cli=not api)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise UserError(f"{'workers=' if api else '--workers'} {workers!r}: give 0 (one process per core) or more")
    if executor == "ray" and workers:
        raise UserError("workers= sets local processes; on Ray the cluster's CPUs decide how many runs go at once: "
                        "drop workers=" if api else "--workers sets local processes; with --executor ray the "
                        "cluster's CPUs (and --threads per run) decide how many runs go at once: drop --workers")
    if _on_gpu(kwargs) and workers == 0:
        workers = 1  # one process drives a GPU, as score and correlate do; more only when asked
    space = loadable(resolve(space))  # each worker loads it again: a name or a plug-in's spec, never the object
    seeds = list(seeds)
    t0 = time.perf_counter()
    results: dict[int, object] = {}

    def finished(seed, result):
        results[seed] = result
        if on_result is not None:  # the runs left at the rate so far (runs end about together when equal)
            n = len(results)
            on_result(result, n, len(seeds), (len(seeds) - n) * (time.perf_counter() - t0) / n)

    if executor == "ray":
        _ray_runs(space, method, seeds, kwargs, ray_address, threads or 1, kind, finished)
    else:
        cores = usable_cores()
        parallel = min(len(seeds), workers or cores)
        _local_runs(space, method, seeds, kwargs, parallel, threads or max(1, cores // parallel), kind, finished)
    return [results[s] for s in seeds]


def _local_runs(space, method, seeds, kwargs, workers: int, threads: int, kind: str, finished) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    gpu = _on_gpu(kwargs)
    context = multiprocessing.get_context("spawn" if gpu else None)  # CUDA cannot be used in a forked child
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker_process_setup,
                               initargs=(os.getpid(),))
    try:
        pending = {pool.submit(_one, space, method, s, kwargs, threads, kind): s for s in seeds}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                seed = pending.pop(f)
                try:
                    finished(seed, f.result())
                except BrokenProcessPool:
                    raise UserError(f"a search worker process died running seed {seed} (out of memory, or killed); "
                                    "the evaluations stored so far are kept (--store): rerun to resume, with "
                                    "fewer --workers") from None
    except BaseException:  # Ctrl-C, a failure: end the other runs now, never wait on them
        terminate_pool(pool)
        raise
    pool.shutdown()


def _ray_runs(space, method, seeds, kwargs, address, threads: int, kind: str, finished) -> None:
    from ..ray_executor import _check_fits, connect, task_result

    ray = connect(address)
    gpu = _on_gpu(kwargs)
    _check_fits(ray, threads, gpu)
    task = ray.remote(_one).options(num_cpus=threads, num_gpus=int(gpu), max_retries=1, retry_exceptions=False)
    pending = {task.remote(space, method, s, kwargs, threads, kind): s for s in seeds}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            seed = pending.pop(ready[0])
            finished(seed, task_result(ray, ready[0], f"Ray workers died twice running seed {seed}",
                                       "the evaluations stored so far are kept (--store): rerun to resume"))
    finally:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001  (already finished or gone)
                pass
