"""Every EN 16931 term the CII reader gained, read from a real file and checked against an XPath.

The expected values come from plain lxml XPath evaluated here on the same file, with their own
namespace map and conversions, independently of the reader's layout tables and helpers, so a
reader bug cannot hide itself in the expected value. The files are the CEN examples and the
KoSIT XRechnung cases in ../shared/conformance; the tests skip when that material is absent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

import conformance
from invoiceai.einvoice import read_einvoice
from invoiceai.schema import Invoice

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
TRADE = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
AGREEMENT = f"{TRADE}/ram:ApplicableHeaderTradeAgreement"
DELIVERY = f"{TRADE}/ram:ApplicableHeaderTradeDelivery"
SETTLEMENT = f"{TRADE}/ram:ApplicableHeaderTradeSettlement"
SELLER = f"{AGREEMENT}/ram:SellerTradeParty"
BUYER = f"{AGREEMENT}/ram:BuyerTradeParty"
PAYEE = f"{SETTLEMENT}/ram:PayeeTradeParty"
SHIP_TO = f"{DELIVERY}/ram:ShipToTradeParty"
MEANS = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
EXAMPLE5 = "cen/cii/examples/CII_example5.xml"
EXAMPLE1 = "cen/cii/examples/CII_business_example_01.xml"
KOSIT_02_01 = "kosit/business-cases/standard/02.01a-INVOICE_uncefact.xml"
KOSIT_03_01 = "kosit/business-cases/standard/03.01a-INVOICE_uncefact.xml"

# (file, field path on the Invoice, XPath of the value in the file, how to read the XML text)
DOCUMENT_TERMS: list[tuple[str, str, str, str]] = [
    (EXAMPLE5, "tax_point_date", f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:TaxPointDate/udt:DateString", "date"),
    (EXAMPLE5, "tax_currency", f"{SETTLEMENT}/ram:TaxCurrencyCode", "text"),
    (
        EXAMPLE5,
        "tax_total_in_tax_currency",
        f"{SETTLEMENT}/*/ram:TaxTotalAmount[@currencyID = {SETTLEMENT}/ram:TaxCurrencyCode]",
        "decimal",
    ),
    (EXAMPLE5, "total_without_tax", f"{SETTLEMENT}/*/ram:TaxBasisTotalAmount", "decimal"),
    (EXAMPLE5, "project_reference", f"{AGREEMENT}/ram:SpecifiedProcuringProject/ram:ID", "text"),
    (EXAMPLE5, "contract_reference", f"{AGREEMENT}/ram:ContractReferencedDocument/ram:IssuerAssignedID", "text"),
    (EXAMPLE5, "sales_order_reference", f"{AGREEMENT}/ram:SellerOrderReferencedDocument/ram:IssuerAssignedID", "text"),
    (
        EXAMPLE5,
        "receiving_advice_reference",
        f"{DELIVERY}/ram:ReceivingAdviceReferencedDocument/ram:IssuerAssignedID",
        "text",
    ),
    (
        EXAMPLE5,
        "despatch_advice_reference",
        f"{DELIVERY}/ram:DespatchAdviceReferencedDocument/ram:IssuerAssignedID",
        "text",
    ),
    (
        "kosit/business-cases/standard/01.09a-INVOICE_uncefact.xml",
        "tender_reference",
        f"{AGREEMENT}/ram:AdditionalReferencedDocument[ram:TypeCode = '50']/ram:IssuerAssignedID",
        "text",
    ),
    (
        "cen/cii/examples/CII_example8.xml",
        "invoiced_object_id",
        f"{AGREEMENT}/ram:AdditionalReferencedDocument[ram:TypeCode = '130']/ram:IssuerAssignedID",
        "text",
    ),
    (
        EXAMPLE5,
        "buyer_accounting_reference",
        f"{SETTLEMENT}/ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID",
        "text",
    ),
    (
        EXAMPLE5,
        "preceding_invoices[0].number",
        f"{SETTLEMENT}/ram:InvoiceReferencedDocument/ram:IssuerAssignedID",
        "text",
    ),
    (
        EXAMPLE5,
        "preceding_invoices[0].issue_date",
        f"{SETTLEMENT}/ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString",
        "date",
    ),
    (EXAMPLE5, "invoicing_period.start", f"{SETTLEMENT}/ram:BillingSpecifiedPeriod/ram:StartDateTime/*", "date"),
    (EXAMPLE5, "invoicing_period.end", f"{SETTLEMENT}/ram:BillingSpecifiedPeriod/ram:EndDateTime/*", "date"),
    # Seller (BG-4)
    (EXAMPLE5, "seller.trading_name", f"{SELLER}/ram:SpecifiedLegalOrganization/ram:TradingBusinessName", "text"),
    ("cen/cii/examples/CII_example4.xml", "seller.identifier", f"({SELLER}/ram:GlobalID[@schemeID])[1]", "text"),
    (
        "cen/cii/examples/CII_example4.xml",
        "seller.identifier_scheme",
        f"({SELLER}/ram:GlobalID[@schemeID])[1]/@schemeID",
        "text",
    ),
    ("cen/cii/examples/CII_example7.xml", "seller.identifier", f"{SELLER}/ram:ID[1]", "text"),
    (EXAMPLE5, "seller.legal_registration_id", f"{SELLER}/ram:SpecifiedLegalOrganization/ram:ID", "text"),
    (
        KOSIT_02_01,
        "seller.legal_registration_scheme",
        f"{SELLER}/ram:SpecifiedLegalOrganization/ram:ID/@schemeID",
        "text",
    ),
    (EXAMPLE5, "seller.legal_form", f"{SELLER}/ram:Description", "text"),
    (EXAMPLE5, "seller.electronic_address", f"{SELLER}/ram:URIUniversalCommunication/ram:URIID", "text"),
    (
        EXAMPLE5,
        "seller.electronic_address_scheme",
        f"{SELLER}/ram:URIUniversalCommunication/ram:URIID/@schemeID",
        "text",
    ),
    (EXAMPLE5, "seller.contact_name", f"{SELLER}/ram:DefinedTradeContact/ram:PersonName", "text"),
    # Buyer (BG-7)
    (EXAMPLE5, "buyer.trading_name", f"{BUYER}/ram:SpecifiedLegalOrganization/ram:TradingBusinessName", "text"),
    (EXAMPLE1, "buyer.identifier", f"({BUYER}/ram:GlobalID[@schemeID])[1]", "text"),
    (EXAMPLE1, "buyer.identifier_scheme", f"({BUYER}/ram:GlobalID[@schemeID])[1]/@schemeID", "text"),
    (KOSIT_02_01, "buyer.legal_registration_id", f"{BUYER}/ram:SpecifiedLegalOrganization/ram:ID", "text"),
    (
        KOSIT_02_01,
        "buyer.legal_registration_scheme",
        f"{BUYER}/ram:SpecifiedLegalOrganization/ram:ID/@schemeID",
        "text",
    ),
    (EXAMPLE5, "buyer.electronic_address", f"{BUYER}/ram:URIUniversalCommunication/ram:URIID", "text"),
    (EXAMPLE5, "buyer.electronic_address_scheme", f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/@schemeID", "text"),
    (EXAMPLE1, "buyer.contact_name", f"{BUYER}/ram:DefinedTradeContact/ram:PersonName", "text"),
    # Payee (BG-10) and tax representative (BG-11)
    (EXAMPLE5, "payee.name", f"{PAYEE}/ram:Name", "text"),
    (EXAMPLE5, "payee.identifier", f"{PAYEE}/ram:ID", "text"),
    (EXAMPLE5, "payee.legal_registration_id", f"{PAYEE}/ram:SpecifiedLegalOrganization/ram:ID", "text"),
    (
        "kosit/technical-cases/cius/01.02_comprehensive_test_uncefact.xml",
        "payee.identifier_scheme",
        f"({PAYEE}/ram:GlobalID[@schemeID])[1]/@schemeID",
        "text",
    ),
    (
        "kosit/business-cases/standard/03.07a-INVOICE_uncefact.xml",
        "payee.legal_registration_scheme",
        f"{PAYEE}/ram:SpecifiedLegalOrganization/ram:ID/@schemeID",
        "text",
    ),
    (EXAMPLE5, "tax_representative.name", f"{AGREEMENT}/ram:SellerTaxRepresentativeTradeParty/ram:Name", "text"),
    (
        EXAMPLE5,
        "tax_representative.vat_id",
        f"{AGREEMENT}/ram:SellerTaxRepresentativeTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID = 'VA']",
        "text",
    ),
    (
        EXAMPLE5,
        "tax_representative.address.country_code",
        f"{AGREEMENT}/ram:SellerTaxRepresentativeTradeParty/ram:PostalTradeAddress/ram:CountryID",
        "text",
    ),
    # Delivery (BG-13, BG-15)
    (EXAMPLE5, "delivery.party_name", f"{SHIP_TO}/ram:Name", "text"),
    (EXAMPLE5, "delivery.location_id", f"{SHIP_TO}/ram:GlobalID", "text"),
    (EXAMPLE5, "delivery.location_scheme", f"{SHIP_TO}/ram:GlobalID/@schemeID", "text"),
    (KOSIT_02_01, "delivery.location_id", f"{SHIP_TO}/ram:ID", "text"),
    (
        EXAMPLE5,
        "delivery.date",
        f"{DELIVERY}/ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString",
        "date",
    ),
    (EXAMPLE5, "delivery.address.city", f"{SHIP_TO}/ram:PostalTradeAddress/ram:CityName", "text"),
    (EXAMPLE5, "delivery.address.country_code", f"{SHIP_TO}/ram:PostalTradeAddress/ram:CountryID", "text"),
    # VAT breakdown (BT-120, BT-121)
    (
        EXAMPLE1,
        "tax_breakdown[2].exemption_reason",
        f"{SETTLEMENT}/ram:ApplicableTradeTax[3]/ram:ExemptionReason",
        "text",
    ),
    (
        KOSIT_02_01,
        "tax_breakdown[1].exemption_reason_code",
        f"{SETTLEMENT}/ram:ApplicableTradeTax[2]/ram:ExemptionReasonCode",
        "code",
    ),
    # Payment (BG-16 to BG-19)
    (EXAMPLE5, "payment.means_code", f"{MEANS}/ram:TypeCode", "text"),
    (EXAMPLE5, "payment.means_text", f"{MEANS}/ram:Information", "text"),
    (
        "kosit/business-cases/standard/01.20a-INVOICE_uncefact.xml",
        "payment.account_name",
        f"{MEANS}/ram:PayeePartyCreditorFinancialAccount/ram:AccountName",
        "text",
    ),
    (
        "kosit/business-cases/standard/03.02a-INVOICE_uncefact.xml",
        "payment.card_number",
        f"{MEANS}/ram:ApplicableTradeSettlementFinancialCard/ram:ID",
        "text",
    ),
    (KOSIT_03_01, "payment.debited_account", f"{MEANS}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID", "text"),
    (
        EXAMPLE5,
        "payment.mandate_reference",
        f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID",
        "text",
    ),
    (EXAMPLE5, "payment.creditor_id", f"{SETTLEMENT}/ram:CreditorReferenceID", "text"),
]

# (file, field of every line, XPath relative to its ram:IncludedSupplyChainTradeLineItem, kind)
LINE_TERMS: list[tuple[str, str, str, str]] = [
    (EXAMPLE5, "line_id", "ram:AssociatedDocumentLineDocument/ram:LineID", "text"),
    (EXAMPLE5, "note", "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content", "text"),
    (EXAMPLE1, "item_description", "ram:SpecifiedTradeProduct/ram:Description", "text"),
    (EXAMPLE1, "seller_item_id", "ram:SpecifiedTradeProduct/ram:SellerAssignedID", "text"),
    (EXAMPLE5, "buyer_item_id", "ram:SpecifiedTradeProduct/ram:BuyerAssignedID", "text"),
    (EXAMPLE1, "standard_item_id", "ram:SpecifiedTradeProduct/ram:GlobalID", "text"),
    (EXAMPLE1, "standard_item_id_scheme", "ram:SpecifiedTradeProduct/ram:GlobalID/@schemeID", "text"),
    (EXAMPLE1, "origin_country", "ram:SpecifiedTradeProduct/ram:OriginTradeCountry/ram:ID", "text"),
    (
        EXAMPLE1,
        "order_line_reference",
        "ram:SpecifiedLineTradeAgreement/ram:BuyerOrderReferencedDocument/ram:LineID",
        "text",
    ),
    (
        EXAMPLE1,
        "accounting_reference",
        "ram:SpecifiedLineTradeSettlement/ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID",
        "text",
    ),
    (
        EXAMPLE1,
        "period.start",
        "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/*",
        "date",
    ),
    (EXAMPLE1, "period.end", "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime/*", "date"),
    (
        EXAMPLE1,
        "price_base_quantity",
        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
        "decimal",
    ),
    (
        EXAMPLE5,
        "allowance_reason",
        "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge"
        "[ram:ChargeIndicator/udt:Indicator = 'false']/ram:Reason",
        "text",
    ),
    (
        EXAMPLE5,
        "charge_reason",
        "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge"
        "[ram:ChargeIndicator/udt:Indicator = 'true']/ram:Reason",
        "text",
    ),
]

# (file, field of every document-level allowance or charge, XPath relative to it, kind)
ALLOWANCE_TERMS: list[tuple[str, str, str, str]] = [
    (EXAMPLE5, "amount", "ram:ActualAmount", "decimal"),
    (EXAMPLE5, "base_amount", "ram:BasisAmount", "decimal"),
    (EXAMPLE5, "percentage", "ram:CalculationPercent", "decimal"),
    (EXAMPLE5, "reason", "ram:Reason", "text"),
    (EXAMPLE5, "reason_code", "ram:ReasonCode", "text"),
    (EXAMPLE5, "tax_category", "ram:CategoryTradeTax/ram:CategoryCode", "text"),
    (EXAMPLE5, "tax_rate", "ram:CategoryTradeTax/ram:RateApplicablePercent", "decimal"),
    ("cen/cii/examples/CII_example3.xml", "reason_code", "ram:ReasonCode", "text"),
]


def _load(name: str) -> tuple[etree._Element, Invoice]:
    path = conformance.require() / name
    data = path.read_bytes()
    tree = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    return tree, read_einvoice(data)


def _expected(node: etree._Element, xpath: str, kind: str) -> Any:
    found = node.xpath(xpath, namespaces=NS)
    assert isinstance(found, list)
    if not found:
        return None
    value = found[0]
    text = str(value) if isinstance(value, str) else "".join(value.itertext())
    if not text.strip():
        return None
    if kind == "date":
        return dt.datetime.strptime(text.strip(), "%Y%m%d").date()
    if kind == "decimal":
        return Decimal(text.strip())
    if kind == "code":
        return text.strip().upper()
    return " ".join(text.split())


def _field(obj: Any, path: str) -> Any:
    for part in path.split("."):
        match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        assert match is not None, path
        obj = getattr(obj, match[1])
        if match[2] is not None:
            obj = obj[int(match[2])]
    return obj


def _ids(terms: list[tuple[str, str, str, str]]) -> list[str]:
    return [f"{field}@{name.rsplit('/', 1)[-1]}" for name, field, _, _ in terms]


@pytest.mark.parametrize(("name", "field", "xpath", "kind"), DOCUMENT_TERMS, ids=_ids(DOCUMENT_TERMS))
def test_document_term_is_read_as_the_xml_says(name: str, field: str, xpath: str, kind: str) -> None:
    tree, invoice = _load(name)
    expected = _expected(tree, xpath, kind)
    assert expected is not None, f"{name} does not carry {field}: pick another file"
    assert _field(invoice, field) == expected


@pytest.mark.parametrize(("name", "field", "xpath", "kind"), LINE_TERMS, ids=_ids(LINE_TERMS))
def test_line_term_is_read_as_the_xml_says_on_every_line(name: str, field: str, xpath: str, kind: str) -> None:
    tree, invoice = _load(name)
    lines = tree.xpath(f"{TRADE}/ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    assert isinstance(lines, list) and len(lines) == len(invoice.line_items)
    expected = [_expected(line, xpath, kind) for line in lines]
    assert any(value is not None for value in expected), f"no line of {name} carries {field}: pick another file"
    assert [_field(item, field) for item in invoice.line_items] == expected


@pytest.mark.parametrize("charge", [False, True], ids=["allowances", "charges"])
@pytest.mark.parametrize(("name", "field", "xpath", "kind"), ALLOWANCE_TERMS, ids=_ids(ALLOWANCE_TERMS))
def test_allowance_and_charge_terms_are_read_as_the_xml_says(
    name: str, field: str, xpath: str, kind: str, charge: bool
) -> None:
    tree, invoice = _load(name)
    indicator = "true" if charge else "false"
    entries = tree.xpath(
        f"{SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge[ram:ChargeIndicator/udt:Indicator = '{indicator}']",
        namespaces=NS,
    )
    assert isinstance(entries, list)
    read = invoice.charges if charge else invoice.allowances
    assert len(read) == len(entries)
    assert [_field(entry, field) for entry in read] == [_expected(entry, xpath, kind) for entry in entries]


def test_prices_are_per_one_unit_of_the_base_quantity() -> None:
    # BT-146 and BT-148 are prices of BT-149 units; the model keeps the price of one unit.
    tree, invoice = _load(EXAMPLE1)
    lines = tree.xpath(f"{TRADE}/ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    assert isinstance(lines, list)
    based = 0
    for line, item in zip(lines, invoice.line_items, strict=True):
        agreement = "ram:SpecifiedLineTradeAgreement"
        base = _expected(line, f"{agreement}/ram:NetPriceProductTradePrice/ram:BasisQuantity", "decimal")
        net = _expected(line, f"{agreement}/ram:NetPriceProductTradePrice/ram:ChargeAmount", "decimal")
        gross = _expected(line, f"{agreement}/ram:GrossPriceProductTradePrice/ram:ChargeAmount", "decimal")
        gross_base = _expected(line, f"{agreement}/ram:GrossPriceProductTradePrice/ram:BasisQuantity", "decimal")
        divisor = base if base not in (None, 0, 1) else Decimal(1)
        gross_divisor = gross_base if gross_base not in (None, 0, 1) else divisor
        based += divisor != 1
        assert item.unit_price == net / divisor
        assert item.gross_price == (gross / gross_divisor if gross is not None else None)
    assert based, "no line of the file prices per a base quantity: pick another file"


def test_buyer_legal_registration_is_no_longer_read_as_its_tax_id() -> None:
    _, invoice = _load(KOSIT_02_01)
    assert invoice.buyer.legal_registration_id is not None
    assert invoice.buyer.tax_id is None
