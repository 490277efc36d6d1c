"""invoiceai: invoices (PDFs, scans, photos, e-invoices) in, typed and validated data out.

The names below are the public API:

- the facade and its results: :class:`Extractor`, :class:`Extraction`, :class:`ExtractionFailure`,
  :class:`Timings`, :class:`Usage`, :class:`Settings`;
- the data: :class:`Invoice` and its parts, :class:`Finding`, :func:`validate`, and the types
  their fields use (:data:`Severity`, :data:`Origin`, :data:`DocumentTypeName`);
- the whole plugin contract: :class:`Backend` / :class:`BackendResult` / :class:`BackendRegistry`,
  :class:`Renderer` / :class:`RendererRegistry` (with :class:`Document`, :data:`Pages`,
  :class:`PageSource`, :class:`Page`, :class:`ImageBudget`), :class:`Cache` / :class:`CacheInfo` /
  :class:`CacheRegistry`;
- every exception.

Everything except the exceptions is imported on first access (PEP 562), so ``import invoiceai``
stays cheap: pydantic, pypdfium2, Pillow and the anthropic SDK load only when the code that
needs them runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai._version import __version__
from invoiceai.errors import (
    AttachmentTooLargeError,
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    CacheError,
    ConfigurationError,
    CorruptDocumentError,
    DecompressionBombError,
    DocumentTooLargeError,
    EInvoiceError,
    EmptyDocumentError,
    EncryptedDocumentError,
    ExtractionValidationError,
    FetchError,
    HostileXMLError,
    InputError,
    InvoiceAIError,
    MissingDependencyError,
    MissingFieldsError,
    NotAnInvoiceError,
    OverloadedError,
    PageSelectionError,
    RateLimitError,
    RefusalError,
    RenderTimeoutError,
    RenderTooLargeError,
    RequestRejectedError,
    RuleViolationError,
    SpendLimitError,
    StreamTooLargeError,
    TokenBudgetExceededError,
    TooManyPagesError,
    TruncatedOutputError,
    UnsafeURLError,
    UnsupportedFormatError,
    UnsupportedSchemaError,
    WrongPasswordError,
)
from invoiceai.lazy import lazy_exports

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend, BackendResult
    from invoiceai.backends.registry import BackendRegistry
    from invoiceai.cache.base import Cache, CacheInfo
    from invoiceai.cache.registry import CacheRegistry
    from invoiceai.config import Settings
    from invoiceai.documents import Document
    from invoiceai.extractor import BatchItem, Extraction, ExtractionFailure, Extractor, Origin, Timings
    from invoiceai.pages import ImageBudget, Page, PageSource
    from invoiceai.provenance import Provenance, Review, ReviewPolicy
    from invoiceai.render import Pages, RendererRegistry
    from invoiceai.render.base import Renderer
    from invoiceai.schema import (
        Address,
        AllowanceCharge,
        Delivery,
        Finding,
        Invoice,
        LineItem,
        Party,
        PaymentDetails,
        Period,
        PrecedingInvoice,
        Severity,
        TaxLine,
        validate,
    )
    from invoiceai.schema.fields import DocumentTypeName
    from invoiceai.usage import Usage

# Public name -> module that defines it. Resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "Address": "invoiceai.schema",
    "PrecedingInvoice": "invoiceai.schema",
    "Period": "invoiceai.schema",
    "Delivery": "invoiceai.schema",
    "AllowanceCharge": "invoiceai.schema",
    "Backend": "invoiceai.backends.base",
    "BackendRegistry": "invoiceai.backends.registry",
    "BackendResult": "invoiceai.backends.base",
    "Cache": "invoiceai.cache.base",
    "CacheInfo": "invoiceai.cache.base",
    "CacheRegistry": "invoiceai.cache.registry",
    "Document": "invoiceai.documents",
    "DocumentTypeName": "invoiceai.schema.fields",
    "BatchItem": "invoiceai.extractor",
    "Extraction": "invoiceai.extractor",
    "ExtractionFailure": "invoiceai.extractor",
    "Extractor": "invoiceai.extractor",
    "Finding": "invoiceai.schema",
    "ImageBudget": "invoiceai.pages",
    "Invoice": "invoiceai.schema",
    "LineItem": "invoiceai.schema",
    "Origin": "invoiceai.extractor",
    "Page": "invoiceai.pages",
    "PageSource": "invoiceai.pages",
    "Pages": "invoiceai.render",
    "Party": "invoiceai.schema",
    "PaymentDetails": "invoiceai.schema",
    "Provenance": "invoiceai.provenance",
    "Review": "invoiceai.provenance",
    "ReviewPolicy": "invoiceai.provenance",
    "Renderer": "invoiceai.render.base",
    "RendererRegistry": "invoiceai.render",
    "Settings": "invoiceai.config",
    "Severity": "invoiceai.schema",
    "TaxLine": "invoiceai.schema",
    "Timings": "invoiceai.extractor",
    "Usage": "invoiceai.usage",
    "validate": "invoiceai.schema",
}

__all__ = [
    "Address",
    "AllowanceCharge",
    "AttachmentTooLargeError",
    "AuthenticationError",
    "Backend",
    "BackendConnectionError",
    "BackendError",
    "BackendRegistry",
    "BackendResult",
    "BatchItem",
    "Cache",
    "CacheError",
    "CacheInfo",
    "CacheRegistry",
    "ConfigurationError",
    "CorruptDocumentError",
    "DecompressionBombError",
    "Delivery",
    "Document",
    "DocumentTooLargeError",
    "DocumentTypeName",
    "EInvoiceError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "Extraction",
    "ExtractionFailure",
    "ExtractionValidationError",
    "Extractor",
    "FetchError",
    "Finding",
    "HostileXMLError",
    "ImageBudget",
    "InputError",
    "Invoice",
    "InvoiceAIError",
    "LineItem",
    "MissingDependencyError",
    "MissingFieldsError",
    "NotAnInvoiceError",
    "Origin",
    "OverloadedError",
    "Page",
    "PageSelectionError",
    "PageSource",
    "Pages",
    "Party",
    "PaymentDetails",
    "Period",
    "PrecedingInvoice",
    "Provenance",
    "RateLimitError",
    "RefusalError",
    "RenderTimeoutError",
    "RenderTooLargeError",
    "Renderer",
    "RendererRegistry",
    "RequestRejectedError",
    "Review",
    "ReviewPolicy",
    "RuleViolationError",
    "Settings",
    "Severity",
    "SpendLimitError",
    "StreamTooLargeError",
    "TaxLine",
    "Timings",
    "TokenBudgetExceededError",
    "TooManyPagesError",
    "TruncatedOutputError",
    "UnsafeURLError",
    "UnsupportedFormatError",
    "UnsupportedSchemaError",
    "Usage",
    "WrongPasswordError",
    "__version__",
    "validate",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
