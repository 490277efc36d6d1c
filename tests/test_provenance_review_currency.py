"""The invoice currency is checked against its code and symbols; what a clerk pays by must be printed."""

from __future__ import annotations

from typing import Any

import pytest

from invoiceai import Invoice
from invoiceai.provenance import ground_invoice, review
from invoiceai.schema.validation import validate
from test_provenance import layer


def checked(data: dict[str, Any], *lines: str) -> tuple[str, bool]:
    invoice = Invoice.model_validate({"invoice_number": "77", "total": "125.00", **data})
    findings = validate(invoice)
    grounded = ground_invoice(invoice, [layer("Svensk AB SE556677889901 Faktura 77", *lines, "Total 125,00")], findings)
    verdict = review(grounded.provenance, [*findings, *grounded.findings])
    return grounded.provenance["currency"].grounding, verdict.needs_review


SWEDISH = {"seller": {"name": "Svensk AB", "vat_id": "SE556677889901", "address": {"country_code": "SE"}}}


@pytest.mark.parametrize(
    ("currency", "extra", "lines", "grounding"),
    [
        ("DKK", SWEDISH, ("Konsult 100,00 kr", "Att betala SEK"), "ungrounded"),  # the issue's own example
        ("DKK", {}, ("Konsult 100,00 kr",), "ungrounded"),  # kr is shared: no country, no currency
        ("SEK", SWEDISH, ("Konsult 100,00 kr",), "grounded"),
        ("SEK", {}, ("Att betala 125,00 SEK",), "grounded"),
        ("EUR", {}, ("Summe 125,00€",), "grounded"),
        ("USD", {}, ("Amount $125.00",), "grounded"),  # a bare dollar sign, no country: a US dollar
        ("CAD", {}, ("Amount $125.00",), "ungrounded"),
        ("USD", {"seller": {"address": {"country_code": "CA"}}}, ("Amount $125.00",), "ungrounded"),
        ("GBP", {}, ("Amount 125.00",), "ungrounded"),
        ("PLN", {}, ("Razem 125,00 zł",), "grounded"),
    ],
)
def test_the_currency_is_its_code_or_a_symbol_that_fits(
    currency: str, extra: dict[str, Any], lines: tuple[str, ...], grounding: str
) -> None:
    got, needs_review = checked({"currency": currency, **extra}, *lines)
    assert got == grounding
    assert needs_review == (grounding == "ungrounded")


@pytest.mark.parametrize(
    "data",
    [
        {"buyer": {"vat_id": "DE999999999"}},
        {"payment": {"mandate_reference": "MANDATE-9"}},
        {"payment": {"debited_account": "DE02120300000000202051"}},
        {"buyer_reference": "LEITWEG-1"},
    ],
)
def test_what_a_clerk_pays_by_needs_review_when_not_printed(data: dict[str, Any]) -> None:
    invoice = Invoice.model_validate({"invoice_number": "77", "total": "125.00", **data})
    grounded = ground_invoice(invoice, [layer("Invoice 77", "Total 125.00")], validate(invoice))
    assert review(grounded.provenance, grounded.findings).needs_review


def test_an_allowance_total_of_zero_is_derived_only_where_no_allowance_is_named() -> None:
    data = {"line_items": [{"description": "Widget", "quantity": "1", "unit_price": "10.00", "amount": "10.00"}],
            "allowance_total": "0.00", "total": "10.00"}  # fmt: skip
    invoice = Invoice.model_validate(data)
    plain = ground_invoice(invoice, [layer("Widget 1 10,00 10,00", "Total 10,00")]).provenance
    named = ground_invoice(invoice, [layer("Widget 1 10,00 10,00", "Rabatt", "Total 10,00")]).provenance
    assert (plain["allowance_total"].grounding, named["allowance_total"].grounding) == ("derived", "ungrounded")
