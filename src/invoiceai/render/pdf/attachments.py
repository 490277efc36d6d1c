"""Finds the invoice XML attached to a PDF (Factur-X, ZUGFeRD, XRechnung, UBL-in-PDF).

Attachments are read with pypdfium2 (under :data:`~invoiceai.render.pdf.lock.PDFIUM_LOCK`) from
the document's EmbeddedFiles name tree, from the same open document the pages render from. When
that yields no invoice, pypdf reads the catalog's ``/AF`` (associated files) array, which PDF/A-3
requires Factur-X files to fill and which still works when a damaged name tree hides the
attachment; pypdf parses the bytes only then, and only when they hold an attachment marker.

Every XML-looking attachment is parsed (safely) and its syntax detected; the file name alone is
never trusted (ZUGFeRD 1.0 and 2.x share ``zugferd-invoice.xml`` up to case, Odoo attaches
``UBL-Invoice-2.1.xml``, ZUGFeRD "additional data" and Order-X files are XML too). Among the
invoices found, CII D16B (Factur-X / ZUGFeRD 2 / XRechnung) beats UBL, which beats ZUGFeRD 1.0;
ties go to the conventional names ``factur-x.xml``, ``xrechnung.xml``, ``zugferd-invoice.xml``.
"""

from __future__ import annotations

import dataclasses
import io
from typing import TYPE_CHECKING, Any

from invoiceai.documents.model import document_id_of
from invoiceai.errors import (
    AttachmentTooLargeError,
    CorruptDocumentError,
    EncryptedDocumentError,
    InvoiceAIError,
    NotAnInvoiceError,
)
from invoiceai.render.limits import RenderLimits
from invoiceai.render.noise import library_noise
from invoiceai.render.noise import refresh as refresh_noise_filters
from invoiceai.render.pdf.document import check_password, close_pdf, is_encrypted, open_pdf, pdfium_refused
from invoiceai.render.pdf.embedded import EmbeddedXml
from invoiceai.render.pdf.lock import PDFIUM_LOCK
from invoiceai.render.pdf.sandbox import bounds_memory, find_in_sandbox, use_sandbox
from invoiceai.render.pdf.scan import scan_pdf
from invoiceai.secrets import get_logger

if TYPE_CHECKING:
    from pypdf import PdfReader

    from invoiceai.einvoice.syntax import Syntax
    from invoiceai.schema import Invoice

__all__ = ["EmbeddedXml", "embedded_in", "find_embedded_invoice", "find_unscanned", "read_embedded_invoice"]

_LOG = get_logger(__name__)

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
    # Set instead of data for an attachment above max_attachment_bytes, which is never read.
    too_large: AttachmentTooLargeError | None = None


def find_embedded_invoice(
    pdf: bytes, *, password: str | None = None, limits: RenderLimits | None = None, name: str | None = None
) -> EmbeddedXml | None:
    """Finds the invoice XML attached to a PDF given as bytes.

    Callers that render the same PDF should open it once with
    :meth:`invoiceai.render.pdf.PdfRenderer.open` and ask the page source
    (:meth:`~invoiceai.render.pdf.PdfPageSource.embedded_einvoice`) instead.

    Args:
        pdf: The PDF bytes.
        password: The password, for an encrypted PDF.
        limits: ``max_stream_bytes``, ``max_attachment_bytes``, ``max_image_pixels`` and
            ``render_timeout`` apply (the settings' defaults when ``None``).
        name: The document's name, for log messages (its id otherwise).

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
        AttachmentTooLargeError: The invoice attachment is above ``max_attachment_bytes``.
        StreamTooLargeError: A stream of the PDF inflates past ``max_stream_bytes``.
        RenderTimeoutError: Scanning took longer than ``render_timeout``.
        ConfigurationError: ``password`` is not text.
    """
    check_password(password)
    limits = limits if limits is not None else RenderLimits()
    document_id = document_id_of(pdf)
    deadline = limits.deadline()
    name = name or document_id[:12]
    with deadline.spending(), library_noise(name):
        scan_pdf(pdf, limits, document_id=document_id, deadline=deadline, images_by_size=bounds_memory(limits))
    if use_sandbox(limits):
        return find_in_sandbox(pdf, password, limits=limits, name=name, document_id=document_id, deadline=deadline)
    with deadline.spending(), library_noise(name):
        return find_unscanned(pdf, password, limits=limits, document_id=document_id)


def find_unscanned(pdf: bytes, password: str | None, *, limits: RenderLimits, document_id: str) -> EmbeddedXml | None:
    """Does the work of :func:`find_embedded_invoice` in this process, on bytes it has scanned already.

    Args:
        pdf: The PDF bytes, checked with :func:`~invoiceai.render.pdf.scan.scan_pdf`.
        password: The password, if any.
        limits: ``max_attachment_bytes`` applies to each attachment.
        document_id: For error context.

    Returns:
        The chosen invoice XML, or ``None``.

    Raises:
        InvoiceAIError: As :func:`find_embedded_invoice` raises.
    """
    try:
        document = open_pdf(pdf, password, document_id=document_id)
    except (CorruptDocumentError, EncryptedDocumentError) as exc:
        if not pdfium_refused(exc):
            raise
        # pdfium gives up on some damaged files that pypdf still reads.
        _LOG.debug("pdfium cannot open the PDF (%s); trying pypdf", exc.message)
        return _with_fallback(pdf, password, [], encrypted=False, opened=False, limits=limits)
    try:
        return embedded_in(document, pdf, password, limits=limits)
    finally:
        close_pdf(document)


def read_embedded_invoice(
    pdf: bytes, *, password: str | None = None, limits: RenderLimits | None = None, name: str | None = None
) -> Invoice | None:
    """Reads the invoice XML attached to a PDF, if there is one.

    Args:
        pdf: The PDF bytes.
        password: The password, for an encrypted PDF.
        limits: As for :func:`find_embedded_invoice`.
        name: The document's name, for log messages.

    Returns:
        The invoice, or ``None`` when the PDF carries no invoice XML.

    Raises:
        NotAnInvoiceError: The PDF carries a recognised e-document that is not an invoice.
        EncryptedDocumentError: The PDF or its invoice attachment cannot be decrypted.
        CorruptDocumentError: The PDF cannot be opened, or its invoice XML is malformed.
        HostileXMLError: The invoice XML declares a DTD.
        AttachmentTooLargeError: The invoice XML is above ``max_attachment_bytes``.
        DocumentTooLargeError: A limit of the PDF itself (see :func:`find_embedded_invoice`).
    """
    from invoiceai.einvoice import read_einvoice

    embedded = find_embedded_invoice(pdf, password=password, limits=limits, name=name)
    return None if embedded is None else read_einvoice(embedded.data)


def embedded_in(
    document: Any, pdf: bytes, password: str | None, *, limits: RenderLimits | None = None
) -> EmbeddedXml | None:
    """Finds the invoice XML attached to an open document (see :func:`find_embedded_invoice`).

    Args:
        document: The document opened from ``pdf`` with :func:`~invoiceai.render.pdf.document.open_pdf`.
        pdf: Its bytes (already checked with :func:`~invoiceai.render.pdf.scan.scan_pdf`), for the pypdf fallback.
        password: Its password, for the pypdf fallback.
        limits: ``max_attachment_bytes`` applies to each attachment.

    Returns:
        The chosen invoice XML, or ``None``.

    Raises:
        NotAnInvoiceError, EncryptedDocumentError, CorruptDocumentError, HostileXMLError: As
            :func:`find_embedded_invoice` does.
    """
    limits = limits if limits is not None else RenderLimits()
    attachments = _pdfium_attachments(document, limits.max_attachment_bytes)
    return _with_fallback(pdf, password, attachments, encrypted=is_encrypted(document), opened=True, limits=limits)


def _with_fallback(
    pdf: bytes,
    password: str | None,
    attachments: list[_Attachment],
    *,
    encrypted: bool,
    opened: bool,
    limits: RenderLimits,
) -> EmbeddedXml | None:
    found = _classify(attachments)
    chosen = _choose(found, attachments, encrypted, final=False)
    if chosen is not None:
        return chosen
    if opened and not any(marker in pdf for marker in _ATTACHMENT_MARKERS):
        return None
    fallback = _scan_pypdf(
        pdf, password, known={a.name for a in attachments}, required=not opened, cap=limits.max_attachment_bytes
    )
    # pdfium's attachments were parsed already: only pypdf's are new (ranked after them).
    return _choose(
        found.plus(_classify(fallback, offset=len(attachments))), attachments + fallback, encrypted, final=True
    )


@dataclasses.dataclass
class _Found:
    """Attachments sorted by what they hold: ranked invoices, other trade documents, unreadable ones."""

    invoices: list[tuple[tuple[int, int, int], _Attachment, Syntax]] = dataclasses.field(default_factory=list)
    not_invoices: list[tuple[_Attachment, NotAnInvoiceError]] = dataclasses.field(default_factory=list)
    unreadable: list[tuple[_Attachment, InvoiceAIError]] = dataclasses.field(default_factory=list)

    def plus(self, other: _Found) -> _Found:
        return _Found(
            self.invoices + other.invoices, self.not_invoices + other.not_invoices, self.unreadable + other.unreadable
        )


def _classify(attachments: list[_Attachment], offset: int = 0) -> _Found:
    from invoiceai.einvoice.safe_xml import parse_xml
    from invoiceai.einvoice.syntax import detect_syntax, is_other_trade_document

    found = _Found()
    invoices, not_invoices, unreadable = found.invoices, found.not_invoices, found.unreadable
    for index, attachment in enumerate(attachments, start=offset):
        if attachment.too_large is not None:
            unreadable.append((attachment, attachment.too_large))
            continue
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
    return found


def _choose(found: _Found, attachments: list[_Attachment], encrypted: bool, *, final: bool) -> EmbeddedXml | None:
    invoices, not_invoices, unreadable = found.invoices, found.not_invoices, found.unreadable
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
        if isinstance(error, AttachmentTooLargeError) and attachment.name.lower().endswith(".xml"):
            raise error  # it may be the invoice: nobody looked inside
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


def _pdfium_attachments(document: Any, cap: int) -> list[_Attachment]:
    import pypdfium2

    attachments = []
    with PDFIUM_LOCK:
        try:
            count = document.count_attachments()
        except pypdfium2.PdfiumError:
            return []
        for index in range(count):
            try:
                attachment = document.get_attachment(index)
                name = attachment.get_name() or f"attachment-{index + 1}"
            except pypdfium2.PdfiumError:
                # A name-tree entry that is not a file specification: nothing to read there.
                continue
            attachments.append(_read_attachment(attachment, name, cap))
    return [attachment for attachment in attachments if attachment is not None]


def _read_attachment(attachment: Any, name: str, cap: int) -> _Attachment | None:
    import ctypes

    import pypdfium2.raw as pdfium_c

    # Ask for the size first: the pre-scan has bounded every stream by max_stream_bytes, and an
    # attachment above max_attachment_bytes is never copied out.
    size = ctypes.c_ulong()
    if not pdfium_c.FPDFAttachment_GetFile(attachment, None, 0, ctypes.byref(size)) or not size.value:
        return None
    if size.value > cap:
        return _Attachment(name=name, data=b"", source="embedded_files", too_large=_too_large(name, size.value, cap))
    buffer = ctypes.create_string_buffer(size.value)
    written = ctypes.c_ulong()
    if not pdfium_c.FPDFAttachment_GetFile(attachment, buffer, size.value, ctypes.byref(written)):
        return None
    return _Attachment(name=name, data=buffer.raw[: min(written.value, size.value)], source="embedded_files")


def _scan_pypdf(pdf: bytes, password: str | None, known: set[str], *, required: bool, cap: int) -> list[_Attachment]:
    # `required`: pdfium could not open the file, so a pypdf failure means nothing can.
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency; be safe if it is stripped
        _LOG.debug("pypdf is not installed; the /AF fallback is skipped")
        return []
    refresh_noise_filters()  # pypdf may have been imported just now
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted and not reader.decrypt(password or ""):
            return []
        found = _associated_files(reader) + _name_tree(reader)
    except Exception as exc:
        # pypdf raises PdfReadError, DependencyError (AES without `cryptography`), LimitReachedError,
        # RecursionError (deep nesting), MemoryError and assorted internal errors on damaged or
        # hostile files (all Exceptions); none of it may escape as a crash.
        _LOG.debug("pypdf cannot read the attachments (%r)", exc)
        if required:
            raise CorruptDocumentError(f"The PDF cannot be opened: {exc}.") from exc
        return []
    unique: dict[str, _Attachment] = {}
    for attachment in found:
        if attachment.name not in known:
            unique.setdefault(attachment.name, _capped(attachment, cap))
    return list(unique.values())


def _capped(attachment: _Attachment, cap: int) -> _Attachment:
    # pypdf has decoded it already, within the pre-scan's max_stream_bytes; refuse it all the same.
    if len(attachment.data) <= cap:
        return attachment
    return dataclasses.replace(attachment, data=b"", too_large=_too_large(attachment.name, len(attachment.data), cap))


def _too_large(name: str, size: int, cap: int) -> AttachmentTooLargeError:
    return AttachmentTooLargeError(
        f"The PDF's attachment {name!r} is {size:,} bytes, more than the max_attachment_bytes limit of {cap:,}; "
        "it was not read. Raise Settings(max_attachment_bytes=...) (INVOICEAI_MAX_ATTACHMENT_BYTES) if the file "
        "is trusted.",
        setting="max_attachment_bytes",
        limit=cap,
        found=size,
    )


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
