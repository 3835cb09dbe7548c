"""Search strategies over a space, driven by proxies: ``zeronas.search.search(space, method=...)``."""

from .base import SearchResult, list_strategies, search, strategy_keywords

__all__ = ["SearchResult", "search", "list_strategies", "strategy_keywords"]

from ..validation import callable_module  # noqa: E402

callable_module(__name__, search)  # zeronas.search(...) runs a search
