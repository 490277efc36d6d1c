"""The facade: :class:`Extractor` turns sources into :class:`~invoiceai.Extraction` results.

The facade wires the parts together and does nothing else: one extraction's phases are
:class:`~invoiceai.extractor.pipeline.Pipeline` methods, and batches run on the engine in
:mod:`invoiceai.extractor.batch`. Both get their context (settings, backend, cache, renderers,
flags) from :meth:`Extractor._pipeline`; neither imports this module.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, overload

from pydantic import BaseModel

from invoiceai.closing import Closeable
from invoiceai.config import Detail, Settings
from invoiceai.errors import ConfigurationError
from invoiceai.extractor.batch import BatchOptions, aiter_batch, collect, iter_batch
from invoiceai.extractor.batch_api import BatchMethods
from invoiceai.extractor.estimate import EstimateMethods
from invoiceai.extractor.failures import scrubbed
from invoiceai.extractor.grounding import check_ocr_setting
from invoiceai.extractor.pipeline import Clock, Pipeline
from invoiceai.extractor.progress import ProgressArg
from invoiceai.extractor.result import Extraction, ExtractionFailure
from invoiceai.extractor.schedule import STREAM_MEMORY, BatchItem
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from typing_extensions import Unpack

    from invoiceai.backends.base import Backend
    from invoiceai.backends.registry import BackendRegistry
    from invoiceai.cache import Cache, CacheRegistry, CacheSpec
    from invoiceai.documents import Source
    from invoiceai.provenance import ReviewPolicy
    from invoiceai.render import Pages, RendererRegistry

__all__ = ["DEFAULT_CACHE", "Extractor", "ManyOptions"]

T = TypeVar("T", bound=BaseModel)


class _DefaultCache:
    def __repr__(self) -> str:
        return "<default SQLite cache>"


DEFAULT_CACHE: Any = _DefaultCache()
"""``cache=`` default: the SQLite cache in ``Settings.cache_dir``, opened on first use.

The same as passing ``cache="sqlite"``, which is how callers ask for it explicitly.
"""


class ManyOptions(TypedDict, total=False):
    """Keyword options of :meth:`Extractor.extract_many`, :meth:`Extractor.iter_extract` and their async twins.

    Attributes:
        pages: Pages to read in every document (``"1-3,7"`` or 1-based numbers; default all).
        password: Password for every encrypted PDF.
        concurrency: Requests in flight at once (default ``Settings.concurrency``).
        progress: ``None``: a progress bar when stderr is a terminal; ``False``: none; a
            callable: called as ``progress(done, total)``.
        raise_on_error: Raise the first failure instead of reporting it.
        detail: Image size for this call, ``"standard"`` or ``"high"`` (default ``Settings.detail``).
    """

    pages: Pages
    password: str | None
    concurrency: int | None
    progress: ProgressArg
    raise_on_error: bool
    detail: Detail | None


class Extractor(BatchMethods, EstimateMethods, Closeable):
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
        concurrency: Requests in flight at once in a batch (``extract_many``, ``iter_extract``
            and their async twins); as many more documents are loaded and rendered ahead of
            them. Set it to your account's concurrency.
        max_concurrent_requests: A cap on requests in flight for the built-in backend, across
            every batch and single extraction sharing it (default: none beyond
            ``concurrency``); see :class:`~invoiceai.config.Settings`.
        prefer_embedded: Read a PDF's embedded e-invoice XML instead of calling the model.
        cross_check: With an embedded e-invoice, also extract the pages with the model and report
            every field where the two disagree as an ``IAI-CROSS-CHECK`` finding.
        validation_context: Passed to ``schema.model_validate(..., context=...)``, e.g.
            ``{"currency": "USD", "date_order": "MDY"}``.
        review_policy: When a result needs a person (``Extraction.needs_review``); default
            :class:`~invoiceai.provenance.ReviewPolicy`. ``result.reviewed(policy)`` applies another one.
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
        review_policy: ReviewPolicy | None = None,
    ) -> None:
        base = settings if settings is not None else Settings.load()
        self.settings = base.replace(
            model=model, concurrency=concurrency, max_concurrent_requests=max_concurrent_requests
        )
        self.prefer_embedded = prefer_embedded
        self.cross_check = cross_check
        self.validation_context = dict(validation_context) if validation_context else None
        self.review_policy = review_policy
        check_ocr_setting(self.settings)  # ocr="on" without Tesseract fails here, before any cost
        self._renderers = renderers
        self._cache_spec = cache
        self._cache: Cache | None = None
        self._cache_opened = False
        self._owns_cache = False
        self._lock = threading.Lock()
        self._closed = False
        self._stopped_batches: list[ThreadPoolExecutor] = []
        self._caches = caches
        self.backend, self._owns_backend = _backend_for(backend, backends, model, self.settings, client, api_key, mode)

    def __repr__(self) -> str:
        from invoiceai.secrets import mask_text, mask_url

        # mask_url first: the cache may not be open yet, so its password is not registered, and a
        # password with quotes or spaces would slip past the free-text URL pattern.
        spec = mask_url(self._cache_spec) if isinstance(self._cache_spec, str) else self._cache_spec
        return mask_text(f"Extractor(backend={self.backend!r}, cache={spec!r})")

    # -- one document -----------------------------------------------------------------------------

    @overload
    def extract(
        self, source: Source, *, pages: Pages = None, password: str | None = None, detail: Detail | None = None
    ) -> Extraction[Invoice]: ...
    @overload
    def extract(
        self, source: Source, *, schema: type[T], pages: Pages = None, password: str | None = None,
        detail: Detail | None = None,
    ) -> Extraction[T]: ...  # fmt: skip
    def extract(
        self, source: Source, *, schema: type[Any] = Invoice, pages: Pages = None, password: str | None = None,
        detail: Detail | None = None,
    ) -> Extraction[Any]:  # fmt: skip
        """Extracts one document.

        Args:
            source: A path, ``bytes``, a binary file object, an ``http(s)`` URL or a
                :class:`~invoiceai.documents.Document`.
            schema: The Pydantic model to fill (default :class:`~invoiceai.Invoice`).
            pages: Pages to read, ``"1-3,7"`` or a list of 1-based numbers (default: all).
            password: For encrypted PDFs.
            detail: Image size for this call, ``"standard"`` or ``"high"`` (default ``Settings.detail``).

        Returns:
            The typed data with usage, findings, origin, timings and warnings.

        Raises:
            InvoiceAIError: A typed error saying what went wrong and what to do.
        """
        pipeline, clock = self._pipeline(detail), Clock()
        with scrubbed():
            with clock.stage("load"):
                document = pipeline.load(source)
            return pipeline.extract_loaded(document, schema, pages, password, clock)

    @overload
    async def aextract(
        self, source: Source, *, pages: Pages = None, password: str | None = None, detail: Detail | None = None
    ) -> Extraction[Invoice]: ...
    @overload
    async def aextract(
        self, source: Source, *, schema: type[T], pages: Pages = None, password: str | None = None,
        detail: Detail | None = None,
    ) -> Extraction[T]: ...  # fmt: skip
    async def aextract(
        self, source: Source, *, schema: type[Any] = Invoice, pages: Pages = None, password: str | None = None,
        detail: Detail | None = None,
    ) -> Extraction[Any]:  # fmt: skip
        """Async twin of :meth:`extract`; files, rendering and the cache run off the event loop."""
        pipeline, clock = self._pipeline(detail), Clock()
        with scrubbed():
            with clock.stage("load"):
                document = await pipeline.aload(source)
            return await pipeline.aextract_loaded(document, schema, pages, password, clock)

    # -- many documents -----------------------------------------------------------------------------

    @overload
    def extract_many(
        self, sources: Iterable[Source], **options: Unpack[ManyOptions]
    ) -> list[Extraction[Invoice] | ExtractionFailure]: ...
    @overload
    def extract_many(
        self, sources: Iterable[Source], *, schema: type[T], **options: Unpack[ManyOptions]
    ) -> list[Extraction[T] | ExtractionFailure]: ...
    def extract_many(
        self, sources: Iterable[Source], *, schema: type[Any] = Invoice, **options: Unpack[ManyOptions]
    ) -> list[Extraction[Any] | ExtractionFailure]:
        """Extracts many documents; results come back in input order.

        ``concurrency`` requests are kept in flight while as many documents are loaded and
        rendered ahead of them, on threads. A document that fails does not stop the others: its
        place holds an :class:`~invoiceai.ExtractionFailure` with the typed error. The same
        document given twice is extracted once. Ctrl-C stops starting new documents and lets
        those in flight finish their current request, so the cache stays consistent.

        Args:
            sources: The documents (anything :meth:`extract` accepts).
            schema: The Pydantic model to fill.
            **options: ``pages``, ``password``, ``concurrency`` (requests in flight, default
                ``Settings.concurrency``), ``progress`` and ``raise_on_error`` (raise the first
                failure; the rest is stopped): see :class:`ManyOptions`.

        Returns:
            One result per source, in input order.
        """
        listed = list(sources)
        settings = self._options(schema, options, remember=None)
        return collect(iter_batch(self._pipeline(options.get("detail")), listed, settings), len(listed))

    @overload
    async def aextract_many(
        self, sources: Iterable[Source], **options: Unpack[ManyOptions]
    ) -> list[Extraction[Invoice] | ExtractionFailure]: ...
    @overload
    async def aextract_many(
        self, sources: Iterable[Source], *, schema: type[T], **options: Unpack[ManyOptions]
    ) -> list[Extraction[T] | ExtractionFailure]: ...
    async def aextract_many(
        self, sources: Iterable[Source], *, schema: type[Any] = Invoice, **options: Unpack[ManyOptions]
    ) -> list[Extraction[Any] | ExtractionFailure]:
        """Async twin of :meth:`extract_many`: the same engine on tasks, results in input order.

        Cancelling the call cancels every document still running; cache writes are atomic, so
        the cache stays consistent.
        """
        listed = list(sources)
        settings = self._options(schema, options, remember=None)
        # remember=None keeps every result anyway: gathering the items first costs nothing more.
        items = [item async for item in aiter_batch(self._pipeline(options.get("detail")), listed, settings)]
        return collect(items, len(listed))

    @overload
    def iter_extract(
        self, sources: Iterable[Source], **options: Unpack[ManyOptions]
    ) -> Iterator[BatchItem[Invoice]]: ...
    @overload
    def iter_extract(
        self, sources: Iterable[Source], *, schema: type[T], **options: Unpack[ManyOptions]
    ) -> Iterator[BatchItem[T]]: ...
    def iter_extract(
        self, sources: Iterable[Source], *, schema: type[Any] = Invoice, **options: Unpack[ManyOptions]
    ) -> Iterator[BatchItem[Any]]:
        """Extracts many documents, yielding each result as soon as it is known.

        The streaming form of :meth:`extract_many`, with the same engine and behaviour, except
        that results come in the order they finish, each a :class:`~invoiceai.BatchItem` with
        the ``index`` of its source. ``sources`` is read lazily (a generator of 50,000 paths is
        never held in memory) and finished results are not kept, so memory stays flat however
        long the run. Stopping the iteration early stops the batch like Ctrl-C does.

        Args:
            sources: The documents (anything :meth:`extract` accepts), read as they are needed.
            schema: The Pydantic model to fill.
            **options: As for :meth:`extract_many` (see :class:`ManyOptions`); without
                ``len(sources)``, the progress callback's ``total`` counts the sources read so far.

        Yields:
            One :class:`~invoiceai.BatchItem` per source.
        """
        return iter_batch(self._pipeline(options.get("detail")), sources, self._options(schema, options))

    @overload
    def aiter_extract(
        self, sources: Iterable[Source], **options: Unpack[ManyOptions]
    ) -> AsyncIterator[BatchItem[Invoice]]: ...
    @overload
    def aiter_extract(
        self, sources: Iterable[Source], *, schema: type[T], **options: Unpack[ManyOptions]
    ) -> AsyncIterator[BatchItem[T]]: ...
    def aiter_extract(
        self, sources: Iterable[Source], *, schema: type[Any] = Invoice, **options: Unpack[ManyOptions]
    ) -> AsyncIterator[BatchItem[Any]]:
        """Async twin of :meth:`iter_extract`: ``async for item in extractor.aiter_extract(paths)``.

        To stop early, close the iterator (``contextlib.aclosing``): that cancels every
        document still running.
        """
        return aiter_batch(self._pipeline(options.get("detail")), sources, self._options(schema, options))

    # -- lifecycle ----------------------------------------------------------------------------------

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
        self._wait_for_stopped_batches()
        if self._owns_backend:
            self.backend.close()
        self._close_cache()

    def _wait_for_stopped_batches(self) -> None:
        # A batch stopped early (Ctrl-C, a broken-off iter_extract) lets its requests in flight
        # finish: they are paid for, so their results must still reach the cache closed next.
        while self._stopped_batches:
            self._stopped_batches.pop().shutdown(wait=True)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._wait_for_stopped_batches)
        if self._owns_backend:
            await self.backend.aclose()
        await asyncio.to_thread(self._close_cache)

    def _close_cache(self) -> None:
        with self._lock:
            cache, self._cache = self._cache, None
        if cache is not None and self._owns_cache:
            cache.close()

    # -- wiring -----------------------------------------------------------------------------------

    def _pipeline(self, detail: Detail | None = None) -> Pipeline:
        """The context of one call, read from the current attributes (they may be changed)."""
        if self._closed:
            raise ConfigurationError("This Extractor is closed; create a new one.")
        from invoiceai.extractor.detail import at_detail

        return Pipeline(
            settings=self.settings, backend=at_detail(self.backend, detail), cache_of=lambda: self.cache,
            renderers=self._renderers,
            prefer_embedded=self.prefer_embedded, cross_check=self.cross_check,
            validation_context=self.validation_context, review_policy=self.review_policy,
        )  # fmt: skip

    def _options(
        self, schema: type[Any], options: ManyOptions, *, remember: int | None = STREAM_MEMORY
    ) -> BatchOptions:
        unknown = sorted(set(options) - set(ManyOptions.__annotations__))
        if unknown:
            # **options would otherwise swallow a typo (concurency=4) without a word.
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        concurrency = options.get("concurrency")
        return BatchOptions(
            schema=schema, pages=options.get("pages"), password=options.get("password"),
            concurrency=concurrency or self.settings.concurrency, progress=options.get("progress"),
            raise_on_error=options.get("raise_on_error", False), remember=remember,
            on_stop=self._stopped_batches.extend,
        )  # fmt: skip


def _backend_for(
    backend: Backend | str | None,
    backends: BackendRegistry | None,
    model: str | None,
    settings: Settings,
    client: Any,
    api_key: str | None,
    mode: str | None,
) -> tuple[Backend, bool]:
    """The backend an Extractor uses, and whether it built it (then it closes it too)."""
    if backend is None or isinstance(backend, str):
        from invoiceai.backends.registry import BackendRegistry

        options: dict[str, Any] = {"model": settings.model, "settings": settings}
        if client is not None:
            options["client"] = client
        if api_key is not None:
            options["api_key"] = api_key
        if mode is not None:
            options["mode"] = mode
        registry = backends if backends is not None else BackendRegistry.with_builtins()
        return registry.create(backend or "claude", **options), True
    if client is not None or api_key is not None or mode is not None:
        raise ConfigurationError(
            "client=, api_key= and mode= configure the built-in backend; "
            "set them on the backend instance you pass instead."
        )
    if model is not None and model != backend.model:
        raise ConfigurationError(
            f"model={model!r} conflicts with the given backend's model {backend.model!r}; set the model on the backend."
        )
    return backend, False
