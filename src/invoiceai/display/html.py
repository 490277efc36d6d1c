"""Notebook HTML for results: an extraction with its caption, a failure, an invoice.

Every value is escaped. The invoice table is :func:`invoiceai.schema.html.invoice_html`, the
minimal renderer ``Invoice._repr_html_`` uses too, so an invoice looks the same on its own and
inside an extraction.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoiceai.display.text import ShownExtraction, ShownFailure, extraction_summary
from invoiceai.schema.html import box_html, findings_html
from invoiceai.schema.html import invoice_html as invoice_tables_html
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from invoiceai.schema.findings import Finding

__all__ = ["extraction_html", "failure_html", "invoice_html"]


def invoice_html(invoice: Invoice, findings: Sequence[Finding] | None = None, *, caption: str = "") -> str:
    """Returns a self-contained HTML rendering of ``invoice``.

    Args:
        invoice: The invoice to show.
        findings: Findings to highlight; defaults to ``validate(invoice)``.
        caption: A line shown above the invoice (origin, cost, ...), as plain text.

    Returns:
        HTML with inline styles, safe to embed (every value is escaped).
    """
    if findings is None:
        from invoiceai.schema.validation import validate

        findings = validate(invoice)
    return invoice_tables_html(invoice, findings, caption=caption)


def extraction_html(extraction: ShownExtraction) -> str:
    """Returns an extraction as HTML: its summary line, then the invoice (or JSON) and findings.

    An :class:`~invoiceai.Invoice` shows as tables; any other schema as formatted JSON.
    """
    caption = extraction_summary(extraction)
    findings = list(extraction.findings)
    if isinstance(extraction.data, Invoice):
        return invoice_tables_html(extraction.data, findings, caption=caption)
    body = html.escape(json.dumps(extraction.data.model_dump(mode="json"), indent=2, ensure_ascii=False))
    pre = f"<pre>{body}</pre>"  # a pre is left-aligned in every front end
    return box_html(f"<p>{html.escape(caption)}</p>", pre, findings_html(findings))


def failure_html(failure: ShownFailure) -> str:
    """Returns a failed extraction as a red box naming the error type, the input and the message.

    The input is named once: when the message already quotes it ("No such file: a.pdf"), it is
    not repeated in front.
    """
    message = str(failure.error)
    source = "" if failure.source and failure.source in message else f"{html.escape(failure.source)}: "
    style = "background:#fde2e1;color:#1f1f1f;padding:6px;text-align:left;font-family:system-ui,sans-serif"
    return (
        f'<div class="iai-failure" style="{style}"><b>{html.escape(type(failure.error).__name__)}</b> '
        f"{source}{html.escape(message)}</div>"
    )
