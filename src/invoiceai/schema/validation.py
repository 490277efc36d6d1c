"""EN 16931 business rules and sanity rules, as one pure function: :func:`validate`.

The rules live in modules by theme (:mod:`~invoiceai.schema.rules_totals` for the document
totals, :mod:`~invoiceai.schema.rules_categories` for the VAT categories,
:mod:`~invoiceai.schema.rules_parties` for what must be present); :data:`RULES` is the registry
of all of them, in the order they run. Rules with an official id (``BR-...``) compare as the
official CEN Schematron does, with its rounding and tolerances; invoiceai's own, stricter or
extra checks have ``IAI-`` ids. A rule runs only when every value it needs is present: a
partial invoice gets fewer checks, never false alarms. Signs are kept throughout, so a credit
note written with negative amounts satisfies the same rules as an invoice.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from invoiceai.schema.codes import CURRENCY_MINOR_UNITS
from invoiceai.schema.findings import Finding
from invoiceai.schema.iban import iban_problem
from invoiceai.schema.rules_base import CONTEXT, minor_unit
from invoiceai.schema.rules_categories import category_sums, syntax_category_sums, zero_tax
from invoiceai.schema.rules_parties import (
    br_co_26,
    category_identifiers,
    exemption_reasons,
    intra_community_delivery,
    split_payment,
)
from invoiceai.schema.rules_totals import (
    br_co_10,
    br_co_11,
    br_co_12,
    br_co_13,
    br_co_14,
    br_co_15,
    br_co_16,
    br_co_17,
    br_co_17_ubl,
    line_amounts,
    tax_rounding,
    taxable_sum,
)

if TYPE_CHECKING:
    # Only for annotations: invoice.py imports this module (Invoice._repr_html_ validates), so a
    # run-time import back would make a cycle inside schema.
    from invoiceai.schema.invoice import Invoice

__all__ = ["CHECKED_RULES", "RULES", "minor_unit", "syntax_findings", "validate"]

Rule = Callable[["Invoice", Decimal], Iterable[Finding]]


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
    with decimal.localcontext(CONTEXT):
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


def syntax_findings(invoice: Invoice, syntax: Literal["cii", "ubl"]) -> list[Finding]:
    """The errors one XML syntax adds to :func:`validate`: where its official assertion is stricter.

    The CII and UBL Schematron compare a few sums differently: BR-S-08 (and L, M) is exact in CII
    and within less than one unit in UBL, BR-Z/E/AE/IC/G-08 the reverse, and BR-CO-17 allows a
    difference of exactly one unit in CII but not in UBL. :func:`validate` takes the lenient side
    of each (and warns, ``IAI-CATEGORY-SUM``); the e-invoice writer adds these for the syntax it
    writes, so what it writes passes that syntax's rules.

    Args:
        invoice: The invoice to check.
        syntax: ``"cii"`` or ``"ubl"``.

    Returns:
        Errors under the official rule ids, beyond those :func:`validate` reports.
    """
    with decimal.localcontext(CONTEXT):
        unit = minor_unit(invoice.currency)
        findings = list(syntax_category_sums(invoice, syntax))
        if syntax == "ubl":
            findings.extend(br_co_17_ubl(invoice, unit))
    return findings


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
    """IAI-CURRENCY: the currency is an active ISO 4217 code.

    Stricter than BR-CL-04, whose code list also holds codes no longer in use, and which
    invoiceai cannot see anyway: a value that is no currency code is dropped when read.
    """
    if invoice.currency is not None and invoice.currency not in CURRENCY_MINOR_UNITS:
        yield Finding(
            rule="IAI-CURRENCY",
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


_PREFIXES = ("BR-S", "BR-Z", "BR-E", "BR-AE", "BR-IC", "BR-G", "BR-O", "BR-AF", "BR-AG")

CHECKED_RULES = frozenset(
    {f"BR-CO-{n}" for n in range(10, 18)}
    | {"BR-CO-26", "BR-IC-11", "BR-IC-12", "BR-B-01", "BR-B-02"}
    | {f"{prefix}-{n:02d}" for prefix in _PREFIXES for n in (2, 3, 4, 8, 10)}
    | {f"{prefix}-09" for prefix in _PREFIXES if prefix not in ("BR-AF", "BR-AG")}
)
"""Every official EN 16931 rule id :func:`validate` can report (as an ``error``)."""

RULES: tuple[Rule, ...] = (
    br_co_10,
    br_co_11,
    br_co_12,
    br_co_13,
    br_co_14,
    br_co_15,
    br_co_16,
    br_co_17,
    tax_rounding,
    taxable_sum,
    category_sums,
    zero_tax,
    line_amounts,
    br_co_26,
    category_identifiers,
    exemption_reasons,
    intra_community_delivery,
    split_payment,
    due_after_issue,
    currency_code,
    iban_checksum,
)
"""Every rule :func:`validate` runs, in order."""
