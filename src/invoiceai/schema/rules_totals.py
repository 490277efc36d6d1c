"""The document totals: BR-CO-10 to BR-CO-17 as the official Schematron states them, and our own sums.

Each rule runs only when every value it reads is present (a partial extraction gets fewer checks,
never false alarms) and compares as :mod:`invoiceai.schema.rules_base` describes: exactly after
rounding the computed side to two decimals, or within one currency unit where the official
assertion allows that (BR-CO-17). Where invoiceai checks more tightly than the official rule it
reports under its own ``IAI-`` id.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.schema.findings import Finding
from invoiceai.schema.rules_base import (
    ZERO,
    differs_by_rounding,
    mismatch,
    money,
    round2,
    same_amount,
    total_of,
    within_one,
    xpath_round,
)

if TYPE_CHECKING:
    from invoiceai.schema.invoice import Invoice

__all__ = [
    "br_co_10",
    "br_co_11",
    "br_co_12",
    "br_co_13",
    "br_co_14",
    "br_co_15",
    "br_co_16",
    "br_co_17",
    "br_co_17_ubl",
    "derived_net_total",
    "line_amounts",
    "line_sum",
    "tax_rounding",
    "taxable_sum",
]


def line_sum(invoice: Invoice) -> Decimal | None:
    """Σ line net amounts (BT-131); ``None`` when there is no line or one has no amount."""
    return total_of(line.amount for line in invoice.line_items)


def derived_net_total(invoice: Invoice) -> Decimal | None:
    """BT-106 - BT-107 + BT-108 (the right-hand side of BR-CO-13), from the lines when BT-106 is empty."""
    base = invoice.subtotal if invoice.subtotal is not None else line_sum(invoice)
    if base is None:
        return None
    return base - (invoice.allowance_total or ZERO) + (invoice.charge_total or ZERO)


def br_co_10(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-10: the subtotal (BT-106) equals the sum of the line net amounts (BT-131)."""
    lines = line_sum(invoice)
    if invoice.subtotal is None or lines is None:
        return
    if not same_amount(invoice.subtotal, lines, unit):
        paths = ["subtotal", *(f"line_items[{i}].amount" for i in range(len(invoice.line_items)))]
        yield mismatch("BR-CO-10", "subtotal", invoice.subtotal, lines, "the sum of line amounts", paths, "error")


def br_co_11(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-11: the allowance total (BT-107) equals the sum of the document-level allowances (BT-92)."""
    yield from _listed_sum(invoice, unit, charge=False)


def br_co_12(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-12: the charge total (BT-108) equals the sum of the document-level charges (BT-99)."""
    yield from _listed_sum(invoice, unit, charge=True)


def _listed_sum(invoice: Invoice, unit: Decimal, *, charge: bool) -> Iterator[Finding]:
    # Only when both the total and the list are there: a total without its list is a partial
    # extraction (or a reader that keeps totals only), not a contradiction we can show.
    name, total_name, rule = (
        ("charges", "charge_total", "BR-CO-12") if charge else ("allowances", "allowance_total", "BR-CO-11")
    )
    entries = invoice.charges if charge else invoice.allowances
    total = invoice.charge_total if charge else invoice.allowance_total
    listed = total_of(entry.amount for entry in entries)
    if total is None or listed is None:
        return
    if not same_amount(total, listed, unit):
        paths = [total_name, *(f"{name}[{i}].amount" for i in range(len(entries)))]
        yield mismatch(rule, total_name, total, listed, f"the sum of the {name} listed", paths, "error")


def br_co_13(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-13: the total without VAT (BT-109) = subtotal (BT-106) - allowances (BT-107) + charges (BT-108)."""
    net = derived_net_total(invoice)
    if invoice.total_without_tax is None or net is None:
        return
    if not same_amount(invoice.total_without_tax, net, unit):
        paths = ["total_without_tax", "subtotal", "allowance_total", "charge_total"]
        how = "subtotal - allowances + charges"
        yield mismatch("BR-CO-13", "total_without_tax", invoice.total_without_tax, net, how, paths, "error")


def br_co_14(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-14: the tax total (BT-110) equals the sum of the breakdown's tax amounts (BT-117)."""
    expected = total_of(line.tax_amount for line in invoice.tax_breakdown)
    if invoice.tax_total is None or expected is None:
        return
    if not same_amount(invoice.tax_total, expected, unit):
        paths = ["tax_total", *(f"tax_breakdown[{i}].tax_amount" for i in range(len(invoice.tax_breakdown)))]
        how = "the sum of the tax breakdown"
        yield mismatch("BR-CO-14", "tax_total", invoice.tax_total, expected, how, paths, "error")


def br_co_15(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-15: the total (BT-112) = total without VAT (BT-109) + tax total (BT-110).

    BT-109 is ``total_without_tax`` when present, else subtotal - allowances + charges.
    """
    stated = invoice.total_without_tax
    net = stated if stated is not None else derived_net_total(invoice)
    if invoice.total is None or net is None:
        return
    if invoice.tax_total is None:
        if invoice.tax_total_in_tax_currency is not None:
            # The official rule needs exactly one BT-110 in the invoice currency; BT-111 is no substitute.
            yield Finding(
                rule="BR-CO-15",
                severity="error",
                message=(
                    "The invoice states its tax total only in the tax currency (BT-111), not in the invoice "
                    "currency (BT-110), so total = total without tax + tax total cannot hold."
                ),
                fields=("tax_total", "tax_total_in_tax_currency", "total"),
            )
        return
    expected = net + invoice.tax_total
    if not same_amount(invoice.total, expected, unit):
        if stated is not None:
            paths, how = ["total", "total_without_tax", "tax_total"], "total without tax + tax total"
        else:
            paths = ["total", "subtotal", "allowance_total", "charge_total", "tax_total"]
            how = "subtotal - allowances + charges + tax total"
        yield mismatch("BR-CO-15", "total", invoice.total, expected, how, paths, "error")


def br_co_16(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-16: amount due (BT-115) = total (BT-112) - amount paid (BT-113) + rounding (BT-114)."""
    if invoice.amount_due is None or invoice.total is None:
        return
    expected = invoice.total - (invoice.amount_paid or ZERO) + (invoice.rounding_amount or ZERO)
    if not same_amount(invoice.amount_due, expected, unit):
        paths = ["amount_due", "total", "amount_paid", "rounding_amount"]
        how = "total - amount paid + rounding"
        yield mismatch("BR-CO-16", "amount_due", invoice.amount_due, expected, how, paths, "error")


def br_co_17(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-17: each breakdown row's tax (BT-117) = taxable amount (BT-116) x rate (BT-119) / 100, ±1.

    As the official assertion: the tax, as an absolute value, is within one currency unit of
    |taxable| x rate / 100 rounded to two decimals; a rate that rounds to 0 needs a tax that
    rounds to 0. Where the UBL and CII assertions differ (< 1 or <= 1) the more lenient one is
    used, so a difference of exactly one unit passes.
    """
    for i, line in enumerate(invoice.tax_breakdown):
        if line.rate is None or line.taxable_amount is None or line.tax_amount is None:
            continue
        paths = [f"tax_breakdown[{i}].{name}" for name in ("tax_amount", "taxable_amount", "rate")]
        what = f"tax_breakdown[{i}].tax_amount"
        if xpath_round(line.rate) == 0:
            if xpath_round(line.tax_amount) != 0:
                yield mismatch(
                    "BR-CO-17", what, line.tax_amount, ZERO, f"a rate of {money(line.rate)} %", paths, "error"
                )
            continue
        expected = round2(abs(line.taxable_amount) * line.rate / 100)
        if not within_one(abs(line.tax_amount), expected, strict=False):
            how = f"|{money(line.taxable_amount)}| x {money(line.rate)} % (the rule allows ±1)"
            yield mismatch("BR-CO-17", what, abs(line.tax_amount), expected, how, paths, "error")


def br_co_17_ubl(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-17 as UBL states it: the tax within *less than* one unit (CII allows exactly one).

    :func:`br_co_17` takes CII's ``<= 1`` so neither syntax gets a false alarm; the writer adds
    this for UBL output, where a row off by exactly 1.00 fails.
    """
    for i, line in enumerate(invoice.tax_breakdown):
        if line.rate is None or line.taxable_amount is None or line.tax_amount is None or xpath_round(line.rate) == 0:
            continue
        expected = round2(abs(line.taxable_amount) * line.rate / 100)
        if within_one(abs(line.tax_amount), expected, strict=False) and not within_one(
            abs(line.tax_amount), expected, strict=True
        ):
            paths = [f"tax_breakdown[{i}].{name}" for name in ("tax_amount", "taxable_amount", "rate")]
            how = f"|{money(line.taxable_amount)}| x {money(line.rate)} % (UBL allows less than ±1)"
            what = f"tax_breakdown[{i}].tax_amount"
            yield mismatch("BR-CO-17", what, abs(line.tax_amount), expected, how, paths, "error")


def tax_rounding(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-TAX-ROUNDING: a row's tax is within BR-CO-17's ±1 but off by more than rounding explains.

    A warning: tax computed line by line and then summed can legitimately differ by a few minor
    units, but a larger gap often means a misread digit.
    """
    for i, line in enumerate(invoice.tax_breakdown):
        if line.rate is None or line.taxable_amount is None or line.tax_amount is None:
            continue
        expected = line.taxable_amount * line.rate / 100
        if not differs_by_rounding(line.tax_amount, expected, unit):
            continue
        if xpath_round(line.rate) == 0 or not within_one(abs(line.tax_amount), round2(abs(expected)), strict=False):
            continue  # BR-CO-17 reports it
        paths = [f"tax_breakdown[{i}].{name}" for name in ("tax_amount", "taxable_amount", "rate")]
        how = f"{money(line.taxable_amount)} x {money(line.rate)} %"
        what = f"tax_breakdown[{i}].tax_amount"
        yield mismatch("IAI-TAX-ROUNDING", what, line.tax_amount, expected, how, paths, "warning")


def taxable_sum(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-TAXABLE-SUM: the breakdown's taxable amounts add up to subtotal - allowances + charges.

    The BR-x-08 rules summed over every category: it needs no line to carry a VAT category, so it
    runs on extractions where the per-category rules cannot.
    """
    expected = total_of(line.taxable_amount for line in invoice.tax_breakdown)
    net = derived_net_total(invoice)
    if net is None or expected is None:
        return
    if differs_by_rounding(net, expected, unit):
        paths = [
            "subtotal",
            "allowance_total",
            "charge_total",
            *(f"tax_breakdown[{i}].taxable_amount" for i in range(len(invoice.tax_breakdown))),
        ]
        what = "subtotal - allowances + charges"
        yield mismatch("IAI-TAXABLE-SUM", what, net, expected, "the sum of taxable amounts", paths, "error")


def line_amounts(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-LINE-AMOUNT: each line's amount = quantity x unit price - allowance + charge."""
    for i, line in enumerate(invoice.line_items):
        if line.quantity is None or line.unit_price is None or line.amount is None:
            continue
        expected = line.quantity * line.unit_price - (line.allowance_amount or 0) + (line.charge_amount or 0)
        if differs_by_rounding(line.amount, expected, unit):
            names = ("amount", "quantity", "unit_price", "allowance_amount", "charge_amount")
            how = f"{money(line.quantity)} x {money(line.unit_price)}"
            if line.allowance_amount or line.charge_amount:
                how += " - allowance + charge"
            paths = [f"line_items[{i}].{name}" for name in names]
            yield mismatch("IAI-LINE-AMOUNT", f"line_items[{i}].amount", line.amount, expected, how, paths, "warning")
