"""Cross-checking the embedded XML against a visual reading of the pages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from invoiceai.einvoice import CROSS_CHECK_RULE, compare_invoices, read_einvoice
from invoiceai.render.pdf import read_embedded_invoice
from invoiceai.schema import Invoice

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample-facturx.pdf"


def _embedded() -> Invoice:
    invoice = read_embedded_invoice(SAMPLE.read_bytes())
    assert invoice is not None
    return invoice


def _visual(**changes: object) -> Invoice:
    data = _embedded().model_dump()
    data.update(changes)
    return Invoice.model_validate(data)


def test_identical_readings_agree() -> None:
    assert compare_invoices(_embedded(), _embedded()) == []


def test_normalised_differences_are_not_findings() -> None:
    data = _embedded().model_dump()
    data["invoice_number"] = " inv-2026-0042 "
    data["seller"]["name"] = "MUSTERWERK  DESIGN & DRUCK GMBH."
    data["seller"]["phone"] = "+49 (30) 123 4567"
    data["payment"]["iban"] = "DE89 3704 0044 0532 0130 00"
    data["line_items"][1]["unit"] = "h"
    data["line_items"][2]["unit"] = "pcs"
    data["total"] = "2952.1"
    assert compare_invoices(_embedded(), Invoice.model_validate(data)) == []


def test_missing_visual_values_are_not_disagreements() -> None:
    assert compare_invoices(_embedded(), Invoice()) == []


def test_tampered_total_and_number_are_errors() -> None:
    findings = compare_invoices(_embedded(), _visual(total="3952.10", invoice_number="INV-2026-0043"))
    assert [(f.rule, f.severity, f.fields) for f in findings] == [
        (CROSS_CHECK_RULE, "error", ("invoice_number",)),
        (CROSS_CHECK_RULE, "error", ("total",)),
    ]
    assert "2952.10" in findings[1].message and "3952.10" in findings[1].message


def test_line_differences_are_warnings_and_counts_compared() -> None:
    data = _embedded().model_dump()
    data["line_items"][0]["amount"] = "1300.00"
    findings = compare_invoices(_embedded(), Invoice.model_validate(data))
    assert [(f.severity, f.fields) for f in findings] == [("warning", ("line_items[0].amount",))]
    data["line_items"] = data["line_items"][:2]
    findings = compare_invoices(_embedded(), Invoice.model_validate(data))
    assert [(f.severity, f.fields) for f in findings] == [("warning", ("line_items",))]


def test_tax_rows_are_matched_by_rate() -> None:
    data = _embedded().model_dump()
    data["tax_breakdown"] = list(reversed(data["tax_breakdown"]))
    assert compare_invoices(_embedded(), Invoice.model_validate(data)) == []
    data["tax_breakdown"][0]["tax_amount"] = "20.31"
    findings = compare_invoices(_embedded(), Invoice.model_validate(data))
    assert [f.fields for f in findings] == [("tax_breakdown[1].tax_amount",)]


def test_line_vat_category_is_compared() -> None:
    data = _embedded().model_dump()
    assert [line["tax_category"] for line in data["line_items"]] == ["S", "S", "S"]
    data["line_items"][0]["tax_category"] = "s"
    assert compare_invoices(_embedded(), Invoice.model_validate(data)) == []
    data["line_items"][1]["tax_category"] = "E"
    findings = compare_invoices(_embedded(), Invoice.model_validate(data))
    assert [(f.severity, f.fields) for f in findings] == [("warning", ("line_items[1].tax_category",))]
    assert "'S'" in findings[0].message and "'E'" in findings[0].message


def test_tax_rows_sharing_a_rate_are_matched_by_category(corpus_dir: Path) -> None:
    # F20260023 has two 0 % rows: E (taxable 60.00) and K (taxable 2.00).
    xml = read_einvoice((corpus_dir / "einvoice/xml/facturx_factur-x-en16931.xml").read_bytes())
    assert [(row.category, row.rate) for row in xml.tax_breakdown if row.rate == 0] == [
        ("E", Decimal("0.00")),
        ("K", Decimal("0.00")),
    ]
    assert compare_invoices(xml, xml) == []
    data = xml.model_dump()
    data["tax_breakdown"] = list(reversed(data["tax_breakdown"]))
    assert compare_invoices(xml, Invoice.model_validate(data)) == []
    data["tax_breakdown"][0]["taxable_amount"] = "3.00"  # the K row, now first on the page
    findings = compare_invoices(xml, Invoice.model_validate(data))
    assert [f.fields for f in findings] == [("tax_breakdown[3].taxable_amount",)]
    # Rows without categories at a shared rate could be either: neither is compared.
    for row in data["tax_breakdown"]:
        row["category"] = None
    assert compare_invoices(xml, Invoice.model_validate(data)) == []
    # One uncategorised 0 % row on the page against two in the XML: also ambiguous.
    data["tax_breakdown"] = [row for row in data["tax_breakdown"] if row["taxable_amount"] != Decimal("60.00")]
    assert len(data["tax_breakdown"]) == 3
    assert compare_invoices(xml, Invoice.model_validate(data)) == []


def test_credit_note_signs_are_ignored() -> None:
    credit = _embedded().model_copy(update={"document_type": "credit_note"})
    negative = credit.model_copy(update={"total": -credit.total if credit.total else None})
    assert compare_invoices(credit, negative) == []
    assert compare_invoices(_embedded(), _visual(total=str(-Decimal("2952.10"))))


def test_page_and_xml_of_a_contradicting_corpus_pdf(corpus_dir: Path) -> None:
    # The page of this PDF shows RE-20190610/507 of 2019-06-10; the XML says RE-20201121/508.
    embedded = read_embedded_invoice(
        (corpus_dir / "einvoice/pdf/MustangGnuaccountingBeispielRE-20201121_508_withBOM.pdf").read_bytes()
    )
    assert embedded is not None
    page = read_einvoice(
        (corpus_dir / "einvoice/pdf/embedded_xml/invalidPDF_image_only_with_facturx__factur-x.xml").read_bytes()
    )
    fields = {f.fields[0] for f in compare_invoices(embedded, page)}
    assert {"invoice_number", "issue_date"} <= fields
    assert "total" not in fields
