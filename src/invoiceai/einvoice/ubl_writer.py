"""Writes an :class:`~invoiceai.Invoice` as OASIS UBL 2.1 following the EN 16931 UBL binding.

A ``credit_note`` becomes a UBL ``CreditNote`` document (type 381); everything else an
``Invoice``. Elements follow the order of the UBL 2.1 XSDs, which the tests validate against;
the two documents order a few header elements differently (``cbc:TaxPointDate``, the document
references), and a credit note states its project reference (BT-11) as a document reference of
type 50, having no ``cac:ProjectReference``. Parties, lines and payment instructions are written
by :mod:`~invoiceai.einvoice.ubl_parties`, :mod:`~invoiceai.einvoice.ubl_lines` and
:mod:`~invoiceai.einvoice.ubl_payment`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice.cii_writer import EN16931_GUIDELINE
from invoiceai.einvoice.syntax import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS
from invoiceai.einvoice.ubl_common import CAC, CBC, iso, present
from invoiceai.einvoice.ubl_lines import item_rate, write_category, write_line
from invoiceai.einvoice.ubl_parties import (
    has_payee,
    write_delivery,
    write_party,
    write_payee,
    write_tax_representative,
)
from invoiceai.einvoice.ubl_payment import write_payment
from invoiceai.einvoice.ubl_reader import NO_ORDER

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.einvoice.requirements import Plan
    from invoiceai.schema import Invoice

__all__ = ["write_ubl"]


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
    _header(root, plan, credit)
    _references(root, invoice, credit)
    # BT-90 goes with the payee when there is one, else with the seller.
    creditor_id = invoice.payment.creditor_id
    payee = has_payee(invoice.payee, invoice.seller)
    supplier = add(add(root, CAC + "AccountingSupplierParty"), CAC + "Party")
    write_party(supplier, invoice.seller, seller=True, creditor_id=None if payee else creditor_id)
    write_party(add(add(root, CAC + "AccountingCustomerParty"), CAC + "Party"), invoice.buyer, seller=False)
    write_payee(root, invoice.payee, invoice.seller, creditor_id)
    write_tax_representative(root, invoice.tax_representative)
    write_delivery(root, invoice.delivery)
    write_payment(root, plan, credit)
    _allowances_and_charges(root, plan, currency)
    _tax_totals(root, plan, currency)
    _monetary_total(root, plan, currency)
    for line in plan.lines:
        write_line(root, line, kind, currency)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _header(root: etree._Element, plan: Plan, credit: bool) -> None:
    invoice = plan.invoice
    add(root, CBC + "CustomizationID", EN16931_GUIDELINE)
    add(root, CBC + "ID", invoice.invoice_number)
    add(root, CBC + "IssueDate", iso(invoice.issue_date))
    if credit:
        add_present(root, CBC + "TaxPointDate", iso(invoice.tax_point_date))
        add(root, CBC + "CreditNoteTypeCode", plan.type_code)
    else:
        add_present(root, CBC + "DueDate", iso(invoice.due_date))
        add(root, CBC + "InvoiceTypeCode", plan.type_code)
    add_present(root, CBC + "Note", invoice.notes)
    if not credit:
        add_present(root, CBC + "TaxPointDate", iso(invoice.tax_point_date))
    add(root, CBC + "DocumentCurrencyCode", invoice.currency or "")
    add_present(root, CBC + "TaxCurrencyCode", _tax_currency(invoice))
    add_present(root, CBC + "AccountingCost", invoice.buyer_accounting_reference)
    add_present(root, CBC + "BuyerReference", invoice.buyer_reference)
    period = invoice.invoicing_period
    if present(period.start, period.end):
        element = add(root, CAC + "InvoicePeriod")
        add_present(element, CBC + "StartDate", iso(period.start))
        add_present(element, CBC + "EndDate", iso(period.end))


def _references(root: etree._Element, invoice: Invoice, credit: bool) -> None:
    if invoice.purchase_order or invoice.sales_order_reference:
        order = add(root, CAC + "OrderReference")
        # UBL requires the purchase order id; "NA" stands in when there is only a sales order.
        add(order, CBC + "ID", invoice.purchase_order or NO_ORDER)
        add_present(order, CBC + "SalesOrderID", invoice.sales_order_reference)
    for preceding in invoice.preceding_invoices:
        # UBL requires the number (cbc:ID); a preceding invoice known only by its date is not written.
        if preceding.number:
            reference = add(add(root, CAC + "BillingReference"), CAC + "InvoiceDocumentReference")
            add(reference, CBC + "ID", preceding.number)
            add_present(reference, CBC + "IssueDate", iso(preceding.issue_date))
    _document_reference(root, "DespatchDocumentReference", invoice.despatch_advice_reference)
    _document_reference(root, "ReceiptDocumentReference", invoice.receiving_advice_reference)
    if not credit:
        _document_reference(root, "OriginatorDocumentReference", invoice.tender_reference)
    _document_reference(root, "ContractDocumentReference", invoice.contract_reference)
    _document_reference(root, "AdditionalDocumentReference", invoice.invoiced_object_id, type_code="130")
    if credit:
        _document_reference(root, "AdditionalDocumentReference", invoice.project_reference, type_code="50")
        _document_reference(root, "OriginatorDocumentReference", invoice.tender_reference)
    else:
        _document_reference(root, "ProjectReference", invoice.project_reference)


def _document_reference(root: etree._Element, tag: str, value: str | None, type_code: str | None = None) -> None:
    if value:
        element = add(root, CAC + tag)
        add(element, CBC + "ID", value)
        if type_code:
            add(element, CBC + "DocumentTypeCode", type_code)


def _allowances_and_charges(root: etree._Element, plan: Plan, currency: str) -> None:
    for entry in plan.allowances_and_charges:
        element = add(root, CAC + "AllowanceCharge")
        add(element, CBC + "ChargeIndicator", "true" if entry.charge else "false")
        add_present(element, CBC + "AllowanceChargeReasonCode", entry.reason_code)
        add_present(element, CBC + "AllowanceChargeReason", entry.reason_text)
        add_present(element, CBC + "MultiplierFactorNumeric", entry.percentage)
        add(element, CBC + "Amount", entry.amount, currencyID=currency)
        if entry.base_amount is not None:
            add(element, CBC + "BaseAmount", entry.base_amount, currencyID=currency)
        # The plan may take the rate of the category's breakdown row; category O has none to write.
        write_category(add(element, CAC + "TaxCategory"), entry.category, item_rate(entry.category, entry.rate))


def _tax_totals(root: etree._Element, plan: Plan, currency: str) -> None:
    invoice = plan.invoice
    tax_total = add(root, CAC + "TaxTotal")
    add(tax_total, CBC + "TaxAmount", plan.tax_total, currencyID=currency)
    for tax in plan.taxes:
        sub = add(tax_total, CAC + "TaxSubtotal")
        add(sub, CBC + "TaxableAmount", tax.row.taxable_amount, currencyID=currency)
        add(sub, CBC + "TaxAmount", tax.row.tax_amount, currencyID=currency)
        row = tax.row
        write_category(
            add(sub, CAC + "TaxCategory"), tax.category, row.rate, row.exemption_reason, row.exemption_reason_code
        )
    # BT-111 is a second total, in the accounting currency (BT-6).
    in_tax_currency, tax_currency = invoice.tax_total_in_tax_currency, _tax_currency(invoice)
    if tax_currency and in_tax_currency is not None:
        second = add(root, CAC + "TaxTotal")
        add(second, CBC + "TaxAmount", in_tax_currency, currencyID=tax_currency)


def _tax_currency(invoice: Invoice) -> str | None:
    # BT-6 is a second currency: the invoice currency again is not one (and the reader skips it).
    return invoice.tax_currency if invoice.tax_currency != invoice.currency else None


def _monetary_total(root: etree._Element, plan: Plan, currency: str) -> None:
    invoice = plan.invoice
    totals = add(root, CAC + "LegalMonetaryTotal")
    add(totals, CBC + "LineExtensionAmount", invoice.subtotal, currencyID=currency)
    add(totals, CBC + "TaxExclusiveAmount", plan.tax_basis_total, currencyID=currency)
    add(totals, CBC + "TaxInclusiveAmount", invoice.total, currencyID=currency)
    for name, value in (
        ("AllowanceTotalAmount", invoice.allowance_total),
        ("ChargeTotalAmount", invoice.charge_total),
        ("PrepaidAmount", invoice.amount_paid),
        ("PayableRoundingAmount", invoice.rounding_amount),
    ):
        if value is not None:
            add(totals, CBC + name, value, currencyID=currency)
    add(totals, CBC + "PayableAmount", invoice.amount_due, currencyID=currency)
