"""The cache contract shared by every backend, and the small pieces the backends share.

A cache maps a key (see :func:`invoiceai.cache.cache_key`) to JSON text. The Extractor is the
only writer: it stores validated data as JSON and re-validates what it reads, so the cache itself
never parses values, and a value that no longer decodes or validates (a schema change, a damaged
entry) is treated as a miss and simply overwritten by the next :meth:`Cache.set`.

The built-in caches share :class:`StoredCache`, which puts a
:class:`~invoiceai.cache.breaker.CircuitBreaker` in front of every lookup and write: a cache that
keeps failing is skipped for a while instead of costing a timeout on every document.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from invoiceai.cache.breaker import CircuitBreaker
from invoiceai.errors import CacheError
from invoiceai.secrets import mask_text

_STORED_SECRET_LENGTH = 16

__all__ = ["Cache", "CacheError", "CacheInfo", "CacheWarning", "StoredCache"]

_CacheT = TypeVar("_CacheT", bound="Cache")
_T = TypeVar("_T")


class CacheWarning(UserWarning):
    """Something went wrong in the cache and was worked around.

    For example: a corrupted SQLite file was moved aside, an entry that does not decode was
    treated as a miss, or a cache that kept failing is skipped for a while.
    """


@dataclasses.dataclass(frozen=True)
class CacheInfo:
    """A snapshot of a cache, for ``invoiceai cache info`` and for logs.

    Attributes:
        backend: ``"memory"``, ``"sqlite"``, ``"redis"`` or a third-party name.
        location: Where the entries live (a file path, a server URL without its password, ...).
        entries: Live (unexpired) entries, when the backend can count them.
        size_bytes: Bytes used: the database files for SQLite, the UTF-8 values otherwise.
        hits: Lookups that found an entry, counted by this cache object since it was opened.
        misses: Lookups that found nothing (or only an expired entry), counted the same way.
    """

    backend: str
    location: str
    entries: int | None = None
    size_bytes: int | None = None
    hits: int | None = None
    misses: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@runtime_checkable
class Cache(Protocol):
    """Stores extraction results as JSON text under opaque string keys.

    The contract every backend keeps:

    - **Synchronous and thread-safe.** Async code runs the cache in a worker thread.
    - ``get(key)`` returns the text last stored under ``key``, or ``None`` when there is none
      or it has expired. An expired entry is never returned, even if it is still stored.
    - ``set(key, value, ttl=...)`` stores ``value`` atomically, replacing any previous value
      (whatever that was: an overwrite is how a damaged or stale entry is repaired). ``ttl`` is
      in seconds; ``None`` (or infinity) means no expiry, and ``0`` or less means "already
      expired", so the entry is removed instead.
    - ``delete(key)`` removes an entry if present; ``clear()`` removes every entry of this cache
      (and nothing else that shares the storage).
    - ``info()`` describes the cache; ``close()`` releases files and connections and may be
      called more than once. Used as a context manager, the cache is closed on exit.
    - Keys and values are ``str``. Values are JSON text that the cache does not parse; a cache
      never sees API keys or documents, only keys and the extracted data. (The built-in caches
      also never store a registered secret, see :func:`invoiceai.secrets.register_secret`: only
      a server echoing the key could put one in the data, and it is stored as ``***``.)

    Built-in backends subclass this protocol to inherit the context-manager methods; a
    third-party cache only needs the methods.
    """

    def get(self, key: str) -> str | None:
        """Returns the live value stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Stores ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry), replacing any old value."""
        ...

    def delete(self, key: str) -> None:
        """Removes ``key`` if present."""
        ...

    def clear(self) -> None:
        """Removes every entry of this cache."""
        ...

    def info(self) -> CacheInfo:
        """Returns a snapshot of the cache."""
        ...

    def close(self) -> None:
        """Releases the cache's resources; safe to call twice."""
        ...

    def __enter__(self: _CacheT) -> _CacheT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def expiry_seconds(ttl: float | None) -> float | None:
    """Normalises a ``ttl`` argument: ``None`` for no expiry, else seconds (``0.0`` = already expired).

    Args:
        ttl: Seconds to live, ``None`` or ``math.inf`` for forever.

    Returns:
        ``None`` for no expiry, otherwise a non-negative number of seconds.

    Raises:
        ValueError: ``ttl`` is NaN.
    """
    if ttl is None or ttl == math.inf:
        return None
    ttl = float(ttl)
    if math.isnan(ttl):
        raise ValueError("ttl must be a number of seconds or None, not NaN")
    return max(ttl, 0.0)


def check_key(key: str) -> None:
    """Checks a key before any backend sees it.

    Raises:
        TypeError: ``key`` is not a ``str`` (``bytes`` would otherwise fail differently per backend).
        CacheError: ``key`` cannot be stored as UTF-8 (it holds a lone surrogate).
    """
    if not isinstance(key, str):
        raise TypeError(f"cache keys are str, got {type(key).__name__}")
    _check_utf8(key, "key")


def check_value(value: str) -> None:
    """Checks a value before any backend sees it.

    Raises:
        TypeError: ``value`` is not a ``str``: values are JSON text, not dicts or bytes.
        CacheError: ``value`` cannot be stored as UTF-8 (it holds a lone surrogate).
    """
    if not isinstance(value, str):
        raise TypeError(f"cache values are JSON text (str), got {type(value).__name__}")
    _check_utf8(value, "value")


def _check_utf8(text: str, what: str) -> None:
    # Every backend stores UTF-8; a lone surrogate (which JSON's "\ud800" escape can produce)
    # would fail inside sqlite3 or redis with an untyped UnicodeEncodeError.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CacheError(
            f"A cache {what} is not valid Unicode text (a lone surrogate at position {exc.start}); it was not cached."
        ) from None


class Counters:
    """Hit and miss counts, safe to bump from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def record(self, hit: bool) -> None:
        """Counts one lookup."""
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1


class StoredCache(Cache):
    """The parts of the :class:`Cache` contract every built-in backend keeps the same way, written once.

    It checks the arguments, decides what a ``ttl`` means (``0`` or less removes the entry), counts
    hits and misses and assembles :class:`CacheInfo`; a backend only stores and reads. A subclass
    sets :attr:`backend` and implements :meth:`_read`, :meth:`_write`, :meth:`_describe`,
    ``delete``, ``clear`` and ``close``. Third-party caches need not use it: the protocol is enough.
    """

    backend: ClassVar[str] = ""
    """The name :class:`CacheInfo` reports (``"memory"``, ``"sqlite"``, ``"redis"``)."""

    def __init__(self, *, breaker: CircuitBreaker | None = None) -> None:
        self._counters = Counters()
        self.breaker = CircuitBreaker() if breaker is None else breaker

    def get(self, key: str) -> str | None:
        """Returns the live value under ``key``, or ``None`` (also for an expired entry).

        While the breaker is open the cache is not asked and the lookup is a miss.

        Raises:
            CacheError: The backend failed (and the breaker was not open).
        """
        check_key(key)
        value = self._through_breaker(lambda: self._read(key), skipped=None)
        self._counters.record(value is not None)
        return value

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Stores ``value``, replacing any old value and its TTL; ``ttl <= 0`` removes the entry instead.

        While the breaker is open nothing is written.

        Raises:
            CacheError: The backend failed (and the breaker was not open), or ``value`` is not
                valid Unicode text.
        """
        check_key(key)
        check_value(value)
        # Only known literal secrets: the data itself may hold URLs or words that look like one.
        # And only long ones (API keys): a short password could also be a word of the invoice,
        # and masking it there would change the data served from the cache.
        value = mask_text(value, patterns=False, min_length=_STORED_SECRET_LENGTH)
        seconds = expiry_seconds(ttl)
        if seconds == 0.0:
            self.delete(key)
            return
        self._through_breaker(lambda: self._write(key, value, seconds), skipped=None)

    def _through_breaker(self, operation: Callable[[], _T], *, skipped: _T) -> _T:
        """Runs ``operation`` unless the breaker is open (then returns ``skipped``), and reports how it went."""
        breaker = self.breaker
        if not breaker.allow():
            return skipped
        try:
            result = operation()
        except CacheError as exc:
            if breaker.failed():
                warnings.warn(
                    f"{exc.message} It failed {breaker.threshold} times in a row, so it is skipped for "
                    f"{breaker.cooldown:g} s and then tried again; extraction carries on without it.",
                    CacheWarning,
                    stacklevel=3,  # the caller of get() or set()
                )
            raise
        except BaseException:
            breaker.abandoned()
            raise
        breaker.succeeded()
        return result

    def info(self) -> CacheInfo:
        """Returns where the entries live, how many are live, their size, and this object's hits and misses."""
        location, entries, size = self._describe()
        return CacheInfo(
            backend=self.backend,
            location=location,
            entries=entries,
            size_bytes=size,
            hits=self._counters.hits,
            misses=self._counters.misses,
        )

    def _read(self, key: str) -> str | None:
        """Returns the live value under a checked ``key``, or ``None``."""
        raise NotImplementedError

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        """Stores checked text for ``seconds`` (positive) or, for ``None``, with no expiry."""
        raise NotImplementedError

    def _describe(self) -> tuple[str, int | None, int | None]:
        """Returns the location, the live entry count and the size in bytes, for :meth:`info`."""
        raise NotImplementedError
