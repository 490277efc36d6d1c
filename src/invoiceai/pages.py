"""Rendered pages and pixel budgets: the contract between renderers and backends.

A renderer turns a document into :class:`Page` values sized to an :class:`ImageBudget`; a backend
says which budget its model needs and sends the pages. Both sides import only this module, so
neither depends on the other.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

__all__ = ["API_IMAGE_MEDIA_TYPES", "ImageBudget", "Page", "PageSource"]

API_IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""Image media types the Claude API accepts."""


@dataclasses.dataclass(frozen=True, slots=True)
class ImageBudget:
    """The largest image worth sending to a model.

    Models scale larger images down on the server, so pixels beyond the budget cost upload
    bytes and latency and buy nothing. Renderers size pages to fit it exactly.

    Attributes:
        max_long_edge: Longest side in pixels.
        max_pixels: Width times height.
        max_bytes: Encoded size of one image (the API refuses more than 5 MB).
        max_side: Hard API limit per side, whatever the model.
    """

    max_long_edge: int = 1568
    max_pixels: int = 1_150_000
    max_bytes: int = 5 * 1024 * 1024
    max_side: int = 8000

    def __post_init__(self) -> None:
        if min(self.max_long_edge, self.max_pixels, self.max_bytes, self.max_side) <= 0:
            raise ValueError(f"every limit of an ImageBudget must be positive: {self}")

    @property
    def long_edge(self) -> int:
        """The effective longest side: the smaller of the model's and the API's limit."""
        return min(self.max_long_edge, self.max_side)

    def scale_for(self, width: float, height: float) -> float:
        """Returns the largest scale at which a ``width`` x ``height`` image fits the budget.

        The result may be above 1 (vector pages can be rendered larger); image renderers cap it
        at 1 themselves because upscaling a bitmap adds no information.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        by_edge = self.long_edge / max(width, height)
        by_area = math.sqrt(self.max_pixels / (width * height))
        return min(by_edge, by_area)

    def fit(
        self, width: float, height: float, *, allow_upscale: bool = False, max_scale: float | None = None
    ) -> tuple[int, int]:
        """Returns the largest integer pixel size of the image scaled into the budget.

        Both sides are scaled alike and floored, so the aspect ratio holds to within one pixel,
        and neither side drops below 1. The result is always inside the budget: when a sliver
        (say 1 x 900) has its short side rounded *up* to one pixel, the area can exceed
        ``max_pixels``, and the long side is then shortened to make room.

        Args:
            width: Source width (pixels, or points for PDF pages).
            height: Source height.
            allow_upscale: Whether the result may be larger than the source (vector pages).
            max_scale: An upper bound on the scale, if any.
        """
        scale = self.scale_for(width, height)
        if not allow_upscale:
            scale = min(scale, 1.0)
        if max_scale is not None:
            scale = min(scale, max_scale)
        new_width = max(1, min(self.long_edge, math.floor(width * scale)))
        new_height = max(1, min(self.long_edge, math.floor(height * scale)))
        if new_width * new_height > self.max_pixels:
            if new_width >= new_height:
                new_width = max(1, self.max_pixels // new_height)
            else:
                new_height = max(1, self.max_pixels // new_width)
        return new_width, new_height

    def contains(self, width: int, height: int) -> bool:
        """Tells whether an image of this pixel size is within the budget."""
        return max(width, height) <= self.long_edge and width * height <= self.max_pixels

    def capped(self, max_long_edge: int) -> ImageBudget:
        """Returns a copy whose long edge is at most ``max_long_edge`` (area shrinks to match)."""
        edge = min(self.max_long_edge, max_long_edge)
        ratio = (edge / self.max_long_edge) ** 2
        return dataclasses.replace(self, max_long_edge=edge, max_pixels=max(1, int(self.max_pixels * min(1.0, ratio))))


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """One page, rendered and encoded, ready to send.

    Attributes:
        index: 0-based position of the page (or frame) in the source document.
        width: Pixel width of ``data``.
        height: Pixel height of ``data``.
        media_type: One of :data:`API_IMAGE_MEDIA_TYPES`; always matches the bytes.
        data: The encoded image.
        text: The page's text layer, when the source has one (born-digital PDFs).
        born_digital: ``True`` when the page has real text (not only a scanned image).
        scale: Pixels per PDF point for PDF pages; output/input pixel ratio for images.
    """

    index: int
    width: int
    height: int
    media_type: str
    data: bytes = dataclasses.field(repr=False)
    text: str | None = dataclasses.field(default=None, repr=False)
    born_digital: bool = False
    scale: float = 1.0

    @property
    def number(self) -> int:
        """The 1-based page number, as people count pages."""
        return self.index + 1


@runtime_checkable
class PageSource(Protocol):
    """A loaded document whose selected pages can be rendered, possibly more than once.

    Backends call :meth:`render` with their model's budget and may call it again with a smaller
    one when the API asks for smaller images. Implementations must be cheap to re-render from
    (they keep the document bytes, not the pages).
    """

    @property
    def document_id(self) -> str:
        """SHA-256 of the document's bytes, hex."""
        ...

    @property
    def page_count(self) -> int:
        """How many pages :meth:`render` yields (the selected ones)."""
        ...

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields the selected pages, in order, each within ``budget``; lazily, one at a time."""
        ...

    def text_layers(self) -> list[str | None]:
        """Returns each selected page's text layer without rasterising anything."""
        ...

    def pdf_bytes(self) -> bytes | None:
        """Returns the selected pages as a PDF, for native PDF input; ``None`` if not a PDF."""
        ...
