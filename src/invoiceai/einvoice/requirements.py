"""What EN 16931 requires before an invoice can be written, and the values the writers derive.

:func:`plan` checks every field the standard makes mandatory and raises
:class:`~invoiceai.errors.MissingFieldsError` listing all that are missing (with their business
terms) instead of writing invalid XML. It derives only what the data determines or what the
invoice model has no field for:

- a line's VAT category (BT-151) when the line has none, from the VAT breakdown row with the
  same rate when that row is the only one at that rate;
- a breakdown row's category (BT-118) when it has a positive rate and none is given: ``S``;
  a given one is written as its code (``" s "`` -> ``S``) and must be a VAT category code;
- a line's unit code (BT-130) from the printed unit, ``C62`` ("one") when none is known;
- a line's identifier (BT-126) from its position when it has none;
- document-level allowances and charges (BG-20/BG-21): the invoice's own ``allowances`` and
  ``charges`` as listed (each settled to a VAT category like a line); a total stated without
  its list (``charge_total`` and no ``charges``) as the entries
  :func:`invoiceai.schema.rules_categories.unlisted_entries` derives, the one rule the validator
  shares: in the only breakdown row, or per row from the gap between its taxable amount and its
  lines when those gaps add up to the total. When they do not, the split is unknown and the
  plan refuses (``allowances (BG-20)`` / ``charges (BG-21)`` missing) rather than write totals
  whose lists fail BR-CO-11/12 and BR-S-08;
- BT-109 (total without VAT), when ``total_without_tax`` is empty: subtotal - allowances +
  charges (BR-CO-13).

Beyond the mandatory fields, :mod:`invoiceai.einvoice.conditional` checks what the official rules
ask of the optional parts (a tax representative's name, a period's order, two decimals, the code
lists). Those refusals, and a total that cannot be split into entries, give way to ``force``.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from invoiceai.einvoice._build import xml_text
from invoiceai.einvoice.conditional import check_optional_parts, written_form
from invoiceai.einvoice.syntax import type_code_for
from invoiceai.einvoice.units import DEFAULT_UNIT_CODE, unit_code
from invoiceai.errors import MissingFieldsError
from invoiceai.schema.rules_categories import (
    VAT_CATEGORY_CODES,
    category_code,
    category_from_rate,
    row_categories,
    unlisted_entries,
)

if TYPE_CHECKING:
    from invoiceai.schema import Finding, Invoice, LineItem, TaxLine

__all__ = ["VAT_CATEGORY_CODES", "AllowanceOrCharge", "Plan", "PlannedLine", "PlannedTax", "plan"]

_ZERO = Decimal(0)

"""The UNTDID 5305 VAT category codes EN 16931 allows (BT-95, BT-102, BT-118, BT-151)."""

_CODES = ", ".join(sorted(VAT_CATEGORY_CODES))


@dataclasses.dataclass(frozen=True)
class PlannedLine:
    """One invoice line with what the writers need beyond the model's fields."""

    item: LineItem
    line_id: str
    unit_code: str
    category: str
    tax: int | None = None
    """Index into :attr:`Plan.taxes` of the VAT breakdown row the line belongs to, when known."""
    rate: Decimal | None = None
    """The line's VAT rate (BT-152): its own, else its breakdown row's (BR-S-05 wants one)."""


@dataclasses.dataclass(frozen=True)
class PlannedTax:
    """One VAT breakdown row with its category settled."""

    row: TaxLine
    category: str


@dataclasses.dataclass(frozen=True)
class AllowanceOrCharge:
    """A document-level allowance (BG-20) or charge (BG-21) at one VAT category and rate.

    ``reason`` is never empty (BR-33 / BR-38 want a reason or a reason code): a derived entry
    says ``"Discount"`` or ``"Charge"``.
    """

    charge: bool
    amount: Decimal
    category: str
    rate: Decimal | None
    reason: str | None = None
    reason_code: str | None = None
    base_amount: Decimal | None = None
    percentage: Decimal | None = None

    @property
    def reason_text(self) -> str | None:
        """The reason to write: the given one, else a generic word when there is no code either."""
        if self.reason:
            return self.reason
        if self.reason_code:
            return None
        return "Charge" if self.charge else "Discount"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a writer emits, checked complete."""

    invoice: Invoice
    type_code: str
    lines: list[PlannedLine]
    taxes: list[PlannedTax]
    allowances_and_charges: list[AllowanceOrCharge]
    tax_basis_total: Decimal
    tax_total: Decimal
    refusals: tuple[Finding, ...] = ()
    """Values that break an official rule (``BR-DEC-*``, ``BR-29``, ``BR-CL-*``, ...): ``to_xml``
    raises them as :class:`~invoiceai.errors.RuleViolationError` unless forced."""


def plan(invoice: Invoice, *, force: bool = False) -> Plan:
    """Checks that ``invoice`` has what EN 16931 requires and settles the derived values.

    Args:
        invoice: The invoice to write.
        force: Write what can be written: only the mandatory fields the XML cannot do without
            still raise; what the official rules ask of optional parts does not.

    Returns:
        The plan the CII and UBL writers follow; :attr:`Plan.invoice` is the invoice as written
        (see :func:`~invoiceai.einvoice.conditional.written_form`).

    Raises:
        MissingFieldsError: Fields are missing; ``fields`` lists every one as ``"path (BT-n)"``,
            or ``"path (BT-n: BR-n)"`` for one a rule asks for because of another value.
    """
    invoice = written_form(invoice)
    missing = _Missing()
    _check_header(invoice, missing)
    taxes = _plan_taxes(invoice, missing)
    lines = _plan_lines(invoice, taxes, missing)
    conditional = _Missing()
    refusals: list[Finding] = []
    allowances = _document_allowances(invoice, lines, taxes, missing, conditional)
    check_optional_parts(invoice, conditional, refusals)
    if missing or (conditional and not force):
        fields = [*missing, *([] if force else conditional)]
        remedy = "" if missing else " Add them, or pass force=True to write the invoice anyway."
        raise MissingFieldsError(
            f"The invoice lacks {len(fields)} field(s) EN 16931 requires: {', '.join(fields)}.{remedy}",
            fields=fields,
        )
    basis = invoice.total_without_tax
    if basis is None:
        subtotal = invoice.subtotal or _ZERO
        basis = subtotal - (invoice.allowance_total or _ZERO) + (invoice.charge_total or _ZERO)
    tax_total = invoice.tax_total
    if tax_total is None:
        # BR-CO-14: the tax total is the sum of the breakdown, so it is determined.
        tax_total = sum((t.row.tax_amount or _ZERO for t in taxes), _ZERO)
    return Plan(
        invoice=invoice,
        type_code=type_code_for(invoice.document_type),
        lines=lines,
        taxes=taxes,
        allowances_and_charges=allowances,
        tax_basis_total=basis,
        tax_total=tax_total,
        refusals=tuple(refusals),
    )


class _Missing(list[str]):
    """The mandatory fields found missing, as ``"path (BT-n)"``."""

    def need(self, value: object, path: str, term: str) -> None:
        # Text is written without the characters XML cannot carry; nothing may be left of it.
        if value is None or (isinstance(value, str) and not xml_text(value).strip()):
            self.append(f"{path} ({term})")


def _check_header(invoice: Invoice, missing: _Missing) -> None:
    missing.need(invoice.invoice_number, "invoice_number", "BT-1")
    missing.need(invoice.issue_date, "issue_date", "BT-2")
    missing.need(invoice.currency, "currency", "BT-5")
    missing.need(invoice.seller.name, "seller.name", "BT-27")
    missing.need(invoice.seller.address.country_code, "seller.address.country_code", "BT-40")
    missing.need(invoice.buyer.name, "buyer.name", "BT-44")
    missing.need(invoice.buyer.address.country_code, "buyer.address.country_code", "BT-55")
    missing.need(invoice.subtotal, "subtotal", "BT-106")
    missing.need(invoice.total, "total", "BT-112")
    missing.need(invoice.amount_due, "amount_due", "BT-115")
    if not invoice.tax_breakdown:
        missing.append("tax_breakdown (BG-23)")
    if not invoice.line_items:
        missing.append("line_items (BG-25)")


def _plan_taxes(invoice: Invoice, missing: _Missing) -> list[PlannedTax]:
    taxes = []
    for i, (row, category) in enumerate(zip(invoice.tax_breakdown, row_categories(invoice), strict=True)):
        path = f"tax_breakdown[{i}]"
        missing.need(row.taxable_amount, f"{path}.taxable_amount", "BT-116")
        missing.need(row.tax_amount, f"{path}.tax_amount", "BT-117")
        if category is not None and category not in VAT_CATEGORY_CODES:
            missing.append(f"{path}.category (BT-118: {row.category!r} is not a VAT category code {_CODES})")
        missing.need(category, f"{path}.category", "BT-118")
        if category != "O":
            missing.need(row.rate, f"{path}.rate", "BT-119")
        taxes.append(PlannedTax(row=row, category=category or ""))
    return taxes


def _plan_lines(invoice: Invoice, taxes: list[PlannedTax], missing: _Missing) -> list[PlannedLine]:
    lines = []
    for i, item in enumerate(invoice.line_items):
        path = f"line_items[{i}]"
        missing.need(item.description, f"{path}.description", "BT-153")
        missing.need(item.quantity, f"{path}.quantity", "BT-129")
        missing.need(item.unit_price, f"{path}.unit_price", "BT-146")
        missing.need(item.amount, f"{path}.amount", "BT-131")
        category, tax_index, problem = _place_line(item, taxes)
        if problem is not None:
            missing.append(f"{path}.{problem}")
        code = unit_code(item.unit) or DEFAULT_UNIT_CODE
        line_id = (xml_text(item.line_id).strip() if item.line_id else "") or str(i + 1)
        rate = item.tax_rate
        if rate is None and tax_index is not None and category != "O":  # O has no rate (BR-O-05)
            rate = taxes[tax_index].row.rate
        planned = PlannedLine(item, line_id, code, category or "", tax=tax_index, rate=rate)
        lines.append(planned)
    return lines


class _Taxed(Protocol):
    """What settling a VAT category reads: a line, or a document-level allowance or charge."""

    @property
    def tax_category(self) -> str | None: ...

    @property
    def tax_rate(self) -> Decimal | None: ...


def _place_line(item: _Taxed, taxes: list[PlannedTax]) -> tuple[str | None, int | None, str | None]:
    """Settles a line's VAT category (BT-151) and the breakdown row (BG-23) it belongs to.

    Returns:
        The category, the index of the row in ``taxes`` (``None`` when no single row fits) and,
        when the line cannot be written, what is missing, as a field path relative to the line.
    """
    rate = item.tax_rate
    own = category_code(item.tax_category)
    if own is None:
        # No BT-151 on the line: the rate must point at one category.
        category = category_from_rate(rate, [(t.category, t.row.rate) for t in taxes])
        if category is None:
            return None, None, "tax_rate (BT-152, to find the line's VAT category BT-151)"
        rows = _rows_for(category, rate, taxes)
        return category, rows[0] if len(rows) == 1 else None, None
    if own not in VAT_CATEGORY_CODES:
        return None, None, f"tax_category (BT-151: {item.tax_category!r} is not a VAT category code {_CODES})"
    rows = _rows_for(own, rate, taxes)
    if not rows:
        at = "" if rate is None or own == "O" else f" at {format(rate, 'f')} %"
        return own, None, f"tax_category (BT-151: no VAT breakdown row BG-23 for category {own}{at})"
    if len(rows) > 1 and rate is None:
        return own, None, f"tax_rate (BT-152, to tell the VAT breakdown rows of category {own} apart)"
    return own, rows[0], None


def _rows_for(category: str, rate: Decimal | None, taxes: list[PlannedTax]) -> list[int]:
    """Indexes of the breakdown rows with ``category`` and ``rate`` (any rate when ``rate`` is None).

    Category O (not subject to VAT) has no rate, so its rows match whatever the line says.
    """
    return [
        i
        for i, tax in enumerate(taxes)
        if tax.category == category and (rate is None or category == "O" or tax.row.rate == rate)
    ]


def _document_allowances(
    invoice: Invoice, lines: list[PlannedLine], taxes: list[PlannedTax], missing: _Missing, conditional: _Missing
) -> list[AllowanceOrCharge]:
    listed = _listed_allowances(invoice, taxes, missing)
    if missing:
        return listed  # lines or entries that cannot be placed: nothing to derive from
    items = [(p.category, p.rate, p.item.amount) for p in lines]
    items += [(e.category, e.rate, -e.amount if not e.charge else e.amount) for e in listed]
    derived = unlisted_entries(invoice, [(t.category, t.row.rate) for t in taxes], items)
    if derived is None:
        # Written as totals alone, the lists would fail BR-CO-11/12 and the rows BR-x-08.
        if not invoice.allowances and invoice.allowance_total:
            conditional.append("allowances (BG-20: the allowance total cannot be split over the VAT rows)")
        if not invoice.charges and invoice.charge_total:
            conditional.append("charges (BG-21: the charge total cannot be split over the VAT rows)")
        return listed
    for entry in derived:
        tax = taxes[entry.row]
        listed.append(AllowanceOrCharge(entry.charge, entry.amount, tax.category, _entry_rate(tax)))
    return listed


def _entry_rate(tax: PlannedTax) -> Decimal | None:
    return None if tax.category == "O" else tax.row.rate


def _listed_allowances(invoice: Invoice, taxes: list[PlannedTax], missing: _Missing) -> list[AllowanceOrCharge]:
    entries = []
    for charge, items, name in ((False, invoice.allowances, "allowances"), (True, invoice.charges, "charges")):
        for i, entry in enumerate(items):
            path = f"{name}[{i}]"
            missing.need(entry.amount, f"{path}.amount", "BT-99" if charge else "BT-92")
            category, _, problem = _place_line(entry, taxes)
            if problem is not None:
                terms = ("BT-102", "BT-103") if charge else ("BT-95", "BT-96")
                missing.append(f"{path}.{problem.replace('BT-151', terms[0]).replace('BT-152', terms[1])}")
            entries.append(
                AllowanceOrCharge(
                    charge=charge,
                    amount=entry.amount or _ZERO,
                    category=category or "",
                    rate=entry.tax_rate if entry.tax_rate is not None else _rate_of(category, taxes),
                    reason=entry.reason,
                    reason_code=entry.reason_code,
                    base_amount=entry.base_amount,
                    percentage=entry.percentage,
                )
            )
    return entries


def _rate_of(category: str | None, taxes: list[PlannedTax]) -> Decimal | None:
    rates = {t.row.rate for t in taxes if t.category == category}
    return rates.pop() if len(rates) == 1 else None
