"""Small helpers for building XML with lxml: text is made XML-safe, numbers exact.

lxml escapes ``& < >`` in text and quotes in attributes itself; what it refuses are characters
XML 1.0 cannot carry at all (most C0 controls, which OCR output sometimes contains), so those
are dropped here rather than failing the whole document.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["add", "date_102", "decimal_text", "xml_text"]

# C0 controls, lone surrogates (which json.loads lets through) and the two non-characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Removes characters XML 1.0 cannot represent (or UTF-8 cannot encode)."""
    return _NOT_XML.sub("", value)


def decimal_text(value: Decimal) -> str:
    """An xs:decimal lexical form: never an exponent (``1E+2`` is written ``100``), never a negative zero.

    ``-0.00`` is a valid xs:decimal, but the CII rules BR-x-09 compare the tax amount of a
    zero-rated row as text, and reject it.
    """
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


def date_102(value: dt.date) -> str:
    """A date in UNTDID 2379 format 102 (``YYYYMMDD``)."""
    return value.strftime("%Y%m%d")


def add(parent: etree._Element, tag: str, text: str | Decimal | None = None, **attributes: str) -> etree._Element:
    """Appends a child element with optional text and attributes and returns it."""
    from lxml import etree

    child = etree.SubElement(parent, tag)
    if isinstance(text, Decimal):
        child.text = decimal_text(text)
    elif text is not None:
        child.text = xml_text(text)
    for name, value in attributes.items():
        child.set(name, xml_text(value))
    return child


def add_present(parent: etree._Element, tag: str, text: str | Decimal | None) -> etree._Element | None:
    """Appends a child element holding ``text`` only when there is a value (BT fields are optional)."""
    return None if text is None or text == "" else add(parent, tag, text)
