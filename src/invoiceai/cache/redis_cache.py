"""A cache in Redis, so that a fleet of workers shares one set of results.

Needs the ``redis`` extra (``pip install "invoiceai-claude[redis]"``); the ``redis`` package is imported
only when a :class:`RedisCache` is created. Entries expire in Redis itself (``SET ... PX``), so
expired entries cost nothing to clean up, and :meth:`RedisCache.clear` deletes only keys under
this cache's prefix (with ``SCAN``; never ``FLUSHDB``), so a shared Redis is safe to use.

A Redis URL may carry a password. It is handed to the redis client and never copied or shown:
reprs, messages, :class:`CacheInfo` and logs show the URL with the password replaced by ``***``
(:func:`invoiceai.secrets.mask_url`).

A hung or unreachable server is given up on quickly: socket and connect timeouts are a fraction
of a second by default, redis-py does not retry, and the breaker of
:class:`~invoiceai.cache.base.StoredCache` skips the server for a while after a few failures.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from invoiceai.cache.base import CacheError, CacheWarning, StoredCache, check_key
from invoiceai.cache.breaker import CircuitBreaker
from invoiceai.errors import ConfigurationError, InvoiceAIError, MissingDependencyError
from invoiceai.secrets import mask_text, mask_url, register_secret, url_secrets

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_REDIS_URL", "DEFAULT_SOCKET_TIMEOUT", "RedisCache", "safe_url"]

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_SOCKET_TIMEOUT = 0.25
"""Seconds to wait for a reply: a healthy Redis answers in about a millisecond."""
DEFAULT_CONNECT_TIMEOUT = 0.5
"""Seconds to wait for a connection (with TLS, its handshake too)."""
_SCAN_BATCH = 500
_MAX_TTL_SECONDS = 1e12  # about 31,700 years: practically forever
_T = TypeVar("_T")


class RedisCache(StoredCache):
    """Stores entries in Redis under ``prefix + key``.

    Args:
        url: A ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL, as accepted by
            ``redis.Redis.from_url``. Defaults to ``redis://localhost:6379/0``. Ignored when
            ``client`` is given.
        client: An existing ``redis.Redis`` client to use instead of ``url``. It is not closed by
            :meth:`close`, since the caller owns it.
        prefix: Prepended to every key; :meth:`clear` deletes only keys that start with it, so
            several caches (or other applications) can share one Redis database.
        socket_timeout: Seconds to wait for a reply before failing with :class:`CacheError`.
            A ``socket_timeout=`` in the URL's query wins over this.
        connect_timeout: Seconds to wait for a connection (``socket_connect_timeout=`` in the
            URL wins over this).
        breaker: Skips the server for a while after repeated failures; defaults to
            :class:`~invoiceai.cache.breaker.CircuitBreaker` ``()`` (3 failures, 30 s).

    Raises:
        MissingDependencyError: The ``redis`` package is not installed.
        ConfigurationError: ``prefix`` is empty, or ``url`` is not a Redis URL.
    """

    backend = "redis"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "invoiceai:",
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not prefix:
            raise ConfigurationError("RedisCache needs a non-empty prefix, so that clear() cannot delete other data.")
        super().__init__(breaker=breaker)
        self.prefix = prefix
        redis = _import_redis()
        if client is not None:
            self._client = client
            self._owns_client = False
            self.location = _describe_client(client)
            register_secret(self._password(), owner=self)
            return
        url = DEFAULT_REDIS_URL if url is None else url
        self.location = mask_url(url)
        # Every message, repr and log record of invoiceai masks the password from now on.
        for secret in url_secrets(url):
            register_secret(secret, owner=self)
        self._owns_client = True
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            # No retries: a hung server would otherwise cost every timeout several times over.
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, TypeError) as exc:
            # Not kept on the object: the password only lives inside the redis client.
            detail = mask_text(str(exc), url_secrets(url))
            if _unencoded_delimiters(url):
                # The URL parser cut the password apart, and its message may quote a piece.
                detail = "the password holds an unencoded '/', '?' or '#'; percent-encode it (%2F, %3F, %23)"
        else:
            return
        # Raised outside the except block, so the dependency's exception (which may quote the
        # URL) is not chained onto ours.
        raise ConfigurationError(f"Invalid Redis URL {self.location}: {detail}.")

    def _read(self, key: str) -> str | None:
        def get() -> Any:
            try:
                return self._client.get(self.prefix + key)
            except UnicodeDecodeError:
                return b"\xff"  # a caller's client with decode_responses=True met a damaged entry

        raw = self._call("read an entry", get)
        return None if raw is None else self._text(raw)

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        # SET replaces the value and its TTL in one command (PX for a TTL, none for no expiry).
        # Milliseconds, and at least one: PX 0 is an error in Redis. Redis refuses expiry times
        # past a 64-bit count of milliseconds; TTLs that long are kept without one.
        milliseconds = None if seconds is None or seconds > _MAX_TTL_SECONDS else max(1, round(seconds * 1000))
        self._call(
            "write an entry", lambda: self._client.set(self.prefix + key, value.encode("utf-8"), px=milliseconds)
        )

    def delete(self, key: str) -> None:
        """Removes ``key`` if present."""
        check_key(key)
        self._call("delete an entry", lambda: self._client.delete(self.prefix + key))

    def clear(self) -> None:
        """Deletes every key under this cache's prefix, in batches found with ``SCAN``."""
        names = self._scan()
        for start in range(0, len(names), _SCAN_BATCH):
            # UNLINK frees the memory in the background, so a large clear does not block the server.
            batch = names[start : start + _SCAN_BATCH]
            self._call("clear", functools.partial(self._client.unlink, *batch))

    def _describe(self) -> tuple[str, int | None, int | None]:
        # Counts the keys under the prefix and sums their value sizes (one pass over them with SCAN).
        names = self._scan()
        replies: list[Any] = []

        def count(batch: list[Any]) -> list[Any]:
            pipeline = self._client.pipeline(transaction=False)
            for name in batch:
                pipeline.exists(name)
                pipeline.strlen(name)
            return list(pipeline.execute())

        for start in range(0, len(names), _SCAN_BATCH):
            batch = names[start : start + _SCAN_BATCH]
            replies.extend(self._call("count entries", functools.partial(count, batch)))
        # EXISTS drops keys that expired between SCAN and now; STRLEN of a missing key is 0.
        entries = sum(1 for exists in replies[0::2] if exists)
        size = sum(int(length) for length in replies[1::2])
        return self.location, entries, size

    def close(self) -> None:
        """Closes the client's connections if this cache created the client."""
        if self._owns_client:
            self._call("close", self._client.close)

    def __repr__(self) -> str:
        return f"RedisCache(location={self.location!r}, prefix={self.prefix!r})"

    def _scan(self) -> list[Any]:
        # Collected before deleting anything: SCAN may repeat keys but never misses one that
        # exists for the whole scan, and deleting while scanning would not change that.
        pattern = _escape_glob(self.prefix) + "*"
        return self._call(
            "list entries", lambda: list(dict.fromkeys(self._client.scan_iter(match=pattern, count=_SCAN_BATCH)))
        )

    def _call(self, doing: str, operation: Callable[[], _T]) -> _T:
        """Runs one client call; any error becomes a :class:`CacheError` naming the server, never its password.

        Whatever the client raises (a redis error, an ``OSError`` or ``ValueError`` it did not
        wrap) is typed here. The client's exception stays on ``__cause__`` unless its text holds
        a secret; then it is dropped, so no traceback can show it.
        """
        try:
            return operation()
        except InvoiceAIError:
            raise
        except Exception as exc:
            text = str(exc)
            clean = self._scrub(text)
            failure = CacheError(
                f"The Redis cache at {self.location} could not {doing}: {type(exc).__name__}: {clean}. "
                "Hint: check that the server is running and the URL and password are right, or pass cache=None."
            )
            if clean == text:
                raise failure from exc
        raise failure  # outside the except block: no __context__ either

    def _scrub(self, text: str) -> str:
        # redis-py keeps passwords out of its messages; this makes sure of it, even for a
        # password too short to be registered.
        return mask_text(text, [self._password()])

    def _password(self) -> str | None:
        # Read from the client when needed rather than copied into this object.
        try:
            secret = self._client.connection_pool.connection_kwargs.get("password")
        except AttributeError:
            secret = None
        return secret if isinstance(secret, str) else None

    def _text(self, raw: Any) -> str | None:
        # A caller-supplied client may have decode_responses=True and hand back str already.
        if isinstance(raw, str):
            return raw
        try:
            return bytes(raw).decode("utf-8")
        except (UnicodeDecodeError, TypeError) as exc:
            # A damaged entry (we only ever write UTF-8): a miss, which the next set() replaces.
            warnings.warn(
                f"An entry of the Redis cache at {self.location} is not UTF-8 text ({exc}); it counts as a miss "
                "and the next result replaces it.",
                CacheWarning,
                stacklevel=6,  # the caller of get(), through _read and the breaker
            )
            return None


def safe_url(url: str) -> str:
    """Returns ``url`` with every password replaced by ``***``: :func:`invoiceai.secrets.mask_url`.

    Kept for compatibility; new code calls :func:`~invoiceai.secrets.mask_url`.

    Args:
        url: A Redis URL.

    Returns:
        The URL, safe to log and show.
    """
    return mask_url(url)


def _unencoded_delimiters(url: str) -> bool:
    # Everything up to the last "@" after "scheme://" is the user info in the widest reading.
    _, _, rest = url.partition("://")
    return "@" in rest and any(mark in rest[: rest.rfind("@")] for mark in "/?#")


def _describe_client(client: Any) -> str:
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return f"<{type(client).__name__}>"
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError(
            'The Redis cache needs the redis package: pip install "invoiceai-claude[redis]".', extra="redis"
        ) from exc
    return redis
