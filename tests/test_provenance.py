"""Grounding values in page words: every printed form, boundaries, the provenance shape, review policies."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from invoiceai import Invoice
from invoiceai.provenance import (
    UNGROUNDED,
    PageWords,
    Provenance,
    ReviewPolicy,
    ground_invoice,
    review,
)
from invoiceai.schema.findings import Finding


def layer(*lines: str, page: int = 1, kind: str = "text") -> PageWords:
    """Words of ``lines``, one line per row, each word 0.05 wide."""
    words = []
    for row, line in enumerate(lines):
        for column, text in enumerate(line.split()):
            x, y = 0.05 + 0.06 * column, 0.05 + 0.03 * row
            words.append((text, x, y, x + 0.05, y + 0.02))
    return PageWords.from_raw(page, words, kind)  # type: ignore[arg-type]


def grounding(invoice: Invoice, *lines: str) -> dict[str, str]:
    provenance = ground_invoice(invoice, [layer(*lines)]).provenance
    return {path: item.grounding for path, item in provenance.fields.items()}


@pytest.mark.parametrize(
    "printed",
    ["Total 1.234,56", "Total: 1,234.56", "Total 1 234,56 €", "Total EUR 1234.56", "Total $1,234.56", "Total 1'234.56",
     "Total:1234,56", "Total 1234,5600"],
)  # fmt: skip
def test_money_is_found_in_every_printed_form(printed: str) -> None:
    assert grounding(Invoice(total=Decimal("1234.56")), printed)["total"] == "grounded"


@pytest.mark.parametrize("printed", ["Summe (1.234,56)", "Summe 1.234,56-", "Summe -1.234,56", "Summe \u22121.234,56"])
def test_a_negative_amount_is_found_in_every_signed_form_and_a_positive_one_is_not(printed: str) -> None:
    assert grounding(Invoice(total=Decimal("-1234.56")), printed)["total"] == "grounded"
    assert grounding(Invoice(total=Decimal("1234.56")), printed)["total"] == "ungrounded"


@pytest.mark.parametrize(
    ("value", "printed"),
    [("234.56", "Total 1.234,56"), ("1.23", "Total 1.234,5"), ("1234.56", "Total 11234.56"), ("12", "Invoice 2012"),
     ("234.56", "Total 1.234,567"), ("2.5", "Total 12.50"), ("1234.56", "Total 1234.561")],
)  # fmt: skip
def test_money_is_not_found_inside_other_numbers(value: str, printed: str) -> None:
    assert grounding(Invoice(total=Decimal(value)), printed)["total"] == "ungrounded"


def test_a_negative_amount_in_brackets_is_its_value() -> None:
    assert grounding(Invoice(total=Decimal("-12.50")), "Refund (12.50)")["total"] == "grounded"


@pytest.mark.parametrize(
    "printed",
    ["Date 12.03.2024", "Date 12/03/2024", "Date 03/12/2024", "Date 2024-03-12", "Date 12 March 2024",
     "Datum 12. März 2024", "Date March 12, 2024", "Date 12-Mar-2024", "Datum 12.03.24", "le 12 mars 2024",
     "Date 12 . 03 . 2024", "Datum 12.3.2024"],
)  # fmt: skip
def test_dates_are_found_in_the_pages_own_format(printed: str) -> None:
    assert grounding(Invoice(issue_date=dt.date(2024, 3, 12)), printed)["issue_date"] == "grounded"


def test_a_different_date_is_not_grounded() -> None:
    assert grounding(Invoice(issue_date=dt.date(2024, 3, 13)), "Date 12.03.2024")["issue_date"] == "ungrounded"


def test_ibans_vat_ids_and_identifiers_ignore_spaces_dots_and_case() -> None:
    invoice = Invoice.model_validate(
        {"invoice_number": "re-2024/0042", "seller": {"vat_id": "BE0123456789"},
         "payment": {"iban": "DE89370400440532013000"}}
    )  # fmt: skip
    found = grounding(invoice, "Invoice RE-2024/0042", "VAT BE 0123.456.789", "IBAN DE89 3704 0044 0532 0130 00")
    assert found == {"invoice_number": "grounded", "seller.vat_id": "grounded", "payment.iban": "grounded"}


def test_a_name_over_two_lines_is_one_match_with_the_union_box() -> None:
    invoice = Invoice.model_validate({"seller": {"name": "Northwind Trading GmbH"}})
    provenance = ground_invoice(invoice, [layer("From: Northwind Trading", "GmbH Street 1")]).provenance
    item = provenance["seller"]["name"]
    assert item.grounding == "grounded" and item.text == "Northwind Trading GmbH"
    assert item.box is not None and item.box.y0 < 0.06 and item.box.y1 > 0.08  # both lines


def test_codes_are_not_checked_and_scans_without_words_are_unknown() -> None:
    invoice = Invoice.model_validate({"currency": "EUR", "tax_currency": "EUR", "total": "10.00"})
    provenance = ground_invoice(invoice, [PageWords.from_raw(1, None, "none")]).provenance
    assert provenance["tax_currency"].grounding == "not_checked"
    assert provenance["currency"].grounding == "unknown"  # the invoice currency is checked: by code or symbol
    assert provenance["total"].grounding == "unknown"
    assert provenance["total"].page == 1  # page-level provenance: the only page
    assert ground_invoice(invoice, [PageWords.from_raw(1, None, "none")]).findings == ()


def test_an_ungrounded_value_is_a_finding_on_its_field_with_low_confidence() -> None:
    invoice = Invoice.model_validate({"invoice_number": "A-1", "total": "99.00"})
    grounded = ground_invoice(invoice, [layer("Invoice A-1", "Total 98.00")])
    assert [(finding.rule, finding.severity, finding.fields) for finding in grounded.findings] == [
        (UNGROUNDED, "warning", ("total",))
    ]
    assert grounded.provenance["total"].confidence == "low"
    assert grounded.provenance["invoice_number"].confidence == "high"


def test_a_page_hint_restricts_the_search_to_that_page() -> None:
    invoice = Invoice.model_validate({"total": "5.00"})
    pages = [layer("Total 5.00", page=1), layer("nothing here", page=2)]
    assert ground_invoice(invoice, pages).provenance["total"].page == 1
    hinted = ground_invoice(invoice, pages, page_hints={"total": 2})
    assert hinted.provenance["total"].grounding == "ungrounded"
    assert "page 2" in hinted.findings[0].message


def test_confidence_comes_from_findings_and_the_embedded_einvoice() -> None:
    invoice = Invoice.model_validate({"total": "5.00", "tax_total": "1.00", "invoice_number": "X1"})
    findings = [
        Finding(rule="BR-CO-15", severity="error", message="totals disagree", fields=("total",)),
        Finding(rule="IAI-CROSS-CHECK", severity="warning", message="pages say X2", fields=("invoice_number",)),
    ]
    provenance = ground_invoice(invoice, [layer("Total 5.00 Tax 1.00 No X1")], findings, embedded=True).provenance
    assert provenance["total"].confidence == "low" and "BR-CO-15 names it" in provenance["total"].evidence
    assert provenance["invoice_number"].confidence == "low"
    assert provenance["tax_total"].confidence == "high"
    assert ground_invoice(invoice, [], embedded=True).provenance["total"].confidence == "high"


def test_line_items_are_reached_by_index_and_the_nearest_match_comes_first() -> None:
    invoice = Invoice.model_validate(
        {"line_items": [{"description": "Apples", "amount": "5.00"}, {"description": "Pears", "amount": "5.00"}]}
    )
    provenance = ground_invoice(invoice, [layer("Apples 5.00", "Pears 5.00")]).provenance
    first, second = provenance["line_items"][0]["amount"], provenance["line_items"][1]["amount"]
    assert provenance["line_items[1].amount"] is second
    assert first.box is not None and second.box is not None and first.box.y0 < second.box.y0
    assert len(provenance["line_items"]) == 2 and list(provenance) == ["line_items"]
    with pytest.raises(KeyError):
        provenance["total"]


def test_provenance_is_json_in_the_invoice_shape() -> None:
    invoice = Invoice.model_validate({"total": "5.00", "seller": {"name": "ACME"}, "line_items": [{"amount": "5.00"}]})
    data = ground_invoice(invoice, [layer("ACME Total 5.00")]).provenance.to_dict()
    json.dumps(data)
    assert data["total"]["page"] == 1 and data["total"]["text"] == "5.00" and len(data["total"]["box"]) == 4
    assert data["seller"]["name"]["grounding"] == "grounded"
    assert data["line_items"][0]["amount"]["confidence"] == "high"
    assert Provenance.empty().to_dict() == {}


def test_the_review_policy_decides_which_fields_force_a_review() -> None:
    invoice = Invoice.model_validate({"total": "5.00", "notes": "n", "payment": {"terms": "30 days"}})
    grounded = ground_invoice(invoice, [layer("Total 5.00")])
    assert grounded.provenance["payment"]["terms"].grounding == "ungrounded"
    strict = review(grounded.provenance, grounded.findings, ReviewPolicy(must_ground=("*",)))
    assert strict.needs_review and strict.fields == ("payment.terms",)
    assert review(grounded.provenance, grounded.findings, ReviewPolicy.strict()).fields == ("payment.terms",)
    # The default grounds what is posted and paid by: terms off the page are a finding, not a review.
    assert not review(grounded.provenance, grounded.findings).needs_review
    narrow = ReviewPolicy(must_ground=("total", "line_items.*"))
    assert not review(grounded.provenance, grounded.findings, narrow).needs_review
    error = Finding(rule="BR-CO-15", severity="error", message="m", fields=("total",))
    assert review(grounded.provenance, [error], ReviewPolicy(must_ground=())).fields == ("total",)
    warning = Finding(rule="IAI-DATE", severity="warning", message="m", fields=("issue_date",))
    assert not review(grounded.provenance, [warning], ReviewPolicy(must_ground=())).needs_review
    assert review(grounded.provenance, [warning], ReviewPolicy(must_ground=(), rules=("IAI-*",))).needs_review


def test_unknown_grounding_forces_review_only_when_asked() -> None:
    invoice = Invoice.model_validate({"total": "5.00"})
    blind = ground_invoice(invoice, [PageWords.from_raw(1, None, "none")]).provenance
    assert not review(blind, ()).needs_review
    assert review(blind, (), ReviewPolicy(unknown_needs_review=True)).needs_review


def test_an_ocr_misreading_of_one_character_is_approximate_on_ocr_pages_only() -> None:
    invoice = Invoice.model_validate({"line_items": [{"seller_item_id": "GTRWA5"}], "total": "193.77"})
    ocr = ground_invoice(invoice, [layer("Art GTRWAS", "Summe 193,07", kind="ocr")])
    item = ocr.provenance["line_items"][0]["seller_item_id"]
    assert (item.grounding, item.confidence, item.text) == ("approximate", "medium", "GTRWAS")
    # A number one digit off is the error grounding exists to catch, OCR page or not.
    assert ocr.provenance["total"].grounding == "ungrounded"
    assert [finding.fields for finding in ocr.findings] == [("total",)]
    only_ids = ReviewPolicy(must_ground=("line_items.*",))
    assert not review(ocr.provenance, ocr.findings, only_ids).needs_review
    strict_ids = ReviewPolicy(must_ground=("line_items.*",), approximate_needs_review=True)
    assert review(ocr.provenance, ocr.findings, strict_ids).needs_review
    text = ground_invoice(invoice, [layer("Art GTRWAS", "Summe 193,07")])
    assert {item.grounding for item in text.provenance.fields.values()} == {"ungrounded"}
    # Two characters off, or a short number one off, is not a match even on an OCR page.
    far = Invoice.model_validate({"line_items": [{"seller_item_id": "GTRWA5Q7"}], "total": "27.50"})
    assert {
        item.grounding for item in ground_invoice(far, [layer("GTRWAS 21,50", kind="ocr")]).provenance.fields.values()
    } == {"ungrounded"}
