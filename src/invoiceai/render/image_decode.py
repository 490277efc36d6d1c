"""Decoding raster images safely with Pillow: formats, bombs, orientation, modes and sizing.

Pillow is only ever asked to open the one format the magic bytes named (so a file cannot smuggle
itself into a risky plugin), every frame's pixel count is checked before it is decoded, and every
Pillow failure becomes an :class:`~invoiceai.errors.InvoiceAIError`.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoiceai.documents.detect import BMP, GIF, HEIC, HEIF, JPEG, PNG, TIFF, WEBP
from invoiceai.errors import (
    CorruptDocumentError,
    DecompressionBombError,
    InvoiceAIError,
    MissingDependencyError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.pages import ImageBudget

__all__ = [
    "CHEAP_SHRINKS",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "LOSSY_MEDIA_TYPES",
    "REDUCING_GAP",
    "TINY_SHRINK",
    "frame_count",
    "open_image",
    "pillow_errors",
    "prepare_frame",
    "resample_filter",
    "seek_frame",
]

DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
"""Pixels above which an image is refused as a decompression bomb (Pillow's own threshold)."""

LOSSY_MEDIA_TYPES = frozenset({JPEG, HEIC, HEIF, WEBP})
"""Sources that are photographs or lossy already; they are re-encoded as JPEG."""

_PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    PNG: ("PNG",),
    # Camera JPEGs with an MPF extension open as MPO; their extra "frames" are thumbnails.
    JPEG: ("JPEG", "MPO"),
    TIFF: ("TIFF",),
    WEBP: ("WEBP",),
    GIF: ("GIF",),
    BMP: ("BMP",),
    HEIC: ("HEIF",),
    HEIF: ("HEIF",),
}
_MULTI_FRAME = frozenset({TIFF, GIF, WEBP})
_TRANSPOSE_FOR_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE"}
_TRANSPOSE_FOR_ORIENTATION.update({6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"})
_ORIENTATION_TAG = 0x0112
_WHITE = (255, 255, 255, 255)
_heif_registered = False


@contextlib.contextmanager
def pillow_errors(document_id: str, page: int | None = None) -> Iterator[None]:
    """Maps anything Pillow raises inside the block onto typed errors.

    Args:
        document_id: For error context.
        page: 1-based frame number, when known.

    Yields:
        Nothing; the block runs under the mapping.

    Raises:
        DecompressionBombError: Pillow's own bomb check fired.
        CorruptDocumentError: Any other failure while decoding.
    """
    from PIL import Image

    try:
        yield
    except InvoiceAIError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBombError(
            f"The image decodes to too many pixels ({exc}); it looks like a decompression bomb. Send a smaller image.",
            document_id=document_id,
            page=page,
        ) from exc
    except MemoryError as exc:
        raise DecompressionBombError(
            "The image needs more memory to decode than is available; send a smaller image.",
            document_id=document_id,
            page=page,
        ) from exc
    except Exception as exc:
        # Pillow raises OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError and
        # more for damaged files; they all mean the same thing to the caller.
        # Pillow names the in-memory file it read ("<_io.BytesIO object at 0x...>"): noise to a reader.
        reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)).rstrip(" :")
        raise CorruptDocumentError(
            f"The image cannot be decoded ({type(exc).__name__}: {reason}); it is damaged or truncated. Re-export or "
            "re-download it.",
            document_id=document_id,
            page=page,
        ) from exc


def open_image(data: bytes, media_type: str, *, document_id: str, max_pixels: int) -> Image.Image:
    """Opens an image lazily (header only), restricted to the format its magic bytes named.

    Args:
        data: The image bytes.
        media_type: The detected media type.
        document_id: For error context.
        max_pixels: The decompression-bomb threshold for each frame.

    Returns:
        The opened, not yet decoded image; close it when done.

    Raises:
        MissingDependencyError: HEIC/HEIF without the ``heic`` extra.
        UnsupportedFormatError: A media type this module does not decode.
        DecompressionBombError: The first frame has more than ``max_pixels`` pixels.
        CorruptDocumentError: Pillow cannot parse the header.
    """
    from PIL import Image

    formats = _PILLOW_FORMATS.get(media_type)
    if formats is None:
        raise UnsupportedFormatError(f"{media_type} is not an image format invoiceai decodes.", document_id=document_id)
    if media_type in (HEIC, HEIF):
        _register_heif()
    # Pillow's bomb check warns (or raises) on its own, global threshold; our threshold is
    # checked right after. Its warning is not silenced here: warnings filters are process-wide
    # (catch_warnings would undo another thread's filters), and callers run this inside
    # render.noise.library_noise, which turns the warning into a DEBUG record.
    with pillow_errors(document_id):
        image = Image.open(io.BytesIO(data), formats=list(formats))
    try:
        check_pixels(image, max_pixels, document_id=document_id, page=1)
    except DecompressionBombError:
        image.close()
        raise
    return image


def frame_count(image: Image.Image, media_type: str, *, document_id: str) -> int:
    """Returns how many pages the image yields: its frames for TIFF, GIF and WebP, else 1."""
    if media_type not in _MULTI_FRAME:
        return 1
    with pillow_errors(document_id):
        return max(1, int(getattr(image, "n_frames", 1)))


def seek_frame(image: Image.Image, index: int, *, document_id: str, max_pixels: int) -> None:
    """Moves to frame ``index`` (0-based) and checks its size before it is decoded."""
    with pillow_errors(document_id, page=index + 1):
        if index != image.tell():
            image.seek(index)
    check_pixels(image, max_pixels, document_id=document_id, page=index + 1)


def check_pixels(image: Image.Image, max_pixels: int, *, document_id: str, page: int) -> None:
    """Refuses a frame whose pixel count is above ``max_pixels``.

    Raises:
        DecompressionBombError: The frame is too large.
    """
    width, height = image.size
    if width * height > max_pixels:
        raise DecompressionBombError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} MP), above the "
            f"{max_pixels / 1e6:.0f} MP limit for decoding; it may be a decompression bomb. Send a smaller image, "
            "or raise ImageRenderer(max_image_pixels=...) if it is trusted.",
            document_id=document_id,
            page=page,
        )
    if width <= 0 or height <= 0:
        raise CorruptDocumentError(f"The image has no pixels ({width}x{height}).", document_id=document_id, page=page)


def prepare_frame(
    image: Image.Image,
    budget: ImageBudget,
    *,
    media_type: str,
    first_frame: bool,
    document_id: str,
    page: int,
) -> tuple[Image.Image, tuple[int, int]]:
    """Decodes the current frame, upright and in ``RGB``, ``L`` or ``1``, fitted to ``budget``.

    Large JPEGs are decoded at a reduced size (``draft``) no smaller than the target, then
    reduced by whole factors and resampled (:data:`REDUCING_GAP`, :func:`resample_filter`);
    nothing is ever upscaled. EXIF orientation is applied last, on the small image.

    Args:
        image: An open image positioned on the frame to prepare.
        budget: The pixel budget.
        media_type: The detected media type.
        first_frame: Whether this is frame 0 (``draft`` only works before the first decode).
        document_id: For error context.
        page: 1-based frame number, for error context.

    Returns:
        The prepared image and the upright size of the source frame it was scaled from.

    Raises:
        CorruptDocumentError: The frame cannot be decoded.
    """
    from PIL import Image

    with pillow_errors(document_id, page=page):
        width, height = image.size
        # Pillow's TIFF reader reports the upright size and rotates while loading; every other
        # format leaves the EXIF orientation to us.
        declared = 1 if image.format == "TIFF" else _orientation(image)
        upright = (height, width) if declared in (5, 6, 7, 8) else (width, height)
        target_w, target_h = budget.fit(*upright, allow_upscale=False)
        if media_type == JPEG and first_frame and (target_w, target_h) != upright:
            image.draft(None, (target_h, target_w) if declared in (5, 6, 7, 8) else (target_w, target_h))
        image.load()
        remaining = declared if image.format != "TIFF" else 1
        stored_target = (target_h, target_w) if remaining in (5, 6, 7, 8) else (target_w, target_h)
        frame = _normalise_mode(image, keep_bilevel=stored_target == image.size)
        if frame.size != stored_target:
            frame = frame.resize(stored_target, resample_filter(frame.size, stored_target), reducing_gap=REDUCING_GAP)
        transpose = _TRANSPOSE_FOR_ORIENTATION.get(remaining)
        if transpose is not None:
            frame = frame.transpose(Image.Transpose[transpose])
    return frame, upright


REDUCING_GAP = 1.0
"""A shrink by two or more first averages whole blocks of pixels (``Image.reduce``), then a filter
finishes the last step (under 2x). A 300 dpi page fitted to the budget (2.75x) is then resampled
from a quarter of its pixels: twice as fast as Lanczos over the full scan, and on text the two
cannot be told apart."""

TINY_SHRINK = 0.97
"""A shrink to this share of the size or more is resampled with a box filter, not Lanczos."""

CHEAP_SHRINKS = (0.6, 0.9)
"""A last step (after whole-factor reduction) in this range is resampled with a Hamming filter.

Hamming's kernel is a third of Lanczos's width, so it costs half as much (a 0.73x step of an RGB
page: 11 ms against 24 ms). Its result is within 34-46 dB PSNR of Lanczos's on the corpus's
scans, and tesseract reads as much of the true text from it (1647 words found against Lanczos's
1629 on eight scans and receipts). Lanczos stays for the mildest shrinks (0.9-0.97x, where
Hamming's blur differs most from Lanczos) and for steps below 0.6x."""


def resample_filter(size: tuple[int, int], target: tuple[int, int]) -> Image.Resampling:
    """The filter that fits ``size`` into ``target`` (after :data:`REDUCING_GAP`'s reduction).

    A scan a few percent over the budget (300 dpi letter paper into 1.15 MP, a phone photo a
    few pixels too tall) moves each output pixel by well under one input pixel: an area
    average is indistinguishable there from Lanczos, at less than half its cost, and Lanczos
    was most of what such an image cost to prepare. A step within :data:`CHEAP_SHRINKS` takes
    a Hamming filter; any other, Lanczos.
    """
    from PIL import Image

    scale = min(target[0] / size[0], target[1] / size[1])
    if scale >= TINY_SHRINK:
        return Image.Resampling.BOX
    # Pillow reduces by the whole factor int(1 / scale / gap) first; the filter does the rest.
    step = scale * max(1, int(1 / scale / REDUCING_GAP))
    low, high = CHEAP_SHRINKS
    return Image.Resampling.HAMMING if low <= step < high else Image.Resampling.LANCZOS


def _normalise_mode(image: Image.Image, *, keep_bilevel: bool) -> Image.Image:
    """Returns the frame as ``RGB`` or ``L`` (or ``1`` when it will not be resized)."""
    from PIL import Image

    mode = image.mode
    if mode == "1":
        return image if keep_bilevel else image.convert("L")
    if mode in ("L", "RGB"):
        return image
    if mode.startswith("I;16"):
        return _scaled_to_8_bit(image.convert("I"))
    if mode in ("I", "F"):
        return _scaled_to_8_bit(image)
    has_alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA") if mode != "La" else image.convert("LA").convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        background.alpha_composite(rgba)
        flattened = background.convert("RGB")
        return flattened.convert("L") if mode in ("LA", "La") else flattened
    if mode == "P":
        palette = image.getpalette() or []
        greys = all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))
        return image.convert("L" if greys else "RGB")
    return image.convert("RGB")


def _scaled_to_8_bit(image: Image.Image) -> Image.Image:
    extrema = image.getextrema()
    low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    if image.mode == "I" and low >= 0 and high <= 255:
        return image.convert("L")
    if image.mode == "I" and low >= 0 and high <= 65535:
        # 16-bit samples: map the full 16-bit range, as viewers do, rather than stretching.
        return image.point(lambda value: value * (255 / 65535)).convert("L")
    span = (high - low) or 1.0
    return image.point(lambda value: (value - low) * (255 / span)).convert("L")


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        # A damaged EXIF block should not cost the picture: treat it as upright.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _register_heif() -> None:
    global _heif_registered
    try:
        import pillow_heif
    except ImportError as exc:
        raise MissingDependencyError(
            "Reading HEIC/HEIF images (iPhone photos) needs pillow-heif: "
            'pip install "invoiceai-claude[heic]". Or convert the photo to JPEG.',
            extra="heic",
        ) from exc
    if not _heif_registered:
        pillow_heif.register_heif_opener()
        _heif_registered = True
