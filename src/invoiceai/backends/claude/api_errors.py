"""Turning an anthropic SDK exception into the typed invoiceai error, and naming it in logs.

Messages quote the API's own explanation, so every one goes through
:func:`invoiceai.secrets.mask_text` with the literal credentials the backend holds.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from invoiceai.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    InvoiceAIError,
    OverloadedError,
    RateLimitError,
    RequestRejectedError,
    SpendLimitError,
)
from invoiceai.secrets import mask_text, scrub_exception

__all__ = [
    "IMAGE_TOO_LARGE_CODE",
    "SPEND_LIMIT_CODES",
    "charged_errors",
    "describe_api_error",
    "to_backend_error",
    "unreachable",
]

SPEND_LIMIT_CODES = frozenset(
    {"enforced_spend_limit_reached", "contract_spend_limit_reached", "linked_organization_spend_limit_reached"}
)
IMAGE_TOO_LARGE_CODE = "image_dimensions_too_large"

# What a status error that retries could not fix becomes, and what its message advises.
_STATUS_ERRORS: tuple[tuple[type[BackendError], str], ...] = (
    (SpendLimitError, "The Claude API refused for billing or spend limits ({label}){said}. Raise the limit; "
     "retrying cannot help."),
    (AuthenticationError, "The Claude API rejected the credentials ({label}){said}. Check ANTHROPIC_API_KEY and "
     "its permissions."),
    (RateLimitError, "The Claude API kept rate limiting ({label}){said}, {tries}. Lower concurrency or raise "
     "max_attempts / max_retry_seconds."),
    (OverloadedError, "The Claude API stayed unavailable ({label}){said}, {tries}. Try again later or raise "
     "max_attempts / max_retry_seconds."),
    (RequestRejectedError, "The Claude API rejected the request ({label}){said}."),
)  # fmt: skip


def unreachable(exc: BaseException) -> bool:
    """Tells whether ``exc`` means the API cannot be reached at all, as opposed to a flaky connection.

    A refused connection (nothing listens at the address) or a host name that does not resolve
    will not fix itself within a retry budget; a reset, a timeout or a 5xx may.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def describe_api_error(exc: BaseException | None) -> str:
    """Names an API failure for a log line: ``429 rate_limit_error``, ``500`` or the exception class."""
    status = getattr(exc, "status_code", None)
    if status is None:
        return type(exc).__name__
    code = getattr(exc, "error_code", None) or getattr(exc, "type", None)
    return f"{status} {code}" if code else str(status)


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
    error_class: type[BackendError] = BackendError
    if isinstance(exc, anthropic.APIConnectionError) and unreachable(exc):
        error_class = BackendConnectionError
        message = (
            f"The Claude API at {_address(exc)} cannot be reached ({_root_cause(exc)}) {tries}: nothing "
            "accepted the connection. Check the network, a proxy, and ANTHROPIC_BASE_URL (or base_url=)."
        )
    elif isinstance(exc, anthropic.APIConnectionError):
        kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "could not connect"
        error_class = BackendConnectionError
        message = (
            f"The Claude API request {kind} {tries}; check the network and ANTHROPIC_BASE_URL, "
            "or raise request_timeout / max_retry_seconds."
        )
    elif isinstance(exc, anthropic.CredentialsError):
        # Bedrock, Vertex or identity-token credentials that could not be loaded: a setup problem
        # of the same kind as a wrong key, and just as pointless to retry.
        error_class = AuthenticationError
        message = f"The Claude client could not load its credentials: {exc}. Check the client's credential setup."
    elif isinstance(exc, anthropic.APIStatusError):
        context["request_id"] = None if exc.request_id is None else mask_text(exc.request_id, secrets)
        error_class, template = _STATUS_ERRORS[_status_row(exc.status_code, exc.error_code)]
        label = " ".join(str(part) for part in (exc.status_code, exc.error_code or exc.type) if part)
        said = f": {exc.api_message}" if exc.api_message else ""
        message = template.format(label=label, said=said, tries=tries)
    else:
        message = f"The Claude API call failed {tries}: {exc}"
    return error_class(mask_text(message, secrets), **context)


def _address(exc: BaseException) -> str:
    # Scheme, host and port only: a URL's user:password part or query must not reach a message.
    url = getattr(getattr(exc, "request", None), "url", None)
    host = getattr(url, "host", None)
    if not host:
        return "the configured address"
    port = getattr(url, "port", None)
    return f"{getattr(url, 'scheme', 'https')}://{host}{f':{port}' if port else ''}"


def _root_cause(exc: BaseException) -> str:
    seen: set[int] = set()
    cause: BaseException = exc
    while (nxt := cause.__cause__ or cause.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        cause = nxt
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    return type(cause).__name__ if not str(cause) else f"{type(cause).__name__}: {cause}"


def _status_row(status: int, error_code: str | None) -> int:
    # The index into _STATUS_ERRORS.
    if error_code in SPEND_LIMIT_CODES or status == 402:
        return 0
    if status in (401, 403):
        return 1
    if status == 429:
        return 2
    if status >= 500 or status in (408, 409):
        return 3
    return 4


class _Charged(Protocol):
    @property
    def usage(self) -> Any: ...


@contextlib.contextmanager
def charged_errors(job: _Charged, secrets: tuple[str, ...]) -> Iterator[None]:
    """Gives an error leaving a job the job's usage and a chain that shows no secret.

    A failed document still cost tokens: the extractor reports them from ``error.usage``
    (``ExtractionFailure.usage``). The SDK's exception on ``__cause__`` quotes the server's words,
    which may echo the key, so every exception is scrubbed on its way out.
    """
    try:
        yield
    except InvoiceAIError as exc:
        exc.usage = job.usage
        scrub_exception(exc, secrets)
        raise
    except Exception as exc:
        scrub_exception(exc, secrets)
        raise
