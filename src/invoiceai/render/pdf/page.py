"""Turning a rendered PDF page into a :class:`~invoiceai.pages.Page` (pure Pillow, no pdfium)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.pages import Page
from invoiceai.render.encode import EncodedImage, encode_image

if TYPE_CHECKING:
    from invoiceai.pages import ImageBudget
    from invoiceai.render.pdf.raster import PageFacts, PagePixels

__all__ = ["assemble_page", "build_page", "encode_pixels"]


def encode_pixels(pixels: PagePixels, budget: ImageBudget) -> EncodedImage:
    """Encodes a rendered page (palette PNG for text pages, JPEG for scans) within ``budget``.

    Args:
        pixels: The rendered page.
        budget: The pixel and byte budget.

    Returns:
        The encoded page.
    """
    return encode_image(pixels.image, budget, photographic=pixels.photographic, source_size=pixels.size_pt)


def assemble_page(pixels: PagePixels, encoded: EncodedImage, facts: PageFacts) -> Page:
    """Wraps an encoded page with its text layer and flags.

    Args:
        pixels: The rendered page.
        encoded: Its encoding.
        facts: Its text layer and flags.

    Returns:
        The page, ready to send.
    """
    # Pixels per point of the page as sent (shrinking to meet max_bytes lowers it).
    scale = encoded.width / pixels.size_pt[0]
    return Page(
        index=pixels.index,
        width=encoded.width,
        height=encoded.height,
        media_type=encoded.media_type,
        data=encoded.data,
        text=facts.text,
        born_digital=facts.born_digital,
        scale=scale,
    )


def build_page(pixels: PagePixels, facts: PageFacts, budget: ImageBudget) -> Page:
    """Encodes and assembles a page in one step (see :func:`encode_pixels`, :func:`assemble_page`)."""
    return assemble_page(pixels, encode_pixels(pixels, budget), facts)
