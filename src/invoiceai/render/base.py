"""The :class:`Renderer` protocol: how a document type becomes pages.

A renderer declares the media types it reads and opens a :class:`~invoiceai.documents.Document`
into a :class:`~invoiceai.pages.PageSource`. Opening must be cheap and must fail early: it
checks that the document can be read (password, damage, size) and resolves the page selection,
but renders nothing. Rendering happens lazily in ``PageSource.render(budget)``, which the
backend may call more than once with smaller budgets.

Contract for implementations:

* Raise only :class:`~invoiceai.errors.InvoiceAIError` subclasses, with a message that says
  what to do; wrap a library's exception with ``raise ... from exc``.
* Every ``Page`` from ``render(budget)`` is within ``budget`` (pixels, long edge, bytes), and
  its ``media_type`` is one of :data:`~invoiceai.pages.API_IMAGE_MEDIA_TYPES` and matches its
  bytes.
* Accept ``pages=`` as :func:`~invoiceai.render.parse_pages` does (1-based ``"1-3,7"`` or a
  list of numbers) and ``password=`` (ignore it if the format has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Set

    from invoiceai.documents import Document
    from invoiceai.pages import PageSource
    from invoiceai.render.selection import Pages

__all__ = ["Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Turns documents of some media types into page sources."""

    @property
    def media_types(self) -> Set[str]:
        """The media types this renderer opens, e.g. ``{"application/pdf"}``."""
        ...

    def open(self, document: Document, *, pages: Pages = None, password: str | None = None) -> PageSource:
        """Opens ``document`` for rendering; see the module docstring for the contract.

        Args:
            document: A loaded document whose ``media_type`` is in :attr:`media_types`.
            pages: The pages to render, or ``None`` for all.
            password: A password, for formats that can be encrypted.

        Returns:
            The selected pages, not rendered yet.
        """
        ...
