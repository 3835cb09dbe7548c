"""Search spaces: ``zeronas.spaces.space("nb201")``."""

from .base import SearchSpace, list_spaces, space

__all__ = ["SearchSpace", "space", "list_spaces"]
