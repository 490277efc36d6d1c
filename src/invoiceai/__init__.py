"""invoiceai: invoices (PDFs, scans, photos, e-invoices) in, typed and validated data out.

The names below are the public API. Everything except the exceptions is imported on first
access, so ``import invoiceai`` stays cheap: pydantic, pypdfium2, Pillow and the anthropic SDK
load only when the code that needs them runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from invoiceai._version import __version__
from invoiceai.errors import (
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
    RequestRejectedError,
    SpendLimitError,
    TokenBudgetExceededError,
    TruncatedOutputError,
    UnsafeURLError,
    UnsupportedFormatError,
    UnsupportedSchemaError,
    WrongPasswordError,
)

if TYPE_CHECKING:
    from invoiceai.config import Settings
    from invoiceai.extractor import Extraction, ExtractionFailure, Extractor, Timings
    from invoiceai.pages import ImageBudget, Page
    from invoiceai.schema import (
        Address,
        Finding,
        Invoice,
        LineItem,
        Party,
        PaymentDetails,
        TaxLine,
        validate,
    )
    from invoiceai.usage import Usage

# Public name -> module that defines it. Resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "Address": "invoiceai.schema",
    "Extraction": "invoiceai.extractor",
    "ExtractionFailure": "invoiceai.extractor",
    "Extractor": "invoiceai.extractor",
    "Timings": "invoiceai.extractor",
    "Finding": "invoiceai.schema",
    "ImageBudget": "invoiceai.pages",
    "Invoice": "invoiceai.schema",
    "LineItem": "invoiceai.schema",
    "Page": "invoiceai.pages",
    "Party": "invoiceai.schema",
    "PaymentDetails": "invoiceai.schema",
    "Settings": "invoiceai.config",
    "TaxLine": "invoiceai.schema",
    "Usage": "invoiceai.usage",
    "validate": "invoiceai.schema",
}

__all__ = [
    "Address",
    "AuthenticationError",
    "BackendConnectionError",
    "BackendError",
    "CacheError",
    "ConfigurationError",
    "CorruptDocumentError",
    "DecompressionBombError",
    "DocumentTooLargeError",
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
    "OverloadedError",
    "Page",
    "PageSelectionError",
    "Party",
    "PaymentDetails",
    "RateLimitError",
    "RefusalError",
    "RequestRejectedError",
    "Settings",
    "SpendLimitError",
    "TaxLine",
    "Timings",
    "TokenBudgetExceededError",
    "TruncatedOutputError",
    "UnsafeURLError",
    "UnsupportedFormatError",
    "UnsupportedSchemaError",
    "Usage",
    "WrongPasswordError",
    "__version__",
    "validate",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'invoiceai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
