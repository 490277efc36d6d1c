"""A circuit breaker, so a dead or hung cache costs a few short timeouts instead of one per document.

After ``threshold`` failures in a row the breaker *opens*: the cache is skipped (a lookup is a
miss, a write is dropped) without touching the server. Once ``cooldown`` seconds have passed,
one call is let through as a probe: if it succeeds the breaker closes and the cache is used
again; if it fails, the cache is skipped for another cool-down. Only the closed -> open change is
announced (one :class:`~invoiceai.cache.CacheWarning`), not every skipped call.

The breaker only counts; it never sleeps and does no I/O, and it takes a clock so tests can move
time instead of waiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_COOLDOWN", "DEFAULT_THRESHOLD", "CircuitBreaker"]

DEFAULT_THRESHOLD = 3
"""Failures in a row that open the breaker."""

DEFAULT_COOLDOWN = 30.0
"""Seconds the cache is skipped once the breaker has opened."""


class CircuitBreaker:
    """Counts a cache's failures in a row and says when to skip it.

    Thread-safe: a batch's workers share one breaker per cache. While the breaker is open and
    the cool-down is over, exactly one caller probes; the others keep skipping until it reports.

    Args:
        threshold: Failures in a row that open the breaker (at least 1).
        cooldown: Seconds to skip the cache before probing it again. ``0`` probes on the next
            call, which makes the breaker a no-op apart from its warning.
        clock: Monotonic seconds; tests inject a fake one.

    Raises:
        ValueError: ``threshold`` is below 1, or ``cooldown`` is negative or not a number.
    """

    def __init__(
        self,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ValueError(f"threshold must be an integer of at least 1, got {threshold!r}")
        if not isinstance(cooldown, (int, float)) or math.isnan(cooldown) or cooldown < 0:
            raise ValueError(f"cooldown must be a number of seconds >= 0, got {cooldown!r}")
        self.threshold = threshold
        self.cooldown = float(cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``"closed"`` (the cache is used), ``"open"`` (skipped) or ``"half-open"`` (a probe may go)."""
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._probing or self._clock() < self._open_until else "half-open"

    def allow(self) -> bool:
        """Returns whether the next call may use the cache; ``False`` means skip it.

        When it returns ``True`` the caller must report the outcome with :meth:`succeeded`,
        :meth:`failed` or :meth:`abandoned`, since it may be the one probe of a half-open breaker.
        """
        with self._lock:
            if self._open_until is None:
                return True
            if self._probing or self._clock() < self._open_until:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        """Reports a call that worked: the breaker closes and the failure count starts again."""
        with self._lock:
            self._failures = 0
            self._open_until = None
            self._probing = False

    def failed(self) -> bool:
        """Reports a call that failed.

        Returns:
            ``True`` when this failure opened a closed breaker (announce it once), ``False``
            otherwise (still below the threshold, or a failed probe that keeps it open).
        """
        with self._lock:
            self._failures += 1
            was_closed = self._open_until is None
            if was_closed and self._failures < self.threshold:
                return False
            self._open_until = self._clock() + self.cooldown
            self._probing = False
            return was_closed

    def abandoned(self) -> None:
        """Reports a call that ended for another reason (a caller's bug, an interrupt): no verdict."""
        with self._lock:
            self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(threshold={self.threshold}, cooldown={self.cooldown:g}, state={self.state!r})"
