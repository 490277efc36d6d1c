"""VAT categories: which category each line, allowance and charge is in, and the per-category sums.

EN 16931 settles every line (BT-151), document-level allowance (BT-95) and charge (BT-102) to a
VAT category, and the breakdown (BG-23) has a row per category (per rate for S, L and M). When an
item states no category, it is derived as the e-invoice writer does (``einvoice/requirements.py``
``plan``): from its rate and the breakdown rows, or the only row there is. When any item cannot be
placed, the per-category rules stay silent rather than guess. Totals stated without their list
(``allowance_total`` with no ``allowances``) count as the entries the writer derives for them
(:func:`unlisted_entries`, the one place that decides it).

Rules: BR-S-08, BR-Z-08, BR-E-08, BR-AE-08, BR-IC-08 (K), BR-G-08, BR-O-08, BR-AF-08 (L),
BR-AG-08 (M) (taxable amount per category; :func:`syntax_category_sums` as each syntax compares
them) and the tax-amount rules BR-S-09 and BR-Z/E/AE/IC/G/O-09.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from invoiceai.schema.findings import Finding
from invoiceai.schema.rules_base import (
    ZERO,
    differs_by_rounding,
    mismatch,
    money,
    round2,
    same_amount,
    within_one,
)

if TYPE_CHECKING:
    from invoiceai.schema.invoice import AllowanceCharge, Invoice

__all__ = [
    "RULE_PREFIX",
    "VAT_CATEGORY_CODES",
    "DerivedEntry",
    "Item",
    "Placed",
    "Row",
    "category_code",
    "category_from_rate",
    "category_sums",
    "placed_items",
    "row_categories",
    "syntax_category_sums",
    "unlisted_entries",
    "zero_tax",
]

VAT_CATEGORY_CODES = frozenset({"S", "Z", "E", "AE", "K", "G", "O", "L", "M", "B"})
"""The UNTDID 5305 VAT category codes EN 16931 allows."""

RULE_PREFIX = {"S": "BR-S", "Z": "BR-Z", "E": "BR-E", "AE": "BR-AE", "K": "BR-IC", "G": "BR-G", "O": "BR-O"}
RULE_PREFIX |= {"L": "BR-AF", "M": "BR-AG"}
"""The rule family of each category code with rules of its own (K is "intra-community", L the
Canary Islands' IGIC, M Ceuta and Melilla's IPSI; B has only BR-B-01/02)."""
# Categories whose breakdown has one row per rate, and whose sum rule matches items by rate (B has
# no sum rule, but its rows are per rate like S, which it replaces).
_PER_RATE = frozenset({"S", "L", "M", "B"})
# Categories whose sum rule is exact in both syntaxes; the others allow ±1 in one of them.
_EXACT_SUM = frozenset({"O"})
# Where each syntax compares a category's sum exactly (the other allows less than one unit).
_EXACT_IN = {"cii": frozenset({"S", "L", "M", "O"}), "ubl": frozenset({"Z", "E", "AE", "K", "G", "O"})}
_ZERO_TAX = frozenset({"Z", "E", "AE", "K", "G", "O"})

Kind = Literal["line", "allowance", "charge"]
# Where an item is, what it is, its stated category and rate, and its amount.
_Source = tuple[str, Kind, "str | None", "Decimal | None", "Decimal | None"]


@dataclasses.dataclass(frozen=True)
class Placed:
    """A line, allowance or charge with its VAT category settled.

    Attributes:
        path: Dotted path of the item (``line_items[2]``, ``allowances[0]``).
        kind: ``line``, ``allowance`` or ``charge``.
        category: The VAT category code.
        rate: Its VAT rate: the item's own, else the rate of the only row of its category.
        amount: What it adds to its category's taxable amount (an allowance counts negative);
            ``None`` when the item has no amount.
    """

    path: str
    kind: Kind
    category: str
    rate: Decimal | None
    amount: Decimal | None


def category_code(value: str | None) -> str | None:
    """A category as written, in the code's spelling (``" s "`` -> ``"S"``); ``None`` when blank."""
    return value.strip().upper() if value and value.strip() else None


def row_categories(invoice: Invoice) -> list[str | None]:
    """Each breakdown row's category: its code, else ``S`` when its rate is above zero (as the writer does)."""
    settled: list[str | None] = []
    for row in invoice.tax_breakdown:
        code = category_code(row.category)
        if code is None and row.rate is not None and row.rate > 0:
            code = "S"
        settled.append(code)
    return settled


def placed_items(invoice: Invoice) -> list[Placed] | None:
    """Every line, allowance and charge with its category; ``None`` when one cannot be placed."""
    categories = row_categories(invoice)
    if any(code is None or code not in VAT_CATEGORY_CODES for code in categories):
        return None
    rows = [(code or "", row.rate) for code, row in zip(categories, invoice.tax_breakdown, strict=True)]
    sources: list[_Source] = [
        (f"line_items[{i}]", "line", line.tax_category, line.tax_rate, line.amount)
        for i, line in enumerate(invoice.line_items)
    ]
    lists: tuple[tuple[Kind, str, list[AllowanceCharge]], ...] = (
        ("allowance", "allowances", invoice.allowances),
        ("charge", "charges", invoice.charges),
    )
    for kind, name, entries in lists:
        sources += [
            (f"{name}[{i}]", kind, entry.tax_category, entry.tax_rate, entry.amount) for i, entry in enumerate(entries)
        ]
    placed = []
    for path, kind, own, rate, amount in sources:
        # A stated code that is no VAT category still places the item: in no row's category.
        category = category_code(own) or category_from_rate(rate, rows)
        if category is None:
            return None
        if rate is None:
            rates = {row_rate for code, row_rate in rows if code == category}
            rate = rates.pop() if len(rates) == 1 else None
        signed = None if amount is None else (-amount if kind == "allowance" else amount)
        placed.append(Placed(path, kind, category, rate, signed))
    derived = unlisted_entries(invoice, rows, [(p.category, p.rate, p.amount) for p in placed])
    if derived is None:
        return None
    for entry in derived:
        total: Kind = "charge" if entry.charge else "allowance"
        code, row_rate = rows[entry.row]
        placed.append(Placed(f"{total}_total", total, code, row_rate, entry.amount if entry.charge else -entry.amount))
    return placed


@dataclasses.dataclass(frozen=True)
class DerivedEntry:
    """A document-level allowance or charge derived for a total stated without its list.

    Attributes:
        charge: A charge (BG-21) rather than an allowance (BG-20).
        amount: Its amount, with the sign of the total it comes from.
        row: Index of the VAT breakdown row (BG-23) it belongs to.
    """

    charge: bool
    amount: Decimal
    row: int


Row = tuple[str, Decimal | None]
"""A breakdown row's settled category and its rate."""
Item = tuple[str, Decimal | None, Decimal | None]
"""A line or listed allowance / charge: its category, its rate and its amount (an allowance negative)."""


def unlisted_entries(invoice: Invoice, rows: Sequence[Row], items: Sequence[Item]) -> list[DerivedEntry] | None:
    """The allowances and charges written for ``allowance_total`` / ``charge_total`` stated without their list.

    The one decision shared by the e-invoice writer (``einvoice/requirements.py``, which writes
    these entries) and the validator (:func:`placed_items`, which checks what is written). A
    total whose own list is empty is, with a single breakdown row, an entry in that row. With
    several rows it is derived per row from the gap between the row's taxable amount and its
    lines, listed allowances and charges, when those gaps add up to the unlisted totals exactly;
    otherwise the split is unknown (``None``) and the writer refuses (BG-20 / BG-21 missing).

    Args:
        invoice: The invoice.
        rows: Each breakdown row's category and rate, in order.
        items: Every line and listed entry with its settled category, rate and signed amount.

    Returns:
        The derived entries (empty when no total lacks its list), or ``None`` when undetermined.
    """
    unlisted = {
        charge: total
        for charge, total, listed in (
            (False, invoice.allowance_total, invoice.allowances),
            (True, invoice.charge_total, invoice.charges),
        )
        if not listed and total
    }
    if not unlisted:
        return []
    if len(rows) == 1:
        return [DerivedEntry(charge, total, 0) for charge, total in unlisted.items()]
    gaps = _row_gaps(invoice, rows, items)
    if gaps is None:
        return None
    entries = [_entry_for_gap(gap, row, unlisted) for row, gap in enumerate(gaps) if gap]
    for charge in (False, True):
        derived = sum((entry.amount for entry in entries if entry.charge == charge), ZERO)
        if derived != unlisted.get(charge, ZERO):
            return None
    return entries


def _row_gaps(invoice: Invoice, rows: Sequence[Row], items: Sequence[Item]) -> list[Decimal] | None:
    # Per row: taxable amount - (lines - listed allowances + listed charges), matched as the
    # official BR-x-08 rules match (by category, and by rate for S, L and M).
    gaps = []
    for (category, rate), row in zip(rows, invoice.tax_breakdown, strict=True):
        members = [
            amount
            for code, item_rate, amount in items
            if code == category and (category not in _PER_RATE or item_rate == rate)
        ]
        unsure = any(code == category and category in _PER_RATE and item_rate is None for code, item_rate, _ in items)
        if row.taxable_amount is None or unsure or any(amount is None for amount in members):
            return None
        gaps.append(row.taxable_amount - sum((amount for amount in members if amount is not None), ZERO))
    return gaps


def _entry_for_gap(gap: Decimal, row: int, unlisted: dict[bool, Decimal]) -> DerivedEntry:
    # A gap is a charge (adds to the row) or an allowance (subtracts); with only one kind
    # unlisted, every gap is of that kind, and with both, the sign of the totals tells them apart.
    charge = next(iter(unlisted)) if len(unlisted) == 1 else (gap > 0) == (unlisted[True] > 0)
    return DerivedEntry(charge, gap if charge else -gap, row)


def category_from_rate(rate: Decimal | None, rows: Sequence[tuple[str, Decimal | None]]) -> str | None:
    """The category an item without one belongs to, from its rate and the rows' (category, rate).

    The rate must point at exactly one category; ``None`` when it does not. The writer's plan
    (:mod:`invoiceai.einvoice.requirements`) places items the same way.
    """
    if rate is None:
        return rows[0][0] if len(rows) == 1 else None
    same_rate = {code for code, row_rate in rows if row_rate is not None and row_rate == rate}
    if len(same_rate) == 1:
        return same_rate.pop()
    if rate > 0 and not same_rate:
        return "S"
    if rate == 0 and not same_rate:
        zero = {code for code, row_rate in rows if row_rate in (None, ZERO)}
        return zero.pop() if len(zero) == 1 else None
    return None


def category_sums(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-S-08 (and Z, E, AE, IC, G, O, AF, AG): each row's taxable amount is its items' sum.

    The sum is of the line amounts, minus the allowances, plus the charges in the row's category
    (and, for S, L and M, at the row's rate). The official assertions allow a difference below
    one currency unit in one of the two syntaxes (UBL for S, L, M; CII for Z, E, AE, K, G), so an
    error needs a difference of at least one unit (O: any difference); a smaller one that is
    more than rounding is an ``IAI-CATEGORY-SUM`` warning. :func:`syntax_category_sums` has the
    exact comparison of each syntax, which the writer applies.
    """
    for index, category, expected, members in _row_sums(invoice):
        yield from _sum_finding(invoice, index, category, expected, members, unit)


def syntax_category_sums(invoice: Invoice, syntax: Literal["cii", "ubl"]) -> Iterator[Finding]:
    """BR-x-08 as one syntax compares it: the differences below one unit that its assertion rejects.

    CII compares S, L and M exactly (after rounding each sum to two decimals), UBL compares Z,
    E, AE, K and G exactly; :func:`category_sums` reports the differences of a unit or more and
    O in both. So a row off by 0.50 at 19 % passes UBL but fails CII, and a Z row off by 0.50 the
    reverse: the writer refuses each for the syntax that rejects it.
    """
    exact = _EXACT_IN[syntax]
    for index, category, expected, members in _row_sums(invoice):
        taxable = invoice.tax_breakdown[index].taxable_amount
        if taxable is None or category not in exact or category in _EXACT_SUM:
            continue
        if taxable == round2(expected) or not within_one(taxable, round2(expected), strict=True):
            continue  # equal, or category_sums reports it already
        row = invoice.tax_breakdown[index]
        at = f" at {money(row.rate)} %" if category in _PER_RATE and row.rate is not None else ""
        how = f"the lines - allowances + charges in category {category}{at} ({syntax.upper()} compares exactly)"
        paths = [f"tax_breakdown[{index}].taxable_amount", *(_amount_path(p) for p in members)]
        what = f"tax_breakdown[{index}].taxable_amount"
        yield mismatch(f"{RULE_PREFIX[category]}-08", what, taxable, expected, how, paths, "error")


def _row_sums(invoice: Invoice) -> Iterator[tuple[int, str, Decimal, list[Placed]]]:
    # Each row with a category rule: its index, category, the sum of its items and the items.
    items = placed_items(invoice)
    if items is None or not invoice.line_items:
        return  # no lines: a partial extraction, whose sums say nothing
    categories = row_categories(invoice)
    for i, row in enumerate(invoice.tax_breakdown):
        category = categories[i] or ""
        if row.taxable_amount is None or category not in RULE_PREFIX:
            continue
        if category in _PER_RATE:
            if row.rate is None or any(p.rate is None for p in items if p.category == category):
                continue
            members = [p for p in items if p.category == category and p.rate == row.rate]
        else:
            members = [p for p in items if p.category == category]
        if any(p.amount is None for p in members):
            continue
        yield i, category, sum((p.amount for p in members if p.amount is not None), ZERO), members


def _sum_finding(
    invoice: Invoice, index: int, category: str, expected: Decimal, members: Sequence[Placed], unit: Decimal
) -> Iterator[Finding]:
    row = invoice.tax_breakdown[index]
    taxable = row.taxable_amount
    if taxable is None:
        return
    if category in _EXACT_SUM:
        broken = not same_amount(taxable, expected, unit)
    else:
        broken = not within_one(taxable, round2(expected), strict=True)
    if not broken and not differs_by_rounding(taxable, expected, unit):
        return
    rule = f"{RULE_PREFIX[category]}-08" if broken else "IAI-CATEGORY-SUM"
    at = f" at {money(row.rate)} %" if category in _PER_RATE and row.rate is not None else ""
    how = f"the lines - allowances + charges in category {category}{at}"
    paths = [f"tax_breakdown[{index}].taxable_amount", *(_amount_path(p) for p in members)]
    what = f"tax_breakdown[{index}].taxable_amount"
    yield mismatch(rule, what, taxable, expected, how, paths, "error" if broken else "warning")


def _amount_path(item: Placed) -> str:
    return item.path if item.path.endswith("_total") else f"{item.path}.amount"


def zero_tax(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-S-09 and BR-Z/E/AE/IC/G/O-09: a row's tax amount fits its category.

    S: the tax is within one unit of |taxable| x rate / 100 (BR-S-09, strict in both syntaxes).
    Z, E, AE, K, G, O: the tax amount is 0.
    """
    for i, (category, row) in enumerate(zip(row_categories(invoice), invoice.tax_breakdown, strict=True)):
        if row.tax_amount is None or category is None:
            continue
        path = f"tax_breakdown[{i}].tax_amount"
        if category in _ZERO_TAX and row.tax_amount != 0:
            how = f"category {category} (no VAT charged)"
            yield mismatch(f"{RULE_PREFIX[category]}-09", path, row.tax_amount, ZERO, how, [path], "error")
        elif category == "S" and row.rate is not None and row.taxable_amount is not None:
            expected = round2(abs(row.taxable_amount) * row.rate / 100)
            if not within_one(abs(row.tax_amount), expected, strict=True):
                how = f"|{money(row.taxable_amount)}| x {money(row.rate)} % (the rule allows less than ±1)"
                paths = [path, f"tax_breakdown[{i}].taxable_amount", f"tax_breakdown[{i}].rate"]
                yield mismatch("BR-S-09", path, abs(row.tax_amount), expected, how, paths, "error")
