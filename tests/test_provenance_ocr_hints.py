"""OCR text as hints: a scanned page's OCR text is sent beside its image in ``images+text`` mode, read once.

Tesseract is replaced by a fake that counts its calls, so these tests run without the ``ocr``
extra; the request is the one the real Claude backend builds, seen by the fake Messages API.
"""

from __future__ import annotations

from typing import Any

import pytest

from claude_fakes import make_backend
from invoiceai import Extractor, Settings
from invoiceai.extractor.steps import OCR_NOTE
from invoiceai.testing import FakeClaudeAPI
from render_fixtures import PdfPage, build_pdf, text_ops

# The default OCR setting (Tesseract faked or made absent): see the ``ocr`` marker in conftest.py.
pytestmark = pytest.mark.ocr

ANSWER = {
    "invoice_number": "INV-0042", "issue_date": "2024-03-12", "currency": "EUR", "total": "23.80",
    "line_items": [{"description": "Widget", "quantity": "2", "unit_price": "10.00", "amount": "20.00"}],
}  # fmt: skip
BLANK = PdfPage(content="0 0 0 rg 36 36 100 100 re f")  # a page without a text layer: a scan
WORDS = {
    2: [("Invoice", 0.1, 0.10, 0.2, 0.12), ("INV-0042", 0.25, 0.10, 0.4, 0.12), ("Date", 0.1, 0.15, 0.2, 0.17),
        ("12.03.2024", 0.25, 0.15, 0.4, 0.17)],
    3: [("Widget", 0.1, 0.30, 0.2, 0.32), ("20,00", 0.6, 0.30, 0.7, 0.32), ("Total", 0.1, 0.40, 0.2, 0.42),
        ("23,80", 0.6, 0.40, 0.7, 0.42)],
}  # fmt: skip


class FakeTesseract:
    """Stands in for ``ocr_words``: the words of the page it is given, in the order pages come, counted."""

    def __init__(self, pages: list[int]) -> None:
        self.pages = list(pages)
        self.calls: list[int] = []

    def __call__(self, image: bytes, **_: object) -> list[tuple[str, float, float, float, float]]:
        page = self.pages[len(self.calls)]
        self.calls.append(page)
        return WORDS[page]


@pytest.fixture
def tesseract(monkeypatch: pytest.MonkeyPatch) -> FakeTesseract:
    import invoiceai.render.ocr as ocr

    fake = FakeTesseract([2, 3])
    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(ocr, "ocr_words", fake)
    return fake


def document() -> bytes:
    """Page 1 born digital, pages 2 and 3 scans."""
    return build_pdf([PdfPage(content=text_ops(["Seller ACME GmbH"])), BLANK, BLANK])


def extract(api: FakeClaudeAPI, mode: str, **settings: Any) -> Any:
    options = {"provenance": True, **settings}
    backend = make_backend(api, "sync", mode=mode)
    with Extractor(backend=backend, cache=None, settings=Settings.load(**options)) as extractor:
        return extractor.extract(document())


def page_texts(api: FakeClaudeAPI) -> list[str]:
    (request,) = api.message_requests
    return [text for text in request.texts() if text.startswith("<page_text")]


def test_images_and_text_sends_each_scanned_page_its_ocr_text_and_ocr_runs_once_per_page(
    tesseract: FakeTesseract,
) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    result = extract(api, "images+text")
    texts = page_texts(api)
    assert len(texts) == 3
    assert "Seller ACME GmbH" in texts[0] and OCR_NOTE not in texts[0]  # a text layer is sent as it is
    assert OCR_NOTE in texts[1] and "Invoice INV-0042\nDate 12.03.2024" in texts[1]
    assert OCR_NOTE in texts[2] and "Widget 20,00\nTotal 23,80" in texts[2]
    # Provenance reused the hints' OCR: Tesseract read each scanned page once, the text page never.
    assert tesseract.calls == [2, 3]
    assert result.provenance.pages == {1: "text", 2: "ocr", 3: "ocr"}
    assert result.provenance["total"].page == 3 and result.provenance["total"].grounding == "grounded"
    assert result.provenance["issue_date"].page == 2


def test_images_mode_sends_no_ocr_text_and_provenance_still_reads_each_page_once(tesseract: FakeTesseract) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    result = extract(api, "images")
    assert page_texts(api) == []
    assert tesseract.calls == [2, 3]
    assert result.provenance["total"].grounding == "grounded"


def test_without_provenance_the_hints_still_read_each_scanned_page_once(tesseract: FakeTesseract) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    extract(api, "images+text", provenance=False)
    assert len(page_texts(api)) == 3 and tesseract.calls == [2, 3]


@pytest.mark.parametrize("setting", ["off", "unavailable"])
def test_without_ocr_nothing_changes(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    import invoiceai.render.ocr as ocr

    calls: list[bytes] = []
    monkeypatch.setattr(ocr, "ocr_available", lambda: setting != "unavailable")
    monkeypatch.setattr(ocr, "ocr_words", lambda image, **_: calls.append(image) or [])
    api = FakeClaudeAPI(answer=ANSWER)
    result = extract(api, "images+text", ocr="off" if setting == "off" else "auto")
    texts = page_texts(api)
    assert len(texts) == 1 and "Seller ACME GmbH" in texts[0]  # only the page with a text layer has text
    assert calls == [] and result.provenance.pages == {1: "text", 2: "none", 3: "none"}


def test_a_page_ocr_fails_on_keeps_no_hint_and_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.render.ocr as ocr

    calls: list[int] = []

    def crashing(image: bytes, **_: object) -> list[tuple[str, float, float, float, float]]:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("tesseract crashed")
        return WORDS[3]

    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(ocr, "ocr_words", crashing)
    api = FakeClaudeAPI(answer=ANSWER)
    result = extract(api, "images+text")
    texts = page_texts(api)
    assert len(texts) == 2 and "Total 23,80" in texts[1]  # page 2 sent without text, page 3 with its OCR
    assert len(calls) == 2  # provenance did not try page 2 again
    assert result.provenance.pages == {1: "text", 2: "none", 3: "ocr"}
    assert any("OCR failed (page 2: RuntimeError: tesseract crashed)" in warning for warning in result.warnings)


def test_the_ocr_of_a_document_shares_one_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.render.ocr as ocr

    timeouts: list[float] = []

    def timed(image: bytes, *, timeout: float = 0, **_: object) -> list[tuple[str, float, float, float, float]]:
        timeouts.append(timeout)
        return WORDS[2 + len(timeouts) - 1]

    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(ocr, "ocr_words", timed)
    extract(FakeClaudeAPI(answer=ANSWER), "images+text", render_timeout=30)
    # Each page gets what is left of one 30-second budget, never a fresh one.
    assert len(timeouts) == 2 and 0 < timeouts[1] <= timeouts[0] <= 30


def test_an_image_source_sends_its_ocr_text_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from PIL import Image

    import invoiceai.render.ocr as ocr

    fake = FakeTesseract([2])
    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(ocr, "ocr_words", fake)
    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), "white").save(buffer, "PNG")
    api = FakeClaudeAPI(answer=ANSWER)
    backend = make_backend(api, "sync", mode="images+text")
    with Extractor(backend=backend, cache=None, settings=Settings.load(provenance=True)) as extractor:
        result = extractor.extract(buffer.getvalue())
    (text,) = page_texts(api)
    assert OCR_NOTE in text and "Invoice INV-0042" in text
    assert fake.calls == [2] and result.provenance.pages == {1: "ocr"}
