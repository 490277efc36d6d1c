"""Finds the invoice XML attached to a PDF (Factur-X, ZUGFeRD, XRechnung, UBL-in-PDF).

Attachments are read with pypdfium2 (under :data:`~invoiceai._pdfium.PDFIUM_LOCK`) from the
document's EmbeddedFiles name tree. When that yields no invoice, pypdf reads the catalog's
``/AF`` (associated files) array, which PDF/A-3 requires Factur-X files to fill and which still
works when a damaged name tree hides the attachment.

Every XML-looking attachment is parsed (safely) and its syntax detected; the file name alone is
never trusted (ZUGFeRD 1.0 and 2.x share ``zugferd-invoice.xml`` up to case, Odoo attaches
``UBL-Invoice-2.1.xml``, ZUGFeRD "additional data" and Order-X files are XML too). Among the
invoices found, CII D16B (Factur-X / ZUGFeRD 2 / XRechnung) beats UBL, which beats ZUGFeRD 1.0;
ties go to the conventional names ``factur-x.xml``, ``xrechnung.xml``, ``zugferd-invoice.xml``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from typing import TYPE_CHECKING

from invoiceai.einvoice.results import EmbeddedXml
from invoiceai.errors import (
    CorruptDocumentError,
    EncryptedDocumentError,
    InvoiceAIError,
    NotAnInvoiceError,
    WrongPasswordError,
)

if TYPE_CHECKING:
    from pypdf import PdfReader

    from invoiceai.einvoice.syntax import Syntax
    from invoiceai.schema import Invoice

__all__ = ["find_embedded_invoice", "read_embedded_invoice"]

_LOG = logging.getLogger(__name__)

_SYNTAX_RANK: dict[str, int] = {"cii": 0, "ubl": 1, "zugferd1": 2}
_NAME_RANK = {"factur-x.xml": 0, "xrechnung.xml": 1, "zugferd-invoice.xml": 2}
_INVOICE_NAMES = frozenset(_NAME_RANK) | {"ubl-invoice-2.1.xml", "order-x.xml"}
# Embedded-file streams cannot live in object streams, so their dictionary keys are plain bytes
# in any PDF that has one; without them a second parse with pypdf cannot find anything.
_ATTACHMENT_MARKERS = (b"/EmbeddedFile", b"/AF", b"/EF")


@dataclasses.dataclass(frozen=True)
class _Attachment:
    name: str
    data: bytes
    source: str


@dataclasses.dataclass(frozen=True)
class _Scan:
    attachments: list[_Attachment]
    encrypted: bool
    opened: bool


def find_embedded_invoice(pdf: bytes, *, password: str | None = None) -> EmbeddedXml | None:
    """Finds the invoice XML attached to a PDF.

    Args:
        pdf: The PDF bytes.
        password: The password, for an encrypted PDF.

    Returns:
        The chosen invoice XML, or ``None`` when the PDF carries no invoice XML (an ordinary
        PDF, or one whose only attachments are images, PDFs or unrelated XML).

    Raises:
        NotAnInvoiceError: The PDF carries a recognised e-document that is not an invoice (an
            Order-X order) and no invoice.
        EncryptedDocumentError: The PDF needs a password, or its invoice attachment is encrypted
            in a way that cannot be read.
        WrongPasswordError: The password given does not open the PDF.
        CorruptDocumentError: No PDF library can open the file, or the invoice attachment is
            not well-formed XML.
        HostileXMLError: The invoice attachment declares a DTD (refused as unsafe).
    """
    scan = _scan_pdfium(pdf, password)
    chosen = _choose(scan.attachments, scan.encrypted, final=False)
    if chosen is not None:
        return chosen
    if scan.opened and not any(marker in pdf for marker in _ATTACHMENT_MARKERS):
        return None
    fallback = _scan_pypdf(pdf, password, known={a.name for a in scan.attachments}, required=not scan.opened)
    return _choose(scan.attachments + fallback, scan.encrypted, final=True)


def read_embedded_invoice(pdf: bytes, *, password: str | None = None) -> Invoice | None:
    """Reads the invoice XML attached to a PDF, if there is one.

    Args:
        pdf: The PDF bytes.
        password: The password, for an encrypted PDF.

    Returns:
        The invoice, or ``None`` when the PDF carries no invoice XML.

    Raises:
        NotAnInvoiceError: The PDF carries a recognised e-document that is not an invoice.
        EncryptedDocumentError: The PDF or its invoice attachment cannot be decrypted.
        CorruptDocumentError: The PDF cannot be opened, or its invoice XML is malformed.
        HostileXMLError: The invoice XML declares a DTD.
    """
    from invoiceai.einvoice.reader import read_einvoice

    embedded = find_embedded_invoice(pdf, password=password)
    return None if embedded is None else read_einvoice(embedded.data)


def _choose(attachments: list[_Attachment], encrypted: bool, *, final: bool) -> EmbeddedXml | None:
    from invoiceai.einvoice.safe_xml import parse_xml
    from invoiceai.einvoice.syntax import detect_syntax, is_other_trade_document

    invoices: list[tuple[tuple[int, int, int], _Attachment, Syntax]] = []
    not_invoices: list[tuple[_Attachment, NotAnInvoiceError]] = []
    unreadable: list[tuple[_Attachment, InvoiceAIError]] = []
    for index, attachment in enumerate(attachments):
        if not _looks_like_xml(attachment):
            continue
        try:
            root = parse_xml(attachment.data)
        except InvoiceAIError as exc:
            unreadable.append((attachment, exc))
            continue
        try:
            syntax = detect_syntax(root)
        except NotAnInvoiceError as exc:
            if is_other_trade_document(root):
                not_invoices.append((attachment, exc))
            continue
        except InvoiceAIError as exc:
            unreadable.append((attachment, exc))
            continue
        rank = (_SYNTAX_RANK[syntax], _NAME_RANK.get(attachment.name.lower(), len(_NAME_RANK)), index)
        invoices.append((rank, attachment, syntax))
    if invoices:
        _, best, syntax = min(invoices, key=lambda item: item[0])
        others = tuple(a.name for a in attachments if a is not best)
        return EmbeddedXml(name=best.name, data=best.data, syntax=syntax, source=best.source, others=others)
    if not final:
        return None
    if not_invoices:
        attachment, not_invoice = not_invoices[0]
        raise NotAnInvoiceError(f"The PDF's attachment {attachment.name!r} is not an invoice. {not_invoice.message}")
    for attachment, error in unreadable:
        if attachment.name.lower() not in _INVOICE_NAMES:
            continue
        if encrypted and not attachment.data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            raise EncryptedDocumentError(
                f"The PDF's attachment {attachment.name!r} is encrypted with a method that cannot be "
                "decrypted here (an embedded-files crypt filter); extract it with the PDF's password in a "
                "PDF tool and read it with read_einvoice()."
            ) from error
        raise type(error)(f"The PDF's attachment {attachment.name!r}: {error.message}") from error
    return None


def _looks_like_xml(attachment: _Attachment) -> bool:
    if attachment.name.lower().endswith(".xml"):
        return True
    head = attachment.data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _scan_pdfium(pdf: bytes, password: str | None) -> _Scan:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from invoiceai._pdfium import PDFIUM_LOCK

    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(pdf, password=password)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                if password:
                    raise WrongPasswordError("The password does not open this PDF.") from exc
                raise EncryptedDocumentError("The PDF is encrypted; pass its password.") from exc
            # pdfium gives up on some damaged files that pypdf still reads.
            _LOG.debug("pdfium cannot open the PDF (%s); trying pypdf", exc)
            return _Scan(attachments=[], encrypted=False, opened=False)
        try:
            encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(document) != -1
            attachments = []
            for index in range(document.count_attachments()):
                attachment = document.get_attachment(index)
                name = attachment.get_name() or f"attachment-{index + 1}"
                try:
                    data = bytes(attachment.get_data())
                except pdfium.PdfiumError:
                    continue
                attachments.append(_Attachment(name=name, data=data, source="embedded_files"))
        finally:
            document.close()
    return _Scan(attachments=attachments, encrypted=encrypted, opened=True)


def _scan_pypdf(pdf: bytes, password: str | None, known: set[str], *, required: bool) -> list[_Attachment]:
    # `required`: pdfium could not open the file, so a pypdf failure means nothing can.
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency; be safe if it is stripped
        _LOG.debug("pypdf is not installed; the /AF fallback is skipped")
        return []
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted and not reader.decrypt(password or ""):
            return []
        found = _associated_files(reader) + _name_tree(reader)
    except Exception as exc:
        # pypdf raises PdfReadError, DependencyError (AES without `cryptography`) and assorted
        # internal errors on damaged or hostile files; none of it may escape as a crash.
        _LOG.debug("pypdf cannot read the attachments (%r)", exc)
        if required:
            raise CorruptDocumentError(f"The PDF cannot be opened: {exc}.") from exc
        return []
    unique: dict[str, _Attachment] = {}
    for attachment in found:
        if attachment.name not in known:
            unique.setdefault(attachment.name, attachment)
    return list(unique.values())


def _associated_files(reader: PdfReader) -> list[_Attachment]:
    from pypdf.generic import ArrayObject, DictionaryObject

    root = reader.trailer["/Root"].get_object()
    if not isinstance(root, DictionaryObject):
        return []
    array = root.get("/AF")
    array = array.get_object() if array is not None else None
    if not isinstance(array, ArrayObject):
        return []
    found = []
    for entry in array:
        spec = entry.get_object()
        if not isinstance(spec, DictionaryObject):
            continue
        name = str(spec.get("/UF") or spec.get("/F") or "")
        streams = spec.get("/EF")
        streams = streams.get_object() if streams is not None else None
        if not name or not isinstance(streams, DictionaryObject):
            continue
        stream = streams.get("/F") or streams.get("/UF")
        if stream is None:
            continue
        found.append(_Attachment(name=name, data=stream.get_object().get_data(), source="associated_files"))
    return found


def _name_tree(reader: PdfReader) -> list[_Attachment]:
    found = []
    for name, contents in reader.attachments.items():
        for data in contents:
            found.append(_Attachment(name=name, data=data, source="embedded_files"))
    return found
