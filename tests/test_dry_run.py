"""Dry runs: the requests a live run would send, counted and priced, with nothing sent to the Messages API."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from claude_fakes import settings
from documents_factory import SAMPLE_FACTURX, example_invoice, pdf_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.prices import DEFAULT_PRICES, token_cost
from invoiceai.cache import MemoryCache
from invoiceai.cli import main
from invoiceai.errors import ConfigurationError
from invoiceai.testing import FakeBackend, FakeClaudeAPI, RecordedRequest, StaticPages
from render_fixtures import build_pdf, invoice_page
from streaming_fakes import SyntheticPages

ANSWER = example_invoice().model_dump(mode="json")


def documents() -> list[bytes]:
    """A photo-sized PNG, a three-page scanned PDF and a two-page born-digital PDF (text layers)."""
    return [
        png_invoice("photo", size=(1700, 2200)),
        pdf_invoice("scan", pages=3),
        build_pdf([invoice_page(1), invoice_page(2)]),
    ]


def counted(api: FakeClaudeAPI) -> list[RecordedRequest]:
    return [request for request in api.requests if request.path.endswith("/v1/messages/count_tokens")]


def extractor_for(api: FakeClaudeAPI, **options: Any) -> Extractor:
    options.setdefault("cache", None)
    return Extractor(client=api.client(), settings=settings(), **options)


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.mark.parametrize("detail", ["standard", "high"])
@pytest.mark.parametrize("mode", ["images", "images+text", "text"])
def test_local_estimates_are_within_5_percent_of_what_the_api_counts(mode: str, detail: Any) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    with extractor_for(api, mode=mode) as extractor:
        local = extractor.estimate(documents(), detail=detail)
        exact = extractor.estimate(documents(), detail=detail, count_tokens=True)
    assert api.message_requests == []  # nothing was sent to the Messages API
    assert len(counted(api)) == sum(estimate.requests for estimate in exact) == 3
    for mine, theirs in zip(local, exact, strict=True):
        assert (mine.method, theirs.method) == ("local", "count_tokens")
        assert (mine.origin, mine.pages, mine.requests) == (theirs.origin, theirs.pages, theirs.requests) == (
            "model", mine.pages, 1,
        )  # fmt: skip
        assert abs(mine.input_tokens - theirs.input_tokens) <= 0.05 * theirs.input_tokens, (mine, theirs)
    assert [estimate.pages for estimate in local] == [1, 3, 2]


def test_the_dry_run_counts_the_very_requests_a_live_run_sends() -> None:
    api = FakeClaudeAPI(answer=ANSWER)  # usage: the fake's own count, prompt caching simulated
    with extractor_for(api, mode="images+text") as extractor:
        estimates = extractor.estimate(documents(), count_tokens=True)
        dry = [request.body for request in counted(api)]
        results = extractor.extract_many(documents(), progress=False, concurrency=1)
    live = [
        {key: value for key, value in request.body.items() if key != "max_tokens"} for request in api.message_requests
    ]
    assert dry == live
    assert [estimate.max_output_tokens for estimate in estimates] == [
        r.body["max_tokens"] for r in api.message_requests
    ]
    for estimate, result in zip(estimates, results, strict=True):
        assert result.ok
        assert estimate.input_tokens == result.usage.total_input_tokens
        assert estimate.requests == result.usage.requests


def test_nothing_is_sent_for_einvoices_and_cache_hits() -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    photo, other = png_invoice("cached"), png_invoice("new")
    with extractor_for(api, cache=MemoryCache()) as extractor:
        extractor.extract(photo)
        estimates = extractor.estimate([photo, SAMPLE_FACTURX, other])
    assert len(api.message_requests) == 1  # the live extract only
    cached, einvoice, new = estimates
    assert (cached.origin, cached.pages, cached.requests, cached.input_tokens, cached.cost_usd) == ("cache", 1, 0, 0, 0)
    assert (einvoice.origin, einvoice.requests, einvoice.cost_usd, einvoice.batch_cost_usd) == ("einvoice", 0, 0, 0)
    assert (new.origin, new.requests, new.method) == ("model", 1, "local")
    assert new.input_tokens > 1000


def test_costs_are_priced_live_and_batched(no_key: None) -> None:
    backend = ClaudeBackend(settings=settings(), detect_capabilities=False)  # no key, no client: a local estimate
    estimate = backend.estimate(SyntheticPages.blank(45, size=(1240, 1754)), type(example_invoice()))
    assert len(estimate.requests) == 3  # 45 pages: three balanced requests, as live
    assert estimate.pages == 45
    price = DEFAULT_PRICES[backend.model]
    live = token_cost(price, input_tokens=estimate.input_tokens, output_tokens=estimate.max_output_tokens)
    assert estimate.cost_usd == live > 0
    assert estimate.batch_cost_usd == live / 2
    assert estimate.max_output_tokens == sum(request.max_output_tokens for request in estimate.requests)
    assert all(request.images == 15 for request in estimate.requests)


def test_an_unpriced_model_and_the_token_budget_are_reported(no_key: None) -> None:
    backend = ClaudeBackend("my-proxy-model", settings=settings(token_budget=3000), detect_capabilities=False)
    estimate = backend.estimate(StaticPages.blank(1, width=600, height=800), type(example_invoice()))
    assert estimate.cost_usd is None and estimate.batch_cost_usd is None
    assert any("token budget" in warning for warning in estimate.warnings)
    assert any("no price" in warning for warning in estimate.warnings)


class Strict(BaseModel):
    number: str
    total: Decimal


def test_any_schema_and_both_output_modes_can_be_estimated() -> None:
    api = FakeClaudeAPI(answer=ANSWER, structured_outputs=False)
    with extractor_for(api, model="claude-sonnet-4-0") as extractor:
        (estimate,) = extractor.estimate([png_invoice()], schema=Strict, count_tokens=True)
    assert estimate.ok and estimate.requests == 1
    (request,) = counted(api)
    assert request.body["tool_choice"]["type"] == "tool"  # forced tool use, built as live
    assert set(request.schema()["properties"]) == {"number", "total"}  # type: ignore[index]


def test_pdf_mode_is_one_document_block(no_key: None) -> None:
    backend = ClaudeBackend(settings=settings(), mode="pdf", detect_capabilities=False)
    with Extractor(backend=backend, cache=None) as extractor:
        (estimate,) = extractor.estimate([pdf_invoice("p", pages=3)])
    assert (estimate.requests, estimate.pages) == (1, 3)


def test_count_tokens_needs_a_key_but_the_local_estimate_does_not(no_key: None) -> None:
    with Extractor(cache=None, settings=settings()) as extractor:
        (local,) = extractor.estimate([png_invoice()])
        (failed,) = extractor.estimate([png_invoice()], count_tokens=True)
    assert local.ok and local.method == "local"
    assert isinstance(failed.error, ConfigurationError)
    assert "ANTHROPIC_API_KEY" in failed.error.message


def test_a_backend_without_estimate_is_refused() -> None:
    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    with extractor, pytest.raises(ConfigurationError, match="estimate"):
        extractor.estimate([png_invoice()])


def test_a_document_that_cannot_be_read_is_reported_in_its_place(no_key: None) -> None:
    with Extractor(cache=None, settings=settings()) as extractor:
        estimates = extractor.estimate([b"%PDF-1.7\n% truncated", png_invoice()])
    assert not estimates[0].ok and estimates[1].ok
    assert estimates[0].to_dict()["error"]["type"] == type(estimates[0].error).__name__


# -- the command line -----------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_dry_run_prints_a_labelled_estimate_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    image = tmp_path / "scan.png"
    image.write_bytes(png_invoice())
    api = FakeClaudeAPI(answer=ANSWER)
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code, table, err = run_cli(["extract", "--dry-run", str(image), str(SAMPLE_FACTURX)], capsys)
        _, as_json, _ = run_cli(["extract", "--dry-run", "--detail", "high", "--format", "json", str(image)], capsys)
        _, exact, _ = run_cli(["extract", "--dry-run", "--count-tokens", "--format", "jsonl", str(image)], capsys)
    assert code == 0, err
    assert "nothing was sent" in table
    assert "local estimate" in table and "einvoice" in table
    (estimate,) = json.loads(as_json)
    assert (estimate["origin"], estimate["requests"], estimate["method"]) == ("model", 1, "local")
    assert Decimal(estimate["batch_cost_usd"]) * 2 == Decimal(estimate["cost_usd"])
    assert json.loads(exact)["method"] == "count_tokens"
    assert api.message_requests == []
    assert len(counted(api)) == 1
    assert "sk-ant-test-key" not in table + as_json + exact + err


def test_a_repeated_document_is_estimated_once_as_extract_many_sends_it_once() -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    photo = png_invoice("twice")
    with extractor_for(api) as extractor:
        first, again, third = extractor.estimate([photo, photo, photo])
        extractor.extract_many([photo, photo, photo])
    assert len(api.message_requests) == first.requests == 1
    assert (again.origin, again.requests, again.cost_usd, again.document_id) == ("cache", 0, 0, first.document_id)
    assert third.requests == 0 and "input 1" in third.warnings[0]


def test_token_counting_is_retried_like_a_request_after_a_429() -> None:
    import anthropic
    import httpx2

    counts: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/count_tokens"):
            counts.append(request.url.path)
            if len(counts) == 1:
                error = {"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited"}}
                return httpx2.Response(429, headers={"retry-after": "0"}, json=error)
            return httpx2.Response(200, json={"input_tokens": 1234})
        if "/v1/models/" in request.url.path:
            return httpx2.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "no"}})
        return httpx2.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "not here"}})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="sk-ant-test", http_client=http, max_retries=0)
    with Extractor(client=client, settings=settings(), cache=None) as extractor:
        (estimate,) = extractor.estimate([png_invoice("counted")], count_tokens=True)
    assert estimate.ok, estimate.error
    assert (estimate.method, estimate.input_tokens) == ("count_tokens", 1234)
    assert len(counts) == 2
