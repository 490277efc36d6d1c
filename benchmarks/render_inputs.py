"""Inputs for the render benchmarks: corpus files, a generated long invoice PDF, generated TIFF scans.

``python benchmarks/render.py`` and ``benchmarks/long_document.py`` import these; nothing here
measures anything.
"""

from __future__ import annotations

import io
from pathlib import Path

CORPUS_PDF_DIRS = ("einvoice/pdf", "invoice2data", "misc")
CORPUS_SCAN_GLOBS = ("scanned/sroie/*.jpg", "scanned/wildreceipt/*.jpeg", "invoice2data/*.png")
GENERATED_PAGES = 500


def corpus_pdfs(corpus: Path, renders: object) -> list[bytes]:
    """Every corpus PDF that ``renders(data)`` renders in full (no password, not damaged)."""
    from invoiceai.errors import InvoiceAIError

    found = []
    for sub in CORPUS_PDF_DIRS:
        for path in sorted((corpus / sub).glob("*.pdf")):
            data = path.read_bytes()
            try:
                renders(data)  # type: ignore[operator]
            except InvoiceAIError:
                continue
            found.append(data)
    return found


def corpus_scans(corpus: Path) -> list[bytes]:
    """The corpus's photographed and scanned receipts (JPEG) and screenshots of invoices (PNG)."""
    return [path.read_bytes() for pattern in CORPUS_SCAN_GLOBS for path in sorted(corpus.glob(pattern))]


def generated_scans(pages: int = 3) -> list[bytes]:
    """TIFF scans of generated invoice pages, as scanners write them.

    * 300 dpi A4, 8-bit grey, LZW, ``pages`` frames (a multi-page office scan);
    * 300 dpi A4, bilevel, CCITT G4 (a fax or a document scanner's black-and-white mode);
    * 150 dpi A4 in colour, deflate: 1240x1754, about 2 MP, shrunk to the 1.15 MP budget;
    * 1.19 MP in colour, uncompressed: a few percent over the budget (the tiny-shrink case).
    """
    import pypdfium2
    from PIL import Image

    pdf = pypdfium2.PdfDocument(generated_pdf(pages))
    frames = [pdf[index].render(scale=300 / 72).to_pil().convert("L") for index in range(pages)]
    colour = pdf[0].render(scale=150 / 72).to_pil().convert("RGB")
    pdf.close()
    outputs = []
    for image, options in (
        (frames[0], {"compression": "tiff_lzw", "save_all": True, "append_images": frames[1:]}),
        (frames[0].convert("1"), {"compression": "group4"}),
        (colour, {"compression": "tiff_adobe_deflate"}),
        (colour.resize((912, 1305), Image.Resampling.BOX), {}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, "TIFF", dpi=(300, 300), **options)
        outputs.append(buffer.getvalue())
    return outputs


def generated_pdf(pages: int = GENERATED_PAGES) -> bytes:
    """A long invoice: coloured letterhead, 40 item lines, ruled table and totals on every page."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 2 * pages + 1
    kids = []
    for number in range(1, pages + 1):
        ops = [
            "0.11 0.33 0.60 rg 36 770 523 48 re f",
            "BT /F2 20 Tf 1 1 1 rg 48 786 Td (Northwind Office Supplies GmbH) Tj ET",
            "BT /F1 9 Tf 0 0 0 rg 48 748 Td (Hauptstrasse 12, 10115 Berlin  -  VAT DE123456789) Tj ET",
            f"BT /F2 12 Tf 380 748 Td (Invoice INV-2026-{number:05d}) Tj ET",
            f"BT /F1 9 Tf 380 734 Td (Date 2026-03-{number % 28 + 1:02d}   Page {number} of {pages}) Tj ET",
            "0.85 0.85 0.85 rg 36 700 523 16 re f",
            "BT /F2 9 Tf 0 0 0 rg 42 705 Td (Pos) Tj 40 0 Td (Description) Tj 260 0 Td (Qty) Tj "
            "60 0 Td (Unit) Tj 70 0 Td (Amount) Tj ET",
            "0.6 G 0.5 w",
        ]
        for row in range(40):
            y = 688 - row * 15
            quantity = (row * 7 + number) % 12 + 1
            unit = 3.5 + (row * 13 % 40)
            ops.append(
                f"BT /F1 9 Tf 42 {y} Td ({row + 1}) Tj 40 0 Td (Item {number}-{row:02d} copy paper A4, 80 g/m2, "
                f"box of 5 reams) Tj 260 0 Td ({quantity}) Tj 60 0 Td ({unit:.2f}) Tj 70 0 Td "
                f"({quantity * unit:,.2f} EUR) Tj ET"
            )
            ops.append(f"36 {y - 4} m 559 {y - 4} l S")
        ops += [
            "BT /F2 10 Tf 380 70 Td (Total due: 12,345.67 EUR) Tj ET",
            "BT /F1 8 Tf 48 40 Td (IBAN DE89 3704 0044 0532 0130 00 - BIC COBADEFFXXX - Payable within 30 days) Tj ET",
        ]
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (pages_id, content, font, bold)
            )
        )
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)) == (
        pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
