"""The model names the page of each value: asked only of multi-page requests, stripped before validation,
merged across chunks, cached, and weighed by grounding (never trusted: boxes come from our own matching)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from claude_fakes import settings
from invoiceai import Extractor, Invoice, Settings
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.reply import split_value_pages
from invoiceai.backends.claude.value_pages import merge_value_pages
from invoiceai.cache import MemoryCache
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.documents import Document
from invoiceai.provenance import UNGROUNDED, PageWords, ground_invoice
from invoiceai.render import open_document
from invoiceai.schema.structured import VALUE_PAGES_KEY
from invoiceai.testing import FakeBackend, FakeClaudeAPI, RecordedRequest
from render_fixtures import PdfPage, build_pdf, text_ops

PAGE_1 = ["Invoice INV-0042", "Date 12.03.2024", "Seller Muster GmbH", "Widget 2 x 10,00 20,00"]
PAGE_2 = ["Gadget 1 x 5,00 5,00", "Shipping 5,00", "Total 30,00 EUR"]
TRUTH: dict[str, Any] = {
    "invoice_number": "INV-0042", "issue_date": "2024-03-12", "currency": "EUR", "total": "30.00",
    "seller": {"name": "Muster GmbH"},
    "line_items": [
        {"description": "Widget", "quantity": "2", "unit_price": "10.00", "amount": "20.00"},
        {"description": "Gadget", "quantity": "1", "unit_price": "5.00", "amount": "5.00"},
    ],
}  # fmt: skip
PAGES = [
    {"path": "invoice_number", "page": 1}, {"path": "issue_date", "page": 1}, {"path": "seller", "page": 1},
    {"path": "line_items[0]", "page": 1}, {"path": "line_items[1]", "page": 2}, {"path": "total", "page": 2},
]  # fmt: skip


def two_pages(first: list[str] = PAGE_1, second: list[str] = PAGE_2) -> bytes:
    return build_pdf([PdfPage(content=text_ops(first)), PdfPage(content=text_ops(second))])


def extract(source: bytes, reply: Any, cache: MemoryCache | None = None, **options: Any) -> Any:
    backend = FakeBackend(default=reply)
    with Extractor(backend=backend, cache=cache, settings=Settings.load(provenance=True, **options)) as extractor:
        return extractor.extract(source)


def with_pages(pages: list[dict[str, Any]], reply: dict[str, Any] = TRUTH) -> dict[str, Any]:
    return {**reply, VALUE_PAGES_KEY: pages}


# -- grounding weighs the model's page -----------------------------------------------------------


def test_a_value_printed_on_page_2_only_gets_its_box_there() -> None:
    result = extract(two_pages(), with_pages(PAGES))
    total = result.provenance["total"]
    assert (total.page, total.grounding, total.confidence, total.text) == (2, "grounded", "high", "30,00")
    assert total.box is not None and total.matches[0].page == 2
    assert result.provenance["line_items"][1]["amount"].page == 2
    assert not [finding for finding in result.findings if finding.rule == UNGROUNDED]


@pytest.mark.parametrize("named", [1, 2])
def test_a_value_printed_on_both_pages_goes_to_the_page_the_model_named(named: int) -> None:
    # 5,00 is printed on page 2 only in PAGE_2; print the shipping line on page 1 too.
    source = two_pages([*PAGE_1, "Shipping 5,00"], PAGE_2)
    reply = with_pages([{"path": "charge_total", "page": named}], {**TRUTH, "line_items": [], "charge_total": "5.00"})
    charge = extract(source, reply).provenance["charge_total"]
    assert (charge.page, charge.grounding, charge.confidence) == (named, "grounded", "high")
    assert charge.box == charge.matches[0].box and charge.matches[0].page == named
    assert {match.page for match in charge.matches} == {1, 2}  # both places are still listed


def test_without_pages_a_value_on_both_pages_takes_the_first() -> None:
    source = two_pages([*PAGE_1, "Shipping 5,00"], PAGE_2)
    result = extract(source, {**TRUTH, "line_items": [], "charge_total": "5.00"})
    assert result.provenance["charge_total"].page == 1


def test_the_model_naming_a_wrong_page_is_still_grounded_on_the_right_one_with_lower_confidence() -> None:
    pages = [{**entry, "page": 1} if entry["path"] == "total" else entry for entry in PAGES]
    result = extract(two_pages(), with_pages(pages))
    total = result.provenance["total"]
    assert (total.page, total.grounding, total.confidence) == (2, "grounded", "medium")
    assert "the model named page 1" in total.evidence
    assert not [finding for finding in result.findings if finding.rule == UNGROUNDED]  # not a finding
    assert "total" not in result.review.fields  # nor a reason to review it


def test_a_page_outside_the_document_is_ignored_and_said() -> None:
    pages = [{**entry, "page": 7} if entry["path"] == "total" else entry for entry in PAGES]
    total = extract(two_pages(), with_pages(pages)).provenance["total"]
    assert (total.page, total.grounding, total.confidence) == (2, "grounded", "high")
    assert any("page 7" in item and "ignored" in item for item in total.evidence)


def test_a_value_on_no_page_is_ungrounded_as_before() -> None:
    reply = with_pages(PAGES, {**TRUTH, "total": "31.00"})
    result = extract(two_pages(), reply)
    assert result.provenance["total"].grounding == "ungrounded"
    assert result.provenance["total"].page == 2  # where the model says it read it, for the reviewer
    assert [finding.fields for finding in result.findings if finding.rule == UNGROUNDED] == [("total",)]
    assert result.needs_review


def test_pages_without_words_get_the_model_page_as_page_level_provenance() -> None:
    blank = build_pdf([PdfPage(), PdfPage()])  # a scan without OCR: no words on either page
    result = extract(blank, with_pages(PAGES), ocr="off")
    assert result.provenance["total"].grounding == "unknown"
    assert result.provenance["total"].page == 2
    assert result.provenance["invoice_number"].page == 1
    assert extract(blank, TRUTH, ocr="off").provenance["total"].page is None  # without the model's pages


def test_a_part_path_stands_for_its_values_and_a_longer_path_wins() -> None:
    invoice = Invoice.model_validate(TRUTH)
    layers = [PageWords.from_raw(1, None, "none"), PageWords.from_raw(2, None, "none")]
    named = {"": 1, "line_items[1]": 2, "line_items[1].amount": 1, "seller": 2}
    provenance = ground_invoice(invoice, layers, model_pages=named).provenance
    assert provenance["line_items[1].quantity"].page == 2
    assert provenance["line_items[1].amount"].page == 1
    assert provenance["seller.name"].page == 2
    assert provenance["total"].page == 1


def test_pages_never_reach_the_data() -> None:
    result = extract(two_pages(), with_pages(PAGES))
    assert result.data == Invoice.model_validate(TRUTH)
    assert VALUE_PAGES_KEY not in json.dumps(result.to_dict())


def test_a_cached_answer_keeps_its_pages() -> None:
    cache = MemoryCache()
    pages = [{**entry, "page": 1} if entry["path"] == "total" else entry for entry in PAGES]
    first = extract(two_pages(), with_pages(pages), cache)
    again = extract(two_pages(), TRUTH, cache)  # the backend would answer without pages: the cache answers
    assert again.cached and not first.cached
    assert again.provenance.to_dict() == first.provenance.to_dict()
    assert "the model named page 1" in again.provenance["total"].evidence


# -- the Claude backend: the schema sent, the reply read -----------------------------------------


def answer_with_pages(pages: list[dict[str, Any]], reply: dict[str, Any] = TRUTH) -> Any:
    """A fake model that names pages only when the schema asks for them."""

    def answer(request: RecordedRequest) -> dict[str, Any]:
        schema = request.schema() or {}
        return {**reply, VALUE_PAGES_KEY: pages} if VALUE_PAGES_KEY in schema.get("properties", {}) else reply

    return answer


def claude(api: FakeClaudeAPI, **options: Any) -> ClaudeBackend:
    return ClaudeBackend(client=api.client(), settings=settings(), detect_capabilities=False, **options)


def test_only_multi_page_requests_ask_for_pages() -> None:
    api = FakeClaudeAPI(answer=answer_with_pages(PAGES))
    with Extractor(backend=claude(api), cache=None, settings=Settings.load(provenance=True)) as extractor:
        one = extractor.extract(build_pdf([PdfPage(content=text_ops(PAGE_1 + PAGE_2))]))
        two = extractor.extract(two_pages())
    first, second = api.message_requests
    assert VALUE_PAGES_KEY not in (first.schema() or {})["properties"]
    schema = second.schema() or {}
    assert schema["properties"][VALUE_PAGES_KEY]["items"]["required"] == ["path", "page"]
    assert schema["required"][-1] == VALUE_PAGES_KEY  # last: the values first, then where they were read
    assert one.provenance["total"].page == 1
    assert two.provenance["total"].page == 2
    assert VALUE_PAGES_KEY not in json.dumps(two.data.model_dump(mode="json"))


@pytest.mark.parametrize("structured", [True, False])
def test_the_backend_strips_the_pages_before_validation(structured: bool) -> None:
    api = FakeClaudeAPI(answer=answer_with_pages(PAGES), structured_outputs=structured)
    result = backend_extract(ClaudeBackend(client=api.client(), settings=settings()), two_pages())
    (request,) = api.message_requests
    assert ("tools" in request.body) is not structured  # structured outputs, or the forced tool call
    assert result.data == Invoice.model_validate(TRUTH)
    assert result.value_pages == {entry["path"]: entry["page"] for entry in PAGES}


def backend_extract(backend: ClaudeBackend, pdf: bytes) -> Any:
    source = open_document(Document.from_bytes(pdf))
    try:
        return backend.extract(source, Invoice)
    finally:
        getattr(source, "close", lambda: None)()  # a PDF holds pdfium memory until closed


def test_a_split_document_maps_each_chunk_s_pages_into_the_merged_answer() -> None:
    chunks = {
        1: ({**TRUTH, "line_items": TRUTH["line_items"][:1], "total": None},
            [{"path": "invoice_number", "page": 1}, {"path": "line_items[0]", "page": 2}]),
        3: ({"line_items": TRUTH["line_items"][1:], "total": "30.00"},
            [{"path": "line_items[0]", "page": 4}, {"path": "total", "page": 3}]),
    }  # fmt: skip

    def answer(request: RecordedRequest) -> dict[str, Any]:
        first = 3 if any("pages 3 to 4" in text for text in request.texts()) else 1
        reply, pages = chunks[first]
        return {**reply, VALUE_PAGES_KEY: pages}

    api = FakeClaudeAPI(answer=answer)
    backend = claude(api, limits=RequestLimits(max_pages=2))
    result = backend_extract(backend, build_pdf([PdfPage(content=text_ops([f"page {n}"])) for n in range(1, 5)]))
    assert result.chunks == 2
    assert [item.description for item in result.data.line_items] == ["Widget", "Gadget"]
    assert result.value_pages == {"invoice_number": 1, "line_items[0]": 2, "line_items[1]": 4, "total": 3}


def test_a_one_page_chunk_of_a_long_document_gives_its_values_its_page() -> None:
    api = FakeClaudeAPI(answer=answer_with_pages(PAGES))
    result = backend_extract(claude(api, limits=RequestLimits(max_pages=1)), two_pages())
    assert all(VALUE_PAGES_KEY not in (request.schema() or {})["properties"] for request in api.message_requests)
    # Each one-page request's values are on its page; merged, the line items follow each other and the
    # total is the last chunk's.
    assert result.chunks == 2 and len(result.data.line_items) == 4
    pages = result.value_pages or {}
    assert (pages["invoice_number"], pages["seller"], pages["total"]) == (1, 1, 2)
    assert [pages[f"line_items[{index}]"] for index in range(4)] == [1, 1, 2, 2]


def test_message_batches_replies_keep_their_pages() -> None:
    api = FakeClaudeAPI(answer=answer_with_pages(PAGES), usage={"input_tokens": 1000, "output_tokens": 200})
    store = MemoryBatchStore()
    backend = ClaudeBackend(client=api.client(), settings=settings())
    with Extractor(backend=backend, cache=None, settings=Settings.load(provenance=True)) as extractor:
        job = extractor.submit_batch([two_pages()], batch_store=store)
        (result,) = extractor.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    assert result.ok, result
    assert api.batches.submitted  # answered through the Batches API, not live
    assert result.provenance["total"].page == 2
    assert result.provenance["line_items"][1]["amount"].page == 2
    assert VALUE_PAGES_KEY not in json.dumps(result.data.model_dump(mode="json"))


# -- the pieces --------------------------------------------------------------------------------


def test_splitting_keeps_the_rest_of_the_reply_byte_for_byte() -> None:
    payload = (
        '{"total": 12345678901234567.89, "notes": "a \\"quoted\\" }", '
        + '"_value_pages": [{"path": "total", "page": 2}]}'
    )
    rest, pages = split_value_pages(payload)
    assert rest == '{"total": 12345678901234567.89,"notes": "a \\"quoted\\" }"}'
    assert json.loads(rest, parse_float=Decimal)["total"] == Decimal("12345678901234567.89")
    assert pages == {"total": 2}


def test_splitting_reads_paths_as_findings_write_them_and_skips_bad_entries() -> None:
    payload = json.dumps(
        {VALUE_PAGES_KEY: [
            {"path": "$.line_items.3.amount", "page": 2}, {"path": "seller", "page": "1"}, {"path": 5, "page": 1},
            {"path": "total", "page": True}, "total", {"path": "due_date"},
        ]}
    )  # fmt: skip
    assert split_value_pages(payload) == ("{}", {"line_items[3].amount": 2, "seller": 1})
    assert split_value_pages('{"total": 1}') == ('{"total": 1}', None)
    assert split_value_pages('{"_value_pages": [') == ('{"_value_pages": [', None)  # left for validation to report


def test_merging_takes_totals_from_the_chunk_that_has_them() -> None:
    first = Invoice.model_validate({"invoice_number": "A", "total": "1.00", "line_items": [{"description": "x"}]})
    last = Invoice.model_validate({"total": "2.00", "line_items": [{"description": "y"}, {"description": "z"}]})
    empty = Invoice.model_validate({"line_items": [{"description": "w"}]})
    merged = merge_value_pages(
        [first, last, empty],
        [{"invoice_number": 1, "total": 1, "line_items": 1},
         {"invoice_number": 2, "total": 2, "line_items[1]": 3},
         {"": 4, "total": 4}],
    )  # fmt: skip
    assert merged == {"invoice_number": 1, "total": 2, "line_items[0]": 1, "line_items[2]": 3, "line_items[3]": 4}


def test_a_one_page_document_has_no_value_pages() -> None:
    api = FakeClaudeAPI(answer=answer_with_pages(PAGES))
    result = backend_extract(claude(api), build_pdf([PdfPage(content=text_ops(PAGE_1 + PAGE_2))]))
    assert result.value_pages is None and result.chunks == 1


# A bad entry inside the object ({"total": True}, a page out of range) is dropped, not a miss:
# test_provenance_pages_edges.py::test_a_cache_entry_drops_bad_pages_instead_of_the_whole_entry.
@pytest.mark.parametrize("stored", [[1, 2], "2", 7])
def test_a_cache_entry_with_damaged_pages_is_a_miss(stored: object) -> None:
    from invoiceai.cache.envelope import UnreadableEntryError, read_envelope

    entry = {"version": "1", "data": {}, "value_pages": stored}
    with pytest.raises(UnreadableEntryError, match="value_pages"):
        read_envelope(json.dumps(entry), version="1")
    assert read_envelope(json.dumps({**entry, "value_pages": {"total": 2}}), version="1").value_pages == {"total": 2}
