"""What the UBL reading and writing modules share: tag prefixes and identifier helpers.

An EN 16931 identifier often comes with a scheme (``cbc:ID schemeID="0088"``); reading keeps the
pair together and writing puts the scheme back only when there is one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.einvoice._build import add
from invoiceai.einvoice._nodes import element_text, first_text, nodes, one_line
from invoiceai.einvoice.syntax import UBL_INVOICE_NS

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["CAC", "CBC", "add_with_scheme", "iso", "line_text", "present", "with_attribute"]

CAC = "{" + UBL_INVOICE_NS["cac"] + "}"
"""Clark prefix of the UBL aggregate components (``cac:``), the same in Invoice and CreditNote."""
CBC = "{" + UBL_INVOICE_NS["cbc"] + "}"
"""Clark prefix of the UBL basic components (``cbc:``)."""


def with_attribute(
    node: etree._Element, path: str, ns: dict[str, str], attribute: str = "schemeID"
) -> tuple[str | None, str | None]:
    """The text of the first element ``path`` selects that has any, with one of its attributes.

    Returns:
        ``(text, attribute value)``, each with its whitespace runs collapsed and ``None`` when
        absent or blank.
    """
    for element in nodes(node, path, ns):
        text = one_line(element_text(element))
        if text:
            return text, one_line(element.get(attribute))
    return None, None


def line_text(node: etree._Element, path: str, ns: dict[str, str]) -> str | None:
    """The first text ``path`` selects, whitespace runs collapsed: a one-line value, as the CII reader reads it."""
    return one_line(first_text(node, path, ns))


def add_with_scheme(
    parent: etree._Element, tag: str, value: str | None, scheme: str | None, attribute: str = "schemeID"
) -> etree._Element | None:
    """Appends ``tag`` holding ``value`` (with its scheme when there is one); nothing when ``value`` is empty."""
    if not value:
        return None
    if scheme:
        return add(parent, tag, value, **{attribute: scheme})
    return add(parent, tag, value)


def iso(value: dt.date | None) -> str | None:
    """A date as ``YYYY-MM-DD`` (UBL's xs:date), ``None`` stays ``None``."""
    return value.isoformat() if value is not None else None


def present(*values: str | Decimal | dt.date | None) -> bool:
    """Whether any value is given (an empty string is not)."""
    return any(value is not None and value != "" for value in values)
