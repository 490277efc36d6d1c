"""Notebook HTML for results: an extraction with its caption, a failure, an invoice, the review.

Every value is escaped. The invoice table is :func:`invoiceai.schema.html.invoice_html`, the
minimal renderer ``Invoice._repr_html_`` uses too, so an invoice looks the same on its own and
inside an extraction. When provenance ran, the review follows: whether the result needs a person
and why, each page image with a box around each value, and where each value is printed. Styles
are inline (JupyterLab's and classic Notebook's selectors outrank a scoped sheet), and page
images are embedded as ``data:`` URIs, so the output is one self-contained fragment.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.display.text import ShownExtraction, ShownFailure, extraction_summary
from invoiceai.schema.html import box_html, findings_html, heading_html, table_html
from invoiceai.schema.html import invoice_html as invoice_tables_html
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from invoiceai.schema.findings import Finding

__all__ = [
    "CONFIDENCE_COLOURS",
    "MAX_PAGE_IMAGE_BYTES",
    "PageImage",
    "extraction_html",
    "failure_html",
    "invoice_html",
    "pages_html",
    "review_html",
]

CONFIDENCE_COLOURS = {"high": "#1a7f37", "medium": "#bf8700", "low": "#cf222e"}
"""The colour of a value's box and row by its confidence (green, amber, red)."""

MAX_PAGE_IMAGE_BYTES = 600_000
"""Largest page image embedded in notebook HTML; a larger one is left out with a note."""

_NEEDS_REVIEW = "background:#fde2e1;color:#1f1f1f;padding:6px 8px;margin:4px 0;border-left:4px solid #cf222e"
_NO_REVIEW = "background:#dafbe1;color:#1f1f1f;padding:6px 8px;margin:4px 0;border-left:4px solid #1a7f37"
_PAGE_STYLE = (
    "position:relative;display:inline-block;max-width:100%;margin:4px 8px 8px 0;padding:0;"
    "border:1px solid #bbb;line-height:0;vertical-align:top;background:#fff"
)
_IMAGE_STYLE = "display:block;width:100%;height:auto;max-width:100%;margin:0;padding:0;border:0"
_ROW_CLASS = {"low": "error", "medium": "warning"}


@dataclasses.dataclass(frozen=True)
class PageImage:
    """A rendered page to show under its boxes.

    Attributes:
        number: 1-based page number in the document (the number provenance uses).
        media_type: ``image/png`` or ``image/jpeg``.
        data: The encoded image.
        width: Pixel width.
        height: Pixel height.
    """

    number: int
    media_type: str
    data: bytes = dataclasses.field(repr=False)
    width: int
    height: int


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


def extraction_html(extraction: ShownExtraction, pages: Sequence[PageImage] = ()) -> str:
    """Returns an extraction as HTML: its summary line, then the invoice (or JSON) and findings.

    An :class:`~invoiceai.Invoice` shows as tables; any other schema as formatted JSON. When the
    extraction has a review (provenance ran) or ``pages`` are given, :func:`review_html` follows.
    """
    caption = extraction_summary(extraction)
    findings = list(extraction.findings)
    if isinstance(extraction.data, Invoice):
        shown = invoice_tables_html(extraction.data, findings, caption=caption)
        if getattr(extraction, "review", None) is not None or pages:
            shown += review_html(extraction, pages)
        return shown
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


def _fields(extraction: Any) -> Mapping[str, Any]:
    provenance = getattr(extraction, "provenance", None)
    fields = getattr(provenance, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def review_html(extraction: Any, pages: Sequence[PageImage] = ()) -> str:
    """Returns the review of an extraction: the verdict, the pages with boxes, where each value is.

    Args:
        extraction: A result with ``provenance`` and ``review`` (:class:`~invoiceai.Extraction`).
        pages: Page images to draw the boxes on (see ``Extraction.show``); none: no pictures.

    Returns:
        HTML with inline styles; every value is escaped.
    """
    review = getattr(extraction, "review", None)
    fields = _fields(extraction)
    flagged = set(getattr(review, "fields", ()) or ())
    parts = [_verdict_html(review, len(fields))]
    if pages:
        parts.append(heading_html("Pages"))
        parts.append(pages_html(pages, fields, flagged))
    elif fields:
        parts.append(
            "<p>Call <code>result.show(document)</code> with the same document to see each page with a box "
            "around each value.</p>"
        )
    if fields:
        rows, classes = [], []
        for path, item in fields.items():
            mark = " (review)" if path in flagged else ""
            rows.append((path, _text(item.value), item.page, item.text, item.grounding, item.confidence + mark))
            classes.append("error" if path in flagged else _ROW_CLASS.get(item.confidence, ""))
        headers = ("field", "value", "page", "printed as", "grounding", "confidence")
        table = table_html(headers, rows, classes)
        parts.append(f"<details><summary>Where each value is printed ({len(rows)} values)</summary>{table}</details>")
    return box_html(*parts)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _verdict_html(review: Any, checked: int) -> str:
    if review is None:
        return ""
    if not review.needs_review:
        return (
            f'<div class="iai-review-ok" style="{_NO_REVIEW}"><b>No review needed</b>: {checked} values checked.</div>'
        )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in review.reasons)
    return (
        f'<div class="iai-needs-review" style="{_NEEDS_REVIEW}"><b>Needs review</b>'
        f'<ul style="margin:4px 0 0 18px;padding:0;text-align:left">{reasons}</ul></div>'
    )


def pages_html(
    pages: Sequence[PageImage], fields: Mapping[str, Any], flagged: set[str] | frozenset[str] = frozenset()
) -> str:
    """Returns each page image with a box around each value printed on it.

    Args:
        pages: The page images, each embedded as a ``data:`` URI (one over
            :data:`MAX_PAGE_IMAGE_BYTES` is replaced by a note).
        fields: Each value's provenance by path (``page`` and ``box`` with ``x0, y0, x1, y1``
            between 0 and 1, origin top-left), as ``Provenance.fields`` gives it.
        flagged: Paths that need review: their boxes are drawn thicker and dashed.

    Returns:
        HTML; boxes are absolutely positioned in percent of the page, so they stay on their
        values whatever width the front end gives the image.
    """
    shown = []
    for page in pages:
        if len(page.data) > MAX_PAGE_IMAGE_BYTES:
            shown.append(f"<p>Page {page.number}: the image is too large to embed ({len(page.data)} bytes).</p>")
            continue
        source = f"data:{page.media_type};base64,{base64.b64encode(page.data).decode('ascii')}"
        boxes = "".join(
            _box_html(path, item, path in flagged)
            for path, item in fields.items()
            if item.page == page.number and item.box is not None
        )
        width = min(page.width, 900)
        shown.append(
            f'<div class="iai-page" data-page="{page.number}" style="{_PAGE_STYLE};width:{width}px">'
            f'<img src="{html.escape(source)}" alt="page {page.number}" style="{_IMAGE_STYLE}">{boxes}</div>'
        )
    return "".join(shown)


def _box_html(path: str, item: Any, flagged: bool) -> str:
    box = item.box
    colour = CONFIDENCE_COLOURS["low"] if flagged else CONFIDENCE_COLOURS.get(item.confidence, "#555")
    pad = 0.003  # a little room so the border does not cover the value's own pixels
    left, top = max(0.0, box.x0 - pad), max(0.0, box.y0 - pad)
    width, height = min(1.0, box.x1 + pad) - left, min(1.0, box.y1 + pad) - top
    line = "3px dashed" if flagged else "2px solid"
    title = f"{path} = {_text(item.value)} ({item.confidence}{', needs review' if flagged else ''})"
    style = (
        f"position:absolute;left:{left:.3%};top:{top:.3%};width:{width:.3%};height:{height:.3%};"
        f"border:{line} {colour};box-sizing:border-box;margin:0;padding:0"
    )
    return f'<div class="iai-box" data-field="{html.escape(path)}" title="{html.escape(title)}" style="{style}"></div>'
