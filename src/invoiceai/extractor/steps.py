"""Decisions of one extraction that do no I/O, shared by the sync and async paths.

What goes in the cache and how it is read back, the cache key, which findings an extraction
gets, and how an e-invoice becomes the requested schema. :mod:`invoiceai.extractor.extractor`
repeats only the I/O around these.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from invoiceai.errors import UnsupportedSchemaError
from invoiceai.pages import ImageBudget, Page, PageSource
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice
from invoiceai.schema.validation import validate

if TYPE_CHECKING:
    from invoiceai.backends.base import BackendResult
    from invoiceai.render.ocr import PageOcr

__all__ = [
    "ENVELOPE_VERSION",
    "OCR_NOTE",
    "CachedResult",
    "TimedPageSource",
    "WrappedPageSource",
    "check_schema",
    "decode_cached",
    "describe",
    "encode_cached",
    "encode_result",
    "findings_for",
    "from_einvoice",
    "is_invoice_schema",
    "name_for",
    "selected_pages",
    "with_ocr_text",
]

ENVELOPE_VERSION = "1"
"""Version of what :func:`encode_cached` writes; part of the cache key."""

T = TypeVar("T", bound=BaseModel)


def is_invoice_schema(schema: type[BaseModel]) -> bool:
    """Tells whether ``schema`` is :class:`~invoiceai.Invoice` or a subclass (validation applies)."""
    return isinstance(schema, type) and issubclass(schema, Invoice)


def findings_for(
    data: BaseModel, extra: Sequence[Finding] = (), *, dropped: Sequence[Finding] = ()
) -> tuple[Finding, ...]:
    """Validation findings for Invoice-like data (none for other schemas), then ``extra``.

    ``dropped`` are normalisation findings recorded earlier (a cached extraction's); they come
    first, where :func:`~invoiceai.validate` puts the live ones.
    """
    found = validate(data) if isinstance(data, Invoice) else []
    return (*dropped, *found, *extra)


def from_einvoice(invoice: Invoice, schema: type[T]) -> T:
    """Returns an e-invoice's data as ``schema``, which must be ``Invoice`` or a subclass of it.

    Raises:
        UnsupportedSchemaError: ``schema`` is not Invoice-like; e-invoice XML maps onto
            ``Invoice`` fields only.
    """
    if not is_invoice_schema(schema):
        raise UnsupportedSchemaError(
            f"XML e-invoices are read into invoiceai.Invoice, not {schema.__name__}; pass schema=Invoice "
            "(or a subclass), or prefer_embedded=False to extract a PDF's pages with the model instead."
        )
    if type(invoice) is schema:
        return invoice
    return schema.model_validate(invoice.model_dump())


@dataclasses.dataclass(frozen=True, slots=True)
class CachedResult:
    """A cache entry decoded and re-validated against the schema asked for now.

    Attributes:
        data: The validated data.
        model: The model that produced it.
        pages: Page numbers that were read.
        warnings: Warnings of the original extraction.
        dropped: Normalisation findings of the original reply (values that were dropped then);
            the stored data no longer shows them, so they are kept beside it.
        value_pages: The model's page of each value, when it named them.
    """

    data: BaseModel
    model: str | None
    pages: tuple[int, ...]
    warnings: tuple[str, ...]
    dropped: tuple[Finding, ...]
    value_pages: Mapping[str, int] | None = None


def encode_cached(
    data: BaseModel,
    *,
    model: str | None,
    pages: Sequence[int],
    warnings: Sequence[str],
    value_pages: Mapping[str, int] | None = None,
) -> str:
    """Serialises one extraction for the cache: JSON only, money as exact strings, no secrets.

    ``value_pages`` (the model's page of each value, when it named them) is kept beside the
    data, so a cached answer is grounded the way the fresh one was.
    """
    dropped = data.normalization_findings if isinstance(data, Invoice) else []
    envelope = {
        "version": ENVELOPE_VERSION,
        "model": model,
        "pages": list(pages),
        "warnings": list(warnings),
        "dropped": [finding.model_dump(mode="json") for finding in dropped],
        "data": data.model_dump(mode="json"),
    }
    from invoiceai.cache.envelope import storable_value_pages

    if stored := storable_value_pages(value_pages):
        envelope["value_pages"] = stored  # only what the reader keeps (a backend's page may be anything)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def encode_result(outcome: BackendResult[Any], pages: Sequence[int]) -> str:
    """:func:`encode_cached` of a backend's result: its data, model, warnings and value pages."""
    return encode_cached(
        outcome.data, model=outcome.model, pages=pages, warnings=outcome.warnings, value_pages=outcome.value_pages
    )


def decode_cached(value: str, schema: type[T]) -> CachedResult | None:
    """Reads a cache entry back; ``None`` when it is damaged or no longer fits ``schema``.

    Entries are re-validated on every read, so a changed schema never returns stale data: the
    caller treats ``None`` as a miss and overwrites the entry. Whatever the row holds (deeply
    nested JSON, ``1e999``, wrong types, truncated text), the outcome is a result or ``None``
    with a :class:`~invoiceai.cache.CacheWarning`, never an exception.
    """
    from invoiceai.cache import CacheWarning
    from invoiceai.cache.envelope import UnreadableEntryError, read_envelope

    try:
        envelope = read_envelope(value, version=ENVELOPE_VERSION)
        data = schema.model_validate(envelope.data)
        dropped = tuple(Finding.model_validate(finding) for finding in envelope.dropped)
    except ValidationError as exc:
        reason = f"it no longer fits {schema.__name__} ({exc.error_count()} validation errors)"
    except (UnreadableEntryError, ValueError, TypeError, RecursionError) as exc:
        reason = str(exc)[:200] or type(exc).__name__
    else:
        return CachedResult(data, envelope.model, envelope.pages, envelope.warnings, dropped, envelope.value_pages)
    warnings.warn(
        f"A cached result could not be used: {reason}. It counts as a miss and is extracted again.",
        CacheWarning,
        stacklevel=2,
    )
    return None


def selected_pages(source: PageSource) -> tuple[int, ...]:
    """The 1-based page numbers a source will render (all of them when it cannot say)."""
    numbers = getattr(source, "page_numbers", None)
    if isinstance(numbers, (tuple, list)) and all(isinstance(n, int) for n in numbers):
        return tuple(numbers)
    return tuple(range(1, source.page_count + 1))


class WrappedPageSource:
    """Base of the wrappers below: forwards a :class:`~invoiceai.pages.PageSource`'s identity.

    Subclasses add behaviour to ``render``, ``text_layers`` and ``pdf_bytes``; ``inner`` stays
    reachable (the cache key names the inner renderer).
    """

    def __init__(self, inner: PageSource) -> None:
        self.inner = inner
        # A source's identity and selection are fixed when it is opened: read them once.
        self.document_id: str = inner.document_id
        self.page_count: int = inner.page_count
        self.page_numbers: tuple[int, ...] = selected_pages(inner)


class TimedPageSource(WrappedPageSource):
    """Wraps a :class:`~invoiceai.pages.PageSource` and counts the seconds spent rendering.

    The backend pulls pages while it works, so render time would otherwise hide inside the
    backend's time. The wrapper is transparent: same pages, same laziness.
    """

    def __init__(self, inner: PageSource, *, ocr: PageOcr | None = None) -> None:
        super().__init__(inner)
        self.seconds = 0.0
        self.ocr = ocr
        """When set, :meth:`text_layers` gives each page without a text layer its OCR text (the hints of
        ``mode="images+text"``); provenance then reuses the same OCR."""

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields the inner source's pages, timing each one."""
        pages = self.inner.render(budget)
        while True:
            started = time.perf_counter()
            try:
                page = next(pages)
            except StopIteration:
                self.seconds += time.perf_counter() - started
                return
            self.seconds += time.perf_counter() - started
            yield page

    def text_layers(self) -> list[str | None]:
        """See :class:`~invoiceai.pages.PageSource`; with :attr:`ocr`, pages without text get their OCR text."""
        started = time.perf_counter()
        try:
            texts = self.inner.text_layers()
            return texts if self.ocr is None else with_ocr_text(texts, self.page_numbers, self.ocr)
        finally:
            self.seconds += time.perf_counter() - started

    def pdf_bytes(self) -> bytes | None:
        """See :class:`~invoiceai.pages.PageSource`."""
        started = time.perf_counter()
        try:
            return self.inner.pdf_bytes()
        finally:
            self.seconds += time.perf_counter() - started


OCR_NOTE = (
    "[Read by OCR from the page image: characters may be misread; where this disagrees with the image, "
    "the image is right.]"
)
"""The first line of a page's OCR text sent as its text hint: the prompt calls a text layer exact, OCR is not."""


def with_ocr_text(texts: Sequence[str | None], numbers: Sequence[int], ocr: PageOcr) -> list[str | None]:
    """``texts`` with each page that has no text layer given its OCR text (pages OCR cannot read stay ``None``)."""
    from invoiceai.render.ocr import ocr_text

    blank = [position for position, text in enumerate(texts) if not (text or "").strip()]
    filled = list(texts)
    if not blank:
        return filled
    found = ocr.words([numbers[position] for position in blank])
    for position in blank:
        words = found.get(numbers[position])
        if words:
            filled[position] = f"{OCR_NOTE}\n{ocr_text(words)}"
    return filled


def describe(value: Any) -> str:
    """A short display name for a source: file name, URL or the type of object."""
    from os import PathLike, fspath

    if isinstance(value, str):
        from invoiceai.documents.urls import display_url
        from invoiceai.secrets import mask_text

        # A URL's query may hold signed tokens or an echoed key: shown as the fetch errors show it.
        return mask_text(display_url(value) if "://" in value else value)
    if isinstance(value, PathLike):
        return str(fspath(value))
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    return f"<{type(value).__name__}>"


def name_for(source: object) -> str | None:
    """The display name a path-like or path string source keeps; ``None`` for anything else."""
    from os import PathLike

    if isinstance(source, PathLike) or (isinstance(source, str) and "://" not in source):
        return describe(source)
    return None


@functools.lru_cache(maxsize=64)
def check_schema(schema: type[BaseModel]) -> None:
    """Fails early for a custom schema the model cannot be asked for.

    Depends on the class only, and building the output schema is not cheap: once per schema,
    not once per document of a batch. A failure is not cached, so an unfit schema always raises.

    Raises:
        UnsupportedSchemaError: The schema cannot be turned into a structured-output schema.
    """
    from invoiceai.schema.structured import output_json_schema

    output_json_schema(schema)
