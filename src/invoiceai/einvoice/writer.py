"""Writes any :class:`~invoiceai.Invoice` as EN 16931 XML: CII or UBL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from invoiceai.errors import EInvoiceError

if TYPE_CHECKING:
    from invoiceai.schema import Invoice

__all__ = ["XmlSyntax", "positive_credit_note", "to_xml"]

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

    A credit note whose totals are negative (as many printed credit notes and scans show them)
    is written with every sign flipped: an EN 16931 credit note (type 381, UBL ``CreditNote``)
    states a positive amount credited, and a negative one would mean the opposite.

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
    checked = plan(positive_credit_note(invoice))
    if syntax == "cii":
        from invoiceai.einvoice.cii_writer import write_cii

        return write_cii(checked)
    from invoiceai.einvoice.ubl_writer import write_ubl

    return write_ubl(checked)


def positive_credit_note(invoice: Invoice) -> Invoice:
    """Returns a credit note with negative totals as the same credit note with positive amounts.

    Amounts, quantities, allowances and charges change sign; unit prices become their absolute
    value (EN 16931 never has a negative net price). Anything that is not a credit note with a
    negative total, amount due or subtotal is returned as it is.
    """
    from invoiceai.schema.invoice import TOTAL_FIELDS

    if invoice.document_type != "credit_note":
        return invoice
    sign = next((value for value in (invoice.total, invoice.amount_due, invoice.subtotal) if value is not None), None)
    if sign is None or sign >= 0:
        return invoice
    flipped = invoice.model_copy(deep=True)
    for name in TOTAL_FIELDS:
        value = getattr(flipped, name)
        if value is not None:
            setattr(flipped, name, -value)
    for line in flipped.line_items:
        for name in ("amount", "allowance_amount", "charge_amount"):
            value = getattr(line, name)
            if value is not None:
                setattr(line, name, -value)
        if line.unit_price is not None and line.unit_price < 0:
            line.unit_price = -line.unit_price  # the sign lived in the price; the quantity keeps its own
        elif line.quantity is not None:
            line.quantity = -line.quantity
    for tax in flipped.tax_breakdown:
        if tax.taxable_amount is not None:
            tax.taxable_amount = -tax.taxable_amount
        if tax.tax_amount is not None:
            tax.tax_amount = -tax.tax_amount
    return flipped
