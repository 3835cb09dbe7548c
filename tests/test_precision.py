"""precision.ieee_float32: TF32 off for CUDA convs and matmuls while scoring, the user's flags restored."""

import threading

import torch

from zeronas.precision import _flags, ieee_float32


def _ieee(flags) -> bool:
    return flags[1:] == (("ieee", "ieee") if flags[0] == "new" else (False, False))


def test_cuda_scoring_runs_without_tf32_and_restores_the_user_s_flags():
    before = _flags()
    assert not _ieee(before)  # PyTorch's default lets cuDNN use TF32
    with ieee_float32("cuda"):  # the flags are plain settings: settable without a GPU
        assert _ieee(_flags())
        with ieee_float32(torch.device("cuda:0")):  # nested: still on, and the outer exit restores
            assert _ieee(_flags())
        assert _ieee(_flags())
    assert _flags() == before


def test_the_cpu_leaves_the_flags_alone():
    before = _flags()
    with ieee_float32("cpu"):
        assert _flags() == before
    assert _flags() == before


def test_overlapping_uses_from_two_threads_restore_only_after_the_last():
    before = _flags()
    entered, release = threading.Event(), threading.Event()

    def other():
        with ieee_float32("cuda"):
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(10)
    with ieee_float32("cuda"):
        pass  # this exit must not restore while the other thread is still inside
    assert _ieee(_flags())
    release.set()
    t.join(10)
    assert _flags() == before
