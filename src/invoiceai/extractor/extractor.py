"""The facade: :class:`Extractor` turns a source into an :class:`~invoiceai.Extraction`.

One extraction is three phases. *Prepare* (load the bytes, read an e-invoice, open the pages,
look in the cache) and *complete* (write the cache, validate, cross-check) are plain sync code;
between them the backend is called, sync or async. ``aextract`` runs the two sync phases in a
worker thread, so the event loop never waits on a file, pdfium or SQLite, and only the backend
call differs between the two paths.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError, EInvoiceError, InvoiceAIError, NotAnInvoiceError
from invoiceai.extractor.progress import ProgressArg
from invoiceai.extractor.result import Extraction, ExtractionFailure, Timings
from invoiceai.extractor.steps import (
    ENVELOPE_VERSION,
    TimedPageSource,
    decode_cached,
    describe,
    encode_cached,
    findings_for,
    from_einvoice,
    is_invoice_schema,
    selected_pages,
)
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice
from invoiceai.schema.structured import output_json_schema
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend, BackendResult
    from invoiceai.backends.registry import BackendRegistry
    from invoiceai.cache import Cache, CacheRegistry, CacheSpec
    from invoiceai.documents import Document, Source
    from invoiceai.render import Pages, RendererRegistry

__all__ = ["Extractor"]

T = TypeVar("T", bound=BaseModel)

_PDF = "application/pdf"
_XML = "application/xml"


class _DefaultCache:
    def __repr__(self) -> str:
        return "<default SQLite cache>"


DEFAULT_CACHE: Any = _DefaultCache()
"""``cache=`` default: the SQLite cache in ``Settings.cache_dir``, opened on first use."""


class _Clock:
    """Accumulates seconds per stage for :class:`~invoiceai.extractor.result.Timings`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(seconds, 0.0)

    def timings(self) -> Timings:
        return Timings(**self.seconds)


@dataclasses.dataclass
class _Prepared:
    """Where an extraction stands after the prepare phase."""

    document: Document
    schema: type[BaseModel]
    clock: _Clock
    warnings: list[str]
    result: Extraction[Any] | None = None
    source: TimedPageSource | None = None
    key: str | None = None
    embedded: Invoice | None = None


class Extractor:
    """Extracts typed, validated data from invoices: PDFs, images, scans and e-invoices.

    Every argument is optional; the defaults work from the environment (``ANTHROPIC_API_KEY``,
    ``INVOICEAI_*``). One extractor is safe to share between threads and tasks.

    Args:
        model: Claude model id (default ``Settings.model``).
        backend: A :class:`~invoiceai.backends.Backend` instance, or the registry name of one
            (default ``"claude"``).
        client: An ``anthropic.Anthropic``/``AsyncAnthropic`` (or Bedrock/Vertex) client for the
            Claude backend.
        api_key: API key for the Claude backend, instead of ``ANTHROPIC_API_KEY``. Never logged.
        mode: What the Claude backend sends: ``"images"``, ``"images+text"``, ``"text"`` or ``"pdf"``.
        renderers: The renderer registry (default: the built-in PDF and image renderers).
        backends: The backend registry ``backend=`` names are looked up in (default:
            :meth:`~invoiceai.backends.BackendRegistry.with_builtins`).
        cache: Where results are cached: the default SQLite file, ``None`` (off), ``"memory"``,
            a path, a ``redis://`` URL or a :class:`~invoiceai.cache.Cache`.
        caches: The cache registry ``cache=`` names and URLs are looked up in (default:
            :meth:`~invoiceai.cache.CacheRegistry.with_builtins`).
        settings: Every other knob (attempts, timeouts, limits); explicit arguments above win.
        concurrency: Documents processed at once by ``extract_many``.
        max_concurrent_requests: Requests in flight at once for the built-in backend (default:
            no cap beyond ``concurrency``); see :class:`~invoiceai.config.Settings`.
        prefer_embedded: Read a PDF's embedded e-invoice XML instead of calling the model.
        cross_check: With an embedded e-invoice, also extract the pages with the model and report
            every field where the two disagree as an ``IAI-CROSS-CHECK`` finding.
        validation_context: Passed to ``schema.model_validate(..., context=...)``, e.g.
            ``{"currency": "USD", "date_order": "MDY"}``.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        backend: Backend | str | None = None,
        client: Any = None,
        api_key: str | None = None,
        mode: str | None = None,
        renderers: RendererRegistry | None = None,
        backends: BackendRegistry | None = None,
        cache: CacheSpec = DEFAULT_CACHE,
        caches: CacheRegistry | None = None,
        settings: Settings | None = None,
        concurrency: int | None = None,
        max_concurrent_requests: int | None = None,
        prefer_embedded: bool = True,
        cross_check: bool = False,
        validation_context: Mapping[str, Any] | None = None,
    ) -> None:
        base = settings if settings is not None else Settings.load()
        self.settings = base.replace(
            model=model, concurrency=concurrency, max_concurrent_requests=max_concurrent_requests
        )
        self.prefer_embedded = prefer_embedded
        self.cross_check = cross_check
        self.validation_context = dict(validation_context) if validation_context else None
        self._renderers = renderers
        self._cache_spec = cache
        self._cache: Cache | None = None
        self._cache_opened = False
        self._owns_cache = False
        self._lock = threading.Lock()
        self._closed = False
        self._caches = caches
        if backend is None or isinstance(backend, str):
            from invoiceai.backends.registry import BackendRegistry

            options: dict[str, Any] = {"model": self.settings.model, "settings": self.settings}
            if client is not None:
                options["client"] = client
            if api_key is not None:
                options["api_key"] = api_key
            if mode is not None:
                options["mode"] = mode
            registry = backends if backends is not None else BackendRegistry.with_builtins()
            self.backend: Backend = registry.create(backend or "claude", **options)
            self._owns_backend = True
        else:
            if client is not None or api_key is not None or mode is not None:
                raise ConfigurationError(
                    "client=, api_key= and mode= configure the built-in backend; "
                    "set them on the backend instance you pass instead."
                )
            if model is not None and model != backend.model:
                raise ConfigurationError(
                    f"model={model!r} conflicts with the given backend's model "
                    f"{backend.model!r}; set the model on the backend."
                )
            self.backend = backend
            self._owns_backend = False

    def __repr__(self) -> str:
        return f"Extractor(backend={self.backend!r}, cache={self._cache_spec!r})"

    # -- public API -----------------------------------------------------------------------------

    @overload
    def extract(self, source: Source, *, pages: Pages = None, password: str | None = None) -> Extraction[Invoice]: ...
    @overload
    def extract(
        self, source: Source, *, schema: type[T], pages: Pages = None, password: str | None = None
    ) -> Extraction[T]: ...
    def extract(
        self, source: Source, *, schema: type[Any] = Invoice, pages: Pages = None, password: str | None = None
    ) -> Extraction[Any]:
        """Extracts one document.

        Args:
            source: A path, ``bytes``, a binary file object, an ``http(s)`` URL or a
                :class:`~invoiceai.documents.Document`.
            schema: The Pydantic model to fill (default :class:`~invoiceai.Invoice`).
            pages: Pages to read, ``"1-3,7"`` or a list of 1-based numbers (default: all).
            password: For encrypted PDFs.

        Returns:
            The typed data with usage, findings, origin, timings and warnings.

        Raises:
            InvoiceAIError: A typed error saying what went wrong and what to do.
        """
        self._check_open()
        clock = _Clock()
        with clock.stage("load"):
            document = self._load(source)
        return self._extract_loaded(document, schema, pages, password, clock)

    @overload
    async def aextract(
        self, source: Source, *, pages: Pages = None, password: str | None = None
    ) -> Extraction[Invoice]: ...
    @overload
    async def aextract(
        self, source: Source, *, schema: type[T], pages: Pages = None, password: str | None = None
    ) -> Extraction[T]: ...
    async def aextract(
        self, source: Source, *, schema: type[Any] = Invoice, pages: Pages = None, password: str | None = None
    ) -> Extraction[Any]:
        """Async twin of :meth:`extract`; files, rendering and the cache run off the event loop."""
        self._check_open()
        clock = _Clock()
        with clock.stage("load"):
            document = await self._aload(source)
        return await self._aextract_loaded(document, schema, pages, password, clock)

    @overload
    def extract_many(
        self,
        sources: Iterable[Source],
        *,
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[Invoice] | ExtractionFailure]: ...
    @overload
    def extract_many(
        self,
        sources: Iterable[Source],
        *,
        schema: type[T],
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[T] | ExtractionFailure]: ...
    def extract_many(
        self,
        sources: Iterable[Source],
        *,
        schema: type[Any] = Invoice,
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[Any] | ExtractionFailure]:
        """Extracts many documents on a bounded pool of threads; results come back in input order.

        A document that fails does not stop the others: its place in the list holds an
        :class:`~invoiceai.ExtractionFailure` with the typed error. The same document given twice
        is extracted once. Ctrl-C stops scheduling new documents and lets those in flight finish
        their current request, so the cache stays consistent.

        Args:
            sources: The documents (anything :meth:`extract` accepts).
            schema: The Pydantic model to fill.
            pages: Pages to read in every document.
            password: Password for every encrypted PDF.
            concurrency: Documents at once (default ``Settings.concurrency``).
            progress: ``None``: a progress bar when stderr is a terminal; ``False``: none;
                a callable: called as ``progress(done, total)``.
            raise_on_error: Raise the first failure instead of returning it (the rest is cancelled).

        Returns:
            One result per source, in input order.
        """
        from invoiceai.extractor.batch import run_batch

        self._check_open()
        return run_batch(
            self, list(sources), schema=schema, pages=pages, password=password,
            concurrency=concurrency or self.settings.concurrency, progress=progress, raise_on_error=raise_on_error,
        )  # fmt: skip

    @overload
    async def aextract_many(
        self,
        sources: Iterable[Source],
        *,
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[Invoice] | ExtractionFailure]: ...
    @overload
    async def aextract_many(
        self,
        sources: Iterable[Source],
        *,
        schema: type[T],
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[T] | ExtractionFailure]: ...
    async def aextract_many(
        self,
        sources: Iterable[Source],
        *,
        schema: type[Any] = Invoice,
        pages: Pages = None,
        password: str | None = None,
        concurrency: int | None = None,
        progress: ProgressArg = None,
        raise_on_error: bool = False,
    ) -> list[Extraction[Any] | ExtractionFailure]:
        """Async twin of :meth:`extract_many`: bounded concurrent tasks, results in input order.

        Cancelling the call cancels every document still running; cache writes are atomic, so
        the cache stays consistent.
        """
        from invoiceai.extractor.batch import arun_batch

        self._check_open()
        return await arun_batch(
            self, list(sources), schema=schema, pages=pages, password=password,
            concurrency=concurrency or self.settings.concurrency, progress=progress, raise_on_error=raise_on_error,
        )  # fmt: skip

    @property
    def cache(self) -> Cache | None:
        """The cache in use, opened on first access; ``None`` when caching is off."""
        with self._lock:
            if not self._cache_opened:
                from invoiceai.cache import CacheRegistry

                spec = "sqlite" if self._cache_spec is DEFAULT_CACHE else self._cache_spec
                caches = self._caches if self._caches is not None else CacheRegistry.with_builtins()
                self._cache = caches.open(spec, settings=self.settings)
                # open() hands a Cache instance back as is: that one belongs to the caller.
                self._owns_cache = self._cache is not self._cache_spec
                self._cache_opened = True
            return self._cache

    def close(self) -> None:
        """Closes the backend and cache this extractor created (not ones passed in)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_backend:
            self.backend.close()
        self._close_cache()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._closed:
            return
        self._closed = True
        if self._owns_backend:
            await self.backend.aclose()
        await asyncio.to_thread(self._close_cache)

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Extractor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one document ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("This Extractor is closed; create a new one.")

    def _load(self, source: Source) -> Document:
        from invoiceai.documents import load_document

        return load_document(source, settings=self.settings, name=_name_for(source))

    async def _aload(self, source: Source) -> Document:
        from invoiceai.documents import aload_document

        return await aload_document(source, settings=self.settings, name=_name_for(source))

    def _extract_loaded(
        self, document: Document, schema: type[T], pages: Pages, password: str | None, clock: _Clock
    ) -> Extraction[T]:
        prepared = self._prepare(document, schema, pages, password, clock)
        if prepared.result is not None:
            return prepared.result
        assert prepared.source is not None
        started = time.perf_counter()
        try:
            outcome = self.backend.extract(
                prepared.source, schema, document_id=document.document_id, validation_context=self.validation_context
            )
        finally:
            self._time_backend(prepared, time.perf_counter() - started)
        return self._complete(prepared, outcome)

    async def _aextract_loaded(
        self, document: Document, schema: type[T], pages: Pages, password: str | None, clock: _Clock
    ) -> Extraction[T]:
        prepared = await asyncio.to_thread(self._prepare, document, schema, pages, password, clock)
        if prepared.result is not None:
            return prepared.result
        assert prepared.source is not None
        started = time.perf_counter()
        try:
            outcome = await self.backend.aextract(
                prepared.source, schema, document_id=document.document_id, validation_context=self.validation_context
            )
        finally:
            self._time_backend(prepared, time.perf_counter() - started)
        return await asyncio.to_thread(self._complete, prepared, outcome)

    def _prepare(
        self, document: Document, schema: type[T], pages: Pages, password: str | None, clock: _Clock
    ) -> _Prepared:
        prepared = _Prepared(document=document, schema=schema, clock=clock, warnings=[])
        if document.media_type == _XML:
            from invoiceai.einvoice import read_einvoice

            with clock.stage("einvoice"):
                invoice = read_einvoice(document.data)
            prepared.result = self._einvoice_result(prepared, from_einvoice(invoice, schema))
            return prepared
        if document.media_type == _PDF and self.prefer_embedded and is_invoice_schema(schema):
            with clock.stage("einvoice"):
                embedded = self._read_embedded(prepared, password)
            if embedded is not None and not self.cross_check:
                prepared.result = self._einvoice_result(prepared, from_einvoice(embedded, schema))
                return prepared
            prepared.embedded = embedded  # kept only to cross-check the pages against it
        if not is_invoice_schema(schema):
            output_json_schema(schema)  # an unfit custom schema fails here, before any cost
        with clock.stage("render"):
            prepared.source = TimedPageSource(self._open(document, pages, password))
        cache = self.cache
        if cache is not None:
            with clock.stage("cache"):
                prepared.key = self._cache_key(document, prepared.source, schema)
                cached = _cache_get(cache, prepared.key, prepared.warnings)
            hit = decode_cached(cached, schema) if cached is not None else None
            if cached is not None and hit is None:
                prepared.warnings.append("a cached result was unreadable or no longer fits the schema; re-extracted")
            if hit is not None:
                prepared.warnings.extend(hit.warnings)
                prepared.result = self._finish(
                    prepared, hit.data, usage=Usage(), origin="cache", model=hit.model,
                    pages=hit.pages, dropped=hit.dropped,
                )  # fmt: skip
        return prepared

    def _complete(self, prepared: _Prepared, outcome: BackendResult[Any]) -> Extraction[Any]:
        assert prepared.source is not None
        page_numbers = selected_pages(prepared.source)
        prepared.warnings.extend(outcome.warnings)
        cache = self.cache
        if cache is not None and prepared.key is not None:
            value = encode_cached(outcome.data, model=outcome.model, pages=page_numbers, warnings=outcome.warnings)
            with prepared.clock.stage("cache"):
                _cache_set(cache, prepared.key, value, self.settings.cache_ttl_seconds, prepared.warnings)
        return self._finish(prepared, outcome.data, usage=outcome.usage, origin="model", model=outcome.model,
                            pages=page_numbers)  # fmt: skip

    def _finish(
        self,
        prepared: _Prepared,
        data: BaseModel,
        *,
        usage: Usage,
        origin: str,
        model: str | None,
        pages: Sequence[int],
        dropped: Sequence[Finding] = (),
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
        return Extraction(
            data=data, usage=usage, findings=findings, origin=origin,  # type: ignore[arg-type]
            document_id=prepared.document.document_id, pages=tuple(pages), timings=prepared.clock.timings(),
            warnings=tuple(prepared.warnings), source=prepared.document.name, model=model,
        )  # fmt: skip

    def _einvoice_result(self, prepared: _Prepared, data: BaseModel) -> Extraction[Any]:
        return self._finish(prepared, data, usage=Usage(), origin="einvoice", model=None, pages=())

    def _read_embedded(self, prepared: _Prepared, password: str | None) -> Invoice | None:
        from invoiceai.render.pdf import read_embedded_invoice

        try:
            return read_embedded_invoice(prepared.document.data, password=password)
        except NotAnInvoiceError:
            raise  # an Order-X order is not an invoice, whatever its pages look like
        except EInvoiceError as exc:
            # A hostile or broken attachment must not stop a PDF whose pages are fine.
            prepared.warnings.append(f"the embedded e-invoice could not be read ({exc.message}); read the pages")
            return None

    def _open(self, document: Document, pages: Pages, password: str | None) -> Any:
        from invoiceai.render import open_document

        return open_document(document, pages=pages, password=password, registry=self._renderers)

    def _cache_key(self, document: Document, source: TimedPageSource, schema: type[BaseModel]) -> str:
        from invoiceai.cache import cache_key

        renderer = type(source.inner)
        return cache_key(
            document_id=document.document_id,
            pages=selected_pages(source),
            schema=schema,
            model_fingerprint=self.backend.fingerprint(),
            prompt_version=ENVELOPE_VERSION,
            render_settings={"renderer": f"{renderer.__module__}.{renderer.__qualname__}"},
        )

    @staticmethod
    def _time_backend(prepared: _Prepared, elapsed: float) -> None:
        rendered = prepared.source.seconds if prepared.source is not None else 0.0
        prepared.clock.add("render", rendered)
        prepared.clock.add("backend", elapsed - rendered)

    def _close_cache(self) -> None:
        with self._lock:
            cache, self._cache = self._cache, None
        if cache is not None and self._owns_cache:
            cache.close()

    # -- batches (used by invoiceai.extractor.batch) --------------------------------------------

    def _failure(
        self, source: Source, error: BaseException, document: Document | None, clock: _Clock
    ) -> ExtractionFailure:
        if not isinstance(error, InvoiceAIError):
            # Keep the batch going, and keep the original on __cause__ for the bug report.
            wrapped = InvoiceAIError(f"Unexpected {type(error).__name__} (please report this): {error}")
            wrapped.__cause__ = error
            error = wrapped
        usage = getattr(error, "usage", None)
        return ExtractionFailure(
            error=error,
            source=document.name if document is not None else describe(source),
            document_id=document.document_id if document is not None else getattr(error, "document_id", None),
            usage=usage if isinstance(usage, Usage) else Usage(),
            timings=clock.timings(),
        )


def _name_for(source: object) -> str | None:
    from os import PathLike

    if isinstance(source, PathLike) or (isinstance(source, str) and "://" not in source):
        return describe(source)
    return None


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
