"""Provenance at a bounded cost: a long document has the words read of the pages that matter only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from invoiceai import Extractor, Settings
from invoiceai.errors import ConfigurationError
from invoiceai.extractor.grounding import pages_to_read
from invoiceai.schema.structured import VALUE_PAGES_KEY
from invoiceai.testing import FakeBackend
from render_fixtures import PdfPage, build_pdf, text_ops
from test_provenance_pages import PAGE_1, TRUTH  # the same two-line invoice, spread over more pages here

GADGET = ["Gadget 1 x 5,00 5,00"]
TOTAL = ["Shipping 5,00", "Total 30,00 EUR"]
FILLER = ["Terms and conditions", "Payment within 30 days"]


def six_pages() -> bytes:
    """Page 1 the header, page 4 the second line, page 5 the total, the others filler."""
    contents = [PAGE_1, FILLER, FILLER, GADGET, TOTAL, FILLER]
    return build_pdf([PdfPage(content=text_ops(lines)) for lines in contents])


def reply(gadget: int, total: int) -> dict[str, Any]:
    pages = [
        {"path": "invoice_number", "page": 1}, {"path": "issue_date", "page": 1}, {"path": "seller", "page": 1},
        {"path": "line_items[0]", "page": 1}, {"path": "line_items[1]", "page": gadget},
        {"path": "total", "page": total},
    ]  # fmt: skip
    return {**TRUTH, VALUE_PAGES_KEY: pages}


def extract(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any], most: int) -> tuple[Any, list[Any]]:
    from invoiceai.render.pdf.renderer import PdfPageSource

    asked: list[Any] = []
    word_layers = PdfPageSource.word_layers

    def spy(self: PdfPageSource, positions: Any = None) -> Any:
        asked.append(None if positions is None else list(positions))
        return word_layers(self, positions)

    monkeypatch.setattr(PdfPageSource, "word_layers", spy)
    settings = Settings.load(provenance=True, ocr="off", provenance_max_pages=most)
    with Extractor(backend=FakeBackend(default=answer), cache=None, settings=settings) as extractor:
        return extractor.extract(six_pages()), asked


def test_a_long_document_reads_the_named_pages_then_the_first_and_last(monkeypatch: pytest.MonkeyPatch) -> None:
    result, asked = extract(monkeypatch, reply(gadget=4, total=5), most=4)
    assert asked == [[0, 3, 4, 5]]  # page 1 (named most), pages 4 and 5, then the last page
    assert result.provenance.pages == {1: "text", 2: "none", 3: "none", 4: "text", 5: "text", 6: "text"}
    total = result.provenance["total"]
    assert (total.page, total.grounding, total.text) == (5, "grounded", "30,00")
    assert result.provenance["line_items"][1]["amount"].grounding == "grounded"
    assert any("read the words of 4 of the 6 pages" in warning for warning in result.warnings)


def test_a_value_on_a_page_past_the_cap_keeps_the_models_page_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    result, asked = extract(monkeypatch, reply(gadget=4, total=5), most=2)
    assert asked == [[0, 3]]
    total = result.provenance["total"]
    assert (total.page, total.grounding, total.box) == (5, "unknown", None)
    assert not [finding for finding in result.findings if finding.rule == "IAI-UNGROUNDED"]
    assert any("provenance_max_pages=2" in warning for warning in result.warnings)


def test_a_document_within_the_cap_reads_every_page_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    result, asked = extract(monkeypatch, reply(gadget=4, total=5), most=6)
    assert asked == [None]
    assert set(result.provenance.pages.values()) == {"text"}
    assert not any("provenance_max_pages" in warning for warning in result.warnings)


def test_pages_to_read_ranks_the_named_pages_and_ignores_pages_outside() -> None:
    named = {"a": 7, "b": 7, "c": 3, "d": 40, "e": 0}
    assert pages_to_read(20, named, 50) == list(range(20))
    assert pages_to_read(20, named, 4) == [6, 2, 0, 19]
    assert pages_to_read(20, named, 2) == [6, 2]
    assert pages_to_read(20, {}, 3) == [0, 19]


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="provenance_max_pages"):
        Settings.load(provenance_max_pages=0)
    assert Settings.load(env={"INVOICEAI_PROVENANCE_MAX_PAGES": "7"}).provenance_max_pages == 7


# -- the cache key records the OCR hints ---------------------------------------------------------


def test_an_answer_cached_without_ocr_hints_is_not_served_to_a_run_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.render.ocr as ocr
    from claude_fakes import make_backend
    from invoiceai.cache import MemoryCache
    from invoiceai.testing import FakeClaudeAPI

    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(ocr, "ocr_words", lambda image, **_: [("Total", 0.1, 0.1, 0.2, 0.12)])
    scans = build_pdf([PdfPage(content="0 0 0 rg 36 36 100 100 re f")] * 2)  # no text layer
    cache, api = MemoryCache(), FakeClaudeAPI()
    cached: list[bool] = []
    for setting in ("off", "auto", "auto", "off"):
        backend = make_backend(api, "sync", mode="images+text")
        with Extractor(backend=backend, cache=cache, settings=Settings.load(ocr=setting)) as extractor:
            cached.append(extractor.extract(scans).cached)
    assert cached == [False, False, True, True]
    assert len(api.message_requests) == 2
    hinted = [request for request in api.message_requests if "Read by OCR" in json.dumps(request.body)]
    assert len(hinted) == 1
