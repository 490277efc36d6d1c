"""Read and write EN 16931 e-invoices: Factur-X, ZUGFeRD, XRechnung, CII and UBL.

Reading turns the XML into an :class:`~invoiceai.Invoice` with no model call; writing turns
any invoice (also one read from a scan) into CII, UBL or a Factur-X PDF. Nothing here imports
anthropic, and importing this package loads neither lxml nor pypdfium2: every name below is
resolved on first use (PEP 562).

Reading:
    :func:`read_einvoice`, :func:`parse_einvoice` (XML bytes), :func:`find_embedded_invoice`,
    :func:`read_embedded_invoice` (PDF bytes).
Writing:
    :func:`to_xml` (``"cii"`` or ``"ubl"``), :func:`to_facturx` (needs the ``facturx`` extra),
    :func:`schema_errors` (XSD validation, needs the ``facturx`` extra).
Cross-checking:
    :func:`compare_invoices`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.einvoice.compare import CROSS_CHECK_RULE, compare_invoices
    from invoiceai.einvoice.facturx_writer import to_facturx
    from invoiceai.einvoice.pdf_attachments import find_embedded_invoice, read_embedded_invoice
    from invoiceai.einvoice.reader import parse_einvoice, read_einvoice
    from invoiceai.einvoice.results import DocumentHeader, EInvoice, EmbeddedXml
    from invoiceai.einvoice.safe_xml import HostileXMLError
    from invoiceai.einvoice.syntax import Syntax, detect_syntax, document_type_for
    from invoiceai.einvoice.writer import XmlSyntax, to_xml
    from invoiceai.einvoice.xsd import schema_errors

_LAZY: dict[str, str] = {
    "CROSS_CHECK_RULE": "invoiceai.einvoice.compare",
    "DocumentHeader": "invoiceai.einvoice.results",
    "EInvoice": "invoiceai.einvoice.results",
    "EmbeddedXml": "invoiceai.einvoice.results",
    "HostileXMLError": "invoiceai.einvoice.safe_xml",
    "Syntax": "invoiceai.einvoice.syntax",
    "XmlSyntax": "invoiceai.einvoice.writer",
    "compare_invoices": "invoiceai.einvoice.compare",
    "detect_syntax": "invoiceai.einvoice.syntax",
    "document_type_for": "invoiceai.einvoice.syntax",
    "find_embedded_invoice": "invoiceai.einvoice.pdf_attachments",
    "parse_einvoice": "invoiceai.einvoice.reader",
    "read_einvoice": "invoiceai.einvoice.reader",
    "read_embedded_invoice": "invoiceai.einvoice.pdf_attachments",
    "schema_errors": "invoiceai.einvoice.xsd",
    "to_facturx": "invoiceai.einvoice.facturx_writer",
    "to_xml": "invoiceai.einvoice.writer",
}

__all__ = [
    "CROSS_CHECK_RULE",
    "DocumentHeader",
    "EInvoice",
    "EmbeddedXml",
    "HostileXMLError",
    "Syntax",
    "XmlSyntax",
    "compare_invoices",
    "detect_syntax",
    "document_type_for",
    "find_embedded_invoice",
    "parse_einvoice",
    "read_einvoice",
    "read_embedded_invoice",
    "schema_errors",
    "to_facturx",
    "to_xml",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'invoiceai.einvoice' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
