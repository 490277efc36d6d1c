"""The service's own errors: each knows its HTTP status and problem type.

They are :class:`~invoiceai.errors.InvoiceAIError` s like every other error of invoiceai, so one
handler turns any of them, and any library error, into ``application/problem+json``.
"""

from __future__ import annotations

from invoiceai.errors import InvoiceAIError

__all__ = [
    "AttemptsExhaustedError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QuotaExceededError",
    "ServiceError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
]


class ServiceError(InvoiceAIError):
    """A request the service refuses; ``status`` and ``slug`` say how (the problem type is ``slug``)."""

    status = 400
    slug = "bad-request"


class InvalidRequestError(ServiceError):
    """The request's options are wrong (an unknown schema, a bad URL, a malformed field)."""

    status = 422
    slug = "invalid-request"


class UnauthorizedError(ServiceError):
    """No API key, or one the service does not know (or revoked)."""

    status = 401
    slug = "unauthorized"


class NotFoundError(ServiceError):
    """No such job or batch for this key (another key's job is not found either)."""

    status = 404
    slug = "not-found"


class ConflictError(ServiceError):
    """The job is not in a state that allows this (a result of an unfinished or failed job)."""

    status = 409
    slug = "conflict"


class PayloadTooLargeError(ServiceError):
    """The request body is over the size limit; it was refused before it was read in full."""

    status = 413
    slug = "payload-too-large"


class UnsupportedMediaTypeError(ServiceError):
    """The request's content type, or the uploaded document's, is not one the service takes."""

    status = 415
    slug = "unsupported-media-type"


class TooManyRequestsError(ServiceError):
    """The key's rate limit is reached; retry after ``retry_after`` seconds."""

    status = 429
    slug = "rate-limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class QuotaExceededError(TooManyRequestsError):
    """The key's daily document quota is used up; it resets at midnight UTC."""

    slug = "quota-exceeded"


class AttemptsExhaustedError(InvoiceAIError):
    """A job's workers stopped before it finished as often as ``max_attempts`` allows; it failed."""
