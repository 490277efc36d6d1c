"""One open pdfium document shared by every call on a page source.

A :class:`~invoiceai.render.pdf.PdfPageSource` opens its PDF once, when the renderer opens it,
and keeps that document for the attachment scan, the text layers, the page subset and every
render. Calls lease the document with :meth:`SharedPdf.use`; :meth:`SharedPdf.close` releases it
once the last lease ends, so closing never pulls a document from under a page being rendered.
A closed handle opens the PDF again on its next use (a backend may re-render with a smaller
budget long after). When the handle is garbage-collected its document is closed under the pdfium
lock, never by pypdfium2's own finaliser running outside it.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from invoiceai.render.pdf.document import close_pdf, open_pdf

__all__ = ["SharedPdf"]


class _Slot:
    """Holds the open document apart from the handle, so the finaliser can reach it."""

    __slots__ = ("pdf",)

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf


class SharedPdf:
    """A PDF opened at most once at a time, leased to its users.

    Args:
        data: The PDF bytes.
        password: The password, if any.
        document_id: For error context.
        pdf: A document already opened from ``data`` with :func:`~invoiceai.render.pdf.document.open_pdf`;
            the handle takes it over.
    """

    def __init__(self, data: bytes, password: str | None, *, document_id: str, pdf: Any = None) -> None:
        self._data = data
        self._password = password
        self._document_id = document_id
        self._state = threading.Lock()
        self._slot = _Slot(pdf)
        self._users = 0
        self._closing = False
        self._finalizer = weakref.finalize(self, _close_slot, self._slot)

    @property
    def is_open(self) -> bool:
        """Whether a pdfium document is open right now."""
        return self._slot.pdf is not None

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        """Leases the open document, opening the PDF again if it was closed.

        Yields:
            The ``pypdfium2.PdfDocument``; every call on it must hold the pdfium lock.

        Raises:
            EncryptedDocumentError: Reopening needs a password (only after :meth:`close`).
            CorruptDocumentError: Reopening failed.
        """
        with self._state:
            if self._slot.pdf is None:
                self._slot.pdf = open_pdf(self._data, self._password, document_id=self._document_id)
                self._closing = False
            self._users += 1
            pdf = self._slot.pdf
        try:
            yield pdf
        finally:
            with self._state:
                self._users -= 1
                if self._users == 0 and self._closing:
                    self._close_now()

    def close(self) -> None:
        """Closes the document now, or when the last lease ends; idempotent."""
        with self._state:
            self._closing = True
            if self._users == 0:
                self._close_now()

    def _close_now(self) -> None:
        pdf, self._slot.pdf = self._slot.pdf, None
        self._closing = False
        if pdf is not None:
            close_pdf(pdf)


def _close_slot(slot: _Slot) -> None:
    pdf, slot.pdf = slot.pdf, None
    if pdf is not None:
        close_pdf(pdf)
