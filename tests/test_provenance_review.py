"""Review that a person can live with: derived amounts, errors the page explains, the default policy, rechecks."""

from __future__ import annotations

from typing import Any

from invoiceai import Invoice
from invoiceai.provenance import ReviewPolicy, ground_invoice, review
from invoiceai.provenance.recheck import recheck
from invoiceai.schema.validation import validate
from test_provenance import layer

PAGE = ("Invoice R-7", "Widget 2 x 10,00 20,00", "Gadget 1 x 5,00 5,00", "VAT 19 % 4,75", "Total 29,75 EUR")
BASE: dict[str, Any] = {
    "invoice_number": "R-7", "currency": "EUR",
    "line_items": [
        {"description": "Widget", "quantity": "2", "unit_price": "10.00", "amount": "20.00"},
        {"description": "Gadget", "quantity": "1", "unit_price": "5.00", "amount": "5.00"},
    ],
    "tax_breakdown": [{"rate": "19", "taxable_amount": "25.00", "tax_amount": "4.75"}],
    "tax_total": "4.75", "total": "29.75",
}  # fmt: skip


def grounded(data: dict[str, Any], *lines: str) -> Any:
    invoice = Invoice.model_validate(data)
    return ground_invoice(invoice, [layer(*(lines or PAGE))], validate(invoice))


def test_amounts_that_follow_from_printed_ones_are_derived_not_ungrounded() -> None:
    # An allowance total of 0.00 is not among them: it is what a dropped allowance looks like (test_provenance_derive).
    data = {**BASE, "subtotal": "25.00", "total_without_tax": "25.00", "amount_paid": "0.00", "amount_due": "29.75"}
    result = grounded(data)
    fields = result.provenance.fields
    assert fields["amount_due"].grounding == "grounded"  # printed as the total
    for path in ("subtotal", "total_without_tax", "amount_paid"):
        assert (fields[path].grounding, fields[path].confidence, fields[path].box) == ("derived", "high", None), path
    assert "BR-CO-10" in fields["subtotal"].evidence[-1] and result.findings == ()
    assert not review(result.provenance, result.findings, ReviewPolicy.strict()).needs_review


def test_a_value_off_by_a_cent_or_a_sign_is_not_derived() -> None:
    for changed in ({"subtotal": "25.01"}, {"subtotal": "-25.00"}, {"allowance_total": "1.00"}, {"amount_due": "29"}):
        result = grounded({**BASE, "total_without_tax": "25.00", **changed})
        (path,) = changed
        assert result.provenance[path].grounding == "ungrounded", changed
        assert review(result.provenance, result.findings).needs_review


def test_two_unknowns_in_one_relation_prove_nothing() -> None:
    # 20.00 = 2 x 10.00 - 4.00 + 4.00 holds, but nothing pins the allowance and the charge apart.
    lines = [{**BASE["line_items"][0], "allowance_amount": "4.00", "charge_amount": "4.00"}, BASE["line_items"][1]]
    result = grounded({**BASE, "line_items": lines})
    item = result.provenance["line_items"][0]
    assert (item["allowance_amount"].grounding, item["charge_amount"].grounding) == ("ungrounded", "ungrounded")
    # One of them printed in the row pins the other: 17.00 = 2 x 10.00 - 4.00 + 1.00.
    lines[0].update(charge_amount="1.00", amount="17.00")
    page = ("Invoice R-7", "Widget 2 x 10,00 Rabatt 4,00 17,00", *PAGE[2:])
    pinned = grounded({**BASE, "line_items": lines}, *page).provenance["line_items"][0]
    # A charge that merely balances the row is not printed: a product relation pins only its result.
    assert (pinned["allowance_amount"].grounding, pinned["charge_amount"].grounding) == ("grounded", "ungrounded")


def test_a_zero_rate_pins_no_taxable_amount() -> None:
    rows = [{"rate": "0", "taxable_amount": "2076.76", "tax_amount": "0.00"}]
    result = grounded({**BASE, "tax_breakdown": rows, "tax_total": None}, *PAGE, "VAT 0 % 0,00")
    assert result.provenance["tax_breakdown[0].taxable_amount"].grounding == "ungrounded"


def test_an_iban_printed_with_a_wrong_check_digit_is_the_documents_error() -> None:
    wrong = "DE89370400440532013001"  # one digit off the textbook IBAN: fails mod 97
    printed = grounded({**BASE, "payment": {"iban": wrong}}, *PAGE, f"IBAN {wrong}")
    assert "IAI-IBAN" in {finding.rule for finding in validate(Invoice.model_validate({"payment": {"iban": wrong}}))}
    iban = printed.provenance["payment"]["iban"]
    assert (iban.grounding, iban.confidence) == ("grounded", "medium")
    findings = [*validate(Invoice.model_validate({**BASE, "payment": {"iban": wrong}})), *printed.findings]
    assert not review(printed.provenance, findings).needs_review
    assert review(printed.provenance, findings, ReviewPolicy(explained_need_review=True)).needs_review
    elsewhere = grounded({**BASE, "payment": {"iban": wrong}}, *PAGE, "IBAN DE89370400440532013000")
    assert review(elsewhere.provenance, [*findings, *elsewhere.findings]).needs_review


def test_line_amounts_that_include_vat_explain_br_co_13() -> None:
    page = ("Widget 2 x 11,90 23,80", "Gadget 1 x 5,95 5,95", "Net 25,00", "VAT 4,75", "Total 29,75")
    lines = [
        {"description": "Widget", "quantity": "2", "unit_price": "11.90", "amount": "23.80"},
        {"description": "Gadget", "quantity": "1", "unit_price": "5.95", "amount": "5.95"},
    ]
    data = {"line_items": lines, "total_without_tax": "25.00", "tax_total": "4.75", "total": "29.75"}
    result = grounded(data, *page)
    findings = [*validate(Invoice.model_validate(data)), *result.findings]
    assert "BR-CO-13" in {finding.rule for finding in findings}
    assert not review(result.provenance, findings).needs_review
    assert result.provenance["total_without_tax"].confidence == "medium"
    # Lines that add up to neither total are not explained.
    data["line_items"][1]["amount"] = "5.00"
    other = grounded(data, *page, "5,00")
    assert review(other.provenance, [*validate(Invoice.model_validate(data)), *other.findings]).needs_review


def test_the_default_policy_reviews_money_not_prose() -> None:
    note = grounded({**BASE, "notes": "Thank you", "payment": {"terms": "30 days"}})
    assert [finding.fields for finding in note.findings] == [("payment.terms",)]  # notes are never checked
    assert not review(note.provenance, note.findings).needs_review
    money = grounded({**BASE, "total": "29.57"})
    assert review(money.provenance, money.findings).fields[0] == "total"


def test_a_recheck_confirms_settled_values_and_makes_the_findings_again() -> None:
    before = Invoice.model_validate({**BASE, "total": "92.75"})
    first = ground_invoice(before, [layer(*PAGE)], validate(before))
    findings = [*validate(before), *first.findings]
    assert review(first.provenance, findings).needs_review
    after = Invoice.model_validate(BASE)
    again = recheck(after, before, first.provenance, findings, {"total": "correct"})
    total = again.provenance["total"]
    assert (total.grounding, total.confidence, total.value, total.doubt) == ("confirmed", "high", "29.75",
                                                                             "corrected by a person")  # fmt: skip
    assert not [finding for finding in again.findings if "total" in finding.fields]
    assert not review(again.provenance, again.findings).needs_review
    # Confirming a wrong value settles that value only: the arithmetic still names the others.
    kept = recheck(before, before, first.provenance, findings, {"total": "confirm"})
    assert kept.provenance["total"].matches == first.provenance["total"].matches
    assert review(kept.provenance, kept.findings).needs_review
    assert "total" not in review(kept.provenance, kept.findings).fields
