"""Executors that score architectures: in-process, or a local process pool using all cores.

An executor maps ``score_arch`` over architectures and yields each architecture's records as it
finishes (in any order); the caller stores them. A cluster backend implements the same two methods.

What "identical" means across executors: the same seeded init and batch give bit-identical values when each
work unit runs with the same number of torch threads. Across thread counts a float reduction can be summed in
another order, so values may differ in the last bits (e.g. synflow 1.1925969799115604e+30 with 2 threads,
...606e+30 with 1): executors therefore pin the thread count per work unit (``threads``), and comparisons of
results from different executors are made at equal thread counts.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch

_WORKER = None


class InProcessExecutor:
    """Scores in this process; ``threads`` pins torch's thread count for each work unit (None: leave it)."""

    def __init__(self, scorer_kwargs: dict, threads: int | None = None):
        from .scoring import Scorer

        self.scorer = Scorer(**scorer_kwargs)
        self.threads = threads

    def map(self, archs: Iterable) -> Iterator[list]:
        for a in archs:
            if self.threads is None:
                yield self.scorer.score_arch(a)
                continue
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                records = self.scorer.score_arch(a)
            finally:
                torch.set_num_threads(before)
            yield records

    def close(self):
        pass


def _init_worker(scorer_kwargs: dict, threads: int):
    global _WORKER
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker must not inherit the CLI's SIGTERM unwind
    # Ctrl-C is the driver's to handle (it stops the workers): a worker interrupted mid-arch reported the
    # error and waited for more work, and the driver, exiting, waited on it forever (timeout -s INT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)  # workers x threads = cores: no oversubscription
    from .scoring import Scorer

    _WORKER = Scorer(**scorer_kwargs)


def _score(arch):
    return _WORKER.score_arch(arch)


class ProcessPoolExecutorBackend:
    """``workers`` processes (default: all cores), each with cores // workers torch threads. Workers start
    the platform's default way for CPU scoring; for a GPU they are spawned, since CUDA cannot be used in a
    forked child once the parent has touched it."""

    def __init__(self, scorer_kwargs: dict, workers: int | None = None, start_method: str | None = None):
        cores = os.cpu_count() or 1
        self.workers = workers or cores
        threads = self.threads = max(1, cores // self.workers)
        if start_method is None and _on_gpu(scorer_kwargs):
            start_method = "spawn"
        context = multiprocessing.get_context(start_method)
        self.start_method = context.get_start_method()
        self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                        initargs=(scorer_kwargs, threads))

    def map(self, archs: Iterable) -> Iterator[list]:
        archs = iter(archs)
        pending = set()
        for a in archs:  # keep a bounded number of tasks in flight
            pending.add(self.pool.submit(_score, a))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
            for a in archs:
                pending.add(self.pool.submit(_score, a))
                if len(pending) >= 2 * self.workers:
                    break

    def close(self):
        self.pool.shutdown(cancel_futures=True)

    def abort(self):
        """Stop now (the run was interrupted): drop queued work and end the workers mid-arch; what they were
        scoring was not stored, so a rerun scores it."""
        if hasattr(self.pool, "terminate_workers"):  # Python 3.14+
            self.pool.terminate_workers()
            return
        processes = list((getattr(self.pool, "_processes", None) or {}).values())  # older: the pool's own list
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(5)


def _on_gpu(scorer_kwargs: dict) -> bool:
    from .scoring import parse_device

    return parse_device(scorer_kwargs.get("device", "cpu")).type != "cpu"


def make_executor(scorer_kwargs: dict, workers: int = 1, executor: str = "local", ray_address: str | None = None):
    """``workers`` 0: one process per core on the CPU; on a GPU one process drives the device.
    ``executor`` "ray": a Ray cluster at ``ray_address`` or a local Ray instance (``zeronas.ray_executor``)."""
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(scorer_kwargs, address=ray_address, workers=workers)
    if workers == 1 or (workers <= 0 and _on_gpu(scorer_kwargs)):
        return InProcessExecutor(scorer_kwargs)
    return ProcessPoolExecutorBackend(scorer_kwargs, None if workers <= 0 else workers)
