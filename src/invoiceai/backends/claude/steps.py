"""What a job asks its loop to do, and what it is configured with. Plain data, no I/O.

* :class:`NeedTextLayers`, :class:`NeedPdf`, :class:`NeedPages`: read the source; answer with
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_text_layers`,
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_pdf`,
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_page` /
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.end_of_pages` (:class:`SourceReader` does).
* :class:`SendRequest`: call ``messages.create(**params)`` with transport retries
  (:class:`~invoiceai.backends.claude.call.ApiCall`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.backends.claude.chunking import RequestLimits
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.backends.claude.models import ModelSpec
    from invoiceai.backends.claude.prices import PriceTable
    from invoiceai.backends.claude.request import InputMode
    from invoiceai.pages import ImageBudget, Page, PageSource

__all__ = ["JobConfig", "NeedPages", "NeedPdf", "NeedTextLayers", "SendRequest", "SourceReader", "Step"]


@dataclasses.dataclass(frozen=True)
class NeedTextLayers:
    """Call ``source.text_layers()`` and pass the result to ``provide_text_layers``."""


@dataclasses.dataclass(frozen=True)
class NeedPdf:
    """Call ``source.pdf_bytes()`` and pass the result to ``provide_pdf``."""


@dataclasses.dataclass(frozen=True)
class NeedPages:
    """Pull the next page of render pass ``render_pass`` and pass it to ``provide_page``.

    Each pass is one ``source.render(budget)`` iterator, started when the pass is first asked
    for and pulled a page at a time; when it is exhausted, call ``end_of_pages``. A new pass
    (after the API refused the images as too large) starts rendering again from the first page.

    Attributes:
        budget: The image budget of this pass.
        render_pass: Which pass; a different number means a new ``source.render(budget)``.
    """

    budget: ImageBudget
    render_pass: int = 0


@dataclasses.dataclass(frozen=True)
class SendRequest:
    """Call ``messages.create(**params)``.

    Attributes:
        params: The request, JSON-ready.
        label: Short description for logs (``doc 3f2a… chunk 1/2 reask 1``).
        estimated_input_tokens: The request's input tokens as estimated when it was built
            (images w*h/750, text by characters); a re-ask adds the reply and its errors.
    """

    params: dict[str, Any] = dataclasses.field(repr=False)
    label: str
    estimated_input_tokens: int = 0


Step = NeedTextLayers | NeedPdf | NeedPages | SendRequest


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """Everything a job needs to know besides the document and schema.

    Attributes:
        model: Model id sent to the API.
        spec: The model's capabilities (detected or from the table).
        mode: Input mode.
        max_reasks: Re-asks allowed per request after a schema-invalid reply.
        token_budget: Input plus output tokens the document may spend.
        limits: Request size limits.
        prices: Price table for cost.
        secrets: Literal values to mask from error messages (the API key).
        batch: Priced as Message Batches (half price).
        image_budget: The budget to render at; defaults to the model's (learned limits included).
        preflight: Price the whole document before its first request and refuse it when it can
            cost more than ``token_budget`` (off for a dry run, which reports the cost instead).
    """

    model: str
    spec: ModelSpec
    mode: InputMode
    max_reasks: int
    token_budget: int
    limits: RequestLimits
    prices: PriceTable
    secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    batch: bool = False
    image_budget: ImageBudget | None = None
    preflight: bool = True


class SourceReader:
    """Performs a job's source steps on one source, keeping the render iterator between pages.

    Calls may come from different threads (the async loop runs each in a worker thread) and are
    serialised: a read still running in the thread of a cancelled task finishes before
    :meth:`close` closes the iterator under it. Close the reader when the job ends, so that a
    render abandoned half-way (an error, a cancellation, a smaller budget) frees its renderer
    at once.

    Args:
        source: The document's page source.
    """

    def __init__(self, source: PageSource) -> None:
        self._source = source
        self._pages: Iterator[Page] | None = None
        self._pass = -1
        self._lock = threading.Lock()

    def read(self, job: ExtractionJob[Any], step: Step) -> None:
        """Performs a source step of ``job`` (text layers, PDF bytes, or the next rendered page)."""
        with self._lock:
            self._read(job, step)

    def _read(self, job: ExtractionJob[Any], step: Step) -> None:
        if isinstance(step, NeedTextLayers):
            job.provide_text_layers(self._source.text_layers())
        elif isinstance(step, NeedPdf):
            job.provide_pdf(self._source.pdf_bytes())
        elif isinstance(step, NeedPages):
            if self._pages is None or step.render_pass != self._pass:
                self._close()
                self._pages = iter(self._source.render(step.budget))
                self._pass = step.render_pass
            page = next(self._pages, None)
            if page is None:
                self._close()
                job.end_of_pages()
            else:
                job.provide_page(page)
        else:  # pragma: no cover - the job never asks for anything else
            raise TypeError(f"not a source step: {step!r}")

    def close(self) -> None:
        """Closes the render iterator in progress, if any (a generator's ``finally`` runs now)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        pages, self._pages = self._pages, None
        close = getattr(pages, "close", None)
        if callable(close):
            close()
