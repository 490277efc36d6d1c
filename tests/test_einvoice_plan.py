"""What the writer plan derives for a line that states no VAT rate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from invoiceai.einvoice import read_einvoice, to_xml
from invoiceai.einvoice.requirements import plan
from invoiceai.schema import Invoice

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "invoice.json"


def without_line_rates() -> Invoice:
    invoice = Invoice.model_validate_json(EXAMPLE.read_bytes())
    assert len({row.rate for row in invoice.tax_breakdown}) == 1, "the example has one VAT rate"
    for line in invoice.line_items:
        line.tax_rate = None
    return invoice


def test_a_line_without_a_rate_takes_its_breakdown_rows_rate() -> None:
    invoice = without_line_rates()
    (row,) = invoice.tax_breakdown
    assert [line.rate for line in plan(invoice).lines] == [row.rate] * len(invoice.line_items)


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_the_derived_rate_is_written_so_br_s_05_holds(syntax: str) -> None:
    invoice = without_line_rates()
    back = read_einvoice(to_xml(invoice, syntax))
    assert {line.tax_rate for line in back.line_items} == {invoice.tax_breakdown[0].rate}
    assert all(isinstance(line.tax_rate, Decimal) for line in back.line_items)


def test_category_o_lines_get_no_rate() -> None:
    invoice = without_line_rates()
    for line in invoice.line_items:
        line.tax_category = "O"
    invoice.tax_breakdown[0].category = "O"
    assert {line.rate for line in plan(invoice).lines} == {None}
