"""Reading e-invoices: every corpus file, checked against what its XML says, plus the traps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import corpus_params
from einvoice_corpus import NO_XML, NOT_INVOICES, PDF_DIR, XML_DIR, ground_truth, xml_facts
from invoiceai.einvoice import parse_einvoice, read_einvoice
from invoiceai.errors import EncryptedDocumentError, NotAnInvoiceError
from invoiceai.render.pdf import find_embedded_invoice, read_embedded_invoice
from invoiceai.schema import Invoice, validate

ARITHMETIC = {"BR-CO-10", "BR-CO-14", "BR-CO-15", "BR-CO-16", "BR-CO-17", "IAI-TAXABLE-SUM", "IAI-LINE-AMOUNT"}
ARITHMETIC |= {"BR-CO-11", "BR-CO-12", "BR-CO-13", "IAI-TAX-ROUNDING"}

# Corpus files whose XML is itself inconsistent, with the findings that says so (rule, field).
INCONSISTENT: dict[str, set[tuple[str, str]]] = {
    # 5 x 4.10 = 20.50, the line says 20.48.
    "Avoir_FR_type381_BASIC": {("IAI-LINE-AMOUNT", "line_items[0].amount")},
    # MINIMUM has no prepaid amount (BT-113), yet amount due 470.15 differs from total 671.15.
    "Facture_FR_MINIMUM": {("BR-CO-16", "amount_due")},
    # Deposit line "Pfand": 20 x 2.77 = 55.40, the line says 55.46.
    "ZUGFeRD_1p0_COMFORT_Rabatte": {("IAI-LINE-AMOUNT", "line_items[3].amount")},
    # 20 x 4.10 = 82.00, the line says 81.90.
    "sample_inofficial_20190125_atgp_factur-x_v_1_0": {("IAI-LINE-AMOUNT", "line_items[0].amount")},
    # Every line's base quantity (BT-149) equals its price, so the unit price is 1.
    "en16931_CII_business_example_01": {("IAI-LINE-AMOUNT", f"line_items[{i}].amount") for i in range(5)},
    # Line 16: 1 x 1.50, the line says 177.41.
    "en16931_CII_business_example_Z": {("IAI-LINE-AMOUNT", "line_items[2].amount")},
    # Return line: quantity +6 at 18.33 but amount -109.98.
    "en16931_CII_example1": {("IAI-LINE-AMOUNT", "line_items[19].amount")},
    "en16931_ubl-tc434-example1": {("IAI-LINE-AMOUNT", "line_items[19].amount")},
    # Amounts rounded to whole forints although HUF has two decimals: within BR-CO-17's official
    # ±1, more than rounding explains.
    "en16931_huf_example_cii": {("IAI-TAX-ROUNDING", "tax_breakdown[0].tax_amount")}
    | {("IAI-LINE-AMOUNT", f"line_items[{i}].amount") for i in range(3)},
    # Line 3.3: 245 x 0.1973 = 48.3385, the line says 48.33 (truncated, not rounded).
    "xrechnung_03.01a-INVOICE_uncefact": {("IAI-LINE-AMOUNT", "line_items[12].amount")},
}


def _key(path: Path) -> str:
    stem = path.stem
    return stem.split("__")[0]


def _arithmetic(invoice: Invoice) -> set[tuple[str, str]]:
    return {(f.rule, f.fields[0]) for f in validate(invoice) if f.rule in ARITHMETIC}


def _assert_matches(invoice: Invoice, xml: bytes) -> None:
    facts = xml_facts(xml)
    assert invoice.invoice_number == facts.invoice_number
    assert invoice.issue_date == facts.issue_date
    assert invoice.currency == facts.currency
    assert invoice.seller.name == facts.seller_name
    assert invoice.total == facts.total
    assert invoice.amount_due == facts.amount_due
    assert len(invoice.line_items) == facts.line_count
    assert tuple(line.tax_category for line in invoice.line_items) == facts.line_categories


def _assert_consistent_as_xml_is(name: str, invoice: Invoice) -> None:
    assert _arithmetic(invoice) == INCONSISTENT.get(name, set())


@pytest.mark.parametrize("path", corpus_params(XML_DIR, "*.xml"))
def test_every_standalone_xml_reads_as_its_xml_says(path: Path) -> None:
    data = path.read_bytes()
    invoice = read_einvoice(data)
    _assert_matches(invoice, data)
    _assert_consistent_as_xml_is(_key(path), invoice)


@pytest.mark.parametrize("path", corpus_params(PDF_DIR, "*.pdf"))
def test_every_pdf_reads_as_its_ground_truth_says(path: Path) -> None:
    data = path.read_bytes()
    if path.name in NOT_INVOICES:
        with pytest.raises(NotAnInvoiceError, match="Order-X purchase order"):
            read_embedded_invoice(data)
        return
    if path.name in NO_XML:
        assert find_embedded_invoice(data) is None
        return
    truth = ground_truth(path)
    assert truth is not None
    invoice = read_embedded_invoice(data)
    assert invoice is not None
    _assert_matches(invoice, truth.read_bytes())
    _assert_consistent_as_xml_is(_key(path), invoice)


def test_inconsistent_list_names_only_real_files(corpus_dir: Path) -> None:
    stems = {p.stem for p in (corpus_dir / XML_DIR).glob("*.xml")} | {
        p.stem for p in (corpus_dir / PDF_DIR).glob("*.pdf")
    }
    assert set(INCONSISTENT) <= stems


def _read(corpus_dir: Path, relative: str) -> Invoice:
    data = (corpus_dir / relative).read_bytes()
    if relative.endswith(".pdf"):
        invoice = read_embedded_invoice(data)
        assert invoice is not None
        return invoice
    return read_einvoice(data)


@pytest.mark.parametrize(
    ("relative", "code", "document_type"),
    [
        ("einvoice/pdf/Avoir_FR_type381_BASIC.pdf", "381", "credit_note"),
        ("einvoice/xml/en16931_ubl-tc434-creditnote1.xml", "381", "credit_note"),
        ("einvoice/xml/xrechnung_01.18a-INVOICE_uncefact.xml", "384", "invoice"),
        ("einvoice/xml/xrechnung_01.20a-INVOICE_ubl.xml", "389", "invoice"),
        ("einvoice/xml/EN16931_Gutschrift.ubl.xml", "389", "invoice"),
        ("einvoice/pdf/embedded_xml/zugferd_2p0_EN16931_Gutschrift__zugferd-invoice.xml", "389", "invoice"),
        ("einvoice/pdf/embedded_xml/zugferd_2p0_MINIMUM__zugferd-invoice.xml", "751", "other"),
        ("einvoice/pdf/embedded_xml/zugferd_2p0_EN16931_Elektron__zugferd-invoice.xml", "204", "invoice"),
    ],
)
def test_type_codes_map_to_document_types(corpus_dir: Path, relative: str, code: str, document_type: str) -> None:
    path = corpus_dir / relative
    if path.suffix == ".pdf":
        embedded = find_embedded_invoice(path.read_bytes())
        assert embedded is not None
        parsed = parse_einvoice(embedded.data)
    else:
        parsed = parse_einvoice(path.read_bytes())
    assert parsed.header.type_code == code
    assert parsed.invoice.document_type == document_type


def test_gutschrift_is_a_self_billed_invoice_not_a_credit_note(corpus_dir: Path) -> None:
    invoice = _read(corpus_dir, "einvoice/pdf/zugferd_2p0_EN16931_Gutschrift.pdf")
    assert invoice.document_type == "invoice"


def test_ubl_credit_note_reads_due_date_and_lines(corpus_dir: Path) -> None:
    invoice = _read(corpus_dir, "einvoice/xml/en16931_ubl-tc434-creditnote1.xml")
    assert invoice.seller.name == "My Supplier Company"
    assert invoice.seller.vat_id == "BE0000000196"
    assert invoice.payment.iban == "BE91000000143476"
    assert invoice.payment.bic == "BPOTBEB1"
    assert invoice.payment.reference == "010676609538"
    assert invoice.tax_breakdown[0].category == "E"
    assert invoice.tax_breakdown[0].exemption_reason == "Taxes are not applicable"
    assert invoice.line_items[0].quantity == Decimal("1.00")


def test_negative_totals_keep_their_sign(corpus_dir: Path) -> None:
    invoice = _read(corpus_dir, "einvoice/xml/en16931_BIS3_Invoice_negativ.xml")
    assert invoice.total == Decimal("-782179.43")
    assert invoice.currency == "DKK"
    payable = _read(corpus_dir, "einvoice/xml/xrechnung_03.01a-INVOICE_uncefact.xml")
    assert payable.amount_due == Decimal("-225.14")


def test_cii_maps_the_einfach_invoice_field_by_field(corpus_dir: Path) -> None:
    invoice = _read(corpus_dir, "einvoice/xml/EN16931_Einfach.cii.xml")
    assert invoice.seller.vat_id == "DE123456789"
    assert invoice.seller.tax_id == "201/113/40209"
    assert invoice.seller.address.street == "Lieferantenstraße 20"
    assert invoice.seller.address.postal_code == "80333"
    assert invoice.seller.address.city == "München"
    assert invoice.seller.address.country_code == "DE"
    assert invoice.buyer.name == "Kunden AG Mitte"
    first = invoice.line_items[0]
    assert (first.description, first.quantity, first.unit) == ("Trennblätter A4", Decimal("20.0000"), "H87")
    assert (first.unit_price, first.amount, first.tax_rate) == (Decimal("9.9000"), Decimal("198.00"), Decimal("19.00"))
    rates = {row.rate: (row.taxable_amount, row.tax_amount, row.category) for row in invoice.tax_breakdown}
    assert rates[Decimal("7.00")] == (Decimal("275.00"), Decimal("19.25"), "S")
    assert (invoice.subtotal, invoice.tax_total, invoice.amount_paid) == (
        Decimal("473.00"),
        Decimal("56.87"),
        Decimal("0.00"),
    )
    assert invoice.payment.terms is not None
    assert invoice.payment.terms.startswith("Zahlbar innerhalb 30 Tagen")
    assert invoice.notes is not None
    assert "Rechnung gemäß Bestellung" in invoice.notes


@pytest.mark.parametrize(
    ("relative", "categories"),
    [
        # Two 0 % VAT rows (E and K): only BT-151 says which one the exempt first line is in.
        ("einvoice/xml/facturx_factur-x-en16931.xml", ["E", "S", "S"]),
        ("einvoice/pdf/akretion_invoice_EN16931.pdf", ["E", "S", "S"]),
        ("einvoice/xml/xrechnung_02.05a-INVOICE_ubl.xml", ["S"] * 21 + ["E", "E"]),
        ("einvoice/xml/xrechnung_01.21a-INVOICE_uncefact.xml", ["AE"]),
        ("einvoice/pdf/ZUGFeRD_1p0_COMFORT_Rabatte.pdf", ["S", "S", "S", "S"]),
        # ZUGFeRD 1.0 BASIC lines carry a rate but no category.
        ("einvoice/pdf/ZUGFeRD_1p0_BASIC_Einfach.pdf", [None]),
    ],
)
def test_line_vat_category_is_read(corpus_dir: Path, relative: str, categories: list[str | None]) -> None:
    invoice = _read(corpus_dir, relative)
    assert [line.tax_category for line in invoice.line_items] == categories


def test_cii_and_ubl_of_the_same_invoice_agree(corpus_dir: Path) -> None:
    cii = _read(corpus_dir, "einvoice/xml/EN16931_Einfach.cii.xml")
    ubl = _read(corpus_dir, "einvoice/xml/EN16931_Einfach.ubl.xml")
    for name in ("invoice_number", "issue_date", "currency", "subtotal", "tax_total", "total", "amount_due"):
        assert getattr(cii, name) == getattr(ubl, name), name
    assert [line.amount for line in cii.line_items] == [line.amount for line in ubl.line_items]
    assert [line.tax_category for line in cii.line_items] == [line.tax_category for line in ubl.line_items]


def test_zugferd1_reads_payment_allowances_and_skips_note_lines(corpus_dir: Path) -> None:
    invoice = _read(corpus_dir, "einvoice/pdf/ZUGFeRD_1p0_COMFORT_Rabatte.pdf")
    assert invoice.payment.iban == "DE08700901001234567890"
    assert invoice.payment.bic == "GENODEF1M04"
    assert invoice.payment.reference == "GE2020211-471102"
    assert invoice.due_date == dt.date(2013, 7, 4)
    assert invoice.purchase_order == "2013-471331"
    assert (invoice.allowance_total, invoice.charge_total) == (Decimal("14.73"), Decimal("5.80"))
    assert (invoice.amount_paid, invoice.amount_due) == (Decimal("50.00"), Decimal("165.14"))
    assert len(invoice.line_items) == 4  # the XML has a fifth, note-only pseudo-line
    assert invoice.line_items[0].unit_price == Decimal("3.3333")


def test_base_quantity_divides_the_net_price(corpus_dir: Path) -> None:
    # BT-146 is per BT-149 units: 1273 per 1273 units is 1 per unit.
    invoice = _read(corpus_dir, "einvoice/xml/en16931_CII_business_example_01.xml")
    assert invoice.line_items[0].unit_price == Decimal(1)


def test_rounding_amount_is_read(corpus_dir: Path) -> None:
    assert _read(corpus_dir, "einvoice/xml/facturx_factur-x-en16931.xml").rounding_amount == Decimal("0.00")
    assert _read(corpus_dir, "einvoice/xml/EN16931_Einfach.cii.xml").rounding_amount is None


def test_bom_and_bogus_encoding_are_tolerated(corpus_dir: Path) -> None:
    for relative in (
        "einvoice/pdf/MustangGnuaccountingBeispielRE-20201121_508_withBOM.pdf",
        "einvoice/pdf/factur-x-invalid-xml-encoding-attribute.pdf",
    ):
        invoice = _read(corpus_dir, relative)
        assert invoice.invoice_number == "RE-20201121/508"
        assert invoice.total == Decimal("571.04")
    assert _read(corpus_dir, "einvoice/xml/facturx_factur-x-minimum.xml").invoice_number == "F20260023"


def test_zugferd_1_and_2_in_one_pdf_prefers_the_factur_x_xml(corpus_dir: Path) -> None:
    embedded = find_embedded_invoice((corpus_dir / PDF_DIR / "MustangRE-20171118_506_ZUGFeRD1and2.pdf").read_bytes())
    assert embedded is not None
    assert (embedded.name, embedded.syntax) == ("factur-x.xml", "cii")
    assert embedded.others == ("ZUGFeRD-invoice.xml",)


def test_additional_data_attachment_is_not_mistaken_for_the_invoice(corpus_dir: Path) -> None:
    embedded = find_embedded_invoice((corpus_dir / PDF_DIR / "additional-data-sample-1.pdf").read_bytes())
    assert embedded is not None
    assert (embedded.name, embedded.syntax) == ("ZUGFeRD-invoice.xml", "zugferd1")


@pytest.mark.parametrize("name", ["zugferd_2p0_EN16931_Elektron.pdf", "akretion_invoice_EN16931.pdf"])
def test_extra_pdf_and_png_attachments_are_skipped(corpus_dir: Path, name: str) -> None:
    embedded = find_embedded_invoice((corpus_dir / PDF_DIR / name).read_bytes())
    assert embedded is not None
    assert embedded.name.endswith(".xml")
    assert any(other.endswith((".pdf", ".png")) for other in embedded.others)


def test_odoo_ubl_in_pdf_is_found(corpus_dir: Path) -> None:
    embedded = find_embedded_invoice((corpus_dir / "invoice2data/AzureInterior.pdf").read_bytes())
    assert embedded is not None
    assert (embedded.name, embedded.syntax) == ("UBL-Invoice-2.1.xml", "ubl")
    invoice = read_einvoice(embedded.data)
    truth = (corpus_dir / "invoice2data/embedded_xml/AzureInterior__UBL-Invoice-2.1.xml").read_bytes()
    _assert_matches(invoice, truth)


def test_broken_name_tree_falls_back_to_catalog_af(corpus_dir: Path) -> None:
    embedded = find_embedded_invoice((corpus_dir / "robustness/corrupted_facturx_mediabox.pdf").read_bytes())
    assert embedded is not None
    assert (embedded.name, embedded.source, embedded.syntax) == ("factur-x.xml", "associated_files", "cii")
    assert read_einvoice(embedded.data).invoice_number == "RE-20171118/506"


def test_encrypted_attachments_are_no_crash(corpus_dir: Path) -> None:
    # Only the attachments are encrypted (a crypt filter pdfium cannot apply); none is an invoice.
    assert find_embedded_invoice((corpus_dir / "robustness/encrypted_attachments_only.pdf").read_bytes()) is None


def test_password_protected_pdf_is_a_typed_error(corpus_dir: Path) -> None:
    with pytest.raises(EncryptedDocumentError):
        find_embedded_invoice((corpus_dir / "robustness/encrypted_aes256_user_view.pdf").read_bytes())


def test_order_x_xml_is_not_an_invoice(corpus_dir: Path) -> None:
    data = (corpus_dir / PDF_DIR / "embedded_xml/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT__order-x.xml").read_bytes()
    with pytest.raises(NotAnInvoiceError, match="Order-X purchase order"):
        read_einvoice(data)
