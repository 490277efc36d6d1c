"""Faults the fake Claude API can inject, one per request, in the order they are queued.

Status faults answer with the error body the real API sends, so the anthropic SDK raises the
same exception classes it raises in production (``RateLimitError``, ``OverloadedError``,
``EnforcedSpendLimitReachedError``, ``ImageDimensionsTooLargeError``...)::

    {"type": "error",
     "error": {"type": "rate_limit_error", "message": "...", "details": {"error_code": "..."}},
     "request_id": "req_..."}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["ERROR_TYPES", "Fault", "FaultKind"]

FaultKind = Literal["status", "reset", "timeout", "slow", "truncated", "refusal", "reply", "context_exceeded"]

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` the API sends with each status."""


@dataclasses.dataclass(frozen=True)
class Fault:
    """One injected fault. Build them with the class methods.

    Attributes:
        kind: What happens to the request.
        status: HTTP status, for ``status`` faults.
        error_type: ``error.type`` of the body.
        message: ``error.message`` of the body, or the refusal explanation.
        details: ``error.details`` of the body (carries ``error_code``).
        headers: Extra response headers (``retry-after``...).
        seconds: Delay for ``slow`` and ``timeout`` faults.
        payload: The reply for ``reply`` faults: an object (sent as the answer) or a string
            (sent verbatim as the reply text).
    """

    kind: FaultKind
    status: int = 200
    error_type: str = ""
    message: str = ""
    details: Mapping[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    payload: Any = None

    @classmethod
    def status_error(
        cls,
        status: int,
        *,
        message: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An error response with the real body shape.

        Args:
            status: HTTP status.
            message: ``error.message``.
            error_type: ``error.type``; defaults to the API's type for ``status``.
            error_code: Sets ``error.details.error_code``, which selects the SDK's specific class.
            details: More of ``error.details``.
            retry_after: ``retry-after`` header, in seconds (sent rounded up to an integer, as the API does).
            retry_after_ms: ``retry-after-ms`` header, in milliseconds.
            headers: Any other response headers (e.g. ``{"x-should-retry": "false"}``).
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(math.ceil(retry_after))
        if retry_after_ms is not None:
            extra["retry-after-ms"] = str(retry_after_ms)
        body_details = dict(details or {})
        if error_code is not None:
            body_details["error_code"] = error_code
        return cls(
            "status",
            status=status,
            error_type=error_type or ERROR_TYPES.get(status, "api_error"),
            message=message or f"fake {status} error",
            details=body_details or None,
            headers=tuple(extra.items()),
        )

    @classmethod
    def rate_limited(cls, *, retry_after: float | None = None, retry_after_ms: float | None = None) -> Fault:
        """A 429 ``rate_limit_error``, optionally with ``retry-after`` / ``retry-after-ms``."""
        return cls.status_error(
            429,
            message="Number of request tokens has exceeded your per-minute rate limit.",
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
        )

    @classmethod
    def spend_limit(cls) -> Fault:
        """The 429 that means the organisation's monthly spend limit is reached (never retryable)."""
        return cls.status_error(
            429,
            message="Your organization has reached its monthly usage limit.",
            error_code="enforced_spend_limit_reached",
        )

    @classmethod
    def overloaded(cls, *, retry_after: float | None = None) -> Fault:
        """A 529 ``overloaded_error``."""
        return cls.status_error(529, message="Overloaded", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx ``api_error``."""
        return cls.status_error(status, message="Internal server error")

    @classmethod
    def unauthorized(cls, message: str = "invalid x-api-key") -> Fault:
        """A 401 ``authentication_error``."""
        return cls.status_error(401, message=message)

    @classmethod
    def bad_request(cls, message: str = "messages: invalid request") -> Fault:
        """A 400 ``invalid_request_error``."""
        return cls.status_error(400, message=message)

    @classmethod
    def schema_too_complex(cls) -> Fault:
        """The 400 the API gives when it cannot compile a structured-output schema into a grammar."""
        return cls.status_error(
            400,
            message="The compiled grammar is too large, which would cause performance issues. "
            "Simplify your tool schemas or reduce the number of strict tools.",
        )

    @classmethod
    def connection_reset(cls) -> Fault:
        """The connection is reset without a response."""
        return cls("reset")

    @classmethod
    def read_timeout(cls, seconds: float = 30.0) -> Fault:
        """No response within ``seconds``.

        The loopback server stalls for ``seconds`` and then hangs up; the mock transport raises
        ``httpx2.ReadTimeout`` at once.
        """
        return cls("timeout", seconds=seconds)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """A normal answer after ``seconds``."""
        return cls("slow", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        """A reply cut off at ``max_tokens`` (``stop_reason == "max_tokens"``, half the JSON)."""
        return cls("truncated")

    @classmethod
    def refusal(cls, explanation: str | None = None) -> Fault:
        """A refusal (``stop_reason == "refusal"``)."""
        return cls("refusal", message=explanation or "")

    @classmethod
    def reply(cls, payload: Any) -> Fault:
        """A normal reply with ``payload`` as the answer; a string is sent verbatim (e.g. invalid JSON)."""
        return cls("reply", payload=payload)

    @classmethod
    def context_window_exceeded(cls) -> Fault:
        """A reply that stopped at the model's context window."""
        return cls("context_exceeded")
