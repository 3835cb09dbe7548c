"""The reproduction report's stored per-arch scores are reproduced by rescoring (benchmarks/reference_scores.py)."""

import importlib.util
import math
from pathlib import Path

import pytest

from .conftest import needs_cifar, needs_table

_spec = importlib.util.spec_from_file_location(
    "reference_scores", Path(__file__).parents[1] / "benchmarks" / "reference_scores.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


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
def test_stored_scores_are_reproduced():
    proxies = ["nwot", "synflow", "snip", "grad_norm", "params", "flops", "zen", "meco", "zeros", "l2_norm"]
    worst = ref.rescore(ref.select(["cifar10"], proxies, archs=2))
    assert set(worst) == {("cifar10", p) for p in proxies}
    for (_, proxy), (dev, n, why) in worst.items():
        assert why == "" and n == 2, (proxy, why)
        assert dev <= ref.RTOL, (proxy, dev)


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
