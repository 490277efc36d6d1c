"""The PDF stream pre-scan against files written to slip past it (render/pdf/scan.py)."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest

import hostile_files as hostile
import pdf_bombs
from invoiceai.errors import DecompressionBombError, StreamTooLargeError
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf.imagesize import coded_size
from invoiceai.render.pdf.pdfsyntax import References, resolve_tokens
from invoiceai.render.pdf.scan import scan_pdf

MIB = 1024 * 1024
BOMB = zlib.compress(b" " * (3 * MIB), 9)  # 3 MiB of content against a 1 MiB cap
SMALL = RenderLimits(max_stream_bytes=MIB)


def scan(pdf: bytes, limits: RenderLimits = SMALL) -> int:
    return scan_pdf(pdf, limits, document_id="test").decoded_bytes


@pytest.mark.parametrize(
    "pdf",
    [
        # 1. names with #xx escapes, in a filter name and in a key
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter /Fl#61teDecode"), id="escaped-filter-name"),
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filt#65r /FlateDecode"), id="escaped-key"),
        # 2. NUL and form feed are whitespace; whitespace or a comment may follow "stream"
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter\x00/FlateDecode"), id="nul-separator"),
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter /FlateDecode", keyword=b"stream\x0c\n"), id="form-feed"),
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter /FlateDecode", keyword=b"stream %c\r\n"), id="comment"),
        pytest.param(
            hostile.scan_bypass_pdf(BOMB.hex().encode() + b">", b"/Filter [/AHx /Fl]", keyword=b"%c\nstream\n"),
            id="comment-before-keyword",
        ),
        # 3. a filter the scan cannot name is taken for Flate; a dictionary with "obj" words is still read
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter 6 0 R"), id="indirect-filter"),
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter [6 0 R]"), id="indirect-filter-array"),
        pytest.param(hostile.scan_bypass_pdf(BOMB, b"/Filter /NoSuchDecode"), id="unknown-filter"),
        pytest.param(
            hostile.scan_bypass_pdf(BOMB.hex().encode() + b">", b"/Junk (obj obj obj obj) /Filter [/AHx /Fl]"),
            id="obj-words",
        ),
        # 4. ASCII85 "z" is four bytes
        pytest.param(hostile.scan_bypass_pdf(b"z" * (MIB // 2) + b"~>", b"/Filter /A85"), id="ascii85-z"),
        # 5. an object hidden inside another stream's data
        pytest.param(hostile.hidden_stream_pdf(BOMB), id="hidden-in-stream"),
    ],
)
def test_a_bomb_written_to_slip_past_the_scan_is_stopped(pdf: bytes) -> None:
    with pytest.raises(StreamTooLargeError, match="max_stream_bytes"):
        scan(pdf)
    scan(pdf, RenderLimits(max_stream_bytes=64 * MIB))  # under a cap above it, no error


def test_data_zlib_rejects_under_an_unnamed_filter_cannot_grow() -> None:
    assert scan(hostile.scan_bypass_pdf(bytes(range(256)) * 8000, b"/Filter 6 0 R")) == 0


@pytest.mark.parametrize(
    "pdf",
    [
        pytest.param(hostile.many_unbounded_streams_pdf(600, 3000), id="unbounded-run-length"),
        pytest.param(b"%PDF-1.7\n" + b"stream\nendstream\n" * 100_000, id="stream-words"),
    ],
)
def test_work_is_linear_in_the_file_size(pdf: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(StreamTooLargeError, match="more work to check") as caught:
        scan(pdf, RenderLimits(max_stream_bytes=4 * MIB))
    assert caught.value.setting == "max_stream_bytes"
    assert time.perf_counter() - started < 5


def test_many_streams_with_indirect_lengths_stay_within_the_work_budget() -> None:
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Invoice) Tj ET")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>", b"%d" % len(content)]
    objects += [b"<< /Length 3 0 R /Filter /FlateDecode >>\nstream\n" + content + b"\nendstream"] * 3000
    pdf = hostile.write_pdf(objects)
    assert scan(pdf, RenderLimits(max_stream_bytes=64 * 1024)) == 3000 * 38


# -- (h) indirect references in /Filter and /DecodeParms are followed -------------------------------


def _page_with(stream_dict: bytes, data: bytes, *objects: bytes) -> bytes:
    # Object 4 is the page's content stream; 5 the font; 6, 7, ... are ``objects``.
    return pdf_bombs.one_page(pdf_bombs.stream(data, stream_dict + b" "), pdf_bombs.FONT, *objects)


HEX_BOMB = BOMB.hex().encode() + b">"


@pytest.mark.parametrize(
    ("stream_dict", "objects"),
    [
        pytest.param(b"/Filter [6 0 R /FlateDecode]", [b"/ASCIIHexDecode"], id="array-with-a-reference"),
        pytest.param(b"/Filter 6 0 R", [b"[/AHx /Fl]"], id="reference-to-an-array"),
        pytest.param(b"/Filter [6 0 R 7 0 R]", [b"/AHx", b"/FlateDecode"], id="every-filter-a-reference"),
    ],
)
def test_an_indirect_filter_is_looked_up_not_guessed(stream_dict: bytes, objects: list[bytes]) -> None:
    pdf = _page_with(stream_dict, HEX_BOMB, *objects)
    with pytest.raises(StreamTooLargeError, match="max_stream_bytes"):
        scan(pdf)


def test_the_last_definition_of_an_object_wins_and_unknown_references_stay_unknown() -> None:
    references = References(
        b"1 0 obj /FlateDecode endobj\n1 0 obj /AHx endobj\n2 0 obj << /EarlyChange 0 >> endobj", lambda size: None
    )
    assert resolve_tokens([b"[", b"1", b"0", b"R", b"]"], references) == [b"[", b"/AHx", b"]"]
    assert resolve_tokens([b"2", b"0", b"R"], references) == [b"<<", b"/EarlyChange", b"0", b">>"]
    assert resolve_tokens([b"9", b"0", b"R"], references) == [b"9", b"0", b"R"]


# -- (g) a JPEG or JPEG 2000 image is as large as its own header says ------------------------------


def _jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xda\x00\x08" + b"\x00" * 64


def _jp2_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">I4sIIHBBBB", 22, b"ihdr", height, width, 3, 7, 7, 0, 0)
    signature = struct.pack(">I4s", 12, b"jP  ") + b"\r\n\x87\n"
    ftyp = struct.pack(">I4s", 20, b"ftyp") + b"jp2 \x00\x00\x00\x00jp2 "
    return signature + ftyp + struct.pack(">I4s", 8 + len(ihdr), b"jp2h") + ihdr


def _codestream(width: int, height: int) -> bytes:
    siz = struct.pack(">HHHIIIIIIIIH", 0xFF51, 41, 0, width + 5, height + 7, 5, 7, width, height, 0, 0, 3)
    return b"\xff\x4f" + siz + b"\x07\x01\x01" * 3


IMAGE = b"/Type /XObject /Subtype /Image /Width 10 /Height 10 /ColorSpace /DeviceRGB /BitsPerComponent 8"


@pytest.mark.parametrize(
    ("filters", "data"),
    [
        pytest.param(b"/DCTDecode", _jpeg_header(60_000, 60_000), id="jpeg"),
        pytest.param(b"/DCTDecode", b"\x00junk" + _jpeg_header(60_000, 60_000), id="jpeg-after-junk"),
        pytest.param(b"[/FlateDecode /DCTDecode]", zlib.compress(_jpeg_header(60_000, 60_000)), id="flate-jpeg"),
        pytest.param(b"/JPXDecode", _jp2_header(50_000, 50_000), id="jp2"),
        pytest.param(b"/JPXDecode", _codestream(50_000, 50_000), id="j2k-codestream"),
    ],
)
def test_an_image_header_larger_than_its_dictionary_is_refused(filters: bytes, data: bytes) -> None:
    pdf = _page_with(IMAGE + b" /Filter " + filters, data)
    with pytest.raises(DecompressionBombError, match="max_image_pixels") as caught:
        scan(pdf)
    assert caught.value.setting == "max_image_pixels"
    assert caught.value.found in (60_000 * 60_000, 50_000 * 50_000)


def test_real_image_headers_are_read_exactly() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (123, 45), "white").save(out, "JPEG", exif=b"Exif\x00\x00" + b"\x00" * 2000)
    assert coded_size(out.getvalue(), b"DCTDecode") == (123, 45)
    assert coded_size(_jp2_header(640, 480), b"JPXDecode") == (640, 480)
    assert coded_size(_codestream(640, 480), b"JPXDecode") == (640, 480)
    assert coded_size(b"not an image", b"DCTDecode") is None
    pdf = _page_with(
        IMAGE.replace(b"/Width 10 /Height 10", b"/Width 123 /Height 45") + b" /Filter /DCTDecode", out.getvalue()
    )
    assert scan_pdf(pdf, RenderLimits(), document_id="test").streams == 1


# --- images checked by their declared size (images_by_size, when the sandbox binds pdfium) ------------

FLATE_IMAGE = IMAGE.replace(b"/Width 10 /Height 10", b"/Width 1000 /Height 1000") + b" /Filter /FlateDecode"
BIG_RASTER = zlib.compress(b"\x80" * (20 * MIB))  # far more than the 3 MB 1000 x 1000 RGB raster


DRAW = pdf_bombs.stream(b"q 300 0 0 300 72 400 cm /Im1 Do Q " + pdf_bombs.PAGE_TEXT)


def _drawn(stream_dict: bytes, data: bytes, *objects: bytes, resources: bytes = b"") -> bytes:
    # Object 4 draws object 6 (the image) as /Im1; 5 is the font; 7, 8, ... are ``objects``.
    return pdf_bombs.one_page(
        DRAW,
        pdf_bombs.FONT,
        pdf_bombs.stream(data, stream_dict + b" "),
        *objects,
        resources=b"<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> %s>>" % resources,
    )


def test_a_flate_image_is_checked_by_its_declared_size_without_inflating() -> None:
    pdf = _drawn(FLATE_IMAGE, BIG_RASTER)
    with pytest.raises(StreamTooLargeError):  # inflated, past its raster: refused
        scan(pdf)
    found = scan_pdf(pdf, SMALL, document_id="test", images_by_size=True)
    assert (found.sized, found.decoded, found.decoded_bytes) == (1, 0, 0)


def test_an_image_s_masks_are_checked_by_size_too() -> None:
    mask = pdf_bombs.stream(BIG_RASTER, FLATE_IMAGE.replace(b"/DeviceRGB", b"/DeviceGray") + b" ")
    pdf = _drawn(FLATE_IMAGE + b" /SMask 7 0 R /Mask 8 0 R", BIG_RASTER, mask, mask)
    found = scan_pdf(pdf, SMALL, document_id="test", images_by_size=True)
    assert (found.sized, found.decoded) == (3, 0)


FONT_PROGRAM = (
    b"<< /Type /Font /Subtype /TrueType /BaseFont /X /FirstChar 32 /LastChar 32 /Widths [500] /FontDescriptor 8 0 R >>",
    b"<< /Type /FontDescriptor /FontName /X /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 "
    b"/Descent -200 /CapHeight 700 /StemV 80 /FontFile2 6 0 R >>",
)


@pytest.mark.parametrize(
    ("extra", "objects"),
    [
        # pdfium inflates the stream in full when it is also one of these: the declared size binds nothing
        pytest.param(b"/Font << /F2 7 0 R >> ", FONT_PROGRAM, id="font-program"),
        pytest.param(b"", (b"<< /Type /Annot /Subtype /Stamp /Rect [0 0 9 9] /AP << /N 6 0 R >> >>",), id="annotation"),
        pytest.param(b"/Pattern << /P1 6 0 R >> ", (), id="tiling-pattern"),
        pytest.param(b"", (b"<< /Type /Page /Contents [4 0 R\n6 0 %a comment\nR] >>",), id="contents"),
    ],
)
def test_an_image_also_used_elsewhere_is_inflated(extra: bytes, objects: tuple[bytes, ...]) -> None:
    pattern = b" /PatternType 1 /PaintType 1 /TilingType 1 /BBox [0 0 10 10] /XStep 10 /YStep 10 /Resources << >>"
    pdf = _drawn(FLATE_IMAGE + pattern, BIG_RASTER, *objects, resources=extra)
    with pytest.raises(StreamTooLargeError, match="object 6"):
        scan_pdf(pdf, SMALL, document_id="test", images_by_size=True)
    with pytest.raises(StreamTooLargeError, match="object 4"):  # drawn nowhere: its only use is the page's contents
        scan_pdf(_page_with(FLATE_IMAGE, BIG_RASTER), SMALL, document_id="test", images_by_size=True)


def test_images_are_inflated_in_a_file_with_object_streams() -> None:
    # The references inside an object stream are compressed: the scan cannot see how the image is used.
    object_stream = pdf_bombs.stream(zlib.compress(b"8 0 9 0 << >> << >>"), b"/Type /ObjStm /N 2 /First 8")
    with pytest.raises(StreamTooLargeError, match="object 6"):
        scan_pdf(_drawn(FLATE_IMAGE, BIG_RASTER, object_stream), SMALL, document_id="test", images_by_size=True)


@pytest.mark.parametrize(
    "stream_dict",
    [
        # pdfium decodes every filter but a last Flate in full: these are inflated and capped as before
        pytest.param(FLATE_IMAGE.replace(b"/FlateDecode", b"[/FlateDecode /FlateDecode]"), id="flate-twice"),
        pytest.param(FLATE_IMAGE.replace(b"/Width 1000", b"/Width 7 0 R"), id="indirect-width"),
        pytest.param(FLATE_IMAGE.replace(b"/Subtype /Image", b"/Subtype /Form"), id="not-an-image"),
        pytest.param(FLATE_IMAGE.replace(b"/Height 1000", b""), id="no-height"),
    ],
)
def test_only_a_lone_flate_image_of_a_stated_size_escapes_inflating(stream_dict: bytes) -> None:
    data = zlib.compress(BIG_RASTER) if b"[/FlateDecode /FlateDecode]" in stream_dict else BIG_RASTER
    pdf = _drawn(stream_dict, data, b"1000")
    with pytest.raises(StreamTooLargeError):
        scan_pdf(pdf, SMALL, document_id="test", images_by_size=True)


def test_an_image_over_the_pixel_limit_is_still_refused_by_its_declared_size() -> None:
    image = IMAGE.replace(b"/Width 10 /Height 10", b"/Width 2000 /Height 1000")
    pdf = _page_with(image + b" /Filter /FlateDecode", zlib.compress(b"\x00"))
    limits = RenderLimits(max_image_pixels=1_000_000)
    with pytest.raises(DecompressionBombError, match="max_image_pixels"):
        scan_pdf(pdf, limits, document_id="test", images_by_size=True)


def test_images_are_checked_by_size_only_where_the_sandbox_binds_pdfium() -> None:
    # The same drawn image, inflating far past its raster: refused in this process, drawn in the sandbox.
    import sys

    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget
    from invoiceai.render.pdf import PdfRenderer

    document = Document.from_bytes(_drawn(FLATE_IMAGE, BIG_RASTER))
    budget = ImageBudget(max_long_edge=400, max_pixels=160_000)

    def render(render_memory_limit: int) -> list[int]:
        renderer = PdfRenderer(limits=RenderLimits(max_stream_bytes=MIB, render_memory_limit=render_memory_limit))
        source = renderer.open(document)
        try:
            return [page.index for page in source.render(budget)]
        finally:
            source.close()

    with pytest.raises(StreamTooLargeError, match="object 6"):
        render(0)
    if sys.platform.startswith("linux"):
        assert render(2**31 + 3 * 4096) == [0]
    else:
        with pytest.raises(StreamTooLargeError, match="object 6"):
            render(2**31 + 3 * 4096)


def test_an_indirect_xobject_dictionary_counts_only_when_used_as_one() -> None:
    # Ghostscript writes /XObject 7 0 R; the same dictionary as an annotation's /AP would make /N its appearance.
    def pdf(*uses: bytes) -> bytes:
        return pdf_bombs.one_page(
            DRAW,
            pdf_bombs.FONT,
            pdf_bombs.stream(BIG_RASTER, FLATE_IMAGE + b" "),
            b"<< /N 6 0 R >>",
            *uses,
            resources=b"<< /Font << /F1 5 0 R >> /XObject 7 0 R >>",
        )

    assert scan_pdf(pdf(), SMALL, document_id="test", images_by_size=True).sized == 1
    with pytest.raises(StreamTooLargeError, match="object 6"):
        scan_pdf(
            pdf(b"<< /Type /Annot /Subtype /Stamp /Rect [0 0 9 9] /AP 7 0 R >>"),
            SMALL,
            document_id="test",
            images_by_size=True,
        )
