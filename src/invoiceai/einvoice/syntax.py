"""Which e-invoice syntax an XML document is written in, and what its type code means.

Four syntaxes are read: UN/CEFACT CII D16B (Factur-X, ZUGFeRD 2.x, XRechnung CII), the older
ZUGFeRD 1.0 ``CrossIndustryDocument``, and OASIS UBL 2.1 ``Invoice`` and ``CreditNote``.
Recognised documents that are not invoices (Order-X orders, UBL orders, ZUGFeRD additional data)
raise :class:`~invoiceai.errors.NotAnInvoiceError` saying what they are; invoices in a syntax we
do not read (FatturaPA, UN/EDIFACT ``INVOIC`` as XML) raise
:class:`~invoiceai.errors.UnsupportedFormatError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from invoiceai.errors import NotAnInvoiceError, UnsupportedFormatError

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "CII_NS",
    "UBL_CREDIT_NOTE_NS",
    "UBL_INVOICE_NS",
    "ZUGFERD1_NS",
    "Syntax",
    "describe_root",
    "detect_syntax",
    "document_type_for",
    "is_edifact_invoice",
    "is_other_trade_document",
    "type_code_for",
]

Syntax = Literal["cii", "zugferd1", "ubl"]
"""``cii``: CII D16B (Factur-X, ZUGFeRD 2.x, XRechnung); ``zugferd1``: ZUGFeRD 1.0; ``ubl``: UBL 2.1."""

CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
ZUGFERD1_NS = {
    "rsm": "urn:ferd:CrossIndustryDocument:invoice:1p0",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15",
}
_UBL_COMMON = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
UBL_INVOICE_NS = {"ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", **_UBL_COMMON}
UBL_CREDIT_NOTE_NS = {"ubl": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2", **_UBL_COMMON}

_INVOICE_ROOTS: dict[tuple[str, str], Syntax] = {
    (CII_NS["rsm"], "CrossIndustryInvoice"): "cii",
    (ZUGFERD1_NS["rsm"], "CrossIndustryDocument"): "zugferd1",
    (UBL_INVOICE_NS["ubl"], "Invoice"): "ubl",
    (UBL_CREDIT_NOTE_NS["ubl"], "CreditNote"): "ubl",
}
_UBL_DOCUMENT_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
_ORDER_X_ROOT = "SCRDMCCBDACIOMessageStructure"
_ORDER_X_TYPES = {"220": "purchase order", "230": "order change", "231": "order response"}


def detect_syntax(root: etree._Element) -> Syntax:
    """Says which invoice syntax ``root`` is, or raises saying what the document is instead.

    Args:
        root: The parsed document's root element.

    Returns:
        The syntax.

    Raises:
        UnsupportedFormatError: An invoice in a syntax we do not read (FatturaPA).
        NotAnInvoiceError: A well-formed XML document that is not an invoice in a syntax we read;
            the message names what it is when it is recognisable (Order-X order, UBL order, ...).
    """
    namespace, _, local = _split(root.tag)
    syntax = _INVOICE_ROOTS.get((namespace, local))
    if syntax is not None:
        return syntax
    if local == "FatturaElettronica":
        raise UnsupportedFormatError(
            f"This XML is an Italian FatturaPA invoice, a syntax invoiceai does not read; {_EXPECTED}."
        )
    if is_edifact_invoice(root):
        raise UnsupportedFormatError(
            "This XML is a UN/EDIFACT INVOIC invoice written as XML, a syntax invoiceai does not read; "
            f"{_EXPECTED}. Convert it to one of these (e.g. XRechnung) first."
        )
    expected = [ns for ns, name in _INVOICE_ROOTS if name == local]
    if expected:  # an invoice's root element in the wrong namespace: a typo in xmlns, or no xmlns
        raise NotAnInvoiceError(
            f"This XML's root element {local!r} is in namespace {namespace!r}, but an invoice's {local!r} is "
            f"in {expected[0]!r}; fix the xmlns declaration of the root element."
        )
    raise NotAnInvoiceError(f"This XML is {describe_root(root)}, not an invoice; {_EXPECTED}.")


# How far into an EDIFACT-XML document to look for the message type: the UNB/UNH segments (or a
# message group named after INVOIC) come first in every mapping we know.
_EDIFACT_SCAN = 400
_EDIFACT_ROOTS = frozenset({"interchange", "edifact", "efact_interchange"})


def is_edifact_invoice(root: etree._Element) -> bool:
    """Whether ``root`` is a UN/EDIFACT ``INVOIC`` message (or interchange) written as XML.

    The usual shapes: an ``Interchange`` root with ``UNB``/``UNH`` segments (Smooks, Stylus
    Studio, the UN/CEFACT EDIFACT XML schemas), a message root or group named after the message
    (``INVOIC``, ``M_INVOIC``, BizTalk's ``EFACT_D96A_INVOIC``), or a namespace naming EDIFACT.
    It is an invoice when an element is named after ``INVOIC`` or a segment's text says ``INVOIC``.
    """
    namespace, _, local = _split(root.tag)
    edifact = "edifact" in namespace.lower() or local.lower() in _EDIFACT_ROOTS
    invoice = False
    for count, element in enumerate(root.iter()):
        if count > _EDIFACT_SCAN:
            break
        name = _split(element.tag)[2].upper()  # a comment's tag is no name we look for
        if name in ("UNB", "UNH", "UNZ", "UNT") or name.startswith(("UNB_", "UNH_", "S009", "D_0065")):
            edifact = True
        if "INVOIC" in name and "INVOICE" not in name:
            invoice = True
            edifact = edifact or name.startswith(("M_", "EFACT_")) or name == "INVOIC"
        elif element.text and element.text.strip() == "INVOIC":
            invoice = True
    return edifact and invoice


_EXPECTED = (
    "invoiceai reads CII CrossIndustryInvoice (Factur-X, ZUGFeRD 2, XRechnung), ZUGFeRD 1.0 "
    "CrossIndustryDocument and UBL 2.1 Invoice or CreditNote"
)


def describe_root(root: etree._Element) -> str:
    """Names the kind of document ``root`` starts, as a noun phrase ("an Order-X purchase order")."""
    namespace, _, local = _split(root.tag)
    if local == _ORDER_X_ROOT:
        codes = root.xpath("./*[local-name()='ExchangedDocument']/*[local-name()='TypeCode']/text()")
        code = str(codes[0]).strip() if isinstance(codes, list) and codes else ""
        kind = _ORDER_X_TYPES.get(code, "order document")
        return f"an Order-X {kind}" + (f" (type code {code})" if code else "")
    if namespace.startswith(_UBL_DOCUMENT_PREFIX):
        return f"a UBL {local} document"
    if "additional_data" in namespace or local == "additionalOrAlternateData":
        return "ZUGFeRD additional data (a supplement to an invoice)"
    where = f" in namespace {namespace!r}" if namespace else ""
    return f"a document with root element {local!r}{where}"


def is_other_trade_document(root: etree._Element) -> bool:
    """Whether ``root`` is a recognised business document that is not an invoice.

    Order-X orders and UBL documents other than invoices qualify: a PDF whose only e-document is
    one of them is that document, not an invoice. Unknown XML (metadata, ZUGFeRD additional data)
    proves nothing either way.
    """
    namespace, _, local = _split(root.tag)
    if (namespace, local) in _INVOICE_ROOTS:
        return False
    return local == _ORDER_X_ROOT or namespace.startswith(_UBL_DOCUMENT_PREFIX)


def _split(tag: object) -> tuple[str, str, str]:
    text = str(tag)
    if text.startswith("{"):
        namespace, _, local = text[1:].partition("}")
        return namespace, "}", local
    return "", "", text


# UNTDID 1001 codes EN 16931 allows for BT-3, grouped by what they mean to a reader.
_CREDIT_NOTE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})
_PROFORMA_CODES = frozenset({"325"})
# 751 is "invoice information for accounting purposes": a data set, not a legal invoice.
_OTHER_CODES = frozenset({"751"})
_DEFAULT_CODES = {"invoice": "380", "credit_note": "381", "proforma": "325", "other": "751", "receipt": "380"}


def document_type_for(type_code: str | None) -> str | None:
    """Maps a BT-3 type code to our ``document_type`` vocabulary.

    Credit-note codes (381, 261, 396, ...) become ``credit_note``; 325 ``proforma``; 751
    (accounting information only) ``other``; every other code, including 384 (corrected invoice),
    389 (self-billing: the German "Gutschrift", which is *not* a credit note) and 204, ``invoice``.

    Args:
        type_code: The code as written, or ``None``.

    Returns:
        The document type, or ``None`` when there is no code.
    """
    if type_code is None or not type_code.strip():
        return None
    code = type_code.strip()
    if code in _CREDIT_NOTE_CODES:
        return "credit_note"
    if code in _PROFORMA_CODES:
        return "proforma"
    if code in _OTHER_CODES:
        return "other"
    return "invoice"


def type_code_for(document_type: str | None) -> str:
    """Returns the BT-3 code to write for a ``document_type``: 380 unless it says otherwise."""
    return _DEFAULT_CODES.get(document_type or "invoice", "380")
