"""EN 16931 arithmetic and sanity rules, as one pure function: :func:`validate`.

Amounts are compared with a tolerance of half the currency's minor unit (0.005 EUR, 0.5 JPY,
0.0005 BHD), so every discrepancy of one cent or more is reported while a correctly rounded
tax amount is not. A rule runs only when every value it needs is present: a partial invoice
gets fewer checks, never false alarms. Signs are kept throughout, so a credit note written
with negative amounts satisfies the same rules as an invoice.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.schema.codes import CURRENCY_MINOR_UNITS
from invoiceai.schema.findings import Finding, Severity
from invoiceai.schema.iban import iban_problem

if TYPE_CHECKING:
    # Only for annotations: invoice.py imports this module (Invoice._repr_html_ validates), so a
    # run-time import back would make a cycle inside schema.
    from invoiceai.schema.invoice import Invoice

__all__ = ["RULES", "minor_unit", "validate"]

Rule = Callable[["Invoice", Decimal], Iterable[Finding]]

# Enough digits that no product or sum of invoice amounts is ever rounded while checking, and
# no trap raises: validation must not fail on extreme values a model may produce.
_CONTEXT = decimal.Context(prec=80, Emax=999_999, Emin=-999_999, traps=[])


def minor_unit(currency: str | None) -> Decimal:
    """Returns the smallest amount of ``currency`` (0.01 for EUR, 1 for JPY); 0.01 if unknown."""
    digits = CURRENCY_MINOR_UNITS.get(currency or "", 2)
    return Decimal(1).scaleb(-digits)


def validate(invoice: Invoice) -> list[Finding]:
    """Checks an invoice against the EN 16931 arithmetic rules and basic sanity rules.

    The findings from normalisation (values that were dropped) come first. This function never
    raises: a rule that cannot be evaluated on odd input is reported as an ``info`` finding.

    Args:
        invoice: The invoice to check.

    Returns:
        Every finding, in rule order; an empty list means the invoice is consistent.
    """
    findings = list(invoice.normalization_findings)
    with decimal.localcontext(_CONTEXT):
        unit = minor_unit(invoice.currency)
        for rule in RULES:
            try:
                findings.extend(rule(invoice, unit))
            except Exception as exc:  # validation is advisory and must never raise
                findings.append(
                    Finding(
                        rule="IAI-UNCHECKED",
                        severity="info",
                        message=f"Rule {rule.__name__} could not be evaluated: {type(exc).__name__}.",
                    )
                )
    return findings


def _differs(actual: Decimal, expected: Decimal, unit: Decimal) -> bool:
    return abs(actual - expected) * 2 > unit


def _money(value: Decimal) -> str:
    return f"{value:f}"


def _mismatch(
    rule: str, what: str, actual: Decimal, expected: Decimal, how: str, fields: Sequence[str], severity: Severity
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=(
            f"{what} is {_money(actual)} but {how} gives {_money(expected)} (difference {_money(actual - expected)})."
        ),
        fields=tuple(fields),
    )


def _line_sum(invoice: Invoice) -> Decimal | None:
    amounts = [line.amount for line in invoice.line_items]
    if not amounts or any(amount is None for amount in amounts):
        return None
    return sum((amount for amount in amounts if amount is not None), Decimal(0))


def _net_total(invoice: Invoice) -> Decimal | None:
    # BT-109 is not stored: it is BT-106 - BT-107 + BT-108 (BR-CO-13).
    base = invoice.subtotal if invoice.subtotal is not None else _line_sum(invoice)
    if base is None:
        return None
    return base - (invoice.allowance_total or 0) + (invoice.charge_total or 0)


def br_co_10(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-10: the subtotal equals the sum of the line net amounts."""
    line_sum = _line_sum(invoice)
    if invoice.subtotal is None or line_sum is None:
        return
    if _differs(invoice.subtotal, line_sum, unit):
        paths = ["subtotal", *(f"line_items[{i}].amount" for i in range(len(invoice.line_items)))]
        yield _mismatch("BR-CO-10", "subtotal", invoice.subtotal, line_sum, "the sum of line amounts", paths, "error")


def br_co_15(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-15 (with BR-CO-13): total = subtotal - allowances + charges + tax total."""
    net = _net_total(invoice)
    if invoice.total is None or invoice.tax_total is None or net is None:
        return
    expected = net + invoice.tax_total
    if _differs(invoice.total, expected, unit):
        paths = ["total", "subtotal", "allowance_total", "charge_total", "tax_total"]
        how = "subtotal - allowances + charges + tax total"
        yield _mismatch("BR-CO-15", "total", invoice.total, expected, how, paths, "error")


def br_co_14(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-14: the tax total equals the sum of the breakdown's tax amounts."""
    amounts = [line.tax_amount for line in invoice.tax_breakdown]
    if invoice.tax_total is None or not amounts or any(amount is None for amount in amounts):
        return
    expected = sum((amount for amount in amounts if amount is not None), Decimal(0))
    if _differs(invoice.tax_total, expected, unit):
        paths = ["tax_total", *(f"tax_breakdown[{i}].tax_amount" for i in range(len(amounts)))]
        how = "the sum of the tax breakdown"
        yield _mismatch("BR-CO-14", "tax_total", invoice.tax_total, expected, how, paths, "error")


def br_co_16(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-16: amount due = total - amount paid + rounding amount."""
    if invoice.amount_due is None or invoice.total is None:
        return
    expected = invoice.total - (invoice.amount_paid or 0) + (invoice.rounding_amount or 0)
    if _differs(invoice.amount_due, expected, unit):
        paths = ["amount_due", "total", "amount_paid", "rounding_amount"]
        how = "total - amount paid + rounding"
        yield _mismatch("BR-CO-16", "amount_due", invoice.amount_due, expected, how, paths, "error")


def br_co_17(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-17: each breakdown row's tax = taxable amount x rate / 100, rounded."""
    for i, line in enumerate(invoice.tax_breakdown):
        if line.rate is None or line.taxable_amount is None or line.tax_amount is None:
            continue
        expected = line.taxable_amount * line.rate / 100
        if _differs(line.tax_amount, expected, unit):
            paths = [f"tax_breakdown[{i}].{name}" for name in ("tax_amount", "taxable_amount", "rate")]
            how = f"{_money(line.taxable_amount)} x {_money(line.rate)} %"
            yield _mismatch(
                "BR-CO-17", f"tax_breakdown[{i}].tax_amount", line.tax_amount, expected, how, paths, "error"
            )


def taxable_sum(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-TAXABLE-SUM (BR-S-08 and its siblings, summed): the taxable amounts add up to the net total."""
    amounts = [line.taxable_amount for line in invoice.tax_breakdown]
    net = _net_total(invoice)
    if net is None or not amounts or any(amount is None for amount in amounts):
        return
    expected = sum((amount for amount in amounts if amount is not None), Decimal(0))
    if _differs(net, expected, unit):
        paths = [
            "subtotal",
            "allowance_total",
            "charge_total",
            *(f"tax_breakdown[{i}].taxable_amount" for i in range(len(amounts))),
        ]
        what = "subtotal - allowances + charges"
        yield _mismatch("IAI-TAXABLE-SUM", what, net, expected, "the sum of taxable amounts", paths, "error")


def line_amounts(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-LINE-AMOUNT: each line's amount = quantity x unit price - allowance + charge."""
    for i, line in enumerate(invoice.line_items):
        if line.quantity is None or line.unit_price is None or line.amount is None:
            continue
        expected = line.quantity * line.unit_price - (line.allowance_amount or 0) + (line.charge_amount or 0)
        if _differs(line.amount, expected, unit):
            names = ("amount", "quantity", "unit_price", "allowance_amount", "charge_amount")
            how = f"{_money(line.quantity)} x {_money(line.unit_price)}"
            if line.allowance_amount or line.charge_amount:
                how += " - allowance + charge"
            paths = [f"line_items[{i}].{name}" for name in names]
            yield _mismatch("IAI-LINE-AMOUNT", f"line_items[{i}].amount", line.amount, expected, how, paths, "warning")


def due_after_issue(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-DUE-DATE: the due date is not before the issue date."""
    if invoice.due_date is not None and invoice.issue_date is not None and invoice.due_date < invoice.issue_date:
        yield Finding(
            rule="IAI-DUE-DATE",
            severity="warning",
            message=f"due_date {invoice.due_date} is before issue_date {invoice.issue_date}.",
            fields=("due_date", "issue_date"),
        )


def currency_code(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CL-04: the currency is an ISO 4217 code."""
    if invoice.currency is not None and invoice.currency not in CURRENCY_MINOR_UNITS:
        yield Finding(
            rule="BR-CL-04",
            severity="error",
            message=f"currency {invoice.currency!r} is not an active ISO 4217 code.",
            fields=("currency",),
        )


def iban_checksum(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """IAI-IBAN: the IBAN has its country's length and valid mod-97 check digits."""
    iban = invoice.payment.iban
    if iban is None:
        return
    problem = iban_problem(iban)
    if problem is not None:
        yield Finding(rule="IAI-IBAN", severity="error", message=f"IBAN {iban} {problem}.", fields=("payment.iban",))


RULES: tuple[Rule, ...] = (
    br_co_10,
    br_co_14,
    br_co_15,
    br_co_16,
    br_co_17,
    taxable_sum,
    line_amounts,
    due_after_issue,
    currency_code,
    iban_checksum,
)
"""Every rule :func:`validate` runs, in order."""
