"""Benchmark ground-truth tables (NAS-Bench-201, ...) and correlation analysis."""

from .macro import MacroTable, load_macro
from .nb201 import NB201Table, load_nb201

__all__ = ["NB201Table", "load_nb201", "MacroTable", "load_macro"]
