"""Derived amounts: values not printed as such that follow from printed ones by the arithmetic rules.

An invoice's subtotals and line amounts are often not printed at all (a subtotal the page never
states, a line's net price after its discount) and yet right: they follow from values that are
printed. An amount the pages do not show is *derived* when one of the EN 16931 relations
(BR-CO-10 to BR-CO-17, a line's quantity x price - allowance + charge) holds exactly with it as
the only value in the relation that is not printed. One relation pins one unknown; two unknowns
in one relation (two numbers that merely add up) prove nothing, so both stay ungrounded. Derived
values never pin others (no chains), a product relation pins only its result (never a price or a
base), and a relation holds only exactly (the computed side rounded to the cent), so a changed
digit, a flipped sign or dropped cents is never derived away. The caller decides which amounts
may be derived at all (never the payable total, see :mod:`.ground`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, localcontext

__all__ = ["derive", "mentions_allowances"]

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_ONE = Decimal(1)
_DIGITS = 200  # far beyond any amount a schema admits, so quantizing to the cent never overflows

Values = Mapping[str, Decimal]
Relation = tuple[tuple[str, ...], Callable[[Values], bool], str, bool]
"""``(every path the relation reads, whether it holds, the rule in words, whether it is a product)``."""


def derive(amounts: Values, known: set[str], wanted: set[str]) -> dict[str, str]:
    """Which of the ``wanted`` amounts follow from known ones, and by which rule.

    Only printed values pin: a derived amount never pins another, since a chain of relations
    carries one wrong value through every total after it (a wrong rate gives a wrong tax, a
    wrong tax total and a wrong total that all "follow"). A product relation (a line's quantity
    x price, a tax row's base x rate) pins only its result: the result is rounded to the cent,
    so a factor one digit off can still round to the same amount.

    Args:
        amounts: Every number of the invoice by path (amounts, quantities, rates).
        known: The paths whose values are printed on their page.
        wanted: The amounts that are not printed and may be derived.

    Returns:
        ``{path: why}`` for each derived amount, ``why`` naming the rule
        (``"subtotal = the sum of the line amounts (BR-CO-10)"``).
    """
    derived: dict[str, str] = {}
    for paths, holds, why, product in _relations(amounts):
        # A missing optional value reads as zero and is settled; a missing left side pins nothing.
        if paths[0] not in amounts:
            continue
        open_paths = [path for path in paths if path in amounts and path not in known]
        if len(open_paths) != 1 or open_paths[0] not in wanted or (product and open_paths[0] != paths[0]):
            continue
        if open_paths[0] not in derived and _pins(holds, amounts, open_paths[0]):
            derived[open_paths[0]] = why
    return derived


_ALLOWANCE_WORDS = re.compile(
    r"allowance|discount|rebate|rabatt|nachlass|abzug|abschlag|zuschlag|remise|rabais|ristourne|réduction|sconto"
    r"|descuento|korting|charge|surcharge|fee|frais|gebühr|versand|fracht|porto|shipping|freight|handling",
    re.IGNORECASE,
)


def mentions_allowances(words: Iterable[str]) -> bool:
    """Whether any of ``words`` names an allowance or a charge (``Rabatt``, ``Discount``, ``Versand``, ``frais``).

    An allowance or charge total of 0.00 follows from an empty list only on pages that name
    none: where one is named, the model may have dropped it.
    """
    return any(_ALLOWANCE_WORDS.search(word) for word in words)


def _pins(holds: Callable[[Values], bool], amounts: Values, path: str) -> bool:
    """The relation holds, and would not with the value one unit off (a tax of 0 at a rate of 0 pins no base).

    Evaluated with enough digits for any amount; a value too large to compute with holds nothing.
    """
    with localcontext() as context:
        context.prec = _DIGITS
        try:
            return holds(amounts) and not holds({**amounts, path: amounts[path] + _ONE})
        except ArithmeticError:
            return False


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _listed(amounts: Values, name: str, field: str) -> tuple[str, ...]:
    prefix = f"{name}["
    return tuple(path for path in amounts if path.startswith(prefix) and path.endswith(f"].{field}"))


def _equal(left: str, right: Callable[[Values], Decimal]) -> Callable[[Values], bool]:
    return lambda values: values.get(left, _ZERO) == _cents(right(values))


def _total(paths: tuple[str, ...]) -> Callable[[Values], Decimal]:
    return lambda values: sum((values.get(path, _ZERO) for path in paths), _ZERO)


def _net_reads(base: tuple[str, ...]) -> tuple[str, ...]:
    return (*base, "allowance_total", "charge_total")


def _net(base: tuple[str, ...]) -> Callable[[Values], Decimal]:
    total = _total(base)
    return lambda values: total(values) - values.get("allowance_total", _ZERO) + values.get("charge_total", _ZERO)


def _relations(amounts: Values) -> Iterator[Relation]:
    """Every relation, with every path it reads (a missing optional value reads as zero)."""
    lines = _listed(amounts, "line_items", "amount")
    if lines:
        why = "subtotal = the sum of the line amounts (BR-CO-10)"
        yield ("subtotal", *lines), _equal("subtotal", _total(lines)), why, False
    for name, total, rule in (("allowances", "allowance_total", "BR-CO-11"), ("charges", "charge_total", "BR-CO-12")):
        listed = _listed(amounts, name, "amount")
        yield (total, *listed), _equal(total, _total(listed)), f"{total} = the sum of the {name} ({rule})", False
    # From the subtotal, or straight from the lines when the subtotal is not printed itself.
    for base in dict.fromkeys((("subtotal",) if "subtotal" in amounts else lines, lines)):
        if base:
            why = "total without tax = subtotal - allowances + charges (BR-CO-13)"
            yield ("total_without_tax", *_net_reads(base)), _equal("total_without_tax", _net(base)), why, False
    rows = _listed(amounts, "tax_breakdown", "taxable_amount")
    if len(rows) == 1 and lines:
        # One tax row taxes everything: its base is the lines' net (BR-S-08 and its siblings, for one rate).
        why = "taxable amount = the lines - allowances + charges (the only tax row)"
        yield (rows[0], *_net_reads(lines)), _equal(rows[0], _net(lines)), why, False
    if "total_without_tax" in amounts:
        yield (
            ("total", "total_without_tax", "tax_total"),
            _equal("total", _total(("total_without_tax", "tax_total"))),
            "total = total without tax + tax total (BR-CO-15)",
            False,
        )
    yield ("amount_due", "total", "amount_paid", "rounding_amount"), _equal(
        "amount_due", lambda values: values.get("total", _ZERO) - values.get("amount_paid", _ZERO)
        + values.get("rounding_amount", _ZERO),
    ), "amount due = total - amount paid + rounding (BR-CO-16)", False  # fmt: skip
    taxes = _listed(amounts, "tax_breakdown", "tax_amount")
    if taxes:
        why = "tax total = the sum of the tax rows (BR-CO-14)"
        yield ("tax_total", *taxes), _equal("tax_total", _total(taxes)), why, False
    yield from _rows(amounts)


def _rows(amounts: Values) -> Iterator[Relation]:
    """Each line's amount from its quantity, price, allowance and charge; each tax row's tax from base and rate."""
    for amount in _listed(amounts, "line_items", "amount"):
        at = amount[: -len("amount")]
        if at + "quantity" not in amounts or at + "unit_price" not in amounts:
            continue
        names = ("quantity", "unit_price", "allowance_amount", "charge_amount", "price_base_quantity")
        reads = (amount, *(at + name for name in names))

        def net(values: Values, at: str = at) -> Decimal:
            per = values.get(at + "price_base_quantity") or _ONE
            gross = values[at + "quantity"] * values[at + "unit_price"] / per
            return gross - values.get(at + "allowance_amount", _ZERO) + values.get(at + "charge_amount", _ZERO)

        number = at[len("line_items[") : -2]
        why = f"line item {int(number) + 1}: amount = quantity x price - allowance + charge"
        yield reads, _equal(amount, net), why, True
    for tax in _listed(amounts, "tax_breakdown", "tax_amount"):
        at = tax[: -len("tax_amount")]
        if at + "taxable_amount" in amounts and at + "rate" in amounts:
            reads = (tax, at + "taxable_amount", at + "rate")
            rate = lambda values, at=at: values[at + "taxable_amount"] * values[at + "rate"] / 100  # noqa: E731
            yield reads, _equal(tax, rate), "tax = taxable amount x rate (BR-CO-17)", True
