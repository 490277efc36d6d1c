"""Reads UN/CEFACT CII into invoice data: D16B (Factur-X, ZUGFeRD 2.x, XRechnung) and ZUGFeRD 1.0.

The two generations share their building blocks (``ram:`` trade parties, taxes, amounts) and
differ in the names of the containers around them, so one reader walks both with a table of
container paths. The XPaths per business term are listed in ``docs/einvoice.md``.
"""

from __future__ import annotations

import dataclasses
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
from invoiceai.einvoice.results import DocumentHeader
from invoiceai.einvoice.syntax import CII_NS, ZUGFERD1_NS, Syntax, document_type_for

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["read_cii"]


@dataclasses.dataclass(frozen=True)
class _Layout:
    ns: dict[str, str]
    context: str
    document: str
    transaction: str
    agreement: str
    settlement: str
    summation: str
    rate: str
    line_agreement: str
    line_delivery: str
    line_settlement: str
    line_summation: str
    order_id: str


_D16B = _Layout(
    ns=CII_NS,
    context="rsm:ExchangedDocumentContext",
    document="rsm:ExchangedDocument",
    transaction="rsm:SupplyChainTradeTransaction",
    agreement="ram:ApplicableHeaderTradeAgreement",
    settlement="ram:ApplicableHeaderTradeSettlement",
    summation="ram:SpecifiedTradeSettlementHeaderMonetarySummation",
    rate="ram:RateApplicablePercent",
    line_agreement="ram:SpecifiedLineTradeAgreement",
    line_delivery="ram:SpecifiedLineTradeDelivery",
    line_settlement="ram:SpecifiedLineTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementLineMonetarySummation",
    order_id="ram:IssuerAssignedID",
)
_ZUGFERD1 = _Layout(
    ns=ZUGFERD1_NS,
    context="rsm:SpecifiedExchangedDocumentContext",
    document="rsm:HeaderExchangedDocument",
    transaction="rsm:SpecifiedSupplyChainTradeTransaction",
    agreement="ram:ApplicableSupplyChainTradeAgreement",
    settlement="ram:ApplicableSupplyChainTradeSettlement",
    summation="ram:SpecifiedTradeSettlementMonetarySummation",
    rate="ram:ApplicablePercent",
    line_agreement="ram:SpecifiedSupplyChainTradeAgreement",
    line_delivery="ram:SpecifiedSupplyChainTradeDelivery",
    line_settlement="ram:SpecifiedSupplyChainTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementMonetarySummation",
    order_id="ram:ID",
)


def read_cii(root: etree._Element, syntax: Syntax) -> tuple[dict[str, Any], DocumentHeader]:
    """Reads a CII document into the keyword data of an :class:`~invoiceai.Invoice`.

    Args:
        root: The ``CrossIndustryInvoice`` or ``CrossIndustryDocument`` root.
        syntax: ``"cii"`` or ``"zugferd1"``, from :func:`~invoiceai.einvoice.syntax.detect_syntax`.

    Returns:
        The invoice data (values typed where the XML is well-formed, raw text otherwise) and the
        header facts that the invoice model has no field for.
    """
    lay = _ZUGFERD1 if syntax == "zugferd1" else _D16B
    ns = lay.ns
    doc = first(root, lay.document, ns)
    trade = first(root, lay.transaction, ns)
    agreement = first(trade, lay.agreement, ns) if trade is not None else None
    settlement = first(trade, lay.settlement, ns) if trade is not None else None
    summation = first(settlement, lay.summation, ns) if settlement is not None else None
    currency = _text(settlement, "ram:InvoiceCurrencyCode", ns)
    type_code = _text(doc, "ram:TypeCode", ns)

    data: dict[str, Any] = {
        "document_type": document_type_for(type_code),
        "invoice_number": one_line(_text(doc, "ram:ID", ns)),
        "issue_date": _date(doc, "ram:IssueDateTime/udt:DateTimeString", ns),
        "currency": currency,
        "buyer_reference": one_line(_text(agreement, "ram:BuyerReference", ns)),
        "purchase_order": one_line(_text(agreement, f"ram:BuyerOrderReferencedDocument/{lay.order_id}", ns)),
        "seller": _party(first(agreement, "ram:SellerTradeParty", ns) if agreement is not None else None, ns, True),
        "buyer": _party(first(agreement, "ram:BuyerTradeParty", ns) if agreement is not None else None, ns, False),
        "notes": _notes(doc, ns),
        "line_items": [_line(item, lay) for item in _lines(trade, ns)],
    }
    if settlement is not None:
        data["tax_breakdown"] = [_tax(tax, lay) for tax in nodes(settlement, "ram:ApplicableTradeTax", ns)]
        data["due_date"] = _date(
            settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString", ns
        )
        data["payment"] = _payment(settlement, ns)
    if summation is not None:
        data.update(_totals(summation, ns, currency))
    spec = _text(root, f"{lay.context}/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", ns)
    return data, DocumentHeader(type_code=type_code, specification=spec)


def _text(node: etree._Element | None, path: str, ns: dict[str, str]) -> str | None:
    return first_text(node, path, ns) if node is not None else None


def _date(node: etree._Element | None, path: str, ns: dict[str, str]) -> Any:
    element = first(node, path, ns) if node is not None else None
    if element is None:
        return None
    return date_value(element_text(element), element.get("format"))


def _notes(doc: etree._Element | None, ns: dict[str, str]) -> str | None:
    if doc is None:
        return None
    return join_notes(texts(doc, "ram:IncludedNote/ram:Content", ns))


def join_notes(notes: list[str]) -> str | None:
    """Joins BT-22 notes one per line, each with its lines' whitespace collapsed."""
    lines = [" ".join(line.split()) for note in notes for line in note.splitlines()]
    joined = "\n".join(line for line in lines if line)
    return joined or None


def _party(party: etree._Element | None, ns: dict[str, str], seller: bool) -> dict[str, Any]:
    if party is None:
        return {}
    address = first(party, "ram:PostalTradeAddress", ns)
    contact = "ram:DefinedTradeContact"
    # BT-32 (seller tax registration, scheme FC) vs BT-47 (buyer legal registration).
    tax_id_path = (
        "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']" if seller else "ram:SpecifiedLegalOrganization/ram:ID"
    )
    return {
        "name": one_line(first_text(party, "ram:Name", ns)),
        "vat_id": first_text(party, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", ns),
        "tax_id": one_line(first_text(party, tax_id_path, ns)),
        "email": one_line(first_text(party, f"{contact}/ram:EmailURIUniversalCommunication/ram:URIID", ns)),
        "phone": one_line(first_text(party, f"{contact}/ram:TelephoneUniversalCommunication/ram:CompleteNumber", ns)),
        "address": _address(address, ns) if address is not None else {},
    }


def _address(address: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    street = [one_line(line) for line in texts(address, "ram:LineOne | ram:LineTwo | ram:LineThree", ns)]
    return {
        "street": ", ".join(line for line in street if line) or None,
        "city": one_line(first_text(address, "ram:CityName", ns)),
        "postal_code": one_line(first_text(address, "ram:PostcodeCode", ns)),
        "region": one_line(first_text(address, "ram:CountrySubDivisionName", ns)),
        "country_code": first_text(address, "ram:CountryID", ns),
    }


def _lines(trade: etree._Element | None, ns: dict[str, str]) -> list[etree._Element]:
    if trade is None:
        return []
    # ZUGFeRD 1.0 allows free-text "lines" that carry only a note: no product, quantity or
    # amount. They are not invoice lines (BG-25) and are skipped.
    return [
        item
        for item in nodes(trade, "ram:IncludedSupplyChainTradeLineItem", ns)
        if first(item, "ram:SpecifiedTradeProduct | .//ram:BilledQuantity | .//ram:LineTotalAmount", ns) is not None
    ]


def _line(item: etree._Element, lay: _Layout) -> dict[str, Any]:
    ns = lay.ns
    settlement = first(item, lay.line_settlement, ns)
    allowances, charges = _allowances_and_charges(settlement, ns) if settlement is not None else (None, None)
    quantity = first(item, f"{lay.line_delivery}/ram:BilledQuantity", ns)
    product = first(item, "ram:SpecifiedTradeProduct", ns)
    name = _text(product, "ram:Name", ns) or _text(product, "ram:Description", ns)
    return {
        "description": one_line(name),
        "quantity": amount(element_text(quantity)) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "unit_price": _unit_price(first(item, f"{lay.line_agreement}/ram:NetPriceProductTradePrice", ns), ns),
        "allowance_amount": allowances,
        "charge_amount": charges,
        "amount": amount(_text(settlement, f"{lay.line_summation}/ram:LineTotalAmount", ns)),
        "tax_rate": amount(_text(settlement, f"ram:ApplicableTradeTax/{lay.rate}", ns)),
        "tax_category": _text(settlement, "ram:ApplicableTradeTax/ram:CategoryCode", ns),
    }


def _unit_price(price: etree._Element | None, ns: dict[str, str]) -> Any:
    if price is None:
        return None
    net = amount(first_text(price, "ram:ChargeAmount", ns))
    base = amount(first_text(price, "ram:BasisQuantity", ns))
    # BT-146 is the price of BT-149 units; the model stores the price of one unit.
    if isinstance(net, Decimal) and isinstance(base, Decimal) and base not in (0, 1):
        return net / base
    return net


def _allowances_and_charges(settlement: etree._Element, ns: dict[str, str]) -> tuple[Any, Any]:
    allowances: list[Decimal] = []
    charges: list[Decimal] = []
    for entry in nodes(settlement, "ram:SpecifiedTradeAllowanceCharge", ns):
        value = amount(first_text(entry, "ram:ActualAmount", ns))
        if not isinstance(value, Decimal):
            continue
        indicator = first_text(entry, "ram:ChargeIndicator/udt:Indicator", ns)
        (charges if is_true(indicator) else allowances).append(value)
    return (sum(allowances) if allowances else None), (sum(charges) if charges else None)


def _tax(tax: etree._Element, lay: _Layout) -> dict[str, Any]:
    ns = lay.ns
    reason = first_text(tax, "ram:ExemptionReason", ns) or first_text(tax, "ram:ExemptionReasonCode", ns)
    return {
        "rate": amount(first_text(tax, lay.rate, ns)),
        "taxable_amount": amount(first_text(tax, "ram:BasisAmount", ns)),
        "tax_amount": amount(first_text(tax, "ram:CalculatedAmount", ns)),
        "category": first_text(tax, "ram:CategoryCode", ns),
        "exemption_reason": one_line(reason),
    }


def _payment(settlement: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    iban = account = bic = None
    for means in nodes(settlement, "ram:SpecifiedTradeSettlementPaymentMeans", ns):
        iban = first_text(means, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID", ns)
        account = first_text(means, "ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID", ns)
        bic = first_text(means, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID", ns)
        if iban or account:
            break
    terms = texts(settlement, "ram:SpecifiedTradePaymentTerms/ram:Description", ns)
    return {
        "iban": iban,
        "account_number": None if iban else one_line(account),
        "bic": bic,
        "reference": one_line(first_text(settlement, "ram:PaymentReference", ns)),
        "terms": join_notes(terms),
    }


def _totals(summation: etree._Element, ns: dict[str, str], currency: str | None) -> dict[str, Any]:
    def total(name: str) -> Any:
        return amount(first_text(summation, f"ram:{name}", ns))

    return {
        "subtotal": total("LineTotalAmount"),
        "allowance_total": total("AllowanceTotalAmount"),
        "charge_total": total("ChargeTotalAmount"),
        "tax_total": _tax_total(summation, ns, currency),
        "total": total("GrandTotalAmount"),
        "amount_paid": total("TotalPrepaidAmount"),
        "rounding_amount": total("RoundingAmount"),
        "amount_due": total("DuePayableAmount"),
    }


def _tax_total(summation: etree._Element, ns: dict[str, str], currency: str | None) -> Any:
    # BT-110 and BT-111 (the same total in the VAT accounting currency) share an element name;
    # BT-110 is the one in the invoice currency.
    candidates = nodes(summation, "ram:TaxTotalAmount", ns)
    for element in candidates:
        if currency is None or element.get("currencyID") in (None, currency):
            return amount(element_text(element))
    return None
