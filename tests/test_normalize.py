"""Normalisation of values as printed into canonical values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoiceai.schema import Invoice, LineItem
from invoiceai.schema.normalize import (
    AmbiguousValueError,
    NormalizationError,
    normalize_bic,
    normalize_country,
    normalize_currency,
    normalize_document_type,
    normalize_iban,
    normalize_vat_id,
    parse_date,
    parse_decimal,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56 €", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("CHF 1'234.50", "1234.50"),
        ("€12,50", "12.50"),
        ("12.50 EUR", "12.50"),
        ("US$ 99.99", "99.99"),
        ("Rs. 1,200.00", "1200.00"),
        ("(12.00)", "-12.00"),
        ("12.00-", "-12.00"),
        ("-3.5", "-3.5"),
        ("\u221212,00", "-12.00"),
        ("12,-", "12"),
        ("1.234.567", "1234567"),
        ("1,234,567.89", "1234567.89"),
        ("1.234.567,89", "1234567.89"),
        ("1,23,45,678.90", "12345678.90"),
        ("1,234", "1234"),
        ("0,123", "0.123"),
        ("12,5", "12.5"),
        ("0.10", "0.10"),
        ("1e3", "1E+3"),
        (7, "7"),
        (0.1, "0.1"),
        (Decimal("1.10"), "1.10"),
    ],
)
def test_parse_decimal_reads_every_common_locale(raw: object, expected: str) -> None:
    value = parse_decimal(raw)
    assert str(value) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12,34,5", "", "--", "NaN", float("nan"), float("inf"), True, [1]])
def test_parse_decimal_refuses_what_is_not_a_number(raw: object) -> None:
    with pytest.raises(NormalizationError):
        parse_decimal(raw)


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        ("2024-01-31", None, dt.date(2024, 1, 31)),
        ("2024-01-31T10:00:00Z", None, dt.date(2024, 1, 31)),
        ("20240131", None, dt.date(2024, 1, 31)),
        ("31.01.2024", None, dt.date(2024, 1, 31)),
        ("31.01.24", None, dt.date(2024, 1, 31)),
        ("13/02/2024", None, dt.date(2024, 2, 13)),
        ("02/13/2024", None, dt.date(2024, 2, 13)),
        ("01/02/2024", "DMY", dt.date(2024, 2, 1)),
        ("01/02/2024", "MDY", dt.date(2024, 1, 2)),
        ("05/05/2024", None, dt.date(2024, 5, 5)),
        ("31 January 2024", None, dt.date(2024, 1, 31)),
        ("Jan 31, 2024", None, dt.date(2024, 1, 31)),
        ("3. März 2024", None, dt.date(2024, 3, 3)),
        ("15 févr. 2024", None, dt.date(2024, 2, 15)),
        (dt.datetime(2024, 1, 31, 23, 59), None, dt.date(2024, 1, 31)),
    ],
)
def test_parse_date(raw: object, order: str | None, expected: dt.date) -> None:
    assert parse_date(raw, order=order) == expected  # type: ignore[arg-type]


def test_ambiguous_numeric_date_is_refused_without_an_order() -> None:
    with pytest.raises(AmbiguousValueError) as info:
        parse_date("01/02/2024")
    assert info.value.candidates == ("DMY", "MDY")


@pytest.mark.parametrize("raw", ["2024-02-30", "yesterday", "31.13.2024", "", 20240131])
def test_parse_date_refuses_non_dates(raw: object) -> None:
    with pytest.raises(NormalizationError):
        parse_date(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("€", "EUR"), ("eur", "EUR"), ("Euro", "EUR"), ("£", "GBP"), ("US$", "USD"), ("CHF", "CHF"), ("zł", "PLN")],
)
def test_currency_symbols_and_names_become_iso_codes(raw: str, expected: str) -> None:
    assert normalize_currency(raw) == expected


def test_dollar_alone_is_ambiguous_unless_told() -> None:
    with pytest.raises(AmbiguousValueError):
        normalize_currency("$")
    assert normalize_currency("$", hint="CAD") == "CAD"
    with pytest.raises(AmbiguousValueError):
        normalize_currency("$", hint="EUR")  # a hint that is not one of the readings does not apply


def test_identifiers_are_stripped_and_upper_cased() -> None:
    assert normalize_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert normalize_iban("IBAN: DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert normalize_vat_id("de 123 456 789") == "DE123456789"
    assert normalize_vat_id("CHE-123.456.789 MWST") == "CHE123456789MWST"
    assert normalize_bic("cobade ffxxx") == "COBADEFFXXX"
    assert normalize_country("Deutschland") == "DE"
    assert normalize_country("uk") == "GB"
    with pytest.raises(NormalizationError):
        normalize_country("Atlantis")
    with pytest.raises(NormalizationError):
        normalize_iban("not an iban")


def test_german_gutschrift_is_not_a_credit_note() -> None:
    assert normalize_document_type("Gutschrift") == "invoice"
    assert normalize_document_type("Credit Note") == "credit_note"
    assert normalize_document_type("381") == "credit_note"
    assert normalize_document_type("Pro-forma") == "proforma"


def test_invoice_normalises_strings_and_reports_what_it_drops() -> None:
    invoice = Invoice.model_validate(
        {
            "currency": "€",
            "issue_date": "31.01.2024",
            "due_date": "01/02/2024",
            "total": "1.234,56",
            "seller": {"vat_id": "de 123 456 789", "address": {"country_code": "Germany"}},
            "line_items": [{"amount": "twelve", "quantity": "2"}],
            "payment": {"iban": "de89 3704 0044 0532 0130 00"},
        }
    )
    assert invoice.currency == "EUR"
    assert invoice.issue_date == dt.date(2024, 1, 31)
    assert invoice.total == Decimal("1234.56")
    assert invoice.seller.vat_id == "DE123456789"
    assert invoice.seller.address.country_code == "DE"
    assert invoice.payment.iban == "DE89370400440532013000"
    assert invoice.line_items[0].quantity == Decimal(2)
    assert invoice.due_date is None
    assert invoice.line_items[0].amount is None
    dropped = {finding.fields[0]: finding for finding in invoice.normalization_findings}
    assert set(dropped) == {"due_date", "line_items[0].amount"}
    assert "'twelve'" in dropped["line_items[0].amount"].message


def test_dollar_is_resolved_from_the_seller_country_or_the_context() -> None:
    us = Invoice.model_validate({"currency": "$", "seller": {"address": {"country_code": "US"}}})
    assert us.currency == "USD"
    told = Invoice.model_validate({"currency": "$"}, context={"currency": "AUD"})
    assert told.currency == "AUD"
    unknown = Invoice.model_validate({"currency": "$"})
    assert unknown.currency is None
    assert unknown.normalization_findings[0].fields == ("currency",)


def test_date_order_from_context() -> None:
    invoice = Invoice.model_validate({"issue_date": "03/04/2024"}, context={"date_order": "MDY"})
    assert invoice.issue_date == dt.date(2024, 3, 4)


def test_empty_markers_become_null_and_placeholders_are_reported() -> None:
    invoice = Invoice.model_validate({"invoice_number": "  ", "total": "n/a", "due_date": "-", "notes": ""})
    assert (invoice.invoice_number, invoice.total, invoice.due_date, invoice.notes) == (None, None, None, None)
    # Empty strings stay silent; a placeholder is said, with its field and what was written.
    findings = invoice.normalization_findings
    assert [(f.rule, f.severity, f.fields) for f in findings] == [  # in the model's field order
        ("IAI-PLACEHOLDER", "info", ("due_date",)),
        ("IAI-PLACEHOLDER", "info", ("total",)),
    ]
    assert "'-'" in findings[0].message and "'n/a'" in findings[1].message


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "--", "-", "—", "/", "none", "null", " NULL "])
def test_every_placeholder_gives_an_info_finding_with_its_path(placeholder: str) -> None:
    invoice = Invoice.model_validate({"seller": {"vat_id": placeholder}, "line_items": [{"amount": placeholder}]})
    assert invoice.seller.vat_id is None and invoice.line_items[0].amount is None
    assert [f.fields for f in invoice.normalization_findings] == [("seller.vat_id",), ("line_items[0].amount",)]
    assert all(placeholder.strip() in f.message for f in invoice.normalization_findings)


def test_parts_normalise_on_their_own_and_on_assignment() -> None:
    line = LineItem(amount="1.234,50", tax_rate="19 %")  # type: ignore[arg-type]
    assert line.amount == Decimal("1234.50")
    assert line.tax_rate == Decimal(19)
    line.unit_price = "bogus"  # type: ignore[assignment]
    assert line.unit_price is None


def test_unknown_three_letter_currency_is_kept_for_validation_to_flag() -> None:
    assert Invoice(currency="xyz").currency == "XYZ"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(".5", "0.5"), ("$.99", "0.99"), ("€,50", "0.50"), ("-.25", "-0.25"), ("(.50)", "-0.50"), ("Rs.500", "500")],
)
def test_a_leading_decimal_separator_is_not_dropped(raw: str, expected: str) -> None:
    # ".99" read as 99 would multiply the amount by a hundred.
    assert str(parse_decimal(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    ["1e999999999", "1e999999999999999999999", "1e-999999999", 10**5000, 1e300],
    ids=["1e999999999", "beyond-decimal-limits", "1e-999999999", "int-5001-digits", "float-1e300"],
)
def test_absurd_magnitudes_are_refused_not_expanded(raw: object) -> None:
    # "1e999999999" would later be written out as a billion digits by validate() and to_xml().
    with pytest.raises(NormalizationError):
        parse_decimal(raw)
    invoice = Invoice.model_validate({"total": raw, "line_items": [{"amount": raw}]})
    assert (invoice.total, invoice.line_items[0].amount) == (None, None)
    assert {finding.fields[0] for finding in invoice.normalization_findings} == {"total", "line_items[0].amount"}
    assert LineItem(amount=raw).amount is None  # type: ignore[arg-type]


def test_text_too_long_to_print_as_a_number_is_dropped_not_raised() -> None:
    invoice = Invoice.model_validate({"invoice_number": 10**5000, "seller": {"address": {"postal_code": 10**5000}}})
    assert invoice.invoice_number is None and invoice.seller.address.postal_code is None
    assert [finding.fields[0] for finding in invoice.normalization_findings] == [
        "invoice_number",
        "seller.address.postal_code",
    ]
    assert LineItem(description=10**5000).description is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "2024-12-31 00:00:00",
        "2024-12-31 23:59",
        "2024-12-31T00:00:00+01:00",
        "2024-12-31Z",
        "2024-12-31+01:00",
        "31.12.2024 10:00",
        "12/31/2024 10:00 AM",
        "31 December 2024 18:30:00",
    ],
)
def test_dates_with_a_time_or_zone_keep_their_date(raw: str) -> None:
    assert parse_date(raw) == dt.date(2024, 12, 31)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Yen", "JPY"), ("RMB", "CNY"), ("SFr", "CHF"), ("NIS", "ILS"), ("Dhs", "AED"), ("Lei", "RON"), ("KSh", "KES")],
)
def test_three_letter_currency_names_map_to_their_iso_code(raw: str, expected: str) -> None:
    # Not kept as the made-up codes "YEN", "RMB", ... that validation would then flag.
    assert normalize_currency(raw) == expected


def test_year_first_order_is_followed_for_two_digit_years() -> None:
    assert parse_date("24/12/31", order="YMD") == dt.date(2024, 12, 31)
    assert parse_date("24-01-02", order="YMD") == dt.date(2024, 1, 2)
    assert Invoice.model_validate({"issue_date": "24/12/31"}, context={"date_order": "YMD"}).issue_date == dt.date(
        2024, 12, 31
    )
