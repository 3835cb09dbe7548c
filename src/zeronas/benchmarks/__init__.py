"""Benchmark ground-truth tables (NAS-Bench-201, NAS-Bench-Macro, NAS-Bench-101, NAS-Bench-301) and
correlation analysis."""

from ..errors import UserError
from .macro import MacroTable, load_macro
from .nb101 import NB101Table, load_nb101
from .nb201 import NB201Table, load_nb201
from .nb301 import NB301Table, load_nb301

GROUND_TRUTH = {"nb201": load_nb201, "macro": load_macro, "nb101": load_nb101, "nb301": load_nb301}


def load_ground_truth(space: str, data_dir=None):
    """The benchmark table of ``space``: arch strings in table order, ``column``, ``target_column``, sha256."""
    if space not in GROUND_TRUTH:
        hint = " (the DARTS space's table is NAS-Bench-301's: use --space nb301)" if space == "darts" else ""
        raise UserError(f"no ground-truth table for space {space!r}{hint}; benchmark tables exist for: "
                        f"{', '.join(GROUND_TRUTH)}")
    return GROUND_TRUTH[space](data_dir)


__all__ = ["NB201Table", "load_nb201", "MacroTable", "load_macro", "NB101Table", "load_nb101", "NB301Table",
           "load_nb301", "load_ground_truth", "GROUND_TRUTH"]
