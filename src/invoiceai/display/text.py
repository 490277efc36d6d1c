"""One-line text summaries of results, and the shapes of the results this package shows.

The shapes are protocols rather than imports of :mod:`invoiceai.extractor.result`: the display
layer sits below the extractor, which calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.schema.findings import Finding
    from invoiceai.usage import Usage

__all__ = ["ShownExtraction", "ShownFailure", "extraction_summary", "failure_summary"]


class _Timed(Protocol):
    @property
    def total(self) -> float: ...


class ShownExtraction(Protocol):
    """What the display needs of a successful extraction (:class:`~invoiceai.Extraction` has it)."""

    @property
    def data(self) -> BaseModel:
        """The extracted data."""
        ...

    @property
    def findings(self) -> Sequence[Finding]:
        """Validation findings."""
        ...

    @property
    def source(self) -> str:
        """A display name for the input."""
        ...

    @property
    def document_id(self) -> str:
        """SHA-256 of the document."""
        ...

    @property
    def origin(self) -> str:
        """Where the data came from."""
        ...

    @property
    def model(self) -> str | None:
        """The model that answered, if one did."""
        ...

    @property
    def usage(self) -> Usage:
        """Tokens, requests and cost."""
        ...

    @property
    def timings(self) -> _Timed:
        """Seconds per stage (only ``total`` is shown)."""
        ...


class ShownFailure(Protocol):
    """What the display needs of a failed extraction (:class:`~invoiceai.ExtractionFailure` has it)."""

    @property
    def error(self) -> Exception:
        """The typed error."""
        ...

    @property
    def source(self) -> str:
        """A display name for the input."""
        ...


def extraction_summary(extraction: ShownExtraction) -> str:
    """Returns one line on where a result came from and what it cost.

    Example: ``scan.jpg — origin model, model claude-sonnet-5, 1 request(s), 1500 input + 400 output
    tokens, $0.0105, 2.31 s``.
    """
    usage = extraction.usage
    model = f", model {extraction.model}" if extraction.model else ""
    return (
        f"{extraction.source or extraction.document_id[:12]} — origin {extraction.origin}{model}, "
        f"{usage.requests} request(s), {usage.total_input_tokens} input + {usage.output_tokens} output tokens, "
        f"${usage.cost_usd:.4f}, {extraction.timings.total:.2f} s"
    )


def failure_summary(failure: ShownFailure) -> str:
    """Returns one line naming the error type, the input and the message."""
    return f"{type(failure.error).__name__} {failure.source}: {failure.error}"
