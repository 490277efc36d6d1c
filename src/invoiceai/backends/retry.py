"""When to retry a failed API call, how long to wait, and what to raise when giving up.

The decisions are plain functions of the exception; :func:`sync_retrying` and
:func:`async_retrying` wrap them in tenacity policies for the two I/O loops. The SDK's own
retries are switched off (``max_retries=0``) so attempts never multiply.

* Retried: 408, 409, 429, 500, 502, 503, 504, 529, connection errors and timeouts.
* Never retried: 400, 401, 402, 403, 404, 413 and the spend-limit 429s, which last until the limit
  is raised. A ``400 image_dimensions_too_large`` is not retried as sent either: the caller
  re-renders the pages at the limit the error names.
* Waits are exponential with full jitter, and never shorter than the server's ``retry-after`` /
  ``retry-after-ms``. A 429 with ``retry-after`` also starts a :class:`Cooldown` that every
  concurrent call of the same backend waits out before its next attempt (:func:`start_cooldown`,
  :func:`cooldown_pause`); a call whose time budget the cooldown would overrun gives up at once.
* Attempts and total time are bounded; a wait that would overrun the time budget ends the
  retries at once instead of sleeping first.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    OverloadedError,
    RateLimitError,
    RequestRejectedError,
    SpendLimitError,
)

if TYPE_CHECKING:
    import tenacity

    from invoiceai.config import Settings

__all__ = [
    "RETRYABLE_STATUS",
    "SPEND_LIMIT_CODES",
    "Cooldown",
    "Disposition",
    "RetryPolicy",
    "async_retrying",
    "backoff_delay",
    "classify",
    "cooldown_pause",
    "retry_after",
    "start_cooldown",
    "sync_retrying",
    "to_backend_error",
]

logger = logging.getLogger("invoiceai.backends")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
SPEND_LIMIT_CODES = frozenset(
    {"enforced_spend_limit_reached", "contract_spend_limit_reached", "linked_organization_spend_limit_reached"}
)
IMAGE_TOO_LARGE_CODE = "image_dimensions_too_large"

Disposition = Literal["retry", "fail", "shrink_images"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of transport retries for one API call.

    Attributes:
        max_attempts: Attempts per call, counting the first.
        max_seconds: Total time one call may spend, waits included, before giving up.
        base_delay: Upper bound of the first jittered wait, in seconds; doubles per attempt.
        max_delay: Largest upper bound of one jittered wait (``retry-after`` may exceed it).
    """

    max_attempts: int = 8
    max_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_seconds, self.base_delay, self.max_delay) < 0:
            raise ValueError("retry delays must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float) -> RetryPolicy:
        """Builds the policy from ``settings.max_attempts`` and ``settings.max_retry_seconds``."""
        values: dict[str, Any] = {"max_attempts": settings.max_attempts, "max_seconds": settings.max_retry_seconds}
        values.update(overrides)
        return cls(**values)


class Cooldown:
    """A moment before which no call of one backend should start an attempt. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def extend(self, seconds: float) -> None:
        """Makes every call wait at least ``seconds`` from now."""
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        """Seconds left until calls may proceed (0 when none)."""
        with self._lock:
            return max(0.0, self._until - self._clock())


def classify(exc: BaseException) -> Disposition:
    """Decides what to do about an exception raised by ``messages.create``."""
    import anthropic

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return "retry"
    if not isinstance(exc, anthropic.APIStatusError):
        return "fail"
    if exc.error_code == IMAGE_TOO_LARGE_CODE:
        return "shrink_images"
    if exc.error_code in SPEND_LIMIT_CODES:
        return "fail"
    should_retry = exc.response.headers.get("x-should-retry")
    if should_retry == "false":
        return "fail"
    if exc.status_code in RETRYABLE_STATUS:
        return "retry"
    return "fail"


def retry_after(exc: BaseException | None) -> float | None:
    """Returns the wait the server asked for (``retry-after-ms``, then ``retry-after``), if any."""
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
        return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))


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


def to_backend_error(
    exc: BaseException,
    *,
    attempts: int,
    document_id: str | None = None,
    secrets: Sequence[str] = (),
) -> BackendError:
    """Returns the typed invoiceai error for an API failure that will not be retried further.

    Args:
        exc: The SDK exception.
        attempts: Attempts made for the call.
        document_id: The document concerned.
        secrets: Literal values (the API key) to mask from the message, whatever their shape.
    """
    import anthropic

    context: dict[str, Any] = {"attempts": attempts, "document_id": document_id}
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, anthropic.APIConnectionError):
        kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "could not connect"
        message = (
            f"The Claude API request {kind} {tries}; check the network and ANTHROPIC_BASE_URL, "
            "or raise request_timeout / max_retry_seconds."
        )
        return BackendConnectionError(_mask(message, secrets), **context)
    if isinstance(exc, anthropic.CredentialsError):
        # Bedrock, Vertex or identity-token credentials that could not be loaded: a setup problem
        # of the same kind as a wrong key, and just as pointless to retry.
        message = f"The Claude client could not load its credentials: {exc}. Check the client's credential setup."
        return AuthenticationError(_mask(message, secrets), **context)
    if not isinstance(exc, anthropic.APIStatusError):
        return BackendError(_mask(f"The Claude API call failed {tries}: {exc}", secrets), **context)

    context["request_id"] = exc.request_id
    status = exc.status_code
    label = " ".join(str(part) for part in (status, exc.error_code or exc.type) if part)
    detail = exc.api_message or ""
    said = f": {detail}" if detail else ""
    error_class: type[BackendError]
    if exc.error_code in SPEND_LIMIT_CODES or status == 402:
        error_class = SpendLimitError
        message = (
            f"The Claude API refused for billing or spend limits ({label}){said}. "
            "Raise the limit; retrying cannot help."
        )
    elif status in (401, 403):
        error_class = AuthenticationError
        message = (
            f"The Claude API rejected the credentials ({label}){said}. Check ANTHROPIC_API_KEY and its permissions."
        )
    elif status == 429:
        error_class = RateLimitError
        message = (
            f"The Claude API kept rate limiting ({label}){said}, {tries}. "
            "Lower concurrency or raise max_attempts / max_retry_seconds."
        )
    elif status >= 500 or status in (408, 409):
        error_class = OverloadedError
        message = (
            f"The Claude API stayed unavailable ({label}){said}, {tries}. "
            "Try again later or raise max_attempts / max_retry_seconds."
        )
    else:
        error_class = RequestRejectedError
        message = f"The Claude API rejected the request ({label}){said}."
    return error_class(_mask(message, secrets), **context)


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _stop(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], bool]:
    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        # tenacity computes the wait before asking to stop; a wait that would overrun the
        # time budget ends the retries now rather than after a pointless sleep.
        upcoming = state.upcoming_sleep or 0.0
        return (state.seconds_since_start or 0.0) + upcoming > policy.max_seconds

    return stop


def start_cooldown(exc: BaseException, cooldown: Cooldown) -> None:
    """Starts (or extends) the shared cooldown when ``exc`` is a retryable 429 with ``retry-after``.

    The I/O loops call it as soon as the 429 arrives, before the request slot is released, so
    that no call queued for that slot can send during the cooldown.
    """
    if getattr(exc, "status_code", None) != 429 or classify(exc) != "retry":
        return
    server_wait = retry_after(exc)
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


def _wait(
    policy: RetryPolicy, cooldown: Cooldown, rng: random.Random | None
) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        server_wait = retry_after(exc)
        if exc is not None:
            start_cooldown(exc, cooldown)
        # A cooldown started by another call counts too: no point waking up before it ends.
        server_wait = max(server_wait or 0.0, cooldown.remaining())
        return backoff_delay(state.attempt_number, policy, server_wait=server_wait, rng=rng)

    return wait


def _retry_predicate(state: tenacity.RetryCallState) -> bool:
    if state.outcome is None or not state.outcome.failed:
        return False
    exc = state.outcome.exception()
    return exc is not None and classify(exc) == "retry"


def _log_before_sleep(label: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        # The failed attempt itself is logged by the job; this says how long we wait and why.
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.debug("%s: waiting %.2fs after %s", label, state.upcoming_sleep, _describe(exc))

    return before_sleep


def _describe(exc: BaseException | None) -> str:
    status = getattr(exc, "status_code", None)
    if status is not None:
        code = getattr(exc, "error_code", None) or getattr(exc, "type", None)
        return f"{status} {code}" if code else str(status)
    return type(exc).__name__


def sync_retrying(
    policy: RetryPolicy, cooldown: Cooldown, *, label: str = "claude", rng: random.Random | None = None
) -> tenacity.Retrying:
    """Returns the tenacity policy for one synchronous API call (re-raises the last error)."""
    import tenacity

    return tenacity.Retrying(
        stop=_stop(policy),
        wait=_wait(policy, cooldown, rng),
        retry=_retry_predicate,
        before_sleep=_log_before_sleep(label),
        reraise=True,
    )


def async_retrying(
    policy: RetryPolicy, cooldown: Cooldown, *, label: str = "claude", rng: random.Random | None = None
) -> tenacity.AsyncRetrying:
    """Returns the tenacity policy for one asynchronous API call (re-raises the last error)."""
    import tenacity

    return tenacity.AsyncRetrying(
        stop=_stop(policy),
        wait=_wait(policy, cooldown, rng),
        retry=_retry_predicate,
        before_sleep=_log_before_sleep(label),
        reraise=True,
    )
