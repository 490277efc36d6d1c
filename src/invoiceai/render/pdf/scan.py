"""A bounded pre-scan of a PDF's streams, run before pdfium parses the file.

pdfium inflates streams in C, all at once, and cannot be capped from Python: a 1 MB file whose
content stream inflates to 1 GiB takes gigabytes while it renders. So before pdfium sees a PDF,
every stream in the file is decoded here the way pdfium would decode it, through the declared
filter chain (Flate, LZW, RunLength, ASCIIHex, ASCII85), a chunk at a time with
``zlib.decompressobj(max_length=...)``, counting the bytes and throwing them away: memory stays
flat, and a stream is stopped the moment it passes ``max_stream_bytes``. Image streams whose
``/Width`` x ``/Height`` is above ``max_image_pixels`` are refused from their dictionary, and JPEG
and JPEG 2000 images from the size in their own header, which is the one pdfium uses.

It is cheap on ordinary files because most streams need no decoding at all: a stream whose direct
``/Length`` times the largest expansion its filters allow (1032:1 for Flate) stays under the cap
cannot pass it. Only long compressed streams (big images, bombs) are inflated.

With ``images_by_size=True`` (what the renderer passes when the sandbox's address-space limit
binds pdfium) big Flate images are not inflated either. pdfium draws an image XObject whose only
filter is ``/FlateDecode`` through a scanline decoder that inflates row by row and stops at the
``/Height`` rows its dictionary declares, so what it allocates for the image is fixed by
``/Width`` x ``/Height`` x components, and that is checked against ``max_image_pixels`` here
without decompressing anything: a scanned page stored as a 150 MB Flate raster costs
microseconds, not seconds. That holds only where pdfium draws the stream as an image: one also
used as a font program, an annotation's appearance, a pattern or a page's ``/Contents`` is
inflated in full, so an image is skipped only when every reference to it comes from an
``/XObject`` resources dictionary, an ``/SMask`` or a ``/Mask`` (``imageuse.py``), and never in a
file with object streams, whose references are compressed. Without a binding sandbox (in
process, or where ``RLIMIT_AS`` is not enforced) every image is inflated and counted as before.

Where the scan cannot tell what pdfium will do it assumes the worst: an indirect ``/Filter`` or
``/DecodeParms`` is looked up (``pdfsyntax.py``), and a filter it still cannot name (an object it
cannot find, an unknown name) or a dictionary it cannot read is taken for Flate, and every
``stream`` keyword is looked at, also inside another stream's data. The work all this takes is
budgeted per document (four times the file plus ``max_stream_bytes``), so hostile files cost time
linear in their size.

What it cannot see: streams of an encrypted PDF (their bytes are ciphertext until pdfium decrypts
them) and filters pdfium decodes to pixels (DCT, JPX, JBIG2, CCITT), whose size the pixel check
bounds instead.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from invoiceai.errors import DecompressionBombError, StreamTooLargeError
from invoiceai.render.pdf.filters import CHUNK as _CHUNK
from invoiceai.render.pdf.filters import DECODERS
from invoiceai.render.pdf.imagesize import coded_size
from invoiceai.render.pdf.imageuse import ImageUses
from invoiceai.render.pdf.pdfsyntax import References, resolve_tokens, top_level_entries

if TYPE_CHECKING:
    from invoiceai.render.limits import Deadline, RenderLimits

__all__ = ["StreamScan", "scan_pdf"]

# PDF whitespace is NUL, tab, line feed, form feed, carriage return and space: [\x00\t\n\x0c\r ].
_HEADER_BEFORE = re.compile(rb"(?<!\d)(\d{1,10})[\x00\t\n\x0c\r ]+\d{1,5}[\x00\t\n\x0c\r ]+\Z")
# After the keyword pdfium skips to the next line; whitespace or a comment may come first.
_EOL = re.compile(rb"[\x00\t\x0c ]*(?:%[^\r\n]*)?(?:\r\n|\r|\n)")
_ENDSTREAM = re.compile(rb"[\x00\t\n\x0c\r ]*endstream")
# Between a dictionary's ">>" and "stream": whitespace and comments only.
_GAP = re.compile(rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*)*")
_FIRST_CHUNK = 1 << 8  # the first chunk of a stream with no trusted length (doubling up to _CHUNK)
_DICT_WINDOW = 1 << 20  # how far back from "stream" its dictionary's object header is looked for
_MAX_OBJ_WORDS = 64  # "obj" words looked at, in that window, for a header
_MAX_HEADERS = 3  # headers tried, in that window
_ABBREVIATIONS = {b"Fl": b"FlateDecode", b"LZW": b"LZWDecode", b"RL": b"RunLengthDecode"}
_ABBREVIATIONS.update({b"AHx": b"ASCIIHexDecode", b"A85": b"ASCII85Decode"})
# The most output one input byte can give: Flate 1032:1, LZW a 4096-byte string per 9-bit code,
# RunLength 128 bytes per 2, ASCII85 4 per "z"; ASCIIHex shrinks. A filter the scan cannot name
# (an indirect reference, an unknown name) is taken for Flate.
_EXPANSION = {b"FlateDecode": 1032, b"LZWDecode": 3641, b"RunLengthDecode": 64, b"ASCII85Decode": 4}
_UNKNOWN = b"an indirect filter"
_DECODED_TO_PIXELS = frozenset({b"DCTDecode", b"JPXDecode", b"JBIG2Decode", b"CCITTFaxDecode", b"Crypt"})
_CODED = frozenset({b"DCTDecode", b"JPXDecode"})  # images whose header states their size
_CODED_HEAD = 1 << 20  # how much of a filtered JPEG is decoded to find its header


@dataclasses.dataclass(frozen=True)
class StreamScan:
    """What the pre-scan saw.

    Attributes:
        streams: Streams found.
        decoded: Streams that had to be decoded to be sure (the others were bounded by their length).
        decoded_bytes: Bytes those decoded to, in all.
        sized: Flate images bounded by their declared size instead of being inflated (only with
            ``images_by_size=True``).
    """

    streams: int
    decoded: int
    decoded_bytes: int
    sized: int = 0


@dataclasses.dataclass
class _Stream:
    number: int
    start: int
    end: int
    bounded: bool
    # None: the dictionary could not be read, so its filters are unknown (Flate is assumed).
    entries: dict[bytes, list[bytes]] | None


def scan_pdf(
    data: bytes,
    limits: RenderLimits,
    *,
    document_id: str,
    deadline: Deadline | None = None,
    images_by_size: bool = False,
) -> StreamScan:
    """Checks every stream of a PDF against the limits, before any PDF library parses it.

    Args:
        data: The PDF bytes.
        limits: ``max_stream_bytes`` and ``max_image_pixels`` apply.
        document_id: For error context.
        deadline: Spent while scanning, and checked between chunks.
        images_by_size: Check Flate images by the size their dictionary declares, without
            inflating them. Only sound when pdfium runs under an enforced address-space limit
            (see the module docstring and :func:`~invoiceai.render.pdf.sandbox.bounds_memory`).

    Returns:
        What was scanned.

    Raises:
        StreamTooLargeError: A stream inflates past ``max_stream_bytes`` (stopped right there).
        DecompressionBombError: An image declares more than ``max_image_pixels`` pixels.
        RenderTimeoutError: The deadline passed while scanning.
    """
    work = _Work(4 * len(data) + limits.max_stream_bytes, limits, document_id)
    references = References(data, work.charge)
    streams = decoded = decoded_bytes = 0
    candidates: list[tuple[_Stream, list[bytes]]] = []  # images that may be checked by size
    object_streams = False
    for stream in _streams(data, work):
        streams += 1
        if deadline is not None and streams % 64 == 0:
            deadline.check(document_id=document_id)
        _resolve(stream, references)
        _check_pixels(stream, limits, document_id)
        filters = _filters(stream.entries)
        _check_coded_pixels(data, stream, filters, limits, document_id, work)
        # An object stream's references are compressed, out of the reference count's sight (pdfium
        # needs its /N and /First; an ICC profile has /N only).
        object_streams = object_streams or stream.entries is None or {b"/N", b"/First"} <= stream.entries.keys()
        if not _needs_decoding(stream, filters, limits):
            continue
        if images_by_size and _sized_image(stream, filters, limits):
            candidates.append((stream, filters))
            continue
        decoded += 1
        decoded_bytes += _decoded_size(data, stream, filters, limits, document_id, deadline, work)
    uses = ImageUses(data, references, work.charge) if candidates and not object_streams else None
    unsized = [(s, f) for s, f in candidates if uses is None or not uses.only_drawn(s.number)]
    for stream, filters in unsized:
        decoded += 1
        decoded_bytes += _decoded_size(data, stream, filters, limits, document_id, deadline, work)
    sized = len(candidates) - len(unsized)
    return StreamScan(streams=streams, decoded=decoded, decoded_bytes=decoded_bytes, sized=sized)


class _Work:
    """The document's work budget: bytes searched for dictionaries and fed to decoders, in all.

    Each stream keyword is looked at, even inside another stream's data (an object hidden there
    is one pdfium may find), so a file made of stream keywords or of streams that decode to the
    end of the file could cost time quadratic in its size; the budget keeps it linear.
    """

    def __init__(self, budget: int, limits: RenderLimits, document_id: str) -> None:
        self.budget = budget
        self.spent = 0
        self.limits = limits
        self.document_id = document_id

    def charge(self, size: int) -> None:
        self.spent += size
        if self.spent > self.budget:
            limit = self.limits.max_stream_bytes
            raise StreamTooLargeError(
                f"The PDF's streams take more work to check than a file of its size should ({self.spent:,} bytes "
                f"searched or decoded, more than four times the file plus the max_stream_bytes limit of {limit:,}); "
                "it looks like a decompression bomb. Raise Settings(max_stream_bytes=...) "
                "(INVOICEAI_MAX_STREAM_BYTES) if the file is trusted.",
                setting="max_stream_bytes",
                limit=limit,
                found=self.spent,
                document_id=self.document_id,
            )


def _streams(data: bytes, work: _Work) -> Iterator[_Stream]:
    # Plain substring searches: a regex over the whole file (binary data included) costs ten
    # times more. Every keyword is looked at, also inside another stream's data.
    position = 0
    while True:
        keyword = data.find(b"stream", position)
        if keyword < 0:
            return
        position = keyword + 6
        if keyword and data[keyword - 1 : keyword].isalnum():
            continue  # "endstream", or a longer word
        eol = _EOL.match(data, position)
        if eol is None:
            continue
        number, entries = _dictionary_before(data, keyword, work)
        start = eol.end()
        end, bounded = _stream_end(data, start, entries)
        yield _Stream(number=number, start=start, end=end, bounded=bounded, entries=entries)


def _dictionary_before(data: bytes, keyword: int, work: _Work) -> tuple[int, dict[bytes, list[bytes]] | None]:
    # The stream's dictionary runs from its object header to the keyword. A header-like text
    # inside the dictionary (a string "(9 0 obj)") would cut it short, so the parse must close
    # exactly at the keyword; otherwise the header before is tried. "obj" words with no header
    # before them (in a string) are passed over.
    window = max(0, keyword - _DICT_WINDOW)
    search_end = keyword
    headers = 0
    for _ in range(_MAX_OBJ_WORDS):
        found = data.rfind(b"obj", window, search_end)
        if found < 0:
            search_end = window
            break
        search_end = found
        header = _HEADER_BEFORE.search(data, max(0, found - 24), found)
        if header is None or data[found + 3 : found + 4].isalnum():
            continue
        work.charge(keyword - found)  # the parse
        entries, closed = top_level_entries(data, found + 3, keyword)
        if closed is not None and _GAP.fullmatch(data, closed, keyword):
            work.charge(keyword - search_end)  # the search
            return int(header.group(1)), entries
        headers += 1
        if headers >= _MAX_HEADERS:
            break
    work.charge(keyword - search_end)
    return 0, None


def _stream_end(data: bytes, start: int, entries: dict[bytes, list[bytes]] | None) -> tuple[int, bool]:
    # pdfium trusts a direct /Length when "endstream" follows it; then the stream is exactly that
    # long. Otherwise it may read further, so only the decoders' own end markers bound it here.
    length = entries.get(b"/Length", []) if entries is not None else []
    if len(length) == 1 and length[0].isdigit() and len(length[0]) < 12:
        end = start + int(length[0])
        if end <= len(data) and _ENDSTREAM.match(data, end):
            return end, True
    return len(data), False


def _filters(entries: dict[bytes, list[bytes]] | None) -> list[bytes]:
    if entries is None:
        return [b"FlateDecode"]
    names: list[bytes] = []
    for token in entries.get(b"/Filter", []):
        if token.startswith(b"/"):
            names.append(_ABBREVIATIONS.get(token[1:], token[1:]))
        elif token == b"R":
            names.append(_UNKNOWN)  # an indirect filter name (or array): it may be Flate
    return names


def _resolve(stream: _Stream, references: References) -> None:
    # pdfium follows a reference in /Filter or /DecodeParms; so must the scan (see pdfsyntax.py).
    entries = stream.entries
    if entries is None:
        return
    for key in (b"/Filter", b"/DecodeParms"):
        if b"R" in entries.get(key, ()):
            entries[key] = resolve_tokens(entries[key], references)


def _check_pixels(stream: _Stream, limits: RenderLimits, document_id: str) -> None:
    if stream.entries is None or stream.entries.get(b"/Subtype") != [b"/Image"]:
        return
    width, height = _number(stream.entries.get(b"/Width")), _number(stream.entries.get(b"/Height"))
    _refuse_pixels(stream, width, height, "", limits, document_id)


def _check_coded_pixels(
    data: bytes, stream: _Stream, filters: list[bytes], limits: RenderLimits, document_id: str, work: _Work
) -> None:
    # pdfium sizes a JPEG or JPEG 2000 image by its own header, whatever /Width and /Height say.
    coded = next((position for position, name in enumerate(filters) if name in _CODED), None)
    if coded is None:
        return
    if coded == 0:
        head: bytes | memoryview = memoryview(data)[stream.start : stream.end]
    else:
        head = _decoded_head(data, stream, filters[:coded], work)
    size = coded_size(head, filters[coded])
    if size is not None:
        _refuse_pixels(stream, *size, f" in its {filters[coded].decode()} data", limits, document_id)


def _decoded_head(data: bytes, stream: _Stream, filters: list[bytes], work: _Work) -> bytes:
    chunks: Iterable[bytes] = _raw_chunks(data, stream.start, stream.end, _FIRST_CHUNK, work)
    for name in filters:
        chunks = DECODERS.get(name, DECODERS[b"FlateDecode"])(chunks, stream.entries or {})
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= _CODED_HEAD:
            break
    return bytes(head)


def _refuse_pixels(
    stream: _Stream, width: int, height: int, where: str, limits: RenderLimits, document_id: str
) -> None:
    pixels = width * height
    if pixels > limits.max_image_pixels:
        raise DecompressionBombError(
            f"An image inside the PDF (object {stream.number}) is {width:,}x{height:,} pixels{where}, more than the "
            f"max_image_pixels limit of {limits.max_image_pixels:,}; it may be a decompression bomb. Raise "
            "Settings(max_image_pixels=...) (INVOICEAI_MAX_IMAGE_PIXELS) if the file is trusted.",
            setting="max_image_pixels",
            limit=limits.max_image_pixels,
            found=pixels,
            document_id=document_id,
        )


def _needs_decoding(stream: _Stream, filters: list[bytes], limits: RenderLimits) -> bool:
    cap = max(limits.max_stream_bytes, _raster_size(stream.entries, limits))
    if not stream.bounded:
        return True
    expansion = 1
    for name in filters:
        if name in _DECODED_TO_PIXELS:
            break
        expansion *= _EXPANSION.get(name, 1) if name in DECODERS else _EXPANSION[b"FlateDecode"]
    return (stream.end - stream.start) * expansion > cap


def _decoded_size(
    data: bytes,
    stream: _Stream,
    filters: list[bytes],
    limits: RenderLimits,
    document_id: str,
    deadline: Deadline | None,
    work: _Work,
) -> int:
    first = _CHUNK if stream.bounded else _FIRST_CHUNK
    chunks: Iterable[bytes] = _raw_chunks(data, stream.start, stream.end, first, work)
    entries = stream.entries or {}
    decoders = 0
    for name in filters:
        if name in _DECODED_TO_PIXELS:
            break  # bounded by the pixel check
        # A filter the scan cannot name may be Flate; data zlib rejects pdfium cannot inflate either.
        decoder = DECODERS.get(name, DECODERS[b"FlateDecode"])
        chunks = _capped(decoder(chunks, entries), stream, name, limits, document_id, deadline)
        decoders += 1
    if not decoders:
        return 0
    total = 0
    for chunk in chunks:
        total += len(chunk)
    return total


def _capped(
    chunks: Iterable[bytes],
    stream: _Stream,
    name: bytes,
    limits: RenderLimits,
    document_id: str,
    deadline: Deadline | None,
) -> Iterator[bytes]:
    total = 0
    cap = max(limits.max_stream_bytes, _raster_size(stream.entries, limits))
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise StreamTooLargeError(
                f"A stream in the PDF (object {stream.number}, {name.decode('latin-1')}) inflates to more than the "
                f"max_stream_bytes limit of {cap:,} bytes (stopped at {total:,}); it looks like a decompression "
                "bomb. Raise Settings(max_stream_bytes=...) (INVOICEAI_MAX_STREAM_BYTES) if the file is trusted.",
                setting="max_stream_bytes",
                limit=cap,
                found=total,
                document_id=document_id,
            )
        if deadline is not None:
            deadline.check(document_id=document_id)
        yield chunk


def _raster_size(entries: dict[bytes, list[bytes]] | None, limits: RenderLimits) -> int:
    """Returns the bytes an image stream's pixels take, as its dictionary declares them (0 for others).

    A legitimate image inflates to exactly its raster (plus a predictor byte a row), which may be
    more than ``max_stream_bytes`` for a big scan; the pixel check bounds it instead, at three bytes
    a pixel. (A content stream dressed up as an image therefore gets this allowance too, at most
    ``3 x max_image_pixels`` bytes: 268 MB at the defaults.)
    """
    if entries is None or entries.get(b"/Subtype") != [b"/Image"]:
        return 0
    width, height = _number(entries.get(b"/Width")), _number(entries.get(b"/Height"))
    if width * height > limits.max_image_pixels:
        return 0
    space = entries.get(b"/ColorSpace", [])
    components = {b"/DeviceGray": 1, b"/DeviceCMYK": 4}.get(space[0], 3) if len(space) == 1 else 3
    bits = min(_number(entries.get(b"/BitsPerComponent")) or 8, 16)
    raster = (width * components * bits + 7) // 8 * height + height
    return min(raster, 3 * limits.max_image_pixels + height)


def _sized_image(stream: _Stream, filters: list[bytes], limits: RenderLimits) -> bool:
    # pdfium leaves a last /FlateDecode of an image to its scanline decoder (rows of the declared
    # width, at most the declared height); an earlier filter it would decode in full, so only a
    # lone Flate qualifies, and only an image whose dictionary states its size directly (an
    # indirect /Width reads as 0 here) within max_image_pixels.
    entries = stream.entries
    if filters != [b"FlateDecode"] or entries is None or entries.get(b"/Subtype") != [b"/Image"]:
        return False
    width, height = _number(entries.get(b"/Width")), _number(entries.get(b"/Height"))
    return 0 < width * height <= limits.max_image_pixels


def _number(tokens: list[bytes] | None) -> int:
    if tokens is None or len(tokens) != 1 or not tokens[0].isdigit() or len(tokens[0]) > 12:
        return 0
    return int(tokens[0])


def _raw_chunks(data: bytes, start: int, end: int, first: int, work: _Work) -> Iterator[bytes]:
    # A stream with no trusted length runs to the end of the file here, though its decoder
    # usually stops early: a small first chunk, doubling, charges about what is read.
    view = memoryview(data)
    offset, size = start, first
    while offset < end:
        chunk = bytes(view[offset : min(end, offset + size)])
        work.charge(len(chunk))
        yield chunk
        offset += len(chunk)
        size = min(2 * size, _CHUNK)
