"""Caching of extraction results, so a document already extracted is never paid for twice.

- :class:`Cache` is the protocol every backend implements (see its docstring for the contract).
- :class:`SQLiteCache` is the default: one file in the user's cache directory.
- :class:`MemoryCache` keeps entries in this process; :class:`RedisCache` shares them across a
  fleet (``pip install "invoiceai[redis]"``).
- :func:`cache_key` hashes everything that can change an answer.
- :func:`open_cache` turns what a user passes as ``cache=`` into a cache.

Importing this package never imports ``redis``: :class:`RedisCache` does, when it is created.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from invoiceai.cache.base import Cache, CacheError, CacheInfo, CacheWarning
from invoiceai.cache.keys import cache_key
from invoiceai.cache.memory import MemoryCache
from invoiceai.cache.redis_cache import RedisCache, safe_url
from invoiceai.cache.sqlite import DEFAULT_FILENAME, SQLiteCache
from invoiceai.errors import ConfigurationError

if TYPE_CHECKING:
    from invoiceai.config import Settings

__all__ = [
    "Cache",
    "CacheError",
    "CacheInfo",
    "CacheSpec",
    "CacheWarning",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "cache_key",
    "open_cache",
]

CacheSpec = Cache | str | os.PathLike[str] | None
"""What ``cache=`` accepts: a cache, ``"memory"``, ``"sqlite"``, a file path, a Redis URL or ``None``."""

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_cache(spec: CacheSpec, *, settings: Settings | None = None) -> Cache | None:
    """Returns the cache that ``spec`` describes.

    Args:
        spec: One of

            - ``None``: caching disabled (returns ``None``);
            - a :class:`Cache` instance: returned as is;
            - ``"sqlite"``: the default :class:`SQLiteCache` in ``settings.cache_dir``;
            - ``"memory"``: a new :class:`MemoryCache`;
            - a ``redis://``, ``rediss://`` or ``unix://`` URL: a :class:`RedisCache`;
            - any other string or path: a :class:`SQLiteCache` at that file (or in that directory).
        settings: Where the default SQLite cache lives (``settings.cache_dir``); defaults to
            ``Settings.load()``.

    Returns:
        The cache, or ``None`` when caching is disabled. The caller closes it.

    Raises:
        ConfigurationError: ``spec`` is empty, a URL of another scheme, or of another type.
        MissingDependencyError: A Redis URL was given and the ``redis`` extra is not installed.
        CacheError: The SQLite file cannot be created or opened.
    """
    if spec is None:
        return None
    if isinstance(spec, Cache):
        return spec
    if isinstance(spec, os.PathLike):
        return SQLiteCache(spec)
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"cache= takes a Cache, 'sqlite', 'memory', a file path, a Redis URL or None, not {type(spec).__name__}."
        )
    text = spec.strip()
    if not text:
        raise ConfigurationError("cache= is an empty string; pass None to disable caching.")
    if text.lower() == "memory":
        return MemoryCache()
    if text.lower() == "sqlite":
        if settings is None:
            from invoiceai.config import Settings

            settings = Settings.load()
        return SQLiteCache(settings.cache_dir / DEFAULT_FILENAME)
    if text.lower().startswith(_REDIS_SCHEMES):
        return RedisCache(text)
    if "://" in text:
        raise ConfigurationError(
            f"cache={safe_url(text)!r} is not a cache URL; use redis://, rediss:// or unix:// (Redis) or a file path."
        )
    return SQLiteCache(text)
