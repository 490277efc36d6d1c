"""Writes any :class:`~invoiceai.Invoice` as EN 16931 XML: CII or UBL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from invoiceai.errors import EInvoiceError

if TYPE_CHECKING:
    from invoiceai.schema import Invoice

__all__ = ["XmlSyntax", "to_xml"]

XmlSyntax = Literal["cii", "ubl"]


def to_xml(invoice: Invoice, syntax: XmlSyntax = "cii") -> bytes:
    """Writes ``invoice`` as EN 16931 XML.

    ``"cii"`` is UN/CEFACT CII D16B in the Factur-X / ZUGFeRD EN 16931 profile (the XML inside a
    Factur-X PDF); ``"ubl"`` is OASIS UBL 2.1 (``Invoice``, or ``CreditNote`` for a credit note).
    The output validates against the official XSDs. Text is escaped by the XML serialiser, so
    ``& < > " '`` in names or notes are safe.

    Args:
        invoice: The invoice, from an e-invoice or a visual extraction.
        syntax: ``"cii"`` or ``"ubl"``.

    Returns:
        UTF-8 XML bytes with an XML declaration.

    Raises:
        MissingFieldsError: The invoice lacks fields EN 16931 requires; ``fields`` lists them all
            with their business terms.
        EInvoiceError: ``syntax`` is not ``"cii"`` or ``"ubl"``.
    """
    from invoiceai.einvoice.requirements import plan

    if syntax not in ("cii", "ubl"):
        raise EInvoiceError(f"Cannot write syntax {syntax!r}; choose 'cii' or 'ubl'.")
    checked = plan(invoice)
    if syntax == "cii":
        from invoiceai.einvoice.cii_writer import write_cii

        return write_cii(checked)
    from invoiceai.einvoice.ubl_writer import write_ubl

    return write_ubl(checked)
