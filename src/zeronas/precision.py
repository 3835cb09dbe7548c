"""Full float32 on CUDA while zeronas scores: TF32 off for cuDNN convolutions and CUDA matmuls.

PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) by default on Ampere and later GPUs.
No proxy's definition allows that precision: measured on an H200 (benchmarks/results/gpu_check.json, 20 NB201
archs against the CPU), TF32 moved snip and grad_norm by up to 8.5 % and dropped jacob_cov's per-arch
Spearman to 0.956, while with TF32 off every proxy agreed with the CPU at Spearman 1.000. Scoring (and the
searches, which score) therefore runs under ``ieee_float32``; training does not, also when a search trains
(``--evaluator train`` runs under ``user_float32``), so a read trains as ``zeronas train`` does.

On torch >= 2.9 the flags are set through the new API (``fp32_precision``); while it is set, reading the
legacy ``torch.backends.cudnn.allow_tf32`` raises in torch ("mix of the legacy and new APIs"), so code of
yours that runs inside scoring on CUDA (a proxy, a model) should read the new ``fp32_precision`` instead.
Flags changed inside the block are replaced by the saved ones on exit.
"""

from __future__ import annotations

import contextlib
import threading

import torch

_lock = threading.Lock()
_depth = 0
_saved: tuple | None = None


def _flags():
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9: the legacy flags must not be mixed in
        return ("new", conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision)
    return ("legacy", torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)


def _set(flags) -> None:
    kind, conv, matmul = flags
    if kind == "new":
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = conv, matmul
    else:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


@contextlib.contextmanager
def ieee_float32(device):
    """Within the block, float32 convolutions and matmuls on CUDA run in IEEE float32 (no TF32); the user's
    flags are restored on exit. ``device``: a str or torch.device; on the CPU (no TF32) nothing changes.
    Nested and concurrent uses in one process share one setting: the first entry saves the flags, the last
    exit restores them."""
    global _depth, _saved
    if torch.device(device).type != "cuda":
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = _flags()
            _set((_saved[0], "ieee", "ieee") if _saved[0] == "new" else ("legacy", False, False))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(_saved)
                _saved = None


@contextlib.contextmanager
def user_float32():
    """Inside ``ieee_float32``: the flags as they were before it, for this block (training in a search); a
    no-op outside it."""
    with _lock:
        saved = _saved
        inside = _flags() if saved is not None else None
        if saved is not None:
            _set(saved)
    try:
        yield
    finally:
        if inside is not None:
            with _lock:
                _set(inside)
