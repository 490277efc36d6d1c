"""The EN 16931 arithmetic and sanity rules, one by one, on hand-written invoices."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from invoiceai.schema import Invoice, LineItem, PaymentDetails, TaxLine, validate
from invoiceai.schema.validation import RULES, minor_unit

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "invoice.json"


def sample() -> Invoice:
    return Invoice.model_validate_json(EXAMPLE.read_bytes())


def rules(invoice: Invoice) -> set[str]:
    return {finding.rule for finding in validate(invoice)}


def test_the_example_invoice_is_consistent() -> None:
    assert validate(sample()) == []


def test_br_co_10_subtotal_is_the_sum_of_line_amounts() -> None:
    invoice = sample()
    invoice.subtotal = Decimal("482.31")
    findings = [f for f in validate(invoice) if f.rule == "BR-CO-10"]
    assert len(findings) == 1
    assert "482.31" in findings[0].message and "482.30" in findings[0].message
    assert "subtotal" in findings[0].fields


def test_br_co_15_total() -> None:
    invoice = sample()
    invoice.total = Decimal("562.03")
    assert "BR-CO-15" in rules(invoice)


def test_br_co_14_tax_total_is_the_sum_of_the_breakdown() -> None:
    invoice = sample()
    invoice.tax_breakdown[0].tax_amount = Decimal("89.75")
    # One cent off 19 % of 472.30: within BR-CO-17's official ±1, so our own rounding check reports it.
    assert {"BR-CO-14", "IAI-TAX-ROUNDING"} <= rules(invoice)


def test_br_co_16_amount_due_with_prepayment_and_rounding() -> None:
    invoice = sample()
    invoice.amount_paid = Decimal("100.00")
    invoice.amount_due = Decimal("462.04")
    assert validate(invoice) == []
    invoice.rounding_amount = Decimal("0.01")
    assert "BR-CO-16" in rules(invoice)
    invoice.amount_due = Decimal("462.05")
    assert validate(invoice) == []


def test_tax_rounding_accepts_correct_rounding_only() -> None:
    line = TaxLine(rate=Decimal(19), taxable_amount=Decimal("472.30"), tax_amount=Decimal("89.74"))  # 89.737
    assert validate(Invoice(currency="EUR", tax_breakdown=[line])) == []
    line.tax_amount = Decimal("89.73")
    findings = validate(Invoice(currency="EUR", tax_breakdown=[line]))
    assert [(f.rule, f.severity) for f in findings] == [("IAI-TAX-ROUNDING", "warning")]


@pytest.mark.parametrize(
    ("tax", "fires"),
    [("89.74", False), ("88.74", False), ("90.74", False), ("88.73", True), ("90.75", True), ("-89.74", False)],
)
def test_br_co_17_allows_one_unit_as_the_official_rule(tax: str, fires: bool) -> None:
    # round(472.30 x 19 %) = 89.74; the official assertion allows |tax| within 1 of it (CII: <= 1).
    line = TaxLine(rate=Decimal(19), taxable_amount=Decimal("472.30"), tax_amount=Decimal(tax))
    assert ("BR-CO-17" in rules(Invoice(currency="EUR", tax_breakdown=[line]))) is fires


def test_br_co_17_with_a_rate_that_rounds_to_zero_needs_a_tax_that_rounds_to_zero() -> None:
    line = TaxLine(rate=Decimal("0.4"), taxable_amount=Decimal("1000"), tax_amount=Decimal("4.00"))
    assert "BR-CO-17" in rules(Invoice(currency="EUR", tax_breakdown=[line]))
    line.tax_amount = Decimal("0.49")
    assert "BR-CO-17" not in rules(Invoice(currency="EUR", tax_breakdown=[line]))


def test_line_amount_rule_accounts_for_line_allowances_and_charges() -> None:
    line = LineItem(quantity=Decimal(3), unit_price=Decimal("10.00"), amount=Decimal("27.00"))
    assert rules(Invoice(currency="EUR", line_items=[line])) == {"IAI-LINE-AMOUNT"}
    line.allowance_amount = Decimal("3.00")
    assert validate(Invoice(currency="EUR", line_items=[line])) == []
    finding = validate(Invoice(currency="EUR", line_items=[line.model_copy(update={"amount": Decimal("26")})]))[0]
    assert finding.severity == "warning"
    assert finding.fields[0] == "line_items[0].amount"


def test_tolerance_follows_the_currency_minor_unit() -> None:
    assert minor_unit("EUR") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal(1)
    assert minor_unit("BHD") == Decimal("0.001")
    assert minor_unit(None) == Decimal("0.01")
    yen = Invoice(currency="JPY", subtotal=Decimal(1000), tax_total=Decimal(100), total=Decimal(1100))
    assert validate(yen) == []
    yen.total = Decimal(1101)
    assert "BR-CO-15" in rules(yen)
    dinar = Invoice(currency="BHD", subtotal=Decimal("1.000"), tax_total=Decimal("0.100"), total=Decimal("1.101"))
    assert "BR-CO-15" in rules(dinar)


def test_credit_note_with_negative_amounts_satisfies_the_rules_with_signs() -> None:
    invoice = Invoice(
        document_type="credit_note",
        currency="EUR",
        line_items=[LineItem(quantity=Decimal(-2), unit_price=Decimal("50.00"), amount=Decimal("-100.00"))],
        tax_breakdown=[TaxLine(rate=Decimal(20), taxable_amount=Decimal("-100.00"), tax_amount=Decimal("-20.00"))],
        subtotal=Decimal("-100.00"),
        tax_total=Decimal("-20.00"),
        total=Decimal("-120.00"),
        amount_due=Decimal("-120.00"),
    )
    assert validate(invoice) == []
    invoice.total = Decimal("120.00")
    assert "BR-CO-15" in rules(invoice)


def test_due_date_before_issue_date() -> None:
    invoice = Invoice(issue_date=dt.date(2024, 3, 1), due_date=dt.date(2024, 2, 1))
    assert rules(invoice) == {"IAI-DUE-DATE"}


def test_unknown_currency_code() -> None:
    assert rules(Invoice(currency="XYZ")) == {"IAI-CURRENCY"}  # type: ignore[arg-type]
    assert validate(Invoice(currency="CHF")) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("DE89370400440532013000", True),
        ("GB29NWBK60161331926819", True),
        ("FR1420041010050500013M02606", True),
        ("DE89370400440532013001", False),
        ("DE8937040044053201300", False),
    ],
)
def test_iban_checksum(iban: str, ok: bool) -> None:
    findings = validate(Invoice(payment=PaymentDetails(iban=iban)))
    assert (findings == []) is ok
    if not ok:
        assert findings[0].rule == "IAI-IBAN" and findings[0].fields == ("payment.iban",)


def test_rules_skip_when_values_are_missing() -> None:
    partial = Invoice(
        subtotal=Decimal(10),
        line_items=[LineItem(amount=Decimal(4)), LineItem(amount=None)],
        tax_breakdown=[TaxLine(rate=Decimal(19), taxable_amount=None, tax_amount=Decimal(1))],
    )
    assert validate(partial) == []


def test_validation_includes_normalisation_findings_first() -> None:
    invoice = Invoice.model_validate({"total": "abc", "currency": "XYZ"})
    assert [finding.rule for finding in validate(invoice)] == ["IAI-NORMALIZE", "IAI-CURRENCY"]


def test_extreme_values_never_raise() -> None:
    # Normalisation drops such values; model_construct() skips it, so validate() still sees them.
    invoice = Invoice.model_construct(
        subtotal=Decimal("1E+999999"),
        tax_total=Decimal("1E+999999"),
        total=Decimal("-1E+999999"),
        tax_breakdown=[
            TaxLine.model_construct(
                rate=Decimal("1E+999999"), taxable_amount=Decimal("9E+999999"), tax_amount=Decimal(0)
            )
        ],
    )
    assert invoice.total == Decimal("-1E+999999")
    assert isinstance(validate(invoice), list)
    assert Invoice(total=Decimal("-1E+999999")).total is None


def test_every_rule_has_a_docstring_naming_its_rule_id() -> None:
    for rule in RULES:
        assert rule.__doc__ and rule.__doc__.split(":")[0].strip(), rule.__name__


def test_findings_serialise_to_json() -> None:
    invoice = sample()
    invoice.total = Decimal(1)
    payload = json.loads(json.dumps([finding.model_dump(mode="json") for finding in validate(invoice)]))
    assert payload[0]["rule"] == "BR-CO-15"
    assert set(payload[0]) == {"rule", "severity", "message", "fields"}
