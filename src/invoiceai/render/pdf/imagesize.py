"""The pixel size a JPEG or JPEG 2000 stream really has, read from its own header.

pdfium decodes a ``/DCTDecode`` or ``/JPXDecode`` image at the size written in the image data
(a JPEG's SOF marker, a JPEG 2000 ``ihdr`` box or SIZ marker), not at the ``/Width`` and
``/Height`` of the stream's dictionary, so a tiny dictionary can front a 60,000 x 60,000 JPEG.
The pre-scan reads the real size here, without decoding anything, and checks it against
``max_image_pixels``.
"""

from __future__ import annotations

import struct

__all__ = ["coded_size"]

# Start-of-frame markers: baseline, extended, progressive, lossless, arithmetic (not DHT C4, JPG C8, DAC CC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field
_SOS = 0xDA
_MAX_SEGMENTS = 10_000
_MAX_BOXES = 1_000


def coded_size(data: bytes | memoryview, kind: bytes) -> tuple[int, int] | None:
    """Returns (width, height) from the header of a JPEG (``kind`` ``b"DCTDecode"``) or JPEG 2000 image.

    Args:
        data: The image data, from its first byte (the whole stream, or a prefix of it).
        kind: ``b"DCTDecode"`` or ``b"JPXDecode"``.

    Returns:
        The size, or ``None`` when the header cannot be found in ``data``.
    """
    view = memoryview(data)
    if kind == b"DCTDecode":
        return _jpeg_size(view)
    return _jpx_size(view)


def _jpeg_size(data: memoryview) -> tuple[int, int] | None:
    # Like libjpeg, look for the first marker from the start, skipping anything before it.
    position = bytes(data[:4096]).find(b"\xff\xd8")
    if position < 0:
        return None
    position += 2
    for _ in range(_MAX_SEGMENTS):
        if position < len(data) and data[position] != 0xFF:
            # libjpeg skips junk between segments up to the next 0xFF; so does this.
            skipped = bytes(data[position : position + 65536]).find(b"\xff")
            if skipped < 0:
                return None
            position += skipped
        while position < len(data) and data[position] == 0xFF:
            position += 1  # fill bytes before a marker
        if position >= len(data):
            return None
        marker = data[position]
        position += 1
        if marker in _STANDALONE or marker == 0x00:
            continue
        if position + 2 > len(data):
            return None
        (length,) = struct.unpack_from(">H", data, position)
        if marker in _SOF and position + 7 <= len(data):
            height, width = struct.unpack_from(">HH", data, position + 3)
            return width, height
        if marker == _SOS or length < 2:
            return None
        position += length
    return None


def _jpx_size(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:2]) == b"\xff\x4f":  # a bare codestream: SOC, then SIZ
        return _siz_size(data, 2)
    position = 0
    for _ in range(_MAX_BOXES):
        if position + 8 > len(data):
            return None
        length, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if length == 1 and position + 16 <= len(data):
            (length,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        if kind == b"jp2h":  # a superbox: its first child is ihdr
            position += header
            continue
        if kind == b"ihdr" and position + 16 <= len(data):
            height, width = struct.unpack_from(">II", data, position + 8)
            return width, height
        if kind == b"jp2c":
            return _siz_size(data, position + header + 2)
        if length == 0 or length < header:
            return None
        position += length
    return None


def _siz_size(data: memoryview, position: int) -> tuple[int, int] | None:
    # SIZ: marker FF51, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz (the image is Xsiz - XOsiz wide).
    if position + 22 > len(data) or bytes(data[position : position + 2]) != b"\xff\x51":
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", data, position + 6)
    return max(0, xsiz - xosiz), max(0, ysiz - yosiz)
