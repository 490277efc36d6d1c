"""Errors as ``application/problem+json`` (RFC 9457), for every error the API can answer with.

Every :class:`~invoiceai.errors.InvoiceAIError` maps to a status and a problem ``type``
(``urn:invoiceai:problem:<slug>``), documented in ``docs/service.md``; FastAPI's own 404, 405 and
422 answers get the same shape, and anything unexpected becomes a 500 problem with no traceback
(one masked line about it goes to the server log, see :mod:`invoiceai.server.guard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoiceai import errors as library
from invoiceai.secrets import get_logger
from invoiceai.server.errors import ServiceError, TooManyRequestsError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

__all__ = ["LIBRARY_ERRORS", "PROBLEM_JSON", "document", "install", "problem", "status_of"]

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:invoiceai:problem:"

_log = get_logger("invoiceai.server")

LIBRARY_ERRORS: tuple[tuple[type[library.InvoiceAIError], int, str], ...] = (
    (library.UnsupportedFormatError, 415, "unsupported-format"),
    (library.DocumentTooLargeError, 413, "document-too-large"),
    (library.WrongPasswordError, 422, "wrong-password"),
    (library.EncryptedDocumentError, 422, "encrypted-document"),
    (library.UnsafeURLError, 422, "unsafe-url"),
    (library.FetchError, 422, "fetch-failed"),
    (library.InputError, 422, "invalid-document"),
    (library.SpendLimitError, 503, "backend-spend-limit"),
    (library.RateLimitError, 503, "backend-rate-limited"),
    (library.BackendError, 502, "backend-error"),
    (library.ExtractionValidationError, 422, "extraction-invalid"),
    (library.CacheError, 503, "cache-unavailable"),
    (library.RuleViolationError, 422, "einvoice-rules"),
    (library.MissingFieldsError, 422, "einvoice-missing-fields"),
    (library.EInvoiceError, 422, "einvoice-error"),
    (library.ConfigurationError, 500, "server-configuration"),
    (library.InvoiceAIError, 500, "internal-error"),
)
"""Library errors, most specific first: the first class an error is an instance of decides."""

_TITLES = {
    400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
    413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable content",
    429: "Too many requests", 500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
}  # fmt: skip


def status_of(error: library.InvoiceAIError) -> tuple[int, str]:
    """The HTTP status and problem slug of an error."""
    if isinstance(error, ServiceError):
        return error.status, error.slug
    for kind, status, slug in LIBRARY_ERRORS:
        if isinstance(error, kind):
            return status, slug
    return 500, "internal-error"  # pragma: no cover (InvoiceAIError is the last row)


def problem(
    status: int, slug: str, detail: str, *, instance: str | None = None, headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:  # fmt: skip
    """A problem+json response."""
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"type": TYPE_PREFIX + slug, "title": _TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _allowed(request: Request) -> list[str]:
    """Every method some route of the request's path takes (``app.state.api_routes``, set by create_app)."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "api_routes", ()):
        if route.path_regex.match(request.url.path):
            methods.update(route.methods or ())
    return sorted(methods)


def install(app: FastAPI, on_error: Any = None) -> None:
    """Registers the handlers that turn every error into problem+json.

    Args:
        app: The application.
        on_error: Called with the problem slug of every error answered (the metrics hook).
    """
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    count = on_error or (lambda slug: None)

    async def invoiceai_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, library.InvoiceAIError)
        status, slug = status_of(exc)
        count(slug)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequestsError) else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if status >= 500:
            _log.error("request %s failed: %s", request.url.path, exc)
        return problem(status, slug, str(exc.message), instance=request.url.path, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        count(slug)
        headers = None if exc.headers is None else dict(exc.headers)
        if exc.status_code == 405:  # Starlette names only the first route of the path; name them all
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return problem(exc.status_code, slug, str(exc.detail), instance=request.url.path, headers=headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        count("invalid-request")
        shown = [{"loc": list(item.get("loc", ())), "msg": item.get("msg", "")} for item in exc.errors()]
        return problem(422, "invalid-request", "The request does not match the API.", instance=request.url.path,
                       errors=shown)  # fmt: skip

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Not logged here: Starlette raises it again, and server.guard logs it as one masked line.
        count("internal-error")
        return problem(500, "internal-error", "The service failed unexpectedly; the error is in the server log.")

    app.add_exception_handler(library.InvoiceAIError, invoiceai_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457 application/problem+json).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:invoiceai:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "What did not match (422)"},
    },
}
"""The JSON Schema of every error body."""

_EVERY_ROUTE = (405, 500)
"""Statuses any API route may answer: a method the path does not take, and a defect."""


def document(app: FastAPI) -> None:
    """Makes the published OpenAPI say what the API really answers on errors.

    FastAPI documents its own validation errors as ``application/json`` ``HTTPValidationError``;
    this service answers every error as ``application/problem+json``. The generated description
    is rewritten once: every 4xx/5xx response of every route gets the problem schema under
    ``application/problem+json``, and every route documents 405 and 500.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        reference = {"$ref": "#/components/schemas/Problem"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status in _EVERY_ROUTE:
                    responses.setdefault(str(status), {})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400:
                        response["description"] = _TITLES.get(int(status), "Error")
                        response["content"] = {PROBLEM_JSON: {"schema": reference}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
