"""Hypothesis strategies for invoices, shared by every property test.

`consistent_invoices()` builds invoices that satisfy every arithmetic rule exactly, in the
currency's minor unit, with either sign (credit notes may be negative). `any_invoices()` builds
invoices with arbitrary (possibly absurd or missing) values, for "never raises" properties.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from invoiceai.schema import Address, Invoice, LineItem, Party, PaymentDetails, TaxLine
from invoiceai.schema.fields import placeholder_of
from invoiceai.schema.invoice import TOTAL_FIELDS
from invoiceai.schema.validation import minor_unit

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "BHD", "SEK", "HUF", "KWD", "CLP")
RATES = tuple(Decimal(rate) for rate in ("0", "2.5", "5", "7", "8.1", "10", "19", "20", "21", "25.5"))

# Real text: a placeholder such as "n/a" is read as no value (with an info finding), so it is
# left to the strategies of raw values.
texts = (
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
    .map(lambda text: " ".join(text.split()) or "x")
    .filter(lambda text: placeholder_of(text) is None)
)
optional_texts = st.none() | texts
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))


def valid_iban(bban: str, country: str = "DE") -> str:
    """Returns an IBAN with correct mod-97 check digits for ``bban``."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


ibans = st.from_regex(r"[0-9]{18}", fullmatch=True).map(valid_iban)


@st.composite
def parties(draw: st.DrawFn) -> Party:
    return Party(
        name=draw(optional_texts),
        vat_id=draw(st.none() | st.from_regex(r"[A-Z]{2}[0-9]{9}", fullmatch=True)),
        address=Address(
            street=draw(optional_texts),
            city=draw(optional_texts),
            postal_code=draw(st.none() | st.from_regex(r"[0-9]{5}", fullmatch=True)),
            country_code=draw(st.none() | st.sampled_from(["DE", "FR", "US", "GB", "JP", "CH"])),
        ),
    )


def _identified(seller: Party, draw: st.DrawFn) -> Party:
    # BR-CO-26 (and BR-S-02, BR-Z-02): a named seller needs a VAT id or another identifier.
    if seller.name and seller.vat_id is None:
        seller.vat_id = draw(st.from_regex(r"[A-Z]{2}[0-9]{9}", fullmatch=True))
    return seller


def _units(draw: st.DrawFn, unit: Decimal, low: int, high: int) -> Decimal:
    return draw(st.integers(low, high)) * unit


@st.composite
def consistent_invoices(draw: st.DrawFn) -> Invoice:
    """An invoice on which every validation rule holds exactly."""
    currency = draw(st.sampled_from(CURRENCIES))
    unit = minor_unit(currency)
    credit_note = draw(st.booleans())
    sign = -1 if credit_note and draw(st.booleans()) else 1

    lines = []
    for _ in range(draw(st.integers(1, 6))):
        quantity = Decimal(draw(st.integers(1, 50))) * sign
        price = _units(draw, unit, 1, 10**6)
        allowance = draw(st.none() | st.integers(0, 1000).map(lambda k: k * unit * sign))
        charge = draw(st.none() | st.integers(0, 1000).map(lambda k: k * unit * sign))
        amount = quantity * price - (allowance or 0) + (charge or 0)
        lines.append(
            LineItem(
                description=draw(optional_texts),
                quantity=quantity,
                unit=draw(st.none() | st.sampled_from(["pcs", "h", "kg", "C62"])),
                unit_price=price,
                allowance_amount=allowance,
                charge_amount=charge,
                amount=amount,
                tax_rate=None,
            )
        )
    subtotal = sum((line.amount for line in lines if line.amount is not None), Decimal(0))
    allowance_total = draw(st.none() | st.integers(0, 10**4).map(lambda k: k * unit * sign))
    charge_total = draw(st.none() | st.integers(0, 10**4).map(lambda k: k * unit * sign))
    net = subtotal - (allowance_total or 0) + (charge_total or 0)

    # Split the net total over 1-3 rates; the last group takes the remainder so the sum is exact.
    groups = draw(st.integers(1, 3))
    rates = draw(st.lists(st.sampled_from(RATES), min_size=groups, max_size=groups, unique=True))
    taxable: list[Decimal] = []
    remaining = net
    for _ in rates[:-1]:
        part = _units(draw, unit, -(10**5), 10**5)
        taxable.append(part)
        remaining -= part
    taxable.append(remaining)
    breakdown = [
        TaxLine(
            rate=rate,
            taxable_amount=base,
            tax_amount=(base * rate / 100).quantize(unit, rounding=ROUND_HALF_UP),
            category="S" if rate else "Z",
        )
        for rate, base in zip(rates, taxable, strict=True)
    ]
    tax_total = sum((line.tax_amount for line in breakdown if line.tax_amount is not None), Decimal(0))
    total = net + tax_total
    amount_paid = draw(st.none() | st.integers(0, 10**5).map(lambda k: k * unit * sign))
    rounding = draw(st.none() | st.integers(-5, 5).map(lambda k: k * unit))
    amount_due = total - (amount_paid or 0) + (rounding or 0)

    issue_date = draw(dates)
    due_date = draw(st.none() | st.integers(0, 120).map(lambda days: issue_date + dt.timedelta(days=days)))
    return Invoice(
        document_type="credit_note" if credit_note else draw(st.sampled_from(["invoice", "receipt", "proforma"])),
        invoice_number=draw(optional_texts),
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        purchase_order=draw(optional_texts),
        seller=_identified(draw(parties()), draw),
        buyer=draw(parties()),
        line_items=lines,
        tax_breakdown=breakdown,
        subtotal=subtotal,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_total=tax_total,
        total=total,
        amount_paid=amount_paid,
        rounding_amount=rounding,
        amount_due=amount_due,
        payment=PaymentDetails(
            iban=draw(st.none() | ibans),
            bic=draw(st.none() | st.just("COBADEFFXXX")),
            reference=draw(optional_texts),
        ),
        notes=draw(optional_texts),
    )


def money_paths(invoice: Invoice) -> list[str]:
    """Dotted paths of every money field that holds a value."""
    paths = [name for name in TOTAL_FIELDS if getattr(invoice, name) is not None]
    for i, line in enumerate(invoice.line_items):
        for name in ("unit_price", "allowance_amount", "charge_amount", "amount"):
            if getattr(line, name) is not None:
                paths.append(f"line_items[{i}].{name}")
    for i, tax in enumerate(invoice.tax_breakdown):
        for name in ("taxable_amount", "tax_amount"):
            if getattr(tax, name) is not None:
                paths.append(f"tax_breakdown[{i}].{name}")
    return paths


def perturbed(invoice: Invoice, path: str, delta: Decimal) -> Invoice:
    """Returns a copy of ``invoice`` with the money field at ``path`` changed by ``delta``."""
    copy = invoice.model_copy(deep=True)
    target: Any = copy
    *parents, leaf = path.split(".")
    for part in parents:
        name, _, index = part.partition("[")
        target = getattr(target, name)
        if index:
            target = target[int(index.rstrip("]"))]
    setattr(target, leaf, getattr(target, leaf) + delta)
    return copy


# Values a model or a user might put anywhere: real amounts, junk, extremes, nothing.
wild_decimals = (
    st.none()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sampled_from([Decimal("1E+999999"), Decimal("-1E+999999"), Decimal("1E-999999"), Decimal("0"), Decimal("-0")])
)


@st.composite
def any_invoices(draw: st.DrawFn) -> Invoice:
    """An invoice with arbitrary, possibly absurd or missing, values in every field."""

    def maybe_line() -> LineItem:
        return LineItem(
            quantity=draw(wild_decimals),
            unit_price=draw(wild_decimals),
            allowance_amount=draw(wild_decimals),
            charge_amount=draw(wild_decimals),
            amount=draw(wild_decimals),
            tax_rate=draw(wild_decimals),
        )

    return Invoice(
        document_type=draw(st.none() | st.sampled_from(["invoice", "credit_note", "receipt", "proforma", "other"])),
        issue_date=draw(st.none() | dates),
        due_date=draw(st.none() | dates),
        currency=draw(st.none() | st.from_regex(r"[A-Z]{3}", fullmatch=True)),
        line_items=[maybe_line() for _ in range(draw(st.integers(0, 4)))],
        tax_breakdown=[
            TaxLine(rate=draw(wild_decimals), taxable_amount=draw(wild_decimals), tax_amount=draw(wild_decimals))
            for _ in range(draw(st.integers(0, 3)))
        ],
        subtotal=draw(wild_decimals),
        allowance_total=draw(wild_decimals),
        charge_total=draw(wild_decimals),
        tax_total=draw(wild_decimals),
        total=draw(wild_decimals),
        amount_paid=draw(wild_decimals),
        rounding_amount=draw(wild_decimals),
        amount_due=draw(wild_decimals),
        payment=PaymentDetails(iban=draw(st.none() | st.from_regex(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}", fullmatch=True))),
    )


raw_scalars = st.none() | st.text(max_size=20) | st.integers() | st.floats() | st.booleans() | st.decimals()


@st.composite
def raw_invoice_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON-like dict shaped like an invoice whose leaf values are anything at all."""
    # Leaves only: a list or a nested part given a bare value is a shape error, which pydantic
    # reports (and the backend re-asks), not a value normalisation can mend.
    scalar_fields = [name for name, field in Invoice.model_fields.items() if field.default_factory is None]
    data: dict[str, Any] = {name: draw(raw_scalars) for name in draw(st.lists(st.sampled_from(scalar_fields)))}
    data["line_items"] = [
        {name: draw(raw_scalars) for name, field in LineItem.model_fields.items() if field.default_factory is None}
        for _ in range(draw(st.integers(0, 3)))
    ]
    data["tax_breakdown"] = [
        {name: draw(raw_scalars) for name in TaxLine.model_fields} for _ in range(draw(st.integers(0, 2)))
    ]
    data["seller"] = {
        "name": draw(raw_scalars),
        "vat_id": draw(raw_scalars),
        "address": {"country_code": draw(raw_scalars)},
    }
    data["payment"] = {"iban": draw(raw_scalars), "bic": draw(raw_scalars)}
    return data
