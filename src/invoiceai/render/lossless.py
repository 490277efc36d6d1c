"""Lossless pictures that are not paper and ink: the smaller of lossless PNG and JPEG, mostly encoded once.

An illustration or photograph stored as PNG, TIFF, BMP or GIF is sent as whichever of a lossless
PNG and a JPEG is smaller. An RGB PNG costs about ten JPEGs (a 150 dpi colour page: 45 ms
against 3 ms), so the two are first compared on a sample of the image (:func:`lossless_ratio`),
and only a close call (:data:`CLOSE_CALL`) encodes both at full size.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from invoiceai.render.encode import JPEG_QUALITY, EncodedImage, encode_image, encode_jpeg, encode_png, has_colour

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.pages import ImageBudget

__all__ = ["CLOSE_CALL", "encode_lossless", "encode_smaller", "lossless_ratio"]

# A lossless picture's format is read from a sample of this many bands of this many rows.
_SAMPLE_BANDS = 6
_SAMPLE_ROWS = 32

CLOSE_CALL = (0.85, 1.15)
"""PNG bytes over JPEG bytes on a lossless picture's sample: at or below the first, PNG is encoded
alone; at or above the second, JPEG alone; between them both are, and the smaller kept. On the
corpus's 18 scans the sample's ratio was within -19 % to +24 % of the whole image's."""


def encode_lossless(image: Image.Image, budget: ImageBudget) -> EncodedImage | None:
    """Encodes an image as a lossless PNG (greyscale when it has no colour).

    Args:
        image: An ``RGB``, ``L`` or ``1`` image within the budget's pixel limits.
        budget: Supplies ``max_bytes``.

    Returns:
        The PNG, or ``None`` when it would be larger than ``budget.max_bytes``.
    """
    if image.mode == "RGB" and not has_colour(image):
        image = image.convert("L")
    encoded = _lossless_png(image)
    return encoded if len(encoded.data) <= budget.max_bytes else None


def encode_smaller(image: Image.Image, budget: ImageBudget, *, source_size: tuple[float, float]) -> EncodedImage:
    """Encodes a picture stored losslessly (not paper and ink) as the smaller of lossless PNG and JPEG.

    Which one wins is read from a sample of the image (:func:`lossless_ratio`); only when the
    sample finds the two within :data:`CLOSE_CALL` of each other are both encoded at full size.
    A JPEG costs a tenth of an RGB PNG, so encoding the loser too was most of such a page's CPU.

    Args:
        image: An ``RGB``, ``L`` or ``1`` image within ``budget``'s pixel limits.
        budget: Supplies ``max_bytes``.
        source_size: As for :func:`encode_image`.

    Returns:
        The encoded image, at most ``budget.max_bytes`` long.
    """
    if image.mode == "RGB" and not has_colour(image):
        image = image.convert("L")
    coloured = image.mode == "RGB"
    ratio = lossless_ratio(image)
    low, high = CLOSE_CALL
    lossless = None if ratio >= high else _lossless_png(image)
    if lossless is not None and len(lossless.data) <= budget.max_bytes and ratio <= low:
        return lossless
    photo = encode_image(image, budget, photographic=True, source_size=source_size, coloured=lambda: coloured)
    if lossless is not None and len(lossless.data) <= min(budget.max_bytes, len(photo.data)):
        return lossless
    return photo


def lossless_ratio(image: Image.Image) -> float:
    """Estimates how many times larger a lossless PNG of ``image`` is than its JPEG.

    Both are encoded from :data:`_SAMPLE_BANDS` bands of :data:`_SAMPLE_ROWS` rows spread evenly
    down the image (15 % of a page at the default budget): the two sizes follow the same
    content, so their ratio carries over to the whole image better than either size does.

    Args:
        image: An ``RGB``, ``L`` or ``1`` image, in the mode it will be encoded in.

    Returns:
        PNG bytes over JPEG bytes for the sample (for the whole image when it is small).
    """
    from PIL import Image

    sample = image
    rows = _SAMPLE_BANDS * _SAMPLE_ROWS
    if image.height > 2 * rows:
        sample = Image.new(image.mode, (image.width, rows))
        for band in range(_SAMPLE_BANDS):
            # Band tops on multiples of 16 rows, so JPEG's blocks (with 2x2 chroma) fall as they would.
            top = (image.height - _SAMPLE_ROWS) * band // (_SAMPLE_BANDS - 1) // 16 * 16
            sample.paste(image.crop((0, top, image.width, top + _SAMPLE_ROWS)), (0, band * _SAMPLE_ROWS))
    return len(_lossless_png(sample).data) / max(1, len(encode_jpeg(sample, JPEG_QUALITY).data))


def _lossless_png(image: Image.Image) -> EncodedImage:
    # Greyscale goes through our writer with zlib's run-length strategy: on 300 dpi grey scans
    # it is as small as the default strategy's level 6 at a third of the time.
    if image.mode == "L":
        from invoiceai.render.png import write_png

        return EncodedImage(write_png(image, level=6, strategy=zlib.Z_RLE), "image/png", image.width, image.height)
    return encode_png(image, bits=None, level=6)
