"""``StaticPages``: a :class:`~invoiceai.pages.PageSource` built from in-memory images.

It lets backend users test without the renderer: give it encoded images (or let
:meth:`StaticPages.blank` draw some) and it yields :class:`~invoiceai.pages.Page` values within
whatever budget a backend asks for, shrinking images with Pillow when they are larger.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from invoiceai.pages import API_IMAGE_MEDIA_TYPES, ImageBudget, Page

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["StaticPages", "image_info", "make_page_image"]

_FORMAT_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def image_info(data: bytes) -> tuple[str, int, int]:
    """Returns ``(media_type, width, height)`` of encoded image bytes, reading only the header.

    The media type is ``image/<format>`` in lower case for formats the API does not accept.

    Raises:
        ValueError: The bytes are not an image Pillow can identify.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "").upper()
            return _FORMAT_MEDIA_TYPES.get(fmt, f"image/{fmt.lower()}"), image.width, image.height
    except UnidentifiedImageError as exc:
        raise ValueError("not a recognisable image") from exc


def make_page_image(
    width: int = 1240,
    height: int = 1754,
    *,
    format: str = "PNG",
    lines: Sequence[str] = (),
    seed: int = 0,
) -> bytes:
    """Draws an invoice-like page: a header band and text lines on white, encoded as ``format``.

    Args:
        width: Pixel width.
        height: Pixel height.
        format: Pillow format name (``PNG``, ``JPEG``, ``WEBP``, ``GIF``, ``TIFF``...).
        lines: Text to draw, one line each; placeholder lines when empty.
        seed: Varies the placeholder text, so that pages differ.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    band = max(4, height // 12)
    draw.rectangle((0, 0, width, band), fill=(40, 60, 120))
    text_lines = list(lines) or [
        f"Item {seed}-{row}  qty {row % 7 + 1}  price {row * 3 + seed}.50" for row in range(24)
    ]
    step = max(12, (height - band) // (len(text_lines) + 2))
    for row, text in enumerate(text_lines):
        draw.text((max(4, width // 20), band + step * (row + 1)), text, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


class StaticPages:
    """A page source over images held in memory.

    Args:
        images: Encoded page images (PNG, JPEG, WebP, GIF, or anything Pillow reads), in order.
        texts: Each page's text layer (``None`` for a scanned page); makes pages born-digital.
        pdf: Bytes returned by :meth:`pdf_bytes`, for testing native PDF input.
        document_id: Defaults to the SHA-256 of the images' bytes.

    Attributes:
        render_calls: The budget of every :meth:`render` call, in order.
    """

    def __init__(
        self,
        images: Sequence[bytes],
        *,
        texts: Sequence[str | None] | None = None,
        pdf: bytes | None = None,
        document_id: str | None = None,
    ) -> None:
        if texts is not None and len(texts) != len(images):
            raise ValueError(f"got {len(texts)} text layers for {len(images)} images")
        self._images = [bytes(image) for image in images]
        self._texts = list(texts) if texts is not None else [None] * len(self._images)
        self._pdf = pdf
        digest = hashlib.sha256()
        for image in self._images:
            digest.update(image)
        self._document_id = document_id or digest.hexdigest()
        self.render_calls: list[ImageBudget] = []

    @classmethod
    def blank(
        cls,
        count: int = 1,
        *,
        width: int = 1240,
        height: int = 1754,
        format: str = "PNG",
        texts: Sequence[str | None] | None = None,
    ) -> StaticPages:
        """Returns ``count`` drawn pages of ``width`` x ``height`` pixels (see :func:`make_page_image`)."""
        images = [make_page_image(width, height, format=format, seed=index) for index in range(count)]
        return cls(images, texts=texts)

    def __repr__(self) -> str:
        return f"StaticPages(pages={len(self._images)}, document_id={self._document_id[:12]!r})"

    @property
    def document_id(self) -> str:
        """SHA-256 of the images (or the id given)."""
        return self._document_id

    @property
    def page_count(self) -> int:
        """Number of images."""
        return len(self._images)

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields each image as a page within ``budget``, shrinking (never enlarging) as needed."""
        self.render_calls.append(budget)
        for index, data in enumerate(self._images):
            yield self._page(index, data, budget)

    def text_layers(self) -> list[str | None]:
        """Returns the text layers given at construction."""
        return list(self._texts)

    def pdf_bytes(self) -> bytes | None:
        """Returns the PDF given at construction, if any."""
        return self._pdf

    def _page(self, index: int, data: bytes, budget: ImageBudget) -> Page:
        media_type, width, height = image_info(data)
        text = self._texts[index]
        born_digital = bool(text and text.strip())
        if media_type in API_IMAGE_MEDIA_TYPES and budget.contains(width, height) and len(data) <= budget.max_bytes:
            return Page(index, width, height, media_type, data, text=text, born_digital=born_digital)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            new_width, new_height = budget.fit(width, height)
            resized = image.convert("RGB").resize((new_width, new_height), Image.Resampling.LANCZOS)
            encoded, new_media_type = _encode(resized, media_type)
        return Page(
            index,
            new_width,
            new_height,
            new_media_type,
            encoded,
            text=text,
            born_digital=born_digital,
            scale=new_width / width,
        )


def _encode(image: Image.Image, media_type: str) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if media_type == "image/jpeg":
        image.save(buffer, format="JPEG", quality=85)
        return buffer.getvalue(), "image/jpeg"
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), "image/png"
