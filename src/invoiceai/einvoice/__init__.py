"""Read and write EN 16931 e-invoices: Factur-X, ZUGFeRD, XRechnung, CII and UBL.

This package is pure XML: reading takes XML bytes and returns an :class:`~invoiceai.Invoice`
with no model call; writing takes any invoice (also one read from a scan) and returns CII or UBL
XML. It imports only :mod:`invoiceai.schema`, :mod:`invoiceai.errors`, the standard library and
lxml: no PDF or image library, and nothing of anthropic. Importing it loads not even lxml: every
name below is resolved on first use (PEP 562).

Reading:
    :func:`read_einvoice`, :func:`parse_einvoice` (XML bytes).
Writing:
    :func:`to_xml` (``"cii"`` or ``"ubl"``), :func:`schema_errors` (XSD validation, needs the
    ``facturx`` extra, which ships the XSDs).
Cross-checking:
    :func:`compare_invoices`.
Official rules:
    :func:`validate_xml` runs the CEN EN 16931 Schematron on CII or UBL XML (needs the
    ``en16931`` extra, saxonche; the rules ship with invoiceai).

PDFs live in :mod:`invoiceai.render.pdf`: the invoice XML attached to a PDF
(:func:`~invoiceai.render.pdf.find_embedded_invoice`,
:func:`~invoiceai.render.pdf.read_embedded_invoice`) and Factur-X writing
(:func:`~invoiceai.render.pdf.to_facturx`). Their old names here still work but are deprecated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.lazy import lazy_exports

if TYPE_CHECKING:
    from invoiceai.einvoice.compare import CROSS_CHECK_RULE, compare_invoices
    from invoiceai.einvoice.official import validate_xml
    from invoiceai.einvoice.reader import parse_einvoice, read_einvoice
    from invoiceai.einvoice.results import DocumentHeader, EInvoice
    from invoiceai.einvoice.safe_xml import HostileXMLError
    from invoiceai.einvoice.syntax import Syntax, detect_syntax, document_type_for
    from invoiceai.einvoice.writer import XmlSyntax, to_xml
    from invoiceai.einvoice.xsd import schema_errors

_LAZY: dict[str, str] = {
    "CROSS_CHECK_RULE": "invoiceai.einvoice.compare",
    "DocumentHeader": "invoiceai.einvoice.results",
    "EInvoice": "invoiceai.einvoice.results",
    "HostileXMLError": "invoiceai.einvoice.safe_xml",
    "Syntax": "invoiceai.einvoice.syntax",
    "XmlSyntax": "invoiceai.einvoice.writer",
    "compare_invoices": "invoiceai.einvoice.compare",
    "detect_syntax": "invoiceai.einvoice.syntax",
    "document_type_for": "invoiceai.einvoice.syntax",
    "parse_einvoice": "invoiceai.einvoice.reader",
    "read_einvoice": "invoiceai.einvoice.reader",
    "schema_errors": "invoiceai.einvoice.xsd",
    "to_xml": "invoiceai.einvoice.writer",
    "validate_xml": "invoiceai.einvoice.official",
}

# Names that moved to the PDF layer: still served, with a DeprecationWarning, through
# __getattr__ (a name, not an import, so this package never loads PDF code on its own).
_MOVED: dict[str, str] = {
    "EmbeddedXml": "invoiceai.render.pdf",
    "find_embedded_invoice": "invoiceai.render.pdf",
    "read_embedded_invoice": "invoiceai.render.pdf",
    "to_facturx": "invoiceai.render.pdf",
}

__all__ = [
    "CROSS_CHECK_RULE",
    "DocumentHeader",
    "EInvoice",
    "HostileXMLError",
    "Syntax",
    "XmlSyntax",
    "compare_invoices",
    "detect_syntax",
    "document_type_for",
    "parse_einvoice",
    "read_einvoice",
    "schema_errors",
    "to_xml",
    "validate_xml",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__, moved=_MOVED)
