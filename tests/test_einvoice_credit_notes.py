"""A credit note printed with negative amounts is written with positive ones, lists and all."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from invoiceai.einvoice import read_einvoice, to_xml
from invoiceai.einvoice.writer import positive_credit_note
from invoiceai.schema import AllowanceCharge, Invoice, validate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "invoice.json"


def positive_credit_note_with_lists() -> Invoice:
    invoice = Invoice.model_validate_json(EXAMPLE.read_bytes())
    invoice.document_type = "credit_note"
    # The example's document discount (allowance_total 10.00) as a listed allowance with its base.
    invoice.allowances = [
        AllowanceCharge(
            amount=Decimal("10.00"), base_amount=Decimal("100.00"), percentage=Decimal("10"), reason="Bonus"
        )
    ]
    invoice.tax_currency = "SEK"
    invoice.tax_total_in_tax_currency = Decimal("1000.00")
    return invoice


def negated(invoice: Invoice) -> Invoice:
    negative = invoice.model_copy(deep=True)
    for name in ("subtotal", "allowance_total", "tax_total", "total", "amount_paid", "amount_due"):
        setattr(negative, name, -getattr(negative, name))
    negative.tax_total_in_tax_currency = -Decimal("1000.00")
    for line in negative.line_items:
        line.quantity, line.amount = -line.quantity, -line.amount  # type: ignore[operator]
    for tax in negative.tax_breakdown:
        tax.taxable_amount, tax.tax_amount = -tax.taxable_amount, -tax.tax_amount  # type: ignore[operator]
    for entry in negative.allowances:
        entry.amount, entry.base_amount = -entry.amount, -entry.base_amount  # type: ignore[operator]
    return negative


def test_the_lists_and_the_second_currency_total_change_sign_too() -> None:
    positive = positive_credit_note_with_lists()
    flipped = positive_credit_note(negated(positive))
    assert flipped.allowances[0].amount == Decimal("10.00")
    assert flipped.allowances[0].base_amount == Decimal("100.00")
    assert flipped.tax_total_in_tax_currency == Decimal("1000.00")
    assert flipped == positive


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_a_negative_credit_note_with_listed_allowances_writes_and_reads_back_positive(syntax: str) -> None:
    positive = positive_credit_note_with_lists()
    negative = negated(positive)
    assert [f for f in validate(negative) if f.severity == "error"] == []
    back = read_einvoice(to_xml(negative, syntax))
    assert back.allowances[0].amount == Decimal("10.00")
    assert back.tax_total_in_tax_currency == Decimal("1000.00")
    assert back == read_einvoice(to_xml(positive, syntax))
