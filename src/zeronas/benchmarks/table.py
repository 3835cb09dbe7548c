"""What every ground-truth table shares: arch strings in file order, named numeric columns, the file hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass
class ArchTable:
    path: Path
    sha256: str
    arch_str: list[str]
    columns: dict[str, np.ndarray]
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    # completes "arch 'x' is not in ..." for the subclass's benchmark
    missing_arch = "this table"

    def __post_init__(self):
        self._index = {s: i for i, s in enumerate(self.arch_str)}

    def __len__(self) -> int:
        return len(self.arch_str)

    def index_of(self, arch: str) -> int:
        try:
            return self._index[arch]
        except KeyError:
            raise UserError(f"arch {arch!r} is not in {self.missing_arch.format(path=self.path)}") from None

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise UserError(f"column {name!r} is not in {self.path}; columns: {', '.join(self.columns)}")
        return self.columns[name]
