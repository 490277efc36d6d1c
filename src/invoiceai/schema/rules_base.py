"""What every validation rule shares: the official rounding and tolerances, and the finding builders.

The official EN 16931 Schematron compares most amounts exactly, after rounding the computed side
to two decimals with XPath ``round()`` (half towards positive infinity); a few rules (BR-CO-17,
BR-S-08, BR-S-09, BR-Z-08, ...) allow a difference of up to one currency unit instead.
:func:`same_amount` and :func:`within_one` are those two comparisons. Currencies with three
decimals (BHD, KWD, ...) cannot be compared at two decimals without false alarms, so for them
:func:`same_amount` allows half a minor unit instead (a deliberate difference, see
docs/validation.md).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import ROUND_FLOOR, Decimal

from invoiceai.schema.codes import CURRENCY_MINOR_UNITS
from invoiceai.schema.findings import Finding, Severity

__all__ = [
    "CONTEXT",
    "ONE",
    "TWO_DECIMALS",
    "ZERO",
    "differs_by_rounding",
    "minor_unit",
    "mismatch",
    "money",
    "round2",
    "same_amount",
    "total_of",
    "within_one",
    "xpath_round",
]

# Enough digits that no product or sum of invoice amounts is ever rounded while checking, and
# no trap raises: validation must not fail on extreme values a model may produce.
CONTEXT = decimal.Context(prec=80, Emax=999_999, Emin=-999_999, traps=[])

ZERO = Decimal(0)
ONE = Decimal(1)
TWO_DECIMALS = Decimal("0.01")
_HALF = Decimal("0.5")


def minor_unit(currency: str | None) -> Decimal:
    """Returns the smallest amount of ``currency`` (0.01 for EUR, 1 for JPY); 0.01 if unknown."""
    digits = CURRENCY_MINOR_UNITS.get(currency or "", 2)
    return Decimal(1).scaleb(-digits)


def xpath_round(value: Decimal, places: int = 0) -> Decimal:
    """XPath ``round()`` at ``places`` decimals: halves go towards positive infinity (-2.5 -> -2)."""
    scale = Decimal(1).scaleb(places)
    return (value * scale + _HALF).to_integral_value(rounding=ROUND_FLOOR) / scale


def round2(value: Decimal) -> Decimal:
    """``round(value * 100) div 100``, the rounding the official rules apply to computed sums."""
    return xpath_round(value, 2)


def same_amount(actual: Decimal, computed: Decimal, unit: Decimal) -> bool:
    """Whether a stated amount equals a computed one as the official rules compare them.

    The computed side is rounded to two decimals and the two must be equal. For currencies with
    more than two decimals (``unit`` below 0.01) half a minor unit of difference is allowed.
    """
    if unit < TWO_DECIMALS:
        return abs(actual - computed) * 2 <= unit
    return actual == round2(computed)


def within_one(actual: Decimal, computed: Decimal, *, strict: bool) -> bool:
    """Whether two amounts differ by less than one currency unit (``strict``) or at most one."""
    difference = abs(actual - computed)
    return difference < ONE if strict else difference <= ONE


def differs_by_rounding(actual: Decimal, computed: Decimal, unit: Decimal) -> bool:
    """Whether two amounts differ by more than half a minor unit: more than correct rounding explains."""
    return abs(actual - computed) * 2 > unit


def total_of(values: Iterable[Decimal | None]) -> Decimal | None:
    """The sum of ``values``; ``None`` when there are none or one is missing (the sum is unknown)."""
    items = list(values)
    if not items or any(value is None for value in items):
        return None
    return sum((value for value in items if value is not None), ZERO)


def money(value: Decimal) -> str:
    """An amount as plain digits for a message: never in exponent notation, at most 4 decimals.

    A derived value (``taxable x rate / 100``) carries 28 digits: rounded to 4 places (2 when that
    is exact), it reads ``10.00``, not ``10.000000000000000000000000000500``. Values stay exact.
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:  # an int unless the value is NaN or infinite
        try:
            value = value.quantize(Decimal("0.0001"))
            if value == value.quantize(Decimal("0.01")):
                value = abs(value.quantize(Decimal("0.01"))) if value.is_zero() else value.quantize(Decimal("0.01"))
        except decimal.InvalidOperation:  # too many digits to round in context: show it whole
            pass
    return f"{value:f}"


def mismatch(
    rule: str, what: str, actual: Decimal, expected: Decimal, how: str, fields: Sequence[str], severity: Severity
) -> Finding:
    """A finding saying ``what`` is ``actual`` but ``how`` gives ``expected``, with the difference."""
    return Finding(
        rule=rule,
        severity=severity,
        message=(
            f"{what} is {money(actual)} but {how} gives {money(expected)} (difference {money(actual - expected)})."
        ),
        fields=tuple(fields),
    )
