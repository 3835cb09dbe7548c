"""The reproduction report's stored per-arch scores are reproduced by rescoring (benchmarks/reference_scores.py)."""

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import needs_cifar, needs_table

_spec = importlib.util.spec_from_file_location(
    "reference_scores", Path(__file__).parents[1] / "benchmarks" / "reference_scores.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def _avx2() -> bool:
    import torch

    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def test_relative_deviation():
    assert ref.relative_deviation(2.0, 2.0) == 0.0
    assert ref.relative_deviation(2.5, 2.0) == 0.25
    assert ref.relative_deviation(-1.0, -2.0) == 0.5
    assert ref.relative_deviation(math.nan, math.nan) == 0.0  # a NaN score (lambda_min <= 0) stays NaN
    assert ref.relative_deviation(1.0, math.nan) == math.inf
    assert ref.relative_deviation(math.nan, 1.0) == math.inf


def test_reference_file_covers_every_dataset_and_the_cheap_proxies():
    rows = ref.select(["cifar10", "cifar100", "imagenet16-120"], max_seconds=1e9)
    assert {r["dataset"] for r in rows} == {"cifar10", "cifar100", "imagenet16-120"}
    c10 = {r["proxy"] for r in rows if r["dataset"] == "cifar10"}
    assert {"nwot", "synflow", "snip", "params", "zico", "meco", "ntk_cond"} <= c10
    assert all(r["protocol_hash"] in ref.json.loads(ref.PROTOCOLS_PATH.read_text()) for r in rows)


@pytest.mark.data
@pytest.mark.slow
@needs_table
@needs_cifar
@pytest.mark.skipif(not _avx2(), reason="the reference rows' kernels (ATen AVX2) need an x86-64 CPU with AVX2")
def test_stored_scores_are_reproduced():
    # as a user runs it: the script reruns itself under the rows' kernels, whatever this CPU would pick
    proxies = ["nwot", "synflow", "snip", "grad_norm", "zico", "plain", "params", "flops", "zen", "meco"]
    if ref.cpu_vendor() not in (None, ref.ROWS_CPU_VENDOR):
        # last-bit gradient differences of another CPU model's oneDNN, amplified (reference_scores.py's docstring):
        # these two reproduce on the rows' CPU vendor only; the others still must, at rtol 1e-4
        import warnings

        warnings.warn(f"{ref.cpu_vendor()} CPU: {', '.join(ref.ILL_CONDITIONED)} are not checked against rows "
                      f"computed on {ref.ROWS_CPU_VENDOR}", stacklevel=1)
        proxies = [p for p in proxies if p not in ref.ILL_CONDITIONED]
    env = {k: v for k, v in os.environ.items() if k not in ref.PINNED_KERNELS}
    out = subprocess.run([sys.executable, ref.__file__, "check", "--datasets", "cifar10", "--archs", "2",
                          "--proxies", ",".join(proxies)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "as the rows were computed" in out.stdout
    verdicts = [line.split() for line in out.stdout.split("(rtol")[1].splitlines()[1:] if line.strip()]
    assert {(v[1], v[2], v[4]) for v in verdicts} == {(p, "2", "ok") for p in proxies}


def test_check_pins_the_rows_kernels_unless_told_not_to():
    env = ref.pinned_env({"PATH": "/bin", "OMP_NUM_THREADS": "2"})
    assert env == {"PATH": "/bin", **ref.PINNED_KERNELS}
    assert ref.pinned_env(env) is None  # already pinned: no second rerun


@pytest.mark.data
@needs_table
@needs_cifar
def test_a_changed_protocol_or_value_is_reported():
    nwot, synflow = (ref.select(["cifar10"], [p], archs=1)[0] for p in ("nwot", "synflow"))
    moved = {**nwot, "protocol_hash": synflow["protocol_hash"]}  # as if nwot's options had changed
    tampered = {**nwot, "value": repr(float(nwot["value"]) * 1.01)}
    worst = ref.rescore([moved])
    assert worst[("cifar10", "nwot")][0] == math.inf and "proxy" in worst[("cifar10", "nwot")][2]
    dev = ref.rescore([tampered])[("cifar10", "nwot")][0]
    assert dev == pytest.approx(0.01 / 1.01, rel=1e-6)
