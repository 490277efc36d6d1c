"""Rich, consistent invoices for the writing guarantee: every VAT category, allowances, optional groups.

`choices()` draws a :class:`Choices` and :func:`build` turns it into an invoice that
satisfies the official EN 16931 rules when written (lines with rates and categories in S, Z, E,
AE, K, G, O or B mixes; document-level allowances and charges with percentage and base;
optional payee, tax representative, delivery and invoicing period; credit notes, also with
negative amounts), except where a choice makes it deliberately unwritable: a three-decimal
currency, or totals without their lists that several VAT rows cannot split. `RICH_CHOICES` is a
fixed set of such choices that must all be written, so a property test cannot pass by refusing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import strategies as st

from invoiceai.schema import AllowanceCharge, Invoice, LineItem, PrecedingInvoice, TaxLine
from invoiceai.schema.validation import minor_unit

# Each scenario's breakdown rows as (category, rate); the seller, buyer and delivery follow it.
SCENARIOS: dict[str, tuple[tuple[str, Decimal | None], ...]] = {
    "domestic": (("S", Decimal(19)), ("S", Decimal(7)), ("Z", Decimal(0)), ("E", Decimal(0))),
    "cross-border": (("S", Decimal(20)), ("AE", Decimal(0)), ("K", Decimal(0)), ("G", Decimal(0))),
    "not-subject": (("O", None),),
    "split-payment": (("B", Decimal(22)), ("B", Decimal(10)), ("Z", Decimal(0))),
}
_REASONS = {"E": "Exempt", "AE": "Reverse charge", "K": "Intra-community supply", "G": "Export", "O": "Not subject"}
_VAT_IDS = {"DE": "DE123456789", "FR": "FR12345678901", "IT": "IT12345678901", "AT": "ATU12345678"}


@dataclasses.dataclass(frozen=True)
class Line:
    """One line: which row it is in, and its numbers in minor units."""

    row: int
    quantity: int
    price: int
    allowance: int = 0
    charge: int = 0
    state_category: bool = True
    state_rate: bool = True


@dataclasses.dataclass(frozen=True)
class Entry:
    """A document-level allowance or charge: its row, amount in minor units and optional percentage."""

    row: int
    charge: bool
    amount: int
    percentage: int | None = None


@dataclasses.dataclass(frozen=True)
class Choices:
    """Everything :func:`build` needs; the hypothesis strategy draws it, tests may spell it out."""

    scenario: str
    rows: tuple[int, ...]
    lines: tuple[Line, ...]
    entries: tuple[Entry, ...] = ()
    currency: str = "EUR"
    credit_note: bool = False
    negative: bool = False
    unlisted: bool = False
    payee: bool = False
    representative: bool = False
    delivery: bool = False
    period: bool = False


def expected_writable(choices: Choices) -> bool:
    """Whether :func:`build` gives an invoice ``to_xml`` must write (``False``: it may refuse)."""
    if minor_unit(choices.currency) < Decimal("0.01"):
        return False  # three decimals: BR-DEC-* refuse any amount that uses them
    kinds = {entry.charge for entry in choices.entries}
    return not (choices.unlisted and len(choices.rows) > 1 and len(kinds) > 1)


def build(choices: Choices) -> Invoice:
    """The invoice the choices describe, consistent in every sum."""
    unit = minor_unit(choices.currency)
    rows = [SCENARIOS[choices.scenario][i] for i in choices.rows]
    lines = [_line(choices, rows, line, unit) for line in choices.lines]
    entries = [_entry(rows, entry, unit) for entry in choices.entries]
    breakdown = []
    for index, (category, rate) in enumerate(rows):
        taxable = sum(
            (item.amount or 0 for item, line in zip(lines, choices.lines, strict=True) if line.row == index), Decimal(0)
        )
        for entry, spec in zip(entries, choices.entries, strict=True):
            if spec.row == index:
                taxable += (entry.amount or 0) * (1 if spec.charge else -1)
        tax = (taxable * (rate or 0) / 100).quantize(unit, rounding=ROUND_HALF_UP)
        breakdown.append(TaxLine(rate=rate, taxable_amount=taxable, tax_amount=tax, category=category))
        breakdown[-1].exemption_reason = _REASONS.get(category)
    allowances = [e for e, spec in zip(entries, choices.entries, strict=True) if not spec.charge]
    charges = [e for e, spec in zip(entries, choices.entries, strict=True) if spec.charge]
    subtotal = sum((line.amount or 0 for line in lines), Decimal(0))
    allowance_total = sum((e.amount or 0 for e in allowances), Decimal(0)) if allowances else None
    charge_total = sum((e.amount or 0 for e in charges), Decimal(0)) if charges else None
    tax_total = sum((row.tax_amount or 0 for row in breakdown), Decimal(0))
    total = subtotal - (allowance_total or 0) + (charge_total or 0) + tax_total
    invoice = Invoice(
        document_type="credit_note" if choices.credit_note else "invoice",
        invoice_number="R-2026-1",
        issue_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 4, 1),
        currency=choices.currency,
        line_items=lines,
        allowances=[] if choices.unlisted else allowances,
        charges=[] if choices.unlisted else charges,
        tax_breakdown=breakdown,
        subtotal=subtotal,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_total=tax_total,
        total=total,
        amount_due=total,
    )
    _parties(invoice, choices)
    return _negated(invoice) if choices.credit_note and choices.negative else invoice


def _line(choices: Choices, rows: list[tuple[str, Decimal | None]], line: Line, unit: Decimal) -> LineItem:
    category, rate = rows[line.row]
    # The writer derives what is left out: a category from a rate no other row has, a rate from
    # the only row of the category.
    rate_unique = sum(1 for _, other in rows if other == rate) == 1
    category_unique = sum(1 for code, _ in rows if code == category) == 1
    item = LineItem(
        description=f"Item in {category}",
        quantity=Decimal(line.quantity),
        unit="pcs",
        unit_price=line.price * unit,
        allowance_amount=line.allowance * unit or None,
        charge_amount=line.charge * unit or None,
        amount=(line.quantity * line.price - line.allowance + line.charge) * unit,
        tax_category=category if line.state_category or not rate_unique or rate is None else None,
        tax_rate=None,
    )
    # Left out only when the stated category has one row (one of the two must place the line).
    item.tax_rate = rate if line.state_rate or not category_unique or item.tax_category is None else None
    if choices.period:
        item.period.start, item.period.end = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
    return item


def _entry(rows: list[tuple[str, Decimal | None]], entry: Entry, unit: Decimal) -> AllowanceCharge:
    category, rate = rows[entry.row]
    base = percentage = None
    amount = entry.amount * unit
    if entry.percentage is not None:
        percentage = Decimal(entry.percentage)
        base = amount * 100 / percentage  # the amount is the percentage of the base, exactly
        base = base if base == base.quantize(unit) else None
        percentage = percentage if base is not None else None
    return AllowanceCharge(
        amount=amount,
        base_amount=base,
        percentage=percentage,
        reason="Freight" if entry.charge else None,
        tax_category=category,
        tax_rate=rate,
    )


def _parties(invoice: Invoice, choices: Choices) -> None:
    italy = choices.scenario == "split-payment"
    home, abroad = ("IT", "IT") if italy else ("DE", "FR")
    seller, buyer = invoice.seller, invoice.buyer
    seller.name, buyer.name = "Seller GmbH", "Buyer SA"
    seller.address.city, seller.address.country_code = "Berlin", home
    buyer.address.city, buyer.address.country_code = "Paris", abroad
    if choices.scenario == "not-subject":
        seller.legal_registration_id = "HRB 12345"  # O: no VAT id anywhere (BR-O-02..04)
    else:
        seller.vat_id, buyer.vat_id = _VAT_IDS[home], _VAT_IDS[abroad]
    seller.electronic_address, seller.electronic_address_scheme = "billing@seller.example", "EM"
    invoice.payment.iban = "DE89370400440532013000"
    if choices.credit_note:
        invoice.preceding_invoices = [PrecedingInvoice(number="R-2026-0", issue_date=dt.date(2026, 1, 5))]
    if choices.payee:
        invoice.payee.name, invoice.payee.identifier, invoice.payee.identifier_scheme = "Factor AG", "4000001", "0088"
    if choices.representative and choices.scenario != "not-subject":  # O: no VAT id (BR-O-02)
        rep = invoice.tax_representative
        rep.name, rep.vat_id = "Rep GmbH", "ATU12345678" if not italy else "IT12345678901"
        rep.address.city, rep.address.country_code = "Wien" if not italy else "Milano", "AT" if not italy else "IT"
    has_k = any(SCENARIOS[choices.scenario][i][0] == "K" for i in choices.rows)
    if choices.delivery or has_k:  # K needs a delivery date and country (BR-IC-11/12)
        invoice.delivery.date = dt.date(2026, 2, 27)
        invoice.delivery.party_name = "Warehouse"
        invoice.delivery.address.city, invoice.delivery.address.country_code = "Lyon", abroad
    if choices.period:
        invoice.invoicing_period.start, invoice.invoicing_period.end = dt.date(2026, 2, 1), dt.date(2026, 2, 28)


def _negated(invoice: Invoice) -> Invoice:
    # A credit note as printed with negative amounts; the writer flips it back.
    flipped = invoice.model_copy(deep=True)
    for name in ("subtotal", "allowance_total", "charge_total", "tax_total", "total", "amount_due"):
        value = getattr(flipped, name)
        setattr(flipped, name, None if value is None else -value)
    for line in flipped.line_items:
        line.quantity = -(line.quantity or 0)
        line.amount = -(line.amount or 0)
        line.allowance_amount = None if line.allowance_amount is None else -line.allowance_amount
        line.charge_amount = None if line.charge_amount is None else -line.charge_amount
    for entry in (*flipped.allowances, *flipped.charges):
        entry.amount = None if entry.amount is None else -entry.amount
        entry.base_amount = None if entry.base_amount is None else -entry.base_amount
    for row in flipped.tax_breakdown:
        row.taxable_amount = None if row.taxable_amount is None else -row.taxable_amount
        row.tax_amount = None if row.tax_amount is None else -row.tax_amount
    return flipped


@st.composite
def choices(draw: st.DrawFn) -> Choices:
    """Draws :class:`Choices`: one scenario, some of its rows, lines in each row, entries, options."""
    scenario = draw(st.sampled_from(sorted(SCENARIOS)))
    count = len(SCENARIOS[scenario])
    rows = tuple(sorted(draw(st.sets(st.integers(0, count - 1), min_size=1, max_size=count))))
    line = st.builds(
        Line,
        row=st.integers(0, len(rows) - 1),
        quantity=st.integers(1, 20),
        price=st.integers(1, 10**5),
        allowance=st.sampled_from([0, 0, 50, 125]),
        charge=st.sampled_from([0, 0, 30]),
        state_category=st.booleans(),
        state_rate=st.booleans(),
    )
    lines = draw(st.lists(line, min_size=1, max_size=5))
    # Every row has a line, so no row is only allowances.
    lines += [Line(row=i, quantity=1, price=1000) for i in range(len(rows)) if all(x.row != i for x in lines)]
    entry = st.builds(
        Entry,
        row=st.integers(0, len(rows) - 1),
        charge=st.booleans(),
        amount=st.integers(1, 500),
        percentage=st.none() | st.sampled_from([2, 5, 10, 25]),
    )
    return Choices(
        scenario=scenario,
        rows=rows,
        lines=tuple(lines),
        entries=tuple(draw(st.lists(entry, max_size=3))),
        currency=draw(st.sampled_from(["EUR", "EUR", "USD", "CHF", "SEK", "JPY", "HUF", "BHD"])),
        credit_note=(credit := draw(st.booleans())),
        negative=credit and draw(st.booleans()),
        unlisted=draw(st.booleans()),
        payee=draw(st.booleans()),
        representative=draw(st.booleans()),
        delivery=draw(st.booleans()),
        period=draw(st.booleans()),
    )


_ALL = {"payee": True, "representative": True, "delivery": True, "period": True}
RICH_CHOICES: tuple[Choices, ...] = (
    Choices(
        "domestic",
        (0, 1, 2, 3),
        (Line(0, 3, 3333, allowance=125), Line(1, 1, 5000, state_rate=False), Line(2, 2, 700), Line(3, 1, 2000)),
        (Entry(0, False, 1000, percentage=10), Entry(1, True, 500)),
        **_ALL,
    ),
    Choices(
        "cross-border",
        (0, 1, 2, 3),
        (Line(0, 1, 10000, state_category=False), Line(1, 2, 2500), Line(2, 1, 999), Line(3, 4, 125, charge=30)),
        (Entry(1, False, 250, percentage=5), Entry(2, True, 300)),
        credit_note=True,
        negative=True,
        **_ALL,
    ),
    Choices("not-subject", (0,), (Line(0, 5, 1999, state_rate=False),), (Entry(0, True, 150),), credit_note=True),
    Choices("split-payment", (0, 1, 2), (Line(0, 1, 10000), Line(1, 2, 500), Line(2, 1, 300)), **_ALL),
    Choices("domestic", (0, 1), (Line(0, 2, 5000), Line(1, 1, 2000)), (Entry(0, False, 700),), unlisted=True),
    Choices("domestic", (0,), (Line(0, 1, 10000),), (Entry(0, False, 500), Entry(0, True, 200)), unlisted=True),
    Choices("domestic", (0,), (Line(0, 1, 10000),), currency="JPY", credit_note=True),
)
"""Invoices that must be written: each scenario, a negative credit note, totals without lists."""
