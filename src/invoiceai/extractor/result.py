"""What an extraction returns: :class:`Extraction` on success, :class:`ExtractionFailure` in a batch."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from invoiceai.errors import InvoiceAIError
from invoiceai.provenance.model import Provenance
from invoiceai.schema.findings import Finding
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.provenance.review import Review, ReviewPolicy

__all__ = ["Extraction", "ExtractionFailure", "Origin", "Timings"]

T = TypeVar("T", bound=BaseModel)

Origin = Literal["model", "einvoice", "cache"]
"""Where the data came from: Claude or an e-invoice's XML. An :class:`Extraction` served from the
cache keeps the origin of its data and says ``cached=True``; ``"cache"`` is only the dry-run
estimate's word for a document that would cost nothing (and, given to :class:`Extraction`, is read
as ``origin="model", cached=True``: only model results are cached)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Timings:
    """Seconds spent per stage of one extraction.

    Attributes:
        load: Reading or fetching the source and detecting its type.
        render: Rendering pages (counted while the backend pulls them).
        backend: The model backend, minus the rendering it asked for.
        validate: Validation and cross-checks.
        einvoice: Looking for and reading an e-invoice's XML.
        cache: Cache lookups and writes.
    """

    load: float = 0.0
    render: float = 0.0
    backend: float = 0.0
    validate: float = 0.0
    einvoice: float = 0.0
    cache: float = 0.0

    @property
    def total(self) -> float:
        """Every stage together."""
        return self.load + self.render + self.backend + self.validate + self.einvoice + self.cache


def _usage_dict(usage: Usage) -> dict[str, Any]:
    data = dataclasses.asdict(usage)
    data["cost_usd"] = f"{usage.cost_usd:f}"
    return data


@dataclasses.dataclass(frozen=True)
class Extraction(Generic[T]):
    """The typed result of extracting one document.

    Attributes:
        data: The extracted data, an instance of the schema asked for (``Invoice`` by default).
        usage: Tokens, requests and cost, summed over every attempt; zero for cache hits and
            e-invoices.
        findings: Validation findings (for ``Invoice``-like schemas; empty otherwise), plus
            cross-check disagreements when asked for.
        origin: ``"model"`` (Claude read it) or ``"einvoice"`` (read from the e-invoice XML),
            also when the result was served from the cache.
        document_id: SHA-256 of the document's bytes.
        pages: 1-based numbers of the pages that were read (empty for XML).
        timings: Seconds per stage.
        warnings: Things worth knowing that are not findings (a page skipped, a retry, ...).
        source: A display name for the input (file name or URL).
        model: The model that produced the data, when one did.
        cached: Whether the result was served from the cache (no request was sent now).
        provenance: Where each value is printed: ``provenance["total"].box``,
            ``provenance["line_items"][3]["amount"].page`` (see :mod:`invoiceai.provenance`);
            empty for schemas other than :class:`~invoiceai.Invoice`.
        review: Whether a person should look at this result, and why, under the extractor's
            :class:`~invoiceai.provenance.ReviewPolicy`; ``None`` unless ``Settings.provenance``
            is on and the schema is an :class:`~invoiceai.Invoice`.
    """

    data: T
    usage: Usage
    findings: tuple[Finding, ...]
    origin: Origin
    document_id: str
    pages: tuple[int, ...] = ()
    timings: Timings = Timings()
    warnings: tuple[str, ...] = ()
    source: str = ""
    model: str | None = None
    cached: bool = False
    provenance: Provenance = dataclasses.field(default_factory=Provenance.empty)
    review: Review | None = None

    ok: Literal[True] = dataclasses.field(default=True, init=False)
    """Always ``True``; lets ``extract_many`` results be told apart from failures by type checkers."""

    def __post_init__(self) -> None:
        if self.origin == "cache":  # older callers' word for a cache hit; only model results are cached
            object.__setattr__(self, "origin", "model")
            object.__setattr__(self, "cached", True)

    def __str__(self) -> str:
        from invoiceai.display import extraction_text

        return extraction_text(self)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity ``error``."""
        return tuple(finding for finding in self.findings if finding.severity == "error")

    @property
    def needs_review(self) -> bool:
        """Whether a person should look at this result (see :attr:`review`)."""
        return self.review is not None and self.review.needs_review

    def reviewed(self, policy: ReviewPolicy) -> Extraction[T]:
        """Returns this result reviewed again under ``policy``; nothing is read or extracted again.

        Without provenance (``Settings.provenance`` off) the review rests on the findings alone.
        """
        from invoiceai.provenance.review import review

        return dataclasses.replace(self, review=review(self.provenance, self.findings, policy))

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict: data as JSON values (money as strings), findings, usage, timings."""
        data = {
            "source": self.source,
            "document_id": self.document_id,
            "origin": self.origin,
            "cached": self.cached,
            "model": self.model,
            "pages": list(self.pages),
            "data": self.data.model_dump(mode="json"),
            "findings": [finding.model_dump(mode="json") for finding in self.findings],
            "usage": _usage_dict(self.usage),
            "timings": dataclasses.asdict(self.timings),
            "warnings": list(self.warnings),
        }
        if self.review is not None:  # provenance was read (Settings.provenance)
            data.update(provenance=self.provenance.to_dict(), review=self.review.to_dict())
        return data

    def _repr_html_(self) -> str:
        from invoiceai.display import extraction_html

        return extraction_html(self)

    def show(self, source: Any, *, password: str | None = None) -> Any:
        """This result with its pages, for a notebook: each page image with a box around each value.

        Args:
            source: The document it was extracted from (a path, bytes, ...); checked by SHA-256.
            password: For an encrypted PDF.

        Returns:
            An object a notebook displays (``_repr_html_``); ``.html()`` gives the HTML.

        Raises:
            InputError: ``source`` is another document, or cannot be rendered.
        """
        from invoiceai.extractor.page_images import show_pages

        return show_pages(self, source, password=password)


@dataclasses.dataclass(frozen=True)
class ExtractionFailure:
    """A document of a batch that could not be extracted; the rest of the batch went on.

    Attributes:
        error: The typed error, with its context (document id, page, attempts, request id).
        source: A display name for the input.
        document_id: SHA-256 of the bytes, if they could be read.
        usage: What was spent before the failure (failed attempts still cost tokens).
        timings: Seconds per stage until the failure.
    """

    error: InvoiceAIError
    source: str = ""
    document_id: str | None = None
    usage: Usage = dataclasses.field(default_factory=Usage)
    timings: Timings = dataclasses.field(default_factory=Timings)

    ok: Literal[False] = dataclasses.field(default=False, init=False)
    """Always ``False``."""

    def __str__(self) -> str:
        from invoiceai.display import failure_text

        return failure_text(self)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict with the error's type, message and context."""
        return {
            "source": self.source,
            "document_id": self.document_id,
            "error": {"type": type(self.error).__name__, "message": self.error.message, **self.error.context()},
            "usage": _usage_dict(self.usage),
            "timings": dataclasses.asdict(self.timings),
        }

    def _repr_html_(self) -> str:
        from invoiceai.display import failure_html

        return failure_html(self)
