"""OCR pages: digit look-alikes read as digits, and every tolerance keeps changed values flagged.

Tesseract reads a poor scan's ``5`` as ``S`` and its ``0`` as ``O``. On OCR pages only, those
look-alikes count as the digits they stand for (:func:`invoiceai.provenance.match.fold_key`).
Each test pairs what the tolerance grounds with the changes it must still flag: another digit,
the cents dropped, day and month swapped, a longer number. The scans and photos of corpus PDFs,
read by the real Tesseract, are in ``test_provenance_ocr_corpus.py``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from invoiceai import Invoice
from invoiceai.provenance import PageWords, ground_invoice


def layer(*lines: str, kind: str = "ocr") -> PageWords:
    """Words of ``lines``, one line per row."""
    words = []
    for row, line in enumerate(lines):
        for column, text in enumerate(line.split()):
            x, y = 0.05 + 0.12 * column, 0.05 + 0.03 * row
            words.append((text, x, y, x + 0.1, y + 0.02))
    return PageWords.from_raw(1, words, kind)  # type: ignore[arg-type]


def grounding(invoice: Invoice, *lines: str, kind: str = "ocr") -> dict[str, str]:
    provenance = ground_invoice(invoice, [layer(*lines, kind=kind)]).provenance
    return {path: item.grounding for path, item in provenance.fields.items()}


@pytest.mark.parametrize(
    ("printed", "value"),
    [("Total S,00", "5.00"), ("Total 1O,5O", "10.50"), ("Total l.234,56", "1234.56"), ("Total 2B,90", "28.90"),
     ("Total 137;30", "137.30"), ("Total 1Z,00", "12.00")],
)  # fmt: skip
def test_an_ocr_page_reads_digit_look_alikes_as_digits(printed: str, value: str) -> None:
    assert grounding(Invoice(total=Decimal(value)), printed)["total"] == "grounded"
    # Only on OCR pages: a PDF's text layer holds the characters as they are.
    assert grounding(Invoice(total=Decimal(value)), printed, kind="text")["total"] == "ungrounded"


@pytest.mark.parametrize(
    ("printed", "changed"),
    [("Total S,00", "6.00"), ("Total 2S,50", "25"), ("Total S,00", "15.00"), ("Total S,00", "-5.00"),
     ("Total 1O,5O", "10.60"), ("Total 1O,5O", "1.05"), ("Total 1O,5O", "100.50"), ("Total 1O,5O", "10"),
     ("Total l.234,56", "234.56"), ("Total l.234,56", "7234.56"), ("Total 137;30", "137.38"),
     ("Total 2B,90", "23.90"), ("Total 21,50", "27.50")],
)  # fmt: skip
def test_a_changed_amount_is_still_flagged_on_an_ocr_page(printed: str, changed: str) -> None:
    assert grounding(Invoice(total=Decimal(changed)), printed)["total"] == "ungrounded"


def test_a_word_without_digits_is_never_read_as_a_number() -> None:
    item = {"description": "Widget", "quantity": "50", "amount": "5.00"}
    found = grounding(Invoice(line_items=[item]), "Widget so S.OO", "and so on")  # type: ignore[list-item]
    assert found["line_items[0].quantity"] == "ungrounded"  # "so" is a word, not 50
    assert found["line_items[0].amount"] == "ungrounded"  # nor is "S.OO" 5.00: no digit says it is a number


@pytest.mark.parametrize(
    ("printed", "true", "changed"),
    [("Datum l2.O3.2024", "2024-03-12", "2024-12-03"), ("Datum 25/O3/2024", "2024-03-25", "2024-03-26"),
     ("Datum O5.O6.2018", "2018-06-05", "2018-05-06"), ("Datum l2.O3.2024", "2024-03-12", "2023-03-12")],
)  # fmt: skip
def test_dates_read_with_look_alikes_are_grounded_and_changed_dates_flagged(
    printed: str, true: str, changed: str
) -> None:
    assert grounding(Invoice(issue_date=dt.date.fromisoformat(true)), printed)["issue_date"] == "grounded"
    assert grounding(Invoice(issue_date=dt.date.fromisoformat(changed)), printed)["issue_date"] == "ungrounded"


def test_month_names_still_match_on_an_ocr_page() -> None:
    assert grounding(Invoice(issue_date=dt.date(2024, 10, 12)), "Date 12 Oktober 2024")["issue_date"] == "grounded"
    assert grounding(Invoice(issue_date=dt.date(2024, 10, 13)), "Date 12 Oktober 2024")["issue_date"] == "ungrounded"


@pytest.mark.parametrize(
    ("printed", "value", "changed"),
    [("Art PFAS", "PFA5", "PFA6"), ("Nr GTRWAS", "GTRWA5", "GTKWA6"), ("IBAN DE89 37O4 OO44", "DE8937040044",
     "DE8937040045"), ("IBAN DE89 37O4 OO44", "DE8937040044", "DE893704004"), ("Kunde GE2O2O2ll", "GE2020211",
     "GE2020217"), ("Kunde GE2O2O2ll", "GE2020211", "GE20202111")],
)  # fmt: skip
def test_ids_read_with_look_alikes_are_grounded_and_a_changed_id_is_flagged(
    printed: str, value: str, changed: str
) -> None:
    # Approximate (medium confidence, no finding), as a name one letter off on an OCR page is.
    assert grounding(Invoice(invoice_number=value), printed)["invoice_number"] == "approximate"
    # Another digit, or a digit more or less, is not a misread letter: not even approximate.
    assert grounding(Invoice(invoice_number=changed), printed)["invoice_number"] == "ungrounded"
    assert grounding(Invoice(invoice_number=value), printed, kind="text")["invoice_number"] == "ungrounded"


@pytest.mark.parametrize(
    "lines",
    [("Mineralwasser 12 x 1,01 PET 109,80",), ("3 Mineralwasser 5,4900 20 Stk 109,80", "GTRWAS Medium 12 x",
                                                 "4000001234561 1,01 PET")],
)  # fmt: skip
def test_a_description_with_a_look_alike_is_found_and_a_changed_one_is_not(lines: tuple[str, ...]) -> None:
    item: dict[str, Any] = {"description": "Mineralwasser Medium 12 x 1,0l PET", "amount": "109.80"}
    if len(lines) == 1:
        item["description"] = "Mineralwasser 12 x 1,0l PET"
    # Run by run, across the table's other columns, with the look-alikes of the page read as digits.
    assert grounding(Invoice(line_items=[item]), *lines)["line_items[0].description"] == "grounded"  # type: ignore[list-item]
    item["description"] = item["description"].replace("1,0l", "1,5l")
    assert grounding(Invoice(line_items=[item]), *lines)["line_items[0].description"] == "ungrounded"  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("printed", "value", "grounded"),
    [("Steuer 37:62", "37.62", True), ("Steuer 37:62", "37.63", False), ("Steuer 37:62", "3762", False),
     ("Beginn 10:30", "10.30", False), ("Beginn 10:30", "10.00", False)],
)  # fmt: skip
def test_a_comma_read_as_a_colon_is_a_comma_unless_it_may_be_a_time(printed: str, value: str, grounded: bool) -> None:
    found = grounding(Invoice(tax_total=Decimal(value)), printed)["tax_total"]
    assert found == ("grounded" if grounded else "ungrounded")


@pytest.mark.parametrize(
    ("lines", "description", "grounded"),
    [(("ZuschlagEinwegverpackung 30,00",), "Einwegverpackung", True),
     (("ZuschlagEinwegverpackung 30,00",), "Einwegverpackungen", False),
     (("Luftballon: Bunt, ca. 500m! 0,79",), "Luftballon: Bunt, ca. 500ml", True),
     (("Luftballon: Bunt, ca. 500m! 0,79",), "Luftballon: Bunt, ca. 600ml", False),
     (("02 Beamer- 122,50 1 H87 19 % 122,50", "Deckenhalterung"), "Beamer-Deckenhalterung", True),
     (("02 Beamer- 122,50 1 H87 19 % 122,50", "Deckenhalterung"), "Beamer-Wandhalterung", False)],
)  # fmt: skip
def test_words_ocr_glued_split_or_misread_still_ground_their_text_and_only_it(
    lines: tuple[str, ...], description: str, grounded: bool
) -> None:
    item = {"description": description, "amount": "1.00"}
    found = grounding(Invoice(line_items=[item]), *lines)["line_items[0].description"]  # type: ignore[list-item]
    assert (found in ("grounded", "approximate")) == grounded, found
    # A PDF's text layer gets none of it: its words are what the PDF says.
    if grounded:
        text = grounding(Invoice(line_items=[item]), *lines, kind="text")["line_items[0].description"]  # type: ignore[list-item]
        assert text == "ungrounded"
