"""Caches by name and URL scheme: :class:`CacheRegistry`.

What a user passes as ``cache=`` is resolved here. The built-in caches are registered with
``"module:attribute"`` references, exactly as a third-party cache published under the
``invoiceai.caches`` entry-point group is::

    # the plugin's pyproject.toml
    [project.entry-points."invoiceai.caches"]
    memcached = "mypackage.cache:MemcachedCache"

A plugin named ``memcached`` is then opened by ``cache="memcached"`` (its factory gets no
options) and by ``cache="memcached://host:11211"`` (its factory gets ``url=``). The mechanism is
:class:`invoiceai.plugins.PluginRegistry`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from invoiceai.cache.base import Cache
from invoiceai.cache.sqlite import DEFAULT_FILENAME
from invoiceai.errors import ConfigurationError
from invoiceai.plugins import Factory, PluginRegistry
from invoiceai.secrets import mask_url

if TYPE_CHECKING:
    from invoiceai.config import Settings

__all__ = ["ENTRY_POINT_GROUP", "FILE_CACHE", "CacheRegistry", "CacheSpec"]

ENTRY_POINT_GROUP = "invoiceai.caches"
"""The entry-point group third-party caches are published under."""

FILE_CACHE = "sqlite"
"""The registered name that file paths (and the default cache) open; its factory takes ``path=``."""

CacheSpec = Cache | str | os.PathLike[str] | None
"""What ``cache=`` accepts: a cache, ``"memory"``, ``"sqlite"``, a file path, a Redis URL or ``None``."""


class CacheRegistry(PluginRegistry[Cache]):
    """Maps names and URL schemes to cache factories.

    Example:
        ```python
        registry = CacheRegistry.with_builtins()
        registry.register("dict", DictCache)
        cache = registry.open("dict")
        ```
    """

    kind = "cache"
    group = ENTRY_POINT_GROUP
    protocol = Cache
    builtins: ClassVar[Mapping[str, str]] = {
        "memory": "invoiceai.cache.memory:MemoryCache",
        FILE_CACHE: "invoiceai.cache.sqlite:SQLiteCache",
        "redis": "invoiceai.cache.redis_cache:RedisCache",
    }
    builtin_schemes: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "memory": (),
        FILE_CACHE: (),
        "redis": ("redis", "rediss", "unix"),
    }
    """The URL schemes of the built-in names (a file path, not a URL, opens ``sqlite``)."""

    def __init__(self) -> None:
        super().__init__()
        self._schemes: dict[str, str] = {}

    def register(
        self, name: str, factory: Factory | str, *, replace: bool = False, schemes: Iterable[str] | None = None
    ) -> None:
        """Registers a cache factory under ``name`` and the URL schemes it opens.

        Args:
            name: The name users pass as ``cache=``.
            factory: A callable (or ``"module:attribute"`` reference to one) returning a
                :class:`~invoiceai.cache.Cache`. It is called with ``url=`` for a URL of one of
                its schemes, and with no options for the bare name.
            replace: Allow replacing an existing registration or scheme.
            schemes: URL schemes (``"redis"`` for ``redis://...``) this cache opens; defaults to
                those in :attr:`builtin_schemes` for a built-in name, else ``(name,)``.

        Raises:
            ConfigurationError: The name or a scheme is taken (and ``replace`` is false), or the
                factory is malformed.
        """
        if schemes is None:
            schemes = self.builtin_schemes.get(name, (name,))
        wanted = [scheme.lower() for scheme in schemes]
        taken = [scheme for scheme in wanted if self._schemes.get(scheme, name) != name]
        if taken and not replace:
            raise ConfigurationError(
                f"The URL scheme {taken[0]}:// already opens the {self._schemes[taken[0]]!r} cache; "
                "pass replace=True to replace it."
            )
        super().register(name, factory, replace=replace)
        # A replaced registration gives up the schemes it had.
        self._schemes = {scheme: owner for scheme, owner in self._schemes.items() if owner != name}
        for scheme in wanted:
            self._schemes[scheme] = name

    def unregister(self, name: str) -> None:
        """Removes ``name`` and the URL schemes it opens (no error if absent)."""
        super().unregister(name)
        self._schemes = {scheme: owner for scheme, owner in self._schemes.items() if owner != name}

    def schemes(self) -> dict[str, str]:
        """URL scheme -> the cache name it opens."""
        return dict(sorted(self._schemes.items()))

    def open(self, spec: CacheSpec, *, settings: Settings | None = None) -> Cache | None:
        """Returns the cache that ``spec`` describes.

        Args:
            spec: One of

                - ``None``: caching disabled (returns ``None``);
                - a :class:`~invoiceai.cache.Cache` instance: returned as is;
                - ``"sqlite"``: the default :class:`~invoiceai.cache.SQLiteCache` in ``settings.cache_dir``;
                - another registered name (``"memory"``): a new cache of that kind;
                - a URL of a registered scheme (``redis://``, ``rediss://``, ``unix://``): that cache;
                - any other string or path: a :class:`~invoiceai.cache.SQLiteCache` at that file
                  (or in that directory).
            settings: Where the default SQLite cache lives (``settings.cache_dir``); defaults to
                ``Settings.load()``.

        Returns:
            The cache, or ``None`` when caching is disabled. The caller closes it.

        Raises:
            ConfigurationError: ``spec`` is empty, a URL of an unknown scheme, or of another type.
            MissingDependencyError: A Redis URL was given and the ``redis`` extra is not installed.
            CacheError: The SQLite file cannot be created or opened.
        """
        if spec is None:
            return None
        if isinstance(spec, Cache):
            return spec
        if isinstance(spec, os.PathLike):
            return self.create(FILE_CACHE, path=spec)
        if not isinstance(spec, str):
            raise ConfigurationError(
                f"cache= takes a Cache, a name ({', '.join(self.names())}), a file path, a URL or None, "
                f"not {type(spec).__name__}."
            )
        text = spec.strip()
        if not text:
            raise ConfigurationError("cache= is an empty string; pass None to disable caching.")
        scheme, separator, _ = text.partition("://")
        if separator:
            return self._open_url(scheme.lower(), text)
        name = text.lower()
        if name == FILE_CACHE:
            return self.create(FILE_CACHE, path=_settings(settings).cache_dir / DEFAULT_FILENAME)
        if name in self:
            return self.create(name)
        return self.create(FILE_CACHE, path=text)

    def _open_url(self, scheme: str, url: str) -> Cache:
        name = self._schemes.get(scheme)
        if name is None:
            known = ", ".join(f"{known}://" for known in self._schemes) or "none"
            raise ConfigurationError(
                f"cache={mask_url(url)!r} is not a cache URL; use a file path or a URL of a registered "
                f"cache scheme ({known})."
            )
        return self.create(name, url=url)


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from invoiceai.config import Settings

    return Settings.load()
