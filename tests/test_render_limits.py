"""Limits a renderer enforces before it pays for a document: pages, stream bytes, pixels, bitmap, time."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import pytest

import hostile_files as hostile
from invoiceai.config import Settings
from invoiceai.documents import Document
from invoiceai.errors import (
    DecompressionBombError,
    DocumentTooLargeError,
    InvoiceAIError,
    RenderTimeoutError,
    RenderTooLargeError,
    StreamTooLargeError,
    TooManyPagesError,
)
from invoiceai.pages import ImageBudget
from invoiceai.render import ImageRenderer, PdfRenderer, RendererRegistry, open_document
from invoiceai.render.frames import count_tiff_frames
from invoiceai.render.limits import Deadline, RenderLimits
from invoiceai.render.pdf.scan import scan_pdf
from render_fixtures import build_pdf, invoice_page

MIB = 1024 * 1024


def one_stream_pdf(stream_dict: bytes, data: bytes, *, as_contents: bool = True) -> bytes:
    """A one-page PDF with an extra stream object (object 4) holding ``data``."""
    contents = b"/Contents 4 0 R " if as_contents else b""
    return hostile.write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + contents + b">>",
            b"<< " + stream_dict + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        ]
    )


def lzw_encode(data: bytes) -> bytes:
    """A plain LZW encoder (9-12 bit codes, EarlyChange 1), enough to build test streams."""
    table = {bytes([value]): value for value in range(256)}
    codes, current = [256], b""
    for byte in data:
        candidate = current + bytes([byte])
        if candidate in table:
            current = candidate
            continue
        codes.append(table[current])
        if len(table) + 2 < 4095:
            table[candidate] = len(table) + 2
        current = bytes([byte])
    codes += [table[current], 257]
    out, buffer, bits, size = bytearray(), 0, 0, 258
    for code in codes:
        width = min(12, size.bit_length())
        buffer, bits = (buffer << width) | code, bits + width
        while bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
        if code not in (256, 257):
            size += 1
    if bits:
        out.append((buffer << (8 - bits)) & 0xFF)
    return bytes(out)


# --- settings -----------------------------------------------------------------------------------


def test_limits_are_settings_with_documented_defaults_and_environment_variables() -> None:
    limits = RenderLimits.from_settings(Settings.load(env={"INVOICEAI_MAX_PAGES": "12"}))
    assert limits.max_pages == 12
    defaults = RenderLimits()
    assert (defaults.max_pages, defaults.max_stream_bytes, defaults.max_attachment_bytes) == (1000, 128 * MIB, 32 * MIB)
    assert (defaults.max_render_bytes, defaults.max_image_pixels) == (64 * MIB, 89_478_485)
    assert defaults.render_timeout == 120
    with pytest.raises(InvoiceAIError, match="max_pages"):
        Settings(max_pages=0)


# --- pages --------------------------------------------------------------------------------------


def test_pages_are_counted_from_the_page_tree_before_rendering() -> None:
    renderer = PdfRenderer(limits=RenderLimits(max_pages=3))
    document = Document.from_bytes(build_pdf([invoice_page(n) for n in range(1, 5)]))
    with pytest.raises(TooManyPagesError, match="max_pages") as caught:
        renderer.open(document)
    assert (caught.value.setting, caught.value.limit, caught.value.found) == ("max_pages", 3, 4)
    source = renderer.open(document, pages="2-4")  # only the selected pages count
    assert source.page_count == 3
    with pytest.raises(TooManyPagesError):
        source.with_pages(None)


def test_one_page_listed_many_times_counts_every_time() -> None:
    document = Document.from_bytes(hostile.one_page_repeated_pdf(400))
    with pytest.raises(TooManyPagesError) as caught:
        open_document(document, registry=RendererRegistry.with_builtins(settings=Settings(max_pages=250)))
    assert caught.value.found == 400


def test_a_tiff_counts_only_its_selected_frames() -> None:
    document = Document.from_bytes(hostile.many_frames_tiff(2_000))
    renderer = ImageRenderer(limits=RenderLimits(max_pages=100))
    with pytest.raises(TooManyPagesError, match="2000 frames"):
        renderer.open(document)
    pages = list(renderer.open(document, pages="1").render(ImageBudget()))
    assert [page.index for page in pages] == [0]
    assert [page.index for page in renderer.open(document, pages="1999-").render(ImageBudget())] == [1998, 1999]


def test_tiff_frames_are_counted_from_the_directory_chain_and_a_loop_ends_the_count() -> None:
    data = bytearray(hostile.many_frames_tiff(3))
    assert count_tiff_frames(bytes(data), stop_after=100) == 3
    first = int.from_bytes(data[4:8], "little")
    entries = int.from_bytes(data[first : first + 2], "little")
    data[first + 2 + entries * 12 : first + 6 + entries * 12] = first.to_bytes(4, "little")  # points at itself
    assert count_tiff_frames(bytes(data), stop_after=100) == 1
    assert count_tiff_frames(hostile.many_frames_tiff(500), stop_after=10) == 11
    assert count_tiff_frames(b"\x89PNG", stop_after=10) is None


# --- streams ------------------------------------------------------------------------------------


def test_a_content_stream_bomb_is_stopped_while_inflating() -> None:
    document = Document.from_bytes(hostile.flate_bomb_content_pdf(8 * MIB))
    with pytest.raises(StreamTooLargeError, match="max_stream_bytes") as caught:
        PdfRenderer(limits=RenderLimits(max_stream_bytes=MIB)).open(document)
    error = caught.value
    assert isinstance(error, DecompressionBombError)
    assert error.setting == "max_stream_bytes"
    assert error.found is not None
    assert MIB < error.found <= 2 * MIB  # stopped one chunk past the cap, not after 8 MiB


@pytest.mark.parametrize(
    ("stream_dict", "data"),
    [
        pytest.param(b"/Filter /RunLengthDecode", bytes([129, 0x20]) * 40_000 + b"\x80", id="run-length"),
        pytest.param(b"/Filter /LZW", lzw_encode(b" " * (3 * MIB)), id="lzw"),
        pytest.param(
            b"/Filter [/AHx /FlateDecode]", zlib.compress(b" " * (3 * MIB)).hex().encode() + b">", id="hex-then-flate"
        ),
        pytest.param(
            b"/Filter [/FlateDecode /FlateDecode]", zlib.compress(zlib.compress(b" " * (64 * MIB))), id="double"
        ),
        # A header-like string inside the dictionary must not hide the filter before it.
        pytest.param(b"/Filter /FlateDecode /X (9 0 obj)", zlib.compress(b" " * (3 * MIB)), id="fake-header"),
        # An indirect /Length: the stream is bounded only by the decoder's own end.
        pytest.param(b"/Filter /FlateDecode /L 5 0 R", zlib.compress(b" " * (3 * MIB)), id="unbounded"),
    ],
)
def test_every_expanding_filter_is_counted(stream_dict: bytes, data: bytes) -> None:
    pdf = one_stream_pdf(stream_dict, data)
    with pytest.raises(StreamTooLargeError):
        scan_pdf(pdf, RenderLimits(max_stream_bytes=MIB), document_id="test")
    assert scan_pdf(pdf, RenderLimits(max_stream_bytes=64 * MIB), document_id="test").streams == 1


def test_lzw_streams_decode_to_their_length() -> None:
    pdf = one_stream_pdf(b"/Filter /LZWDecode", lzw_encode(b"TOBEORNOTTOBEORTOBEORNOT" * 5000))
    scan = scan_pdf(pdf, RenderLimits(max_stream_bytes=200_000), document_id="test")
    assert scan.decoded_bytes == 24 * 5000


def test_short_streams_are_bounded_by_their_length_without_decoding() -> None:
    scan = scan_pdf(build_pdf([invoice_page(n) for n in range(1, 4)]), RenderLimits(), document_id="test")
    assert scan.streams >= 3
    assert scan.decoded == 0


def test_an_image_is_refused_from_its_declared_size() -> None:
    pdf = one_stream_pdf(b"/Type /XObject /Subtype /Image /Width 20000 /Height 20000", b"\x00", as_contents=False)
    with pytest.raises(DecompressionBombError, match="max_image_pixels") as caught:
        PdfRenderer().open(Document.from_bytes(pdf))
    assert caught.value.found == 400_000_000


def test_a_large_image_may_inflate_to_its_raster_size() -> None:
    raster = b"\x00" + b"\xff" * 3000  # one row of 1000 RGB pixels with its predictor byte
    stream_dict = b"/Type /XObject /Subtype /Image /Width 1000 /Height 1000 /ColorSpace /DeviceRGB "
    stream_dict += b"/BitsPerComponent 8 /Filter /FlateDecode"
    pdf = one_stream_pdf(stream_dict, zlib.compress(raster * 1000), as_contents=False)
    assert scan_pdf(pdf, RenderLimits(max_stream_bytes=MIB), document_id="test").decoded == 1
    twice = one_stream_pdf(stream_dict, zlib.compress(raster * 2000))
    with pytest.raises(StreamTooLargeError):  # more than its raster
        scan_pdf(twice, RenderLimits(max_stream_bytes=MIB), document_id="test")


@pytest.mark.parametrize(
    ("stream_dict", "data"),
    [
        pytest.param(b"/Filter /DCTDecode", zlib.compress(b"BT /F1 12 Tf (x) Tj ET " * 1000), id="dct-on-flate"),
        pytest.param(b"/Filter /FlateDecode", bytes(range(256)) * 400, id="flate-on-garbage"),
        pytest.param(b"/Filter /NoSuchDecode", b"garbage" * 1000, id="unknown-filter"),
    ],
)
def test_swapped_or_unknown_filters_end_in_a_result_or_a_typed_error(stream_dict: bytes, data: bytes) -> None:
    document = Document.from_bytes(one_stream_pdf(stream_dict, data))
    pages: list[object] = []
    with contextlib.suppress(InvoiceAIError), open_document(document) as source:
        pages = list(source.render(ImageBudget()))
    assert len(pages) in (0, 1)


def test_a_deep_dictionary_ends_quickly() -> None:
    document = Document.from_bytes(hostile.deep_dictionary_pdf(100_000))
    with open_document(document) as source:
        assert source.embedded_einvoice() is None
        assert len(list(source.render(ImageBudget()))) == 1


# --- bitmap -------------------------------------------------------------------------------------


def test_a_page_bitmap_above_its_cap_is_refused_before_it_is_allocated() -> None:
    renderer = PdfRenderer(limits=RenderLimits(max_render_bytes=1_000_000))
    source = renderer.open(Document.from_bytes(build_pdf([invoice_page()])))
    with pytest.raises(RenderTooLargeError, match="max_render_bytes") as caught:
        list(source.render(ImageBudget()))
    assert caught.value.page == 1
    assert caught.value.setting == "max_render_bytes"
    small = ImageBudget(max_long_edge=400, max_pixels=200_000)
    assert len(list(source.render(small))) == 1


# --- time ---------------------------------------------------------------------------------------


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_time_inside_the_renderer_is_spent() -> None:
    clock = StepClock()
    deadline = Deadline(5.0, clock=clock)

    def pages() -> Iterator[int]:
        for number in range(10):
            clock.now += 2.0  # rendering a page
            yield number

    seen = []

    def consume() -> None:
        for number in deadline.metered(pages()):
            seen.append(number)
            clock.now += 100.0  # the backend's time between pages does not count

    with pytest.raises(RenderTimeoutError, match="render_timeout") as caught:
        consume()
    assert seen == [0, 1]
    assert caught.value.setting == "render_timeout"
    assert caught.value.found == 6.0


def test_rendering_stops_between_pages_when_the_deadline_passes() -> None:
    clock = StepClock()

    def ticking() -> float:
        clock.now += 1.0
        return clock.now

    renderer = PdfRenderer(limits=RenderLimits(render_timeout=10.0, clock=ticking))
    source = renderer.open(Document.from_bytes(build_pdf([invoice_page(n) for n in range(1, 21)])))
    with pytest.raises(RenderTimeoutError):
        list(source.render(ImageBudget(max_long_edge=200, max_pixels=20_000)))


def test_errors_name_their_limit_and_are_document_too_large() -> None:
    for error_type in (StreamTooLargeError, TooManyPagesError, RenderTooLargeError, RenderTimeoutError):
        assert issubclass(error_type, DocumentTooLargeError)
    error = TooManyPagesError("x", setting="max_pages", limit=1, found=2)
    assert (error.setting, error.limit, error.found) == ("max_pages", 1, 2)


def test_time_queued_for_pdfium_behind_another_document_is_not_spent() -> None:
    import threading
    import time

    from invoiceai.render.limits import Deadline
    from invoiceai.render.pdf.lock import PDFIUM_LOCK

    held, release = threading.Event(), threading.Event()

    def other_document() -> None:
        with PDFIUM_LOCK:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other_document)
    thread.start()
    held.wait(10)
    deadline = Deadline(0.3)
    threading.Timer(0.8, release.set).start()
    with deadline.spending(), PDFIUM_LOCK:  # waits ~0.8 s behind the other document
        time.sleep(0.01)  # this document's own work
    thread.join(10)
    # Without the exclusion ~0.8 s would be spent, past the 0.3 s budget.
    deadline.check()
    assert deadline.spent < 0.3
