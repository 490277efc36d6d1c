"""A minimal PNG writer for the low-bit images pages become (1-, 2-, 4- and 8-bit grey or palette).

Pillow tries several row filters for every row of a PNG. For palette and low-bit grey images
the PNG specification recommends no filter at all, and on rendered pages the filtering was two
thirds of the encoding time (about 2 ms of a page's 9) while making files no smaller. Writing
the few chunks ourselves with filter type 0 keeps the pixels exactly as Pillow packs them and
cuts the encoding to the cost of zlib. Anything else (RGB, 16-bit) still goes through Pillow.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["can_write", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _PALETTE = 0, 3


def can_write(image: Image.Image, bits: int | None) -> bool:
    """Tells whether :func:`write_png` handles ``image`` written at ``bits`` bits per pixel."""
    if image.mode == "1":
        return bits in (None, 1)
    if image.mode == "L":
        return bits in (4, 8, None)
    return image.mode == "P" and bits is None


def write_png(
    image: Image.Image, *, bits: int | None = None, level: int = 2, strategy: int = zlib.Z_DEFAULT_STRATEGY
) -> bytes:
    """Encodes a ``1``, ``L`` or ``P`` image as PNG with unfiltered rows.

    Args:
        image: The image. For ``L`` with ``bits=4``, each pixel's low nibble is written, as
            Pillow's own 4-bit writer does (map values to 0-15 first).
        bits: Bits per pixel for ``L`` (4 or 8). ``P`` images get the fewest bits their palette
            allows (1, 2, 4 or 8), ``1`` images one bit.
        level: zlib compression level.
        strategy: zlib strategy (``zlib.Z_RLE`` finds only runs: on 8-bit scans a third of the
            time of the default for about the same size).

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: The image is of a kind :func:`can_write` refuses.
    """
    if not can_write(image, bits):
        raise ValueError(f"write_png cannot write a {image.mode} image at {bits} bits")
    chunks: list[bytes] = []
    if image.mode == "1":
        depth, colour_type, rawmode = 1, _GREY, "1"
    elif image.mode == "L":
        depth = bits or 8
        colour_type, rawmode = _GREY, "L;4" if depth == 4 else "L"
    else:
        palette = image.getpalette() or []
        entries = max(1, len(palette) // 3)
        depth = next(size for size in (1, 2, 4, 8) if entries <= 1 << size)
        colour_type, rawmode = _PALETTE, "P" if depth == 8 else f"P;{depth}"
        chunks.append(_chunk(b"PLTE", bytes(palette[: 3 * entries])))
    width, height = image.size
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    rows = _unfiltered_rows(image, depth, rawmode)
    data = compressor.compress(rows) + compressor.flush()
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), *chunks, _chunk(b"IDAT", data), _chunk(b"IEND", b"")))


def _unfiltered_rows(image: Image.Image, depth: int, rawmode: str) -> bytes:
    """The image's rows as PNG wants them: each one after a filter-type byte of 0 (none).

    Pillow packs the rows for us if the image is one byte wider on the left and that byte is
    zero: ``8 // depth`` pixels of value 0 pasted in front. One paste and one pack in C, where
    copying the rows one by one in Python took a fifth of the encoding.
    """
    from PIL import Image

    pad = 8 // depth
    padded = Image.new(image.mode, (image.width + pad, image.height), 0)
    padded.paste(image, (pad, 0))
    return padded.tobytes("raw", rawmode)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
