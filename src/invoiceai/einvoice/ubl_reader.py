"""Reads OASIS UBL 2.1 ``Invoice`` and ``CreditNote`` documents into invoice data.

The EN 16931 UBL binding is followed; the XPaths per business term are listed in
``docs/einvoice.md``. A credit note differs from an invoice only in element names
(``CreditNoteTypeCode``, ``CreditNoteLine``, ``CreditedQuantity``), in where the due date
lives (``cac:PaymentMeans/cbc:PaymentDueDate``) and in where the project reference BT-11 lives (a
``cac:AdditionalDocumentReference`` of type 50). Parties, lines and payment instructions are read
by :mod:`~invoiceai.einvoice.ubl_parties`, :mod:`~invoiceai.einvoice.ubl_lines` and
:mod:`~invoiceai.einvoice.ubl_payment`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._nodes import amount, date_value, first, first_text, is_true, nodes, one_line, texts
from invoiceai.einvoice.cii_reader import join_notes
from invoiceai.einvoice.results import DocumentHeader
from invoiceai.einvoice.syntax import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS, document_type_for
from invoiceai.einvoice.ubl_common import line_text
from invoiceai.einvoice.ubl_lines import read_line
from invoiceai.einvoice.ubl_parties import read_delivery, read_party
from invoiceai.einvoice.ubl_payment import looks_like_iban, read_payment

if TYPE_CHECKING:
    from lxml import etree

# looks_like_iban is re-exported: the CII writer imports it from here.
__all__ = ["looks_like_iban", "read_ubl"]

# A purchase order reference (BT-13) of "NA" only fills cac:OrderReference/cbc:ID, which UBL
# requires, when there is a sales order reference (BT-14) alone.
NO_ORDER = "NA"


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
    tax_currency = first_text(root, "cbc:TaxCurrencyCode", ns)
    if tax_currency == currency:
        # BT-6 is a second currency; the same one again says nothing, and CII forbids it (BR-53).
        tax_currency = None
    type_code = first_text(root, f"cbc:{kind}TypeCode", ns)
    due = first_text(root, "cbc:DueDate", ns) or first_text(root, "cac:PaymentMeans/cbc:PaymentDueDate", ns)
    supplier = first(root, "cac:AccountingSupplierParty/cac:Party", ns)
    data: dict[str, Any] = {
        # BT-3 is optional in the UBL XSD; without it, a CreditNote root still says what it is.
        "document_type": document_type_for(type_code) or ("credit_note" if credit else None),
        "invoice_number": one_line(first_text(root, "cbc:ID", ns)),
        "issue_date": date_value(first_text(root, "cbc:IssueDate", ns)),
        "due_date": date_value(due),
        "tax_point_date": date_value(first_text(root, "cbc:TaxPointDate", ns)),
        "currency": currency,
        "tax_currency": tax_currency,
        **_references(root, ns),
        "seller": read_party(supplier, ns, "seller"),
        "buyer": read_party(first(root, "cac:AccountingCustomerParty/cac:Party", ns), ns, "buyer"),
        "payee": read_party(first(root, "cac:PayeeParty", ns), ns, "payee"),
        "tax_representative": read_party(first(root, "cac:TaxRepresentativeParty", ns), ns, "tax_representative"),
        "delivery": read_delivery(root, ns),
        "invoicing_period": {
            "start": date_value(first_text(root, "cac:InvoicePeriod/cbc:StartDate", ns)),
            "end": date_value(first_text(root, "cac:InvoicePeriod/cbc:EndDate", ns)),
        },
        "notes": join_notes(texts(root, "cbc:Note", ns)),
        "line_items": [read_line(line, ns, credit) for line in nodes(root, f"cac:{kind}Line", ns)],
        "allowances": _allowances(root, ns, charge=False),
        "charges": _allowances(root, ns, charge=True),
        "tax_breakdown": [_tax(sub, ns) for sub in _tax_subtotals(root, ns, currency)],
        "tax_total": _tax_total(root, ns, currency),
        "tax_total_in_tax_currency": _tax_total_in(root, ns, tax_currency, currency),
        "payment": read_payment(root, ns),
    }
    totals = first(root, "cac:LegalMonetaryTotal", ns)
    if totals is not None:
        data.update(_totals(totals, ns))
    return data, DocumentHeader(type_code=type_code, specification=first_text(root, "cbc:CustomizationID", ns))


def _references(root: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    order = line_text(root, "cac:OrderReference/cbc:ID", ns)
    sales_order = line_text(root, "cac:OrderReference/cbc:SalesOrderID", ns)
    if order == NO_ORDER and sales_order:
        order = None
    # An Invoice has cac:ProjectReference; a CreditNote has none and states BT-11 as a document
    # reference of type 50.
    project = line_text(root, "cac:ProjectReference/cbc:ID", ns) or line_text(
        root, "cac:AdditionalDocumentReference[normalize-space(cbc:DocumentTypeCode)='50']/cbc:ID", ns
    )
    return {
        "buyer_reference": line_text(root, "cbc:BuyerReference", ns),
        "purchase_order": order,
        "sales_order_reference": sales_order,
        "project_reference": project,
        "contract_reference": line_text(root, "cac:ContractDocumentReference/cbc:ID", ns),
        "receiving_advice_reference": line_text(root, "cac:ReceiptDocumentReference/cbc:ID", ns),
        "despatch_advice_reference": line_text(root, "cac:DespatchDocumentReference/cbc:ID", ns),
        "tender_reference": line_text(root, "cac:OriginatorDocumentReference/cbc:ID", ns),
        "invoiced_object_id": line_text(
            root, "cac:AdditionalDocumentReference[normalize-space(cbc:DocumentTypeCode)='130']/cbc:ID", ns
        ),
        "buyer_accounting_reference": line_text(root, "cbc:AccountingCost", ns),
        "preceding_invoices": [
            {"number": line_text(ref, "cbc:ID", ns), "issue_date": date_value(first_text(ref, "cbc:IssueDate", ns))}
            for ref in nodes(root, "cac:BillingReference/cac:InvoiceDocumentReference", ns)
        ],
    }


def _allowances(root: etree._Element, ns: dict[str, str], *, charge: bool) -> list[dict[str, Any]]:
    found = []
    for entry in nodes(root, "cac:AllowanceCharge", ns):
        if is_true(first_text(entry, "cbc:ChargeIndicator", ns)) != charge:
            continue
        found.append(
            {
                "amount": amount(first_text(entry, "cbc:Amount", ns)),
                "base_amount": amount(first_text(entry, "cbc:BaseAmount", ns)),
                "percentage": amount(first_text(entry, "cbc:MultiplierFactorNumeric", ns)),
                "reason": line_text(entry, "cbc:AllowanceChargeReason", ns),
                "reason_code": line_text(entry, "cbc:AllowanceChargeReasonCode", ns),
                "tax_category": first_text(entry, "cac:TaxCategory/cbc:ID", ns),
                "tax_rate": amount(first_text(entry, "cac:TaxCategory/cbc:Percent", ns)),
            }
        )
    return found


def _totals(totals: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    return {
        "subtotal": amount(first_text(totals, "cbc:LineExtensionAmount", ns)),
        "allowance_total": amount(first_text(totals, "cbc:AllowanceTotalAmount", ns)),
        "charge_total": amount(first_text(totals, "cbc:ChargeTotalAmount", ns)),
        "total_without_tax": amount(first_text(totals, "cbc:TaxExclusiveAmount", ns)),
        "total": amount(first_text(totals, "cbc:TaxInclusiveAmount", ns)),
        "amount_paid": amount(first_text(totals, "cbc:PrepaidAmount", ns)),
        "rounding_amount": amount(first_text(totals, "cbc:PayableRoundingAmount", ns)),
        "amount_due": amount(first_text(totals, "cbc:PayableAmount", ns)),
    }


def _tax_totals(root: etree._Element, ns: dict[str, str], currency: str | None) -> list[etree._Element]:
    # A second cac:TaxTotal carries BT-111 (VAT in the accounting currency) without subtotals.
    totals = nodes(root, "cac:TaxTotal", ns)
    matching = [t for t in totals if (first(t, "cbc:TaxAmount", ns) is not None) and _in_currency(t, ns, currency)]
    if len(matching) > 1:
        # BT-6 may equal BT-5: then the total without subtotals is BT-111, not a second BT-110.
        with_rows = [t for t in matching if first(t, "cac:TaxSubtotal", ns) is not None]
        matching = with_rows or matching
    return matching or totals[:1]


def _in_currency(total: etree._Element, ns: dict[str, str], currency: str | None) -> bool:
    element = first(total, "cbc:TaxAmount", ns)
    return currency is None or element is None or element.get("currencyID") in (None, currency)


def _tax_total(root: etree._Element, ns: dict[str, str], currency: str | None) -> Any:
    totals = _tax_totals(root, ns, currency)
    return amount(first_text(totals[0], "cbc:TaxAmount", ns)) if totals else None


def _tax_total_in(root: etree._Element, ns: dict[str, str], tax_currency: str | None, currency: str | None) -> Any:
    """BT-111: the VAT total in the accounting currency (BT-6), a cac:TaxTotal of its own."""
    if not tax_currency:
        return None
    main = _tax_totals(root, ns, currency)
    for total in nodes(root, "cac:TaxTotal", ns):
        element = first(total, "cbc:TaxAmount", ns)
        if element is not None and element.get("currencyID") == tax_currency and total not in main:
            return amount(first_text(total, "cbc:TaxAmount", ns))
    return None


def _upper(code: str | None) -> str | None:
    return code.upper() if code is not None else None


def _tax_subtotals(root: etree._Element, ns: dict[str, str], currency: str | None) -> list[etree._Element]:
    return [sub for total in _tax_totals(root, ns, currency) for sub in nodes(total, "cac:TaxSubtotal", ns)]


def _tax(sub: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    return {
        "rate": amount(first_text(sub, "cac:TaxCategory/cbc:Percent", ns)),
        "taxable_amount": amount(first_text(sub, "cbc:TaxableAmount", ns)),
        "tax_amount": amount(first_text(sub, "cbc:TaxAmount", ns)),
        "category": first_text(sub, "cac:TaxCategory/cbc:ID", ns),
        "exemption_reason": one_line(first_text(sub, "cac:TaxCategory/cbc:TaxExemptionReason", ns)),
        # VATEX codes are upper case; "vatex-eu-132-1g" is the same code (the CII reader agrees).
        "exemption_reason_code": _upper(line_text(sub, "cac:TaxCategory/cbc:TaxExemptionReasonCode", ns)),
    }
