"""CII invoice lines (BG-25): reading ``ram:IncludedSupplyChainTradeLineItem`` and writing it back.

Prices: :class:`~invoiceai.LineItem` keeps the net and gross price of *one* unit. A file that
prices per a base quantity (BT-149, e.g. 100 pieces) is divided out when read, and the base is
kept in ``price_base_quantity`` so the writer can multiply it back in. Line allowances and
charges (BG-27 / BG-28) are kept as one sum each, their reasons joined with ``"; "``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice._nodes import amount, element_text, first, first_text, is_true, nodes, one_line, texts
from invoiceai.einvoice.cii_common import (
    RAM,
    UDT,
    Layout,
    add_date,
    add_tax_category,
    date_at,
    join_notes,
    line_at,
    text_at,
)

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.einvoice.requirements import PlannedLine
    from invoiceai.schema import LineItem, Period

__all__ = ["LINE_ALLOWANCE_CODE", "LINE_CHARGE_CODE", "read_line", "read_period", "write_line", "write_period"]

LINE_ALLOWANCE_CODE = "95"
"""UNTDID 5189 "Discount": the reason code of a line allowance written without a reason text (BR-42)."""

LINE_CHARGE_CODE = "ZZZ"
"""UNTDID 7161 "Mutually defined": the reason code of a line charge written without a reason text (BR-44)."""


def read_line(item: etree._Element, lay: Layout, position: int) -> dict[str, Any]:
    """Reads one invoice line into the keyword data of a :class:`~invoiceai.LineItem`.

    ``position`` (1-based) is the line's identifier (BT-126) when it has none, as ZUGFeRD 1.0
    lines may: the writers number such lines the same way.
    """
    ns = lay.ns
    document = first(item, "ram:AssociatedDocumentLineDocument", ns)
    product = first(item, "ram:SpecifiedTradeProduct", ns)
    agreement = first(item, lay.line_agreement, ns)
    settlement = first(item, lay.line_settlement, ns)
    quantity = first(item, f"{lay.line_delivery}/ram:BilledQuantity", ns)
    data: dict[str, Any] = {
        "line_id": line_at(document, "ram:LineID", ns) or str(position),
        "note": join_notes(texts(document, "ram:IncludedNote/ram:Content", ns)) if document is not None else None,
        "quantity": amount(element_text(quantity)) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "order_line_reference": line_at(agreement, "ram:BuyerOrderReferencedDocument/ram:LineID", ns),
        "amount": amount(text_at(settlement, f"{lay.line_summation}/ram:LineTotalAmount", ns)),
        "tax_rate": amount(text_at(settlement, f"ram:ApplicableTradeTax/{lay.rate}", ns)),
        "tax_category": text_at(settlement, "ram:ApplicableTradeTax/ram:CategoryCode", ns),
        "accounting_reference": line_at(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID", ns),
    }
    if product is not None:
        data.update(_read_product(product, ns))
    if agreement is not None:
        data.update(_read_prices(agreement, ns))
    if settlement is not None:
        data["period"] = read_period(first(settlement, "ram:BillingSpecifiedPeriod", ns), ns)
        data.update(_read_allowances(settlement, ns))
    return data


def _read_product(product: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    description = line_at(product, "ram:Description", ns)
    standard = first(product, "ram:GlobalID", ns)
    standard_id = one_line(element_text(standard)) if standard is not None else None
    return {
        # BT-153 is mandatory; a file that has only a description gets it as the name too.
        "description": line_at(product, "ram:Name", ns) or description,
        "item_description": description,
        "seller_item_id": line_at(product, "ram:SellerAssignedID", ns),
        "buyer_item_id": line_at(product, "ram:BuyerAssignedID", ns),
        "standard_item_id": standard_id,
        "standard_item_id_scheme": one_line(standard.get("schemeID")) if standard is not None and standard_id else None,
        "origin_country": first_text(product, "ram:OriginTradeCountry/ram:ID", ns),
    }


def _read_prices(agreement: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    net = first(agreement, "ram:NetPriceProductTradePrice", ns)
    gross = first(agreement, "ram:GrossPriceProductTradePrice", ns)
    net_base = amount(text_at(net, "ram:BasisQuantity", ns))
    gross_base = amount(text_at(gross, "ram:BasisQuantity", ns))
    return {
        "unit_price": _per_unit(amount(text_at(net, "ram:ChargeAmount", ns)), net_base),
        "gross_price": _per_unit(amount(text_at(gross, "ram:ChargeAmount", ns)), gross_base or net_base),
        "price_base_quantity": net_base if net_base is not None else gross_base,
    }


def _per_unit(price: Any, base: Any) -> Any:
    # BT-146 and BT-148 are prices of BT-149 units; the model stores the price of one unit.
    if isinstance(price, Decimal) and isinstance(base, Decimal) and base not in (0, 1):
        return price / base
    return price


def _read_allowances(settlement: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    sums: dict[bool, list[Decimal]] = {False: [], True: []}
    reasons: dict[bool, list[str]] = {False: [], True: []}
    for entry in nodes(settlement, "ram:SpecifiedTradeAllowanceCharge", ns):
        value = amount(first_text(entry, "ram:ActualAmount", ns))
        if not isinstance(value, Decimal):
            continue
        charge = is_true(first_text(entry, "ram:ChargeIndicator/udt:Indicator", ns))
        sums[charge].append(value)
        reason = line_at(entry, "ram:Reason", ns)
        if reason:
            reasons[charge].append(reason)
    return {
        "allowance_amount": sum(sums[False]) if sums[False] else None,
        "allowance_reason": "; ".join(reasons[False]) or None,
        "charge_amount": sum(sums[True]) if sums[True] else None,
        "charge_reason": "; ".join(reasons[True]) or None,
    }


def read_period(period: etree._Element | None, ns: dict[str, str]) -> dict[str, Any]:
    """Reads a ``ram:BillingSpecifiedPeriod`` (BG-14, BG-26) into the data of a :class:`~invoiceai.Period`."""
    return {
        "start": date_at(period, "ram:StartDateTime/udt:DateTimeString", ns),
        "end": date_at(period, "ram:EndDateTime/udt:DateTimeString", ns),
    }


def write_period(parent: etree._Element, period: Period) -> None:
    """Appends a ``ram:BillingSpecifiedPeriod`` when the period has a start or an end."""
    if period.start is None and period.end is None:
        return
    element = add(parent, RAM + "BillingSpecifiedPeriod")
    if period.start is not None:
        add_date(element, RAM + "StartDateTime", period.start)
    if period.end is not None:
        add_date(element, RAM + "EndDateTime", period.end)


def write_line(trade: etree._Element, line: PlannedLine) -> None:
    """Appends one planned line (with its settled category, unit code and id) in the XSD's element order."""
    item = line.item
    element = add(trade, RAM + "IncludedSupplyChainTradeLineItem")
    document = add(element, RAM + "AssociatedDocumentLineDocument")
    add(document, RAM + "LineID", line.line_id)
    if item.note:
        add(add(document, RAM + "IncludedNote"), RAM + "Content", item.note)
    _write_product(add(element, RAM + "SpecifiedTradeProduct"), item)
    _write_prices(add(element, RAM + "SpecifiedLineTradeAgreement"), item)
    add(
        add(element, RAM + "SpecifiedLineTradeDelivery"), RAM + "BilledQuantity", item.quantity, unitCode=line.unit_code
    )
    settlement = add(element, RAM + "SpecifiedLineTradeSettlement")
    add_tax_category(add(settlement, RAM + "ApplicableTradeTax"), line.category, line.rate)
    write_period(settlement, item.period)
    for charge, value, reason in (
        (False, item.allowance_amount, item.allowance_reason),
        (True, item.charge_amount, item.charge_reason),
    ):
        if value is not None:
            entry = add(settlement, RAM + "SpecifiedTradeAllowanceCharge")
            add(add(entry, RAM + "ChargeIndicator"), UDT + "Indicator", "true" if charge else "false")
            add(entry, RAM + "ActualAmount", value)
            # BR-42 / BR-44 want a reason or a code; a code is not read back into the reason.
            if not reason:
                add(entry, RAM + "ReasonCode", LINE_CHARGE_CODE if charge else LINE_ALLOWANCE_CODE)
            add_present(entry, RAM + "Reason", reason)
    add(add(settlement, RAM + "SpecifiedTradeSettlementLineMonetarySummation"), RAM + "LineTotalAmount", item.amount)
    if item.accounting_reference:
        add(add(settlement, RAM + "ReceivableSpecifiedTradeAccountingAccount"), RAM + "ID", item.accounting_reference)


def _write_product(product: etree._Element, item: LineItem) -> None:
    if item.standard_item_id and item.standard_item_id_scheme:
        # CII-SR-046: a GlobalID needs its scheme; without one BT-157 cannot be written.
        add(product, RAM + "GlobalID", item.standard_item_id, schemeID=item.standard_item_id_scheme)
    add_present(product, RAM + "SellerAssignedID", item.seller_item_id)
    add_present(product, RAM + "BuyerAssignedID", item.buyer_item_id)
    add(product, RAM + "Name", item.description)
    add_present(product, RAM + "Description", item.item_description)
    if item.origin_country:
        add(add(product, RAM + "OriginTradeCountry"), RAM + "ID", item.origin_country)


def _write_prices(agreement: etree._Element, item: LineItem) -> None:
    if item.order_line_reference:
        add(add(agreement, RAM + "BuyerOrderReferencedDocument"), RAM + "LineID", item.order_line_reference)
    base = item.price_base_quantity
    assert item.unit_price is not None  # the plan checked BT-146
    net = price_for_base(item.unit_price, base)
    if item.gross_price is not None:
        gross_price = price_for_base(item.gross_price, base)
        gross = add(agreement, RAM + "GrossPriceProductTradePrice")
        add(gross, RAM + "ChargeAmount", gross_price)
        if base is not None:
            add(gross, RAM + "BasisQuantity", base)
        if gross_price > net:
            # BT-147, the price discount, is what takes the gross price down to the net price.
            discount = add(gross, RAM + "AppliedTradeAllowanceCharge")
            add(add(discount, RAM + "ChargeIndicator"), UDT + "Indicator", "false")
            add(discount, RAM + "ActualAmount", gross_price - net)
    price = add(agreement, RAM + "NetPriceProductTradePrice")
    add(price, RAM + "ChargeAmount", net)
    if base is not None:
        add(price, RAM + "BasisQuantity", base)


def price_for_base(unit_price: Decimal, base: Decimal | None) -> Decimal:
    """The price of ``base`` units (BT-146, BT-148) from the price of one.

    The fewest decimal places that divide back to exactly ``unit_price`` are written, so a price
    read as 10 per 3 units comes back as 10, not 9.999999999999999999999999999.
    """
    if base is None or base in (0, 1):
        return unit_price
    exact = unit_price * base
    for places in range(29):
        try:
            candidate = round(exact, places)
        except decimal.InvalidOperation:  # more digits than the context holds: keep the product
            break
        if str(candidate / base) == str(unit_price):
            return candidate
    return exact
