"""The public namespace: a pinned ``__all__``, the whole plugin contract, and the types public fields use."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
import typing

from pydantic import BaseModel

import invoiceai

PUBLIC = [
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

# The plugin contract is exported whole: each interface with its registry and what it exchanges.
PLUGIN_CONTRACT = {
    "backends": ("Backend", "BackendResult", "BackendRegistry", "PageSource", "Page", "ImageBudget"),
    "renderers": ("Renderer", "RendererRegistry", "Document", "Pages", "PageSource"),
    "caches": ("Cache", "CacheInfo", "CacheRegistry"),
}

# Where each plugin interface is defined; the top-level name must be that very object.
HOMES = {
    "Backend": "invoiceai.backends.base",
    "BackendResult": "invoiceai.backends.base",
    "BackendRegistry": "invoiceai.backends.registry",
    "Renderer": "invoiceai.render.base",
    "RendererRegistry": "invoiceai.render.registry",
    "PageSource": "invoiceai.pages",
    "Cache": "invoiceai.cache.base",
    "CacheInfo": "invoiceai.cache.base",
    "CacheRegistry": "invoiceai.cache.registry",
    "Severity": "invoiceai.schema.findings",
    "Origin": "invoiceai.extractor.result",
}

# Invoice fields are annotated with normalising aliases from invoiceai.schema.fields; their values
# are plain str, Decimal or date, except DocumentType, whose value type is the exported DocumentTypeName.
FIELD_ALIASES = {"BIC", "IBAN", "CountryCode", "CurrencyCode", "DocumentType", "IsoDate", "Money"}
FIELD_ALIASES |= {"Percent", "Quantity", "Text", "VatId"}
NOT_OURS = {"str", "int", "float", "bool", "bytes", "tuple", "list", "dict", "None", "True", "False"}
NOT_OURS |= {"Literal", "Decimal", "Path", "T"}


def test_all_is_pinned() -> None:
    assert sorted(PUBLIC) == PUBLIC
    assert invoiceai.__all__ == PUBLIC


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in PUBLIC:
        assert getattr(invoiceai, name) is not None, name
    assert set(PUBLIC) <= set(dir(invoiceai))


def test_lazy_names_are_the_objects_of_their_home_modules() -> None:
    for name, module in HOMES.items():
        assert getattr(invoiceai, name) is getattr(importlib.import_module(module), name), name


def test_the_plugin_contract_is_exported_whole() -> None:
    for kind, names in PLUGIN_CONTRACT.items():
        missing = [name for name in names if name not in PUBLIC]
        assert not missing, f"{kind}: {missing}"
    for protocol in ("Backend", "Renderer", "PageSource", "Cache"):
        assert getattr(getattr(invoiceai, protocol), "_is_runtime_protocol", False), protocol
    for registry in ("BackendRegistry", "RendererRegistry", "CacheRegistry"):
        assert callable(getattr(getattr(invoiceai, registry), "with_builtins", None)), registry


def _public_models() -> list[type]:
    models = []
    for name in PUBLIC:
        value = getattr(invoiceai, name)
        if isinstance(value, type) and (dataclasses.is_dataclass(value) or issubclass(value, BaseModel)):
            models.append(value)
    return models


def test_the_types_public_fields_use_are_exported() -> None:
    models = _public_models()
    assert len(models) >= 15
    unexported = {}
    for model in models:
        for cls in model.__mro__:
            if not cls.__module__.startswith("invoiceai"):
                continue
            for field, annotation in vars(cls).get("__annotations__", {}).items():
                if field.startswith("_"):
                    continue
                for identifier in re.findall(r"[A-Za-z_]\w*", str(annotation)):
                    if identifier not in PUBLIC and identifier not in FIELD_ALIASES | NOT_OURS:
                        unexported[f"{model.__name__}.{field}"] = identifier
    assert unexported == {}


def test_document_type_values_are_the_exported_literal() -> None:
    from invoiceai.schema.fields import DocumentType

    literal, _none = typing.get_args(typing.get_args(DocumentType)[0])
    assert literal is invoiceai.DocumentTypeName
    assert typing.get_args(invoiceai.DocumentTypeName) == ("invoice", "credit_note", "receipt", "proforma", "other")


def test_exporting_the_contract_keeps_import_invoiceai_cheap() -> None:
    code = "import sys, invoiceai; print(sorted(m for m in sys.modules if m.startswith('invoiceai')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['invoiceai', 'invoiceai._version', 'invoiceai.errors', 'invoiceai.lazy']"
