"""When to retry a failed API call, how long to wait, and when to give up. Decisions only, no I/O.

The SDK's own retries are switched off (``max_retries=0``) so attempts never multiply; these
functions decide instead, and :class:`CallRetry` holds them for one call, so the sync and async
loops of the backend repeat only the I/O (sending and sleeping).

* Retried: 408, 409, 429, 500, 502, 503, 504, 529, connection errors and timeouts.
* Never retried: 400, 401, 402, 403, 404, 413 and the spend-limit 429s, which last until the limit
  is raised. A ``400 image_dimensions_too_large`` is not retried as sent either: the caller
  re-renders the pages at the limit the error names.
* Waits are exponential with full jitter, and never shorter than the server's ``retry-after`` /
  ``retry-after-ms``. A 429 with ``retry-after`` also starts a :class:`Cooldown` that every
  concurrent call of the same backend waits out before its next attempt (:func:`start_cooldown`,
  :func:`cooldown_pause`); a call whose time budget the cooldown would overrun gives up at once.
* Attempts and total time are bounded; a wait that would overrun the time budget ends the
  retries at once instead of sleeping first. The time budget starts with the first attempt:
  time spent queued for a turn (:mod:`invoiceai.backends.claude.pacing`) does not count.
* An API that cannot be reached at all (connection refused, a host name that does not resolve:
  :func:`unreachable`) gets ``RetryPolicy.unreachable_attempts`` attempts (2), not the full
  count: nothing listening at the address is not worth minutes of retries.

Time comes from a :class:`~invoiceai.backends.claude.clock.Clock`, so tests run without wall time.
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import threading
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.backends.claude.api_errors import (
    IMAGE_TOO_LARGE_CODE,
    SPEND_LIMIT_CODES,
    describe_api_error,
    unreachable,
)
from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.secrets import get_logger

if TYPE_CHECKING:
    from invoiceai.config import Settings

__all__ = [
    "RETRYABLE_STATUS",
    "CallRetry",
    "Cooldown",
    "Disposition",
    "RetryPolicy",
    "backoff_delay",
    "classify",
    "cooldown_pause",
    "retry_after",
    "start_cooldown",
    "unreachable",
    "wait_reason",
]

logger = get_logger("invoiceai.backends")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

Disposition = Literal["retry", "fail", "shrink_images", "schema_too_complex"]

# What the API says when it cannot compile a structured-output schema into a grammar (reported
# by users, not documented as codes): lower-cased fragments of the 400's message.
_SCHEMA_TOO_COMPLEX = (
    "compiled grammar is too large",
    "schema is too complex",
    "too many optional",
    "union types",
)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of transport retries for one API call.

    Attributes:
        max_attempts: Attempts per call, counting the first.
        max_seconds: Total time one call may spend, waits included, before giving up.
        base_delay: Upper bound of the first jittered wait, in seconds; doubles per attempt.
        max_delay: Largest upper bound of one jittered wait (``retry-after`` may exceed it).
        unreachable_attempts: Attempts when the API cannot be reached at all (:func:`unreachable`).
    """

    max_attempts: int = 8
    max_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    unreachable_attempts: int = 2

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.unreachable_attempts < 1:
            raise ValueError("max_attempts and unreachable_attempts must be at least 1")
        if min(self.max_seconds, self.base_delay, self.max_delay) < 0:
            raise ValueError("retry delays must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float) -> RetryPolicy:
        """Builds the policy from ``settings.max_attempts`` and ``settings.max_retry_seconds``."""
        values: dict[str, Any] = {"max_attempts": settings.max_attempts, "max_seconds": settings.max_retry_seconds}
        values.update(overrides)
        return cls(**values)


class Cooldown:
    """A moment before which no call of one backend should start an attempt. Thread-safe.

    Args:
        clock: Where the time comes from (a fake one in tests).
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def extend(self, seconds: float) -> None:
        """Makes every call wait at least ``seconds`` from now."""
        with self._lock:
            self._until = max(self._until, self._clock.now() + seconds)

    def remaining(self) -> float:
        """Seconds left until calls may proceed (0 when none)."""
        with self._lock:
            return max(0.0, self._until - self._clock.now())


def classify(exc: BaseException) -> Disposition:
    """Decides what to do about an exception raised by ``messages.create``."""
    import anthropic

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return "retry"
    if not isinstance(exc, anthropic.APIStatusError):
        return "fail"
    if exc.error_code == IMAGE_TOO_LARGE_CODE:
        return "shrink_images"
    if exc.status_code == 400 and any(marker in str(exc).lower() for marker in _SCHEMA_TOO_COMPLEX):
        return "schema_too_complex"
    if exc.error_code in SPEND_LIMIT_CODES:
        return "fail"
    should_retry = exc.response.headers.get("x-should-retry")
    if should_retry == "false":
        return "fail"
    if exc.status_code in RETRYABLE_STATUS:
        return "retry"
    return "fail"


def wait_reason(exc: BaseException | None) -> str:
    """Names what a retry waits out, for a person: ``rate limited``, ``overloaded``, ``server error``..."""
    status = getattr(exc, "status_code", None)
    if status == 429:
        return "rate limited"
    if status == 529:
        return "overloaded"
    if status in (408, 504) or "Timeout" in type(exc).__name__:
        return "timed out"
    if status == 409:
        return "conflict"
    if isinstance(status, int):
        return f"server error {status}"
    if exc is not None and unreachable(exc):
        return "API unreachable"
    return "connection failed"


def retry_after(exc: BaseException | None, *, clock: Clock = SYSTEM_CLOCK) -> float | None:
    """Returns the wait the server asked for (``retry-after-ms``, then ``retry-after``), if any.

    Args:
        exc: The failure, usually an ``anthropic.APIStatusError``.
        clock: Its ``wall()`` time turns an HTTP-date ``retry-after`` into seconds.
    """
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, float(email.utils.mktime_tz(parsed) - clock.wall()))


def backoff_delay(
    attempt: int, policy: RetryPolicy, *, server_wait: float | None = None, rng: random.Random | None = None
) -> float:
    """Returns the wait before attempt ``attempt + 1``: full jitter, at least ``server_wait``.

    Args:
        attempt: The 1-based number of the attempt that just failed.
        policy: The policy's base and cap.
        server_wait: What the server asked for via ``retry-after``.
        rng: Random source (tests pass a seeded one).
    """
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** max(0, attempt - 1)))
    jittered = (rng or random).uniform(0.0, ceiling)
    return max(jittered, server_wait or 0.0)


def start_cooldown(exc: BaseException, cooldown: Cooldown, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Starts (or extends) the shared cooldown when ``exc`` is a retryable 429 with ``retry-after``.

    The I/O loops call it as soon as the 429 arrives, before the request slot is released, so
    that no call queued for that slot can send during the cooldown.
    """
    if getattr(exc, "status_code", None) != 429 or classify(exc) != "retry":
        return
    server_wait = retry_after(exc, clock=clock)
    if server_wait is not None:
        cooldown.extend(server_wait)


def cooldown_pause(cooldown: Cooldown, policy: RetryPolicy, elapsed: float) -> float | None:
    """Returns how long the next attempt must wait for the shared cooldown (0 for not at all).

    Returns ``None`` when that wait would overrun the call's time budget (``elapsed`` seconds
    are spent already): the call then gives up at once instead of sleeping first.
    """
    pause = cooldown.remaining()
    if pause > 0 and elapsed + pause > policy.max_seconds:
        return None
    return pause


class CallRetry:
    """The retry decisions of one API call, from its first attempt to its last. Not thread-safe.

    The loop asks :meth:`pause` once it holds a request slot, counts each attempt with
    :meth:`begin`, and after a failure asks :meth:`failed` how long to wait before the next
    attempt (``None``: give up and raise).

    Args:
        policy: Attempts and time allowed.
        cooldown: The backend's shared 429 cooldown.
        clock: Where the time comes from.
        label: Names the call in log lines.
        rng: Random source for the jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        cooldown: Cooldown,
        *,
        clock: Clock = SYSTEM_CLOCK,
        label: str = "claude",
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self._cooldown = cooldown
        self._clock = clock
        self._label = label
        self._rng = rng
        self._started: float | None = None
        self.attempts = 0

    def elapsed(self) -> float:
        """Seconds since the call's first attempt, waits included (0 before it)."""
        return 0.0 if self._started is None else self._clock.now() - self._started

    def overruns(self, seconds: float) -> bool:
        """Tells whether waiting ``seconds`` more would overrun the call's time budget."""
        return self.elapsed() + seconds > self._policy.max_seconds

    def pause(self) -> float | None:
        """Returns the shared cooldown left to wait before the next attempt (see :func:`cooldown_pause`)."""
        return cooldown_pause(self._cooldown, self._policy, self.elapsed())

    def cooldown_left(self) -> float:
        """Seconds the shared cooldown still holds every call back."""
        return self._cooldown.remaining()

    def begin(self) -> None:
        """Counts an attempt about to be sent."""
        if self._started is None:
            self._started = self._clock.now()
        self.attempts += 1

    def failed(self, exc: BaseException) -> float | None:
        """Returns the wait before the next attempt after ``exc``, or ``None`` to give up.

        A retryable 429 starts the shared cooldown first (while the caller still holds its slot).
        """
        start_cooldown(exc, self._cooldown, clock=self._clock)
        if classify(exc) != "retry" or self.attempts >= self._policy.max_attempts:
            return None
        if self.attempts >= self._policy.unreachable_attempts and unreachable(exc):
            return None  # nothing listens there: fail fast, with the hint the error carries
        # A cooldown started by another call counts too: no point waking up before it ends.
        server_wait = max(retry_after(exc, clock=self._clock) or 0.0, self._cooldown.remaining())
        wait = backoff_delay(self.attempts, self._policy, server_wait=server_wait, rng=self._rng)
        if self.elapsed() + wait > self._policy.max_seconds:
            return None  # the wait would overrun the time budget: give up now, not after it
        logger.debug("%s: waiting %.2fs after %s", self._label, wait, describe_api_error(exc))
        return wait
