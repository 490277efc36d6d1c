"""What a job asks its loop to do, and what it is configured with. Plain data, no I/O.

* :class:`NeedTextLayers`, :class:`NeedPdf`, :class:`NeedPages`: read the source; answer with
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_text_layers`,
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_pdf`,
  :meth:`~invoiceai.backends.claude.job.ExtractionJob.provide_pages` (:func:`read_source` does).
* :class:`SendRequest`: call ``messages.create(**params)`` with transport retries
  (:class:`~invoiceai.backends.claude.call.ApiCall`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.backends.claude.chunking import RequestLimits
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.backends.claude.models import ModelSpec
    from invoiceai.backends.claude.prices import PriceTable
    from invoiceai.backends.claude.request import InputMode
    from invoiceai.pages import ImageBudget, PageSource

__all__ = ["JobConfig", "NeedPages", "NeedPdf", "NeedTextLayers", "SendRequest", "Step", "read_source"]


@dataclasses.dataclass(frozen=True)
class NeedTextLayers:
    """Call ``source.text_layers()`` and pass the result to ``provide_text_layers``."""


@dataclasses.dataclass(frozen=True)
class NeedPdf:
    """Call ``source.pdf_bytes()`` and pass the result to ``provide_pdf``."""


@dataclasses.dataclass(frozen=True)
class NeedPages:
    """Call ``list(source.render(budget))`` and pass the result to ``provide_pages``."""

    budget: ImageBudget


@dataclasses.dataclass(frozen=True)
class SendRequest:
    """Call ``messages.create(**params)``.

    Attributes:
        params: The request, JSON-ready.
        label: Short description for logs (``doc 3f2a… chunk 1/2 reask 1``).
    """

    params: dict[str, Any] = dataclasses.field(repr=False)
    label: str


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


def read_source(job: ExtractionJob[Any], source: PageSource, step: Step) -> None:
    """Performs a source step of ``job`` (text layers, PDF bytes or rendered pages) on ``source``."""
    if isinstance(step, NeedTextLayers):
        job.provide_text_layers(source.text_layers())
    elif isinstance(step, NeedPdf):
        job.provide_pdf(source.pdf_bytes())
    elif isinstance(step, NeedPages):
        job.provide_pages(list(source.render(step.budget)))
    else:  # pragma: no cover - the job never asks for anything else
        raise TypeError(f"not a source step: {step!r}")
