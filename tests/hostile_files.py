"""Hostile inputs built on the fly: PDF and image bombs and the servers that trickle.

Every builder writes a small file that costs a careless reader far more than its size: a content
stream or an attachment that inflates to a gibibyte, a page tree of 100,000 pages or one page
listed 20,000 times, a dictionary nested 500,000 deep, a TIFF of 10,000 frames, and (from
:mod:`pdf_bombs`) the PDFs that get past the stream pre-scan and only a sandbox stops. The PDFs are
written by hand (objects, then a cross-reference table) so that no library's own limits shape
them. Nothing here is copied from anywhere: the tests build what they need.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import Any

from pdf_bombs import (
    FONT,
    GIB,
    PAGE_TEXT,
    deflate_repeated,
    encrypted_bomb_pdf,
    form_fanout_pdf,
    image_bomb_pdf,
    many_contents_pdf,
    many_paths_pdf,
    slow_shading_pdf,
    stream,
    write_pdf,
)

__all__ = [
    "BUILDERS",
    "GIB",
    "attachment_pdf",
    "damaged_attachment_pdf",
    "deep_dictionary_pdf",
    "deflate_zeros",
    "encrypted_bomb_pdf",
    "flate_bomb_attachment_pdf",
    "flate_bomb_content_pdf",
    "form_fanout_pdf",
    "hidden_stream_pdf",
    "many_contents_pdf",
    "many_frames_tiff",
    "many_pages_pdf",
    "many_paths_pdf",
    "many_unbounded_streams_pdf",
    "one_page_repeated_pdf",
    "scan_bypass_pdf",
    "seed_files",
    "slow_shading_pdf",
    "small_seeds",
    "write_pdf",
]


deflate_zeros = deflate_repeated
"""Deflates ``prefix`` followed by ``filler`` repeated up to ``size`` bytes (see :func:`pdf_bombs.deflate_repeated`)."""
_stream = stream
_PAGE_TEXT = PAGE_TEXT
_FONT = FONT


def flate_bomb_content_pdf(size: int = GIB) -> bytes:
    """One page whose content stream inflates to ``size`` bytes (text, then whitespace)."""
    content = deflate_zeros(size, prefix=_PAGE_TEXT + b"\n")
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(content, b"/Filter /FlateDecode "),
            _FONT,
        ]
    )


def _one_page(*objects: bytes) -> bytes:
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            *objects,
        ]
    )


def scan_bypass_pdf(data: bytes, stream_dict: bytes, *, keyword: bytes = b"stream\n") -> bytes:
    """One page whose content stream (object 4) holds ``data`` under ``stream_dict``, written as given.

    Object 6 is the name ``/FlateDecode``, for a dictionary that refers to its filter
    (``/Filter 6 0 R``). ``keyword`` is what follows the dictionary up to the stream's data.
    """
    content = b"<< %s /Length %d >>\n" % (stream_dict, len(data)) + keyword + data + b"\nendstream"
    return _one_page(content, _FONT, b"/FlateDecode")


def hidden_stream_pdf(data: bytes) -> bytes:
    """One page whose Flate content stream holding ``data`` hides inside the data of another stream.

    The cross-reference table points at object 4 inside object 6's data, where pdfium finds it;
    a scan that jumps over each stream's data never sees it.
    """
    hidden = b"\n4 0 obj\n" + _stream(data, b"/Filter /FlateDecode ") + b"\nendobj\n"
    carrier = _stream(hidden)
    pdf = _one_page(b"null", _FONT, carrier)
    offset = pdf.index(b"\n4 0 obj\n", pdf.index(b"6 0 obj")) + 1
    table = pdf.index(b"xref\n")
    entry = table + len(b"xref\n0 7\n") + 4 * 20
    return pdf[:entry] + b"%010d 00000 n \n" % offset + pdf[entry + 20 :]


def many_unbounded_streams_pdf(count: int, size: int) -> bytes:
    """``count`` RunLength streams of ``size`` bytes with an indirect ``/Length`` and no end-of-data mark.

    With no length to trust, each one decodes to the end of the file: quadratic work for a scan
    with no budget.
    """
    body = b"A" * size
    stream = b"<< /Length 6 0 R /Filter /RunLengthDecode >>\nstream\n" + body + b"\nendstream"
    return _one_page(_stream(_PAGE_TEXT), _FONT, b"%d" % size, *([stream] * count))


def flate_bomb_attachment_pdf(size: int = GIB, *, name: bytes = b"factur-x.xml") -> bytes:
    """A readable one-page PDF whose embedded ``factur-x.xml`` inflates to ``size`` bytes."""
    xml = deflate_zeros(size, prefix=b'<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice>')
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(%s) 6 0 R] >> >> "
            b"/AF [6 0 R] >>" % name,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(_PAGE_TEXT),
            _FONT,
            b"<< /Type /Filespec /F (%s) /UF (%s) /AFRelationship /Data /EF << /F 7 0 R >> >>" % (name, name),
            _stream(xml, b"/Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode "),
        ]
    )


def _kids(count: int, page_object: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"%d 0 R" % page_object


def many_pages_pdf(count: int = 100_000) -> bytes:
    """``count`` distinct pages sharing one small content stream."""
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(count))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    )

    def objects() -> Iterator[bytes]:
        yield b"<< /Type /Catalog /Pages 2 0 R >>"
        yield b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count)
        yield _stream(_PAGE_TEXT)
        yield _FONT
        for _ in range(count):
            yield page

    return write_pdf(objects())


def one_page_repeated_pdf(count: int = 20_000) -> bytes:
    """A page tree whose ``/Kids`` lists the same page object ``count`` times."""
    kids = b" ".join(_kids(count, 3))
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(_PAGE_TEXT),
            _FONT,
        ]
    )


def deep_dictionary_pdf(depth: int = 500_000) -> bytes:
    """A one-page PDF whose page carries a dictionary nested ``depth`` levels deep."""
    nested = b"<< /A " * depth + b"1" + b" >>" * depth
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> /Deep " + nested + b" >>",
            _stream(_PAGE_TEXT),
            _FONT,
        ]
    )


def many_frames_tiff(count: int = 10_000, size: tuple[int, int] = (16, 16)) -> bytes:
    """A little-endian TIFF of ``count`` one-bit frames that all point at the same strip.

    Written by hand: Pillow's writer needs tens of seconds for 10,000 frames, this takes
    milliseconds, and every frame is still a valid, decodable page.
    """
    import struct

    width, height = size
    strip = bytes([0b10101010] * ((width + 7) // 8 * height))
    header = 8
    strip_offset = header
    first_ifd = strip_offset + len(strip) + (len(strip) & 1)
    entries = 9
    ifd_size = 2 + entries * 12 + 4
    out = io.BytesIO()
    out.write(b"II*\x00" + struct.pack("<I", first_ifd))
    out.write(strip + b"\x00" * (len(strip) & 1))
    for index in range(count):
        offset = first_ifd + index * ifd_size
        following = offset + ifd_size if index + 1 < count else 0
        tags = [
            (256, 3, 1, width),  # ImageWidth
            (257, 3, 1, height),  # ImageLength
            (258, 3, 1, 1),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
            (273, 4, 1, strip_offset),  # StripOffsets
            (277, 3, 1, 1),  # SamplesPerPixel
            (278, 3, 1, height),  # RowsPerStrip
            (279, 4, 1, len(strip)),  # StripByteCounts
        ]
        out.write(struct.pack("<H", entries))
        for tag, kind, number, value in tags:
            packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
            out.write(struct.pack("<HHI", tag, kind, number) + packed)
        out.write(struct.pack("<I", following))
    return out.getvalue()


def attachment_pdf(filespec: bytes, *extra: bytes, names: bytes = b"(factur-x.xml) 6 0 R", af: bool = True) -> bytes:
    """A readable one-page PDF whose object 6 is ``filespec`` and 7, 8, ... are ``extra``.

    The EmbeddedFiles name tree lists ``names`` and, with ``af``, the catalog's ``/AF`` array
    lists object 6, so both the pdfium scan and the pypdf fallback reach the attachment.
    """
    associated = b"/AF [6 0 R] " if af else b""
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [%s] >> >> %s>>" % (names, associated),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(_PAGE_TEXT),
            _FONT,
            filespec,
            *extra,
        ]
    )


_FILESPEC = b"<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /AFRelationship /Data /EF << /F 7 0 R >> >>"
_CII_START = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<rsm:CrossIndustryInvoice "
    b"xmlns:rsm='urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100'>"
)


def damaged_attachment_pdf(kind: str) -> bytes:
    """A PDF with readable pages whose ``factur-x.xml`` attachment is damaged in one way.

    ``kind`` is one of :data:`ATTACHMENT_DAMAGE`: ``"truncated_xml"`` (not well-formed),
    ``"flate_garbage"`` (declared Flate, holds no deflate data), ``"swapped_filters"`` (a filter
    array in the wrong order), ``"not_xml"`` (binary junk), ``"dangling_name_tree"`` (the name
    tree points at an object that does not exist: pdfium counts the attachment but fails to get
    it) and ``"filespec_not_dict"`` (the name tree points at a string).
    """
    import binascii

    xml_type = b"/Type /EmbeddedFile /Subtype /text#2Fxml "
    if kind == "truncated_xml":
        return attachment_pdf(_FILESPEC, _stream(_CII_START + b"<rsm:ExchangedDocument><ram:ID>4", xml_type))
    if kind == "flate_garbage":
        return attachment_pdf(
            _FILESPEC, _stream(b"this is not deflate data " * 40, xml_type + b"/Filter /FlateDecode ")
        )
    if kind == "swapped_filters":
        data = binascii.hexlify(zlib.compress(_CII_START + b"</rsm:CrossIndustryInvoice>")) + b">"
        return attachment_pdf(_FILESPEC, _stream(data, xml_type + b"/Filter [/FlateDecode /ASCIIHexDecode] "))
    if kind == "not_xml":
        return attachment_pdf(_FILESPEC, _stream(bytes(range(256)) * 8, xml_type))
    if kind == "dangling_name_tree":
        return attachment_pdf(b"<< /Type /Filespec /F (x.txt) >>", names=b"(factur-x.xml) 99 0 R", af=False)
    if kind == "filespec_not_dict":
        return attachment_pdf(b"(factur-x.xml)", names=b"(factur-x.xml) 6 0 R")
    raise ValueError(f"unknown attachment damage {kind!r}; one of {ATTACHMENT_DAMAGE}")


ATTACHMENT_DAMAGE = (
    "truncated_xml",
    "flate_garbage",
    "swapped_filters",
    "not_xml",
    "dangling_name_tree",
    "filespec_not_dict",
)


def _invoice_pdf(pages: int) -> bytes:
    # An ordinary scanned invoice, for comparing the bombs' cost with a normal document's.
    from documents_factory import pdf_invoice

    return pdf_invoice("1", pages=pages)


BUILDERS = {
    "flate_bomb_content_pdf": flate_bomb_content_pdf,
    "flate_bomb_attachment_pdf": flate_bomb_attachment_pdf,
    "many_pages_pdf": many_pages_pdf,
    "one_page_repeated_pdf": one_page_repeated_pdf,
    "deep_dictionary_pdf": deep_dictionary_pdf,
    "many_frames_tiff": many_frames_tiff,
    "damaged_attachment_pdf": damaged_attachment_pdf,
    "encrypted_bomb_pdf": encrypted_bomb_pdf,
    "many_contents_pdf": many_contents_pdf,
    "form_fanout_pdf": form_fanout_pdf,
    "many_paths_pdf": many_paths_pdf,
    "slow_shading_pdf": slow_shading_pdf,
    "image_bomb_pdf": image_bomb_pdf,
    "image_drawn_pdf": lambda size=GIB: image_bomb_pdf(size, as_contents=False),
    "invoice_pdf": lambda pages=1: _invoice_pdf(pages),
}
"""The builders a child process can be asked to run by name (see :func:`fuzzing.run_isolated`)."""


def _undated(pdf: bytes) -> bytes:
    # Pillow stamps the time into the PDF; a fixed one of the same length keeps cases reproducible.
    import re

    return re.sub(rb"D:\d{14}", b"D:20260101000000", pdf)


def small_seeds() -> dict[str, Any]:
    """Small versions of every hostile file, plus ordinary invoices: seed files for the fuzzer.

    Values are loaders (``() -> bytes``) so that listing the seeds costs nothing.
    """
    from documents_factory import SAMPLE_FACTURX, pdf_invoice, png_invoice

    seeds: dict[str, Any] = {
        "generated/invoice.pdf": lambda: _undated(pdf_invoice("1", pages=2)),
        "generated/invoice.png": png_invoice,
        "generated/sample-facturx.pdf": SAMPLE_FACTURX.read_bytes,
        "generated/content-bomb-8M.pdf": lambda: flate_bomb_content_pdf(8 * 1024 * 1024),
        "generated/attachment-bomb-8M.pdf": lambda: flate_bomb_attachment_pdf(8 * 1024 * 1024),
        "generated/pages-300.pdf": lambda: many_pages_pdf(300),
        "generated/repeated-300.pdf": lambda: one_page_repeated_pdf(300),
        "generated/deep-5000.pdf": lambda: deep_dictionary_pdf(5000),
        "generated/frames-40.tiff": lambda: many_frames_tiff(40),
    }
    for kind in ATTACHMENT_DAMAGE:
        seeds[f"generated/attachment-{kind}.pdf"] = lambda kind=kind: damaged_attachment_pdf(kind)
    return seeds


def seed_files(corpus: bool) -> list[tuple[str, Any]]:
    """The seed files, in a fixed order: generated ones, then the corpus (when present and asked for).

    Each is ``(name, loader)``; a loader returns the bytes, so listing the seeds costs nothing.
    """
    from conftest import corpus_files

    seeds: list[tuple[str, Any]] = list(small_seeds().items())
    if corpus:
        patterns = ("*/*.pdf", "*/*/*.pdf", "*/*.png", "*/*/*.jp*g", "*/*.xml", "*/*/*.xml")
        found = sorted({path for pattern in patterns for path in corpus_files(".", pattern)})
        seeds += [(str(path.name), path.read_bytes) for path in found if path.stat().st_size <= 2 * 1024 * 1024]
    return seeds


class TricklingServer:
    """A loopback HTTP server that sends its response one byte at a time.

    ``part="headers"`` trickles the status line and headers (a slow-loris answer); ``part="body"``
    sends the headers at once and then the body a byte every ``interval`` seconds. It serves any
    number of connections until :meth:`close`, each on its own thread, and never sends more than
    ``limit`` bytes, so a client that never gives up still ends.
    """

    def __init__(self, *, part: str, interval: float, limit: int = 4096) -> None:
        import socket
        import threading

        self.part = part
        self.interval = interval
        self.limit = limit
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/invoice.pdf"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: object) -> None:
        import socket

        assert isinstance(connection, socket.socket)
        body = b"%PDF-1.7\n" + b"%" * (self.limit - 9)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n" % len(body)
        head += b"X-Padding: " + b"a" * 64 + b"\r\n\r\n"
        slow, fast = (head, b"") if self.part == "headers" else (body, head)
        try:
            connection.recv(65536)
            if fast:
                connection.sendall(fast)
            for index in range(len(slow)):
                if self._stop.wait(self.interval):
                    return
                connection.sendall(slow[index : index + 1])
            if self.part == "headers":
                connection.sendall(body)
        except OSError:
            pass
        finally:
            connection.close()

    def close(self) -> None:
        """Stops serving; threads still trickling end at their next byte."""
        self._stop.set()
        self._listener.close()

    def __enter__(self) -> TricklingServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
