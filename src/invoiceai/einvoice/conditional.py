"""What EN 16931 requires of the optional parts an invoice carries, checked before it is written.

:func:`~invoiceai.einvoice.requirements.plan` checks the mandatory fields; this module checks
the rest of what the official Schematron asserts about the values the writers copy as they are:
a group that is given must be complete, a value must be in its code list, an amount must have
two decimals at most. Each problem names the rule and the field, in one of two forms:

- a field that must be added: ``"tax_representative.name (BT-62: BR-18)"``, which the plan
  raises as :class:`~invoiceai.errors.MissingFieldsError`;
- a value that is wrong: a :class:`~invoiceai.schema.Finding` under the official rule id
  (``BR-29``, ``BR-DEC-23``, ``BR-CL-10``), which :func:`~invoiceai.einvoice.to_xml` raises as
  :class:`~invoiceai.errors.RuleViolationError`.

Both are refusals ``force=True`` overrides. Nothing is rounded or dropped to make a value fit:
an amount with three decimals (a BHD invoice, a line total of 10.125) is refused, never rounded.
:func:`written_form` only settles what is determined: ``10.100`` is written ``10.10``, and an
electronic address that is an e-mail address gets the scheme ``EM``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.einvoice.codelists import ALLOWANCE_REASONS, CHARGE_REASONS, CURRENCIES, EAS, ICD, PAYMENT_MEANS, VATEX
from invoiceai.schema.findings import Finding

if TYPE_CHECKING:
    from invoiceai.schema import Invoice, Party, Period

__all__ = ["MONEY_RULES", "check_optional_parts", "written_form"]

MONEY_RULES: dict[str, str] = {
    "subtotal": "BR-DEC-09",
    "allowance_total": "BR-DEC-10",
    "charge_total": "BR-DEC-11",
    "total_without_tax": "BR-DEC-12",
    "tax_total": "BR-DEC-13",
    "total": "BR-DEC-14",
    "tax_total_in_tax_currency": "BR-DEC-15",
    "amount_paid": "BR-DEC-16",
    "rounding_amount": "BR-DEC-17",
    "amount_due": "BR-DEC-18",
    "taxable_amount": "BR-DEC-19",
    "tax_amount": "BR-DEC-20",
    "amount": "BR-DEC-23",
    "allowance_amount": "BR-DEC-24",
    "charge_amount": "BR-DEC-27",
}
"""The BR-DEC rule (at most two decimals) of each money field, by field name."""
# Document-level allowances and charges have rules of their own for the same field names.
_ENTRY_RULES = {False: ("BR-DEC-01", "BR-DEC-02"), True: ("BR-DEC-05", "BR-DEC-06")}
_CREDIT_TRANSFER = frozenset({"30", "58"})


def written_form(invoice: Invoice) -> Invoice:
    """A copy of ``invoice`` as the writers write it: amounts without surplus zeros, e-mail addresses as EM.

    Only what is determined changes: ``10.100`` becomes ``10.10`` (BR-DEC counts the written
    decimals) while ``10.125`` stays and is refused by :func:`check_optional_parts`.
    """
    copy = invoice.model_copy(deep=True)
    for owner, name, _ in _amounts(copy):
        value = getattr(owner, name)
        if value is not None:
            setattr(owner, name, _without_surplus_zeros(value))
    for party in (copy.seller, copy.buyer):
        if party.electronic_address and not party.electronic_address_scheme and "@" in party.electronic_address:
            party.electronic_address_scheme = "EM"  # BR-62 / BR-63: an e-mail address is scheme EM
    return copy


def check_optional_parts(invoice: Invoice, missing: list[str], refusals: list[Finding]) -> None:
    """Adds to ``missing`` and ``refusals`` what the official rules reject in ``invoice`` beyond the mandatory fields.

    Args:
        invoice: The invoice in its :func:`written_form`.
        missing: Fields to add, as ``"path (BT-n: BR-n)"``.
        refusals: Values that break a rule, one finding each.
    """
    missing.extend(_incomplete_groups(invoice))
    refusals.extend(_decimals(invoice))
    refusals.extend(_periods(invoice))
    refusals.extend(_prices(invoice))
    refusals.extend(_codes(invoice))


def _without_surplus_zeros(value: Decimal) -> Decimal:
    # Exact: only trailing zeros beyond the second decimal go (no context, so no rounding).
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return value
    kept = list(digits)
    while exponent < -2 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    return Decimal((sign, tuple(kept), exponent))


def _decimal_places(value: Decimal) -> int:
    exponent = _without_surplus_zeros(value).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _amounts(invoice: Invoice) -> Iterator[tuple[object, str, tuple[str, str]]]:
    """Every written amount with a BR-DEC rule: its owner, field name, and (path, rule)."""
    for name in ("subtotal", "allowance_total", "charge_total", "total_without_tax", "tax_total", "total"):
        yield invoice, name, (name, MONEY_RULES[name])
    for name in ("tax_total_in_tax_currency", "amount_paid", "rounding_amount", "amount_due"):
        yield invoice, name, (name, MONEY_RULES[name])
    for i, row in enumerate(invoice.tax_breakdown):
        for name in ("taxable_amount", "tax_amount"):
            yield row, name, (f"tax_breakdown[{i}].{name}", MONEY_RULES[name])
    for i, line in enumerate(invoice.line_items):
        for name in ("amount", "allowance_amount", "charge_amount"):
            yield line, name, (f"line_items[{i}].{name}", MONEY_RULES[name])
    for charge, entries, list_name in ((False, invoice.allowances, "allowances"), (True, invoice.charges, "charges")):
        for i, entry in enumerate(entries):
            amount_rule, base_rule = _ENTRY_RULES[charge]
            yield entry, "amount", (f"{list_name}[{i}].amount", amount_rule)
            yield entry, "base_amount", (f"{list_name}[{i}].base_amount", base_rule)


def _decimals(invoice: Invoice) -> Iterator[Finding]:
    for owner, name, (path, rule) in _amounts(invoice):
        value = getattr(owner, name)
        if isinstance(value, Decimal) and _decimal_places(value) > 2:
            yield Finding(
                rule=rule,
                severity="error",
                message=(
                    f"{path} is {value:f}: EN 16931 allows two decimals at most, so an amount in a currency with "
                    "three (BHD, KWD, ...) or a total that was not rounded cannot be written. Round it as the "
                    "invoice does (invoiceai never rounds silently)."
                ),
                fields=(path,),
            )


def _incomplete_groups(invoice: Invoice) -> Iterator[str]:
    """Optional groups given in part, and values a given one needs, as ``"path (BT-n: BR-n)"``."""
    representative = invoice.tax_representative
    if _has_any(representative.name, representative.vat_id, *_address_parts(representative)):
        if not _text(representative.name):
            yield "tax_representative.name (BT-62: BR-18)"
        if not representative.address.country_code:
            yield "tax_representative.address.country_code (BT-69: BR-19, BR-20)"
        if not representative.vat_id:
            yield "tax_representative.vat_id (BT-63: BR-56)"
    payee = invoice.payee
    if _has_any(payee.identifier, payee.legal_registration_id) and not _text(payee.name):
        yield "payee.name (BT-59: BR-17)"
    delivery = invoice.delivery.address
    if _has_any(delivery.street, delivery.city, delivery.postal_code, delivery.region) and not delivery.country_code:
        yield "delivery.address.country_code (BT-80: BR-57)"
    addresses = ((invoice.seller, "seller", "BT-34-1", "BR-62"), (invoice.buyer, "buyer", "BT-49-1", "BR-63"))
    for party, role, term, rule in addresses:
        if _text(party.electronic_address) and not _text(party.electronic_address_scheme):
            yield f"{role}.electronic_address_scheme ({term}: {rule})"
    for i, line in enumerate(invoice.line_items):
        if _text(line.standard_item_id) and not _text(line.standard_item_id_scheme):
            yield f"line_items[{i}].standard_item_id_scheme (BT-157-1: BR-64)"
    payment = invoice.payment
    if (payment.means_code or "").strip() in _CREDIT_TRANSFER and not (payment.iban or payment.account_number):
        yield "payment.iban (BT-84: BR-61, a credit transfer needs the account to pay into)"
    if invoice.tax_currency and invoice.tax_currency != invoice.currency and invoice.tax_total_in_tax_currency is None:
        yield "tax_total_in_tax_currency (BT-111: BR-53)"


def _periods(invoice: Invoice) -> Iterator[Finding]:
    periods: list[tuple[str, str, Period]] = [("BR-29", "invoicing_period", invoice.invoicing_period)]
    periods += [("BR-30", f"line_items[{i}].period", line.period) for i, line in enumerate(invoice.line_items)]
    for rule, path, period in periods:
        if period.start is not None and period.end is not None and period.end < period.start:
            yield Finding(
                rule=rule,
                severity="error",
                message=f"{path} ends on {period.end}, before it starts on {period.start}.",
                fields=(f"{path}.start", f"{path}.end"),
            )


def _prices(invoice: Invoice) -> Iterator[Finding]:
    for i, line in enumerate(invoice.line_items):
        for rule, name, term in (("BR-27", "unit_price", "BT-146"), ("BR-28", "gross_price", "BT-148")):
            value = getattr(line, name)
            if value is not None and value < 0:
                yield Finding(
                    rule=rule,
                    severity="error",
                    message=(
                        f"line_items[{i}].{name} ({term}) is {value:f}; EN 16931 prices are never negative: a "
                        "negative line has a negative quantity (or is a document-level allowance)."
                    ),
                    fields=(f"line_items[{i}].{name}",),
                )


def _codes(invoice: Invoice) -> Iterator[Finding]:
    """Values the official code lists (BR-CL-*) do not hold."""
    checks: list[tuple[str, str, str | None, frozenset[str]]] = [
        ("BR-CL-04", "currency", invoice.currency, CURRENCIES),
        ("BR-CL-05", "tax_currency", invoice.tax_currency, CURRENCIES),
        ("BR-CL-16", "payment.means_code", invoice.payment.means_code, PAYMENT_MEANS),
        ("BR-CL-26", "delivery.location_scheme", invoice.delivery.location_scheme, ICD),
    ]
    parties: tuple[tuple[str, Party], ...] = (
        ("seller", invoice.seller),
        ("buyer", invoice.buyer),
        ("payee", invoice.payee),
    )
    for role, party in parties:
        checks.append(("BR-CL-10", f"{role}.identifier_scheme", party.identifier_scheme, ICD))
        checks.append(("BR-CL-11", f"{role}.legal_registration_scheme", party.legal_registration_scheme, ICD))
        if role != "payee":
            checks.append(("BR-CL-25", f"{role}.electronic_address_scheme", party.electronic_address_scheme, EAS))
    for i, line in enumerate(invoice.line_items):
        checks.append(("BR-CL-21", f"line_items[{i}].standard_item_id_scheme", line.standard_item_id_scheme, ICD))
    for i, row in enumerate(invoice.tax_breakdown):
        checks.append(("BR-CL-22", f"tax_breakdown[{i}].exemption_reason_code", row.exemption_reason_code, VATEX))
    for charge, entries, name in ((False, invoice.allowances, "allowances"), (True, invoice.charges, "charges")):
        codes = CHARGE_REASONS if charge else ALLOWANCE_REASONS
        rule = "BR-CL-20" if charge else "BR-CL-19"
        checks += [(rule, f"{name}[{i}].reason_code", entry.reason_code, codes) for i, entry in enumerate(entries)]
    for rule, path, value, allowed in checks:
        written = " ".join(value.split()) if value else ""
        if written and written not in allowed:
            yield Finding(
                rule=rule,
                severity="error",
                message=f"{path} {value!r} is not in the code list the official rules check ({rule}).",
                fields=(path,),
            )


def _has_any(*values: object) -> bool:
    return any(_text(value) if isinstance(value, str) else value is not None for value in values)


def _text(value: str | None) -> bool:
    return bool(value and value.strip())


def _address_parts(party: Party) -> tuple[str | None, ...]:
    address = party.address
    return (address.street, address.city, address.postal_code, address.region, address.country_code)
