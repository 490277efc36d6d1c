"""Word layers: born-digital PDF pages through the sandbox (and in process), and OCR of scans."""

from __future__ import annotations

import json

import pytest

from invoiceai.documents import Document
from invoiceai.errors import MissingDependencyError
from invoiceai.render.limits import RenderLimits
from invoiceai.render.ocr import ocr_available, ocr_text, ocr_words, require_ocr
from invoiceai.render.pdf import PdfRenderer
from invoiceai.render.pdf.words import MAX_WORDS, words_from, words_to
from render_fixtures import PdfPage, build_pdf, text_ops

NO_OCR = "OCR is not installed here (pip install 'invoiceai-claude[ocr]' and apt install tesseract-ocr)"


def pdf_document(*pages: PdfPage) -> Document:
    return Document.from_bytes(build_pdf(list(pages)), name="words.pdf")


def page(*lines: str, rotate: int | None = None) -> PdfPage:
    return PdfPage(content=text_ops(list(lines), x=72, top=720, size=14), rotate=rotate)


def words_of(document: Document, *, memory_limit: int) -> list[list[tuple[str, float, float, float, float]] | None]:
    with PdfRenderer(limits=RenderLimits(render_memory_limit=memory_limit)).open(document) as source:
        return source.word_layers()


def test_words_come_back_with_page_boxes_through_the_sandbox_as_in_process() -> None:
    document = pdf_document(page("Invoice INV-0042", "Total 1.234,56 EUR"), PdfPage(content=""))
    sandboxed = words_of(document, memory_limit=RenderLimits().render_memory_limit)
    assert sandboxed == words_of(document, memory_limit=0)
    first, blank = sandboxed
    assert blank is None  # no text layer: OCR's turn
    assert first is not None
    assert [word[0] for word in first] == ["Invoice", "INV-0042", "Total", "1.234,56", "EUR"]
    for _, x0, y0, x1, y1 in first:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    invoice, total = first[0], first[2]
    # 72 pt from the left of 612, 720 pt up a 792 pt page: near the top-left, the second line below it.
    assert invoice[1] == pytest.approx(72 / 612, abs=0.01)
    assert invoice[2] < 0.1 and total[2] > invoice[4]


def test_boxes_follow_the_page_rotation_as_it_is_displayed() -> None:
    upright = words_of(pdf_document(page("Total 5.00")), memory_limit=0)[0]
    turned = words_of(pdf_document(page("Total 5.00", rotate=90)), memory_limit=0)[0]
    assert upright is not None and turned is not None
    # /Rotate 90 turns the page clockwise: text that ran along the top now runs down the right side.
    _, x0, y0, x1, y1 = turned[0]
    assert x0 > 0.8 and (y1 - y0) > (x1 - x0)
    assert upright[0][2] < 0.15


def test_words_outside_the_displayed_page_are_left_out() -> None:
    content = "\n".join(
        (text_ops(["Visible 12,50"]), text_ops(["Right"], x=700), text_ops(["Above"], top=900),
         text_ops(["Edge"], x=605))
    )  # fmt: skip
    [words] = words_of(pdf_document(PdfPage(content=content)), memory_limit=0)
    assert words is not None
    assert [word[0] for word in words] == ["Visible", "12,50"]  # "Edge" starts on the page, its middle is off it


def test_many_pages_of_words_do_not_overflow_a_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.render.pdf.wire as wire

    lines = [" ".join(f"w{column}" for column in range(25)) for _ in range(40)]
    document = pdf_document(*[PdfPage(content=text_ops(lines, x=10, top=780, size=5))] * 4)
    one_page = len(json.dumps(words_to(words_of(document, memory_limit=0)[:1])))
    # Four pages' words would not fit one reply's header under this cap; one page's do.
    monkeypatch.setattr(wire, "MAX_HEADER", 2 * one_page)
    sandboxed = words_of(document, memory_limit=RenderLimits().render_memory_limit)
    assert sandboxed == words_of(document, memory_limit=0)
    assert [len(layer or ()) for layer in sandboxed] == [1000] * 4


def test_a_garbled_word_reply_from_a_worker_is_a_typed_error() -> None:
    assert words_from(words_to([[("a", 0.1, 0.1, 0.2, 0.2)], None]), 2) == [[("a", 0.1, 0.1, 0.2, 0.2)], None]
    for bad in (
        {"words": [[["a", 0.1, 0.1, 2.0, 0.2]]]},
        {"words": [[["a", 0.1, 0.1]]]},
        {"words": [[[1, 0.1, 0.1, 0.2, 0.2]]]},
        {"words": [[["a", True, 0.1, 0.2, 0.2]]]},
        {"words": "nope"},
        {"words": [[["x", 0, 0, 0, 0]] * (MAX_WORDS + 1)]},
    ):
        with pytest.raises(ValueError, match="word"):
            words_from(bad, 1)


def test_ocr_text_keeps_rows_in_reading_order() -> None:
    words = [("world", 0.3, 0.1, 0.4, 0.12), ("Hello", 0.1, 0.1, 0.2, 0.12), ("next", 0.1, 0.2, 0.2, 0.22)]
    assert ocr_text(words) == "Hello world\nnext"


def test_missing_ocr_is_a_typed_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.render.ocr as ocr

    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"invoiceai-claude\[ocr\].*apt install tesseract-ocr") as caught:
        require_ocr()
    assert caught.value.extra == "ocr"


@pytest.mark.skipif(not ocr_available(), reason=NO_OCR)
def test_ocr_reads_words_with_boxes_from_an_image() -> None:
    import io

    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("L", (1200, 400), 255)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=48)
    draw.text((100, 100), "Invoice 4711", fill=0, font=font)
    draw.text((100, 250), "Total 1.234,56", fill=0, font=font)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    words = ocr_words(buffer.getvalue(), languages="eng")
    texts = [word[0] for word in words]
    assert "4711" in texts and "1.234,56" in texts
    total = words[texts.index("1.234,56")]
    assert 0.15 < total[1] < 0.6 and 0.55 < total[2] < 0.75  # right of "Total", on the lower line
