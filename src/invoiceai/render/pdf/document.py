"""Opening and closing PDFs with pdfium: the one place passwords and encryption are handled.

Every function here holds :data:`~invoiceai.render.pdf.lock.PDFIUM_LOCK` around its pypdfium2
calls. pdfium's failures to open a document become our error types with one set of messages,
whoever opens the PDF (the renderer, the attachment scan, the page subsetter).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from invoiceai.errors import (
    ConfigurationError,
    CorruptDocumentError,
    EncryptedDocumentError,
    InvoiceAIError,
    WrongPasswordError,
)
from invoiceai.render.pdf.lock import PDFIUM_LOCK

__all__ = ["check_password", "close_pdf", "is_encrypted", "open_pdf", "page_count", "pdfium_refused", "subset_pdf"]

# pdfium's FPDF_GetLastError codes (fpdfview.h).
_ERR_PASSWORD = 4
_ERR_SECURITY = 6


def check_password(password: object) -> str | None:
    """Returns ``password`` if it is text or ``None``: what every PDF entry point accepts.

    Raises:
        ConfigurationError: It is something else (bytes: decode them first).
    """
    if password is None or isinstance(password, str):
        return password
    raise ConfigurationError(
        f"A PDF password must be text (str) or None, not {type(password).__name__}; decode bytes first "
        "(password.decode('utf-8'))."
    )


def open_pdf(data: bytes, password: str | None, *, document_id: str | None) -> Any:
    """Opens a PDF from bytes.

    Args:
        data: The PDF bytes (kept alive by the returned document).
        password: The user or owner password, or ``None``.
        document_id: For error context.

    Returns:
        A ``pypdfium2.PdfDocument``; close it with :func:`close_pdf`.

    Raises:
        EncryptedDocumentError: The PDF needs a password and none was given, or it uses a
            protection pdfium cannot open.
        WrongPasswordError: The given password does not open it.
        CorruptDocumentError: pdfium cannot read it.
        ConfigurationError: ``password`` is not text.
    """
    import pypdfium2

    unencodable = _unencodable(check_password(password))
    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data, password=None if unencodable else password or None)
        except pypdfium2.PdfiumError as exc:
            code = getattr(exc, "err_code", None)
            raise _open_error(exc, code, password, unencodable=unencodable, document_id=document_id) from exc
        # Filled-in form fields without appearance streams only show with a form environment; a
        # broken form layer must not stop the pages from rendering.
        with contextlib.suppress(Exception):
            pdf.init_forms()
        return pdf


def pdfium_refused(error: InvoiceAIError) -> bool:
    """Tells whether an :func:`open_pdf` error means only that pdfium cannot parse the file.

    True for a damaged file and for a protection scheme pdfium does not implement, where another
    PDF library may still succeed; false for a missing or wrong password.
    """
    if isinstance(error, CorruptDocumentError):
        return True
    return getattr(error.__cause__, "err_code", None) == _ERR_SECURITY


def close_pdf(pdf: Any) -> None:
    """Closes a document from :func:`open_pdf` (and any page still open) under the lock."""
    with PDFIUM_LOCK:
        pdf.close()


def page_count(pdf: Any) -> int:
    """Returns the number of pages pdfium reports."""
    with PDFIUM_LOCK:
        return len(pdf)


def is_encrypted(pdf: Any) -> bool:
    """Tells whether the document uses the standard security handler (even with no password)."""
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        return bool(pdfium_c.FPDF_GetSecurityHandlerRevision(pdf) != -1)


def subset_pdf(pdf: Any, indices: Sequence[int], *, document_id: str) -> bytes:
    """Writes the given pages to a new, unencrypted PDF.

    Args:
        pdf: An open document.
        indices: 0-based page indices, in order.
        document_id: For error context.

    Returns:
        The new PDF's bytes.

    Raises:
        CorruptDocumentError: pdfium cannot copy the pages.
    """
    import pypdfium2

    with PDFIUM_LOCK:
        target = pypdfium2.PdfDocument.new()
        try:
            target.import_pages(pdf, list(indices))
            buffer = io.BytesIO()
            target.save(buffer)
            return buffer.getvalue()
        except pypdfium2.PdfiumError as exc:
            raise CorruptDocumentError(
                f"The selected pages could not be copied into a new PDF ({exc}); the PDF is damaged.",
                document_id=document_id,
            ) from exc
        finally:
            target.close()


def _unencodable(password: str | None) -> bool:
    if not password:
        return False
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (a command-line argument that was not UTF-8): pypdfium2 cannot pass
        # them on. Open without it; an unencrypted PDF ignores passwords anyway.
        return True
    return False


def _open_error(
    exc: Exception, code: int | None, password: str | None, *, unencodable: bool, document_id: str | None
) -> InvoiceAIError:
    if code == _ERR_PASSWORD and unencodable:
        return WrongPasswordError(
            "The password cannot be encoded as UTF-8 text (it holds bytes that are not valid "
            "characters), so it cannot open this PDF; pass it as a proper str.",
            document_id=document_id,
        )
    if code == _ERR_PASSWORD and password:
        return WrongPasswordError(
            "The password does not open this PDF; check it (passwords are case-sensitive).",
            document_id=document_id,
        )
    if code == _ERR_PASSWORD:
        return EncryptedDocumentError(
            "This PDF is password-protected; pass password='...' to open it.", document_id=document_id
        )
    if code == _ERR_SECURITY:
        return EncryptedDocumentError(
            "This PDF uses a protection scheme that cannot be opened; print it to a new PDF without "
            "protection and retry.",
            document_id=document_id,
        )
    return CorruptDocumentError(
        f"This PDF cannot be read ({exc}): it is damaged, truncated or has no pages. Re-download or "
        "re-export it; printing it to a new PDF often repairs it.",
        document_id=document_id,
    )
