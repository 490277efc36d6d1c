"""The matcher's rules against the errors a model makes: signs, swapped dates, numbers inside numbers, rows."""

from __future__ import annotations

from typing import Any

import pytest

from invoiceai import Invoice
from invoiceai.provenance import FieldProvenance, PageWords, ground_invoice

CENTS = "Subtotal 99,99"  # a line with an amount: the page prints cents, as nearly every invoice does


def layer(*lines: str, gap: float = 0.01, height: float = 0.02, spacing: float = 0.03) -> PageWords:
    """Words of ``lines``, one line per row, each word 0.05 wide, ``gap`` apart."""
    words = []
    for row, line in enumerate(lines):
        for column, text in enumerate(line.split()):
            x, y = 0.05 + (0.05 + gap) * column, 0.05 + spacing * row
            words.append((text, x, y, x + 0.05, y + height))
    return PageWords.from_raw(1, words, "text")


def fields(data: dict[str, Any], *lines: str, **options: float) -> dict[str, FieldProvenance]:
    return dict(ground_invoice(Invoice.model_validate(data), [layer(*lines, **options)]).provenance.fields)


def grounding(data: dict[str, Any], *lines: str, **options: float) -> dict[str, str]:
    return {path: item.grounding for path, item in fields(data, *lines, **options).items()}


# -- signs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("printed", ["Total -12,50", "Total (12.50)", "Total 12,50-", "Total \u221212.50"])
def test_a_positive_amount_does_not_ground_on_a_negative_print(printed: str) -> None:
    found = fields({"total": "12.50"}, printed, CENTS)["total"]
    assert found.grounding == "ungrounded"
    assert any("negative" in phrase for phrase in found.evidence)
    assert fields({"total": "-12.50"}, printed, CENTS)["total"].confidence == "high"


def test_a_negative_amount_printed_without_a_sign_is_not_grounded() -> None:
    assert grounding({"total": "-12.50"}, "Total 12,50", CENTS)["total"] == "ungrounded"


def test_credit_notes_and_deductions_ground_on_either_sign_a_missing_minus_at_most_medium() -> None:
    credit = fields({"document_type": "credit_note", "total": "-12.50"}, "Gutschrift 12,50", CENTS)["total"]
    assert (credit.grounding, credit.confidence) == ("grounded", "medium")
    assert grounding({"document_type": "credit_note", "total": "12.50"}, "Gutschrift -12,50")["total"] == "grounded"
    found = grounding({"allowances": [{"amount": "5.00"}], "allowance_total": "5.00"}, "Rabatt -5,00", CENTS)
    assert found == {"allowances[0].amount": "grounded", "allowance_total": "grounded"}


# -- day and month ---------------------------------------------------------------------------------


def test_a_dotted_date_is_day_first() -> None:
    assert grounding({"issue_date": "2024-05-03"}, "Datum 05.03.2024")["issue_date"] == "ungrounded"
    assert grounding({"issue_date": "2024-03-05"}, "Datum 05.03.2024")["issue_date"] == "grounded"


@pytest.mark.parametrize("separator", ["/", "-"])
def test_another_date_on_the_page_settles_the_order(separator: str) -> None:
    page = [f"Date 05{separator}03{separator}2024", f"Due 25{separator}03{separator}2024"]
    assert grounding({"issue_date": "2024-05-03"}, *page)["issue_date"] == "ungrounded"
    assert fields({"issue_date": "2024-03-05"}, *page)["issue_date"].confidence == "high"
    us = [f"Date 05{separator}03{separator}2024", f"Due 05{separator}25{separator}2024"]
    assert grounding({"issue_date": "2024-03-05"}, *us)["issue_date"] == "ungrounded"
    assert fields({"issue_date": "2024-05-03"}, *us)["issue_date"].confidence == "high"


def test_an_ambiguous_date_is_medium_and_the_currency_prefers_an_order() -> None:
    alone = fields({"issue_date": "2024-05-03"}, "Date 05/03/2024")["issue_date"]
    assert (alone.grounding, alone.confidence) == ("grounded", "medium")
    assert any("swapped" in phrase for phrase in alone.evidence)
    assert fields({"currency": "EUR", "issue_date": "2024-03-05"}, "Date 05/03/2024")["issue_date"].confidence == "high"
    assert fields({"currency": "EUR", "issue_date": "2024-05-03"}, "Date 05/03/2024")["issue_date"].confidence == (
        "medium"
    )
    assert fields({"currency": "USD", "issue_date": "2024-05-03"}, "Date 05/03/2024")["issue_date"].confidence == "high"


@pytest.mark.parametrize(
    "printed", ["Mar 5th, 2024", "5th March 2024", "March 5th, 2024", "2024.03.05", "Mar-05-2024", "March 5 2024"]
)
def test_more_date_forms_are_found(printed: str) -> None:
    assert grounding({"issue_date": "2024-03-05"}, f"Date {printed}")["issue_date"] == "grounded"


# -- numbers inside other numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "printed",
    ["Date 10/03/2024", "Date 10-03-2024", "Time 10:30", "Qty 10 pcs", "VAT 10 %", "Total 10,000", "Gesamt 10.000",
     "Invoice 3/1/2024"],
)  # fmt: skip
def test_an_amount_is_not_found_in_dates_times_counts_or_thousands(printed: str) -> None:
    assert grounding({"total": "10.00"}, printed, CENTS)["total"] == "ungrounded"


def test_whole_amounts_ground_as_bare_integers_only_on_pages_without_cents() -> None:
    assert grounding({"total": "1500"}, "Total 1,500 JPY")["total"] == "grounded"
    assert grounding({"total": "1500"}, "Total 1,500 JPY", CENTS)["total"] == "ungrounded"
    assert grounding({"total": "10.00"}, "Total 10,- EUR", CENTS)["total"] == "grounded"


@pytest.mark.parametrize(("value", "printed"), [("5", "Art SFK5"), ("4", "Format A4"), ("4", "Code 55T04")])
def test_a_quantity_is_not_found_glued_to_letters_of_a_code(value: str, printed: str) -> None:
    assert grounding({"line_items": [{"quantity": value}]}, printed)["line_items[0].quantity"] == "ungrounded"


@pytest.mark.parametrize(("value", "printed"), [("5", "Weight 5kg"), ("1234.56", "Total EUR1.234,56")])
def test_a_number_glued_to_a_unit_or_a_currency_is_found(value: str, printed: str) -> None:
    data = {"line_items": [{"quantity": value}]} if "kg" in printed else {"total": value}
    assert set(grounding(data, printed).values()) == {"grounded"}


# -- words joined into one number -----------------------------------------------------------------


def test_numbers_in_neighbouring_columns_or_lines_are_not_one_number() -> None:
    assert grounding({"line_items": [{"quantity": "11"}]}, "1 1,0000 Stk")["line_items[0].quantity"] == "ungrounded"
    assert grounding({"total": "12.00"}, "Pos 1", "2,00 EUR")["total"] == "ungrounded"
    assert grounding({"total": "150.00"}, "Seite 1", "50,00")["total"] == "ungrounded"


def test_thousands_split_over_words_join_only_close_on_one_line() -> None:
    assert grounding({"total": "1234.56"}, "Total 1 234,56")["total"] == "grounded"
    assert grounding({"total": "1234.56"}, "Total 1 234,56", gap=0.2)["total"] == "ungrounded"
    assert grounding({"total": "1234.56"}, "Total 1", "234,56")["total"] == "ungrounded"


# -- line items in their rows ---------------------------------------------------------------------

TABLE = ["Pos Description Qty Price Amount", "1 Apples 2 3.00 6.00", "2 Pears 5 1.20 6.00", "3 Plums 1 9.99 9.99",
         "Seller Fruit Trading GmbH Total 21.99"]  # fmt: skip
ITEMS = [
    {"description": "Apples", "quantity": "2", "unit_price": "3.00", "amount": "6.00"},
    {"description": "Pears", "quantity": "5", "unit_price": "1.20", "amount": "6.00"},
    {"description": "Plums", "quantity": "1", "unit_price": "9.99", "amount": "9.99"},
]


def test_line_item_values_are_grounded_in_their_own_rows() -> None:
    found = fields({"line_items": ITEMS}, *TABLE)
    assert {item.grounding for item in found.values()} == {"grounded"}
    assert found["line_items[1].amount"].box.y0 == found["line_items[1].description"].box.y0


def test_a_value_from_another_row_is_not_grounded() -> None:
    moved = [{**ITEMS[0], "unit_price": "1.20"}, {**ITEMS[1], "quantity": "1"}, ITEMS[2]]
    found = fields({"line_items": moved}, *TABLE)
    assert found["line_items[0].unit_price"].grounding == "ungrounded"
    assert found["line_items[1].quantity"].grounding == "ungrounded"
    assert any("row" in phrase for phrase in found["line_items[0].unit_price"].evidence)
    assert {found[f"line_items[2].{name}"].grounding for name in ITEMS[2]} == {"grounded"}


def test_rows_whose_numbers_are_printed_above_their_description() -> None:
    table = ["GTIN Qty Price Amount", "Description", "4001 2 3.00 6.00", "Apples green", "4002 5 1.20 6.00",
             "Pears", "4003 1 9.99 9.99", "Plums"]  # fmt: skip
    items = [{**ITEMS[0], "description": "Apples green"}, ITEMS[1], ITEMS[2]]
    assert {item.grounding for item in fields({"line_items": items}, *table).values()} == {"grounded"}
    moved = [items[0], {**items[1], "unit_price": "9.99"}, items[2]]
    assert fields({"line_items": moved}, *table)["line_items[1].unit_price"].grounding == "ungrounded"


def test_a_description_is_not_pieced_together_from_words_all_over_the_page() -> None:
    assert grounding({"line_items": [{"description": "Trading Plums Total"}]}, *TABLE) == {
        "line_items[0].description": "ungrounded"
    }
    assert grounding({"line_items": [{"description": "Fruit Trading"}]}, *TABLE) == {
        "line_items[0].description": "grounded"
    }


def test_rows_of_a_tilted_scan_are_followed_along_their_tilt() -> None:
    words = []
    for row, line in enumerate(TABLE):
        for column, text in enumerate(line.split()):
            x = 0.05 + 0.06 * column
            y = 0.05 + 0.03 * row + 0.15 * x  # each row drops 1.5 rows across the table
            words.append((text, x, y, x + 0.05, y + 0.02))
    scan = PageWords.from_raw(1, words, "ocr")
    found = ground_invoice(Invoice.model_validate({"line_items": ITEMS}), [scan]).provenance.fields
    assert {item.grounding for item in found.values()} == {"grounded"}
    moved = [ITEMS[0], {**ITEMS[1], "amount": "9.99"}, ITEMS[2]]
    again = ground_invoice(Invoice.model_validate({"line_items": moved}), [scan]).provenance.fields
    assert again["line_items[1].amount"].grounding == "ungrounded"
