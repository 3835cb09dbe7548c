"""Zero-cost proxies, one module per family, all in one registry: ``get_proxy(name)``, ``list_proxies()``."""

from .base import ProxySpec, get_proxy, list_proxies, register

__all__ = ["ProxySpec", "get_proxy", "list_proxies", "register"]
