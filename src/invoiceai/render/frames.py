"""Counting the frames of a multi-frame image without decoding (or even parsing) them.

Pillow's ``n_frames`` reads every frame's full tag directory, which for a 10,000-frame TIFF costs
seconds before a single page is chosen. A TIFF's frames are a linked list of directories, so
following the "next directory" offsets counts them in microseconds each, and a loop in the list
(a hostile file) ends the count instead of spinning.
"""

from __future__ import annotations

import struct

__all__ = ["count_tiff_frames"]


def count_tiff_frames(data: bytes, *, stop_after: int) -> int | None:
    """Counts a TIFF's image directories by following their chain.

    Args:
        data: The TIFF bytes (classic or BigTIFF, either byte order).
        stop_after: Stop counting once the count passes this (the caller's limit).

    Returns:
        The number of frames (at most ``stop_after + 1``), or ``None`` when the header is not a
        TIFF header this function reads (the caller then asks Pillow).
    """
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        order, big = ("<" if data[:2] == b"II" else ">"), False
        first = struct.unpack_from(order + "I", data, 4)[0]
    elif data[:4] in (b"II+\x00", b"MM\x00+") and len(data) >= 16:
        order, big = ("<" if data[:2] == b"II" else ">"), True
        first = struct.unpack_from(order + "Q", data, 8)[0]
    else:
        return None
    count_format, entry_size, offset_format = ("Q", 20, "Q") if big else ("H", 12, "I")
    count_size, offset_size = struct.calcsize(count_format), struct.calcsize(offset_format)
    seen: set[int] = set()
    offset = first
    frames = 0
    while offset and offset not in seen and frames <= stop_after:
        if offset + count_size > len(data):
            break  # a dangling pointer: Pillow stops at the last readable frame too
        seen.add(offset)
        frames += 1
        entries = struct.unpack_from(order + count_format, data, offset)[0]
        following = offset + count_size + entries * entry_size
        if following + offset_size > len(data):
            break
        offset = struct.unpack_from(order + offset_format, data, following)[0]
    return frames
