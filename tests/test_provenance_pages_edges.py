"""Value pages at their edges: a part completed by a later chunk, pages the model cannot have read,
cache entries with odd pages, and a user field that happens to be called ``_value_pages``."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from invoiceai import Extractor, Invoice, Settings
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.reply import split_value_pages
from invoiceai.backends.claude.value_pages import merge_value_pages
from invoiceai.cache import MemoryCache
from invoiceai.cache.envelope import MAX_PAGE_NUMBER, UnreadableEntryError, read_envelope, storable_value_pages
from invoiceai.extractor.steps import decode_cached, encode_cached
from invoiceai.schema.structured import VALUE_PAGES_KEY, adds_value_pages, output_json_schema
from invoiceai.testing import FakeBackend, FakeClaudeAPI, RecordedRequest
from render_fixtures import PdfPage, build_pdf, text_ops
from test_provenance_pages import PAGES, TRUTH, backend_extract, claude, two_pages, with_pages

# -- a part completed by a later chunk -------------------------------------------------------------

THREE_PAGES = [
    ["Invoice INV-0042", "Seller Muster GmbH", "Page one"],
    ["Page two", "Seller VAT DE136695976", "Other line"],
    ["Total 30,00 EUR", "Page three"],
]


def _answer_by_page(request: RecordedRequest) -> dict[str, Any]:
    texts = " ".join(request.texts())
    if "pages 2 to 2" in texts:
        return {"seller": {"vat_id": "DE136695976"}}
    if "pages 3 to 3" in texts:
        return {"total": "30.00", "currency": "EUR"}
    return {"invoice_number": "INV-0042", "seller": {"name": "Muster GmbH"}}


def test_a_party_completed_by_a_later_chunk_gets_that_chunk_s_page() -> None:
    pdf = build_pdf([PdfPage(content=text_ops(lines)) for lines in THREE_PAGES])
    api = FakeClaudeAPI(answer=_answer_by_page)
    backend = claude(api, limits=RequestLimits(max_pages=1))
    with Extractor(backend=backend, cache=None, settings=Settings.load(provenance=True)) as extractor:
        result = extractor.extract(pdf)
    assert (result.data.seller.name, result.data.seller.vat_id) == ("Muster GmbH", "DE136695976")
    vat_id, name = result.provenance["seller.vat_id"], result.provenance["seller.name"]
    assert (vat_id.page, vat_id.grounding, vat_id.confidence) == (2, "grounded", "high")
    assert not [item for item in vat_id.evidence if "model named" in item]
    assert (name.page, name.confidence) == (1, "high")
    pages = backend_extract(claude(FakeClaudeAPI(answer=_answer_by_page), limits=RequestLimits(max_pages=1)), pdf)
    assert pages.value_pages == {"invoice_number": 1, "seller.name": 1, "seller.vat_id": 2, "currency": 3, "total": 3}


def test_a_part_named_by_two_chunks_gives_each_value_the_page_of_the_chunk_it_came_from() -> None:
    first = Invoice.model_validate({"seller": {"name": "A", "address": {"street": "Hauptstr. 1"}}})
    later = Invoice.model_validate({"seller": {"name": "B", "vat_id": "DE136695976", "address": {"city": "Berlin"}}})
    merged = merge_value_pages([first, later], [{"seller": 1}, {"seller": 3, "seller.address": 4}])
    assert merged == {"seller.name": 1, "seller.address.street": 1, "seller.vat_id": 3, "seller.address.city": 4}


def test_a_part_wholly_from_the_first_chunk_keeps_one_entry() -> None:
    part = Invoice.model_validate({"seller": {"name": "A"}, "invoice_number": "1"})
    merged = merge_value_pages([part, part], [{"": 1, "seller.name": 2}, {"": 3}])
    assert merged == {"seller": 1, "seller.name": 2, "invoice_number": 1}


# -- pages the model cannot have read ---------------------------------------------------------------


def test_reading_a_reply_drops_pages_outside_the_request() -> None:
    entries = [
        {"path": "a", "page": 3}, {"path": "b", "page": 4}, {"path": "c", "page": 5}, {"path": "d", "page": 2},
        {"path": "e", "page": 0}, {"path": "f", "page": -1}, {"path": "g", "page": 10**9}, {"path": "h", "page": "²"},
        {"path": "i", "page": "HUGE"},
    ]  # fmt: skip
    # A number too long for int() (5000 digits) must not stop the split either.
    text = json.dumps({"total": 1, VALUE_PAGES_KEY: entries}).replace('"HUGE"', "9" * 5000)
    assert split_value_pages(text, range(3, 5)) == ('{"total": 1}', {"a": 3, "b": 4})
    assert split_value_pages(text) == ('{"total": 1}', {"a": 3, "b": 4, "c": 5, "d": 2})


def test_a_chunk_s_reply_keeps_only_the_pages_of_its_chunk() -> None:
    def answer(request: RecordedRequest) -> dict[str, Any]:
        later = any("pages 3 to 4" in text for text in request.texts())
        reply = {"total": "30.00"} if later else {"invoice_number": "INV-0042"}
        pages = [{"path": "total", "page": 1}] if later else [{"path": "invoice_number", "page": 4}]
        return {**reply, VALUE_PAGES_KEY: pages}

    pdf = build_pdf([PdfPage(content=text_ops([f"page {n}"])) for n in range(1, 5)])
    result = backend_extract(claude(FakeClaudeAPI(answer=answer), limits=RequestLimits(max_pages=2)), pdf)
    assert result.chunks == 2
    assert result.value_pages is None  # each chunk named a page it was not sent


def test_an_absurd_page_in_a_reply_leaves_the_cache_usable() -> None:
    cache = MemoryCache()
    backend = FakeBackend(default=with_pages([*PAGES, {"path": "currency", "page": 10**9}]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CacheWarning would fail the test
        with Extractor(backend=backend, cache=cache, settings=Settings.load(provenance=True)) as extractor:
            results = [extractor.extract(two_pages()) for _ in range(3)]
    assert [result.cached for result in results] == [False, True, True]
    assert len(backend.history) == 1
    assert not [item for item in results[0].provenance["currency"].evidence if str(10**9) in item]


# -- the cache entry ------------------------------------------------------------------------------


def test_a_cache_entry_drops_bad_pages_instead_of_the_whole_entry() -> None:
    entry = {"version": "1", "data": {}, "value_pages": {"total": 2, "a": 10**9, "b": True, "c": "2", "d": 0}}
    assert read_envelope(json.dumps(entry), version="1").value_pages == {"total": 2}
    entry["value_pages"] = {"a": -3}
    assert read_envelope(json.dumps(entry), version="1").value_pages is None
    entry["value_pages"] = [1, 2]  # not pages at all: the row is damaged
    with pytest.raises(UnreadableEntryError, match="value_pages"):
        read_envelope(json.dumps(entry), version="1")


@given(
    st.dictionaries(
        st.one_of(st.text(max_size=8), st.integers()),
        st.one_of(st.integers(), st.integers(-5, MAX_PAGE_NUMBER + 5), st.booleans(), st.floats(), st.text(max_size=3)),
        max_size=6,
    )
)
def test_the_cache_never_writes_pages_it_refuses_to_read(value_pages: dict[Any, Any]) -> None:
    data = Invoice.model_validate({"invoice_number": "1"})
    text = encode_cached(data, model="m", pages=[1, 2], warnings=[], value_pages=value_pages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = decode_cached(text, Invoice)
    assert cached is not None
    assert cached.value_pages == storable_value_pages(value_pages)
    assert all(1 <= page <= MAX_PAGE_NUMBER for page in (cached.value_pages or {}).values())


# -- a field of the user's called _value_pages ------------------------------------------------------


class _Item(BaseModel):
    description: str | None = None


class _Aliased(BaseModel):
    invoice_number: str | None = None
    notes: list[_Item] = Field(default_factory=list, alias=VALUE_PAGES_KEY)


def test_a_field_aliased_like_the_pages_property_is_the_user_s() -> None:
    assert adds_value_pages(output_json_schema(Invoice))
    assert not adds_value_pages(output_json_schema(_Aliased))
    api = FakeClaudeAPI(answer=lambda request: {"invoice_number": "A", VALUE_PAGES_KEY: [{"description": "mine"}]})
    with Extractor(backend=claude(api), cache=None) as extractor:
        result = extractor.extract(two_pages(), schema=_Aliased)
    (request,) = api.message_requests
    sent = (request.schema() or {})["properties"][VALUE_PAGES_KEY]
    assert "path" not in json.dumps(sent)  # the user's property, not the pages
    assert [item.description for item in result.data.notes] == ["mine"]


def test_the_invoice_is_still_asked_for_pages() -> None:
    api = FakeClaudeAPI(answer=lambda request: with_pages(PAGES, TRUTH))
    result = backend_extract(claude(api), two_pages())
    assert result.value_pages == {entry["path"]: entry["page"] for entry in PAGES}
