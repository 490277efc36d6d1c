"""Small pieces the CII reader and writer modules share: tag names, text and date helpers.

Reading works on both CII generations (D16B and ZUGFeRD 1.0), so the readers take the namespace
map of the document; writing is always D16B, so the writers use the Clark-notation tag prefixes
defined here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, date_102
from invoiceai.einvoice._nodes import date_value, element_text, first, first_text, one_line
from invoiceai.einvoice.syntax import CII_NS, ZUGFERD1_NS

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "D16B",
    "QDT",
    "RAM",
    "RSM",
    "UDT",
    "ZUGFERD1",
    "Layout",
    "add_date",
    "add_id",
    "add_tax_category",
    "date_at",
    "join_notes",
    "line_at",
    "looks_like_iban",
    "text_at",
]

RSM = "{" + CII_NS["rsm"] + "}"
RAM = "{" + CII_NS["ram"] + "}"
UDT = "{" + CII_NS["udt"] + "}"
QDT = "{" + CII_NS["qdt"] + "}"


@dataclasses.dataclass(frozen=True)
class Layout:
    """The names of the containers one CII generation puts its building blocks in."""

    ns: dict[str, str]
    context: str
    document: str
    transaction: str
    agreement: str
    delivery: str
    settlement: str
    summation: str
    rate: str
    line_agreement: str
    line_delivery: str
    line_settlement: str
    line_summation: str
    order_id: str


D16B = Layout(
    ns=CII_NS,
    context="rsm:ExchangedDocumentContext",
    document="rsm:ExchangedDocument",
    transaction="rsm:SupplyChainTradeTransaction",
    agreement="ram:ApplicableHeaderTradeAgreement",
    delivery="ram:ApplicableHeaderTradeDelivery",
    settlement="ram:ApplicableHeaderTradeSettlement",
    summation="ram:SpecifiedTradeSettlementHeaderMonetarySummation",
    rate="ram:RateApplicablePercent",
    line_agreement="ram:SpecifiedLineTradeAgreement",
    line_delivery="ram:SpecifiedLineTradeDelivery",
    line_settlement="ram:SpecifiedLineTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementLineMonetarySummation",
    order_id="ram:IssuerAssignedID",
)
"""UN/CEFACT CII D16B: Factur-X, ZUGFeRD 2.x, XRechnung CII."""

ZUGFERD1 = Layout(
    ns=ZUGFERD1_NS,
    context="rsm:SpecifiedExchangedDocumentContext",
    document="rsm:HeaderExchangedDocument",
    transaction="rsm:SpecifiedSupplyChainTradeTransaction",
    agreement="ram:ApplicableSupplyChainTradeAgreement",
    delivery="ram:ApplicableSupplyChainTradeDelivery",
    settlement="ram:ApplicableSupplyChainTradeSettlement",
    summation="ram:SpecifiedTradeSettlementMonetarySummation",
    rate="ram:ApplicablePercent",
    line_agreement="ram:SpecifiedSupplyChainTradeAgreement",
    line_delivery="ram:SpecifiedSupplyChainTradeDelivery",
    line_settlement="ram:SpecifiedSupplyChainTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementMonetarySummation",
    order_id="ram:ID",
)
"""ZUGFeRD 1.0 ``CrossIndustryDocument``: the same building blocks in differently named containers."""


def join_notes(notes: list[str]) -> str | None:
    """Joins BT-22 notes one per line, each with its lines' whitespace collapsed."""
    lines = [" ".join(line.split()) for note in notes for line in note.splitlines()]
    joined = "\n".join(line for line in lines if line)
    return joined or None


def text_at(node: etree._Element | None, path: str, ns: dict[str, str]) -> str | None:
    """The first non-empty text ``path`` selects under ``node`` (``None`` when ``node`` is)."""
    return first_text(node, path, ns) if node is not None else None


def line_at(node: etree._Element | None, path: str, ns: dict[str, str]) -> str | None:
    """Like :func:`text_at`, with whitespace runs collapsed to single spaces (one-line values)."""
    return one_line(text_at(node, path, ns))


def date_at(node: etree._Element | None, path: str, ns: dict[str, str]) -> Any:
    """The date of the first element ``path`` selects (format 102 or ISO), raw text when malformed."""
    element = first(node, path, ns) if node is not None else None
    if element is None:
        return None
    return date_value(element_text(element), element.get("format"))


def add_date(parent: etree._Element, tag: str, value: dt.date, inner: str | None = None) -> None:
    """Appends ``tag`` holding a format 102 date in ``inner`` (default ``udt:DateTimeString``)."""
    add(add(parent, tag), inner or UDT + "DateTimeString", date_102(value), format="102")


def add_id(parent: etree._Element, value: str, scheme: str | None) -> None:
    """Appends a party or location identifier: ``ram:GlobalID`` with its scheme, else ``ram:ID``.

    CII keeps the identifiers with an ISO 6523 scheme (BT-29-1, BT-46-1, BT-60-1, BT-71-1) in
    ``GlobalID``, which must carry it (CII-SR-046); ``ID`` carries none.
    """
    if scheme:
        add(parent, RAM + "GlobalID", value, schemeID=scheme)
    else:
        add(parent, RAM + "ID", value)


def add_tax_category(tax: etree._Element, category: str, rate: Decimal | None) -> None:
    """Fills a ``ram:ApplicableTradeTax`` or ``ram:CategoryTradeTax`` with VAT, the category and the rate."""
    add(tax, RAM + "TypeCode", "VAT")
    add(tax, RAM + "CategoryCode", category)
    if rate is not None:
        add(tax, RAM + "RateApplicablePercent", rate)


def looks_like_iban(value: str) -> bool:
    """Whether an account identifier has the shape of an IBAN (country, check digits, 11-30 more).

    The same test as the UBL reader's, whose syntax has one element for every account: an
    account reads as ``iban`` or ``account_number`` alike from CII and UBL.
    """
    compact = "".join(value.split()).upper()
    return 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum()
