"""Page images for people: the notebook's ``Extraction.show`` and the service's review page.

Both render a document's pages with the library's own renderers (the PDF sandbox, the image
renderer), at a bounded size meant for a screen rather than for a model, and draw the boxes of
:mod:`invoiceai.provenance` over them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.display.html import PageImage, extraction_html
from invoiceai.errors import InputError
from invoiceai.pages import ImageBudget

if TYPE_CHECKING:
    from invoiceai.config import Settings
    from invoiceai.documents import Document

__all__ = ["SCREEN_EDGE", "ShownPages", "page_images", "show_pages"]

SCREEN_EDGE = 1400
"""Longest side of a page image shown to a person, in pixels (sharp enough to read 8 pt text)."""

_SCREEN_BYTES = 1_500_000


def page_images(
    document: Document,
    pages: Sequence[int] | None = None,
    *,
    max_edge: int = SCREEN_EDGE,
    max_bytes: int = _SCREEN_BYTES,
    password: str | None = None,
    settings: Settings | None = None,
) -> list[PageImage]:
    """Renders pages of ``document`` for display.

    Args:
        document: A PDF or an image.
        pages: 1-based page numbers (default: every page).
        max_edge: Longest side in pixels.
        max_bytes: Largest encoded image; the renderer compresses harder to fit.
        password: For an encrypted PDF.
        settings: Render limits (default :meth:`Settings.load`).

    Returns:
        The page images in page order.

    Raises:
        InputError: The document cannot be rendered (damaged, encrypted, a page out of range).
        UnsupportedFormatError: The document is XML or another type with no renderer.
    """
    from invoiceai.render import open_document

    selection = None if pages is None else ",".join(str(number) for number in pages)
    budget = ImageBudget(max_long_edge=max_edge, max_pixels=max_edge * max_edge, max_bytes=max_bytes)
    source = open_document(document, pages=selection, password=password, settings=settings)
    try:
        return [
            PageImage(page.number, page.media_type, page.data, page.width, page.height)
            for page in source.render(budget)
        ]
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


@dataclasses.dataclass(frozen=True)
class ShownPages:
    """An extraction with its page images; a notebook shows it with a box around each value."""

    extraction: Any
    pages: tuple[PageImage, ...]

    def _repr_html_(self) -> str:
        return extraction_html(self.extraction, self.pages)

    def html(self) -> str:
        """The same HTML, to save or embed."""
        return self._repr_html_()


def show_pages(
    extraction: Any, source: Any, *, password: str | None = None, max_pages: int = 20, settings: Settings | None = None
) -> ShownPages:
    """The extraction with the pages it was read from (see ``Extraction.show``).

    Raises:
        InputError: ``source`` is not the document the extraction was made from.
    """
    from invoiceai.documents import load_document

    document = load_document(source, settings=settings)
    if document.document_id != extraction.document_id:
        raise InputError(
            f"{document.name} is not the document this result was extracted from (its SHA-256 differs); "
            "pass the same file."
        )
    numbers = list(extraction.pages) or None
    if numbers is not None:
        numbers = numbers[:max_pages]
    images = page_images(document, numbers, max_edge=1000, max_bytes=500_000, password=password, settings=settings)
    return ShownPages(extraction, tuple(images))
