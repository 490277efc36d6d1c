"""Media-type detection from magic bytes, never from file names or server headers.

A file called ``invoice.pdf`` may be a PNG, and a server may call a PDF ``text/html``; only the
first bytes are trusted. Everything here is a pure function of those bytes.
"""

from __future__ import annotations

import re

__all__ = [
    "BMP",
    "GIF",
    "HEIC",
    "HEIF",
    "IMAGE_MEDIA_TYPES",
    "JPEG",
    "PDF",
    "PNG",
    "SUPPORTED_MEDIA_TYPES",
    "TIFF",
    "WEBP",
    "XML",
    "describe_unsupported",
    "detect_media_type",
]

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
WEBP = "image/webp"
GIF = "image/gif"
BMP = "image/bmp"
HEIC = "image/heic"
HEIF = "image/heif"
XML = "application/xml"

IMAGE_MEDIA_TYPES = frozenset({PNG, JPEG, TIFF, WEBP, GIF, BMP, HEIC, HEIF})
"""Raster formats the image renderer reads."""

SUPPORTED_MEDIA_TYPES = frozenset({PDF, XML} | IMAGE_MEDIA_TYPES)
"""Every media type :func:`detect_media_type` can return."""

# The PDF spec lets producers put junk before the header, and readers (pdfium included) look
# for it within the first kilobyte.
_PDF_HEADER_WINDOW = 1024
# XML prologs can hold long licence comments (FeRD examples do), so the root element may sit
# well past the first few kilobytes.
_XML_SNIFF_BYTES = 64 * 1024
# A prolog still open at the end of the sniffed bytes is followed this far; past it, a file that
# began like XML counts as XML (its root unseen), and the XML reader has the last word.
_XML_PROLOG_LIMIT = 1024 * 1024
_NOT_SPACE = re.compile(r"[^ \t\r\n]")
_NAME_END = re.compile(r"[ \t\r\n/>]")
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# Roots of XML dialects that are not invoices and that nobody means to send as one.
_NON_INVOICE_XML_ROOTS = frozenset({"html", "svg"})


def detect_media_type(data: bytes) -> str | None:
    """Returns the media type the bytes start with, or ``None`` if it is not one we read.

    Args:
        data: The document's bytes (the first 64 KiB are examined; an XML prolog that runs
            past them is followed up to 1 MiB).

    Returns:
        One of :data:`SUPPORTED_MEDIA_TYPES`, or ``None``.
    """
    head = bytes(data[:_XML_SNIFF_BYTES])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if _is_bmp(head):
        return BMP
    heif = _heif_type(head)
    if heif is not None:
        return heif
    if b"%PDF-" in head[:_PDF_HEADER_WINDOW]:
        return PDF
    if _xml_root(data) is not None:
        return XML
    return None


def describe_unsupported(data: bytes) -> str:
    """Names what unsupported bytes look like, for an error message that helps.

    Args:
        data: Bytes for which :func:`detect_media_type` returned ``None``.

    Returns:
        A short phrase such as ``"a ZIP archive (DOCX, XLSX or ODT?)"``.
    """
    head = bytes(data[:_XML_SNIFF_BYTES])
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (DOCX, XLSX or ODT? export it as PDF)"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF (convert it to JPEG or PNG)"
    if head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return "JPEG 2000 (convert it to JPEG or PNG)"
    if head.startswith(b"{\\rtf"):
        return "RTF (export it as PDF)"
    text = _decode_text(head)
    stripped = text.lstrip().lower()
    kind, root = _first_element(data)
    if stripped.startswith(("<!doctype html", "<html")) or (kind, root) == ("root", "html"):
        return "HTML (a web page, perhaps a login or error page, not the invoice itself)"
    if (kind, root) == ("root", "svg"):
        return "SVG (convert it to PNG or PDF)"
    if stripped.startswith(("{", "[")):
        return "JSON"
    if head.isascii() or _is_mostly_text(text):
        return "plain text"
    return f"unknown binary data starting with {head[:8].hex(' ')}"


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (plenty of text starts with it), so also check the DIB header size.
    if len(head) < 18 or not head.startswith(b"BM"):
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES


def _heif_type(head: bytes) -> str | None:
    # ISO base media file: a 'ftyp' box with the major brand, then compatible brands.
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    brands = [head[8:12]]
    end = min(box_size, len(head)) if box_size >= 16 else 16
    brands += [head[offset : offset + 4] for offset in range(16, end - 3, 4)]
    if brands[0] in _HEIC_BRANDS:
        return HEIC
    if brands[0] in _HEIF_BRANDS:
        # 'mif1' is also the major brand of AVIF files; those declare 'avif' as compatible.
        if b"avif" in brands or b"avis" in brands:
            return None
        return HEIC if any(brand in _HEIC_BRANDS for brand in brands) else HEIF
    return None


def _decode_text(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:].decode("utf-8", "ignore")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore")
    if head.startswith(b"<\x00"):
        return head.decode("utf-16-le", "ignore")
    if head.startswith(b"\x00<"):
        return head.decode("utf-16-be", "ignore")
    return head.decode("utf-8", "ignore")


def _xml_root(data: bytes) -> str | None:
    """Returns the root element's name (``""`` if beyond the scanned bytes), or ``None`` if not XML."""
    kind, root = _first_element(data)
    if kind == "open":
        return ""
    if kind != "root" or root.split(":")[-1].lower() in _NON_INVOICE_XML_ROOTS:
        return None
    return root


def _first_element(data: bytes) -> tuple[str, str]:
    """Scans the prolog for the first element: see :func:`_scan_prolog`."""
    head = bytes(data[:_XML_SNIFF_BYTES])
    kind, root = _scan_prolog(_decode_text(head))
    if kind in ("open", "blank", "pending") and len(data) > len(head):
        # The prolog runs past the sniffed bytes (a long licence comment, a large doctype, a
        # lot of whitespace): follow it a bounded distance rather than call the file plain text.
        kind, root = _scan_prolog(_decode_text(bytes(data[:_XML_PROLOG_LIMIT])))
    return kind, root


def _scan_prolog(text: str) -> tuple[str, str]:
    """Skips the prolog (declaration, comments, processing instructions, doctype) to the root element.

    Returns:
        ``("root", name)`` when an element starts; ``("open", "")`` when the text ends inside a
        prolog that began like XML (a declaration, a comment, a doctype); ``("blank", "")`` when
        it ends after nothing but whitespace, and ``("pending", "")`` inside a first processing
        instruction that is not a declaration (both are XML only if more text shows a root);
        ``("none", "")`` when it is not XML.
    """
    position = 0
    saw_prolog = False
    while True:
        match = _NOT_SPACE.search(text, position)
        if match is None:
            return ("open" if saw_prolog else "blank", "")
        position = match.start()
        if text.startswith("<?", position):
            end = text.find("?>", position + 2)
            if end < 0:
                # An unfinished processing instruction is XML after a declaration or another
                # construct; alone ("<?php ...") only if more text shows a root element.
                return ("open" if text.startswith("<?xml", position) or saw_prolog else "pending", "")
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                return ("open", "")
            position = end + 3
        elif text.startswith(("<!DOCTYPE", "<!doctype"), position):
            end = _doctype_end(text, position)
            if end < 0:
                return ("open", "")
            position = end
        elif text.startswith("<", position):
            name_end = _NAME_END.search(text, position + 1)
            name = text[position + 1 : name_end.start() if name_end else len(text)]
            if not name or not (name[0].isalpha() or name[0] == "_"):
                return ("none", "")
            return ("root", name)
        else:
            return ("none", "")
        saw_prolog = True


def _doctype_end(text: str, start: int) -> int:
    # A doctype may carry an internal subset in brackets that itself contains '>'.
    bracket = text.find("[", start)
    close = text.find(">", start)
    if 0 <= bracket < close:
        end = text.find("]", bracket)
        close = text.find(">", end) if end >= 0 else -1
    return close + 1 if close >= 0 else -1


def _is_mostly_text(text: str) -> bool:
    if not text:
        return False
    printable = sum(1 for char in text[:2048] if char.isprintable() or char in "\r\n\t")
    return printable / min(len(text), 2048) > 0.95
