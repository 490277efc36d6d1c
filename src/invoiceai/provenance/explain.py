"""Findings the evidence explains: the document says so, the reading is right.

Two error findings are common on invoices that were read correctly:

* ``IAI-IBAN`` on an IBAN printed exactly so on the page: the check digits exist to catch a
  misread character, and grounding has just shown there is none; the document's IBAN is wrong
  (a sample's made-up account), which the finding still says;
* ``BR-CO-13`` on an invoice whose line amounts include VAT (shops and consumer invoices print
  gross prices): the printed line amounts add up to the printed total with tax, and the total
  is the printed total without tax plus the printed tax.

Such a finding stays on the result; it lowers its fields' confidence to ``medium`` rather than
``low`` and, under the default :class:`~invoiceai.provenance.ReviewPolicy`, does not send the
result to a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from invoiceai.provenance.model import FieldProvenance
from invoiceai.schema.findings import Finding

__all__ = ["explained"]

_SETTLED = ("grounded", "derived", "confirmed")


def explained(finding: Finding, fields: Mapping[str, FieldProvenance]) -> str | None:
    """Why ``finding`` describes the document rather than a misreading, or ``None``."""
    if finding.rule == "IAI-IBAN":
        iban = fields.get("payment.iban")
        if iban is not None and iban.grounding == "grounded" and iban.matches:
            return f"the IBAN is printed so on page {iban.matches[0].page}"
        return None
    if finding.rule == "BR-CO-13" and _gross_lines(fields):
        return "the line amounts include VAT: they add up to the total with tax"
    return None


def _amount(fields: Mapping[str, FieldProvenance], path: str) -> Decimal | None:
    item = fields.get(path)
    if item is None or item.grounding not in _SETTLED:
        return None
    try:
        return Decimal(str(item.value))
    except InvalidOperation:
        return None


def _gross_lines(fields: Mapping[str, FieldProvenance]) -> bool:
    lines = [path for path in fields if path.startswith("line_items[") and path.endswith("].amount")]
    amounts = [_amount(fields, path) for path in lines]
    total, net, tax = (_amount(fields, path) for path in ("total", "total_without_tax", "tax_total"))
    if not amounts or None in amounts or total is None or net is None or tax is None or not tax:
        return False
    gross = sum(amount for amount in amounts if amount is not None)
    subtotal = fields.get("subtotal")
    if subtotal is not None and _amount(fields, "subtotal") != gross:
        return False
    return gross == total and net + tax == total
