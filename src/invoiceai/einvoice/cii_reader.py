"""Reads UN/CEFACT CII into invoice data: D16B (Factur-X, ZUGFeRD 2.x, XRechnung) and ZUGFeRD 1.0.

The two generations share their building blocks (``ram:`` trade parties, taxes, amounts) and
differ in the names of the containers around them, so one reader walks both with a table of
container paths (:class:`~invoiceai.einvoice.cii_common.Layout`). Parties and the delivery are
read by :mod:`~invoiceai.einvoice.cii_parties`, lines by :mod:`~invoiceai.einvoice.cii_lines`.
The XPaths per business term are listed in ``docs/einvoice.md``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._nodes import amount, element_text, first, first_text, is_true, nodes, texts
from invoiceai.einvoice.cii_common import D16B, ZUGFERD1, Layout, date_at, join_notes, line_at, looks_like_iban, text_at
from invoiceai.einvoice.cii_lines import read_line, read_period
from invoiceai.einvoice.cii_parties import read_delivery, read_party
from invoiceai.einvoice.results import DocumentHeader
from invoiceai.einvoice.syntax import Syntax, document_type_for

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["join_notes", "read_cii"]

_ADDITIONAL = "ram:AdditionalReferencedDocument[normalize-space(ram:TypeCode)='{}']/ram:IssuerAssignedID"


def read_cii(root: etree._Element, syntax: Syntax) -> tuple[dict[str, Any], DocumentHeader]:
    """Reads a CII document into the keyword data of an :class:`~invoiceai.Invoice`.

    Args:
        root: The ``CrossIndustryInvoice`` or ``CrossIndustryDocument`` root.
        syntax: ``"cii"`` or ``"zugferd1"``, from :func:`~invoiceai.einvoice.syntax.detect_syntax`.

    Returns:
        The invoice data (values typed where the XML is well-formed, raw text otherwise) and the
        header facts that the invoice model has no field for.
    """
    lay = ZUGFERD1 if syntax == "zugferd1" else D16B
    ns = lay.ns
    doc = first(root, lay.document, ns)
    trade = first(root, lay.transaction, ns)
    type_code = text_at(doc, "ram:TypeCode", ns)
    data: dict[str, Any] = {
        "document_type": document_type_for(type_code),
        "invoice_number": line_at(doc, "ram:ID", ns),
        "issue_date": date_at(doc, "ram:IssueDateTime/udt:DateTimeString", ns),
        "notes": join_notes(texts(doc, "ram:IncludedNote/ram:Content", ns)) if doc is not None else None,
    }
    if trade is not None:
        data["line_items"] = [read_line(item, lay, position) for position, item in enumerate(_lines(trade, ns), 1)]
        data.update(_agreement(first(trade, lay.agreement, ns), lay))
        data.update(_delivery(first(trade, lay.delivery, ns), lay))
        settlement = first(trade, lay.settlement, ns)
        if settlement is not None:
            data.update(_settlement(settlement, lay))
    spec = text_at(root, f"{lay.context}/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", ns)
    return data, DocumentHeader(type_code=type_code, specification=spec)


def _agreement(agreement: etree._Element | None, lay: Layout) -> dict[str, Any]:
    if agreement is None:
        return {}
    ns = lay.ns
    return {
        "buyer_reference": line_at(agreement, "ram:BuyerReference", ns),
        "purchase_order": line_at(agreement, f"ram:BuyerOrderReferencedDocument/{lay.order_id}", ns),
        "sales_order_reference": line_at(agreement, "ram:SellerOrderReferencedDocument/ram:IssuerAssignedID", ns),
        "contract_reference": line_at(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID", ns),
        "project_reference": line_at(agreement, "ram:SpecifiedProcuringProject/ram:ID", ns),
        "tender_reference": line_at(agreement, _ADDITIONAL.format("50"), ns),
        "invoiced_object_id": line_at(agreement, _ADDITIONAL.format("130"), ns),
        "seller": read_party(first(agreement, "ram:SellerTradeParty", ns), ns, "seller"),
        "buyer": read_party(first(agreement, "ram:BuyerTradeParty", ns), ns, "buyer"),
        "tax_representative": read_party(
            first(agreement, "ram:SellerTaxRepresentativeTradeParty", ns), ns, "tax_representative"
        ),
    }


def _delivery(delivery: etree._Element | None, lay: Layout) -> dict[str, Any]:
    if delivery is None:
        return {}
    ns = lay.ns
    return {
        "delivery": read_delivery(delivery, ns),
        "despatch_advice_reference": line_at(delivery, "ram:DespatchAdviceReferencedDocument/ram:IssuerAssignedID", ns),
        "receiving_advice_reference": line_at(
            delivery, "ram:ReceivingAdviceReferencedDocument/ram:IssuerAssignedID", ns
        ),
    }


def _lines(trade: etree._Element, ns: dict[str, str]) -> list[etree._Element]:
    # ZUGFeRD 1.0 allows free-text "lines" that carry only a note: no product, quantity or
    # amount. They are not invoice lines (BG-25) and are skipped.
    return [
        item
        for item in nodes(trade, "ram:IncludedSupplyChainTradeLineItem", ns)
        if first(item, "ram:SpecifiedTradeProduct | .//ram:BilledQuantity | .//ram:LineTotalAmount", ns) is not None
    ]


def _settlement(settlement: etree._Element, lay: Layout) -> dict[str, Any]:
    ns = lay.ns
    currency = text_at(settlement, "ram:InvoiceCurrencyCode", ns)
    tax_currency = text_at(settlement, "ram:TaxCurrencyCode", ns)
    taxes = nodes(settlement, "ram:ApplicableTradeTax", ns)
    allowances, charges = _allowances_and_charges(settlement, lay)
    data: dict[str, Any] = {
        "currency": currency,
        "tax_currency": tax_currency,
        "tax_breakdown": [_tax(tax, lay) for tax in taxes],
        "tax_point_date": date_at(settlement, "ram:ApplicableTradeTax/ram:TaxPointDate/udt:DateString", ns),
        "due_date": date_at(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString", ns),
        "invoicing_period": read_period(first(settlement, "ram:BillingSpecifiedPeriod", ns), ns),
        "allowances": allowances,
        "charges": charges,
        "payment": _payment(settlement, ns),
        "payee": read_party(first(settlement, "ram:PayeeTradeParty", ns), ns, "payee"),
        "preceding_invoices": [
            {
                "number": line_at(document, "ram:IssuerAssignedID", ns),
                "issue_date": date_at(document, "ram:FormattedIssueDateTime/*[local-name()='DateTimeString']", ns),
            }
            for document in nodes(settlement, "ram:InvoiceReferencedDocument", ns)
        ],
        "buyer_accounting_reference": line_at(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID", ns),
    }
    summation = first(settlement, lay.summation, ns)
    if summation is not None:
        data.update(_totals(summation, ns, currency, tax_currency))
    return data


def _allowances_and_charges(settlement: etree._Element, lay: Layout) -> tuple[list[Any], list[Any]]:
    ns = lay.ns
    found: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for entry in nodes(settlement, "ram:SpecifiedTradeAllowanceCharge", ns):
        charge = is_true(first_text(entry, "ram:ChargeIndicator/udt:Indicator", ns))
        value = amount(first_text(entry, "ram:ActualAmount", ns))
        if lay is ZUGFERD1 and isinstance(value, Decimal) and value < 0:
            # ZUGFeRD 1.0 producers write a discount with the sign of its effect (-21.55, indicator
            # false) beside a positive AllowanceTotalAmount; EN 16931's BT-92/BT-99 are the amount.
            value = -value
        found[charge].append(
            {
                "amount": value,
                "base_amount": amount(first_text(entry, "ram:BasisAmount", ns)),
                "percentage": amount(first_text(entry, "ram:CalculationPercent", ns)),
                "reason": line_at(entry, "ram:Reason", ns),
                "reason_code": line_at(entry, "ram:ReasonCode", ns),
                "tax_category": first_text(entry, "ram:CategoryTradeTax/ram:CategoryCode", ns),
                "tax_rate": amount(first_text(entry, f"ram:CategoryTradeTax/{lay.rate}", ns)),
            }
        )
    return found[False], found[True]


def _tax(tax: etree._Element, lay: Layout) -> dict[str, Any]:
    ns = lay.ns
    return {
        "rate": amount(first_text(tax, lay.rate, ns)),
        "taxable_amount": amount(first_text(tax, "ram:BasisAmount", ns)),
        "tax_amount": amount(first_text(tax, "ram:CalculatedAmount", ns)),
        "category": first_text(tax, "ram:CategoryCode", ns),
        "exemption_reason": line_at(tax, "ram:ExemptionReason", ns),
        # VATEX codes are upper case; "vatex-eu-132-1a" is the same code, and Factur-X's list only has that form.
        "exemption_reason_code": _upper(line_at(tax, "ram:ExemptionReasonCode", ns)),
    }


def _upper(code: str | None) -> str | None:
    return code.upper() if code is not None else None


def _payment(settlement: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    # Several payment means may be given (several accounts, all of one type: CII-SR-467); the
    # first one with an account is kept, else the first.
    all_means = nodes(settlement, "ram:SpecifiedTradeSettlementPaymentMeans", ns)
    account_path = (
        "ram:PayeePartyCreditorFinancialAccount/ram:IBANID | ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID"
    )
    with_account = [means for means in all_means if first_text(means, account_path, ns)]
    candidates = with_account or all_means
    means = candidates[0] if candidates else None
    iban, account = _account(means, ns)
    terms = "ram:SpecifiedTradePaymentTerms"
    return {
        "means_code": line_at(means, "ram:TypeCode", ns),
        "means_text": line_at(means, "ram:Information", ns),
        "iban": iban,
        "account_number": account,
        "account_name": line_at(means, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName", ns),
        "bic": text_at(means, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID", ns),
        "card_number": line_at(means, "ram:ApplicableTradeSettlementFinancialCard/ram:ID", ns),
        "debited_account": line_at(means, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID", ns),
        "reference": line_at(settlement, "ram:PaymentReference", ns),
        "terms": join_notes(texts(settlement, f"{terms}/ram:Description", ns)),
        "mandate_reference": line_at(settlement, f"{terms}/ram:DirectDebitMandateID", ns),
        "creditor_id": line_at(settlement, "ram:CreditorReferenceID", ns),
    }


def _account(means: etree._Element | None, ns: dict[str, str]) -> tuple[str | None, str | None]:
    """BT-84 as ``(iban, account_number)``, by its shape, whichever element holds it.

    An ``IBANID`` that is no IBAN ("XX") stays an account number, and a ``ProprietaryID`` that
    is an IBAN is one, as UBL (with one element for both) reads them.
    """
    creditor = first(means, "ram:PayeePartyCreditorFinancialAccount", ns) if means is not None else None
    account = line_at(creditor, "ram:IBANID", ns) or line_at(creditor, "ram:ProprietaryID", ns)
    if account is None:
        return None, None
    return (account, None) if looks_like_iban(account) else (None, account)


def _totals(
    summation: etree._Element, ns: dict[str, str], currency: str | None, tax_currency: str | None
) -> dict[str, Any]:
    def total(name: str) -> Any:
        return amount(first_text(summation, f"ram:{name}", ns))

    tax_total, in_tax_currency = _tax_totals(summation, ns, currency, tax_currency)
    return {
        "subtotal": total("LineTotalAmount"),
        "allowance_total": total("AllowanceTotalAmount"),
        "charge_total": total("ChargeTotalAmount"),
        "total_without_tax": total("TaxBasisTotalAmount"),
        "tax_total": tax_total,
        "tax_total_in_tax_currency": in_tax_currency,
        "total": total("GrandTotalAmount"),
        "amount_paid": total("TotalPrepaidAmount"),
        "rounding_amount": total("RoundingAmount"),
        "amount_due": total("DuePayableAmount"),
    }


def _tax_totals(
    summation: etree._Element, ns: dict[str, str], currency: str | None, tax_currency: str | None
) -> tuple[Any, Any]:
    # BT-110 and BT-111 (the same total in the VAT accounting currency BT-6) share an element
    # name and are told apart by their currencyID.
    candidates = nodes(summation, "ram:TaxTotalAmount", ns)
    bt110 = next((e for e in candidates if currency is None or e.get("currencyID") in (None, currency)), None)
    bt111 = None
    if tax_currency is not None and tax_currency != currency:
        bt111 = next((e for e in candidates if e is not bt110 and e.get("currencyID") == tax_currency), None)
    return (
        amount(element_text(bt110)) if bt110 is not None else None,
        amount(element_text(bt111)) if bt111 is not None else None,
    )
