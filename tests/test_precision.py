"""precision.ieee_float32: TF32 off for CUDA convs and matmuls while scoring, the user's flags restored."""

import threading

import pytest

from zeronas.precision import _flags, _set, ieee_float32, user_float32


def _ieee(flags) -> bool:
    return flags[1:] == (("ieee", "ieee") if flags[0] == "new" else (False, False))


@pytest.fixture
def tf32_on():
    """The flags a user with TF32 on has (PyTorch's default for convolutions), whatever this process had."""
    before = _flags()
    on = (before[0], "tf32", "tf32") if before[0] == "new" else ("legacy", True, True)
    _set(on)
    yield on
    _set(before)


def test_cuda_scoring_runs_without_tf32_and_restores_the_user_s_flags(tf32_on):
    with ieee_float32("cuda"):  # the flags are plain settings: settable without a GPU
        assert _ieee(_flags())
        with ieee_float32("cuda:0"):  # nested: still on, and the outer exit restores
            assert _ieee(_flags())
        assert _ieee(_flags())
    assert _flags() == tf32_on


def test_the_cpu_leaves_the_flags_alone(tf32_on):
    with ieee_float32("cpu"):
        assert _flags() == tf32_on
    assert _flags() == tf32_on


def test_training_inside_a_search_gets_the_user_s_flags_back(tf32_on):
    with user_float32():  # outside scoring: nothing to restore
        assert _flags() == tf32_on
    with ieee_float32("cuda"):
        with user_float32():
            assert _flags() == tf32_on
        assert _ieee(_flags())
    assert _flags() == tf32_on


def test_overlapping_uses_from_two_threads_restore_only_after_the_last(tf32_on):
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
    assert _flags() == tf32_on
