"""Sending a JPEG that already fits as it is: its own bytes, less its metadata, instead of a re-encode.

A phone photo or scanner JPEG within the pixel and byte budget, upright and in RGB or grey,
needs no resampling, rotation or colour change, so decoding it and encoding it again only costs
CPU (about half of what such a page costs) and a generation of JPEG loss. It is still decoded
once (:func:`~invoiceai.render.image_decode.prepare_frame`), so a damaged file fails the same
typed way and no request is sent for it; what goes out is then the original entropy-coded data.

What a re-encode would have dropped is dropped here too: every ``APPn`` segment but ``APP0``
(JFIF) and ``APP14`` (Adobe, which says how to read the colours), so EXIF (camera, GPS
position, thumbnails), XMP, ICC profiles and comments never leave the machine, and anything
after the end-of-image marker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["passthrough_jpeg"]

# Segments kept before the scan: the tables and frame header a decoder needs, APP0 and APP14.
_KEPT = frozenset({0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xE0, 0xEE})
_HUFFMAN_8_BIT_FRAMES = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive
_SOS, _EOI = 0xDA, b"\xff\xd9"
_MAX_SEGMENTS = 1_000
# The JPEG standard's luminance table (Annex K), which libjpeg scales by quality.
_STANDARD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def passthrough_jpeg(data: bytes, frame: Image.Image, *, max_bytes: int, quality: int) -> bytes | None:
    """Returns ``data`` stripped of its metadata when the JPEG can be sent as it is, else ``None``.

    Args:
        data: The JPEG file, already decoded once into ``frame``.
        frame: The decoded frame as :func:`~invoiceai.render.image_decode.prepare_frame`
            returned it; it must be the file's own pixels (no draft, resize or rotation), which
            the caller checks.
        max_bytes: The budget's byte cap.
        quality: The quality a re-encode would use: a JPEG stored at a higher one (finer
            quantisation) is re-encoded, which makes it smaller.

    Returns:
        The JPEG's bytes to send, or ``None`` when it must be re-encoded: not an 8-bit Huffman
        JPEG (arithmetic-coded and 12-bit ones are not widely readable), not ``RGB`` or ``L``
        (CMYK), an MPO, of a higher quality than ``quality``, or over ``max_bytes`` even
        without its metadata.
    """
    if frame.mode not in ("RGB", "L") or getattr(frame, "format", None) != "JPEG" or not data.startswith(b"\xff\xd8"):
        return None
    if not _coarse_enough(frame, quality):
        return None
    parts = [b"\xff\xd8"]
    position = 2
    frame_kind = None
    for _ in range(_MAX_SEGMENTS):
        if position + 4 > len(data) or data[position] != 0xFF:
            return None  # fill bytes or junk between segments: leave such files to the encoder
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        end = position + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker == _SOS:
            tail = data.rfind(_EOI)
            if tail < end:
                return None
            parts.append(data[position : tail + 2])
            break
        if marker in range(0xC0, 0xD0) and marker not in (0xC4, 0xC8, 0xCC):
            frame_kind = marker
        if marker in _KEPT:
            parts.append(data[position:end])
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return None  # a marker this writer does not know: re-encode instead
        position = end
    else:
        return None
    if frame_kind not in _HUFFMAN_8_BIT_FRAMES or _precision(parts) != 8:
        return None
    stripped = b"".join(parts)
    return stripped if len(stripped) <= max_bytes else None


def _coarse_enough(frame: Image.Image, quality: int) -> bool:
    # libjpeg scales the standard table by 200 - 2q percent above quality 50: a file whose
    # luminance table sums to at least that of ``quality`` is quantised at least as coarsely,
    # so encoding it again at ``quality`` would not make it smaller.
    tables = getattr(frame, "quantization", None)
    luminance = tables.get(0) if isinstance(tables, dict) else None
    if luminance is None or len(luminance) != len(_STANDARD_LUMINANCE):
        return False
    scale = 200 - 2 * quality if quality >= 50 else 5000 // max(1, quality)
    ours = sum(min(255, max(1, (value * scale + 50) // 100)) for value in _STANDARD_LUMINANCE)
    return sum(luminance) >= ours


def _precision(parts: list[bytes]) -> int:
    # The frame header's first byte after its length is the sample precision in bits.
    for part in parts:
        if len(part) > 4 and part[1] in _HUFFMAN_8_BIT_FRAMES:
            return part[4]
    return 0
