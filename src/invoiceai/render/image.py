"""The built-in image renderer (Pillow): photos, scans and screenshots as pages.

Multi-frame TIFF, GIF and WebP files give one page per frame; every other image is one page.
Output is JPEG for lossy sources (photos, HEIC, WebP) and, for lossless ones (PNG, TIFF, BMP,
GIF), a palette PNG when the picture is a document (paper and ink) or otherwise whichever of
lossless PNG and JPEG is smaller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoiceai.documents.detect import IMAGE_MEDIA_TYPES
from invoiceai.errors import ConfigurationError, DocumentTooLargeError
from invoiceai.pages import Page
from invoiceai.render.encode import EncodedImage, encode_image, encode_lossless, looks_like_line_art
from invoiceai.render.image_decode import (
    DEFAULT_MAX_IMAGE_PIXELS,
    LOSSY_MEDIA_TYPES,
    frame_count,
    open_image,
    pillow_errors,
    prepare_frame,
    seek_frame,
)
from invoiceai.render.selection import Pages, SelectedPages, parse_pages

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget

__all__ = ["ImagePageSource", "ImageRenderer"]


class ImageRenderer:
    """Renders raster images with Pillow (HEIC/HEIF with the ``heic`` extra).

    Args:
        max_image_pixels: Frames with more pixels are refused as decompression bombs.
        max_frames: Files with more frames are refused (select fewer with ``pages=``).

    Raises:
        ConfigurationError: A limit below 1.
    """

    media_types: frozenset[str] = IMAGE_MEDIA_TYPES

    def __init__(self, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, max_frames: int = 1000) -> None:
        if max_image_pixels < 1 or max_frames < 1:
            raise ConfigurationError(
                f"ImageRenderer limits must be at least 1, got max_image_pixels={max_image_pixels}, "
                f"max_frames={max_frames}."
            )
        self.max_image_pixels = max_image_pixels
        self.max_frames = max_frames

    def open(self, document: Document, *, pages: Pages = None, password: str | None = None) -> ImagePageSource:
        """Reads the image header, checks its size and resolves the frame selection.

        Args:
            document: A loaded image.
            pages: Frames to render, 1-based (``"1-3"``, a list, or ``None`` for all).
            password: Ignored; images have no passwords.

        Returns:
            A page source; nothing is decoded yet.

        Raises:
            PageSelectionError: ``pages`` does not parse or is past the last frame.
            DecompressionBombError: The image has more than ``max_image_pixels`` pixels.
            DocumentTooLargeError: The image has more than ``max_frames`` frames.
            CorruptDocumentError: Pillow cannot read it.
            MissingDependencyError: HEIC/HEIF without the ``heic`` extra.
        """
        selection = parse_pages(pages)
        document_id = document.document_id
        image = open_image(
            document.data, document.media_type, document_id=document_id, max_pixels=self.max_image_pixels
        )
        with image:
            frames = frame_count(image, document.media_type, document_id=document_id)
        if frames > self.max_frames:
            raise DocumentTooLargeError(
                f"The image has {frames} frames, more than the {self.max_frames} allowed; select some with pages=.",
                document_id=document_id,
            )
        indices = selection.resolve(frames, document_id=document_id)
        return ImagePageSource(document, indices, max_image_pixels=self.max_image_pixels)


class ImagePageSource(SelectedPages):
    """The selected frames of an image; implements :class:`~invoiceai.pages.PageSource`."""

    def __init__(self, document: Document, indices: tuple[int, ...], *, max_image_pixels: int) -> None:
        self.document = document
        self.indices = indices
        self._max_pixels = max_image_pixels

    def __repr__(self) -> str:
        return f"ImagePageSource(name={self.document.name!r}, frames={len(self.indices)})"

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields the selected frames in order, each upright, flattened and within ``budget``.

        Args:
            budget: The model's pixel budget (images are never upscaled to fill it).

        Yields:
            Each selected frame, encoded.

        Raises:
            CorruptDocumentError: A frame cannot be decoded (raised when reached).
            DecompressionBombError: A frame is too large.
        """
        media_type = self.document.media_type
        document_id = self.document_id
        image = open_image(self.document.data, media_type, document_id=document_id, max_pixels=self._max_pixels)
        with image:
            for position, index in enumerate(self.indices):
                seek_frame(image, index, document_id=document_id, max_pixels=self._max_pixels)
                frame, source_size = prepare_frame(
                    image,
                    budget,
                    media_type=media_type,
                    first_frame=position == 0 and index == 0,
                    document_id=document_id,
                    page=index + 1,
                )
                with pillow_errors(document_id, page=index + 1):
                    encoded = self._encode(frame, budget, source_size)
                yield Page(
                    index=index,
                    width=encoded.width,
                    height=encoded.height,
                    media_type=encoded.media_type,
                    data=encoded.data,
                    scale=encoded.width / source_size[0],
                )

    def text_layers(self) -> list[str | None]:
        """Returns ``None`` for every frame: images have no text layer."""
        return [None] * len(self.indices)

    def pdf_bytes(self) -> None:
        """Returns ``None``: an image is not a PDF."""
        return

    def _encode(self, frame: Image.Image, budget: ImageBudget, source_size: tuple[int, int]) -> EncodedImage:
        if self.document.media_type in LOSSY_MEDIA_TYPES:
            return encode_image(frame, budget, photographic=True, source_size=source_size)
        if looks_like_line_art(frame):
            return encode_image(frame, budget, photographic=False, source_size=source_size)
        # A photo or illustration stored losslessly: keep whichever of PNG and JPEG is smaller.
        lossless = encode_lossless(frame, budget)
        photo = encode_image(frame, budget, photographic=True, source_size=source_size)
        return lossless if lossless is not None and len(lossless.data) <= len(photo.data) else photo
