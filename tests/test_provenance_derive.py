"""Derived amounts never let a wrong value through: no payable total, no chains, no factors, no overflow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoiceai import Extractor, Invoice
from invoiceai.provenance import ground_invoice, review
from invoiceai.provenance.derive import derive
from invoiceai.schema.validation import validate
from invoiceai.testing import FakeBackend
from render_fixtures import PdfPage, build_pdf, text_ops
from test_provenance import layer

HEAD = ("ACME GmbH VAT DE123456789", "Invoice INV-1001 Date 12.03.2024", "Pos Description Qty Price Amount")
SELLER = {"name": "ACME GmbH", "vat_id": "DE123456789"}


def checked(data: dict[str, Any], *lines: str) -> tuple[Any, bool]:
    invoice = Invoice.model_validate({"invoice_number": "INV-1001", "issue_date": "2024-03-12", "currency": "EUR",
                                      "seller": SELLER, **data})  # fmt: skip
    findings = validate(invoice)
    grounded = ground_invoice(invoice, [layer(*HEAD, *lines)], findings)
    return grounded.provenance, review(grounded.provenance, [*findings, *grounded.findings]).needs_review


def widgets(rate: str, tax: str, total: str, **extra: str) -> dict[str, Any]:
    line = {"description": "Widget", "quantity": "10", "unit_price": "10.00", "amount": "100.00", "tax_rate": rate}
    return {
        "line_items": [line], "subtotal": "100.00", "total_without_tax": "100.00",
        "tax_breakdown": [{"taxable_amount": "100.00", "rate": rate, "tax_amount": tax, "category": "S"}],
        "tax_total": tax, "total": total, "amount_due": total, **extra,
    }  # fmt: skip


@pytest.mark.parametrize("extra", [{}, {"allowance_total": "0.00"}])
def test_a_dropped_allowance_does_not_derive_a_wrong_payable_total(extra: dict[str, str]) -> None:
    page = ("1 Widget 10 10,00 100,00", "Subtotal 100,00", "Discount 10% -10,00", "Net 90,00", "VAT 19% 17,10",
            "Total EUR 107,10")  # fmt: skip
    provenance, needs_review = checked(widgets("19", "19.00", "119.00", **extra), *page)
    assert needs_review
    for path in ("total", "amount_due", "tax_total", *extra):
        assert provenance[path].grounding == "ungrounded", path


def test_a_wrong_rate_carried_through_the_totals_needs_review() -> None:
    # 10 % is printed (as a quantity), and 10.00 (as a price): the wrong rate's tax "matches" on its own.
    page = ("1 Widget 10 10,00 100,00", "Net 100,00", "VAT 19% 19,00", "Total EUR 119,00")
    provenance, needs_review = checked(widgets("10", "10.00", "110.00"), *page)
    assert needs_review
    assert (provenance["total"].grounding, provenance["amount_due"].grounding) == ("ungrounded", "ungrounded")


def test_a_unit_price_that_rounds_to_the_printed_amount_is_not_derived() -> None:
    line = {"description": "Diesel", "quantity": "0.5", "unit_price": "10.02", "amount": "5.01", "tax_rate": "0",
            "tax_category": "Z"}  # fmt: skip
    row = {"taxable_amount": "5.01", "rate": "0", "tax_amount": "0.00", "category": "Z"}
    data = {"line_items": [line], "subtotal": "5.01", "total_without_tax": "5.01", "tax_total": "0.00",
            "total": "5.01", "amount_due": "5.01", "tax_breakdown": [row]}  # fmt: skip
    provenance, needs_review = checked(data, "1 Diesel 0,5 10,01 5,01", "Subtotal 5,01", "VAT 0% 0,00", "Total 5,01")
    assert provenance["line_items[0].unit_price"].grounding == "ungrounded"
    assert needs_review


def test_an_amount_too_large_to_compute_holds_no_relation() -> None:
    big = Decimal("1" + "0" * 27)
    amounts = {"subtotal": Decimal("5.00"), "line_items[0].amount": big, "line_items[0].quantity": Decimal(1),
               "line_items[0].unit_price": big}  # fmt: skip
    assert derive(amounts, {"subtotal", "line_items[0].quantity", "line_items[0].unit_price"},
                  {"line_items[0].amount"}) == {"line_items[0].amount": "line item 1: amount = quantity x price - "
                                                "allowance + charge"}  # fmt: skip
    assert derive({"subtotal": big * big * big}, set(), {"subtotal"}) == {}


def pdf_and_reply() -> tuple[bytes, dict[str, Any]]:
    big = "1" + "0" * 27
    lines = ["ACME GmbH VAT DE123456789", "Invoice INV-1 Date 12.03.2024", f"Widget 1 x {big},00 {big},00",
             f"Total {big},00"]  # fmt: skip
    reply = {"invoice_number": "INV-1", "issue_date": "2024-03-12", "currency": "EUR", "seller": SELLER,
             "line_items": [{"description": "Widget", "quantity": "1", "unit_price": big + ".00",
                             "amount": big + ".00"}], "subtotal": "5.00", "total": big + ".00"}  # fmt: skip
    return build_pdf([PdfPage(content=text_ops(lines))]), reply


def test_a_28_digit_amount_does_not_lose_the_paid_result() -> None:
    pdf, reply = pdf_and_reply()
    result = Extractor(backend=FakeBackend(default=reply), cache=None).extract(pdf)
    assert result.data.total == Decimal(reply["total"])
    assert result.needs_review


def test_a_bug_in_grounding_becomes_a_warning_not_a_lost_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("invoiceai.extractor.grounding.ground_invoice", broken)
    pdf, reply = pdf_and_reply()
    result = Extractor(backend=FakeBackend(default=reply), cache=None).extract(pdf)
    assert result.data.invoice_number == "INV-1"
    assert result.needs_review and not result.provenance.fields
    assert any("could not be grounded" in warning for warning in result.warnings)
