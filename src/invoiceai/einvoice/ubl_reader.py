"""Reads OASIS UBL 2.1 ``Invoice`` and ``CreditNote`` documents into invoice data.

The EN 16931 UBL binding is followed; the XPaths per business term are listed in
``docs/einvoice.md``. A credit note differs from an invoice only in element names
(``CreditNoteTypeCode``, ``CreditNoteLine``, ``CreditedQuantity``) and in where the due date
lives (``cac:PaymentMeans/cbc:PaymentDueDate``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._nodes import (
    amount,
    date_value,
    element_text,
    first,
    first_text,
    is_true,
    nodes,
    one_line,
    texts,
)
from invoiceai.einvoice.cii_reader import join_notes
from invoiceai.einvoice.results import DocumentHeader
from invoiceai.einvoice.syntax import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS, document_type_for

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["read_ubl"]


def read_ubl(root: etree._Element) -> tuple[dict[str, Any], DocumentHeader]:
    """Reads a UBL ``Invoice`` or ``CreditNote`` into the keyword data of an :class:`~invoiceai.Invoice`.

    Args:
        root: The document root.

    Returns:
        The invoice data and the header facts the invoice model has no field for.
    """
    credit = str(root.tag).endswith("}CreditNote")
    ns = UBL_CREDIT_NOTE_NS if credit else UBL_INVOICE_NS
    kind = "CreditNote" if credit else "Invoice"
    currency = first_text(root, "cbc:DocumentCurrencyCode", ns)
    type_code = first_text(root, f"cbc:{kind}TypeCode", ns)
    due = first_text(root, "cbc:DueDate", ns) or first_text(root, "cac:PaymentMeans/cbc:PaymentDueDate", ns)
    data: dict[str, Any] = {
        # BT-3 is optional in the UBL XSD; without it, a CreditNote root still says what it is.
        "document_type": document_type_for(type_code) or ("credit_note" if credit else None),
        "invoice_number": one_line(first_text(root, "cbc:ID", ns)),
        "issue_date": date_value(first_text(root, "cbc:IssueDate", ns)),
        "due_date": date_value(due),
        "currency": currency,
        "buyer_reference": one_line(first_text(root, "cbc:BuyerReference", ns)),
        "purchase_order": one_line(first_text(root, "cac:OrderReference/cbc:ID", ns)),
        "seller": _party(first(root, "cac:AccountingSupplierParty/cac:Party", ns), ns, seller=True),
        "buyer": _party(first(root, "cac:AccountingCustomerParty/cac:Party", ns), ns, seller=False),
        "notes": join_notes(texts(root, "cbc:Note", ns)),
        "line_items": [_line(line, ns, credit) for line in nodes(root, f"cac:{kind}Line", ns)],
        "tax_breakdown": [_tax(sub, ns) for sub in _tax_subtotals(root, ns, currency)],
        "tax_total": _tax_total(root, ns, currency),
        "payment": _payment(root, ns),
    }
    totals = first(root, "cac:LegalMonetaryTotal", ns)
    if totals is not None:
        data.update(
            {
                "subtotal": amount(first_text(totals, "cbc:LineExtensionAmount", ns)),
                "allowance_total": amount(first_text(totals, "cbc:AllowanceTotalAmount", ns)),
                "charge_total": amount(first_text(totals, "cbc:ChargeTotalAmount", ns)),
                "total": amount(first_text(totals, "cbc:TaxInclusiveAmount", ns)),
                "amount_paid": amount(first_text(totals, "cbc:PrepaidAmount", ns)),
                "rounding_amount": amount(first_text(totals, "cbc:PayableRoundingAmount", ns)),
                "amount_due": amount(first_text(totals, "cbc:PayableAmount", ns)),
            }
        )
    return data, DocumentHeader(type_code=type_code, specification=first_text(root, "cbc:CustomizationID", ns))


def _party(party: etree._Element | None, ns: dict[str, str], *, seller: bool) -> dict[str, Any]:
    if party is None:
        return {}
    # BT-27/BT-44 is the legal registration name; the trading name (BT-28/BT-45) stands in
    # only when a document omits it.
    name = first_text(party, "cac:PartyLegalEntity/cbc:RegistrationName", ns) or first_text(
        party, "cac:PartyName/cbc:Name", ns
    )
    if seller:
        tax_id = first_text(party, "cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID)!='VAT']/cbc:CompanyID", ns)
    else:
        tax_id = first_text(party, "cac:PartyLegalEntity/cbc:CompanyID", ns)
    address = first(party, "cac:PostalAddress", ns)
    return {
        "name": one_line(name),
        "vat_id": first_text(
            party, "cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID)='VAT']/cbc:CompanyID", ns
        ),
        "tax_id": one_line(tax_id),
        "email": one_line(first_text(party, "cac:Contact/cbc:ElectronicMail", ns)),
        "phone": one_line(first_text(party, "cac:Contact/cbc:Telephone", ns)),
        "address": _address(address, ns) if address is not None else {},
    }


def _address(address: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    street = texts(address, "cbc:StreetName | cbc:AdditionalStreetName | cac:AddressLine/cbc:Line", ns)
    return {
        "street": ", ".join(line for line in (one_line(part) for part in street) if line) or None,
        "city": one_line(first_text(address, "cbc:CityName", ns)),
        "postal_code": one_line(first_text(address, "cbc:PostalZone", ns)),
        "region": one_line(first_text(address, "cbc:CountrySubentity", ns)),
        "country_code": first_text(address, "cac:Country/cbc:IdentificationCode", ns),
    }


def _line(line: etree._Element, ns: dict[str, str], credit: bool) -> dict[str, Any]:
    quantity = first(line, "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", ns)
    allowances: list[Decimal] = []
    charges: list[Decimal] = []
    for entry in nodes(line, "cac:AllowanceCharge", ns):
        value = amount(first_text(entry, "cbc:Amount", ns))
        if isinstance(value, Decimal):
            (charges if is_true(first_text(entry, "cbc:ChargeIndicator", ns)) else allowances).append(value)
    name = first_text(line, "cac:Item/cbc:Name", ns) or first_text(line, "cac:Item/cbc:Description", ns)
    return {
        "description": one_line(name),
        "quantity": amount(element_text(quantity)) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "unit_price": _unit_price(line, ns),
        "allowance_amount": sum(allowances) if allowances else None,
        "charge_amount": sum(charges) if charges else None,
        "amount": amount(first_text(line, "cbc:LineExtensionAmount", ns)),
        "tax_rate": amount(first_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", ns)),
        "tax_category": first_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID", ns),
    }


def _unit_price(line: etree._Element, ns: dict[str, str]) -> Any:
    net = amount(first_text(line, "cac:Price/cbc:PriceAmount", ns))
    base = amount(first_text(line, "cac:Price/cbc:BaseQuantity", ns))
    # BT-146 is the price of BT-149 units; the model stores the price of one unit.
    if isinstance(net, Decimal) and isinstance(base, Decimal) and base not in (0, 1):
        return net / base
    return net


def _tax_totals(root: etree._Element, ns: dict[str, str], currency: str | None) -> list[etree._Element]:
    # A second cac:TaxTotal carries BT-111 (VAT in the accounting currency) without subtotals.
    totals = nodes(root, "cac:TaxTotal", ns)
    matching = [t for t in totals if (first(t, "cbc:TaxAmount", ns) is not None) and _in_currency(t, ns, currency)]
    return matching or totals[:1]


def _in_currency(total: etree._Element, ns: dict[str, str], currency: str | None) -> bool:
    element = first(total, "cbc:TaxAmount", ns)
    return currency is None or element is None or element.get("currencyID") in (None, currency)


def _tax_total(root: etree._Element, ns: dict[str, str], currency: str | None) -> Any:
    totals = _tax_totals(root, ns, currency)
    return amount(first_text(totals[0], "cbc:TaxAmount", ns)) if totals else None


def _tax_subtotals(root: etree._Element, ns: dict[str, str], currency: str | None) -> list[etree._Element]:
    return [sub for total in _tax_totals(root, ns, currency) for sub in nodes(total, "cac:TaxSubtotal", ns)]


def _tax(sub: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    reason = first_text(sub, "cac:TaxCategory/cbc:TaxExemptionReason", ns) or first_text(
        sub, "cac:TaxCategory/cbc:TaxExemptionReasonCode", ns
    )
    return {
        "rate": amount(first_text(sub, "cac:TaxCategory/cbc:Percent", ns)),
        "taxable_amount": amount(first_text(sub, "cbc:TaxableAmount", ns)),
        "tax_amount": amount(first_text(sub, "cbc:TaxAmount", ns)),
        "category": first_text(sub, "cac:TaxCategory/cbc:ID", ns),
        "exemption_reason": one_line(reason),
    }


def _payment(root: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    account = bic = reference = None
    for means in nodes(root, "cac:PaymentMeans", ns):
        account = first_text(means, "cac:PayeeFinancialAccount/cbc:ID", ns)
        bic = first_text(means, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID", ns)
        reference = first_text(means, "cbc:PaymentID", ns)
        if account:
            break
    if reference is None:
        reference = first_text(root, "cac:PaymentMeans/cbc:PaymentID", ns)
    iban = account if account and looks_like_iban(account) else None
    return {
        "iban": iban,
        "account_number": None if iban else one_line(account),
        "bic": bic,
        "reference": one_line(reference),
        "terms": join_notes(texts(root, "cac:PaymentTerms/cbc:Note", ns)),
    }


def looks_like_iban(value: str) -> bool:
    """Whether an account identifier has the shape of an IBAN (country, check digits, 11-30 more)."""
    compact = "".join(value.split()).upper()
    return 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum()
