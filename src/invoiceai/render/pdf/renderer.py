"""The built-in PDF renderer (pypdfium2).

:meth:`PdfRenderer.open` opens the PDF once; the page source it returns keeps that document for
everything asked of it afterwards: the embedded e-invoice, the text layers, the page subset and
the pages. With ``render_memory_limit`` set (the default) the document is opened, and every
call answered, by a sandbox worker process (:mod:`invoiceai.render.pdf.sandbox`); what follows
describes the rendering itself, wherever it runs.

Pages are rendered lazily, one at a time. A helper thread renders page *n + 1* (holding the
pdfium lock) while the calling thread encodes page *n* with Pillow, which releases the GIL;
pdfium itself never runs on two threads at once. For long
documents, ``processes=`` renders in worker processes instead (see
:mod:`invoiceai.render.pdf.pool`).
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from invoiceai.documents.detect import PDF
from invoiceai.errors import ConfigurationError
from invoiceai.pages import Page
from invoiceai.render.limits import RenderLimits, select_pages
from invoiceai.render.noise import library_noise
from invoiceai.render.pdf.attachments import embedded_in
from invoiceai.render.pdf.document import check_password, close_pdf, is_encrypted, open_pdf, page_count, subset_pdf
from invoiceai.render.pdf.handle import SharedPdf
from invoiceai.render.pdf.page import assemble_page, encode_pixels
from invoiceai.render.pdf.raster import PageFacts, PagePixels, page_text, rasterise
from invoiceai.render.pdf.sandbox import SandboxedPdf, bounds_memory, use_sandbox
from invoiceai.render.pdf.scan import scan_pdf
from invoiceai.render.selection import Pages, SelectedPages, parse_pages

if TYPE_CHECKING:
    from types import TracebackType

    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget
    from invoiceai.render.limits import Deadline
    from invoiceai.render.pdf.attachments import EmbeddedXml
    from invoiceai.render.pdf.words import RawWord

__all__ = ["PdfPageSource", "PdfRenderer", "render_pages"]


class PdfRenderer:
    """Renders PDFs with pypdfium2.

    Args:
        processes: Worker processes for long documents; ``0`` or ``1`` renders in this process.
        min_pages_for_processes: Fewer selected pages than this render in this process even
            when ``processes`` is set, because starting workers costs more than it saves.
        limits: Pages, bytes, pixels and time one document may cost (the settings' defaults
            when ``None``; see :meth:`RenderLimits.from_settings`).

    Raises:
        ConfigurationError: A negative ``processes`` or a ``min_pages_for_processes`` below 1.
    """

    media_types: frozenset[str] = frozenset({PDF})

    def __init__(
        self, *, processes: int = 0, min_pages_for_processes: int = 16, limits: RenderLimits | None = None
    ) -> None:
        if processes < 0:
            raise ConfigurationError(f"PdfRenderer(processes=...) must be 0 or more, got {processes}.")
        if min_pages_for_processes < 1:
            raise ConfigurationError(
                f"PdfRenderer(min_pages_for_processes=...) must be at least 1, got {min_pages_for_processes}."
            )
        self.processes = processes
        self.min_pages_for_processes = min_pages_for_processes
        self.limits = limits if limits is not None else RenderLimits()

    def open(self, document: Document, *, pages: Pages = None, password: str | None = None) -> PdfPageSource:
        """Opens a PDF and resolves the page selection.

        Args:
            document: A loaded PDF.
            pages: Pages to render (``"1-3,7"``, a list of 1-based numbers, or ``None`` for all).
            password: The user or owner password of an encrypted PDF.

        Returns:
            A page source holding the open PDF; nothing is rendered yet.

        Raises:
            PageSelectionError: ``pages`` does not parse or is past the end.
            EncryptedDocumentError: A password is needed.
            WrongPasswordError: The password is wrong.
            CorruptDocumentError: pdfium cannot read the PDF.
            EmptyDocumentError: The PDF has no pages.
            TooManyPagesError: More than ``max_pages`` pages are selected.
            StreamTooLargeError: A stream inflates past ``max_stream_bytes`` (found before pdfium parses the file).
            DecompressionBombError: An image in the PDF has more than ``max_image_pixels`` pixels.
            RenderTimeoutError: Opening took longer than ``render_timeout``.
            ConfigurationError: ``password`` is not text.
        """
        check_password(password)
        selection = parse_pages(pages)
        document_id = document.document_id
        deadline = self.limits.deadline()
        with deadline.spending():
            scan_pdf(
                document.data,
                self.limits,
                document_id=document_id,
                deadline=deadline,
                images_by_size=bounds_memory(self.limits),
            )
        pdf, sandbox, count, encrypted = self._opened(document, password, deadline)
        try:
            with deadline.spending():
                indices = select_pages(selection, count, self.limits, document_id=document_id)
            deadline.check(document_id=document_id)
        except BaseException:
            _close(pdf, sandbox)
            raise
        return PdfPageSource(
            document,
            indices,
            password=password,
            processes=self.processes_for(len(indices)),
            encrypted=encrypted,
            total_pages=count,
            pdf=pdf,
            renderer=self,
            deadline=deadline,
            sandbox=sandbox,
        )

    def _opened(
        self, document: Document, password: str | None, deadline: Deadline
    ) -> tuple[Any, SandboxedPdf | None, int, bool]:
        # In a sandbox worker when render_memory_limit is set: pdfium never parses the file here.
        if use_sandbox(self.limits):
            sandbox = SandboxedPdf(
                document.data, password, document_id=document.document_id, name=document.name, limits=self.limits
            )
            try:
                with deadline.spending():
                    opened = sandbox.open(deadline)
            except BaseException:
                sandbox.close()
                raise
            return None, sandbox, opened.pages, opened.encrypted
        with deadline.spending():
            pdf = open_pdf(document.data, password, document_id=document.document_id)
            try:
                return pdf, None, page_count(pdf), is_encrypted(pdf)
            except BaseException:
                close_pdf(pdf)
                raise

    def processes_for(self, selected: int) -> int:
        """Returns the worker processes for rendering ``selected`` pages (``0``: this process)."""
        return self.processes if selected >= self.min_pages_for_processes else 0


class PdfPageSource(SelectedPages):
    """The selected pages of an open PDF; implements :class:`~invoiceai.pages.PageSource`.

    Keeps the document bytes and one open pdfium document, never rendered pages, so
    :meth:`render` can be called again with a smaller budget. The open document serves
    :meth:`embedded_einvoice`, :meth:`text_layers`, :meth:`pdf_bytes` and :meth:`render`;
    :meth:`close` (or leaving a ``with`` block) frees it early, and it is freed when the source
    is garbage-collected. A closed source still works: it opens the PDF again when asked.

    Args:
        document: The loaded PDF.
        indices: The selected pages, 0-based.
        password: The password, if any.
        processes: Worker processes for :meth:`render` (``0``: this process).
        encrypted: The PDF uses the standard security handler.
        total_pages: The document's page count.
        pdf: The document already opened from ``document`` with
            :func:`~invoiceai.render.pdf.document.open_pdf`; the source takes it over (and opens
            the PDF on first use when ``None``).
        renderer: The renderer that opened it, whose process settings and limits :meth:`with_pages` keeps.
        deadline: The document's time budget (a new one from the renderer's limits when ``None``).
        sandbox: The document opened in sandbox workers instead (then ``pdf`` is ``None``): every
            call on the source is answered by a worker process.
    """

    def __init__(
        self,
        document: Document,
        indices: Sequence[int],
        *,
        password: str | None,
        processes: int,
        encrypted: bool,
        total_pages: int,
        pdf: Any = None,
        renderer: PdfRenderer | None = None,
        deadline: Deadline | None = None,
        sandbox: SandboxedPdf | None = None,
    ) -> None:
        self.document = document
        self.indices = tuple(indices)
        self.total_pages = total_pages
        self.encrypted = encrypted
        self._password = password
        self._processes = processes
        self._pdf = SharedPdf(document.data, password, document_id=document.document_id, pdf=pdf)
        self._sandbox = sandbox
        self._embedded: tuple[EmbeddedXml | None] | None = None
        self._renderer = renderer
        self.limits = renderer.limits if renderer is not None else RenderLimits()
        self._deadline = deadline if deadline is not None else self.limits.deadline()

    def __repr__(self) -> str:
        return (
            f"PdfPageSource(name={self.document.name!r}, pages={self.page_numbers}, "
            f"document_id={self.document_id[:12]!r})"
        )

    def __enter__(self) -> PdfPageSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def processes(self) -> int:
        """Worker processes :meth:`render` uses; ``0`` renders in this process."""
        return self._processes

    def with_pages(self, pages: Pages) -> PdfPageSource:
        """Returns a source for another page selection of the same open document.

        Lets a caller look for the embedded e-invoice first (open with every page) and resolve
        the pages only when they are needed, without opening the PDF again. Both sources share
        the open document; closing either closes it for both (it reopens when asked).

        Args:
            pages: Pages to render (``"1-3,7"``, a list of 1-based numbers, or ``None`` for all).

        Returns:
            The new source; this one is unchanged.

        Raises:
            PageSelectionError: ``pages`` does not parse or is past the end.
            EmptyDocumentError: The PDF has no pages.
        """
        selection = parse_pages(pages)
        indices = select_pages(selection, self.total_pages, self.limits, document_id=self.document_id)
        selected = copy.copy(self)
        selected.indices = indices
        selected._processes = self._renderer.processes_for(len(indices)) if self._renderer is not None else 0
        return selected

    def close(self) -> None:
        """Closes the open pdfium document (after any render in progress); idempotent."""
        if self._sandbox is not None:
            self._sandbox.close()
        self._pdf.close()

    def embedded_einvoice(self) -> EmbeddedXml | None:
        """Returns the invoice XML attached to this PDF, read from the open document.

        The whole document is searched, whatever the page selection. The answer is kept, so
        asking again costs nothing; errors are not kept. Read the XML with
        :func:`invoiceai.einvoice.read_einvoice`.

        Returns:
            The chosen attachment (name, XML bytes, syntax), or ``None`` when the PDF carries no
            invoice XML.

        Raises:
            NotAnInvoiceError: The PDF carries a recognised e-document that is not an invoice
                (an Order-X order) and no invoice.
            EncryptedDocumentError: The invoice attachment is encrypted in a way that cannot be read.
            CorruptDocumentError: The invoice attachment is not well-formed XML.
            HostileXMLError: The invoice attachment declares a DTD.
            AttachmentTooLargeError: The invoice attachment is above ``max_attachment_bytes``.
            RenderTimeoutError: The document's ``render_timeout`` ran out.
        """
        if self._embedded is None:
            self._deadline.check(document_id=self.document_id)
            if self._sandbox is not None:
                with self._deadline.spending():
                    embedded = self._sandbox.embedded(self._deadline)
            else:
                with self._pdf.use() as pdf, self._deadline.spending(), library_noise(self.document.name):
                    embedded = embedded_in(pdf, self.document.data, self._password, limits=self.limits)
            self._embedded = (embedded,)
        return self._embedded[0]

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields the selected pages in order, each within ``budget``, one at a time.

        Args:
            budget: The model's pixel budget.

        Yields:
            Each selected page, encoded.

        Raises:
            CorruptDocumentError: A page cannot be loaded or rendered (raised when reached).
            RenderTooLargeError: ``budget`` asks for a bitmap above ``max_render_bytes``.
            RenderTimeoutError: The document's ``render_timeout`` ran out (checked between pages).
        """
        yield from self._deadline.metered(self._render_pages(budget), document_id=self.document_id)

    def _render_pages(self, budget: ImageBudget) -> Iterator[Page]:
        if self._sandbox is not None:
            if self._processes > 1:
                # Sandbox workers taking turns page by page: started once and kept (no new
                # interpreters per document), each under the memory limit.
                yield from self._sandbox.pages_across(self.indices, budget, self._deadline, workers=self._processes)
            else:
                yield from self._sandbox.pages(self.indices, budget, self._deadline)
            return
        if self._processes > 1:
            # Each worker process opens its own copy: pdfium documents cannot cross processes.
            from invoiceai.render.pdf.pool import render_in_processes

            yield from render_in_processes(
                self.document.data,
                self._password,
                self.indices,
                budget,
                processes=self._processes,
                document_id=self.document_id,
                limits=self.limits,
                deadline=self._deadline,
            )
            return
        yield from self._render_here(budget)

    def text_layers(self) -> list[str | None]:
        """Returns each selected page's text layer (``None`` for pages without text); no rendering."""
        self._deadline.check(document_id=self.document_id)
        if self._sandbox is not None:
            with self._deadline.spending():
                return self._sandbox.texts(self.indices, self._deadline)
        with self._pdf.use() as pdf, self._deadline.spending():
            return [page_text(pdf, index, document_id=self.document_id) for index in self.indices]

    def word_layers(self, positions: Sequence[int] | None = None) -> list[list[RawWord] | None]:
        """Returns the words with boxes (``None``: no text layer) of each selected page, or those at ``positions``."""
        from invoiceai.render.pdf.words import page_words

        indices = self.indices if positions is None else [self.indices[position] for position in positions]
        self._deadline.check(document_id=self.document_id)
        if self._sandbox is not None:
            with self._deadline.spending():
                return self._sandbox.words(indices, self._deadline)
        with self._pdf.use() as pdf, self._deadline.spending():
            return [page_words(pdf, index, document_id=self.document_id) for index in indices]

    def pdf_bytes(self) -> bytes:
        """Returns the selected pages as a PDF the API can read.

        The original bytes when every page is selected and the file is not encrypted; otherwise
        a new, unencrypted PDF holding just the selected pages.
        """
        if len(self.indices) == self.total_pages and not self.encrypted:
            return self.document.data
        if self._sandbox is not None:
            return self._sandbox.subset(self.indices, None)
        with self._pdf.use() as pdf:
            return subset_pdf(pdf, self.indices, document_id=self.document_id)

    def _render_here(self, budget: ImageBudget) -> Iterator[Page]:
        if not self.indices:
            return
        # The lease outlives the pages' helper thread, so the document cannot close under it.
        with self._pdf.use() as pdf:
            yield from render_pages(
                pdf, self.indices, budget, document_id=self.document_id, name=self.document.name, limits=self.limits
            )


def render_pages(
    pdf: Any, indices: Sequence[int], budget: ImageBudget, *, document_id: str, name: str, limits: RenderLimits
) -> Generator[Page, None, None]:
    """Yields the pages at ``indices`` of an open document, rendering each next page ahead.

    A helper thread renders page *n + 1* (holding the pdfium lock) while this thread encodes page
    *n* with Pillow, which releases the GIL; at most two pages are in memory.

    Args:
        pdf: A document from :func:`~invoiceai.render.pdf.document.open_pdf`, kept open by the caller.
        indices: 0-based page indices.
        budget: The pixel budget.
        document_id: For error context.
        name: The document's name, for log messages.
        limits: ``max_render_bytes`` applies to each page.

    Yields:
        Each page, encoded.

    Raises:
        CorruptDocumentError: A page cannot be loaded or rendered (raised when reached).
        RenderTooLargeError: ``budget`` asks for a bitmap above ``max_render_bytes``.
    """
    if not indices:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="invoiceai-pdfium") as worker:

        def submit(index: int) -> tuple[Future[PagePixels], Future[tuple[PagePixels, PageFacts]]]:
            # The worker hands the pixels over (first future) before it reads the text
            # layer, so encoding starts meanwhile.
            pixels: Future[PagePixels] = Future()
            done = worker.submit(
                rasterise, pdf, index, budget, document_id=document_id, on_pixels=pixels.set_result, limits=limits
            )
            done.add_done_callback(lambda finished: _propagate_failure(finished, pixels))
            return pixels, done

        upcoming = submit(indices[0])
        for position in range(len(indices)):
            pixels_future, done = upcoming
            pixels = pixels_future.result()
            if position + 1 < len(indices):
                # Queued behind this page's text step: at most two pages are in memory.
                upcoming = submit(indices[position + 1])
            with library_noise(name):
                encoded = encode_pixels(pixels, budget)
            _, facts = done.result()
            yield assemble_page(pixels, encoded, facts)


def _close(pdf: Any, sandbox: SandboxedPdf | None) -> None:
    if pdf is not None:
        close_pdf(pdf)
    if sandbox is not None:
        sandbox.close()


def _propagate_failure(finished: Future[Any], pixels: Future[PagePixels]) -> None:
    error = finished.exception()
    if error is not None and not pixels.done():
        pixels.set_exception(error)
