"""The PDF stream pre-scan against files written to slip past it (render/pdf/scan.py)."""

from __future__ import annotations

import time
import zlib

import pytest

import hostile_files as hostile
from invoiceai.errors import StreamTooLargeError
from invoiceai.render.limits import RenderLimits
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
