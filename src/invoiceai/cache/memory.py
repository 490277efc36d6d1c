"""An in-process LRU cache: fast, thread-safe, gone when the process ends."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from invoiceai.cache.base import StoredCache, check_key

__all__ = ["MemoryCache"]


class MemoryCache(StoredCache):
    """Keeps up to ``max_entries`` values in memory, evicting the least recently used first.

    Useful for tests, notebooks and short-lived batch jobs that should not touch the disk.
    Expired entries are dropped when they are looked up or reach the eviction end.

    Args:
        max_entries: How many entries to keep; the least recently read or written goes first.
        clock: Seconds from a monotonic clock; tests inject a fake one to expire entries.

    Raises:
        ValueError: ``max_entries`` is below 1.
    """

    backend = "memory"

    def __init__(self, max_entries: int = 1024, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        super().__init__()
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, expires_at or None); order is least to most recently used.
        self._entries: OrderedDict[str, tuple[str, float | None]] = OrderedDict()
        self._bytes = 0

    def _read(self, key: str) -> str | None:
        # A hit makes the entry the most recent.
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is not None and entry[1] <= self._clock():
                self._remove(key)
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
        return None if entry is None else entry[0]

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        with self._lock:
            self._remove(key)
            expires_at = None if seconds is None else self._clock() + seconds
            self._entries[key] = (value, expires_at)
            self._bytes += _size(value)
            while len(self._entries) > self.max_entries:
                self._remove(next(iter(self._entries)))

    def delete(self, key: str) -> None:
        """Removes ``key`` if present."""
        check_key(key)
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        """Removes every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _describe(self) -> tuple[str, int | None, int | None]:
        # The live entry count and the UTF-8 size of the values; expired entries are dropped first.
        with self._lock:
            now = self._clock()
            expired = [
                key for key, (_, expires_at) in self._entries.items() if expires_at is not None and expires_at <= now
            ]
            for key in expired:
                self._remove(key)
            return f"process {os.getpid()}", len(self._entries), self._bytes

    def close(self) -> None:
        """Drops every entry; the cache stays usable (it simply starts empty)."""
        self.clear()

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.max_entries})"

    def _remove(self, key: str) -> None:
        # Caller holds the lock.
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _size(entry[0])


def _size(value: str) -> int:
    return len(value.encode("utf-8"))
