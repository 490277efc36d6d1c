"""Stream filters decoded a chunk at a time, for the pre-scan's size checks (no output is kept).

Each decoder takes the raw chunks of one stream and its dictionary's entries, and yields decoded
chunks of at most :data:`CHUNK` bytes, so the caller can count them and stop at a cap without
ever holding a stream in memory. Data a filter rejects ends the stream, as it ends it in pdfium.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable, Iterable, Iterator

__all__ = ["CHUNK", "DECODERS"]

CHUNK = 1 << 20
"""Bytes fed to (and asked of) a decoder at once."""

_CHUNK = CHUNK


def _inflate(chunks: Iterable[bytes], entries: dict[bytes, list[bytes]]) -> Iterator[bytes]:
    inflater = zlib.decompressobj()
    try:
        for chunk in chunks:
            pending = chunk
            while pending and not inflater.eof:
                out = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                if out:
                    yield out
            if inflater.eof:
                return
    except zlib.error:
        return  # pdfium keeps what inflated before the damage; so does the count


def _run_length(chunks: Iterable[bytes], entries: dict[bytes, list[bytes]]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        out = bytearray()
        position = 0
        while position < len(pending):
            length = pending[position]
            if length == 128:
                yield bytes(out)
                return
            if length < 128:
                if position + 1 + length + 1 > len(pending):
                    break
                out += pending[position + 1 : position + 2 + length]
                position += length + 2
            else:
                if position + 1 >= len(pending):
                    break
                out += pending[position + 1 : position + 2] * (257 - length)
                position += 2
            if len(out) >= _CHUNK:
                yield bytes(out)
                out = bytearray()
        pending = pending[position:]
        yield bytes(out)


def _lzw(chunks: Iterable[bytes], entries: dict[bytes, list[bytes]]) -> Iterator[bytes]:
    parms = entries.get(b"/DecodeParms", [])
    pairs = range(len(parms) - 1)
    early = 0 if any(parms[i] == b"/EarlyChange" and parms[i + 1] == b"0" for i in pairs) else 1
    table = [bytes([value]) for value in range(256)] + [b"", b""]
    previous = b""
    width, buffer, bits = 9, 0, 0
    out = bytearray()
    for chunk in chunks:
        for byte in chunk:
            buffer, bits = (buffer << 8) | byte, bits + 8
            while bits >= width:
                bits -= width
                code = (buffer >> bits) & ((1 << width) - 1)
                if code == 256:
                    table, previous, width = table[:258], b"", 9
                    continue
                if code == 257:
                    yield bytes(out)
                    return
                entry = table[code] if code < len(table) else previous + previous[:1]
                if not entry:
                    yield bytes(out)
                    return  # a code not yet defined: damaged data
                if previous and len(table) < 4096:
                    table.append(previous + entry[:1])
                previous = entry
                out += entry
                width = min(12, (len(table) + early).bit_length())
        if len(out) >= _CHUNK:
            yield bytes(out)
            out = bytearray()
    yield bytes(out)


def _ascii_hex(chunks: Iterable[bytes], entries: dict[bytes, list[bytes]]) -> Iterator[bytes]:
    # The ASCII filters shrink their input, so decoding in one piece stays within the file's size.
    text = b"".join(chunks).split(b">", 1)[0]
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", text)
    yield binascii.a2b_hex(digits + b"0" * (len(digits) % 2))


def _ascii85(chunks: Iterable[bytes], entries: dict[bytes, list[bytes]]) -> Iterator[bytes]:
    text = b"".join(chunks).split(b"~>", 1)[0]
    text = re.sub(rb"\s", b"", text)
    try:
        yield base64.a85decode(text.removeprefix(b"<~"))
    except ValueError:
        return


DECODERS: dict[bytes, Callable[[Iterable[bytes], dict[bytes, list[bytes]]], Iterator[bytes]]] = {
    b"FlateDecode": _inflate,
    b"LZWDecode": _lzw,
    b"RunLengthDecode": _run_length,
    b"ASCIIHexDecode": _ascii_hex,
    b"ASCII85Decode": _ascii85,
}
