"""OCR of a page photographed askew: the page is levelled before Tesseract reads it.

A photo lies a few degrees askew; Tesseract then runs a line into the next, or drops a block.
:func:`invoiceai.render.ocr.ocr_words` levels the page first, and turns each word's box back
onto the image it was given, so a box still covers its word's ink there.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from invoiceai import Invoice
from invoiceai.provenance import PageWords, ground_invoice
from invoiceai.render.ocr import ocr_available, ocr_text, ocr_words

needs_ocr = pytest.mark.skipif(not ocr_available(), reason="OCR needs pytesseract and the tesseract program")

LINES = ["Invoice 4711 dated 12.03.2024", "Subtotal 1.980,00 EUR", "VAT 19% 376,20 EUR", "Total 2.356,20 EUR"]


def page(angle: float) -> tuple[bytes, object]:
    """A page of ``LINES`` turned ``angle`` degrees, PNG-encoded, and the turned image."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("L", (1700, 1100), 255)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=44)
    for row, line in enumerate(LINES):
        draw.text((120, 150 + 140 * row), line, fill=0, font=font)
    turned = picture.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    turned.save(buffer, "PNG")
    return buffer.getvalue(), turned


@needs_ocr
@pytest.mark.parametrize("angle", [3.5, -3.5, 0.0])
def test_an_askew_page_is_read_line_by_line_with_boxes_on_its_ink(angle: float) -> None:
    image, turned = page(angle)
    words = ocr_words(image, languages="eng")
    texts = [word[0] for word in words]
    for wanted in ("4711", "12.03.2024", "1.980,00", "376,20", "2.356,20"):
        assert wanted in texts, texts
    width, height = turned.size  # type: ignore[attr-defined]
    for text, x0, y0, x1, y1 in words:
        # The box, on the image as given, holds the word's ink (dark pixels).
        crop = turned.crop((int(x0 * width), int(y0 * height), int(x1 * width) + 1, int(y1 * height) + 1))  # type: ignore[attr-defined]
        assert crop.getextrema()[0] < 100, (text, x0, y0)
    # Words of one printed line come in order, left to right: the levelled page keeps its lines.
    total = texts.index("Total")
    assert texts[total + 1] == "2.356,20"


# Two readings of one page, as ocr_words gives them for a page askew: the first misread the
# subtotal ("14,980.00") and dropped the total; the levelled one read both.
FIRST = [("Subtotal", 0.1, 0.2, 0.2, 0.22), ("14,980.00", 0.3, 0.2, 0.4, 0.22)]
SECOND = [("Subtotal", 0.1, 0.201, 0.2, 0.221), ("1,980.00", 0.3, 0.201, 0.4, 0.221),
          ("Total", 0.1, 0.3, 0.2, 0.32), ("2,356.20", 0.3, 0.3, 0.4, 0.32)]  # fmt: skip


def test_the_hint_text_gives_each_word_once_the_first_readings_where_both_read_it() -> None:
    assert ocr_text(FIRST + SECOND) == "Subtotal 14,980.00\nTotal 2,356.20"


@pytest.mark.parametrize(
    ("subtotal", "total", "grounded"),
    [("1980.00", "2356.20", True), ("14980.00", "2356.20", True), ("1980.50", "2356.20", False),
     ("1980.00", "2356.30", False), ("19800.00", "2356.20", False)],
)  # fmt: skip
def test_a_value_either_reading_holds_is_grounded_and_a_changed_one_neither_holds_is_flagged(
    subtotal: str, total: str, grounded: bool
) -> None:
    layer = PageWords.from_raw(1, FIRST + SECOND, "ocr")  # type: ignore[arg-type]
    invoice = Invoice(subtotal=Decimal(subtotal), total=Decimal(total))
    found = ground_invoice(invoice, [layer]).provenance
    assert (found["subtotal"].grounding == "grounded" and found["total"].grounding == "grounded") == grounded
