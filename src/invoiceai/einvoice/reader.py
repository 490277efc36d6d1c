"""Reads EN 16931 e-invoice XML (CII, ZUGFeRD 1.0, UBL) into an :class:`~invoiceai.Invoice`.

Pure data in, data out: no model call, no network, and anthropic is never imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.einvoice.results import EInvoice
from invoiceai.einvoice.safe_xml import parse_xml
from invoiceai.einvoice.syntax import detect_syntax

if TYPE_CHECKING:
    from invoiceai.schema import Invoice

__all__ = ["parse_einvoice", "read_einvoice"]


def parse_einvoice(data: bytes) -> EInvoice:
    """Reads e-invoice XML and says what it was.

    Args:
        data: The XML bytes: a standalone CII or UBL file, or an attachment taken from a PDF.

    Returns:
        The invoice with its syntax, BT-3 type code as written and BT-24 specification.

    Raises:
        HostileXMLError: The XML declares a DTD (XXE and entity expansion are refused).
        CorruptDocumentError: The bytes are not well-formed XML.
        NotAnInvoiceError: Well-formed XML that is not an invoice (an Order-X order, ...).
        UnsupportedFormatError: An invoice in a syntax not read here (FatturaPA).
    """
    from invoiceai.einvoice.cii_reader import read_cii
    from invoiceai.einvoice.ubl_reader import read_ubl
    from invoiceai.schema import Invoice

    root = parse_xml(data)
    syntax = detect_syntax(root)
    fields, header = read_ubl(root) if syntax == "ubl" else read_cii(root, syntax)
    return EInvoice(invoice=Invoice.model_validate(fields), syntax=syntax, header=header)


def read_einvoice(data: bytes) -> Invoice:
    """Reads e-invoice XML into an :class:`~invoiceai.Invoice`.

    Money is read as exact :class:`~decimal.Decimal` from the XML text and dates from CII format
    102 or ISO 8601. A value that is malformed in the XML is dropped and reported in
    :attr:`~invoiceai.Invoice.normalization_findings`, so :func:`~invoiceai.validate` shows it.

    Args:
        data: The XML bytes.

    Returns:
        The invoice.

    Raises:
        HostileXMLError: The XML declares a DTD (XXE and entity expansion are refused).
        CorruptDocumentError: The bytes are not well-formed XML.
        NotAnInvoiceError: Well-formed XML that is not an invoice (an Order-X order, ...).
        UnsupportedFormatError: An invoice in a syntax not read here (FatturaPA).
    """
    return parse_einvoice(data).invoice
