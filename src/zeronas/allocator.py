"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc only).

A CPU forward/backward of an NB201 network at batch 64 allocates and frees hundreds of 1-4 MiB tensors. glibc
serves blocks that large with a fresh ``mmap`` (or trims them off the heap top) and returns them on ``free``,
so every such tensor is faulted in page by page and zeroed by the kernel again: about 4.5 million page faults
per 1,000 NB201 scorings, 10-15 % of the whole-space run (``benchmarks/whole_space.py``, two workers on a
2-core AMD EPYC: 1.81 h with glibc's defaults, 1.52-1.64 h with these settings, same values). Raising the
mmap threshold (to glibc's ceiling, 32 MiB on 64-bit) and the trim threshold together keeps such blocks on
the heap for reuse; either one alone does not (the trim threshold alone even multiplied the faults, since
setting it freezes glibc's own adaptive mmap threshold).

The cost is memory: a process keeps what it freed, so its resident size stays near its peak. Zeronas applies
it only in processes it owns (the CLI and its executors' workers), never on ``import zeronas``;
``ZERONAS_KEEP_FREED_MEMORY=0`` turns it off. No value depends on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc refuses more than HEAP_MAX_SIZE / 2: 32 MiB on 64-bit
TRIM_THRESHOLD = 2**30
ENV = "ZERONAS_KEEP_FREED_MEMORY"

_DONE: list[bool] = []


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring) once per process. Returns whether they
    are set: False off Linux/glibc, where ``mallopt`` refuses, or with ``ZERONAS_KEEP_FREED_MEMORY=0``.
    Never raises."""
    if not _DONE:
        _DONE.append(_apply())
    return _DONE[0]


def _apply() -> bool:
    if os.environ.get(ENV, "1").strip() in ("0", "false", "no", "off") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting the trim threshold alone disables glibc's adaptive mmap threshold
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
