"""The built-in image renderer (Pillow): photos, scans and screenshots as pages.

Multi-frame TIFF, GIF and WebP files give one page per frame; every other image is one page.
Output is JPEG for lossy sources (photos, HEIC, WebP) and, for lossless ones (PNG, TIFF, BMP,
GIF), a palette PNG when the picture is a document (paper and ink) or otherwise whichever of
lossless PNG and JPEG is smaller. A JPEG that already fits the budget, upright and in RGB or
grey, is sent as it is, less its metadata (:mod:`invoiceai.render.jpeg`), not encoded again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoiceai.documents.detect import IMAGE_MEDIA_TYPES, JPEG, TIFF
from invoiceai.errors import ConfigurationError
from invoiceai.pages import Page
from invoiceai.render.encode import JPEG_QUALITY, EncodedImage, encode_image, looks_like_line_art
from invoiceai.render.frames import count_tiff_frames
from invoiceai.render.image_decode import (
    LOSSY_MEDIA_TYPES,
    frame_count,
    open_image,
    pillow_errors,
    prepare_frame,
    seek_frame,
)
from invoiceai.render.jpeg import passthrough_jpeg
from invoiceai.render.limits import RenderLimits, select_pages
from invoiceai.render.lossless import encode_smaller
from invoiceai.render.noise import library_noise
from invoiceai.render.selection import Pages, SelectedPages, parse_pages

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget
    from invoiceai.render.limits import Deadline

__all__ = ["ImagePageSource", "ImageRenderer"]

# Pillow counts small files' frames itself; past this many, the TIFF directory chain is followed
# instead (Pillow parses every frame's tags to count them).
_PILLOW_COUNTS_UP_TO = 64
_MAX_COUNTED_FRAMES = 1_000_000


class ImageRenderer:
    """Renders raster images with Pillow (HEIC/HEIF with the ``heic`` extra).

    Args:
        max_image_pixels: Frames with more pixels are refused as decompression bombs (overrides
            ``limits.max_image_pixels``).
        max_frames: More selected frames than this are refused (select fewer with ``pages=``;
            overrides ``limits.max_pages``).
        limits: Pages, pixels and time one image may cost (the settings' defaults when ``None``).

    Raises:
        ConfigurationError: A limit below 1.
    """

    media_types: frozenset[str] = IMAGE_MEDIA_TYPES

    def __init__(
        self, *, max_image_pixels: int | None = None, max_frames: int | None = None, limits: RenderLimits | None = None
    ) -> None:
        limits = limits if limits is not None else RenderLimits()
        max_image_pixels = limits.max_image_pixels if max_image_pixels is None else max_image_pixels
        max_frames = limits.max_pages if max_frames is None else max_frames
        if max_image_pixels < 1 or max_frames < 1:
            raise ConfigurationError(
                f"ImageRenderer limits must be at least 1, got max_image_pixels={max_image_pixels}, "
                f"max_frames={max_frames}."
            )
        self.limits = dataclasses.replace(limits, max_image_pixels=max_image_pixels, max_pages=max_frames)
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
            TooManyPagesError: More than ``max_frames`` frames are selected (only the selected
                frames count: ``pages="1"`` of a 10,000-frame TIFF is one frame).
            CorruptDocumentError: Pillow cannot read it.
            MissingDependencyError: HEIC/HEIF without the ``heic`` extra.
        """
        selection = parse_pages(pages)
        document_id = document.document_id
        deadline = self.limits.deadline()
        with deadline.spending(), library_noise(document.name):
            image = open_image(
                document.data, document.media_type, document_id=document_id, max_pixels=self.max_image_pixels
            )
            with image:
                frames = self._frames(document, image)
        indices = select_pages(selection, frames, self.limits, document_id=document_id, unit="frame")
        return ImagePageSource(document, indices, max_image_pixels=self.max_image_pixels, deadline=deadline)

    def _frames(self, document: Document, image: Image.Image) -> int:
        if document.media_type == TIFF:
            counted = count_tiff_frames(document.data, stop_after=_MAX_COUNTED_FRAMES)
            if counted is not None and counted > _PILLOW_COUNTS_UP_TO:
                return counted
        return frame_count(image, document.media_type, document_id=document.document_id)


class ImagePageSource(SelectedPages):
    """The selected frames of an image; implements :class:`~invoiceai.pages.PageSource`.

    Args:
        document: The loaded image.
        indices: The selected frames, 0-based.
        max_image_pixels: The decompression-bomb threshold for each frame.
        deadline: The document's time budget (``render_timeout`` of the defaults when ``None``).
    """

    def __init__(
        self, document: Document, indices: tuple[int, ...], *, max_image_pixels: int, deadline: Deadline | None = None
    ) -> None:
        self.document = document
        self.indices = indices
        self._max_pixels = max_image_pixels
        self._deadline = deadline if deadline is not None else RenderLimits().deadline()

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
            RenderTimeoutError: The ``render_timeout`` ran out (checked between frames).
        """
        yield from self._deadline.metered(self._frames(budget), document_id=self.document_id)

    def _frames(self, budget: ImageBudget) -> Iterator[Page]:
        media_type = self.document.media_type
        document_id = self.document_id
        with library_noise(self.document.name):
            image = open_image(self.document.data, media_type, document_id=document_id, max_pixels=self._max_pixels)
        with image:
            for position, index in enumerate(self.indices):
                with library_noise(self.document.name):
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
                        encoded = self._passthrough(image, frame, budget, source_size)
                        encoded = encoded or self._encode(frame, budget, source_size)
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

    def _passthrough(
        self, image: Image.Image, frame: Image.Image, budget: ImageBudget, source_size: tuple[int, int]
    ) -> EncodedImage | None:
        # A JPEG decoded at its own size, upright, RGB or grey: its own bytes, metadata stripped.
        if self.document.media_type != JPEG or frame is not image or frame.size != source_size:
            return None
        data = passthrough_jpeg(self.document.data, frame, max_bytes=budget.max_bytes, quality=JPEG_QUALITY)
        return None if data is None else EncodedImage(data, JPEG, frame.width, frame.height)

    def _encode(self, frame: Image.Image, budget: ImageBudget, source_size: tuple[int, int]) -> EncodedImage:
        if self.document.media_type in LOSSY_MEDIA_TYPES:
            return encode_image(frame, budget, photographic=True, source_size=source_size)
        if looks_like_line_art(frame):
            return encode_image(frame, budget, photographic=False, source_size=source_size)
        # A photo or illustration stored losslessly: whichever of PNG and JPEG is smaller.
        return encode_smaller(frame, budget, source_size=source_size)
