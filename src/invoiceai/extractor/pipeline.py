"""The phases of one extraction, driven by the facade and by the batch engine alike.

One extraction is: *load* the bytes -> *prepare* (read an e-invoice, open the pages, look in the
cache, optionally warm the pages) -> *call* the backend -> *complete* (write the cache, validate,
cross-check) -> an :class:`~invoiceai.Extraction`, or an :class:`~invoiceai.ExtractionFailure`
when a batch keeps going past an error.

:class:`Pipeline` holds the explicit context every phase needs (settings, backend, cache,
renderers, flags) and offers each phase as a method. Prepare and complete are plain sync code
(files, pdfium, SQLite); only loading and the backend call have an async twin. Decisions that do
no I/O live in :mod:`invoiceai.extractor.steps`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from invoiceai.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    InvoiceAIError,
    PageSelectionError,
    TooManyPagesError,
)
from invoiceai.extractor.failures import attachment_warning
from invoiceai.extractor.grounding import attach_provenance, hint_ocr
from invoiceai.extractor.result import Extraction, Timings
from invoiceai.extractor.steps import (
    ENVELOPE_VERSION,
    TimedPageSource,
    check_schema,
    decode_cached,
    encode_result,
    findings_for,
    from_einvoice,
    is_invoice_schema,
    name_for,
    selected_pages,
)
from invoiceai.extractor.warm import WarmPageSource, warm
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend, BackendResult
    from invoiceai.cache import Cache
    from invoiceai.config import Settings
    from invoiceai.documents import Document, Source
    from invoiceai.pages import PageSource
    from invoiceai.provenance import ReviewPolicy
    from invoiceai.render import Pages, RendererRegistry

__all__ = ["Clock", "Pipeline", "Prepared"]

_PDF = "application/pdf"
_XML = "application/xml"


class Clock:
    """Accumulates seconds per stage for :class:`~invoiceai.extractor.result.Timings`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Adds the time spent inside the ``with`` block to stage ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        """Adds ``seconds`` (never negative) to stage ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + max(seconds, 0.0)

    def timings(self) -> Timings:
        """The stages so far, as :class:`~invoiceai.extractor.result.Timings`."""
        return Timings(**self.seconds)


@dataclasses.dataclass
class Prepared:
    """Where an extraction stands after the prepare phase.

    ``result`` is set when no backend call is needed (an e-invoice, a cache hit). Otherwise
    ``source`` is the opened document (timed) and ``served`` what the backend is given: the
    same source, or a warmed wrapper around it that holds pages rendered ahead of the call.
    """

    document: Document
    schema: type[BaseModel]
    clock: Clock
    warnings: list[str]
    result: Extraction[Any] | None = None
    source: TimedPageSource | None = None
    served: PageSource | None = None
    key: str | None = None
    embedded: Invoice | None = None


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """The phases of one extraction over an explicit context.

    Attributes:
        settings: Limits and knobs (fetch, cache TTL, render limits).
        backend: The model backend.
        cache_of: Returns the cache to use, or ``None``; called when needed, so a lazily
            opened cache is opened only by an extraction that reaches it.
        renderers: The renderer registry (``None``: the built-in one).
        prefer_embedded: Read a PDF's embedded e-invoice instead of calling the model.
        cross_check: With an embedded e-invoice, also read the pages and report disagreements.
        validation_context: Passed to the backend for ``model_validate(..., context=...)``.
        review_policy: When a result needs review (``None``: the default policy).
    """

    settings: Settings
    backend: Backend
    cache_of: Callable[[], Cache | None]
    renderers: RendererRegistry | None
    prefer_embedded: bool
    cross_check: bool
    validation_context: Mapping[str, Any] | None
    review_policy: ReviewPolicy | None = None

    @property
    def cache(self) -> Cache | None:
        """The cache in use, or ``None``."""
        return self.cache_of()

    # -- load ----------------------------------------------------------------------------------

    def load(self, source: Source) -> Document:
        """Reads (or fetches) ``source`` into a :class:`~invoiceai.documents.Document`."""
        from invoiceai.documents import load_document

        return load_document(source, settings=self.settings, name=name_for(source))

    async def aload(self, source: Source) -> Document:
        """Async twin of :meth:`load`."""
        from invoiceai.documents import aload_document

        return await aload_document(source, settings=self.settings, name=name_for(source))

    # -- one document, start to end -------------------------------------------------------------

    def extract_loaded(
        self, document: Document, schema: type[Any], pages: Pages, password: str | None, clock: Clock
    ) -> Extraction[Any]:
        """Prepare, call and complete for a loaded document (the facade's sync path)."""
        return self.finish(self.prepare(document, schema, pages, password, clock))

    async def aextract_loaded(
        self, document: Document, schema: type[Any], pages: Pages, password: str | None, clock: Clock
    ) -> Extraction[Any]:
        """Async twin of :meth:`extract_loaded`: the sync phases run in a worker thread."""
        import asyncio

        return await self.afinish(await asyncio.to_thread(self.prepare, document, schema, pages, password, clock))

    def finish(self, prepared: Prepared) -> Extraction[Any]:
        """After :meth:`prepare`: the result it found, or call and complete; then release the document."""
        try:
            if prepared.result is not None:
                return prepared.result
            return self.complete(prepared, self.call(prepared))
        finally:
            self.release(prepared)

    async def afinish(self, prepared: Prepared) -> Extraction[Any]:
        """Async twin of :meth:`finish`."""
        import asyncio

        try:
            if prepared.result is not None:
                return prepared.result
            outcome = await self.acall(prepared)
            return await asyncio.to_thread(self.complete, prepared, outcome)
        finally:
            # Closing takes the pdfium lock: never on the event loop (see release()).
            await asyncio.to_thread(self.release, prepared)

    # -- prepare ---------------------------------------------------------------------------------

    def prepare(
        self,
        document: Document,
        schema: type[BaseModel],
        pages: Pages,
        password: str | None,
        clock: Clock,
        *,
        ahead: bool = False,
        look_up: bool = True,
    ) -> Prepared:
        """Reads an e-invoice, opens the pages and looks in the cache.

        Args:
            document: The loaded document.
            schema: The Pydantic model to fill.
            pages: Pages to read.
            password: For encrypted PDFs.
            clock: Where the stages' seconds are counted.
            ahead: Also warm the pages for the backend (render them now, see
                :func:`~invoiceai.extractor.warm.warm`), so the backend call finds them ready.
                The batch engine asks for this; a single extraction gains nothing from it.
            look_up: Read the cache; ``False`` still computes the key, so the result is cached
                (a Message Batches job replaying the answers it already paid for).
        """
        prepared = Prepared(document=document, schema=schema, clock=clock, warnings=[])
        if document.media_type == _XML:
            from invoiceai.einvoice import read_einvoice

            with clock.stage("einvoice"):
                invoice = read_einvoice(document.data)
            prepared.result = self._einvoice_result(prepared, from_einvoice(invoice, schema))
            return prepared
        invoice_like = is_invoice_schema(schema)
        embedded_wanted = document.media_type == _PDF and self.prefer_embedded and invoice_like
        if not invoice_like:
            check_schema(schema)  # an unfit custom schema fails here, before any cost
        # The PDF is opened once: the same open document serves the e-invoice lookup and the pages.
        with clock.stage("render"):
            opened = self._open_once(prepared, pages, password, embedded_wanted)
        if opened is None:
            return prepared  # the e-invoice, found without the pages
        try:
            if embedded_wanted and self._take_embedded(prepared, opened, password):
                return prepared
            prepared.source = TimedPageSource(opened, ocr=hint_ocr(opened, self.settings, self.backend))
            prepared.served = prepared.source
            self._look_up(prepared, read=look_up)
            if ahead and prepared.result is None:
                served = prepared.served = WarmPageSource(prepared.source)
                warm(self.backend, served)  # rendering time is counted by the timed source inside
        except BaseException:
            _close(opened)  # nobody else will: the failure must not keep a PDF open
            raise
        return prepared

    def _open_once(self, prepared: Prepared, pages: Pages, password: str | None, embedded_wanted: bool) -> Any:
        """Opens the pages; ``None`` when they cannot be opened but the bytes hold the e-invoice."""
        try:
            return self._open(prepared.document, pages, password)
        except (PageSelectionError, CorruptDocumentError, EmptyDocumentError, TooManyPagesError):
            if not embedded_wanted or self.cross_check:
                raise
            # A Factur-X PDF whose pages pdfium refuses (or whose pages= is out of range) may still
            # carry a readable XML: the attachment scan that does not need pdfium decides.
            with prepared.clock.stage("einvoice"):
                embedded = self._read_embedded(prepared, password)
            if embedded is None:
                raise
            prepared.result = self._einvoice_result(prepared, from_einvoice(embedded, prepared.schema))
            return None

    def _take_embedded(self, prepared: Prepared, opened: Any, password: str | None) -> bool:
        """Reads the open PDF's e-invoice; ``True`` when it answers the extraction on its own."""
        with prepared.clock.stage("einvoice"):
            embedded = self._embedded_of(prepared, opened, password)
        if embedded is not None and not self.cross_check:
            _close(opened)
            prepared.result = self._einvoice_result(prepared, from_einvoice(embedded, prepared.schema))
            return True
        prepared.embedded = embedded  # kept only to cross-check the pages against it
        return False

    def _embedded_of(self, prepared: Prepared, opened: Any, password: str | None) -> Invoice | None:
        finder = getattr(opened, "embedded_einvoice", None)
        if not callable(finder):
            return self._read_embedded(prepared, password)  # a third-party PDF renderer
        from invoiceai.einvoice import read_einvoice

        try:
            found = finder()
            return None if found is None else read_einvoice(found.data)
        except Exception as exc:
            prepared.warnings.append(attachment_warning(exc))
            return None

    def _look_up(self, prepared: Prepared, *, read: bool = True) -> None:
        cache = self.cache
        if cache is None:
            return
        assert prepared.source is not None
        with prepared.clock.stage("cache"):
            prepared.key = self._cache_key(prepared.document, prepared.source, prepared.schema)
            cached = _cache_get(cache, prepared.key, prepared.warnings) if read else None
        hit = decode_cached(cached, prepared.schema) if cached is not None else None
        if cached is not None and hit is None:
            prepared.warnings.append("a cached result was unreadable or no longer fits the schema; re-extracted")
        if hit is not None:
            prepared.warnings.extend(hit.warnings)
            prepared.result = self._finish(
                prepared, hit.data, usage=Usage(), origin="cache", model=hit.model,
                pages=hit.pages, dropped=hit.dropped, value_pages=hit.value_pages,
            )  # fmt: skip

    def _read_embedded(self, prepared: Prepared, password: str | None) -> Invoice | None:
        from invoiceai.render.limits import RenderLimits
        from invoiceai.render.pdf import read_embedded_invoice

        try:
            limits = RenderLimits.from_settings(self.settings)
            return read_embedded_invoice(
                prepared.document.data, password=password, limits=limits, name=prepared.document.name
            )
        except Exception as exc:
            prepared.warnings.append(attachment_warning(exc))
            return None

    def _open(self, document: Document, pages: Pages, password: str | None) -> Any:
        from invoiceai.render import open_document

        return open_document(document, pages=pages, password=password, registry=self.renderers, settings=self.settings)

    def _cache_key(self, document: Document, source: TimedPageSource, schema: type[BaseModel]) -> str:
        from invoiceai.cache import cache_key

        renderer = type(source.inner)
        # The OCR text hints are part of what the model read: an answer made without them is another answer.
        hints = {} if source.ocr is None else {"ocr_hints": self.settings.ocr_languages}
        return cache_key(
            document_id=document.document_id, pages=selected_pages(source), schema=schema,
            model_fingerprint=self.backend.fingerprint(), prompt_version=ENVELOPE_VERSION,
            render_settings={"renderer": f"{renderer.__module__}.{renderer.__qualname__}", **hints},
        )  # fmt: skip

    def release(self, prepared: Prepared) -> None:
        """Closes the opened document now, in the calling thread.

        A PDF holds pdfium memory, and closing it takes the process-wide pdfium lock. Left to the
        garbage collector, the close would run wherever the last reference goes: in a batch,
        the coordinating thread, which would then wait for other documents' renders.
        """
        if prepared.source is not None:
            _close(prepared.source.inner)

    # -- the backend call ----------------------------------------------------------------------

    def call(self, prepared: Prepared) -> BackendResult[Any]:
        """Sends the prepared pages to the backend."""
        assert prepared.source is not None and prepared.served is not None
        before, started = prepared.source.seconds, time.perf_counter()
        try:
            return self.backend.extract(
                prepared.served, prepared.schema, document_id=prepared.document.document_id,
                validation_context=self.validation_context,
            )  # fmt: skip
        finally:
            self._time_backend(prepared, time.perf_counter() - started, before)

    async def acall(self, prepared: Prepared) -> BackendResult[Any]:
        """Async twin of :meth:`call`."""
        assert prepared.source is not None and prepared.served is not None
        before, started = prepared.source.seconds, time.perf_counter()
        try:
            return await self.backend.aextract(
                prepared.served, prepared.schema, document_id=prepared.document.document_id,
                validation_context=self.validation_context,
            )  # fmt: skip
        finally:
            self._time_backend(prepared, time.perf_counter() - started, before)

    @staticmethod
    def _time_backend(prepared: Prepared, elapsed: float, rendered_before: float) -> None:
        # Pages rendered while the backend pulled them are render time, not backend time;
        # pages warmed ahead of the call were rendered outside ``elapsed``.
        rendered = prepared.source.seconds if prepared.source is not None else 0.0
        prepared.clock.add("render", rendered)
        prepared.clock.add("backend", elapsed - (rendered - rendered_before))

    # -- complete -----------------------------------------------------------------------------

    def complete(self, prepared: Prepared, outcome: BackendResult[Any]) -> Extraction[Any]:
        """Writes the cache, validates and cross-checks: the final :class:`~invoiceai.Extraction`."""
        assert prepared.source is not None
        page_numbers = selected_pages(prepared.source)
        prepared.warnings.extend(outcome.warnings)
        if (cache := self.cache) is not None and prepared.key is not None:
            value = encode_result(outcome, page_numbers)
            with prepared.clock.stage("cache"):
                _cache_set(cache, prepared.key, value, self.settings.cache_ttl_seconds, prepared.warnings)
        return self._finish(prepared, outcome.data, usage=outcome.usage, origin="model", model=outcome.model,
                            pages=page_numbers, value_pages=outcome.value_pages)  # fmt: skip

    def _finish(
        self,
        prepared: Prepared,
        data: BaseModel,
        *,
        usage: Usage,
        origin: str,
        model: str | None,
        pages: Sequence[int],
        dropped: Sequence[Finding] = (),
        value_pages: Mapping[str, int] | None = None,
    ) -> Extraction[Any]:
        with prepared.clock.stage("validate"):
            if prepared.embedded is not None and isinstance(data, Invoice):
                from invoiceai.einvoice import compare_invoices

                # Cross-check: the XML is authoritative; the pages only testify against it.
                disagreements = compare_invoices(prepared.embedded, data)
                data, origin = from_einvoice(prepared.embedded, prepared.schema), "einvoice"
                findings = findings_for(data, disagreements)
            else:
                findings = findings_for(data, dropped=dropped)
        result: Extraction[Any] = Extraction(
            data=data, usage=usage, findings=findings, origin=origin,  # type: ignore[arg-type]
            document_id=prepared.document.document_id, pages=tuple(pages), timings=prepared.clock.timings(),
            warnings=tuple(prepared.warnings), source=prepared.document.name, model=model,
        )  # fmt: skip
        embedded = origin == "einvoice"  # the XML itself, or a PDF's XML cross-checked against its pages
        return attach_provenance(result, prepared.source, self.settings, self.review_policy, embedded=embedded,
                                 value_pages=value_pages)  # fmt: skip

    def _einvoice_result(self, prepared: Prepared, data: BaseModel) -> Extraction[Any]:
        return self._finish(prepared, data, usage=Usage(), origin="einvoice", model=None, pages=())


def _cache_get(cache: Cache, key: str, warnings: list[str]) -> str | None:
    try:
        return cache.get(key)
    except InvoiceAIError as exc:
        # A cache outage (Redis down) costs money, not correctness: extract and say so.
        warnings.append(f"cache read failed ({exc.message}); extracted without it")
        return None


def _cache_set(cache: Cache, key: str, value: str, ttl: float, warnings: list[str]) -> None:
    try:
        cache.set(key, value, ttl=ttl)
    except InvoiceAIError as exc:
        warnings.append(f"cache write failed ({exc.message}); the result was not cached")


def _close(source: object) -> None:
    if callable(close := getattr(source, "close", None)):
        close()
