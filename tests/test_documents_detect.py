"""Media-type detection from magic bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from conftest import corpus_params
from invoiceai.documents import SUPPORTED_MEDIA_TYPES, Document, describe_unsupported, detect_media_type
from invoiceai.errors import EmptyDocumentError, UnsupportedFormatError
from render_fixtures import build_pdf, document_image, encode_image, invoice_page

SMALL = document_image((40, 30))


@pytest.mark.parametrize(
    ("fmt", "media_type", "mode"),
    [
        ("PNG", "image/png", "RGB"),
        ("JPEG", "image/jpeg", "RGB"),
        ("TIFF", "image/tiff", "RGB"),
        ("WEBP", "image/webp", "RGB"),
        ("GIF", "image/gif", "P"),
        ("BMP", "image/bmp", "RGB"),
    ],
)
def test_raster_formats_are_detected_from_their_bytes(fmt: str, media_type: str, mode: str) -> None:
    data = encode_image(SMALL.convert(mode), fmt)
    assert detect_media_type(data) == media_type


def test_big_endian_tiff_and_bigtiff_headers() -> None:
    assert detect_media_type(b"MM\x00*" + b"\x00" * 12) == "image/tiff"
    assert detect_media_type(b"II+\x00" + b"\x00" * 12) == "image/tiff"


def test_pdf_is_found_after_leading_junk_but_not_beyond_a_kilobyte() -> None:
    pdf = build_pdf([invoice_page()])
    assert detect_media_type(pdf) == "application/pdf"
    assert detect_media_type(b"\r\n  garbage from a mail gateway\n" + pdf) == "application/pdf"
    assert detect_media_type(b"x" * 2000 + pdf) is None


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><Invoice/>',
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice/>',
        b'\n\n   \t<?xml version="1.0"?><Invoice/>',
        b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>",
        b"<!-- licence text -->\n<ubl:Invoice/>",
        '<?xml version="1.0" encoding="UTF-16"?><Invoice/>'.encode("utf-16"),
        b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY a "b>c">]>\n<Invoice/>',
        b'<?xml version="1.0"?><!--' + b"x" * 70_000,  # the root lies past the sniffed bytes
    ],
)
def test_xml_is_detected_with_bom_whitespace_and_prolog(data: bytes) -> None:
    assert detect_media_type(data) == "application/xml"


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"<!DOCTYPE html><html><body>Login</body></html>", "HTML"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "HTML"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"PK\x03\x04" + b"\x00" * 40, "ZIP"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1avif" + b"\x00" * 8, "AVIF"),
        (b'{"invoice": 1}', "JSON"),
        (b"Invoice 42\nTotal 10.00\n", "plain text"),
        (b"{\\rtf1\\ansi hello}", "RTF"),
        (bytes(range(256)) * 4, "unknown binary"),
    ],
)
def test_unsupported_bytes_are_named_in_the_message(data: bytes, looks_like: str) -> None:
    assert detect_media_type(data) is None
    assert looks_like in describe_unsupported(data)
    with pytest.raises(UnsupportedFormatError, match=looks_like) as info:
        Document.from_bytes(data, name="upload.pdf")
    assert "Supported: PDF" in str(info.value)


def test_heic_and_heif_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16

    assert detect_media_type(ftyp(b"heic", b"mif1", b"heic")) == "image/heic"
    assert detect_media_type(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert detect_media_type(ftyp(b"mif1", b"mif1")) == "image/heif"
    assert detect_media_type(ftyp(b"mif1", b"mif1", b"avif")) is None
    assert detect_media_type(ftyp(b"isom", b"mp41")) is None  # an MP4 video


def test_bmp_needs_a_plausible_header_not_just_bm() -> None:
    assert detect_media_type(b"BM is how this text file starts") is None


def test_the_file_name_is_never_used(tmp_path: Path) -> None:
    png = encode_image(SMALL, "PNG")
    document = Document.from_bytes(png, name="invoice.pdf")
    assert document.media_type == "image/png"
    assert document.name == "invoice.pdf"


def test_document_id_is_the_sha256_of_the_bytes() -> None:
    data = build_pdf([invoice_page()])
    document = Document.from_bytes(data)
    assert document.document_id == hashlib.sha256(data).hexdigest()
    assert Document.from_bytes(bytes(data)).document_id == document.document_id
    other = Document.from_bytes(build_pdf([invoice_page(2)]))
    assert other.document_id != document.document_id


def test_document_is_frozen_and_copies_mutable_buffers() -> None:
    buffer = bytearray(encode_image(SMALL, "PNG"))
    document = Document(data=buffer, media_type="image/png")  # type: ignore[arg-type]
    buffer[:4] = b"XXXX"
    assert type(document.data) is bytes
    assert document.data.startswith(b"\x89PNG")
    with pytest.raises(AttributeError):
        document.media_type = "application/pdf"  # type: ignore[misc]
    assert "data" not in repr(document)


def test_empty_bytes_are_an_empty_document() -> None:
    with pytest.raises(EmptyDocumentError, match="empty"):
        Document.from_bytes(b"")


def test_every_supported_type_is_reachable() -> None:
    samples = [
        build_pdf([invoice_page()]),
        b"<?xml version='1.0'?><a/>",
        *(encode_image(SMALL.convert(mode), fmt) for fmt, mode in [("PNG", "RGB"), ("JPEG", "RGB")]),
        encode_image(SMALL, "TIFF"),
        encode_image(SMALL, "WEBP"),
        encode_image(SMALL.convert("P"), "GIF"),
        encode_image(SMALL, "BMP"),
    ]
    found = {detect_media_type(sample) for sample in samples}
    assert found <= SUPPORTED_MEDIA_TYPES
    assert len(found) == 8  # every type but HEIC/HEIF, covered by brand tests above


@pytest.mark.parametrize("path", corpus_params("einvoice", "xml/*.xml", "pdf/embedded_xml/*.xml"))
def test_corpus_xml_is_xml(path: Path) -> None:
    assert detect_media_type(path.read_bytes()) == "application/xml"


@pytest.mark.parametrize("path", corpus_params("einvoice/pdf", "*.pdf"))
def test_corpus_einvoice_pdfs_are_pdf(path: Path) -> None:
    assert detect_media_type(path.read_bytes()) == "application/pdf"


@pytest.mark.parametrize(
    "path", corpus_params("scanned", "*/*.jpg", "*/*.jpeg") + corpus_params("invoice2data", "*.png")
)
def test_corpus_images_match_what_pillow_sees(path: Path) -> None:
    with Image.open(path) as image:
        expected = Image.MIME[image.format or ""]
    assert detect_media_type(path.read_bytes()) == expected


# -- XML whose prolog is longer than the sniffed 64 KiB -------------------------------------------------

ROOT = b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>1</ID></Invoice>'
LONG = 70 * 1024  # past the 64 KiB that are sniffed first


@pytest.mark.parametrize(
    "data",
    [
        b"<!--" + b"licence " * (LONG // 8) + b"-->" + ROOT,  # a comment first, no declaration
        b"\xef\xbb\xbf<!--" + b"x" * LONG + b"-->" + ROOT,  # with a UTF-8 byte order mark
        b" \n" * (LONG // 2) + ROOT,  # only whitespace before the root
        b"<?erp-export id='" + b"x" * LONG + b"'?>" + ROOT,  # a processing instruction first
        b'<?xml version="1.0"?>' + b"<!-- c -->\n" * (LONG // 10) + ROOT,  # many small comments
        ('<?xml version="1.0" encoding="UTF-16"?><!--' + "x" * LONG + "-->").encode("utf-16")
        + ROOT.decode().encode("utf-16-le"),
    ],
    ids=["comment", "bom", "whitespace", "processing-instruction", "many-comments", "utf-16"],
)
def test_xml_with_a_prolog_past_the_sniffed_bytes_is_xml(data: bytes) -> None:
    # Reported as "plain text" before: the root element was beyond the first 64 KiB.
    assert detect_media_type(data) == "application/xml"


def test_a_prolog_past_the_scan_bound_is_xml_if_it_began_like_xml() -> None:
    # The scan is bounded (1 MiB); a file still inside its comment there began like XML, and the
    # XML reader decides the rest.
    assert detect_media_type(b"<!--" + b"x" * (8 * 1024 * 1024) + b"-->" + ROOT) == "application/xml"


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b" " * (2 * 1024 * 1024) + ROOT, "plain text"),  # whitespace past the bound: no root seen
        (b"<?php " + b"echo 1; " * LONG, "plain text"),
        (b"<!--" + b"x" * LONG + b"--><html><body>login</body></html>", "HTML"),
        (b"<!--" + b"x" * LONG + b"-->plain words", "plain text"),
    ],
)
def test_what_only_starts_like_xml_is_not_xml(data: bytes, looks_like: str) -> None:
    assert detect_media_type(data) is None
    assert describe_unsupported(data).startswith(looks_like)


def test_hostile_xml_behind_a_long_prolog_still_gets_a_typed_error() -> None:
    from invoiceai.einvoice import read_einvoice
    from invoiceai.errors import CorruptDocumentError, HostileXMLError

    entities = b'<!DOCTYPE Invoice [<!ENTITY a "' + b"a" * 100 + b'">' + b"<!-- " + b"y" * LONG + b" -->]>"
    hostile = b'<?xml version="1.0"?>' + entities + ROOT
    assert Document.from_bytes(hostile).media_type == "application/xml"
    with pytest.raises(HostileXMLError):
        read_einvoice(hostile)
    unfinished = b"<!--" + b"x" * (2 * 1024 * 1024)
    assert Document.from_bytes(unfinished).media_type == "application/xml"
    with pytest.raises(CorruptDocumentError, match="not well-formed"):
        read_einvoice(unfinished)
