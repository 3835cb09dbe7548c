"""The NaN rules benchmarks/ntk_protocols.py attributes to each code, on hand-made eigenvalue ends."""

import importlib.util
import math
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "ntk_protocols", Path(__file__).parents[1] / "benchmarks" / "ntk_protocols.py")
ntk_protocols = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ntk_protocols)


def test_condition_number_divides_as_the_codes_do():
    assert ntk_protocols.cond((2.0, 8.0)) == 4.0
    assert math.isnan(ntk_protocols.cond((0.0, 0.0)))  # a zero kernel: 0/0
    assert ntk_protocols.cond((0.0, 3.0)) == math.inf
    assert ntk_protocols.cond((-1e-7, 5.0)) < 0  # float32 rounding of a singular kernel


def test_each_code_places_a_zero_kernel_where_its_nan_rule_puts_it():
    fine, zero = (1.0, 10.0), (0.0, 0.0)  # cond 10, and the 0/0 of a cell whose output is identically zero
    rows = [{k: e for k in ("real64", "real32", "noise64", "noise32")} for e in (fine, zero)]
    v = ntk_protocols.variants(rows)
    assert np.isnan(v["zeronas: real images, float64, NaN dropped"][1])
    assert v["zeronas, NaN ranked last"][1] == np.inf
    assert v["TE-NAS code: real images, float32, NaN -> 1e5"][1] == 1e5  # last: lower cond is better
    assert v["Zen-NAS/ZiCo code: noise inputs, float32, NaN -> 0"][1] == 0.0  # first
    assert all(col[0] == 10.0 for col in v.values())
