"""Retry and cooldown decisions on an injected clock: exact waits, no wall time."""

from __future__ import annotations

import email.utils
import random

import anthropic
import httpx2
import pytest

from claude_fakes import FakeClock
from invoiceai.backends.claude.chunking import merge_parts
from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.backends.claude.retry import CallRetry, Cooldown, RetryPolicy, retry_after, start_cooldown
from invoiceai.schema import Invoice, LineItem
from invoiceai.secrets import MASK, mask_text


def status_error(status: int, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "m"}, "request_id": "req_1"}
    response = httpx2.Response(status, headers=headers or {}, json=body, request=request)
    return anthropic.Anthropic(api_key="sk-ant-test")._make_status_error_from_response(response)


def test_the_fake_and_the_system_clock_are_clocks() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock)
    assert isinstance(FakeClock(), Clock)


def test_an_http_date_retry_after_counts_from_the_clock() -> None:
    clock = FakeClock()
    date = email.utils.formatdate(clock.wall() + 42, usegmt=True)
    assert retry_after(status_error(429, {"retry-after": date}), clock=clock) == pytest.approx(42, abs=1)


def test_the_cooldown_runs_on_the_clock() -> None:
    clock = FakeClock()
    cooldown = Cooldown(clock)
    start_cooldown(status_error(429, {"retry-after-ms": "1500"}), cooldown, clock=clock)
    assert cooldown.remaining() == pytest.approx(1.5)
    clock.sleep(1.0)
    assert cooldown.remaining() == pytest.approx(0.5)
    clock.sleep(1.0)
    assert cooldown.remaining() == 0.0


def test_a_non_retryable_429_starts_no_cooldown() -> None:
    clock = FakeClock()
    cooldown = Cooldown(clock)
    start_cooldown(status_error(429, {"retry-after": "9", "x-should-retry": "false"}), cooldown, clock=clock)
    assert cooldown.remaining() == 0.0


def test_a_call_waits_at_least_the_cooldown_and_gives_up_at_its_limits() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, max_seconds=10, base_delay=0.1, max_delay=0.2)
    call = CallRetry(policy, Cooldown(clock), clock=clock, rng=random.Random(1))
    call.begin()
    wait = call.failed(status_error(429, {"retry-after": "2"}))
    assert wait == pytest.approx(2.0)  # the server's wait beats the jitter
    assert call.pause() == pytest.approx(2.0)  # and holds every call of the backend
    clock.sleep(wait or 0)
    assert call.pause() == 0.0
    call.begin()
    assert call.failed(status_error(503)) is not None
    call.begin()
    assert call.failed(status_error(503)) is None  # the third attempt was the last


def test_a_wait_beyond_the_time_budget_ends_the_call_before_sleeping() -> None:
    clock = FakeClock()
    cooldown = Cooldown(clock)
    call = CallRetry(RetryPolicy(max_attempts=8, max_seconds=5), cooldown, clock=clock)
    call.begin()
    assert call.failed(status_error(429, {"retry-after": "60"})) is None
    assert clock.sleeps == []
    later = CallRetry(RetryPolicy(max_attempts=8, max_seconds=5), cooldown, clock=clock)
    assert later.pause() is None  # the 60 s cooldown outlasts a new call's budget too


def test_errors_that_retries_cannot_fix_end_the_call_at_once() -> None:
    clock = FakeClock()
    call = CallRetry(RetryPolicy(), Cooldown(clock), clock=clock)
    call.begin()
    assert call.failed(status_error(400)) is None
    assert call.failed(ValueError("not from the API")) is None


def test_mask_text_hides_every_literal_value_longest_first() -> None:
    text = "key sk-abc-123 and its prefix sk-abc and nothing else"
    assert mask_text(text, ["sk-abc", "sk-abc-123", None, ""]) == f"key {MASK} and its prefix {MASK} and nothing else"
    assert mask_text("plain", []) == "plain"


def test_merged_chunks_keep_every_normalization_finding() -> None:
    first = Invoice.model_validate({"total": "not money", "line_items": [{"description": "a"}]})
    second = Invoice.model_validate({"currency": "not a currency", "line_items": [{"description": "b"}]})
    assert first.normalization_findings and second.normalization_findings
    merged = merge_parts([first, second])
    assert merged.normalization_findings == first.normalization_findings + second.normalization_findings
    assert [item.description for item in merged.line_items] == ["a", "b"]


def test_with_normalization_findings_returns_a_copy() -> None:
    source = Invoice.model_validate({"total": "not money"})
    target = Invoice(line_items=[LineItem(description="x")])
    copy = target.with_normalization_findings(source.normalization_findings)
    assert copy.normalization_findings == source.normalization_findings
    assert target.normalization_findings == []  # the original is unchanged
    assert copy == target  # the same data
