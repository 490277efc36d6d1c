"""Compares an e-invoice's XML with what a visual extraction read from its pages.

A Factur-X or ZUGFeRD PDF carries the same invoice twice: as XML for machines and as pages for
people. When they disagree the document is inconsistent or has been tampered with, and the
reader of the pages would pay something else than the accounting system books. This module is
a pure function over two :class:`~invoiceai.Invoice` objects; it does no I/O.

Values are normalised before comparing: text by Unicode form, case and whitespace; identifiers
(invoice numbers, VAT ids, IBANs) with all whitespace removed; money and rates as exact
decimals; units through their Rec 20 code. A field the visual extraction left empty is not a
disagreement. On a credit note, amounts that differ only in sign agree (pages often print
credits negative where the XML keeps them positive).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice.units import unit_code
from invoiceai.schema.invoice import TOTAL_FIELDS

if TYPE_CHECKING:
    from invoiceai.schema import Finding, Invoice, Severity, TaxLine

__all__ = ["CROSS_CHECK_RULE", "compare_invoices"]

CROSS_CHECK_RULE = "IAI-CROSS-CHECK"
"""The rule id of every finding :func:`compare_invoices` returns."""

# Disagreement here means someone would pay or book the wrong thing: an error. Elsewhere a warning.
_CRITICAL = frozenset(
    {
        "invoice_number",
        "issue_date",
        "due_date",
        "currency",
        "subtotal",
        "tax_total",
        "total",
        "amount_paid",
        "amount_due",
        "seller.name",
        "seller.vat_id",
        "payment.iban",
        "payment.account_number",
        "payment.reference",
    }
)
_AMOUNT_FIELDS = TOTAL_FIELDS
_IDENTIFIERS = ("invoice_number", "purchase_order", "buyer_reference")
_PARTY_IDS = ("vat_id", "tax_id")


def compare_invoices(embedded: Invoice, visual: Invoice) -> list[Finding]:
    """Lists the fields where the embedded XML and the visible pages disagree.

    Args:
        embedded: The invoice read from the e-invoice XML (authoritative for the data).
        visual: The invoice a visual extraction read from the pages.

    Returns:
        One finding per disagreeing field, rule ``IAI-CROSS-CHECK``, in field order; empty when
        everything both sides have agrees.
    """
    credit = "credit_note" in (embedded.document_type, visual.document_type)
    return list(_compare(embedded, visual, credit))


def _compare(xml: Invoice, page: Invoice, credit: bool) -> Iterator[Finding]:
    yield from _check("document_type", xml.document_type, page.document_type, _text)
    for name in _IDENTIFIERS:
        yield from _check(name, getattr(xml, name), getattr(page, name), _identifier)
    yield from _check("issue_date", xml.issue_date, page.issue_date, _same)
    yield from _check("due_date", xml.due_date, page.due_date, _same)
    yield from _check("currency", xml.currency, page.currency, _same)
    for role in ("seller", "buyer"):
        yield from _party(role, getattr(xml, role), getattr(page, role))
    money = _signless if credit else _same
    for name in _AMOUNT_FIELDS:
        yield from _check(name, getattr(xml, name), getattr(page, name), money)
    for name in ("iban", "bic", "account_number", "reference"):
        yield from _check(f"payment.{name}", getattr(xml.payment, name), getattr(page.payment, name), _identifier)
    yield from _lines(xml, page, money)
    yield from _taxes(xml, page, money)


def _party(role: str, xml: Any, page: Any) -> Iterator[Finding]:
    yield from _check(f"{role}.name", xml.name, page.name, _text)
    for name in _PARTY_IDS:
        yield from _check(f"{role}.{name}", getattr(xml, name), getattr(page, name), _identifier)
    yield from _check(f"{role}.email", xml.email, page.email, _text)
    yield from _check(f"{role}.phone", xml.phone, page.phone, _digits)
    for name in ("city", "postal_code", "country_code"):
        yield from _check(f"{role}.address.{name}", getattr(xml.address, name), getattr(page.address, name), _text)
    # Street spellings vary ("Str." / "Straße") more than anything else; worth a look, no more.
    yield from _check(f"{role}.address.street", xml.address.street, page.address.street, _text, "info")


def _lines(xml: Invoice, page: Invoice, money: Callable[[Any], Any]) -> Iterator[Finding]:
    if not page.line_items:
        return
    if len(xml.line_items) != len(page.line_items):
        yield _finding(
            "line_items",
            f"line_items: the embedded XML has {len(xml.line_items)} lines but the pages show {len(page.line_items)}.",
            "warning",
        )
        return
    for i, (ours, theirs) in enumerate(zip(xml.line_items, page.line_items, strict=True)):
        path = f"line_items[{i}]"
        for name in ("quantity", "unit_price", "allowance_amount", "charge_amount", "amount"):
            yield from _check(f"{path}.{name}", getattr(ours, name), getattr(theirs, name), money, "warning")
        yield from _check(f"{path}.tax_rate", ours.tax_rate, theirs.tax_rate, _same, "warning")
        yield from _check(f"{path}.tax_category", ours.tax_category, theirs.tax_category, _identifier, "warning")
        yield from _check(f"{path}.unit", ours.unit, theirs.unit, _unit, "info")
        yield from _check(f"{path}.description", ours.description, theirs.description, _text, "info")


def _taxes(xml: Invoice, page: Invoice, money: Callable[[Any], Any]) -> Iterator[Finding]:
    for i, row in enumerate(xml.tax_breakdown):
        other = _same_row(row, xml.tax_breakdown, page.tax_breakdown)
        if other is None:
            continue
        for name in ("taxable_amount", "tax_amount"):
            yield from _check(f"tax_breakdown[{i}].{name}", getattr(row, name), getattr(other, name), money)


def _same_row(row: TaxLine, xml: list[TaxLine], page: list[TaxLine]) -> TaxLine | None:
    """The page's VAT row that is ``row``, or ``None`` when no single one is.

    Rows are matched by rate, and told apart by category when two share a rate (exempt E and
    intra-community K, both 0 %). The match must hold both ways: a page row without a category
    facing two XML rows at its rate could be either, and is compared with neither.
    """
    candidates = [other for other in page if _may_be_same(row, other)]
    if len(candidates) != 1:
        return None
    other = candidates[0]
    return other if sum(1 for mine in xml if _may_be_same(mine, other)) == 1 else None


def _may_be_same(ours: TaxLine, theirs: TaxLine) -> bool:
    if ours.rate is None or ours.rate != theirs.rate:
        return False
    return not ours.category or not theirs.category or _identifier(ours.category) == _identifier(theirs.category)


def _check(
    path: str,
    ours: Any,
    theirs: Any,
    key: Callable[[Any], Any],
    severity: Severity | None = None,
) -> Iterator[Finding]:
    if ours is None or theirs is None:
        return
    if key(ours) == key(theirs):
        return
    level: Severity = severity or ("error" if path in _CRITICAL else "warning")
    yield _finding(path, f"{path}: the embedded XML says {_show(ours)} but the pages show {_show(theirs)}.", level)


def _finding(path: str, message: str, severity: Severity) -> Finding:
    from invoiceai.schema import Finding

    return Finding(rule=CROSS_CHECK_RULE, severity=severity, message=message, fields=(path,))


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(str(value))


def _same(value: Any) -> Any:
    return value


def _signless(value: Any) -> Any:
    return abs(value) if isinstance(value, Decimal) else value


def _text(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(text.split()).strip(" .,;:")


def _identifier(value: Any) -> str:
    return "".join(unicodedata.normalize("NFKC", str(value)).casefold().split())


_NOT_DIGIT = re.compile(r"\D")


def _digits(value: Any) -> str:
    return _NOT_DIGIT.sub("", str(value))


def _unit(value: Any) -> str:
    return unit_code(str(value)) or _text(value)
