"""Long documents at the defaults (issue 16): a 500-page PDF extracts, the token budget is priced up front.

The token budget is checked before the first request against the whole plan (every planned
request's estimated input plus its ``max_tokens``), so a document over it costs nothing: the
fake API counts the requests, the counting source the pages rendered. Pages are small and blank
so that 500 of them render in a second or two; they are still rendered at the default image size.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from claude_fakes import ANSWER, make_backend, run, settings
from documents_factory import example_invoice
from hostile_files import many_pages_pdf
from invoiceai import Extractor, Settings
from invoiceai.backends import TokenBudgetExceededError
from invoiceai.backends.claude import ClaudeBackend
from invoiceai.backends.claude.chunking import ChunkPlanner, RequestLimits, pages_per_request
from invoiceai.backends.claude.ledger import plan_cost
from invoiceai.backends.claude.request import api_schema
from invoiceai.documents import Document
from invoiceai.extractor.warm import WARM_PAGES, WarmPageSource, warm
from invoiceai.pages import ImageBudget
from invoiceai.render import open_document
from invoiceai.render.image_decode import TINY_SHRINK, resample_filter
from invoiceai.schema import Invoice
from invoiceai.testing import FakeBackend, FakeClaudeAPI, StaticPages
from streaming_fakes import CountingSource, SyntheticPages

SCHEMA = api_schema(Invoice)
CAP = pages_per_request(SCHEMA, RequestLimits(), 64_000)


@pytest.fixture(scope="module")
def pdf_500() -> bytes:
    return many_pages_pdf(500)


def test_a_500_page_pdf_extracts_with_the_default_settings(pdf_500: bytes) -> None:
    api = FakeClaudeAPI(answer=example_invoice())
    defaults = Settings()
    backend = ClaudeBackend(client=api.client(), settings=defaults, detect_capabilities=False)
    with Extractor(backend=backend, cache=None, settings=defaults) as extractor:
        result = extractor.extract(pdf_500)

    assert result.ok and result.pages == tuple(range(1, 501))
    requests = api.message_requests
    assert len(requests) == -(-500 // CAP)  # balanced chunks of at most CAP pages
    images = [image for request in requests for image in request.images()]
    assert len(images) == 500
    # At the default image size: a 612 x 792 pt page fills the 1.15 MP budget.
    budget = ImageBudget()
    assert all(image.width * image.height <= budget.max_pixels for image in images)
    assert max(image.width * image.height for image in images) > 0.98 * budget.max_pixels


def test_an_over_budget_document_fails_before_any_request_or_render(pdf_500: bytes) -> None:
    source = CountingSource(open_document(Document.from_bytes(pdf_500)))
    api = FakeClaudeAPI(answer=ANSWER)
    backend = make_backend(api, "sync", settings=settings(token_budget=1_000_000))
    with pytest.raises(TokenBudgetExceededError) as caught:
        run(backend, "sync", source)

    assert api.message_requests == []
    assert source.rendered == 0
    message = caught.value.message
    assert "500 pages" in message and f"{-(-500 // CAP)} requests" in message
    assert "token budget of 1,000,000" in message and "token_budget" in message
    assert "$" in message  # the estimate in dollars at the model's price
    assert "Nothing was sent" in message
    assert caught.value.attempts == 0


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_budget_is_checked_the_same_way_sync_and_async(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    source = SyntheticPages.blank(100)
    with pytest.raises(TokenBudgetExceededError):
        run(make_backend(api, flavour, settings=settings(token_budget=50_000)), flavour, source)
    assert api.message_requests == [] and source.rendered == 0


def test_the_plan_bounds_the_requests_a_dry_run_builds(pdf_500: bytes) -> None:
    backend = ClaudeBackend(settings=settings(token_budget=10), detect_capabilities=False)
    source = open_document(Document.from_bytes(many_pages_pdf(45)))
    estimate = backend.estimate(source, Invoice)  # a dry run reports; it does not refuse
    assert any("token budget" in warning for warning in estimate.warnings)

    limits = dataclasses.replace(RequestLimits(), max_pages=CAP)
    plan = plan_cost(
        runs=ChunkPlanner(45, limits).runs_left(), mode="images", texts=None, budget=backend.image_budget(),
        schema_json=SCHEMA, structured=True, model=backend.model, max_output_tokens=64_000,
    )  # fmt: skip
    built_input = sum(request.input_tokens for request in estimate.requests)
    built_output = sum(request.max_output_tokens for request in estimate.requests)
    assert plan.requests == len(estimate.requests)
    assert plan.max_output_tokens == built_output
    # Images are priced at the budget's full area: never below what is built, and close to it.
    assert built_input <= plan.input_tokens <= 1.05 * built_input


def test_text_mode_is_priced_from_the_text_layers() -> None:
    texts = ["x" * 4000] * 30
    base = {
        "budget": ImageBudget(),
        "schema_json": SCHEMA,
        "structured": True,
        "model": "m",
        "max_output_tokens": 64_000,
    }
    text = plan_cost(runs=[15, 15], mode="text", texts=texts, **base)  # type: ignore[arg-type]
    images = plan_cost(runs=[15, 15], mode="images", texts=None, **base)  # type: ignore[arg-type]
    both = plan_cost(runs=[15, 15], mode="images+text", texts=texts, **base)  # type: ignore[arg-type]
    assert text.input_tokens < images.input_tokens < both.input_tokens
    assert text.max_output_tokens == images.max_output_tokens == both.max_output_tokens


def test_warming_holds_no_long_document() -> None:
    backend = FakeBackend(default=example_invoice())  # no prepare(): warming renders the pages itself
    long = WarmPageSource(StaticPages.blank(WARM_PAGES + 1))
    warm(backend, long)
    assert long.warmed == ()  # left to stream when the backend reads it
    short = WarmPageSource(StaticPages.blank(WARM_PAGES))
    warm(backend, short)
    assert short.warmed == (backend.image_budget(),)


def _scan(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, "TIFF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("size", "expected"),
    [((915, 1294), Image.Resampling.BOX), ((1654, 2339), Image.Resampling.LANCZOS)],
    ids=["1.6% over the budget", "200 dpi A4"],
)
def test_a_tiny_shrink_is_not_resampled_with_lanczos(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], expected: Image.Resampling
) -> None:
    filters: list[object] = []
    original = Image.Image.resize

    def spy(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        filters.append((args[0], args[1] if len(args) > 1 else kwargs.get("resample")))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "resize", spy)
    budget = ImageBudget()
    (page,) = open_document(Document.from_bytes(_scan(size)), settings=Settings()).render(budget)

    target = budget.fit(*size)
    # The one resize to the page's size (the line-art check makes a thumbnail of its own).
    assert [resample for to, resample in filters if tuple(to) == target] == [expected]  # type: ignore[arg-type]
    assert (page.width, page.height) == target
    assert page.width * page.height <= budget.max_pixels


def test_the_filter_changes_exactly_at_the_tiny_shrink_line() -> None:
    assert resample_filter((1000, 1000), (970, 970)) is Image.Resampling.BOX
    assert resample_filter((1000, 1000), (969, 969)) is Image.Resampling.LANCZOS
    assert TINY_SHRINK == 0.97
