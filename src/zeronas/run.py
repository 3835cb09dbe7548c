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
from concurrent.futures.process import BrokenProcessPool

import torch

from .allocator import keep_freed_memory
from .errors import UserError
from .validation import torch_threads

_WORKER = None


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask: taskset, a Slurm or container cpuset), not the
    host's count, which ``os.cpu_count()`` gives: one worker per core must not oversubscribe a share."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


class InProcessExecutor:
    """Scores in this process; ``threads`` pins torch's thread count for each work unit (None: leave it)."""

    def __init__(self, scorer_kwargs: dict, threads: int | None = None):
        from .scoring import Scorer

        self.scorer = Scorer(**scorer_kwargs)
        self.threads = threads

    def map(self, archs: Iterable) -> Iterator[list]:
        for a in archs:
            with torch_threads(self.threads):
                records = self.scorer.score_arch(a)
            yield records

    def close(self):
        pass


def worker_process_setup(driver: int | None = None) -> None:
    """What every zeronas pool worker does first: end with its driver, and leave signals to the driver."""
    import signal

    if driver is not None:
        _exit_with_driver(driver)

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker must not inherit the CLI's SIGTERM unwind
    # Ctrl-C is the driver's to handle (it stops the workers): a worker interrupted mid-arch reported the
    # error and waited for more work, and the driver, exiting, waited on it forever (timeout -s INT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Drop a pool's queued work and end its workers now (the run was interrupted or failed)."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # older: the pool's own list
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(5)


def _init_worker(scorer_kwargs: dict, threads: int, driver: int | None = None):
    global _WORKER

    worker_process_setup(driver)
    torch.set_num_threads(threads)  # workers x threads = cores: no oversubscription
    keep_freed_memory()  # a worker process is ours: freed tensors stay for reuse, not faulted in again
    from .scoring import Scorer
    from .validation import caller

    with caller("worker"):  # settings the driver checked: not a user's call to check (and word) again
        _WORKER = Scorer(**scorer_kwargs)


def _exit_with_driver(driver: int, every: float = 0.5):
    """End this worker once the ``driver`` process is gone: a driver killed with SIGKILL left its workers
    waiting on the task queue for good (each holds the queue's write end too, so it never sees the end of it).
    A forked or spawned worker is re-parented when its parent exits; a forkserver's worker is the server's
    child, so the driver's pid is watched as well."""
    import threading
    import time

    parent = os.getppid()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists (a sandbox may deny the probe): never end a healthy worker on it
            pass
        return False

    def watch():
        while os.getppid() == parent and not gone(driver):
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="zeronas-parent-watch", daemon=True).start()


def _score(arch):
    return _WORKER.score_arch(arch)


class ProcessPoolExecutorBackend:
    """``workers`` processes (default: all cores), each with cores // workers torch threads. Workers start
    the platform's default way for CPU scoring; for a GPU they are spawned, since CUDA cannot be used in a
    forked child once the parent has touched it."""

    def __init__(self, scorer_kwargs: dict, workers: int | None = None, start_method: str | None = None):
        cores = usable_cores()
        self.workers = workers or cores
        # the scorer's own count when it names one (--threads), else the cores shared out
        threads = self.threads = scorer_kwargs.get("threads") or max(1, cores // self.workers)
        if start_method is None and _on_gpu(scorer_kwargs):
            start_method = "spawn"
        context = multiprocessing.get_context(start_method)
        self.start_method = context.get_start_method()
        self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                        initargs=(scorer_kwargs, threads, os.getpid()))
        self._seen: dict = {}  # pid -> worker process, for the exit codes

    def map(self, archs: Iterable) -> Iterator[list]:
        archs = iter(archs)
        pending = set()
        for a in archs:  # keep a bounded number of tasks in flight
            pending.add(self.pool.submit(_score, a))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            self._seen.update(getattr(self.pool, "_processes", None) or {})  # the pool forgets a broken one's
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    records = f.result()
                except BrokenProcessPool:
                    raise UserError(f"a scoring worker process died ({self._how_workers_died()}); the results "
                                    "before it are stored: rerun the same command to resume, with fewer --workers "
                                    "or a smaller --batch-size if memory ran short") from None
                yield records
            for a in archs:
                pending.add(self.pool.submit(_score, a))
                if len(pending) >= 2 * self.workers:
                    break

    def _how_workers_died(self) -> str:
        import signal
        import time

        deadline = time.monotonic() + 2.0  # the dead worker may not be reaped yet
        while True:
            codes = [p.exitcode for p in self._seen.values() if p.exitcode]
            # the pool ends the other workers with SIGTERM after one died: the cause is any other signal
            causes = [-c for c in codes if c < 0 and -c != signal.SIGTERM]
            if causes or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not causes:
            exits = [c for c in codes if c > 0]
            return (f"it exited with code {exits[0]}" if exits else
                    "killed by SIGTERM" if codes else "ended abruptly")
        first = signal.SIGKILL if signal.SIGKILL in causes else causes[0]
        name = signal.Signals(first).name if first in signal.Signals._value2member_map_ else f"signal {first}"
        return f"killed by {name}" + (": the out-of-memory killer, or kill -9" if first == signal.SIGKILL else "")

    def close(self):
        self.pool.shutdown(cancel_futures=True)

    def abort(self):
        """Stop now (the run was interrupted): drop queued work and end the workers mid-arch; what they were
        scoring was not stored, so a rerun scores it."""
        terminate_pool(self.pool)


def _on_gpu(scorer_kwargs: dict) -> bool:
    from .scoring import parse_device

    return parse_device(scorer_kwargs.get("device") or "cpu").type != "cpu"


def make_executor_threads(scorer_kwargs: dict, workers: int = 1) -> int | None:
    """The torch threads per worker of the local executor ``make_executor`` makes for ``workers``: cores //
    workers for a process pool, None where it scores in this process (at this process's thread count)."""
    if workers == 1 or (workers <= 0 and _on_gpu(scorer_kwargs)):
        return None
    cores = usable_cores()
    return max(1, cores // (workers if workers > 0 else cores))


def make_executor(scorer_kwargs: dict, workers: int = 1, executor: str = "local", ray_address: str | None = None):
    """``workers`` 0: one process per core on the CPU; on a GPU one process drives the device.
    ``executor`` "ray": a Ray cluster at ``ray_address`` or a local Ray instance (``zeronas.ray_executor``)."""
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(scorer_kwargs, address=ray_address, workers=workers)
    if make_executor_threads(scorer_kwargs, workers) is None:
        return InProcessExecutor(scorer_kwargs)
    return ProcessPoolExecutorBackend(scorer_kwargs, None if workers <= 0 else workers)
