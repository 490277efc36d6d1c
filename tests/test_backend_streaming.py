"""Start early (issue 10): a long document's pages reach the API in chunks as they are rendered.

``FakeClaudeAPI(on_request=...)`` notes how many pages the source had yielded when each request
arrived; the reference plan is :func:`plan_chunks` over every page rendered up front, which is
what the backend sent before pages were streamed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_fakes import USAGE, make_backend, run, settings
from hostile_files import many_pages_pdf
from invoiceai.backends import TokenBudgetExceededError
from invoiceai.backends.claude.chunking import ChunkPlanner, RequestLimits, pages_per_request, plan_chunks
from invoiceai.backends.claude.request import api_schema
from invoiceai.config import Settings
from invoiceai.documents import Document
from invoiceai.errors import AuthenticationError
from invoiceai.pages import ImageBudget, Page
from invoiceai.render import open_document
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, StaticPages
from streaming_fakes import CountingSource, SyntheticPages, pages_answer, request_pages

TINY = ImageBudget(max_long_edge=160, max_pixels=160 * 210)
# Pages per request for an Invoice answer at the fakes' 64k output limit: what fits a dense
# page's line items per page (the API's own limit, 20, when the schema is small).
CAP = pages_per_request(api_schema(Invoice), RequestLimits(), 64_000)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sent_chunks(api: FakeClaudeAPI) -> list[range]:
    chunks = []
    for request in api.message_requests:
        pages = request_pages(request)
        chunks.append(range(pages[0] - 1, pages[-1]))
    return chunks


def test_a_500_page_pdf_sends_its_first_request_before_page_100(flavour: str) -> None:
    # 500 pages is past the default max_pages (250): a caller who wants them says so.
    source = CountingSource(open_document(Document.from_bytes(many_pages_pdf(500)), settings=Settings(max_pages=500)))
    api = FakeClaudeAPI(answer=pages_answer(500), usage=USAGE, on_request=source.on_request)
    result = run(make_backend(api, flavour, max_image_budget=TINY), flavour, source)

    first_request_after = source.seen[0][0]
    assert first_request_after < 100
    assert first_request_after == CAP  # exactly the first chunk's pages, then the request
    # What rendering every page first and planning the whole document gave, chunk for chunk.
    (budget,) = source.budgets
    sizes = [len(page.data) for page in source.inner.render(budget)]
    expected = plan_chunks(sizes, dataclasses.replace(RequestLimits(), max_pages=CAP))
    assert len(expected) == math.ceil(500 / CAP)
    assert sent_chunks(api) == expected
    assert [rendered for rendered, _ in source.seen] == [chunk.stop for chunk in expected]
    assert result.chunks == len(expected) and result.attempts == len(expected)
    assert [item.description for item in result.data.line_items] == [f"page {n}" for n in range(1, 501)]
    assert result.data.invoice_number == "LONG-1" and result.data.total == Decimal("99.00")
    assert source.closed == 1


def test_pages_of_answered_chunks_are_not_kept(flavour: str) -> None:
    source = SyntheticPages.blank(500)
    api = FakeClaudeAPI(answer=pages_answer(500), on_request=source.on_request)
    result = run(make_backend(api, flavour), flavour, source)

    assert len(api.message_requests) == math.ceil(500 / CAP)
    assert source.seen[0][0] == CAP
    # At every request the pages alive anywhere are that request's, never the document's.
    assert max(alive for _, alive in source.seen) == CAP
    assert [rendered for rendered, _ in source.seen] == [*range(CAP, 500, CAP), 500]
    assert len(result.data.line_items) == 500
    assert source.alive == 0


def test_byte_limits_cut_chunks_where_the_whole_document_plan_does(flavour: str) -> None:
    # Payloads of varied sizes against a small request: runs are cut early in several places.
    padding = [(index * 7919) % 40_000 for index in range(60)]
    source = SyntheticPages.blank(60, padding=padding)
    limits = RequestLimits(max_pages=10, max_request_bytes=150_000, reserved_bytes=0)
    api = FakeClaudeAPI(answer=pages_answer(60), on_request=source.on_request)
    result = run(make_backend(api, flavour, limits=limits), flavour, source)

    (budget,) = source.budgets
    expected = plan_chunks([len(page.data) for page in source.render(budget)], limits)
    assert len(expected) > 6  # cut by bytes, not only by the 10-page cap
    assert sent_chunks(api) == expected
    # Sent once its last page is in, or (cut by bytes) once the next page shows it is full.
    arrivals = zip(source.seen, expected, strict=True)
    assert all(chunk.stop <= rendered <= chunk.stop + 1 for (rendered, _), chunk in arrivals)
    assert [item.description for item in result.data.line_items] == [f"page {n}" for n in range(1, 61)]


def test_images_refused_mid_document_rerender_only_what_is_left(flavour: str) -> None:
    # Pages 1-15 are small; from page 16 on they are too large for the fake's 1000 px limit.
    source = SyntheticPages([(600, 800)] * 15 + [(1500, 2000)] * 30)
    api = FakeClaudeAPI(answer=pages_answer(45), max_image_side=1000, on_request=source.on_request)
    result = run(make_backend(api, flavour, model="claude-sonnet-5", detail="high"), flavour, source)

    statuses = [request.status for request in api.message_requests]
    assert statuses == [200, 400, 200, 200]
    assert sent_chunks(api) == [range(15), range(15, 30), range(15, 30), range(30, 45)]
    assert [budget.long_edge for budget in source.budgets] == [2576, 1000]
    resent = [image for request in api.message_requests[2:] for image in request.images()]
    assert all(max(image.width, image.height) <= 1000 for image in resent)
    # The first chunk's answer stands: its pages were re-rendered and skipped, not sent again.
    assert [item.description for item in result.data.line_items] == [f"page {n}" for n in range(1, 46)]
    assert result.attempts == 4 and result.chunks == 3
    assert source.closed == 2 and source.alive == 0


def test_a_spent_token_budget_stops_rendering(flavour: str) -> None:
    source = SyntheticPages.blank(500)
    # The plan (500 pages) fits the budget; the first reply spends it, so chunk 2 is not sent.
    api = FakeClaudeAPI(usage={"input_tokens": 3_000_000, "output_tokens": 5000}, on_request=source.on_request)
    backend = make_backend(api, flavour, settings=settings(token_budget=3_006_000))
    with pytest.raises(TokenBudgetExceededError) as caught:
        run(backend, flavour, source)
    assert len(api.message_requests) == 1
    assert source.rendered == 2 * CAP  # the second chunk was rendered and found too expensive; no more
    assert caught.value.usage is not None and caught.value.usage.requests == 1
    assert source.closed == 1


def test_a_failed_request_closes_the_render_in_progress(flavour: str) -> None:
    source = SyntheticPages.blank(100)
    api = FakeClaudeAPI(on_request=source.on_request).enqueue(Fault.unauthorized())
    with pytest.raises(AuthenticationError):
        run(make_backend(api, flavour), flavour, source)
    assert source.rendered == math.ceil(100 / math.ceil(100 / CAP))  # the first of evenly sized chunks
    assert source.closed == 1


def test_a_context_window_split_mid_document_keeps_page_order(flavour: str) -> None:
    source = SyntheticPages.blank(45)
    # The first request passes (a no-op fault); the second, chunk 2, is too long for the context.
    api = FakeClaudeAPI(answer=pages_answer(45)).enqueue(Fault.slow(0), Fault.context_window_exceeded())
    result = run(make_backend(api, flavour), flavour, source)
    assert sent_chunks(api) == [range(15), range(15, 30), range(15, 22), range(22, 30), range(30, 45)]
    assert [item.description for item in result.data.line_items] == [f"page {n}" for n in range(1, 46)]
    assert result.chunks == 4 and source.alive == 0


@pytest.mark.parametrize("mode", ["images+text", "text"])
def test_text_layers_stay_with_their_pages_in_every_chunk(flavour: str, mode: str) -> None:
    # Odd pages are born-digital, even pages scanned.
    texts = [f"text of page {n}" if n % 2 else None for n in range(1, 46)]
    api = FakeClaudeAPI(answer=pages_answer(45))
    result = run(
        make_backend(api, flavour, mode=mode), flavour, StaticPages.blank(45, width=120, height=160, texts=texts)
    )

    assert result.chunks == 3
    for request, chunk in zip(api.message_requests, [range(15), range(15, 30), range(30, 45)], strict=True):
        numbers = list(range(chunk.start + 1, chunk.stop + 1))
        hints = [text for text in request.texts() if text.startswith("<page_text")]
        assert hints == [f'<page_text page="{n}">\ntext of page {n}\n</page_text>' for n in numbers if n % 2]
        scanned = [n for n in numbers if n % 2 == 0]
        assert len(request.images()) == (len(numbers) if mode == "images+text" else len(scanned))


@pytest.mark.parametrize(("announced", "actual"), [(30, 35), (30, 25), (45, 44)])
def test_a_source_that_miscounts_its_pages_loses_none(flavour: str, announced: int, actual: int) -> None:
    source = SyntheticPages.blank(actual, announced=announced)
    api = FakeClaudeAPI(answer=pages_answer(actual))
    result = run(make_backend(api, flavour), flavour, source)

    assert [item.description for item in result.data.line_items] == [f"page {n}" for n in range(1, actual + 1)]
    sent = sent_chunks(api)
    assert [page for chunk in sent for page in chunk] == list(range(actual))
    assert all(len(chunk) <= 20 for chunk in sent)
    assert sum("the source rendered" in warning for warning in result.warnings) == 1


def test_an_empty_render_is_an_empty_document_error(flavour: str) -> None:
    from invoiceai.errors import EmptyDocumentError

    api = FakeClaudeAPI()
    with pytest.raises(EmptyDocumentError, match="rendered no pages"):
        run(make_backend(api, flavour), flavour, SyntheticPages.blank(0, announced=3))
    assert api.message_requests == []


# -- the incremental planner is the whole-document planner -------------------------------------


def _reference_plan(page_bytes: list[int], limits: RequestLimits) -> list[range]:
    # plan_chunks as it was before pages were streamed: every size known, then planned.
    import math

    count = len(page_bytes)
    if count == 0:
        return []
    per_chunk = min(limits.max_pages, limits.max_images)
    size = math.ceil(count / math.ceil(count / per_chunk))
    room = max(1, limits.max_request_bytes - limits.reserved_bytes)
    result: list[range] = []
    for planned in [range(start, min(start + size, count)) for start in range(0, count, size)]:
        start, used = planned.start, 0
        for index in planned:
            encoded = 4 * math.ceil(page_bytes[index] / 3)
            if index > start and used + encoded > room:
                result.append(range(start, index))
                start, used = index, 0
            used += encoded
        result.append(range(start, planned.stop))
    return result


@given(
    sizes=st.lists(st.integers(0, 3_000), max_size=120),
    max_pages=st.integers(1, 25),
    room=st.integers(1, 12_000),
)
def test_the_planner_fed_page_by_page_plans_what_the_whole_document_plan_does(
    sizes: list[int], max_pages: int, room: int
) -> None:
    limits = RequestLimits(max_pages=max_pages, max_request_bytes=room, reserved_bytes=0)
    planner = ChunkPlanner(len(sizes), limits)
    fed: list[range] = []
    for index, size in enumerate(sizes):
        closed = planner.feed(size)
        # A chunk is handed out as soon as its pages are in, never later than the next page.
        assert all(chunk.stop in (index, index + 1) for chunk in closed)
        fed += closed
    assert fed + planner.finish() == _reference_plan(sizes, limits) == plan_chunks(sizes, limits)


@given(sizes=st.lists(st.integers(0, 3_000), min_size=1, max_size=80), cut=st.integers(0, 100))
def test_the_planner_covers_every_page_of_a_miscounted_source(sizes: list[int], cut: int) -> None:
    limits = RequestLimits(max_pages=7, max_request_bytes=6_000, reserved_bytes=0)
    announced = max(1, len(sizes) * cut // 50)  # from far fewer to about twice as many
    planner = ChunkPlanner(announced, limits)
    chunks = [chunk for size in sizes for chunk in planner.feed(size)] + planner.finish()
    assert [index for chunk in chunks for index in chunk] == list(range(len(sizes)))
    assert all(1 <= len(chunk) <= 7 for chunk in chunks)


def test_cancelling_an_async_extraction_mid_render_closes_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading

    from invoiceai.backends.claude.steps import SourceReader

    class Blocking(SyntheticPages):
        # Page 5 waits for ``release``; ``entered`` says its render has started.
        def __init__(self) -> None:
            super().__init__([(120, 160)] * 30)
            self.entered = threading.Event()
            self.release = threading.Event()

        def render(self, budget: ImageBudget) -> Iterator[Page]:
            for page in super().render(budget):
                if page.index == 4:
                    self.entered.set()
                    assert self.release.wait(10)
                yield page

    closing = threading.Event()
    close = SourceReader.close

    def noted_close(reader: SourceReader) -> None:
        closing.set()
        close(reader)

    monkeypatch.setattr(SourceReader, "close", noted_close)
    source = Blocking()
    api = FakeClaudeAPI()

    async def scenario() -> None:
        task = asyncio.create_task(make_backend(api, "async").aextract(source, Invoice))
        assert await asyncio.to_thread(source.entered.wait, 10)
        task.cancel()
        # The task closes the reader while the cancelled read still renders page 5 in its thread.
        assert await asyncio.to_thread(closing.wait, 10)
        source.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert source.closed == 1
    assert api.message_requests == []
