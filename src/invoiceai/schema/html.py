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

__all__ = ["STYLE", "findings_html", "invoice_html", "table_html"]

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
"""The inline stylesheet every rendering starts with (the ``iai`` class scopes it)."""


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, Decimal):
        return f'<td class="num">{html.escape(f"{value:f}")}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table_html(headers: Sequence[str], rows: Iterable[Sequence[Any]], row_classes: Sequence[str] = ()) -> str:
    """Returns an HTML table with escaped cells; Decimal cells are right-aligned."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{row_classes[index]}"' if index < len(row_classes) and row_classes[index] else ""
        body.append(f"<tr{css}>{''.join(_cell(value) for value in row)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def findings_html(findings: Sequence[Finding]) -> str:
    """Returns the findings as a table, each row coloured by severity; empty string if none."""
    if not findings:
        return ""
    rows = [(f.severity, f.rule, f.message, ", ".join(f.fields)) for f in findings]
    table = table_html(("severity", "rule", "message", "fields"), rows, [f.severity for f in findings])
    return f"<h4>Findings</h4>{table}"


def invoice_html(invoice: Invoice, findings: Sequence[Finding], *, caption: str = "") -> str:
    """Returns a self-contained HTML rendering of ``invoice``.

    Args:
        invoice: The invoice to show.
        findings: Findings to highlight, as given (nothing is validated here).
        caption: A line shown above the invoice (origin, cost, ...), as plain text.

    Returns:
        HTML with inline styles, safe to embed (every value is escaped).
    """
    parts = [
        STYLE,
        '<div class="iai">',
        f"<p>{html.escape(caption)}</p>" if caption else "",
        *_header(invoice),
        *_lines(invoice),
        *_totals(invoice),
        *_payment(invoice),
        findings_html(findings),
        "</div>",
    ]
    return "".join(parts)


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
        f"<h4>{html.escape(title)}</h4>",
        table_html(("field", "value"), _present(invoice, _HEADER_FIELDS)),
        f"<table><tr><th>Seller</th><th>Buyer</th></tr><tr><td>{_party(invoice.seller)}</td>"
        f"<td>{_party(invoice.buyer)}</td></tr></table>",
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
        parts += ["<h4>Line items</h4>", table_html(headers, rows)]
    if invoice.tax_breakdown:
        tax_rows = [(t.rate, t.taxable_amount, t.tax_amount, t.category) for t in invoice.tax_breakdown]
        parts += ["<h4>Tax</h4>", table_html(("rate %", "taxable", "tax", "category"), tax_rows)]
    return parts


def _totals(invoice: Invoice) -> list[str]:
    return ["<h4>Totals</h4>", table_html(("", invoice.currency or ""), _present(invoice, _TOTAL_FIELDS))]


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
    return ["<h4>Payment</h4>", table_html(("", ""), [row for row in rows if row[1]])]
