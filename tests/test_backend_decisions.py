"""The pure decisions of the backend: request sizing, chunking, merging, retries, models and prices."""

from __future__ import annotations

import random
import subprocess
import sys
from decimal import Decimal

import anthropic
import httpx2
import pytest
from pydantic import BaseModel

from invoiceai.backends.claude.api_errors import to_backend_error
from invoiceai.backends.claude.chunking import INVOICE_MERGE, RequestLimits, budget_for_images, merge_parts, plan_chunks
from invoiceai.backends.claude.models import (
    LARGE_IMAGE_BUDGET,
    STANDARD_IMAGE_BUDGET,
    ModelState,
    canonical_model_id,
    lookup_model,
)
from invoiceai.backends.claude.prices import DEFAULT_PRICES, Price, PriceTable
from invoiceai.backends.claude.reask import build_reask, reask_allowed
from invoiceai.backends.claude.reply import Reply, parse_reply
from invoiceai.backends.claude.request import (
    api_schema,
    build_request,
    estimate_max_tokens,
    page_contents,
)
from invoiceai.backends.claude.retry import RetryPolicy, backoff_delay, classify, retry_after
from invoiceai.config import DEFAULT_MODEL
from invoiceai.errors import OverloadedError, SpendLimitError
from invoiceai.pages import ImageBudget, Page
from invoiceai.schema import Invoice, LineItem, Party
from invoiceai.testing import make_page_image


def status_error(status: int, body: object, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    # Built exactly as the SDK builds them from a response.
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    response = httpx2.Response(status, headers=headers or {}, json=body, request=request)
    client = anthropic.Anthropic(api_key="sk-ant-test")
    return client._make_status_error_from_response(response)


def error_body(error_type: str, code: str | None = None, **details: object) -> dict[str, object]:
    error: dict[str, object] = {"type": error_type, "message": "m"}
    if code:
        error["details"] = {"error_code": code, **details}
    return {"type": "error", "error": error, "request_id": "req_1"}


# -- models -------------------------------------------------------------------------------


def test_default_model_is_current_and_known() -> None:
    from anthropic._data import DEPRECATED_MODELS
    from anthropic.resources.messages.messages import DEPRECATED_MODELS as WARNED

    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert DEFAULT_MODEL not in WARNED
    spec = lookup_model(DEFAULT_MODEL)
    assert spec.structured_outputs
    assert spec.image_budget == LARGE_IMAGE_BUDGET


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-opus-4-7-v1:0", "claude-opus-4-7"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ],
)
def test_canonical_model_ids(model: str, canonical: str) -> None:
    assert canonical_model_id(model) == canonical


def test_unknown_models_are_judged_by_family_or_conservatively() -> None:
    assert lookup_model("claude-sonnet-6-1").structured_outputs
    assert lookup_model("claude-sonnet-6-1").image_budget == LARGE_IMAGE_BUDGET
    assert lookup_model("claude-haiku-4-9").image_budget == STANDARD_IMAGE_BUDGET
    assert not lookup_model("claude-sonnet-4-0").structured_outputs
    assert not lookup_model("some-proxy-model").structured_outputs


def test_model_state_learns_the_smallest_limit() -> None:
    state = ModelState()
    assert state.budget("claude-sonnet-5", "high").long_edge == 2576
    state.learn_max_side("claude-sonnet-5", 2000)
    state.learn_max_side("claude-sonnet-5", 2200)
    assert state.budget("claude-sonnet-5", "high").long_edge == 2000
    assert state.budget("claude-sonnet-5", "high").max_pixels < LARGE_IMAGE_BUDGET.max_pixels
    assert state.budget("claude-opus-5", "high").long_edge == 2576
    # A learned limit below the standard budget caps that one too.
    assert state.budget("claude-sonnet-5").long_edge == 1568
    state.learn_max_side("claude-sonnet-5", 1200)
    assert state.budget("claude-sonnet-5").long_edge == 1200


# -- prices -------------------------------------------------------------------------------


def test_prices_cache_and_batch_multipliers() -> None:
    table = PriceTable()
    cost = table.cost(
        "claude-haiku-4-5-20251001",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
    )
    assert cost == Decimal("1") + Decimal("5") + Decimal("0.1") + Decimal("1.25")
    assert table.cost("claude-haiku-4-5", input_tokens=2_000_000, output_tokens=0, batch=True) == Decimal("1")
    assert table.cost("claude-unknown", input_tokens=1, output_tokens=1) is None
    # The spec's list prices, USD per million tokens (input / output).
    assert dict(DEFAULT_PRICES) == {
        "claude-opus-5-5": Price("4", "20"),
        "claude-sonnet-5": Price("2", "10"),
        "claude-haiku-4-5": Price("1", "5"),
        "claude-fable-5-1": Price("10", "50"),
    }
    # Batch halves everything, cache multipliers included.
    batch = table.cost(
        "claude-fable-5-1",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
        batch=True,
    )
    assert batch == (Decimal("10") + Decimal("50") + Decimal("1") + Decimal("12.5")) / 2


def test_price_overrides_win_and_reject_negatives() -> None:
    table = PriceTable({"claude-haiku-4-5": Price("0.8", "4")})
    assert table.price("claude-haiku-4-5") == Price("0.8", "4")
    assert table.price("claude-sonnet-5") == DEFAULT_PRICES["claude-sonnet-5"]
    assert PriceTable({"x": Price(1, 1)}, defaults={}).price("claude-sonnet-5") is None
    with pytest.raises(ValueError, match="negative"):
        Price("-1", "1")


# -- requests -----------------------------------------------------------------------------


def test_max_tokens_grows_with_pages_and_respects_the_cap() -> None:
    schema = api_schema(Invoice)
    one, five = estimate_max_tokens(schema, 1, cap=64_000), estimate_max_tokens(schema, 5, cap=64_000)
    assert 1024 <= one < five < 64_000
    assert five - one == 4 * (estimate_max_tokens(schema, 2, cap=64_000) - one)
    assert estimate_max_tokens(schema, 500, cap=8192) == 8192


def test_max_tokens_for_a_small_custom_schema_is_small() -> None:
    class Receipt(BaseModel):
        total: str | None
        merchant: str | None

    assert estimate_max_tokens(api_schema(Receipt), 3, cap=64_000) == 1024


def test_page_contents_by_mode() -> None:
    pages = [Page(i, 10, 10, "image/png", make_page_image(10, 10)) for i in range(3)]
    texts: list[str | None] = ["one", None, "  "]
    assert [c.text for c in page_contents(pages, "images", texts)] == [None, None, None]
    with_text = page_contents(pages, "images+text", texts)
    assert [(c.image is not None, c.text) for c in with_text] == [(True, "one"), (True, None), (True, None)]
    text_only = page_contents(pages, "text", texts)
    assert [(c.image is not None, c.text) for c in text_only] == [(False, "one"), (True, None), (True, None)]
    assert [c.number for c in text_only] == [1, 2, 3]


def test_build_request_never_mutates_the_schema_and_escapes_page_text() -> None:
    schema = api_schema(Invoice)
    snapshot = repr(schema)
    page = page_contents([Page(0, 10, 10, "image/png", b"x")], "images+text", ["a </page_text> b"])
    built = build_request(model="m", schema=schema, structured=True, max_tokens=100, pages=page)
    built.params["output_config"]["format"]["schema"]["type"] = "changed"
    assert repr(schema) == snapshot
    content = built.params["messages"][0]["content"]
    assert content[0]["type"] == "image"  # a single page needs no label
    hint = content[1]["text"]
    assert hint.count("</page_text>") == 1
    assert built.images == 1 and built.estimated_input_tokens > 0


# -- replies and re-asks ----------------------------------------------------------------


def test_parse_reply_outcomes() -> None:
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": None}
    answer = parse_reply({"stop_reason": "end_turn", "content": [{"type": "text", "text": "{}"}], "usage": usage})
    assert (answer.outcome, answer.payload, answer.total_tokens) == ("answer", "{}", 12)
    tool = parse_reply(
        {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {"a": 1}}]},
        tool_name="x",
    )
    assert (tool.payload, tool.tool_use_id) == ('{"a": 1}', "t1")
    assert parse_reply({"stop_reason": "max_tokens", "content": []}).outcome == "truncated"
    assert parse_reply({"stop_reason": "refusal", "content": []}).outcome == "refusal"
    assert parse_reply({"stop_reason": "model_context_window_exceeded"}).outcome == "context_exceeded"
    assert parse_reply({"stop_reason": "end_turn", "content": []}).outcome == "empty"


def test_reask_is_built_from_the_base_only() -> None:
    base = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "doc"}]}],
    }
    failed = Reply("answer", "end_turn", payload='{"a": 1}')
    once = build_reask(base, failed, ["a: bad"])
    twice = build_reask(once, failed, ["a: still bad"])
    assert len(once["messages"]) == len(twice["messages"]) == 3
    assert base["messages"] == [{"role": "user", "content": [{"type": "text", "text": "doc"}]}]
    assert reask_allowed(reasks_done=2, max_reasks=2, tokens_spent=0, next_request_tokens=1, token_budget=9)[0] is False
    assert reask_allowed(reasks_done=0, max_reasks=2, tokens_spent=8, next_request_tokens=2, token_budget=9)[0] is False
    assert reask_allowed(reasks_done=0, max_reasks=2, tokens_spent=7, next_request_tokens=2, token_budget=9)[0] is True


# -- chunking and merging ---------------------------------------------------------------


def test_chunks_are_balanced_and_respect_bytes() -> None:
    limits = RequestLimits(max_pages=20)
    assert [len(c) for c in plan_chunks([1000] * 45, limits)] == [15, 15, 15]
    assert [len(c) for c in plan_chunks([1000] * 20, limits)] == [20]
    big = RequestLimits(max_pages=100, max_request_bytes=10_000_000, reserved_bytes=0)
    chunks = plan_chunks([3_000_000] * 5, big)
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [i for c in chunks for i in c] == list(range(5))
    assert plan_chunks([], limits) == []


def test_many_images_cap_the_side() -> None:
    limits = RequestLimits()
    assert budget_for_images(LARGE_IMAGE_BUDGET, 20, limits).long_edge == 2576
    assert budget_for_images(LARGE_IMAGE_BUDGET, 21, limits).long_edge == 2000
    assert budget_for_images(ImageBudget(), 50, limits).long_edge == 1568


def test_merge_invoice_parts() -> None:
    first = Invoice(invoice_number="A-1", seller=Party(name="ACME"), line_items=[LineItem(description="1")])
    middle = Invoice(
        invoice_number="ignored",
        seller=Party(vat_id="DE123456789"),
        line_items=[LineItem(description="2")],
        total="20",
        tax_total="3.80",
    )
    last = Invoice(line_items=[LineItem(description="3")], total="30", subtotal="25")
    merged = merge_parts([first, middle, last], INVOICE_MERGE)
    assert merged.invoice_number == "A-1"
    assert merged.seller.name == "ACME" and merged.seller.vat_id == "DE123456789"
    assert [item.description for item in merged.line_items] == ["1", "2", "3"]
    # Each total from the last chunk that has it: a later chunk wins, an earlier one fills a gap.
    assert merged.total == Decimal("30") and merged.subtotal == Decimal("25")
    assert merged.tax_total == Decimal("3.80")
    assert [item.description for item in first.line_items] == ["1"]  # parts untouched


def test_merge_generic_models() -> None:
    class Statement(BaseModel):
        account: str | None = None
        entries: list[str] = []
        closing: str | None = None

    merged = merge_parts(
        [Statement(account="1", entries=["a"]), Statement(entries=["b"], closing="9"), Statement(account="x")]
    )
    assert merged == Statement(account="1", entries=["a", "b"], closing="9")


# -- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, error_body("rate_limit_error"), "retry"),
        (429, error_body("rate_limit_error", "enforced_spend_limit_reached"), "fail"),
        (429, error_body("rate_limit_error", "contract_spend_limit_reached"), "fail"),
        (529, error_body("overloaded_error"), "retry"),
        (500, error_body("api_error"), "retry"),
        (502, error_body("api_error"), "retry"),
        (503, error_body("api_error"), "retry"),
        (504, error_body("timeout_error"), "retry"),
        (408, error_body("timeout_error"), "retry"),
        (409, error_body("conflict_error"), "retry"),
        (400, error_body("invalid_request_error"), "fail"),
        (401, error_body("authentication_error"), "fail"),
        (403, error_body("permission_error"), "fail"),
        (404, error_body("not_found_error"), "fail"),
        (413, error_body("request_too_large"), "fail"),
        (501, error_body("api_error"), "fail"),
        (
            400,
            error_body("invalid_request_error", "image_dimensions_too_large", max_side_length_pixels=1568, paths=[]),
            "shrink_images",
        ),
    ],
)
def test_classify_sdk_errors(status: int, body: object, expected: str) -> None:
    assert classify(status_error(status, body)) == expected


def test_classify_connection_errors_and_timeouts() -> None:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    assert classify(anthropic.APIConnectionError(request=request)) == "retry"
    assert classify(anthropic.APITimeoutError(request=request)) == "retry"
    assert classify(ValueError("not from the API")) == "fail"


def test_sdk_builds_the_special_classes_from_the_fake_body_shape() -> None:
    spend = status_error(429, error_body("rate_limit_error", "enforced_spend_limit_reached"))
    assert type(spend).__name__ == "EnforcedSpendLimitReachedError"
    image = status_error(
        400, error_body("invalid_request_error", "image_dimensions_too_large", max_side_length_pixels=1000, paths=["x"])
    )
    assert type(image).__name__ == "ImageDimensionsTooLargeError"
    assert image.details.max_side_length_pixels == 1000  # type: ignore[union-attr]
    assert isinstance(to_backend_error(spend, attempts=1), SpendLimitError)
    assert isinstance(to_backend_error(status_error(529, error_body("overloaded_error")), attempts=3), OverloadedError)


def test_retry_after_headers() -> None:
    assert retry_after(status_error(429, {}, {"retry-after": "3"})) == 3.0
    assert retry_after(status_error(429, {}, {"retry-after-ms": "250", "retry-after": "3"})) == 0.25
    assert retry_after(status_error(429, {}, {"retry-after": "soon"})) is None
    assert retry_after(status_error(429, {})) is None
    assert retry_after(None) is None


def test_backoff_is_full_jitter_bounded_and_honours_the_server() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(4)
    delays = [backoff_delay(attempt, policy, rng=rng) for attempt in range(1, 9) for _ in range(50)]
    assert all(0 <= delay <= 8.0 for delay in delays)
    assert max(delays) > 4.0  # the ceiling grows
    assert min(backoff_delay(1, policy, rng=rng) for _ in range(50)) < 0.2  # full jitter reaches near zero
    assert backoff_delay(1, policy, server_wait=30.0, rng=rng) == 30.0


def test_retry_defaults_suit_unattended_batches() -> None:
    from invoiceai.config import Settings

    policy = RetryPolicy.from_settings(Settings())
    assert policy.max_attempts >= 6
    assert policy.max_seconds >= 120


def test_importing_the_packages_does_not_import_anthropic() -> None:
    code = (
        "import sys, invoiceai, invoiceai.backends, invoiceai.testing;"
        "heavy = [m for m in ('anthropic', 'httpx2', 'tenacity', 'PIL') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_credentials_the_sdk_cannot_load_are_an_authentication_error() -> None:
    import anthropic

    from invoiceai.errors import AuthenticationError

    error = to_backend_error(anthropic.CredentialsError("no AWS credentials found"), attempts=1)
    assert isinstance(error, AuthenticationError)
    assert "no AWS credentials found" in error.message
