"""Per-key rate limits: one token bucket per API key, in memory, with no I/O.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s`` tokens a second. A request
costing ``cost`` tokens passes when the bucket holds that many (they are taken), and otherwise
waits: :meth:`KeyLimiter.check` returns the seconds until it would pass, and takes nothing, so a
refused request costs the caller nothing and the ``Retry-After`` it is told is exact.

Memory stays bounded. A bucket left alone for ``burst / rate_per_s`` seconds is full again, the
same as a bucket never seen, so it is dropped; and past ``max_keys`` live buckets the least
recently used one goes too (API keys are issued by us, so that cap is only a backstop).

The limiter lives in one process. With several API processes each holds its own buckets, so a
key may get up to one ``burst`` per process; put the limit in front of the fleet (a proxy) when
that matters.

This module imports nothing beyond the standard library, so the routes can use it without
loading anything heavy.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

__all__ = ["KeyLimiter", "retry_after_header", "seconds_to_utc_midnight"]

_SECONDS_PER_DAY = 86_400


class _Bucket:
    """The tokens a key had at ``stamp`` (clock seconds); refilled lazily when next looked at."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class KeyLimiter:
    """A token bucket per key: ``burst`` requests at once, ``rate_per_s`` a second after that.

    Thread-safe: every call holds one lock for a few arithmetic operations.

    Args:
        rate_per_s: Tokens added to each bucket per second (the sustained rate); > 0.
        burst: Tokens a full bucket holds (the most a key can spend at once); >= 1.
        clock: Monotonic seconds; tests inject a fake one.
        max_keys: Most buckets kept at once; past it the least recently used is dropped.

    Raises:
        ValueError: A parameter is out of range.
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}.")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}.")
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys!r}.")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._refill_s = burst / self.rate_per_s  # an idle bucket is full again after this long
        self._lock = threading.Lock()
        # Least recently used first: eviction looks only at the front.
        self._buckets: collections.OrderedDict[str, _Bucket] = collections.OrderedDict()

    def check(self, key_id: str, cost: int = 1) -> float:
        """Charges ``cost`` tokens to ``key_id`` if it has them.

        Args:
            key_id: The API key's id (never the key itself: ids are what get logged).
            cost: Tokens the request takes, 1 to ``burst`` (a batch may cost one per document).

        Returns:
            ``0.0`` when the request is allowed (the tokens are taken), otherwise the seconds
            until it would be allowed (nothing is taken).

        Raises:
            ValueError: ``cost`` is below 1 or above ``burst``: such a request could never pass,
                so the caller should refuse it outright (split the batch, or raise ``burst``).
        """
        if cost < 1 or cost > self.burst:
            raise ValueError(
                f"A request costing {cost} can never pass a bucket of {self.burst} tokens; "
                "refuse it (a smaller batch) or configure a larger burst."
            )
        with self._lock:
            now = self._clock()
            self._evict(now)
            bucket = self._buckets.get(key_id)
            if bucket is None:
                while len(self._buckets) >= self.max_keys:
                    self._buckets.popitem(last=False)
                bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
            else:
                self._buckets.move_to_end(key_id)
                # max(): a clock that steps back must not drain the bucket.
                elapsed = max(0.0, now - bucket.stamp)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
                bucket.stamp = max(bucket.stamp, now)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate_per_s

    def __len__(self) -> int:
        """The number of buckets held now (idle full ones may linger until the next check)."""
        with self._lock:
            return len(self._buckets)

    def _evict(self, now: float) -> None:
        """Drops the buckets that are full again (lock held)."""
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.stamp < self._refill_s:
                break  # the front is the least recently used: every later one is younger
            buckets.popitem(last=False)


def retry_after_header(wait: float) -> str:
    """Formats a wait for a ``Retry-After`` header: whole seconds, rounded up, at least 1.

    Rounding up means a client that waits exactly as told is allowed; the floor of 1 keeps
    clients from retrying at once on a sub-second wait.

    Args:
        wait: Seconds, as :meth:`KeyLimiter.check` returns them.

    Returns:
        The header value, such as ``"3"``.

    Raises:
        ValueError: ``wait`` is not a finite number.
    """
    if not math.isfinite(wait):
        raise ValueError(f"Retry-After needs a finite wait, got {wait!r}.")
    return str(max(1, math.ceil(wait)))


def seconds_to_utc_midnight(now: float | None = None) -> float:
    """Seconds until the next UTC midnight, when a daily quota starts again.

    Args:
        now: Unix time; defaults to ``time.time()``.

    Returns:
        A wait in ``(0, 86400]``, for :func:`retry_after_header` on a 429 for an exhausted quota.
    """
    now = time.time() if now is None else now
    return _SECONDS_PER_DAY - (now % _SECONDS_PER_DAY)
