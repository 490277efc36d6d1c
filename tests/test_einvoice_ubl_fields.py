"""Every EN 16931 field the UBL reader reads, checked against an independent XPath on a real file.

Each case names a UBL Invoice or CreditNote of the conformance material, an :class:`~invoiceai.Invoice`
field path and the XPath (per the EN 16931 UBL binding) that holds the same business term. The
XPath is evaluated here with lxml on the file's bytes, not through invoiceai's reader. A last test
checks that the cases cover every field of the vocabulary that UBL carries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

import conformance
from invoiceai.einvoice import read_einvoice

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

CREDIT_NOTE_MAX = "cen/test/testfiles/CreditNote-Max_content.xml"
INVOICE_MAX = "cen/test/testfiles/Invoice-Max_content.xml"
EXAMPLE5 = "cen/ubl/examples/ubl-tc434-example5.xml"
DISCOUNTS = "cen/test/testfiles/BIS_Billing_30-Rabatter_och_avgifter.xml"
CARD = "kosit/business-cases/standard/03.03a-INVOICE_ubl.xml"
DIRECT_DEBIT = "kosit/business-cases/standard/03.01a-INVOICE_ubl.xml"

SELLER = "/*/cac:AccountingSupplierParty/cac:Party"
BUYER = "/*/cac:AccountingCustomerParty/cac:Party"
LINE1 = "(/*/cac:InvoiceLine | /*/cac:CreditNoteLine)[1]"
ALLOWANCE1 = "/*/cac:AllowanceCharge[cbc:ChargeIndicator='false'][1]"
CHARGE1 = "/*/cac:AllowanceCharge[cbc:ChargeIndicator='true'][1]"


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A price of one unit: the value at ``numerator`` divided by the base quantity at ``denominator``."""

    numerator: str
    denominator: str


@dataclasses.dataclass(frozen=True)
class Code:
    """A code the reader writes in upper case (VATEX), at ``xpath``."""

    xpath: str


Case = tuple[str, str, "str | Ratio | Code"]

CASES: list[Case] = [
    # The credit note: header, references, parties, delivery, allowances and charges, lines.
    (CREDIT_NOTE_MAX, "tax_point_date", "/*/cbc:TaxPointDate"),
    (CREDIT_NOTE_MAX, "tax_currency", "/*/cbc:TaxCurrencyCode"),
    (CREDIT_NOTE_MAX, "buyer_accounting_reference", "/*/cbc:AccountingCost"),
    (CREDIT_NOTE_MAX, "invoicing_period.start", "/*/cac:InvoicePeriod/cbc:StartDate"),
    (CREDIT_NOTE_MAX, "invoicing_period.end", "/*/cac:InvoicePeriod/cbc:EndDate"),
    (CREDIT_NOTE_MAX, "sales_order_reference", "/*/cac:OrderReference/cbc:SalesOrderID"),
    (CREDIT_NOTE_MAX, "preceding_invoices[0].number", "/*/cac:BillingReference[1]/cac:InvoiceDocumentReference/cbc:ID"),
    (
        CREDIT_NOTE_MAX,
        "preceding_invoices[0].issue_date",
        "/*/cac:BillingReference[1]/cac:InvoiceDocumentReference/cbc:IssueDate",
    ),
    (CREDIT_NOTE_MAX, "preceding_invoices[1].number", "/*/cac:BillingReference[2]/cac:InvoiceDocumentReference/cbc:ID"),
    (CREDIT_NOTE_MAX, "despatch_advice_reference", "/*/cac:DespatchDocumentReference/cbc:ID"),
    (CREDIT_NOTE_MAX, "receiving_advice_reference", "/*/cac:ReceiptDocumentReference/cbc:ID"),
    (CREDIT_NOTE_MAX, "contract_reference", "/*/cac:ContractDocumentReference/cbc:ID"),
    (CREDIT_NOTE_MAX, "invoiced_object_id", "/*/cac:AdditionalDocumentReference[cbc:DocumentTypeCode='130']/cbc:ID"),
    (CREDIT_NOTE_MAX, "project_reference", "/*/cac:AdditionalDocumentReference[cbc:DocumentTypeCode='50']/cbc:ID"),
    (CREDIT_NOTE_MAX, "tender_reference", "/*/cac:OriginatorDocumentReference/cbc:ID"),
    (CREDIT_NOTE_MAX, "seller.electronic_address", f"{SELLER}/cbc:EndpointID"),
    (CREDIT_NOTE_MAX, "seller.electronic_address_scheme", f"{SELLER}/cbc:EndpointID/@schemeID"),
    (CREDIT_NOTE_MAX, "seller.identifier", f"{SELLER}/cac:PartyIdentification[1]/cbc:ID"),
    (CREDIT_NOTE_MAX, "seller.identifier_scheme", f"{SELLER}/cac:PartyIdentification[1]/cbc:ID/@schemeID"),
    (CREDIT_NOTE_MAX, "seller.trading_name", f"{SELLER}/cac:PartyName/cbc:Name"),
    (CREDIT_NOTE_MAX, "seller.tax_id", f"{SELLER}/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID!='VAT']/cbc:CompanyID"),
    (CREDIT_NOTE_MAX, "seller.legal_registration_id", f"{SELLER}/cac:PartyLegalEntity/cbc:CompanyID"),
    (CREDIT_NOTE_MAX, "seller.legal_registration_scheme", f"{SELLER}/cac:PartyLegalEntity/cbc:CompanyID/@schemeID"),
    (CREDIT_NOTE_MAX, "seller.legal_form", f"{SELLER}/cac:PartyLegalEntity/cbc:CompanyLegalForm"),
    (CREDIT_NOTE_MAX, "seller.contact_name", f"{SELLER}/cac:Contact/cbc:Name"),
    (CREDIT_NOTE_MAX, "buyer.electronic_address", f"{BUYER}/cbc:EndpointID"),
    (CREDIT_NOTE_MAX, "buyer.electronic_address_scheme", f"{BUYER}/cbc:EndpointID/@schemeID"),
    (CREDIT_NOTE_MAX, "buyer.identifier", f"{BUYER}/cac:PartyIdentification/cbc:ID"),
    (CREDIT_NOTE_MAX, "buyer.identifier_scheme", f"{BUYER}/cac:PartyIdentification/cbc:ID/@schemeID"),
    (CREDIT_NOTE_MAX, "buyer.trading_name", f"{BUYER}/cac:PartyName/cbc:Name"),
    (CREDIT_NOTE_MAX, "buyer.legal_registration_id", f"{BUYER}/cac:PartyLegalEntity/cbc:CompanyID"),
    (CREDIT_NOTE_MAX, "buyer.legal_registration_scheme", f"{BUYER}/cac:PartyLegalEntity/cbc:CompanyID/@schemeID"),
    (CREDIT_NOTE_MAX, "buyer.contact_name", f"{BUYER}/cac:Contact/cbc:Name"),
    (CREDIT_NOTE_MAX, "payee.name", "/*/cac:PayeeParty/cac:PartyName/cbc:Name"),
    (CREDIT_NOTE_MAX, "payee.identifier", "/*/cac:PayeeParty/cac:PartyIdentification/cbc:ID"),
    (CREDIT_NOTE_MAX, "payee.identifier_scheme", "/*/cac:PayeeParty/cac:PartyIdentification/cbc:ID/@schemeID"),
    (CREDIT_NOTE_MAX, "payee.legal_registration_id", "/*/cac:PayeeParty/cac:PartyLegalEntity/cbc:CompanyID"),
    (
        CREDIT_NOTE_MAX,
        "payee.legal_registration_scheme",
        "/*/cac:PayeeParty/cac:PartyLegalEntity/cbc:CompanyID/@schemeID",
    ),
    (CREDIT_NOTE_MAX, "tax_representative.name", "/*/cac:TaxRepresentativeParty/cac:PartyName/cbc:Name"),
    (CREDIT_NOTE_MAX, "tax_representative.vat_id", "/*/cac:TaxRepresentativeParty/cac:PartyTaxScheme/cbc:CompanyID"),
    (
        CREDIT_NOTE_MAX,
        "tax_representative.address.city",
        "/*/cac:TaxRepresentativeParty/cac:PostalAddress/cbc:CityName",
    ),
    (
        CREDIT_NOTE_MAX,
        "tax_representative.address.country_code",
        "/*/cac:TaxRepresentativeParty/cac:PostalAddress/cac:Country/cbc:IdentificationCode",
    ),
    (CREDIT_NOTE_MAX, "delivery.date", "/*/cac:Delivery/cbc:ActualDeliveryDate"),
    (CREDIT_NOTE_MAX, "delivery.location_id", "/*/cac:Delivery/cac:DeliveryLocation/cbc:ID"),
    (CREDIT_NOTE_MAX, "delivery.location_scheme", "/*/cac:Delivery/cac:DeliveryLocation/cbc:ID/@schemeID"),
    (CREDIT_NOTE_MAX, "delivery.party_name", "/*/cac:Delivery/cac:DeliveryParty/cac:PartyName/cbc:Name"),
    (CREDIT_NOTE_MAX, "delivery.address.city", "/*/cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CityName"),
    (
        CREDIT_NOTE_MAX,
        "delivery.address.postal_code",
        "/*/cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:PostalZone",
    ),
    (
        CREDIT_NOTE_MAX,
        "delivery.address.country_code",
        "/*/cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode",
    ),
    (CREDIT_NOTE_MAX, "allowances[0].amount", f"{ALLOWANCE1}/cbc:Amount"),
    (CREDIT_NOTE_MAX, "allowances[0].base_amount", f"{ALLOWANCE1}/cbc:BaseAmount"),
    (CREDIT_NOTE_MAX, "allowances[0].percentage", f"{ALLOWANCE1}/cbc:MultiplierFactorNumeric"),
    (CREDIT_NOTE_MAX, "allowances[0].reason", f"{ALLOWANCE1}/cbc:AllowanceChargeReason"),
    (CREDIT_NOTE_MAX, "allowances[0].reason_code", f"{ALLOWANCE1}/cbc:AllowanceChargeReasonCode"),
    (CREDIT_NOTE_MAX, "allowances[0].tax_category", f"{ALLOWANCE1}/cac:TaxCategory/cbc:ID"),
    (CREDIT_NOTE_MAX, "allowances[0].tax_rate", f"{ALLOWANCE1}/cac:TaxCategory/cbc:Percent"),
    (CREDIT_NOTE_MAX, "charges[0].amount", f"{CHARGE1}/cbc:Amount"),
    (CREDIT_NOTE_MAX, "charges[0].base_amount", f"{CHARGE1}/cbc:BaseAmount"),
    (CREDIT_NOTE_MAX, "charges[0].percentage", f"{CHARGE1}/cbc:MultiplierFactorNumeric"),
    (CREDIT_NOTE_MAX, "charges[0].reason", f"{CHARGE1}/cbc:AllowanceChargeReason"),
    (CREDIT_NOTE_MAX, "charges[0].reason_code", f"{CHARGE1}/cbc:AllowanceChargeReasonCode"),
    (CREDIT_NOTE_MAX, "charges[0].tax_category", f"{CHARGE1}/cac:TaxCategory/cbc:ID"),
    (CREDIT_NOTE_MAX, "charges[0].tax_rate", f"{CHARGE1}/cac:TaxCategory/cbc:Percent"),
    (
        CREDIT_NOTE_MAX,
        "tax_breakdown[1].exemption_reason",
        "/*/cac:TaxTotal[1]/cac:TaxSubtotal[2]/cac:TaxCategory/cbc:TaxExemptionReason",
    ),
    (
        CREDIT_NOTE_MAX,
        "tax_breakdown[1].exemption_reason_code",
        Code("/*/cac:TaxTotal[1]/cac:TaxSubtotal[2]/cac:TaxCategory/cbc:TaxExemptionReasonCode"),
    ),
    (CREDIT_NOTE_MAX, "tax_total_in_tax_currency", "/*/cac:TaxTotal/cbc:TaxAmount[@currencyID='EUR']"),
    (CREDIT_NOTE_MAX, "total_without_tax", "/*/cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
    (CREDIT_NOTE_MAX, "payment.means_code", "/*/cac:PaymentMeans[1]/cbc:PaymentMeansCode"),
    (CREDIT_NOTE_MAX, "payment.means_text", "/*/cac:PaymentMeans[1]/cbc:PaymentMeansCode/@name"),
    (CREDIT_NOTE_MAX, "payment.account_name", "/*/cac:PaymentMeans[1]/cac:PayeeFinancialAccount/cbc:Name"),
    (CREDIT_NOTE_MAX, "line_items[0].line_id", f"{LINE1}/cbc:ID"),
    (CREDIT_NOTE_MAX, "line_items[0].note", f"{LINE1}/cbc:Note"),
    (CREDIT_NOTE_MAX, "line_items[0].accounting_reference", f"{LINE1}/cbc:AccountingCost"),
    (CREDIT_NOTE_MAX, "line_items[0].period.start", f"{LINE1}/cac:InvoicePeriod/cbc:StartDate"),
    (CREDIT_NOTE_MAX, "line_items[0].period.end", f"{LINE1}/cac:InvoicePeriod/cbc:EndDate"),
    (CREDIT_NOTE_MAX, "line_items[0].order_line_reference", f"{LINE1}/cac:OrderLineReference/cbc:LineID"),
    (CREDIT_NOTE_MAX, "line_items[0].item_description", f"{LINE1}/cac:Item/cbc:Description"),
    (CREDIT_NOTE_MAX, "line_items[0].buyer_item_id", f"{LINE1}/cac:Item/cac:BuyersItemIdentification/cbc:ID"),
    (CREDIT_NOTE_MAX, "line_items[0].seller_item_id", f"{LINE1}/cac:Item/cac:SellersItemIdentification/cbc:ID"),
    (CREDIT_NOTE_MAX, "line_items[0].standard_item_id", f"{LINE1}/cac:Item/cac:StandardItemIdentification/cbc:ID"),
    (
        CREDIT_NOTE_MAX,
        "line_items[0].standard_item_id_scheme",
        f"{LINE1}/cac:Item/cac:StandardItemIdentification/cbc:ID/@schemeID",
    ),
    (CREDIT_NOTE_MAX, "line_items[0].origin_country", f"{LINE1}/cac:Item/cac:OriginCountry/cbc:IdentificationCode"),
    (CREDIT_NOTE_MAX, "line_items[0].price_base_quantity", f"{LINE1}/cac:Price/cbc:BaseQuantity"),
    (
        CREDIT_NOTE_MAX,
        "line_items[0].gross_price",
        Ratio(f"{LINE1}/cac:Price/cac:AllowanceCharge/cbc:BaseAmount", f"{LINE1}/cac:Price/cbc:BaseQuantity"),
    ),
    (
        CREDIT_NOTE_MAX,
        "line_items[0].allowance_reason",
        f"{LINE1}/cac:AllowanceCharge[cbc:ChargeIndicator='false']/cbc:AllowanceChargeReason",
    ),
    (
        CREDIT_NOTE_MAX,
        "line_items[0].charge_reason",
        f"{LINE1}/cac:AllowanceCharge[cbc:ChargeIndicator='true']/cbc:AllowanceChargeReason",
    ),
    # An invoice: the project reference has an element of its own; parties of another example.
    (INVOICE_MAX, "project_reference", "/*/cac:ProjectReference/cbc:ID"),
    (INVOICE_MAX, "tax_point_date", "/*/cbc:TaxPointDate"),
    (INVOICE_MAX, "tax_total_in_tax_currency", "/*/cac:TaxTotal/cbc:TaxAmount[@currencyID='EUR']"),
    (EXAMPLE5, "payee.name", "/*/cac:PayeeParty/cac:PartyName/cbc:Name"),
    (EXAMPLE5, "payee.identifier", "/*/cac:PayeeParty/cac:PartyIdentification/cbc:ID"),
    (EXAMPLE5, "tax_representative.name", "/*/cac:TaxRepresentativeParty/cac:PartyName/cbc:Name"),
    (EXAMPLE5, "tax_representative.vat_id", "/*/cac:TaxRepresentativeParty/cac:PartyTaxScheme/cbc:CompanyID"),
    (
        EXAMPLE5,
        "tax_representative.address.postal_code",
        "/*/cac:TaxRepresentativeParty/cac:PostalAddress/cbc:PostalZone",
    ),
    (EXAMPLE5, "payment.means_code", "/*/cac:PaymentMeans/cbc:PaymentMeansCode"),
    (EXAMPLE5, "payment.mandate_reference", "/*/cac:PaymentMeans/cac:PaymentMandate/cbc:ID"),
    (
        EXAMPLE5,
        "payment.debited_account",
        "/*/cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID",
    ),
    # A price for 5 units: the model keeps the gross and net price of one unit, and the base.
    (DISCOUNTS, "line_items[1].price_base_quantity", "(/*/cac:InvoiceLine)[2]/cac:Price/cbc:BaseQuantity"),
    (
        DISCOUNTS,
        "line_items[1].unit_price",
        Ratio(
            "(/*/cac:InvoiceLine)[2]/cac:Price/cbc:PriceAmount", "(/*/cac:InvoiceLine)[2]/cac:Price/cbc:BaseQuantity"
        ),
    ),
    (
        DISCOUNTS,
        "line_items[1].gross_price",
        Ratio(
            "(/*/cac:InvoiceLine)[2]/cac:Price/cac:AllowanceCharge/cbc:BaseAmount",
            "(/*/cac:InvoiceLine)[2]/cac:Price/cbc:BaseQuantity",
        ),
    ),
    (CARD, "payment.means_code", "/*/cac:PaymentMeans/cbc:PaymentMeansCode"),
    (CARD, "payment.card_number", "/*/cac:PaymentMeans/cac:CardAccount/cbc:PrimaryAccountNumberID"),
    (DIRECT_DEBIT, "payment.creditor_id", f"{SELLER}/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']"),
    (DIRECT_DEBIT, "payment.mandate_reference", "/*/cac:PaymentMeans/cac:PaymentMandate/cbc:ID"),
    (
        DIRECT_DEBIT,
        "payment.debited_account",
        "/*/cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID",
    ),
    (DIRECT_DEBIT, "seller.identifier", f"{SELLER}/cac:PartyIdentification/cbc:ID[not(@schemeID='SEPA')]"),
]

# The vocabulary's fields that UBL carries and that the old reader did not read.
NEW_FIELDS = frozenset(
    {
        "tax_point_date",
        "tax_currency",
        "project_reference",
        "contract_reference",
        "sales_order_reference",
        "receiving_advice_reference",
        "despatch_advice_reference",
        "tender_reference",
        "invoiced_object_id",
        "buyer_accounting_reference",
        "preceding_invoices[].number",
        "preceding_invoices[].issue_date",
        "invoicing_period.start",
        "invoicing_period.end",
        "total_without_tax",
        "tax_total_in_tax_currency",
        *(
            f"{party}.{name}"
            for party in ("seller", "buyer")
            for name in (
                "trading_name",
                "identifier",
                "identifier_scheme",
                "legal_registration_id",
                "legal_registration_scheme",
                "electronic_address",
                "electronic_address_scheme",
                "contact_name",
            )
        ),
        "seller.legal_form",
        "seller.tax_id",
        "payee.name",
        "payee.identifier",
        "payee.identifier_scheme",
        "payee.legal_registration_id",
        "payee.legal_registration_scheme",
        "tax_representative.name",
        "tax_representative.vat_id",
        "tax_representative.address.city",
        "delivery.party_name",
        "delivery.location_id",
        "delivery.location_scheme",
        "delivery.date",
        "delivery.address.city",
        *(
            f"{kind}[].{name}"
            for kind in ("allowances", "charges")
            for name in ("amount", "base_amount", "percentage", "reason", "reason_code", "tax_category", "tax_rate")
        ),
        "tax_breakdown[].exemption_reason",
        "tax_breakdown[].exemption_reason_code",
        "payment.means_code",
        "payment.means_text",
        "payment.account_name",
        "payment.card_number",
        "payment.mandate_reference",
        "payment.creditor_id",
        "payment.debited_account",
        *(
            f"line_items[].{name}"
            for name in (
                "line_id",
                "note",
                "item_description",
                "seller_item_id",
                "buyer_item_id",
                "standard_item_id",
                "standard_item_id_scheme",
                "origin_country",
                "order_line_reference",
                "accounting_reference",
                "period.start",
                "period.end",
                "gross_price",
                "price_base_quantity",
                "allowance_reason",
                "charge_reason",
            )
        ),
    }
)


def _text(root: etree._Element, xpath: str) -> str:
    found = root.xpath(xpath, namespaces=NS)
    assert isinstance(found, list) and found, f"the file has nothing at {xpath}"
    node = found[0]
    text = node if isinstance(node, str) else "".join(node.itertext())
    assert str(text).strip(), f"the file has an empty value at {xpath}"
    return str(text).strip()


def _expected(root: etree._Element, spec: str | Ratio | Code) -> str | Decimal:
    if isinstance(spec, Code):
        return _text(root, spec.xpath).upper()
    if isinstance(spec, Ratio):
        return Decimal(_text(root, spec.numerator)) / Decimal(_text(root, spec.denominator))
    return _text(root, spec)


def _value(invoice: Any, path: str) -> Any:
    value = invoice
    for part in path.split("."):
        name, _, index = part.partition("[")
        value = getattr(value, name)
        if index:
            value = value[int(index.rstrip("]"))]
    return value


def _same(value: Any, expected: str | Decimal) -> bool:
    if isinstance(expected, Decimal) or isinstance(value, Decimal):
        return isinstance(value, Decimal) and value == Decimal(expected)
    if isinstance(value, dt.date):
        return value == dt.date.fromisoformat(expected)
    # Single-line text is read with its whitespace runs collapsed, as the model stores it.
    return isinstance(value, str) and " ".join(value.split()) == " ".join(expected.split())


def _params() -> list[Any]:
    if not conformance.available():
        return [pytest.param(None, marks=pytest.mark.skip(reason=conformance.CONFORMANCE_SKIP_REASON))]
    return [pytest.param(case, id=f"{case[0].rsplit('/', 1)[-1]}:{case[1]}") for case in CASES]


def _parse(relative: str) -> tuple[bytes, etree._Element]:
    data = (conformance.CONFORMANCE / relative).read_bytes()
    return data, etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


@pytest.mark.parametrize("case", _params())
def test_field_is_read_as_the_xpath_says(case: Case) -> None:
    relative, path, spec = case
    data, root = _parse(relative)
    value = _value(read_einvoice(data), path)
    expected = _expected(root, spec)
    assert value is not None, f"{path} was not read from {relative}"
    assert _same(value, expected), f"{path}: read {value!r}, the file says {expected!r}"


def test_the_cases_cover_every_new_field() -> None:
    covered = {re.sub(r"\[\d+\]", "[]", path) for _, path, _ in CASES}
    assert sorted(NEW_FIELDS - covered) == []


def test_a_credit_note_is_among_the_files() -> None:
    conformance.require()
    roots = {_parse(relative)[1].tag for relative, _, _ in CASES}
    assert "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote" in roots
