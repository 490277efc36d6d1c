"""A cache in Redis, so that a fleet of workers shares one set of results.

Needs the ``redis`` extra (``pip install "invoiceai[redis]"``); the ``redis`` package is imported
only when a :class:`RedisCache` is created. Entries expire in Redis itself (``SET ... PX``), so
expired entries cost nothing to clean up, and :meth:`RedisCache.clear` deletes only keys under
this cache's prefix (with ``SCAN``; never ``FLUSHDB``), so a shared Redis is safe to use.

A Redis URL may carry a password. It is handed to the redis client and never copied or shown:
reprs, messages, :class:`CacheInfo` and logs show the URL with the password replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from invoiceai.cache.base import CacheError, StoredCache, check_key
from invoiceai.errors import ConfigurationError, MissingDependencyError, redact

__all__ = ["DEFAULT_REDIS_URL", "RedisCache"]

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
_SCAN_BATCH = 500
_MAX_TTL_SECONDS = 1e12  # about 31,700 years: practically forever


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
        socket_timeout: Seconds to wait for a connection or reply before failing with
            :class:`CacheError`.

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
        socket_timeout: float = 5.0,
    ) -> None:
        if not prefix:
            raise ConfigurationError("RedisCache needs a non-empty prefix, so that clear() cannot delete other data.")
        super().__init__()
        self.prefix = prefix
        redis = _import_redis()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        if client is not None:
            self._client = client
            self._owns_client = False
            self.location = _describe_client(client)
        else:
            url = DEFAULT_REDIS_URL if url is None else url
            self.location = safe_url(url)
            try:
                self._client = redis.Redis.from_url(
                    url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
                )
            except (ValueError, TypeError) as exc:
                # Not kept on the object: the password only lives inside the redis client.
                detail = _without(self._scrub(exc), _url_password(url))
                raise ConfigurationError(f"Invalid Redis URL {self.location}: {detail}.") from exc
            self._owns_client = True

    def _read(self, key: str) -> str | None:
        with self._guard("read an entry"):
            try:
                raw = self._client.get(self.prefix + key)
            except UnicodeDecodeError:
                raw = None  # a caller's client with decode_responses=True met a damaged entry
        return _text(raw) if raw is not None else None

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        # SET replaces the value and its TTL in one command (PX for a TTL, none for no expiry).
        # Milliseconds, and at least one: PX 0 is an error in Redis. Redis refuses expiry times
        # past a 64-bit count of milliseconds; TTLs that long are kept without one.
        milliseconds = None if seconds is None or seconds > _MAX_TTL_SECONDS else max(1, round(seconds * 1000))
        with self._guard("write an entry"):
            self._client.set(self.prefix + key, value.encode("utf-8"), px=milliseconds)

    def delete(self, key: str) -> None:
        """Removes ``key`` if present."""
        check_key(key)
        with self._guard("delete an entry"):
            self._client.delete(self.prefix + key)

    def clear(self) -> None:
        """Deletes every key under this cache's prefix, in batches found with ``SCAN``."""
        names = self._scan()
        with self._guard("clear"):
            for start in range(0, len(names), _SCAN_BATCH):
                # UNLINK frees the memory in the background, so a large clear does not block the server.
                self._client.unlink(*names[start : start + _SCAN_BATCH])

    def _describe(self) -> tuple[str, int | None, int | None]:
        # Counts the keys under the prefix and sums their value sizes (one pass over them with SCAN).
        names = self._scan()
        replies: list[Any] = []
        with self._guard("count entries"):
            for start in range(0, len(names), _SCAN_BATCH):
                pipeline = self._client.pipeline(transaction=False)
                for name in names[start : start + _SCAN_BATCH]:
                    pipeline.exists(name)
                    pipeline.strlen(name)
                replies.extend(pipeline.execute())
        # EXISTS drops keys that expired between SCAN and now; STRLEN of a missing key is 0.
        entries = sum(1 for exists in replies[0::2] if exists)
        size = sum(int(length) for length in replies[1::2])
        return self.location, entries, size

    def close(self) -> None:
        """Closes the client's connections if this cache created the client."""
        if self._owns_client:
            with self._guard("close"):
                self._client.close()

    def __repr__(self) -> str:
        return f"RedisCache(location={self.location!r}, prefix={self.prefix!r})"

    def _scan(self) -> list[Any]:
        # Collected before deleting anything: SCAN may repeat keys but never misses one that
        # exists for the whole scan, and deleting while scanning would not change that.
        pattern = _escape_glob(self.prefix) + "*"
        with self._guard("list entries"):
            return list(dict.fromkeys(self._client.scan_iter(match=pattern, count=_SCAN_BATCH)))

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turns a redis error into a :class:`CacheError` that names the server but not its password."""
        try:
            yield
        except self._errors as exc:
            raise CacheError(
                f"The Redis cache at {self.location} could not {doing}: {type(exc).__name__}: {self._scrub(exc)}. "
                "Hint: check that the server is running and the URL and password are right, or pass cache=None."
            ) from exc

    def _scrub(self, exc: BaseException) -> str:
        # redis-py keeps passwords out of its messages; this makes sure of it. The password is
        # read from the client when needed rather than copied into this object.
        text = redact(str(exc))
        try:
            secret = self._client.connection_pool.connection_kwargs.get("password")
        except AttributeError:
            secret = None
        if isinstance(secret, str) and secret:
            text = _without(text, secret)
            text = _without(text, quote(secret, safe=""))
        return text


def safe_url(url: str) -> str:
    """Returns ``url`` with any password (in the user info or a ``password=`` query) replaced by ``***``.

    Args:
        url: A Redis URL.

    Returns:
        The URL, safe to log and show.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            netloc = f"{user}:***@{hostport}" if has_password else f"{user}@{hostport}"
        query = urlencode(
            [(name, "***" if name.lower() == "password" else value) for name, value in parse_qsl(parts.query)],
            safe="*",
        )
        # Built by hand: urlunsplit() turns "unix:///path" into "unix:/path".
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        # A URL too malformed to split may still hold a password; show nothing of it.
        return "<unparseable Redis URL>"


def _url_password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        password = parts.password
        query = [value for name, value in parse_qsl(parts.query) if name.lower() == "password"]
    except ValueError:
        return None
    return password or (query[0] if query else None)


def _without(text: str, secret: str | None) -> str:
    if not secret:
        return text
    return text.replace(secret, "***").replace(unquote(secret), "***")


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


def _text(raw: Any) -> str | None:
    # A caller-supplied client may have decode_responses=True and hand back str already.
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        # A damaged entry (we only ever write UTF-8): a miss, which the next set() replaces.
        return None


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError(
            'The Redis cache needs the redis package: pip install "invoiceai[redis]".', extra="redis"
        ) from exc
    return redis
