"""Parses untrusted XML safely: no DTDs, no entities, no network, no huge trees.

E-invoices arrive from strangers, inside PDFs nobody looked at. EN 16931 syntaxes never need a
document type declaration, so any XML that carries one is refused outright: that closes XXE
(external entities reading local files or URLs) and entity expansion ("billion laughs") in one
rule, whatever the parser would have done with them. The parser is also configured so that it
could not resolve an entity or reach the network even if the check were bypassed.

Real-world e-invoices are sloppy about encodings, so before parsing this module strips byte
order marks and leading whitespace and replaces an XML declaration whose encoding is not a real
encoding name (``encoding="UTF-8-W/O-BOM"`` is in the wild) by reading the bytes as UTF-8.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Any

from invoiceai.errors import CorruptDocumentError, HostileXMLError

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["HostileXMLError", "clean_xml_bytes", "parse_xml"]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DECLARATION = re.compile(rb"^<\?xml\s[^>]*?\?>", re.DOTALL)
_ENCODING = re.compile(rb"""encoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)
# XML 1.0 production [81] EncName.
_ENCODING_NAME = re.compile(rb"^[A-Za-z][A-Za-z0-9._-]*$")


def clean_xml_bytes(data: bytes) -> bytes:
    """Removes what stops a strict parser on otherwise fine e-invoice XML.

    Strips a UTF-8 byte order mark and whitespace before the first ``<``, and drops an XML
    declaration whose encoding is not a valid or known encoding name, re-encoding the bytes as
    UTF-8 (from Latin-1 when they are not valid UTF-8). UTF-16 input is left to the parser.

    Args:
        data: The raw bytes.

    Returns:
        Bytes a conforming parser accepts, or ``data`` unchanged when nothing needed fixing.
    """
    if data.startswith(_UTF16_BOMS):
        return data
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    data = data.lstrip(b" \t\r\n")
    declaration = _DECLARATION.match(data)
    if declaration is None:
        return data
    encoding = _ENCODING.search(declaration.group(0))
    if encoding is None or _known_encoding(encoding.group(2)):
        return data
    body = data[declaration.end() :]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        body = body.decode("latin-1").encode("utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + body


def _known_encoding(name: bytes) -> bool:
    if not _ENCODING_NAME.match(name):
        return False
    try:
        codecs.lookup(name.decode("ascii"))
    except LookupError:
        return False
    return True


def parse_xml(data: bytes) -> etree._Element:
    """Parses untrusted XML bytes into an element tree, refusing anything with a DTD.

    Args:
        data: The XML document.

    Returns:
        The root element.

    Raises:
        HostileXMLError: The document has a ``<!DOCTYPE>`` (and with it, possibly entities).
        CorruptDocumentError: The bytes are not well-formed XML.
    """
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(clean_xml_bytes(data), parser=parser)
    except etree.XMLSyntaxError as exc:
        if _has_doctype(data):
            raise _hostile() from exc
        raise CorruptDocumentError(f"The e-invoice is not well-formed XML: {exc}.") from exc
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _hostile()
    return root


def _has_doctype(data: bytes) -> bool:
    # Only consulted when parsing failed, to name the real reason: libxml2 gives up on some
    # entity bombs with a syntax error before the tree (and its docinfo) exists.
    head = data[:4096]
    return b"<!DOCTYPE" in head or b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E" in head


def _hostile() -> HostileXMLError:
    return HostileXMLError(
        "The XML declares a document type (<!DOCTYPE ...>), which no e-invoice needs; it is refused "
        "because DTDs carry the external-entity (XXE) and entity-expansion attacks."
    )
