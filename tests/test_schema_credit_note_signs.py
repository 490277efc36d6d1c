"""A credit note printed negative is consistent when its discounts carry the same sign, as the field hints ask."""

from __future__ import annotations

from invoiceai.schema import Invoice, validate
from invoiceai.schema.invoice import AllowanceCharge, LineItem


def test_the_discount_hints_follow_the_sign_of_the_document() -> None:
    for field in (AllowanceCharge.model_fields["amount"], LineItem.model_fields["allowance_amount"]):
        assert "sign" in (field.description or "") and "positive" not in (field.description or "")
    assert "sign" in (Invoice.model_fields["allowance_total"].description or "")


def test_a_negative_credit_note_with_a_negative_discount_passes_the_rules() -> None:
    credit_note = Invoice.model_validate(
        {
            "document_type": "credit_note",
            "currency": "EUR",
            "line_items": [{"description": "Return", "quantity": "-1", "unit_price": "100.00", "amount": "-100.00"}],
            "allowances": [{"amount": "-10.00", "reason": "10 % discount", "tax_rate": "19"}],
            "tax_breakdown": [{"rate": "19", "category": "S", "taxable_amount": "-90.00", "tax_amount": "-17.10"}],
            "subtotal": "-100.00",
            "allowance_total": "-10.00",
            "total_without_tax": "-90.00",
            "tax_total": "-17.10",
            "total": "-107.10",
            "amount_due": "-107.10",
        }
    )
    assert [finding for finding in validate(credit_note) if finding.severity == "error"] == []
