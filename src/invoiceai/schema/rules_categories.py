"""VAT categories: which category each line, allowance and charge is in, and the per-category sums.

EN 16931 settles every line (BT-151), document-level allowance (BT-95) and charge (BT-102) to a
VAT category, and the breakdown (BG-23) has a row per category (per rate for S, L and M). When an
item states no category, it is derived as the e-invoice writer does (``einvoice/requirements.py``
``plan``): from its rate and the breakdown rows, or the only row there is. When any item cannot be
placed, the per-category rules stay silent rather than guess.

Rules: BR-S-08, BR-Z-08, BR-E-08, BR-AE-08, BR-IC-08 (K), BR-G-08, BR-O-08, BR-AF-08 (L),
BR-AG-08 (M) (taxable amount per category) and the tax-amount rules BR-S-09 and BR-Z/E/AE/IC/G/O-09.
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
    "Placed",
    "category_code",
    "category_sums",
    "placed_items",
    "row_categories",
    "zero_tax",
]

VAT_CATEGORY_CODES = frozenset({"S", "Z", "E", "AE", "K", "G", "O", "L", "M", "B"})
"""The UNTDID 5305 VAT category codes EN 16931 allows."""

RULE_PREFIX = {"S": "BR-S", "Z": "BR-Z", "E": "BR-E", "AE": "BR-AE", "K": "BR-IC", "G": "BR-G", "O": "BR-O"}
RULE_PREFIX |= {"L": "BR-AF", "M": "BR-AG"}
"""The rule family of each category code with rules of its own (K is "intra-community", L the
Canary Islands' IGIC, M Ceuta and Melilla's IPSI; B has only BR-B-01/02)."""
# Categories whose breakdown has one row per rate, and whose sum rule matches items by rate.
_PER_RATE = frozenset({"S", "L", "M"})
# Categories whose sum rule is exact in both syntaxes; the others allow ±1 in one of them.
_EXACT_SUM = frozenset({"O"})
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
    unlisted = _unlisted_totals(invoice, rows)
    if unlisted is None:
        return None
    sources += unlisted
    placed = []
    for path, kind, own, rate, amount in sources:
        # A stated code that is no VAT category still places the item: in no row's category.
        category = category_code(own) or _category_from_rate(rate, rows)
        if category is None:
            return None
        if rate is None:
            rates = {row_rate for code, row_rate in rows if code == category}
            rate = rates.pop() if len(rates) == 1 else None
        signed = None if amount is None else (-amount if kind == "allowance" else amount)
        placed.append(Placed(path, kind, category, rate, signed))
    return placed


def _unlisted_totals(invoice: Invoice, rows: list[tuple[str, Decimal | None]]) -> list[_Source] | None:
    # Totals without their lists: with a single breakdown row they can only belong to it (the
    # writer places them there too); with several the split is unknown (None).
    extra: list[_Source] = []
    totals: tuple[tuple[Kind, Decimal | None, list[AllowanceCharge]], ...] = (
        ("allowance", invoice.allowance_total, invoice.allowances),
        ("charge", invoice.charge_total, invoice.charges),
    )
    for kind, total, listed in totals:
        if listed or not total:
            continue
        if len(rows) != 1:
            return None
        extra.append((f"{kind}_total", kind, rows[0][0], rows[0][1], total))
    return extra


def _category_from_rate(rate: Decimal | None, rows: list[tuple[str, Decimal | None]]) -> str | None:
    # The same derivation as the writer's plan (einvoice/requirements.py): the rate must point
    # at exactly one category.
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
    more than rounding is an ``IAI-CATEGORY-SUM`` warning.
    """
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
        expected = sum((p.amount for p in members if p.amount is not None), ZERO)
        yield from _sum_finding(invoice, i, category, expected, members, unit)


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
