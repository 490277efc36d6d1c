"""Dry runs through the facade: what extracting documents would cost, with nothing sent to the model.

Each document goes through the same phases as a live extraction up to the model call: it is
loaded, an e-invoice is read (no request), the cache is consulted (a hit costs nothing), and the
pages are opened. The backend's ``estimate`` then renders them and builds the requests its
``extract`` would send, and counts them instead of sending them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError, InvoiceAIError
from invoiceai.extractor.failures import failure
from invoiceai.extractor.pipeline import Clock

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.backends.claude.dryrun import TokenCounter
    from invoiceai.config import Detail
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Pipeline
    from invoiceai.extractor.result import Origin
    from invoiceai.render import Pages

__all__ = ["DocumentEstimate", "EstimateMethods", "estimate_documents"]


@dataclasses.dataclass(frozen=True)
class DocumentEstimate:
    """What extracting one document would send and cost; nothing was sent to the model.

    Attributes:
        source: A display name for the input.
        document_id: SHA-256 of the bytes, if they could be read.
        origin: ``model`` (requests would be sent), ``einvoice`` or ``cache`` (nothing to pay).
        pages: Pages the requests carry (for a cache hit, the pages the cached result covers).
        requests: Requests a fault-free extraction sends (each retry or re-ask adds one).
        input_tokens: Their input tokens, counted as ``method`` says.
        max_output_tokens: The most output tokens they can be billed for (their ``max_tokens``).
        cost_usd: Input plus the output upper bound at live prices, prompt caching not counted;
            ``None`` when the model has no price.
        batch_cost_usd: The same at Message Batches prices (half).
        method: ``local`` (an estimate: images w*h/750, text by characters), ``count_tokens``
            (the API counted the input), ``custom`` (a counter you passed) or ``none`` (no request).
        model: The model the requests are for; ``None`` when there are none.
        warnings: What a live run would also warn about.
        error: Why the document could not be estimated (it would fail live too), else ``None``.
    """

    source: str
    document_id: str | None
    origin: Origin
    pages: int = 0
    requests: int = 0
    input_tokens: int = 0
    max_output_tokens: int = 0
    cost_usd: Decimal | None = Decimal(0)
    batch_cost_usd: Decimal | None = Decimal(0)
    method: str = "none"
    model: str | None = None
    warnings: tuple[str, ...] = ()
    error: InvoiceAIError | None = None

    @property
    def ok(self) -> bool:
        """Whether the document could be estimated."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict (costs as decimal strings, the error as its type and message)."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for name in ("cost_usd", "batch_cost_usd"):
            data[name] = None if data[name] is None else f"{data[name]:f}"
        data["warnings"] = list(self.warnings)
        error = self.error
        data["error"] = None if error is None else {"type": type(error).__name__, "message": error.message}
        return data


def estimate_documents(
    pipeline: Pipeline,
    sources: Iterable[Source],
    *,
    schema: type[BaseModel],
    pages: Pages,
    password: str | None,
    count_tokens: Any,
) -> list[DocumentEstimate]:
    """Estimates each source in turn; a document that fails is reported in its place, as in a batch.

    Raises:
        ConfigurationError: The backend cannot estimate (it has no ``estimate`` method).
    """
    backend_estimate = getattr(pipeline.backend, "estimate", None)
    if not callable(backend_estimate):
        raise ConfigurationError(
            f"Dry runs need a backend that can build its requests without sending them (the built-in "
            f"Claude backend); {type(pipeline.backend).__name__} has no estimate() method."
        )
    results: list[DocumentEstimate] = []
    first_of: dict[str, int] = {}  # document id -> input position of its first copy
    for position, source in enumerate(sources, start=1):
        clock, document = Clock(), None
        try:
            document = pipeline.load(source)
            seen = first_of.setdefault(document.document_id, position)
            if seen != position:
                # extract_many extracts identical bytes once and answers the copies from that result.
                results.append(_repeat(document.name, document.document_id, seen))
                continue
            results.append(_estimate_one(pipeline, document, schema, pages, password, clock, count_tokens))
        except Exception as exc:
            failed = failure(source, exc, document, clock)
            results.append(
                DocumentEstimate(failed.source, failed.document_id, "model", error=failed.error, cost_usd=None,
                                 batch_cost_usd=None)
            )  # fmt: skip
    return results


def _repeat(source: str, document_id: str, first: int) -> DocumentEstimate:
    note = f"the same document as input {first}: extracted once, so this copy sends nothing"
    return DocumentEstimate(source, document_id, "cache", warnings=(note,))


def _estimate_one(
    pipeline: Pipeline,
    document: Document,
    schema: type[BaseModel],
    pages: Pages,
    password: str | None,
    clock: Clock,
    count_tokens: Any,
) -> DocumentEstimate:
    prepared = pipeline.prepare(document, schema, pages, password, clock)
    try:
        found = prepared.result
        if found is not None:
            origin = "cache" if found.cached else found.origin  # a dry run's word for "sends nothing"
            return DocumentEstimate(
                document.name, document.document_id, origin, pages=len(found.pages), warnings=found.warnings
            )
        estimate = pipeline.backend.estimate(  # type: ignore[attr-defined]  # checked by the caller
            prepared.served, schema, document_id=document.document_id, count_tokens=count_tokens
        )
        return DocumentEstimate(
            document.name, document.document_id, "model", pages=estimate.pages, requests=len(estimate.requests),
            input_tokens=estimate.input_tokens, max_output_tokens=estimate.max_output_tokens,
            cost_usd=estimate.cost_usd, batch_cost_usd=estimate.batch_cost_usd, method=estimate.method,
            model=estimate.model, warnings=(*prepared.warnings, *estimate.warnings),
        )  # fmt: skip
    finally:
        pipeline.release(prepared)


class EstimateMethods:
    """The dry run of :class:`~invoiceai.Extractor`: what extracting would send and cost."""

    if TYPE_CHECKING:

        def _pipeline(self, detail: Detail | None = None) -> Pipeline: ...

    def estimate(
        self,
        sources: Iterable[Source],
        *,
        schema: type[BaseModel] | None = None,
        pages: Pages = None,
        password: str | None = None,
        detail: Detail | None = None,
        count_tokens: bool | TokenCounter = False,
    ) -> list[DocumentEstimate]:
        """A dry run: what extracting ``sources`` would send and cost, in input order; nothing is sent.

        Documents are loaded, e-invoices read, the cache consulted and pages rendered as
        :meth:`~invoiceai.Extractor.extract_many` would; the requests it would send are built and
        counted, locally (``method="local"``) or, with ``count_tokens=True`` and a key, by the API's
        free token-counting endpoint. See ``docs/cost.md``.

        Args:
            sources: Paths, URLs, bytes, file objects or documents.
            schema: The model to fill; :class:`~invoiceai.Invoice` by default.
            pages: Pages to send, as for ``extract``.
            password: For encrypted PDFs.
            detail: ``"standard"`` or ``"high"``; the extractor's setting by default.
            count_tokens: ``True`` to count with the API, or a counting function of your own.

        Returns:
            One :class:`DocumentEstimate` per source, in input order.
        """
        from invoiceai.schema.invoice import Invoice

        return estimate_documents(
            self._pipeline(detail),
            sources,
            schema=schema or Invoice,
            pages=pages,
            password=password,
            count_tokens=count_tokens,
        )
