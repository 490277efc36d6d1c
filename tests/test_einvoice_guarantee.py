"""The writing guarantee: ``to_xml`` writes XML that passes the official rules, or refuses naming rule and field.

One case per gap a review found outside the conformance files: totals without their lists,
the rules one syntax compares more strictly, split payment next to a derived S, amounts with
three decimals, optional groups given in part, and values outside the official code lists.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conformance import official_errors
from invoiceai.einvoice import to_xml
from invoiceai.errors import MissingFieldsError, RuleViolationError
from invoiceai.schema import Invoice, validate

SYNTAXES = ("cii", "ubl")


def _invoice(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_number": "R-1",
        "issue_date": "2026-01-31",
        "due_date": "2026-03-02",
        "currency": "EUR",
        "seller": {
            "name": "Seller GmbH",
            "vat_id": "DE123456789",
            "address": {"street": "A 1", "postal_code": "10115", "city": "Berlin", "country_code": "DE"},
        },
        "buyer": {"name": "Buyer SA", "vat_id": "FR12345678901", "address": {"city": "Paris", "country_code": "FR"}},
        "payment": {"iban": "DE89370400440532013000"},
        "line_items": [
            {"description": "A", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "19"}
        ],
        "tax_breakdown": [{"rate": "19", "taxable_amount": "100.00", "tax_amount": "19.00"}],
        "subtotal": "100.00",
        "tax_total": "19.00",
        "total": "119.00",
        "amount_due": "119.00",
    }
    data.update(copy.deepcopy(changes))
    return data


def _two_rates(**changes: Any) -> dict[str, Any]:
    lines = [
        {"description": "A", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "19"},
        {"description": "B", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "7"},
    ]
    return _invoice(line_items=lines, subtotal="200.00", **changes)


def _written(data: dict[str, Any], syntax: str) -> bytes:
    xml = to_xml(Invoice.model_validate(data), syntax)  # type: ignore[arg-type]
    assert official_errors(xml) == frozenset()
    return xml


# --- 1. Totals without their lists -----------------------------------------------------------------


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_charge_total_without_its_list_is_written_as_a_charge_in_the_only_row(syntax: str) -> None:
    data = _invoice(
        allowances=[{"amount": "10.00", "reason": "Rabatt"}],
        tax_breakdown=[{"rate": "19", "taxable_amount": "95.00", "tax_amount": "18.05"}],
        allowance_total="10.00",
        charge_total="5.00",
        tax_total="18.05",
        total="113.05",
        amount_due="113.05",
    )
    assert validate(Invoice.model_validate(data)) == []
    _written(data, syntax)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_totals_several_rows_cannot_split_are_refused_naming_bg_20_and_bg_21(syntax: str) -> None:
    data = _two_rates(
        tax_breakdown=[
            {"rate": "19", "taxable_amount": "95.00", "tax_amount": "18.05"},
            {"rate": "7", "taxable_amount": "100.00", "tax_amount": "7.00"},
        ],
        allowance_total="10.00",
        charge_total="5.00",
        tax_total="25.05",
        total="220.05",
        amount_due="220.05",
    )
    with pytest.raises(MissingFieldsError) as refused:
        to_xml(Invoice.model_validate(data), syntax)  # type: ignore[arg-type]
    assert [field.split(" (")[0] for field in refused.value.fields] == ["allowances", "charges"]
    assert "BG-20" in refused.value.fields[0]
    assert "BG-21" in refused.value.fields[1]
    forced = to_xml(Invoice.model_validate(data), syntax, force=True)  # type: ignore[arg-type]
    assert {"BR-CO-11", "BR-CO-12"} <= official_errors(forced)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_an_allowance_total_the_rows_show_is_split_over_them(syntax: str) -> None:
    data = _two_rates(
        tax_breakdown=[
            {"rate": "19", "taxable_amount": "90.00", "tax_amount": "17.10"},
            {"rate": "7", "taxable_amount": "100.00", "tax_amount": "7.00"},
        ],
        allowance_total="10.00",
        tax_total="24.10",
        total="214.10",
        amount_due="214.10",
    )
    _written(data, syntax)


def test_the_validator_checks_the_entries_the_writer_derives() -> None:
    # The charge total 5.00 goes into the only row, whose taxable amount does not include it.
    data = _invoice(charge_total="5.00", total="124.00", amount_due="124.00", total_without_tax="105.00")
    rules = {finding.rule for finding in validate(Invoice.model_validate(data)) if finding.severity == "error"}
    assert "BR-S-08" in rules


# --- 2. Where one syntax compares exactly ---------------------------------------------------------


def _s_rows_off_by_half() -> dict[str, Any]:
    lines = [
        {"description": "A", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "19"},
        {"description": "B", "quantity": "1", "unit_price": "50", "amount": "50.00", "tax_rate": "7"},
    ]
    rows = [
        {"rate": "19", "taxable_amount": "100.50", "tax_amount": "19.10"},
        {"rate": "7", "taxable_amount": "49.50", "tax_amount": "3.47"},
    ]
    return _invoice(
        line_items=lines, tax_breakdown=rows, subtotal="150.00", tax_total="22.57", total="172.57", amount_due="172.57"
    )


def test_s_rows_off_by_half_a_unit_are_refused_for_cii_and_written_as_ubl() -> None:
    invoice = Invoice.model_validate(_s_rows_off_by_half())
    assert {finding.severity for finding in validate(invoice) if "SUM" in finding.rule} == {"warning"}
    with pytest.raises(RuleViolationError) as refused:
        to_xml(invoice, "cii")
    assert [finding.rule for finding in refused.value.findings] == ["BR-S-08", "BR-S-08"]
    assert refused.value.findings[0].fields[0] == "tax_breakdown[0].taxable_amount"
    assert official_errors(to_xml(invoice, "ubl")) == frozenset()


def test_a_z_row_off_by_half_a_unit_is_refused_for_ubl_and_written_as_cii() -> None:
    data = _invoice(
        line_items=[
            {
                "description": "A",
                "quantity": "1",
                "unit_price": "100",
                "amount": "100.00",
                "tax_category": "Z",
                "tax_rate": "0",
            }
        ],
        tax_breakdown=[{"rate": "0", "taxable_amount": "100.50", "tax_amount": "0", "category": "Z"}],
        total_without_tax="100.00",
        tax_total="0",
        total="100.00",
        amount_due="100.00",
    )
    invoice = Invoice.model_validate(data)
    with pytest.raises(RuleViolationError, match="BR-Z-08"):
        to_xml(invoice, "ubl")
    assert official_errors(to_xml(invoice, "cii")) == frozenset()


def test_tax_off_by_exactly_one_unit_is_refused_for_ubl_under_br_co_17() -> None:
    data = _invoice(
        tax_breakdown=[{"rate": "0.5", "taxable_amount": "100.00", "tax_amount": "1.50", "category": "S"}],
        line_items=[{"description": "A", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "0.5"}],
        tax_total="1.50",
        total="101.50",
        amount_due="101.50",
    )
    invoice = Invoice.model_validate(data)
    with pytest.raises(RuleViolationError) as refused:
        to_xml(invoice, "ubl")
    assert "BR-CO-17" in {finding.rule for finding in refused.value.findings}
    assert "BR-CO-17" not in {finding.rule for finding in validate(invoice)}


# --- 3. Split payment next to a derived S -----------------------------------------------------------


def test_br_b_02_sees_a_row_whose_s_category_is_derived() -> None:
    italy = {"street": "Via 1", "city": "Roma", "postal_code": "00100", "country_code": "IT"}
    data = _invoice(
        seller={"name": "S srl", "vat_id": "IT12345678901", "address": italy},
        buyer={"name": "Comune", "address": italy},
        line_items=[
            {
                "description": "A",
                "quantity": "1",
                "unit_price": "100",
                "amount": "100.00",
                "tax_rate": "22",
                "tax_category": "B",
            },
            {"description": "B", "quantity": "1", "unit_price": "100", "amount": "100.00", "tax_rate": "10"},
        ],
        tax_breakdown=[
            {"rate": "22", "taxable_amount": "100.00", "tax_amount": "22.00", "category": "B"},
            {"rate": "10", "taxable_amount": "100.00", "tax_amount": "10.00"},
        ],
        subtotal="200.00",
        tax_total="32.00",
        total="232.00",
        amount_due="232.00",
    )
    assert "BR-B-02" in {finding.rule for finding in validate(Invoice.model_validate(data))}


# --- 4. Two decimals at most ------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_an_amount_with_three_decimals_is_refused_never_rounded(syntax: str) -> None:
    data = _invoice(
        line_items=[{"description": "A", "quantity": "3", "unit_price": "3.375", "amount": "10.125", "tax_rate": "19"}],
        tax_breakdown=[{"rate": "19", "taxable_amount": "10.13", "tax_amount": "1.92"}],
        subtotal="10.13",
        tax_total="1.92",
        total="12.05",
        amount_due="12.05",
    )
    with pytest.raises(RuleViolationError) as refused:
        to_xml(Invoice.model_validate(data), syntax)  # type: ignore[arg-type]
    assert [(f.rule, f.fields) for f in refused.value.findings if f.rule.startswith("BR-DEC")] == [
        ("BR-DEC-23", ("line_items[0].amount",))
    ]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_surplus_zeros_are_written_as_two_decimals(syntax: str) -> None:
    data = _invoice(subtotal="100.000", total="119.0000", amount_due="119.00000")
    _written(data, syntax)


# --- 5 and 6. Optional groups, code lists: refused in plan(), the same for both syntaxes ----------

MISSING = [
    ({"tax_representative": {"name": "Rep", "vat_id": "DE999999999"}}, "tax_representative.address.country_code"),
    ({"tax_representative": {"vat_id": "DE999999999", "address": {"country_code": "DE"}}}, "tax_representative.name"),
    ({"tax_representative": {"name": "Rep", "address": {"country_code": "DE"}}}, "tax_representative.vat_id"),
    ({"payee": {"identifier": "X1"}}, "payee.name"),
    ({"payment": {"means_code": "58"}}, "payment.iban"),
    ({"tax_currency": "USD"}, "tax_total_in_tax_currency"),
    ({"delivery": {"party_name": "Lager", "address": {"city": "Köln"}}}, "delivery.address.country_code"),
]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize(("changes", "field"), MISSING, ids=[field for _, field in MISSING])
def test_an_incomplete_optional_group_is_refused_naming_field_and_rule(
    changes: dict[str, Any], field: str, syntax: str
) -> None:
    with pytest.raises(MissingFieldsError) as refused:
        to_xml(Invoice.model_validate(_invoice(**changes)), syntax)  # type: ignore[arg-type]
    (named,) = refused.value.fields
    assert named.startswith(f"{field} (BT-")
    assert ": BR-" in named
    assert "force=True" in str(refused.value)


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize(
    ("term", "field"),
    [("seller.electronic_address", "seller.electronic_address_scheme"), ("standard_item_id", "standard_item_id")],
)
def test_an_identifier_without_its_scheme_is_refused_by_both_writers(term: str, field: str, syntax: str) -> None:
    data = _invoice()
    if term == "standard_item_id":
        data["line_items"][0]["standard_item_id"] = "4012345678901"
    else:
        data["seller"]["electronic_address"] = "0088:4012345678901"
    with pytest.raises(MissingFieldsError) as refused:
        to_xml(Invoice.model_validate(data), syntax)  # type: ignore[arg-type]
    assert field in refused.value.fields[0]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_an_e_mail_address_gets_scheme_em(syntax: str) -> None:
    data = _invoice()
    data["seller"]["electronic_address"] = "billing@seller.example"
    _written(data, syntax)


WRONG = [
    ({"invoicing_period": {"start": "2026-02-01", "end": "2026-01-01"}}, "BR-29", "invoicing_period.start"),
    (
        {
            "seller": {
                "name": "S",
                "vat_id": "DE123456789",
                "identifier": "1",
                "identifier_scheme": "XYZ",
                "address": {"country_code": "DE"},
            }
        },
        "BR-CL-10",
        "seller.identifier_scheme",
    ),
    ({"currency": "XYZ"}, "BR-CL-04", "currency"),
]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize(("changes", "rule", "field"), WRONG, ids=[rule for _, rule, _ in WRONG])
def test_a_wrong_value_is_refused_naming_rule_and_field(
    changes: dict[str, Any], rule: str, field: str, syntax: str
) -> None:
    with pytest.raises(RuleViolationError) as refused:
        to_xml(Invoice.model_validate(_invoice(**changes)), syntax)  # type: ignore[arg-type]
    assert (rule, field) in {(finding.rule, finding.fields[0]) for finding in refused.value.findings}


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_negative_net_price_and_a_reversed_line_period_are_refused(syntax: str) -> None:
    data = _invoice()
    data["line_items"][0]["period"] = {"start": "2026-02-01", "end": "2026-01-01"}
    data["line_items"].append(
        {"description": "Rabatt", "quantity": "1", "unit_price": "-10", "amount": "-10.00", "tax_rate": "19"}
    )
    data["subtotal"] = "90.00"
    data["tax_breakdown"][0].update(taxable_amount="90.00", tax_amount="17.10")
    data.update(tax_total="17.10", total="107.10", amount_due="107.10")
    with pytest.raises(RuleViolationError) as refused:
        to_xml(Invoice.model_validate(data), syntax)  # type: ignore[arg-type]
    found = {(finding.rule, finding.fields[0]) for finding in refused.value.findings}
    assert found == {("BR-27", "line_items[1].unit_price"), ("BR-30", "line_items[0].period.start")}
