"""invoiceai.testing: FakeBackend, StaticPages and the fake Claude API's own behaviour."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import anthropic
import httpx2
import pytest
from PIL import Image

from invoiceai.backends import Backend
from invoiceai.errors import RateLimitError
from invoiceai.pages import ImageBudget, PageSource
from invoiceai.schema import Invoice
from invoiceai.testing import (
    FAKE_API_KEY,
    FakeBackend,
    FakeClaudeAPI,
    Fault,
    NoReplyQueuedError,
    StaticPages,
    image_info,
    make_page_image,
)

# -- FakeBackend ---------------------------------------------------------------------------


def test_fake_backend_answers_from_its_queue_and_records_calls() -> None:
    backend = FakeBackend()
    assert isinstance(backend, Backend)
    backend.enqueue({"invoice_number": "A", "total": "1.234,50"}, Invoice(invoice_number="B"))
    backend.enqueue(RateLimitError("slow down"), lambda call: {"invoice_number": f"pages={call.page_count}"})
    source = StaticPages.blank(2, width=100, height=130)

    first = backend.extract(source, Invoice)
    assert first.data.invoice_number == "A"
    assert str(first.data.total) == "1234.50"  # validated into the schema, normalisation included
    second = asyncio.run(backend.aextract(source, Invoice, document_id="doc-2"))
    assert second.data.invoice_number == "B"
    with pytest.raises(RateLimitError):
        backend.extract(source, Invoice)
    assert backend.extract(source, Invoice).data.invoice_number == "pages=2"
    with pytest.raises(NoReplyQueuedError):
        backend.extract(source, Invoice)

    assert [call.document_id for call in backend.history][:2] == [source.document_id, "doc-2"]
    assert [call.is_async for call in backend.history][:2] == [False, True]
    assert len(backend.history[0].pages) == 2
    assert source.render_calls[0] == backend.image_budget()


def test_fake_backend_default_reply_and_copies() -> None:
    shared = Invoice(invoice_number="X")
    backend = FakeBackend(default=shared)
    result = backend.extract(StaticPages.blank(1, width=50, height=60), Invoice)
    result.data.invoice_number = "changed"
    assert shared.invoice_number == "X"
    backend.close()
    assert backend.closed


# -- StaticPages ------------------------------------------------------------------------------


def test_static_pages_is_a_page_source_that_shrinks_to_the_budget() -> None:
    source = StaticPages([make_page_image(3000, 4000, format="JPEG"), make_page_image(800, 600)], texts=["t", None])
    assert isinstance(source, PageSource)
    pages = list(source.render(ImageBudget(max_long_edge=1000, max_pixels=500_000)))
    assert [(p.media_type, max(p.width, p.height) <= 1000, p.width * p.height <= 500_000) for p in pages] == [
        ("image/jpeg", True, True),
        ("image/png", True, True),
    ]
    assert image_info(pages[0].data) == ("image/jpeg", pages[0].width, pages[0].height)
    assert pages[0].born_digital and not pages[1].born_digital
    assert pages[1].width == 800  # within budget: sent untouched


def test_static_pages_converts_formats_the_api_does_not_take() -> None:
    tiff = make_page_image(200, 300, format="TIFF")
    (page,) = StaticPages([tiff]).render(ImageBudget())
    assert page.media_type == "image/png"
    assert image_info(page.data)[0] == "image/png"


# -- the fake Claude API --------------------------------------------------------------------


def image_block(data: bytes, media_type: str = "image/png", **extra: object) -> dict[str, object]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode()},
        **extra,
    }


def create(client: anthropic.Anthropic, content: list[dict[str, object]], **extra: object) -> anthropic.types.Message:
    return client.messages.create(
        model="claude-sonnet-5", max_tokens=100, messages=[{"role": "user", "content": content}], **extra
    )


def test_fake_api_rejects_what_the_real_api_rejects() -> None:
    api = FakeClaudeAPI()
    client = api.client()
    png = make_page_image(100, 100)
    with pytest.raises(anthropic.BadRequestError, match="media type"):
        create(client, [image_block(png, "image/jpeg")])
    with pytest.raises(anthropic.BadRequestError, match="Too many images"):
        create(client, [image_block(make_page_image(10, 10))] * 101)
    with pytest.raises(anthropic.BadRequestError, match="cache_control"):
        create(client, [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}] * 5)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(model="m", max_tokens=10**6, messages=[{"role": "user", "content": "x"}], timeout=5)
    many = [image_block(make_page_image(2100, 100))] * 21
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(client, many)
    assert caught.value.error_code == "image_dimensions_too_large"
    assert all(request.status == 400 for request in api.requests)


def test_fake_api_oversized_image_error_has_the_real_shape() -> None:
    api = FakeClaudeAPI(max_image_side=500)
    client = api.client()
    big = make_page_image(600, 400)
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(
            client, [{"type": "text", "text": "Page 1"}, image_block(big, transformations={"oversized_image": "error"})]
        )
    error = caught.value
    assert type(error).__name__ == "ImageDimensionsTooLargeError"
    assert error.details.max_side_length_pixels == 500  # type: ignore[union-attr]
    assert error.details.paths == ["messages.0.content.1"]  # type: ignore[union-attr]
    assert error.request_id == api.requests[-1].request_id
    # Without the transformation the real API silently downsizes: the fake accepts and counts it.
    create(client, [image_block(big)])
    assert api.downsized_images == 1


def test_fake_api_answers_structured_and_tool_requests_from_the_schema() -> None:
    api = FakeClaudeAPI()
    client = api.client()
    schema = {"type": "object", "properties": {"n": {"type": ["integer", "null"]}, "xs": {"type": "array"}}}
    structured = create(
        client, [{"type": "text", "text": "hi"}], output_config={"format": {"type": "json_schema", "schema": schema}}
    )
    assert json.loads(structured.content[0].text) == {"n": None, "xs": []}  # type: ignore[union-attr]
    tool = create(
        client,
        [{"type": "text", "text": "hi"}],
        tools=[{"name": "t", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "t"},
    )
    assert tool.stop_reason == "tool_use"
    assert tool.content[0].input == {"n": None, "xs": []}  # type: ignore[union-attr]

    no_structured = FakeClaudeAPI(structured_outputs=False).client()
    with pytest.raises(anthropic.BadRequestError, match="structured outputs"):
        create(
            no_structured,
            [{"type": "text", "text": "hi"}],
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )


def test_fake_api_simulates_prompt_caching_in_its_usage_estimate() -> None:
    api = FakeClaudeAPI()
    client = api.client()
    system = [{"type": "text", "text": "rules " * 2000, "cache_control": {"type": "ephemeral"}}]
    first = create(client, [{"type": "text", "text": "doc"}], system=system)
    second = create(client, [{"type": "text", "text": "other doc"}], system=system)
    assert first.usage.cache_creation_input_tokens > 1024 and not first.usage.cache_read_input_tokens
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_fake_api_faults_are_consumed_in_order() -> None:
    api = FakeClaudeAPI(answer={"ok": True})
    api.enqueue(Fault.rate_limited(retry_after=2), Fault.spend_limit(), Fault.truncated(), Fault.refusal("no"))
    client = api.client()
    with pytest.raises(anthropic.RateLimitError) as limited:
        create(client, [{"type": "text", "text": "x"}])
    assert limited.value.response.headers["retry-after"] == "2"
    with pytest.raises(anthropic.RateLimitError) as spend:
        create(client, [{"type": "text", "text": "x"}])
    assert type(spend.value).__name__ == "EnforcedSpendLimitReachedError"
    assert create(client, [{"type": "text", "text": "x"}]).stop_reason == "max_tokens"
    refused = create(client, [{"type": "text", "text": "x"}])
    assert refused.stop_reason == "refusal" and refused.stop_details.explanation == "no"  # type: ignore[union-attr]
    assert create(client, [{"type": "text", "text": "x"}]).content[0].text == '{"ok": true}'  # type: ignore[union-attr]
    assert api.pending_faults == 0


def test_fake_api_transport_faults_raise_what_httpx2_raises() -> None:
    api = FakeClaudeAPI().enqueue(Fault.connection_reset(), Fault.read_timeout())
    http = httpx2.Client(transport=api.transport())
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(httpx2.ReadError):
        http.post("https://api.anthropic.com/v1/messages", json=body)
    with pytest.raises(httpx2.ReadTimeout):
        http.post("https://api.anthropic.com/v1/messages", json=body)
    assert http.post("https://api.anthropic.com/v1/messages", json=body).status_code == 200


def test_loopback_server_serves_the_sdk_and_records_requests() -> None:
    api = FakeClaudeAPI(answer={"a": 1})
    with api.serve() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        client = anthropic.Anthropic(api_key=FAKE_API_KEY, base_url=server.base_url, max_retries=0)
        reply = create(client, [image_block(make_page_image(50, 60))])
        info = client.models.retrieve("claude-sonnet-5")
        client.close()
    assert reply.content[0].text == '{"a": 1}'  # type: ignore[union-attr]
    assert info.capabilities is not None and info.capabilities.structured_outputs.supported
    (request,) = api.message_requests
    assert [(i.width, i.height, i.actual_media_type) for i in request.images()] == [(50, 60, "image/png")]
    assert api.model_lookups == ["claude-sonnet-5"]


def test_async_transport_latency_does_not_block_the_loop() -> None:
    api = FakeClaudeAPI(latency=0.3)

    async def three() -> float:
        client = api.async_client()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(
            *(
                client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
                for _ in range(3)
            )
        )
        await client.close()
        return loop.time() - started

    assert asyncio.run(three()) < 0.8
    assert api.peak_concurrency == 3


def test_static_pages_image_bytes_roundtrip() -> None:
    data = make_page_image(120, 80, format="WEBP")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (120, 80)
    assert image_info(data) == ("image/webp", 120, 80)


def test_fake_api_reports_arrivals_on_its_clock_and_to_on_request() -> None:
    ticks = iter([10.0, 20.0, 30.0])
    seen: list[tuple[str, int]] = []
    api = FakeClaudeAPI(
        clock=lambda: next(ticks), on_request=lambda request: seen.append((request.path, request.status))
    )
    api.enqueue(Fault.overloaded())
    client = api.client()
    with pytest.raises(anthropic.APIStatusError):
        client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert [request.started for request in api.requests] == [10.0, 20.0]
    assert seen == [("/v1/messages", 529), ("/v1/messages", 200)]  # decided before the hook runs


def test_an_on_request_hook_that_raises_frees_the_concurrency_slot() -> None:
    def refuse(request: object) -> None:
        raise RuntimeError("hook failed")

    api = FakeClaudeAPI(max_concurrency=1, on_request=refuse)
    with pytest.raises(RuntimeError, match="hook failed"):
        api.plan(
            "POST",
            "/v1/messages",
            [],
            b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}',
        )
    api.on_request = None
    plan = api.plan(
        "POST", "/v1/messages", [], b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}'
    )
    assert plan.status == 200  # not refused as over the cap
    api.finish(plan)
