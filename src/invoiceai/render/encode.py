"""Choosing and producing the smallest legible encoding of one rendered page.

Two encodings cover invoices:

* **Palette PNG** for text and line art. Anti-aliased text needs few levels to stay sharp, so
  pages are mapped onto a fixed palette of 16 greys plus a 6x6x6 colour cube, without dithering
  (dither noise compresses badly and blurs glyph edges). Which entries a page needs is read from
  a strided sample (one pixel in 16), mapped onto that palette: a page whose sample shows no
  colour is written as a 4-bit greyscale PNG; a page that needs at most 16 entries (or few
  enough colours to fit beside a 9-level grey ramp) as a 4-bit palette PNG; only a page of many
  colours as an 8-bit one. Zlib's time and the file's size both follow the bits per pixel, and
  mapping onto a *fixed* palette costs half a JPEG encode, where an adaptive one costs several
  times more.
* **JPEG** (quality 85, greyscale when the image has no colour) for photographs and scans,
  where a palette would band and PNG would be several times larger.

Every result is checked against ``ImageBudget.max_bytes``; when it does not fit, quality and
then size step down until it does.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from invoiceai.errors import ConfigurationError

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.pages import ImageBudget

__all__ = [
    "JPEG_QUALITY",
    "EncodedImage",
    "encode_image",
    "encode_jpeg",
    "encode_png",
    "has_colour",
    "looks_like_line_art",
    "page_palette",
]

JPEG_QUALITY = 85
_GREY_LEVELS = 16
_CUBE_STEPS = 6
# Above this many bytes per pixel a "text" page is really artwork (gradients, shadings) and
# JPEG is worth trying too.
_PNG_BYTES_PER_PIXEL_CHECK = 0.5
# Channel spread below which a pixel counts as grey (JPEG chroma noise, colour-managed greys).
_GREY_TOLERANCE = 10
_QUALITY_STEPS = (85, 70, 55, 40)
_SHRINK = 0.75
_MAX_SHRINKS = 40

# One pixel in _SAMPLE_STEP x _SAMPLE_STEP is read to learn a page's colours: a coloured area
# of that size or more is always seen, and reading a sixteenth of the pixels keeps it cheap.
_SAMPLE_STEP = 4
# A 4-bit palette: 16 entries. A page that needs more keeps every other grey level (anti-aliased
# text stays smooth with 9 levels) beside its 7 most used colours.
_PALETTE_4_BIT = 16
_GREY_RAMP = (0, 2, 4, 6, 8, 10, 12, 14, 15)
# Rarer colours than these shares (of the sample's coloured pixels, and of all its pixels) may
# be left out of a 4-bit palette: they are the anti-aliased edges of coloured text and logos.
_MAX_DROPPED_OF_COLOUR = 0.05
_MAX_DROPPED_OF_PAGE = 0.005

_palette_image: Image.Image | None = None
_subset_palettes: dict[tuple[int, ...], Image.Image] = {}
_MAX_SUBSET_PALETTES = 256
# Pillow's 4-bit greyscale packer keeps the low nibble, so values must be levels 0..15.
_GREY_LUT = [round(value * (_GREY_LEVELS - 1) / 255) for value in range(256)]


def _palette_colours() -> list[tuple[int, int, int]]:
    """The fixed palette: 16 greys (index = level), then the 6x6x6 cube."""
    colours = [(level * 255 // (_GREY_LEVELS - 1),) * 3 for level in range(_GREY_LEVELS)]
    step = 255 // (_CUBE_STEPS - 1)
    cube = range(_CUBE_STEPS)
    colours += [(red * step, green * step, blue * step) for red in cube for green in cube for blue in cube]
    return colours


_COLOURS = _palette_colours()
# Entry -> its grey level when the entry is a grey (the cube's greys fall on grey levels, as
# 255 / 5 = 3 x 255 / 15), else -1.
_GREY_OF = [red * (_GREY_LEVELS - 1) // 255 if red == green == blue else -1 for red, green, blue in _COLOURS]


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedImage:
    """An encoded image and what it is.

    Attributes:
        data: The encoded bytes.
        media_type: ``image/png`` or ``image/jpeg``; always matches ``data``.
        width: Pixel width.
        height: Pixel height.
    """

    data: bytes
    media_type: str
    width: int
    height: int


def encode_image(
    image: Image.Image,
    budget: ImageBudget,
    *,
    photographic: bool,
    source_size: tuple[float, float] | None = None,
    coloured: Callable[[], bool] | None = None,
) -> EncodedImage:
    """Encodes a page image, already sized to the budget, as compactly as stays legible.

    Args:
        image: An ``RGB``, ``RGBX``, ``L`` or ``1`` image within ``budget``'s pixel limits (a
            rendered PDF page is ``RGBX`` over pdfium's buffer: it is read in place, never
            copied to ``RGB`` for a palette).
        budget: Supplies ``max_bytes``.
        photographic: Photo or scan content (JPEG) rather than text and line art (palette PNG).
        source_size: Size of what ``image`` was scaled from (pixels or PDF points); when bytes
            force a smaller size, it is derived from this, so the aspect ratio stays within a
            pixel of the source's rather than drifting with each rounding.
        coloured: Tells whether an ``RGB`` image has colour, when the caller knows (asked for
            JPEG only: a palette page's colours are read from a sample of its pixels);
            otherwise the image is checked here when that is needed.

    Returns:
        The encoded image, at most ``budget.max_bytes`` long.

    Raises:
        ConfigurationError: ``budget.max_bytes`` is too small for even a 1x1 image.
    """
    is_coloured = coloured or functools.cache(lambda: has_colour(image))
    if photographic:
        if image.mode in ("RGB", "RGBX"):
            # A rendered PDF page is RGBX over pdfium's buffer: copied to RGB only when it has colour.
            image = image.convert("RGB" if is_coloured() else "L")
        encoded = encode_jpeg(image, JPEG_QUALITY)
    else:
        encoded = _palette_png(image)
    return _checked(encoded, image, budget, source_size, is_coloured)


def _checked(
    encoded: EncodedImage,
    image: Image.Image,
    budget: ImageBudget,
    source_size: tuple[float, float] | None,
    is_coloured: Callable[[], bool],
) -> EncodedImage:
    # A "text" page of many bytes per pixel is really artwork: JPEG may be smaller. Then the byte cap.
    if (
        encoded.media_type == "image/png"
        and len(encoded.data) > _PNG_BYTES_PER_PIXEL_CHECK * image.width * image.height
    ):
        jpeg = encode_jpeg(image, JPEG_QUALITY)
        encoded = jpeg if len(jpeg.data) < len(encoded.data) else encoded
    if len(encoded.data) <= budget.max_bytes:
        return encoded
    if image.mode in ("RGB", "RGBX"):
        image = image.convert("RGB" if is_coloured() else "L")
    return _shrink_to_fit(image, budget.max_bytes, source_size or (image.width, image.height))


def has_colour(image: Image.Image) -> bool:
    """Tells whether an RGB image has any visibly non-grey area (a small tolerance applies).

    The check runs on a 4x box-reduced copy: a coloured detail still tints its averaged block
    well past the tolerance, and reading a sixteenth of the pixels keeps the check cheap.

    Args:
        image: Any image; only ``RGB`` and ``RGBX`` can have colour here.

    Returns:
        ``True`` if some block's channels differ by more than the tolerance.
    """
    from PIL import ImageChops

    if image.mode not in ("RGB", "RGBX"):
        return False
    if min(image.size) >= 64:
        image = image.reduce(4)
    red, green, blue = image.split()[:3]
    return any(
        ImageChops.difference(first, second).getextrema()[1] > _GREY_TOLERANCE  # type: ignore[operator]
        for first, second in ((red, green), (green, blue), (red, blue))
    )


def looks_like_line_art(image: Image.Image) -> bool:
    """Tells whether an image looks like a document (mostly paper and ink) rather than a photo.

    Args:
        image: An ``RGB``, ``L`` or ``1`` image.

    Returns:
        ``True`` when nearly all pixels are very light or very dark.
    """
    grey = image.convert("L")
    # A thumbnail of at most about 512 pixels a side, by box averaging whole blocks: a quarter of
    # a bicubic resize's cost, and over the corpus's scans the share below moved by under 1 %.
    factor = -(-max(grey.size) // 512)
    if factor > 1:
        grey = grey.reduce(factor)
    histogram = grey.histogram()
    total = sum(histogram) or 1
    extreme = sum(histogram[:64]) + sum(histogram[192:])
    return extreme / total >= 0.92


def _fixed_palette() -> Image.Image:
    global _palette_image
    if _palette_image is None:
        _palette_image = _palette_of(range(len(_COLOURS)))
    return _palette_image


def _palette_of(entries: Iterable[int]) -> Image.Image:
    """A ``P`` image whose palette is ``entries`` of the fixed palette, in that order, loaded for mapping."""
    from PIL import Image

    palette = Image.new("P", (1, 1))
    palette.putpalette([value for entry in entries for value in _COLOURS[entry]])
    palette.load()
    return palette


def _palette_png(image: Image.Image) -> EncodedImage:
    if image.mode == "1":
        return encode_png(image, bits=None)
    if image.mode == "L":
        return _grey_png(image)
    entries = page_palette(image)
    if not entries:
        return _grey_png(image.convert("L"))
    if len(entries) == len(_COLOURS):
        return encode_png(_quantize(image, _fixed_palette()), bits=None)
    key = tuple(entries)
    palette = _subset_palettes.get(key)
    if palette is None:
        if len(_subset_palettes) >= _MAX_SUBSET_PALETTES:
            _subset_palettes.clear()
        palette = _subset_palettes[key] = _palette_of(entries)
    # At most 16 entries: the PNG writer packs 4 bits a pixel (fewer for 2 or 4 entries).
    return encode_png(_quantize(image, palette), bits=None)


def _grey_png(image: Image.Image) -> EncodedImage:
    # 4-bit greyscale: map each value to the nearest of 16 levels (see _GREY_LUT).
    return encode_png(image.point(_GREY_LUT), bits=4)


def page_palette(image: Image.Image) -> list[int]:
    """Returns the entries of the fixed palette a text or line-art page is mapped onto.

    Read from a strided sample of the page (one pixel in 16) mapped onto the fixed palette:

    * no colour in the sample: ``[]`` (the page is written in 16 greys);
    * at most 16 entries: those (a 4-bit palette; pixels of a colour the sample missed take
      the nearest of them);
    * more: 9 evenly spaced greys and the 7 most used colours, when the colours left out are
      rare (anti-aliased edges of coloured text and logos: at most 5 % of the coloured
      pixels and 0.5 % of the page); those pixels take the nearest entry kept;
    * otherwise: the whole fixed palette (8 bits a pixel).

    Args:
        image: An ``RGB`` or ``RGBX`` image.

    Returns:
        Indices into the fixed palette (16 greys, then the 6x6x6 colour cube), ascending.
    """
    from PIL import Image

    step = _SAMPLE_STEP
    sample = image.resize((max(1, image.width // step), max(1, image.height // step)), Image.Resampling.NEAREST)
    histogram = _quantize(sample, _fixed_palette()).histogram()
    greys: set[int] = set()
    colours: set[int] = set()
    for entry, grey in enumerate(_GREY_OF):
        if not histogram[entry]:
            continue
        if grey >= 0:
            greys.add(grey)
        else:
            colours.add(entry)
    if not colours:
        return []
    if len(greys) + len(colours) <= _PALETTE_4_BIT:
        return sorted(greys | colours)
    ranked = sorted(colours, key=lambda entry: -histogram[entry])
    kept = ranked[: _PALETTE_4_BIT - len(_GREY_RAMP)]
    dropped = sum(histogram[entry] for entry in ranked[len(kept) :])
    coloured = dropped + sum(histogram[entry] for entry in kept)
    if dropped > _MAX_DROPPED_OF_COLOUR * coloured or dropped > _MAX_DROPPED_OF_PAGE * sample.width * sample.height:
        return list(range(len(_COLOURS)))
    return sorted(set(_GREY_RAMP) | set(kept))


def _quantize(image: Image.Image, palette: Image.Image) -> Image.Image:
    """Maps an ``RGB`` or ``RGBX`` image onto ``palette`` (nearest colour, no dithering)."""
    from PIL import Image

    if image.mode == "RGBX":
        # Pillow's quantize() takes RGB only, but its core maps RGBX (the same 4-byte pixels) alike;
        # going through it spares copying a rendered page to RGB first.
        core = getattr(image.im, "convert", None)
        try:
            mapped = image._new(core("P", Image.Dither.NONE, palette.im)) if core is not None else None
        except (TypeError, ValueError):
            mapped = None
        if mapped is None:
            return image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        mapped.putpalette(palette.getpalette() or [])
        return mapped
    return image.quantize(palette=palette, dither=Image.Dither.NONE)


def encode_png(image: Image.Image, *, bits: int | None, level: int = 2) -> EncodedImage:
    """Encodes ``image`` as it is as PNG (``bits`` per pixel for ``L``; see :mod:`invoiceai.render.png`)."""
    # Palette pages: level 2 costs half of level 6 for 10-20 % more bytes, and on dense text
    # pages it is 40 % smaller than run-length-only compression at the same speed. Encoding,
    # not rendering, is most of what a page costs.
    from invoiceai.render.png import can_write, write_png

    if can_write(image, bits):
        return EncodedImage(write_png(image, bits=bits, level=level), "image/png", image.width, image.height)
    buffer = io.BytesIO()
    options: dict[str, object] = {"compress_level": level}
    if bits is not None:
        options["bits"] = bits
    image.save(buffer, "PNG", **options)
    return EncodedImage(buffer.getvalue(), "image/png", image.width, image.height)


def encode_jpeg(image: Image.Image, quality: int) -> EncodedImage:
    """Encodes ``image`` as a JPEG of ``quality`` (``1`` as grey, other modes but ``L`` as ``RGB``)."""
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return EncodedImage(buffer.getvalue(), "image/jpeg", image.width, image.height)


def _shrink_to_fit(image: Image.Image, max_bytes: int, source_size: tuple[float, float]) -> EncodedImage:
    from PIL import Image

    source = image if image.mode in ("RGB", "L") else image.convert("L")
    source_width, source_height = source_size
    # The scale from the source to the image as rendered (taken on the long side: a short side
    # may have been rounded up to one pixel); each step shrinks that scale and floors both
    # sides from the source, so rounding never compounds.
    scale = source.width / source_width if source_width >= source_height else source.height / source_height
    current = source
    for _ in range(_MAX_SHRINKS):
        for quality in _QUALITY_STEPS:
            encoded = encode_jpeg(current, quality)
            if len(encoded.data) <= max_bytes:
                return encoded
        if current.width == 1 and current.height == 1:
            break
        scale *= _SHRINK
        size = (
            max(1, min(current.width, math.floor(source_width * scale))),
            max(1, min(current.height, math.floor(source_height * scale))),
        )
        current = source.resize(size, Image.Resampling.LANCZOS)
    raise ConfigurationError(
        f"ImageBudget.max_bytes={max_bytes} is too small to hold even a tiny JPEG; use at least a few kilobytes."
    )
