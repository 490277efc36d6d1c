"""Text forms of results (one-line summaries, the short ``str()``), and the shapes of the results shown.

The shapes are protocols rather than imports of :mod:`invoiceai.extractor.result`: the display
layer sits below the extractor, which calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.schema.findings import Finding
    from invoiceai.usage import Usage

__all__ = [
    "ShownExtraction",
    "ShownFailure",
    "amount_text",
    "extraction_summary",
    "extraction_text",
    "failure_summary",
    "failure_text",
]


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
    def cached(self) -> bool:
        """Whether the result came from the cache."""
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
    origin = "cache" if extraction.cached else extraction.origin
    return (
        f"{extraction.source or extraction.document_id[:12]} — origin {origin}{model}, "
        f"{usage.requests} request(s), {usage.total_input_tokens} input + {usage.output_tokens} output tokens, "
        f"${usage.cost_usd:.4f}, {extraction.timings.total:.2f} s"
    )


def failure_summary(failure: ShownFailure) -> str:
    """Returns one line naming the error type, the input and the message."""
    return f"{type(failure.error).__name__} {failure.source}: {failure.error}"


def failure_text(failure: ShownFailure) -> str:
    """Returns the short ``str()`` of a failure: the input, then the error's type and message."""
    return f"ExtractionFailure {failure.source or '(no source)'}\n  {type(failure.error).__name__}: {failure.error}"


def extraction_text(extraction: ShownExtraction) -> str:
    """Returns the short ``str()`` of a result: a few lines, not the dataclass repr.

    Example::

        Extraction scan.jpg: origin model (cached), model claude-sonnet-5
          invoice INV-2026-0042, seller Musterwerk Design & Druck GmbH
          total 2952.10 EUR
          findings: none
    """
    origin = extraction.origin + (" (cached)" if extraction.cached else "")
    model = f", model {extraction.model}" if extraction.model else ""
    lines = [f"Extraction {extraction.source or extraction.document_id[:12]}: origin {origin}{model}"]
    data: Any = extraction.data
    number, seller = getattr(data, "invoice_number", None), getattr(getattr(data, "seller", None), "name", None)
    if number is not None or seller is not None:
        lines.append(f"  invoice {number or '(no number)'}, seller {seller or '(no name)'}")
    else:
        lines.append(f"  data: {type(data).__name__}")
    total = getattr(data, "total", None)
    if isinstance(total, Decimal):
        currency = getattr(data, "currency", None)
        lines.append(f"  total {amount_text(total)}{f' {currency}' if currency else ''}")
    lines.append(f"  findings: {_count_findings(extraction.findings)}")
    return "\n".join(lines)


def amount_text(value: Decimal) -> str:
    """An amount for display: plain digits; more than 4 decimals are rounded to 4 (or 2 if that is exact).

    Stored values stay exact; only what is shown is rounded (``0.6666666666666666666666666667``
    shows as ``0.6667``, ``10.000000000000000000000000000500`` as ``10.00``).
    """
    from invoiceai.schema.rules_base import money  # the findings' messages round the same way

    return money(value)


def _count_findings(findings: Sequence[Finding]) -> str:
    if not findings:
        return "none"
    counts = {severity: sum(f.severity == severity for f in findings) for severity in ("error", "warning", "info")}
    return ", ".join(f"{count} {name}{'s' if count != 1 else ''}" for name, count in counts.items() if count)
