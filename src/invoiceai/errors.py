"""The exception tree of invoiceai.

Every error the library raises on purpose is an :class:`InvoiceAIError`. Errors raised by a
dependency (pypdfium2, Pillow, the anthropic SDK, lxml, httpx2) are caught at the boundary and
re-raised as one of these with ``raise ... from exc``, so the original stays on ``__cause__``
(a masked copy of it when its text holds a secret).

```
InvoiceAIError
├── InputError                       the document itself is the problem
│   ├── UnsupportedFormatError       not a format we read (lists what is supported)
│   ├── CorruptDocumentError         truncated, damaged or unparseable
│   ├── EncryptedDocumentError       needs a password
│   │   └── WrongPasswordError       a password was given and is wrong
│   ├── DocumentTooLargeError        above a configured limit (``.setting``, ``.limit``, ``.found``)
│   │   ├── DecompressionBombError   decodes to far more pixels than it should
│   │   │   └── StreamTooLargeError  a PDF stream inflates past ``max_stream_bytes``
│   │   ├── TooManyPagesError        more pages (or frames) selected than ``max_pages``
│   │   ├── RenderTooLargeError      one page would render to more than ``max_render_bytes``
│   │   └── RenderTimeoutError       loading and rendering ran past ``render_timeout``
│   ├── EmptyDocumentError           has no pages (or none selected)
│   ├── PageSelectionError           a ``pages=`` selection that does not parse or fit
│   ├── NotAnInvoiceError            a valid document that is not an invoice (an order, ...)
│   └── FetchError                   a URL source could not be fetched
│       └── UnsafeURLError           refused: scheme or address not allowed (SSRF guard)
├── BackendError                     the model backend failed
│   ├── AuthenticationError          401/403: the key is missing rights or wrong
│   ├── RateLimitError               429s outlasted the retry budget
│   │   └── SpendLimitError          the account's spend limit is reached (never retried)
│   ├── OverloadedError              529/5xx outlasted the retry budget
│   ├── BackendConnectionError       network errors and timeouts outlasted the retry budget
│   ├── RequestRejectedError         400/404/413: the request cannot succeed as sent
│   ├── RefusalError                 the model refused to answer
│   ├── TokenBudgetExceededError     the document's token budget ran out before it was extracted
│   └── TruncatedOutputError         the reply hit max_tokens even after one larger retry
├── ExtractionValidationError        the reply never matched the schema within the re-ask budget
├── CacheError                       the result cache could not be used (server down, file unusable)
├── EInvoiceError                    reading or writing EN 16931 XML
│   ├── HostileXMLError              XML with a DTD or entities (XXE, "billion laughs"); also an InputError
│   ├── AttachmentTooLargeError      an attachment above ``max_attachment_bytes``; also a DocumentTooLargeError
│   ├── MissingFieldsError           an invoice lacks fields EN 16931 requires to write it
│   └── RuleViolationError           an invoice breaks EN 16931 business rules (``.findings``)
└── ConfigurationError               the library is set up wrongly (key, settings, schema)
    ├── MissingDependencyError       an optional extra is needed (names the extra)
    └── UnsupportedSchemaError       a custom schema that structured outputs cannot accept
```

Each error carries what is known about where it happened: ``document_id``, ``page`` (1-based),
``attempts`` and ``request_id``. None of them ever shows an API key or a password: the message
and ``request_id`` are masked when the error is built and again when it is shown
(:func:`invoiceai.secrets.mask_text`, here as :func:`redact`), and where a dependency's exception
on ``__cause__`` / ``__context__`` quotes a secret, the chain holds a masked copy of it instead
(:func:`invoiceai.secrets.scrub_exception`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.schema.findings import Finding
    from invoiceai.usage import Usage


def redact(text: str) -> str:
    """Masks secrets in ``text``: the same as :func:`invoiceai.secrets.mask_text` with no extra secrets.

    Masks every registered secret (the configured API key, a Redis password, ...), anything
    that looks like an API key or an auth header value, and every password in a URL.

    Args:
        text: Any message that may contain text from outside the library.

    Returns:
        The text with secrets replaced by ``***``.
    """
    # Imported here: ``import invoiceai`` loads this module and must stay cheap.
    from invoiceai.secrets import mask_text

    return mask_text(text)


class InvoiceAIError(Exception):
    """Root of every error invoiceai raises on purpose.

    Args:
        message: What went wrong and what to do about it.
        document_id: SHA-256 of the document's bytes, when known.
        page: 1-based page number the error concerns, when known.
        attempts: How many backend attempts were made, when relevant.
        request_id: The API request id of the last attempt, when known.

    Attributes:
        usage: Tokens and cost spent before the failure (failed requests are billed too); set by
            the backend on errors it raises, ``None`` otherwise.
    """

    usage: Usage | None = None

    def __init__(
        self,
        message: str,
        *,
        document_id: str | None = None,
        page: int | None = None,
        attempts: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.document_id = document_id
        self.page = page
        self.attempts = attempts
        # A server may put anything in its request-id header, even an echo of the key.
        self.request_id = None if request_id is None else redact(request_id)
        super().__init__(self.message)

    def context(self) -> dict[str, Any]:
        """Returns the known context fields (those that are not ``None``)."""
        fields = {
            "document_id": self.document_id,
            "page": self.page,
            "attempts": self.attempts,
            "request_id": self.request_id,
        }
        return {key: value for key, value in fields.items() if value is not None}

    def __str__(self) -> str:
        context = self.context()
        if "document_id" in context:
            context["document_id"] = str(context["document_id"])[:12]
        # Masked again when shown: a field may have been set after __init__, or a secret
        # registered since (see invoiceai.secrets.register_secret).
        if not context:
            return redact(self.message)
        details = ", ".join(f"{key}={value}" for key, value in context.items())
        return redact(f"{self.message} [{details}]")

    def __repr__(self) -> str:
        return redact(f"{type(self).__name__}({self.message!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (process-pool rendering, batch workers), and the
        # keyword-only context must survive pickling.
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[InvoiceAIError], message: str, state: dict[str, Any]) -> InvoiceAIError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InputError(InvoiceAIError):
    """The document itself cannot be used: fix or replace the input."""


class UnsupportedFormatError(InputError):
    """The bytes are not in a format invoiceai reads."""


class CorruptDocumentError(InputError):
    """The document is damaged, truncated or cannot be parsed."""


class EncryptedDocumentError(InputError):
    """The document is encrypted and needs a password (pass ``password=``)."""


class WrongPasswordError(EncryptedDocumentError):
    """A password was given but does not open the document."""


class DocumentTooLargeError(InputError):
    """The document is above a configured limit (its size, pages, pixels, decoded bytes or time).

    Args:
        message: What went wrong and what to do about it.
        setting: The :class:`~invoiceai.config.Settings` field (or renderer argument) that sets
            the limit, e.g. ``"max_pages"``, when known.
        limit: The limit in force.
        found: The value found (or a lower bound of it: counting stops just past the limit).
        **context: Context fields, see :class:`InvoiceAIError`.
    """

    def __init__(
        self,
        message: str,
        *,
        setting: str | None = None,
        limit: float | None = None,
        found: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.setting = setting
        self.limit = limit
        self.found = found


class DecompressionBombError(DocumentTooLargeError):
    """An image decodes to far more pixels than any real invoice has."""


class StreamTooLargeError(DecompressionBombError):
    """A PDF stream inflates to more than ``max_stream_bytes``; stopped while inflating."""


class TooManyPagesError(DocumentTooLargeError):
    """More pages (or image frames) are selected than ``max_pages`` allows; select some with ``pages=``."""


class RenderTooLargeError(DocumentTooLargeError):
    """One page would render to a bitmap larger than ``max_render_bytes`` (a budget far above the model's)."""


class RenderTimeoutError(DocumentTooLargeError):
    """Opening and rendering the document took longer than ``render_timeout`` seconds."""


class EmptyDocumentError(InputError):
    """The document has no pages, or the page selection leaves none."""


class PageSelectionError(InputError):
    """A ``pages=`` selection does not parse or lies outside the document."""


class NotAnInvoiceError(InputError):
    """A well-formed document that is not an invoice (for example an Order-X order)."""


class FetchError(InputError):
    """A URL source could not be fetched."""


class UnsafeURLError(FetchError):
    """A URL was refused before any request: its scheme or address is not allowed."""


class BackendError(InvoiceAIError):
    """The model backend failed to produce a reply."""


class AuthenticationError(BackendError):
    """The API rejected the credentials (401) or their permissions (403)."""


class RateLimitError(BackendError):
    """Rate limiting (429) lasted longer than the retry budget."""


class SpendLimitError(RateLimitError):
    """The organisation's spend limit is reached; retrying cannot help until it is raised."""


class OverloadedError(BackendError):
    """The API stayed overloaded (529) or failing (5xx) longer than the retry budget."""


class BackendConnectionError(BackendError):
    """Connection errors or timeouts lasted longer than the retry budget."""


class RequestRejectedError(BackendError):
    """The API rejected the request as sent (400, 404, 413); retrying cannot help."""


class RefusalError(BackendError):
    """The model declined to answer (``stop_reason == "refusal"``)."""


class TokenBudgetExceededError(BackendError):
    """The document's token budget (``Settings.token_budget``) ran out before all of it was extracted.

    Raised before a request that would overrun the budget is sent, so the budget is a hard cap
    on what one document can cost. A re-ask or a larger retry that would overrun it raises the
    error of its cause instead (:class:`ExtractionValidationError`, :class:`TruncatedOutputError`).
    """


class TruncatedOutputError(BackendError):
    """The reply was cut off at ``max_tokens`` even after a retry with a larger budget."""


class ExtractionValidationError(InvoiceAIError):
    """The model's replies never matched the schema within the re-ask budget.

    Args:
        message: What went wrong.
        errors: The last validation errors, as readable strings.
        **context: Context fields, see :class:`InvoiceAIError`.
    """

    def __init__(self, message: str, *, errors: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.errors = list(errors or [])


class CacheError(InvoiceAIError):
    """A cache backend failed: the database or server could not be reached or used.

    The message names the backend and its location (never a password) and says what to do; the
    backend's own exception stays on ``__cause__``. The extractor treats the cache as an
    optimisation: it catches this, adds a warning to the result, and carries on without it.
    """


class EInvoiceError(InvoiceAIError):
    """An EN 16931 e-invoice could not be read or written."""


class HostileXMLError(EInvoiceError, InputError):
    """The XML declares a DTD or entities, which no e-invoice needs; it was not parsed further."""


class AttachmentTooLargeError(EInvoiceError, DocumentTooLargeError):
    """A PDF's attachment decodes to more than ``max_attachment_bytes``; it was not read.

    An :class:`EInvoiceError`, so the extractor skips the embedded e-invoice with a warning and
    reads the pages, as for any other unreadable attachment.
    """


class MissingFieldsError(EInvoiceError):
    """The invoice lacks fields that EN 16931 requires to write it.

    Args:
        message: What went wrong.
        fields: The missing fields, as dotted paths with their business terms.
        **context: Context fields, see :class:`InvoiceAIError`.
    """

    def __init__(self, message: str, *, fields: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.fields = list(fields or [])


class ConfigurationError(InvoiceAIError):
    """invoiceai is set up wrongly: a missing key, a bad setting, an unusable schema."""


class MissingDependencyError(ConfigurationError):
    """An optional extra is needed for this input or feature.

    Args:
        message: What went wrong.
        extra: The name of the extra to install (``pip install "invoiceai-claude[extra]"``).
        **context: Context fields, see :class:`InvoiceAIError`.
    """

    def __init__(self, message: str, *, extra: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.extra = extra


class UnsupportedSchemaError(ConfigurationError):
    """A custom schema that Claude's structured outputs cannot accept."""


# Every exception class above is public; listing them by hand would be a third copy of the names
# (invoiceai/__init__.py imports and re-exports them).
__all__ = sorted(
    [name for name, value in dict(globals()).items() if isinstance(value, type) and issubclass(value, InvoiceAIError)]
    + ["redact"]
)


class RuleViolationError(EInvoiceError):
    """The invoice breaks EN 16931 business rules, so the XML written from it would fail them.

    Raised by :func:`invoiceai.einvoice.to_xml` unless ``force=True``.

    Args:
        message: What went wrong: each rule with its fields.
        findings: The error-level findings under official rule ids (``BR-...``).
        **context: Context fields, see :class:`InvoiceAIError`.
    """

    def __init__(self, message: str, *, findings: list[Finding] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.findings = list(findings or [])


__all__ = sorted([*__all__, "RuleViolationError"])
