"""Sending a JPEG that already fits as it is: its own bytes, less its metadata, instead of a re-encode.

A phone photo or scanner JPEG within the pixel and byte budget, upright and in RGB or grey,
needs no resampling, rotation or colour change, so decoding it and encoding it again only costs
CPU (about half of what such a page costs) and a generation of JPEG loss. It is still decoded
once (:func:`~invoiceai.render.image_decode.prepare_frame`), so a damaged file fails the same
typed way and no request is sent for it; what goes out is then the original entropy-coded data.

What a re-encode would have dropped is dropped here too: every ``APPn`` segment and comment, so
EXIF (camera, GPS position, thumbnails), XMP, ICC profiles and comments never leave the machine.
Two are rewritten instead: ``APP0`` to a bare 16-byte JFIF header (its density kept; a JFXX
thumbnail or other payload dropped) and ``APP14`` to Adobe's 12 bytes that say how to read the
colours. The entropy-coded data is walked marker by marker from the first scan to the first
end-of-image marker: between scans only the tables a decoder needs may come (anything else and
the file is re-encoded), and nothing after that first end (a second JPEG, a motion-photo video,
any appended blob) is sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["passthrough_jpeg"]

# Segments kept before the scan as they are: the tables and frame header a decoder needs.
_KEPT = frozenset({0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD})
_HUFFMAN_8_BIT_FRAMES = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive
_SOS, _EOI, _APP0, _APP14 = 0xDA, 0xD9, 0xE0, 0xEE
_BETWEEN_SCANS = frozenset({0xC4, 0xDB, 0xDD, _SOS})  # DHT, DQT, DRI and the next scan
# In entropy-coded data: 0xFF then a byte that is not 0x00 (stuffing), RST0-7 or 0xFF (fill).
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
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
    rewritten = _rewrite(data)
    if rewritten is None:
        return None
    stripped, frame_kind = rewritten
    if frame_kind not in _HUFFMAN_8_BIT_FRAMES or _precision(stripped) != 8:
        return None
    return stripped if len(stripped) <= max_bytes else None


def _rewrite(data: bytes) -> tuple[bytes, int | None] | None:
    # The segments before the first scan: tables and the frame header kept, APP0 and APP14
    # rewritten to their canonical form, other APPn and COM dropped, anything else refused.
    parts = [b"\xff\xd8"]
    position = 2
    frame_kind = None
    for _ in range(_MAX_SEGMENTS):
        segment = _segment(data, position)
        if segment is None:
            return None  # fill bytes or junk between segments: leave such files to the encoder
        marker, end = segment
        if marker == _SOS:
            scans = _scans(data, position)
            return (b"".join(parts) + scans, frame_kind) if scans is not None else None
        if marker in range(0xC0, 0xD0) and marker not in (0xC4, 0xC8, 0xCC):
            frame_kind = marker
        if marker == _APP0:
            parts.append(_jfif(data[position:end]) if position == 2 else b"")  # JFIF comes first
        elif marker == _APP14:
            parts.append(_adobe(data[position:end]))
        elif marker in _KEPT:
            parts.append(data[position:end])
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return None  # a marker this writer does not know: re-encode instead
        position = end
    return None


def _segment(data: bytes, position: int) -> tuple[int, int] | None:
    # A marker segment at ``position``: its marker and where it ends (its length counts itself).
    if position + 4 > len(data) or data[position] != 0xFF:
        return None
    length = int.from_bytes(data[position + 2 : position + 4], "big")
    end = position + 2 + length
    return (data[position + 1], end) if length >= 2 and end <= len(data) else None


def _scans(data: bytes, position: int) -> bytes | None:
    # From the first SOS to the first EOI, walking the entropy-coded data: in it a 0xFF is
    # followed by 0x00 (a stuffed byte), RST0-7 or another 0xFF (fill); anything else is a
    # marker. Between scans only the tables a decoder needs may come (DHT, DQT, DRI, SOS):
    # a comment or APPn there would leave with the pixels, so such files are re-encoded, and
    # nothing after the first EOI (a second JPEG, a video, a blob) is ever looked at.
    start = position
    for _ in range(_MAX_SEGMENTS):
        segment = _segment(data, position)
        if segment is None or segment[0] not in _BETWEEN_SCANS:
            return None
        position = segment[1]
        if segment[0] != _SOS:
            continue
        found = _MARKER_IN_SCAN.search(data, position)
        if found is None:
            return None
        position = found.start()
        if data[position + 1] == _EOI:
            return data[start : position + 2]
    return None


def _jfif(segment: bytes) -> bytes:
    # APP0 is JFIF (pixel density, optionally a thumbnail) or JFXX (a thumbnail) or anything at
    # all: only a JFIF header's units and density are carried over, into a 16-byte APP0.
    if len(segment) < 18 or segment[4:9] != b"JFIF\x00":
        return b""
    return b"\xff\xe0\x00\x10JFIF\x00\x01\x01" + segment[11:16] + b"\x00\x00"


def _adobe(segment: bytes) -> bytes:
    # APP14 "Adobe" says how to read the colours in its 12 bytes; anything after them is dropped,
    # and an APP14 that is not Adobe's (which decoders ignore) goes entirely.
    if len(segment) < 16 or segment[4:9] != b"Adobe":
        return b""
    return b"\xff\xee\x00\x0e" + segment[4:16]


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


def _precision(stripped: bytes) -> int:
    # The frame header's first byte after its length is the sample precision in bits; the
    # stripped file's segments before the first scan are walked to find it.
    position = 2
    while (segment := _segment(stripped, position)) is not None and segment[0] != _SOS:
        if segment[0] in _HUFFMAN_8_BIT_FRAMES:
            return stripped[position + 4]
        position = segment[1]
    return 0
