"""Small typed helpers over lxml for the readers: XPath results, and XML text to Python values.

A value that is not in the lexical form its XML type demands is passed on as the raw string;
the :class:`~invoiceai.Invoice` model then tries to normalise it and, when it cannot, drops it
and records a normalisation finding, so a sloppy value is visible instead of fatal.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["amount", "date_value", "element_text", "first", "first_text", "is_true", "nodes", "one_line", "texts"]

# xs:decimal: no exponent, no grouping; a leading "+" is allowed.
_XS_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_102 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|T|\s|Z|[+-]\d{2}:?\d{2}$)")


def nodes(node: etree._Element, path: str, ns: Mapping[str, str]) -> list[etree._Element]:
    """Elements ``path`` selects under ``node``."""
    result = node.xpath(path, namespaces=dict(ns))
    if not isinstance(result, list):
        return []
    # Comments and processing instructions are elements too, with a non-string tag.
    return [item for item in result if isinstance(item, etree_element()) and isinstance(item.tag, str)]


def etree_element() -> type[etree._Element]:
    """Returns lxml's element class, imported on first use."""
    from lxml import etree

    return etree._Element


def element_text(element: etree._Element) -> str:
    """All text inside ``element``, its children's included."""
    return "".join(str(part) for part in element.itertext())


def first(node: etree._Element, path: str, ns: Mapping[str, str]) -> etree._Element | None:
    """The first element ``path`` selects, or ``None``."""
    found = nodes(node, path, ns)
    return found[0] if found else None


def texts(node: etree._Element, path: str, ns: Mapping[str, str]) -> list[str]:
    """The stripped, non-empty texts of the elements ``path`` selects, in document order."""
    found = []
    for element in nodes(node, path, ns):
        text = element_text(element).strip()
        if text:
            found.append(text)
    return found


def first_text(node: etree._Element, path: str, ns: Mapping[str, str]) -> str | None:
    """The text of the first element ``path`` selects that has any, or ``None``."""
    found = texts(node, path, ns)
    return found[0] if found else None


def one_line(text: str | None) -> str | None:
    """Collapses whitespace runs (including newlines and tabs) to single spaces."""
    if text is None:
        return None
    joined = " ".join(text.split())
    return joined or None


def is_true(text: str | None) -> bool:
    """Whether xs:boolean text is true: ``true`` or ``1`` (``false`` and ``0`` are false)."""
    return text is not None and text.strip().lower() in ("true", "1")


def amount(text: str | None) -> Decimal | str | None:
    """An exact decimal from xs:decimal text, or the raw text for the model to try and report."""
    if text is None:
        return None
    stripped = text.strip()
    if _XS_DECIMAL.match(stripped):
        return Decimal(stripped)
    return stripped


def date_value(text: str | None, fmt: str | None = None) -> dt.date | str | None:
    """A date from CII format 102 (``YYYYMMDD``) or ISO 8601 text; other text is passed on raw."""
    if text is None:
        return None
    stripped = text.strip()
    match = _DATE_102.match(stripped) if fmt in (None, "102") else None
    if match is None:
        match = _ISO_DATE.match(stripped)
    if match is None:
        return stripped
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return stripped
