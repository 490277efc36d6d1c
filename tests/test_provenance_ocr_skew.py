"""OCR of a page photographed askew: the page is levelled before Tesseract reads it.

A photo lies a few degrees askew; Tesseract then runs a line into the next, or drops a block.
:func:`invoiceai.render.ocr.ocr_words` levels the page first, and turns each word's box back
onto the image it was given, so a box still covers its word's ink there.
"""

from __future__ import annotations

import io

import pytest

from invoiceai.render.ocr import ocr_available, ocr_words

pytestmark = pytest.mark.skipif(not ocr_available(), reason="OCR needs pytesseract and the tesseract program")

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
