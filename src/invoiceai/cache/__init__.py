"""Caching of extraction results, so a document already extracted is never paid for twice.

- :class:`Cache` is the protocol every backend implements (see its docstring for the contract).
- :class:`SQLiteCache` is the default: one file in the user's cache directory.
- :class:`MemoryCache` keeps entries in this process; :class:`RedisCache` shares them across a
  fleet (``pip install "invoiceai-claude[redis]"``).
- :func:`cache_key` hashes everything that can change an answer.
- :class:`CircuitBreaker` skips a built-in cache for a while after repeated failures (a hung
  Redis costs a few short timeouts, not one per document).
- :mod:`invoiceai.cache.envelope` reads a cached entry back without trusting it.
- :class:`CacheRegistry` maps names (``"memory"``, ``"sqlite"``) and URL schemes (``redis://``) to
  caches; :func:`open_cache` turns what a user passes as ``cache=`` into a cache with the built-ins.

Importing this package never imports ``redis``: :class:`RedisCache` does, when it is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.cache.base import Cache, CacheError, CacheInfo, CacheWarning
from invoiceai.cache.breaker import CircuitBreaker
from invoiceai.cache.keys import cache_key
from invoiceai.cache.memory import MemoryCache
from invoiceai.cache.redis_cache import RedisCache
from invoiceai.cache.registry import CacheRegistry, CacheSpec
from invoiceai.cache.sqlite import SQLiteCache

if TYPE_CHECKING:
    from invoiceai.config import Settings

__all__ = [
    "Cache",
    "CacheError",
    "CacheInfo",
    "CacheRegistry",
    "CacheSpec",
    "CacheWarning",
    "CircuitBreaker",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "cache_key",
    "open_cache",
]


def open_cache(spec: CacheSpec, *, settings: Settings | None = None) -> Cache | None:
    """Returns the cache that ``spec`` describes, using the built-in caches.

    A shortcut for ``CacheRegistry.with_builtins().open(spec, settings=settings)``; see
    :meth:`CacheRegistry.open` for what ``spec`` may be.

    Args:
        spec: ``None``, a :class:`Cache`, ``"sqlite"``, ``"memory"``, a file path or a Redis URL.
        settings: Where the default SQLite cache lives (``settings.cache_dir``); defaults to
            ``Settings.load()``.

    Returns:
        The cache, or ``None`` when caching is disabled. The caller closes it.

    Raises:
        ConfigurationError: ``spec`` is empty, a URL of another scheme, or of another type.
        MissingDependencyError: A Redis URL was given and the ``redis`` extra is not installed.
        CacheError: The SQLite file cannot be created or opened.
    """
    return CacheRegistry.with_builtins().open(spec, settings=settings)
