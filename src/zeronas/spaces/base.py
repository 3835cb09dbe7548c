"""The SearchSpace protocol every space implements, and the space registry."""

from __future__ import annotations

import abc
import contextvars
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch import nn

from ..errors import UserError, shown
from ..validation import api


class SearchSpace(abc.ABC):
    """A search space: arch strings, canonical (isomorphism-free) keys, sampling, and network builders.

    Architectures are passed around as the space's native immutable value (for cell spaces a tuple of op
    names); ``parse``/``format`` convert to and from the standard string form users see.
    """

    name: str = ""
    ops: tuple[str, ...] = ()
    # cell spaces whose discrete networks take per-edge mixing weights (zeros scores those); genotype
    # spaces (DARTS) keep a subset of the supernet's edges and cannot hold `none`
    edge_weighted = True
    arch_allows_none = True
    # the network's height and width must be multiples of this (a stride-2 conv beside a 2x2 pooling shortcut
    # disagrees on odd sizes): 1 for any size
    input_multiple = 1

    def check_input_size(self, hw, what: str = "your images") -> None:
        """A one-line UserError when this space's networks cannot take ``hw`` ((height, width) or one side)."""
        h, w = (hw, hw) if isinstance(hw, int) else hw
        k = self.input_multiple
        if h % k or w % k:
            fit = "x".join(str(max(k, side // k * k)) for side in (h, w))
            raise UserError(f"{self.name} networks take images whose height and width are multiples of {k} (each "
                            f"reduction halves them beside a 2x2 pooling shortcut); {what} are {h}x{w}: resize or "
                            f"crop them, e.g. to {fit}")

    def cell_edge_groups(self) -> list[list[int]]:
        """Supernet edge indices per cell type (decided in turn, one edge of each, by Zero-Cost-PT)."""
        return [list(range(len(getattr(self, "edges", ()))))]

    def topology_groups(self) -> list[list[int]]:
        """Incoming edges of each node that keeps only some of them (none for cells that keep every edge)."""
        return []

    @abc.abstractmethod
    def parse(self, text: str) -> Any:
        """The space's architecture value of ``text`` (its ``format`` string, e.g. NB201's
        ``|op~0|+|op~0|op~1|+|...|``). UserError (one line) for text that is not an architecture of the space."""

    @abc.abstractmethod
    def format(self, arch: Any) -> str:
        """The architecture's string (what ``parse`` reads back, records name and stores key)."""

    @abc.abstractmethod
    def canonical(self, arch: Any) -> str:
        """A key shared by all architectures that compute the same function (up to isomorphism)."""

    def representative(self, arch: Any) -> Any:
        """The one member that stands for ``arch``'s whole isomorphism class when scores are taken from a fixed
        member (``Scorer(isomorph_member="fixed")``): here the arch the canonical key parses back to, for spaces
        whose canonical key is itself an architecture string."""
        return self.parse(self.canonical(arch))

    @abc.abstractmethod
    def enumerate(self) -> Iterator[Any]:
        """Every architecture of the space, in a fixed order (NB201: its 15,625 cells; huge spaces such as
        DARTS's are not meant to be listed)."""

    @abc.abstractmethod
    def size(self) -> int:
        """The number of architectures (strings, isomorphs counted apart)."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator | int | None = None) -> Any:
        """One random architecture, by the space's own draw (uniform over NB201's cells); ``rng``: a numpy
        Generator, or a seed (the same seed, the same architecture), or None (fresh entropy)."""

    @abc.abstractmethod
    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> Any:
        """A random one-edit neighbour of ``arch`` (one operation or connection changed), as REA mutates."""

    @abc.abstractmethod
    def build(self, arch: Any, **options) -> nn.Module:
        """The untrained network of ``arch`` (``options``: the space's build options, e.g. ``C``, ``N``,
        ``num_classes``), with the space's default init."""

    @abc.abstractmethod
    def supernet(self, **options) -> nn.Module:
        """The weight-sharing network holding every operation on every edge (the supernet methods')."""

    def why_not(self, method: str) -> str | None:
        """Why search ``method`` does not run on this space (one clause for the refusal), or None when there is
        no reason beyond 'not implemented here'."""
        return None

    def index(self, arch: Any, data_dir=None) -> int:
        """The arch's row in the space's benchmark table (NB201: the official index)."""
        from ..benchmarks import load_ground_truth

        return load_ground_truth(self.index_table or self.name, data_dir).index_of(self.format(arch))

    # the ground-truth table whose row order --index reads (None: the space's own, by its name)
    index_table: str | None = None

    def from_index(self, index: int, data_dir=None) -> Any:
        """The arch in row ``index`` of the space's benchmark table (``index_table``). UserError (one line)
        without a table or for an index out of range."""
        from ..benchmarks import load_ground_truth

        if isinstance(index, bool) or not isinstance(index, numbers.Integral):  # before any table is read
            raise UserError(f"{self.name} index must be an integer, not {type(index).__name__} {shown(index)}")
        table = load_ground_truth(self.index_table or self.name, data_dir)
        if not 0 <= index < len(table):
            raise UserError(f"{self.name} index {index} is out of range 0..{len(table) - 1} (order of the "
                            f"{self.index_table or self.name} benchmark table)")
        return self.parse(table.arch_str[index])

    def from_file(self, path) -> Any:
        """The one architecture held by the file at ``path`` (the CLI's ``--arch-file``): a search's result.json
        or an export's model.json, an architecture's JSON, or its string (blank lines and # comments skipped).
        UserError (one line, naming the file) for an unreadable or empty file, a file holding several
        architectures, or text that is no architecture of this space. See :mod:`zeronas.spaces.arch_file`."""
        from .arch_file import read_arch

        return read_arch(self, path, api=True)

    def archs_from_file(self, path) -> list[Any]:
        """Every architecture held by the file at ``path``, in file order: one string per line (a DARTS genotype
        also as its JSON), or every run of a ``search --runs N`` result.json. Errors as :meth:`from_file`, less
        the several-archs one."""
        from .arch_file import read_archs

        return read_archs(self, path, api=True)

    def coerce(self, arch: Any) -> Any:
        """Accept an arch string or a native arch value."""
        return self.parse(arch) if isinstance(arch, str) else arch


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """``rng`` itself, or a generator seeded with it (None: fresh entropy). UserError (one line) for anything
    else (a negative or non-integer seed, a text): numpy's own errors name no option."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, numbers.Integral) or rng < 0):
        raise UserError(f"rng must be a numpy Generator, a seed (an integer >= 0) or None, not "
                        f"{type(rng).__name__} {shown(rng)}")
    return np.random.default_rng(rng)


def arch_text(space_name: str, text) -> str:
    """``text`` when it is a str; else a one-line UserError: parse reads arch strings (``coerce`` takes
    either a string or the space's native value)."""
    if not isinstance(text, str):
        raise UserError(f"{space_name} parse takes an arch string, not {type(text).__name__} {shown(text)}; "
                        f"give the string (coerce() also takes the space's native value)")
    return text


_SPACES: dict[str, type[SearchSpace]] = {}


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    _SPACES[cls.name] = cls
    import inspect

    _RAW_COERCE[cls.name] = inspect.unwrap(cls.coerce)  # its own or inherited (nb301: darts's), unwrapped
    for method in ("parse", "coerce"):
        if method in cls.__dict__:
            setattr(cls, method, _naming_the_right_space(cls.__dict__[method]))
    return cls


_HINT = "it is an architecture of the "
_RAW_COERCE: dict = {}  # each space's own coerce, unwrapped
_PROBING = contextvars.ContextVar("zeronas_space_probing", default=False)  # a probe's refusal probes no further


def _naming_the_right_space(fn):
    """A refused arch string that another registered space takes is named with that space (an NB201 string
    given with --space darts used to be 'not a DARTS genotype' alone). Only strings are probed: a native value
    (a tuple, a matrix) is what a space's own sampling and mutation try and refuse in loops."""
    import functools

    @functools.wraps(fn)
    def checked(self, arch, *args, **kwargs):
        try:
            return fn(self, arch, *args, **kwargs)
        except UserError as exc:
            if not isinstance(arch, str) or _HINT in str(exc) or _PROBING.get():
                raise
            takers = []
            token = _PROBING.set(True)
            try:
                for name, cls in _SPACES.items():
                    if name != self.name:
                        try:
                            _RAW_COERCE[name](cls(), arch)
                            takers.append(name)
                        except Exception:  # noqa: BLE001  (any refusal: not that space's either)
                            pass
            finally:
                _PROBING.reset(token)
            if not takers:
                raise
            message = f"{exc}; {_HINT}{takers[0]} space: pass --space {takers[0]}"
            try:
                named = type(exc)(message)  # the same class (DataNotFound, ...) where it takes a message alone
            except TypeError:
                named = UserError(message)
            raise named from None

    return checked


@api()
def space(name: str) -> SearchSpace:
    """``zeronas.space("nb201")``: the search space registered under ``name``, or a plug-in space
    (``path/to/file.py:ClassName``, ``package.module:ClassName`` or an installed ``zeronas.spaces`` entry point;
    see :mod:`zeronas.spaces.plugin`); a space class or object of your own is adapted as a plug-in."""
    from . import darts, macro, nb101, nb201  # noqa: F401  (registers the built-in spaces)
    from .plugin import REQUIRED

    if not isinstance(name, str) and (isinstance(name, (type, SearchSpace)) or all(hasattr(name, m)
                                                                                 for m in REQUIRED)):
        return resolve(name)  # a class or object of the user's, adapted as a plug-in
    if not isinstance(name, str):
        raise UserError(f"a space is named by a string (one of {', '.join(sorted(_SPACES))}, or a plug-in "
                        f"'path/to/file.py:ClassName'), not {type(name).__name__} {shown(name)}")
    key = name.lower().replace("-", "").replace("_", "")
    for registered, cls in _SPACES.items():
        if registered.replace("-", "").replace("_", "") == key:
            return cls()
    from .plugin import is_plugin, load_space, unknown_message  # a user-defined space

    if is_plugin(name):
        return load_space(name)
    raise UserError(unknown_message("search space", name))


def resolve(value, label: str = "space=") -> SearchSpace:
    """What every verb does with its ``space`` argument: a name or plug-in spec (``space(value)``), a space
    object as it is, or a user's class or duck-typed object adapted as a plug-in (``plugin.from_python``)."""
    if isinstance(value, str):
        return space(value)
    if getattr(value, "plugin", False) or any(c.__module__.startswith("zeronas.") for c in type(value).__mro__
                                               if c not in (SearchSpace, object)):
        return value  # zeronas's own (a built-in space, ModelSpace), a subclass of one, or one adapted already
    from .plugin import from_python

    return from_python(value, label)


def loadable(sp) -> str:
    """What another process loads ``sp`` from with ``space(...)``: a built-in's name, a plug-in's spec
    (``path.py:Class``, or ``module:Class`` for one adapted from Python)."""
    return sp.source if getattr(sp, "plugin", False) and getattr(sp, "source", None) else sp.name


def list_spaces() -> list[str]:
    """The names of the built-in spaces, sorted (plug-in spaces are named ``file.py:Class`` and not listed;
    ``zeronas spaces`` describes each)."""
    from . import darts, macro, nb101, nb201  # noqa: F401

    return sorted(_SPACES)
