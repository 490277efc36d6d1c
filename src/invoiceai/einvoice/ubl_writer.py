"""Writes an :class:`~invoiceai.Invoice` as OASIS UBL 2.1 following the EN 16931 UBL binding.

A ``credit_note`` becomes a UBL ``CreditNote`` document (type 381); everything else an
``Invoice``. Elements follow the order of the UBL 2.1 XSDs, which the tests validate against.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice.cii_writer import EN16931_GUIDELINE
from invoiceai.einvoice.requirements import Plan, PlannedLine
from invoiceai.einvoice.syntax import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS
from invoiceai.einvoice.ubl_reader import looks_like_iban

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.schema import Party

__all__ = ["write_ubl"]

_CAC = "{" + UBL_INVOICE_NS["cac"] + "}"
_CBC = "{" + UBL_INVOICE_NS["cbc"] + "}"


def write_ubl(plan: Plan) -> bytes:
    """Serialises a checked :class:`~invoiceai.einvoice.requirements.Plan` as UBL XML (UTF-8)."""
    from lxml import etree

    invoice = plan.invoice
    credit = invoice.document_type == "credit_note"
    kind = "CreditNote" if credit else "Invoice"
    namespaces = UBL_CREDIT_NOTE_NS if credit else UBL_INVOICE_NS
    nsmap: Any = {None: namespaces["ubl"], "cac": namespaces["cac"], "cbc": namespaces["cbc"]}
    root = etree.Element("{" + namespaces["ubl"] + "}" + kind, nsmap=nsmap)
    currency = invoice.currency or ""
    add(root, _CBC + "CustomizationID", EN16931_GUIDELINE)
    add(root, _CBC + "ID", invoice.invoice_number)
    add(root, _CBC + "IssueDate", _iso(invoice.issue_date))
    if invoice.due_date and not credit:
        add(root, _CBC + "DueDate", _iso(invoice.due_date))
    add(root, _CBC + f"{kind}TypeCode", plan.type_code)
    add_present(root, _CBC + "Note", invoice.notes)
    add(root, _CBC + "DocumentCurrencyCode", currency)
    add_present(root, _CBC + "BuyerReference", invoice.buyer_reference)
    if invoice.purchase_order:
        add(add(root, _CAC + "OrderReference"), _CBC + "ID", invoice.purchase_order)
    _party(add(add(root, _CAC + "AccountingSupplierParty"), _CAC + "Party"), invoice.seller, seller=True)
    _party(add(add(root, _CAC + "AccountingCustomerParty"), _CAC + "Party"), invoice.buyer, seller=False)
    _payment(root, plan, credit)

    for entry in plan.allowances_and_charges:
        element = add(root, _CAC + "AllowanceCharge")
        add(element, _CBC + "ChargeIndicator", "true" if entry.charge else "false")
        add(element, _CBC + "AllowanceChargeReason", "Charge" if entry.charge else "Discount")
        add(element, _CBC + "Amount", entry.amount, currencyID=currency)
        _category(add(element, _CAC + "TaxCategory"), entry.category, entry.rate)

    tax_total = add(root, _CAC + "TaxTotal")
    add(tax_total, _CBC + "TaxAmount", plan.tax_total, currencyID=currency)
    for tax in plan.taxes:
        sub = add(tax_total, _CAC + "TaxSubtotal")
        add(sub, _CBC + "TaxableAmount", tax.row.taxable_amount, currencyID=currency)
        add(sub, _CBC + "TaxAmount", tax.row.tax_amount, currencyID=currency)
        _category(add(sub, _CAC + "TaxCategory"), tax.category, tax.row.rate, tax.row.exemption_reason)

    totals = add(root, _CAC + "LegalMonetaryTotal")
    add(totals, _CBC + "LineExtensionAmount", invoice.subtotal, currencyID=currency)
    add(totals, _CBC + "TaxExclusiveAmount", plan.tax_basis_total, currencyID=currency)
    add(totals, _CBC + "TaxInclusiveAmount", invoice.total, currencyID=currency)
    for name, value in (
        ("AllowanceTotalAmount", invoice.allowance_total),
        ("ChargeTotalAmount", invoice.charge_total),
        ("PrepaidAmount", invoice.amount_paid),
        ("PayableRoundingAmount", invoice.rounding_amount),
    ):
        if value is not None:
            add(totals, _CBC + name, value, currencyID=currency)
    add(totals, _CBC + "PayableAmount", invoice.amount_due, currencyID=currency)

    for line in plan.lines:
        _line(root, line, kind, currency)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _iso(value: dt.date | None) -> str:
    assert value is not None
    return value.isoformat()


def _party(element: etree._Element, party: Party, *, seller: bool) -> None:
    address = party.address
    postal = add(element, _CAC + "PostalAddress")
    add_present(postal, _CBC + "StreetName", address.street)
    add_present(postal, _CBC + "CityName", address.city)
    add_present(postal, _CBC + "PostalZone", address.postal_code)
    add_present(postal, _CBC + "CountrySubentity", address.region)
    add(add(postal, _CAC + "Country"), _CBC + "IdentificationCode", address.country_code)
    if party.vat_id:
        scheme = add(element, _CAC + "PartyTaxScheme")
        add(scheme, _CBC + "CompanyID", party.vat_id)
        add(add(scheme, _CAC + "TaxScheme"), _CBC + "ID", "VAT")
    if seller and party.tax_id:
        scheme = add(element, _CAC + "PartyTaxScheme")
        add(scheme, _CBC + "CompanyID", party.tax_id)
        add(add(scheme, _CAC + "TaxScheme"), _CBC + "ID", "FC")
    legal = add(element, _CAC + "PartyLegalEntity")
    add(legal, _CBC + "RegistrationName", party.name)
    if not seller and party.tax_id:
        add(legal, _CBC + "CompanyID", party.tax_id)
    if party.phone or party.email:
        contact = add(element, _CAC + "Contact")
        add_present(contact, _CBC + "Telephone", party.phone)
        add_present(contact, _CBC + "ElectronicMail", party.email)


def _payment(root: etree._Element, plan: Plan, credit: bool) -> None:
    invoice = plan.invoice
    payment = invoice.payment
    account = payment.iban or payment.account_number
    due_here = credit and invoice.due_date is not None
    if account or payment.reference or due_here:
        means = add(root, _CAC + "PaymentMeans")
        iban = account is not None and (payment.iban is not None or looks_like_iban(account))
        # 58 SEPA credit transfer, 30 credit transfer, 1 "not defined" (only a reference or date).
        add(means, _CBC + "PaymentMeansCode", "58" if iban else "30" if account else "1")
        if due_here:
            add(means, _CBC + "PaymentDueDate", _iso(invoice.due_date))
        add_present(means, _CBC + "PaymentID", payment.reference)
        if account:
            financial = add(means, _CAC + "PayeeFinancialAccount")
            add(financial, _CBC + "ID", account)
            if payment.bic:
                add(add(financial, _CAC + "FinancialInstitutionBranch"), _CBC + "ID", payment.bic)
    if payment.terms:
        add(add(root, _CAC + "PaymentTerms"), _CBC + "Note", payment.terms)


def _category(element: etree._Element, category: str, rate: Decimal | None, reason: str | None = None) -> None:
    add(element, _CBC + "ID", category)
    if rate is not None:
        add(element, _CBC + "Percent", rate)
    if reason:
        code = reason.upper().startswith("VATEX-") and " " not in reason
        add(element, _CBC + ("TaxExemptionReasonCode" if code else "TaxExemptionReason"), reason)
    add(add(element, _CAC + "TaxScheme"), _CBC + "ID", "VAT")


def _line(root: etree._Element, line: PlannedLine, kind: str, currency: str) -> None:
    item = line.item
    element = add(root, _CAC + f"{kind}Line")
    add(element, _CBC + "ID", line.line_id)
    quantity = "CreditedQuantity" if kind == "CreditNote" else "InvoicedQuantity"
    add(element, _CBC + quantity, item.quantity, unitCode=line.unit_code)
    add(element, _CBC + "LineExtensionAmount", item.amount, currencyID=currency)
    for charge, value in ((False, item.allowance_amount), (True, item.charge_amount)):
        if value:
            entry = add(element, _CAC + "AllowanceCharge")
            add(entry, _CBC + "ChargeIndicator", "true" if charge else "false")
            add(entry, _CBC + "AllowanceChargeReason", "Charge" if charge else "Discount")
            add(entry, _CBC + "Amount", value, currencyID=currency)
    product = add(element, _CAC + "Item")
    add(product, _CBC + "Name", item.description)
    _category(add(product, _CAC + "ClassifiedTaxCategory"), line.category, item.tax_rate)
    add(add(element, _CAC + "Price"), _CBC + "PriceAmount", item.unit_price, currencyID=currency)
