"""The invoice XML found attached to a PDF: what :mod:`invoiceai.render.pdf.attachments` returns."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoiceai.einvoice.syntax import Syntax

__all__ = ["EmbeddedXml"]


@dataclasses.dataclass(frozen=True)
class EmbeddedXml:
    """The invoice XML found attached to a PDF.

    Attributes:
        name: The attachment's file name (``factur-x.xml``, ``ZUGFeRD-invoice.xml``, ...).
        data: The attachment's bytes, as stored; :func:`invoiceai.einvoice.read_einvoice` reads them.
        syntax: Its syntax.
        source: Where it was found: ``"embedded_files"`` (the document's EmbeddedFiles name tree)
            or ``"associated_files"`` (the catalog ``/AF`` array, when the name tree is broken).
        others: Names of the other attachments, in the order found.
    """

    name: str
    data: bytes
    syntax: Syntax
    source: str
    others: tuple[str, ...] = ()
