"""Rules on what must be present: party identifiers, exemption reasons, delivery data per VAT category.

These rules report a missing value, which on a partial extraction may only mean the model did
not find it. So each runs only when what it is about was extracted at all: BR-CO-26 and the
seller-side rules when the seller has a name, the buyer-side rules when the buyer has one, and
the category rules only for items whose category is stated or derivable (see
:mod:`invoiceai.schema.rules_categories`).

Rules: BR-CO-26; BR-S/Z/E/AE/IC/G/AF/AG-02, -03, -04 (the identifiers a line, allowance or
charge of that category needs); BR-O-02/03/04 (no VAT identifiers with "not subject to VAT");
BR-S/Z/AF/AG-10 and BR-E/AE/IC/G/O-10 (exemption reasons); BR-IC-11 and BR-IC-12; BR-B-01 and
BR-B-02 (split payment).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.schema.findings import Finding
from invoiceai.schema.rules_categories import RULE_PREFIX, placed_items, row_categories

if TYPE_CHECKING:
    from invoiceai.schema.invoice import Invoice, Party

__all__ = ["br_co_26", "category_identifiers", "exemption_reasons", "intra_community_delivery", "split_payment"]

_SUFFIX = {"line": "02", "allowance": "03", "charge": "04"}
_WHAT = {"line": "an invoice line", "allowance": "a document-level allowance", "charge": "a document-level charge"}
# Seller side: may the seller's tax registration (BT-32, ``tax_id``) stand in for the VAT id?
_SELLER_TAX_ID_COUNTS = frozenset({"S", "Z", "E", "AE", "L", "M"})
_NEEDS_REASON = frozenset({"E", "AE", "K", "G", "O"})
_NO_REASON = frozenset({"S", "Z", "L", "M"})


def _named(party: Party) -> bool:
    return bool(party.name and party.name.strip())


def br_co_26(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-CO-26: the seller has an identifier (BT-29), legal registration id (BT-30) or VAT id (BT-31)."""
    seller = invoice.seller
    if not _named(seller):
        return
    identifier = seller.identifier if (seller.identifier_scheme or "").strip().upper() != "SEPA" else None
    if seller.vat_id or identifier or seller.legal_registration_id:
        return
    yield Finding(
        rule="BR-CO-26",
        severity="error",
        message=(
            "The seller has neither a VAT id, a legal registration id nor another identifier; "
            "EN 16931 needs at least one so the buyer can identify the seller."
        ),
        fields=("seller.vat_id", "seller.legal_registration_id", "seller.identifier"),
    )


def category_identifiers(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-S-02 (and BR-x-02/03/04 of every category): an item of a category comes with the VAT ids it needs.

    Seller side (S, Z, E, AE, L, M, K, G): the seller's VAT id, or the tax representative's; for
    S, Z, E, AE, L and M the seller's tax registration (BT-32) also counts. Buyer side: AE needs
    the buyer's VAT id or legal registration id, K the buyer's VAT id. O is the reverse: no VAT
    id of the seller, its representative or the buyer may be present (BR-O-02/03/04).
    """
    items = placed_items(invoice) or []
    reported: set[str] = set()
    for item in items:
        rule = f"{RULE_PREFIX.get(item.category, '')}-{_SUFFIX[item.kind]}"
        if item.category not in RULE_PREFIX or rule in reported or item.path.endswith("_total"):
            continue
        fields = _missing_ids(invoice, item.category)
        if fields:
            reported.add(rule)
            verb = "has" if item.category == "O" else "lacks"
            yield Finding(
                rule=rule,
                severity="error",
                message=(
                    f"{item.path} is {_WHAT[item.kind]} in VAT category {item.category}, and the invoice "
                    f"{verb} {' / '.join(fields)}."
                ),
                fields=(item.path, *fields),
            )


def _missing_ids(invoice: Invoice, category: str) -> tuple[str, ...]:
    seller, buyer, representative = invoice.seller, invoice.buyer, invoice.tax_representative
    if category == "O":
        present = [
            path
            for path, value in (
                ("seller.vat_id", seller.vat_id),
                ("tax_representative.vat_id", representative.vat_id),
                ("buyer.vat_id", buyer.vat_id),
            )
            if value
        ]
        return tuple(present)
    missing: list[str] = []
    seller_ok = seller.vat_id or representative.vat_id
    if category in _SELLER_TAX_ID_COUNTS:
        seller_ok = seller_ok or seller.tax_id
    if _named(seller) and not seller_ok:
        missing.append("seller.vat_id")
    buyer_ok = {"AE": buyer.vat_id or buyer.legal_registration_id or buyer.tax_id, "K": buyer.vat_id}
    if _named(buyer) and category in buyer_ok and not buyer_ok[category]:
        missing.append("buyer.vat_id")
    return tuple(missing)


def exemption_reasons(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-E-10 (and BR-AE/IC/G/O-10): the row states an exemption reason; BR-S/Z/AF/AG-10 forbid one.

    Runs only on rows whose category is stated (a derived ``S`` says nothing about the reason).
    """
    for i, row in enumerate(invoice.tax_breakdown):
        category = (row.category or "").strip().upper()
        has_reason = bool(row.exemption_reason or row.exemption_reason_code)
        fields = (f"tax_breakdown[{i}].exemption_reason", f"tax_breakdown[{i}].exemption_reason_code")
        if category in _NEEDS_REASON and not has_reason:
            message = f"tax_breakdown[{i}] is in VAT category {category} but states no exemption reason or code."
        elif category in _NO_REASON and has_reason:
            message = f"tax_breakdown[{i}] is in VAT category {category}, which takes no exemption reason or code."
        else:
            continue
        yield Finding(rule=f"{RULE_PREFIX[category]}-10", severity="error", message=message, fields=fields)


def intra_community_delivery(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-IC-11 / BR-IC-12: an intra-community supply (K) states when, and to which country, it was delivered."""
    if "K" not in row_categories(invoice):
        return
    period = invoice.invoicing_period
    if invoice.delivery.date is None and period.start is None and period.end is None:
        yield Finding(
            rule="BR-IC-11",
            severity="error",
            message=(
                "The invoice has an intra-community supply (VAT category K) but no delivery date or invoicing period."
            ),
            fields=("delivery.date", "invoicing_period.start", "invoicing_period.end"),
        )
    if not invoice.delivery.address.country_code:
        yield Finding(
            rule="BR-IC-12",
            severity="error",
            message="The invoice has an intra-community supply (VAT category K) but no deliver-to country.",
            fields=("delivery.address.country_code",),
        )


def split_payment(invoice: Invoice, unit: Decimal) -> Iterator[Finding]:
    """BR-B-01 / BR-B-02: split payment (B) is for domestic Italian invoices and excludes category S."""
    # The categories as written: stated, or derived as the writer derives them (a row at a
    # positive rate with none is S, and so is a line at that rate).
    stated = {code for code in row_categories(invoice) if code}
    stated |= {(line.tax_category or "").strip().upper() for line in invoice.line_items}
    stated |= {(entry.tax_category or "").strip().upper() for entry in (*invoice.allowances, *invoice.charges)}
    stated |= {item.category for item in placed_items(invoice) or []}
    if "B" not in stated:
        return
    countries = {
        path: code
        for path, code in (
            ("seller.address.country_code", invoice.seller.address.country_code),
            ("buyer.address.country_code", invoice.buyer.address.country_code),
            ("payee.address.country_code", invoice.payee.address.country_code),
            ("tax_representative.address.country_code", invoice.tax_representative.address.country_code),
            ("delivery.address.country_code", invoice.delivery.address.country_code),
            *((f"line_items[{i}].origin_country", line.origin_country) for i, line in enumerate(invoice.line_items)),
        )
        if code
    }
    foreign = {path: code for path, code in countries.items() if code != "IT"}
    if foreign:
        yield Finding(
            rule="BR-B-01",
            severity="error",
            message=(
                "Split payment (VAT category B) is for domestic Italian invoices; "
                f"{', '.join(foreign.values())} is not IT."
            ),
            fields=tuple(foreign),
        )
    if "S" in stated:
        yield Finding(
            rule="BR-B-02",
            severity="error",
            message="An invoice with split payment (VAT category B) cannot also have standard-rated (S) items.",
            fields=("tax_breakdown",),
        )
