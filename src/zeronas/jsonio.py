"""JSON that every reader accepts: Python's ``json`` writes NaN / Infinity, which JSON does not have (strict
parsers such as JavaScript's ``JSON.parse`` or ``jq`` refuse the file)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (numpy's too) replaced by the string "nan", "inf" or "-inf", as
    ``ScoreRecord.to_dict`` writes a value; containers are copied, other values kept."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else str(v)
    return obj


def dumps(obj: Any, **kw) -> str:
    """``json.dumps`` of ``finite(obj)``, refusing any NaN left (``allow_nan=False``)."""
    return json.dumps(finite(obj), allow_nan=False, **kw)


def write(path, obj: Any, **kw) -> None:
    """Write ``dumps(obj, **kw)`` to ``path`` atomically (``atomic_path``)."""
    from .paths import atomic_path

    text = dumps(obj, **kw)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def restore(obj: Any) -> Any:
    """The inverse of ``finite`` for files of numbers (a training log): the strings "nan", "inf" and "-inf"
    back to floats, anywhere in ``obj``. Not for files whose strings are text."""
    if isinstance(obj, dict):
        return {k: restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [restore(v) for v in obj]
    return _NON_FINITE.get(obj, obj) if isinstance(obj, str) else obj


def loads_numbers(text: str) -> Any:
    """``json.loads`` of a file of numbers written by ``dumps`` (or by plain ``json``, bare NaN included)."""
    return restore(json.loads(text))
