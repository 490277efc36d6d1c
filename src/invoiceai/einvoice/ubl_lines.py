"""UBL invoice and credit note lines (BG-25): reading and writing.

Per line (``cac:InvoiceLine`` or ``cac:CreditNoteLine``): ``cbc:ID`` BT-126, ``cbc:Note`` BT-127,
the quantity BT-129/130, ``cbc:LineExtensionAmount`` BT-131, ``cbc:AccountingCost`` BT-133,
``cac:InvoicePeriod`` BG-26, ``cac:OrderLineReference/cbc:LineID`` BT-132, ``cac:AllowanceCharge``
BG-27/28 (amounts BT-136/141 summed, reasons BT-139/144 joined with ``"; "``), ``cac:Item``
(``cbc:Description`` BT-154, ``cbc:Name`` BT-153, ``cac:BuyersItemIdentification`` BT-156,
``cac:SellersItemIdentification`` BT-155, ``cac:StandardItemIdentification`` BT-157,
``cac:OriginCountry`` BT-159, ``cac:ClassifiedTaxCategory`` BT-151/152) and ``cac:Price``
(``cbc:PriceAmount`` BT-146, ``cbc:BaseQuantity`` BT-149, ``cac:AllowanceCharge`` BT-147/148).

Prices: the model holds the price of one unit; the file holds the price of BT-149 units. Reading
divides by the base quantity and writing multiplies by it, choosing the shortest decimal that
divides back to the same unit price, so a round trip is exact.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, add_present
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
from invoiceai.einvoice.ubl_common import CAC, CBC, add_with_scheme, iso, line_text, present, with_attribute

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.einvoice.requirements import PlannedLine

__all__ = ["item_rate", "read_line", "scaled_price", "write_category", "write_line"]

# A line allowance or charge needs a reason or a reason code (BR-41, BR-42); with no reason
# given, a code says "discount" (UNTDID 5189) or "mutually defined" (UNTDID 7161), which the
# model has no field for and so reads back as no reason.
_NO_REASON_CODE = {False: "95", True: "ZZZ"}


def read_line(line: etree._Element, ns: dict[str, str], credit: bool) -> dict[str, Any]:
    """Reads one line into the keyword data of a :class:`~invoiceai.schema.LineItem`."""
    quantity = first(line, "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", ns)
    item_name = first_text(line, "cac:Item/cbc:Name", ns)
    item_description = line_text(line, "cac:Item/cbc:Description", ns)
    standard_id, standard_scheme = with_attribute(line, "cac:Item/cac:StandardItemIdentification/cbc:ID", ns)
    return {
        "line_id": line_text(line, "cbc:ID", ns),
        "note": join_notes(texts(line, "cbc:Note", ns)),
        "description": one_line(item_name or item_description),
        "item_description": item_description,
        "seller_item_id": line_text(line, "cac:Item/cac:SellersItemIdentification/cbc:ID", ns),
        "buyer_item_id": line_text(line, "cac:Item/cac:BuyersItemIdentification/cbc:ID", ns),
        "standard_item_id": standard_id,
        "standard_item_id_scheme": standard_scheme,
        "origin_country": first_text(line, "cac:Item/cac:OriginCountry/cbc:IdentificationCode", ns),
        "order_line_reference": line_text(line, "cac:OrderLineReference/cbc:LineID", ns),
        "accounting_reference": line_text(line, "cbc:AccountingCost", ns),
        "period": {
            "start": date_value(first_text(line, "cac:InvoicePeriod/cbc:StartDate", ns)),
            "end": date_value(first_text(line, "cac:InvoicePeriod/cbc:EndDate", ns)),
        },
        "quantity": amount(element_text(quantity)) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        **_read_price(line, ns),
        **_read_allowances(line, ns),
        "amount": amount(first_text(line, "cbc:LineExtensionAmount", ns)),
        "tax_rate": amount(first_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", ns)),
        "tax_category": first_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID", ns),
    }


def _read_allowances(line: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    found: dict[bool, tuple[list[Decimal], list[str]]] = {False: ([], []), True: ([], [])}
    for entry in nodes(line, "cac:AllowanceCharge", ns):
        amounts, reasons = found[is_true(first_text(entry, "cbc:ChargeIndicator", ns))]
        value = amount(first_text(entry, "cbc:Amount", ns))
        if isinstance(value, Decimal):
            amounts.append(value)
        reason = one_line(first_text(entry, "cbc:AllowanceChargeReason", ns))
        if reason:
            reasons.append(reason)
    data: dict[str, Any] = {}
    for charge, name in ((False, "allowance"), (True, "charge")):
        amounts, reasons = found[charge]
        data[f"{name}_amount"] = sum(amounts) if amounts else None
        data[f"{name}_reason"] = "; ".join(reasons) or None
    return data


def _read_price(line: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    net = amount(first_text(line, "cac:Price/cbc:PriceAmount", ns))
    base = amount(first_text(line, "cac:Price/cbc:BaseQuantity", ns))
    discount = "cac:Price/cac:AllowanceCharge[not(normalize-space(cbc:ChargeIndicator)='true')]"
    gross = amount(first_text(line, f"{discount}/cbc:BaseAmount", ns))
    if gross is None:
        # Without BT-148 the gross price is the net price plus the price discount BT-147.
        price_discount = amount(first_text(line, f"{discount}/cbc:Amount", ns))
        if isinstance(price_discount, Decimal) and isinstance(net, Decimal):
            gross = net + price_discount
    return {"unit_price": _per_unit(net, base), "gross_price": _per_unit(gross, base), "price_base_quantity": base}


def _per_unit(price: Decimal | str | None, base: Decimal | str | None) -> Decimal | str | None:
    # BT-146 and BT-148 are prices of BT-149 units; the model stores the price of one unit.
    if isinstance(price, Decimal) and isinstance(base, Decimal) and base not in (0, 1):
        return price / base
    return price


def scaled_price(unit_price: Decimal, base: Decimal | None) -> Decimal:
    """The price of ``base`` units: the shortest decimal that divides back to ``unit_price``, digit for digit.

    ``10 / 3`` is read as ``3.333...3`` (28 digits); multiplied back it is ``9.999...9``, and the
    shortest decimal that divides to the same value is ``10``, which is what the file said. Digits
    count too: ``20.00 / 10`` is read as ``2.00``, so ``20.00`` is written, not ``20``.
    """
    if base is None or base in (0, 1):
        return unit_price
    product = unit_price * base
    for places in range(13):
        with contextlib.suppress(InvalidOperation):
            candidate = product.quantize(Decimal(1).scaleb(-places))
            if (candidate / base).as_tuple() == unit_price.as_tuple():
                return candidate
    return product


def write_line(root: etree._Element, line: PlannedLine, kind: str, currency: str) -> None:
    """Writes one planned line as ``cac:InvoiceLine`` or ``cac:CreditNoteLine`` (``kind``)."""
    item = line.item
    element = add(root, CAC + f"{kind}Line")
    add(element, CBC + "ID", line.line_id)
    add_present(element, CBC + "Note", item.note)
    quantity = "CreditedQuantity" if kind == "CreditNote" else "InvoicedQuantity"
    add(element, CBC + quantity, item.quantity, unitCode=line.unit_code)
    add(element, CBC + "LineExtensionAmount", item.amount, currencyID=currency)
    add_present(element, CBC + "AccountingCost", item.accounting_reference)
    if present(item.period.start, item.period.end):
        period = add(element, CAC + "InvoicePeriod")
        add_present(period, CBC + "StartDate", iso(item.period.start))
        add_present(period, CBC + "EndDate", iso(item.period.end))
    if item.order_line_reference:
        add(add(element, CAC + "OrderLineReference"), CBC + "LineID", item.order_line_reference)
    for charge, value, reason in (
        (False, item.allowance_amount, item.allowance_reason),
        (True, item.charge_amount, item.charge_reason),
    ):
        if value is not None:
            entry = add(element, CAC + "AllowanceCharge")
            add(entry, CBC + "ChargeIndicator", "true" if charge else "false")
            if not reason:
                add(entry, CBC + "AllowanceChargeReasonCode", _NO_REASON_CODE[charge])
            add_present(entry, CBC + "AllowanceChargeReason", reason)
            add(entry, CBC + "Amount", value, currencyID=currency)
    _write_item(add(element, CAC + "Item"), line)
    _write_price(add(element, CAC + "Price"), line, currency)


def _write_item(product: etree._Element, line: PlannedLine) -> None:
    item = line.item
    add_present(product, CBC + "Description", item.item_description)
    add(product, CBC + "Name", item.description)
    for tag, value in (
        ("BuyersItemIdentification", item.buyer_item_id),
        ("SellersItemIdentification", item.seller_item_id),
    ):
        if value:
            add(add(product, CAC + tag), CBC + "ID", value)
    if item.standard_item_id:
        standard = add(product, CAC + "StandardItemIdentification")
        add_with_scheme(standard, CBC + "ID", item.standard_item_id, item.standard_item_id_scheme)
    if item.origin_country:
        add(add(product, CAC + "OriginCountry"), CBC + "IdentificationCode", item.origin_country)
    write_category(add(product, CAC + "ClassifiedTaxCategory"), line.category, item_rate(line.category, line.rate))


def _write_price(price: etree._Element, line: PlannedLine, currency: str) -> None:
    item = line.item
    base = item.price_base_quantity
    assert item.unit_price is not None  # the plan refuses a line without one
    net = scaled_price(item.unit_price, base)
    add(price, CBC + "PriceAmount", net, currencyID=currency)
    if base is not None:
        add(price, CBC + "BaseQuantity", base, unitCode=line.unit_code)
    if item.gross_price is not None:
        gross = scaled_price(item.gross_price, base)
        discount = add(price, CAC + "AllowanceCharge")
        add(discount, CBC + "ChargeIndicator", "false")
        add(discount, CBC + "Amount", gross - net, currencyID=currency)
        add(discount, CBC + "BaseAmount", gross, currencyID=currency)


def item_rate(category: str, rate: Decimal | None) -> Decimal | None:
    """The rate to write for a line, allowance or charge: none for category O (BR-O-05 to BR-O-07)."""
    return None if category == "O" else rate


def write_category(
    element: etree._Element,
    category: str,
    rate: Decimal | None,
    reason: str | None = None,
    reason_code: str | None = None,
) -> None:
    """Fills a ``cac:TaxCategory`` or ``cac:ClassifiedTaxCategory``: code, rate, exemption code and text.

    Pass ``rate=None`` for what must carry no rate: a line, allowance or charge of category O
    (not subject to VAT; BR-O-05 to BR-O-07), see :func:`item_rate`.
    """
    add(element, CBC + "ID", category)
    if rate is not None:
        add(element, CBC + "Percent", rate)
    add_present(element, CBC + "TaxExemptionReasonCode", reason_code)
    add_present(element, CBC + "TaxExemptionReason", reason)
    add(add(element, CAC + "TaxScheme"), CBC + "ID", "VAT")
