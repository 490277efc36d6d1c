"""The minimal HTML renderer of an invoice: header, parties, lines, tax, totals, payment, findings.

It lives in ``schema`` because Jupyter calls :meth:`Invoice._repr_html_
<invoiceai.schema.invoice.Invoice._repr_html_>` on the model class, and ``schema`` imports nothing
above it. It renders what it is given and computes nothing: the caller passes the findings (the
model's ``_repr_html_`` runs :func:`~invoiceai.schema.validation.validate` first), so this module
needs neither validation nor, at run time, the invoice classes. Everything richer (captions with
cost and timings, custom schemas, failures) is :mod:`invoiceai.display`, which builds on this.

Pure string building with every value escaped, so an invoice that contains ``<script>`` in a
description shows it as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.schema.findings import Finding
    from invoiceai.schema.invoice import Invoice, Party

__all__ = ["STYLE", "box_html", "findings_html", "heading_html", "invoice_html", "table_html"]

STYLE = (
    "<style>"
    ".iai{font-family:system-ui,sans-serif;font-size:13px;max-width:960px}"
    ".iai table{border-collapse:collapse;margin:4px 0 10px}"
    ".iai th,.iai td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}"
    ".iai td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".iai th{background:#f5f5f5}"
    ".iai .error{background:#fde2e1}.iai .warning{background:#fff4d6}.iai .info{background:#e8f0fe}"
    ".iai h4{margin:10px 0 2px}"
    "</style>"
)
"""The stylesheet every rendering starts with (the ``iai`` class scopes it).

Notebook front ends style tables with more specific selectors of their own (JupyterLab's
``.jp-RenderedHTMLCommon td`` right-aligns every cell, classic Notebook's
``.rendered_html tbody tr:nth-child(odd)`` paints every other row), and some drop ``<style>``
altogether (GitHub, untrusted notebooks). So every element also carries the same rules as an
inline ``style`` attribute, which no selector outranks; this sheet only repeats them.
"""

# Inline styles (see STYLE for why both). Coloured backgrounds set their own text colour, so a
# dark theme's light text stays readable on them.
_INK = "color:#1f1f1f"
_TABLE_STYLE = "border-collapse:collapse;margin:4px 0 10px;width:auto"
_CELL_STYLE = "border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;white-space:normal"
_NUMBER_STYLE = _CELL_STYLE.replace("text-align:left", "text-align:right") + ";font-variant-numeric:tabular-nums"
_HEAD_STYLE = f"{_CELL_STYLE};background:#f5f5f5;{_INK};font-weight:600"
_SEVERITY_BACKGROUNDS = {"error": "#fde2e1", "warning": "#fff4d6", "info": "#e8f0fe"}
_BOX_STYLE = "font-family:system-ui,sans-serif;font-size:13px;max-width:960px;text-align:left"


def _cell(value: Any, tint: str = "") -> str:
    if isinstance(value, Decimal):
        return f'<td class="num" style="{_NUMBER_STYLE}{tint}">{html.escape(f"{value:f}")}</td>'
    text = "" if value is None else html.escape(str(value))
    return f'<td style="{_CELL_STYLE}{tint}">{text}</td>'


def _row_tint(css_class: str) -> str:
    background = _SEVERITY_BACKGROUNDS.get(css_class)
    return f";background:{background};{_INK}" if background else ""


def table_html(headers: Sequence[str], rows: Iterable[Sequence[Any]], row_classes: Sequence[str] = ()) -> str:
    """Returns an HTML table with escaped cells; Decimal cells are right-aligned, the rest left.

    A row class ``error``, ``warning`` or ``info`` colours the row's cells.
    """
    head = "".join(f'<th style="{_HEAD_STYLE}">{html.escape(header)}</th>' for header in headers)
    body = []
    for index, row in enumerate(rows):
        row_class = row_classes[index] if index < len(row_classes) else ""
        css = f' class="{row_class}"' if row_class else ""
        tint = _row_tint(row_class)
        body.append(f"<tr{css}>{''.join(_cell(value, tint) for value in row)}</tr>")
    return f'<table style="{_TABLE_STYLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def heading_html(text: str) -> str:
    """Returns a section heading (headings are left-aligned in every notebook front end)."""
    return f"<h4>{html.escape(text)}</h4>"


def box_html(*parts: str) -> str:
    """Wraps parts in the scoped container every rendering uses, preceded by :data:`STYLE`."""
    return f'{STYLE}<div class="iai" style="{_BOX_STYLE}">{"".join(parts)}</div>'


def findings_html(findings: Sequence[Finding]) -> str:
    """Returns the findings as a table, each row coloured by severity; empty string if none."""
    if not findings:
        return ""
    rows = [(f.severity, f.rule, f.message, ", ".join(f.fields)) for f in findings]
    table = table_html(("severity", "rule", "message", "fields"), rows, [f.severity for f in findings])
    return f"{heading_html('Findings')}{table}"


def invoice_html(invoice: Invoice, findings: Sequence[Finding], *, caption: str = "") -> str:
    """Returns a self-contained HTML rendering of ``invoice``.

    Args:
        invoice: The invoice to show.
        findings: Findings to highlight, as given (nothing is validated here).
        caption: A line shown above the invoice (origin, cost, ...), as plain text.

    Returns:
        HTML with inline styles, safe to embed (every value is escaped).
    """
    return box_html(
        f"<p>{html.escape(caption)}</p>" if caption else "",
        *_header(invoice),
        *_lines(invoice),
        *_totals(invoice),
        *_payment(invoice),
        findings_html(findings),
    )


_HEADER_FIELDS = (
    ("Number", "invoice_number"), ("Issue date", "issue_date"), ("Due date", "due_date"),
    ("Currency", "currency"), ("Purchase order", "purchase_order"), ("Buyer reference", "buyer_reference"),
)  # fmt: skip
_TOTAL_FIELDS = (
    ("Subtotal", "subtotal"), ("Allowances", "allowance_total"), ("Charges", "charge_total"), ("Tax", "tax_total"),
    ("Total", "total"), ("Paid", "amount_paid"), ("Rounding", "rounding_amount"), ("Amount due", "amount_due"),
)  # fmt: skip


def _header(invoice: Invoice) -> list[str]:
    title = (invoice.document_type or "document").replace("_", " ").title()
    return [
        heading_html(title),
        table_html(("field", "value"), _present(invoice, _HEADER_FIELDS)),
        f'<table style="{_TABLE_STYLE}"><tr><th style="{_HEAD_STYLE}">Seller</th><th style="{_HEAD_STYLE}">Buyer</th>'
        f'</tr><tr><td style="{_CELL_STYLE}">{_party(invoice.seller)}</td>'
        f'<td style="{_CELL_STYLE}">{_party(invoice.buyer)}</td></tr></table>',
    ]


def _party(party: Party) -> str:
    address = party.address
    lines = [
        party.name,
        address.street,
        " ".join(part for part in (address.postal_code, address.city) if part),
        ", ".join(part for part in (address.region, address.country_code) if part),
        f"VAT {party.vat_id}" if party.vat_id else None,
        f"Tax {party.tax_id}" if party.tax_id else None,
        party.email,
        party.phone,
    ]
    return "<br>".join(html.escape(line) for line in lines if line) or "<i>unknown</i>"


def _lines(invoice: Invoice) -> list[str]:
    parts = []
    if invoice.line_items:
        rows = [
            (i + 1, line.description, line.quantity, line.unit, line.unit_price, line.amount, line.tax_rate)
            for i, line in enumerate(invoice.line_items)
        ]
        headers = ("#", "description", "quantity", "unit", "unit price", "amount", "tax %")
        parts += [heading_html("Line items"), table_html(headers, rows)]
    if invoice.tax_breakdown:
        tax_rows = [(t.rate, t.taxable_amount, t.tax_amount, t.category) for t in invoice.tax_breakdown]
        parts += [heading_html("Tax"), table_html(("rate %", "taxable", "tax", "category"), tax_rows)]
    return parts


def _totals(invoice: Invoice) -> list[str]:
    return [heading_html("Totals"), table_html(("", invoice.currency or ""), _present(invoice, _TOTAL_FIELDS))]


def _present(invoice: Invoice, fields: tuple[tuple[str, str], ...]) -> list[tuple[str, object]]:
    """``(label, value)`` of each field that has a value, in the given order."""
    values = ((label, getattr(invoice, name)) for label, name in fields)
    return [(label, value) for label, value in values if value is not None]


def _payment(invoice: Invoice) -> list[str]:
    payment = invoice.payment
    rows = [("IBAN", payment.iban), ("BIC", payment.bic), ("Account", payment.account_number)]
    rows += [("Reference", payment.reference), ("Terms", payment.terms)]
    if not any(value for _, value in rows):
        return []
    return [heading_html("Payment"), table_html(("", ""), [row for row in rows if row[1]])]
