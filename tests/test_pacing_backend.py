"""Pacing through the real SDK: the fake API's token buckets, visible waits, failing fast."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from claude_fakes import ANSWER, FakeClock, make_backend, run, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.claude.pacing import WaitEvent
from invoiceai.errors import BackendConnectionError
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, RateLimits, StaticPages, TokenBucket

both = pytest.mark.parametrize("flavour", ["sync", "async"])


def page() -> StaticPages:
    return StaticPages.blank(1, width=100, height=130)


def extract_all(backend: ClaudeBackend, flavour: str, count: int) -> None:
    if flavour == "sync":
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda source: backend.extract(source, Invoice), [page() for _ in range(count)]))
        return

    async def all_of_them() -> None:
        await asyncio.gather(*(backend.aextract(page(), Invoice) for _ in range(count)))

    asyncio.run(all_of_them())


@both
def test_requests_are_held_until_the_bucket_has_room_never_refused(flavour: str) -> None:
    # The fake's buckets and the backend's waits run on one fake clock: each wait the pacer
    # decides advances it, so the bucket refills exactly as much as the pacer expected.
    clock = FakeClock()
    limits = RateLimits(requests=TokenBucket(2, 4), clock=clock.now, wall=clock.wall)
    api = FakeClaudeAPI(answer=ANSWER, rate_limits=limits)
    backend = make_backend(api, flavour, clock=clock, detect_capabilities=False)
    events: list[WaitEvent] = []
    backend.pacing.subscribe(events.append)
    extract_all(backend, flavour, 12)
    # Threads sleeping on one fake clock can reach the server out of fake-time order when the
    # machine is loaded; a refusal then is possible but rare, never a storm.
    assert api.rate_limiter is not None and api.rate_limiter.rejections <= 2
    assert len(api.message_requests) == 12 + api.rate_limiter.rejections
    snapshot = backend.pacing.snapshot()
    assert snapshot.mode == "headers" and snapshot.rate_limited == api.rate_limiter.rejections
    (bucket,) = snapshot.buckets
    assert (bucket.name, bucket.limit) == ("requests", 2)
    assert 0 < bucket.per_second <= 4 + 1e-6  # never faster than the real refill (slower if a thread lagged)
    assert snapshot.waits == len(events) > 0
    assert any(event.kind == "pacing" and event.reason == "request limit" for event in events)


def test_every_response_carries_the_rate_limit_headers_and_a_429_the_real_shape() -> None:
    clock = FakeClock()
    limits = RateLimits(output_tokens=TokenBucket(100, 10), clock=clock.now, wall=clock.wall)
    api = FakeClaudeAPI(answer=ANSWER, rate_limits=limits)
    client = api.client()
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]}
    raw = client.messages.with_raw_response.create(**body, max_tokens=60)
    assert raw.headers["anthropic-ratelimit-output-tokens-limit"] == "100"
    assert raw.headers["anthropic-ratelimit-output-tokens-remaining"] == "40"  # max_tokens, up front
    import anthropic

    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(**body, max_tokens=60)
    assert caught.value.response.headers["retry-after"] == "2"  # 20 tokens at 10/s, whole seconds
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert caught.value.response.headers["anthropic-ratelimit-output-tokens-remaining"] == "40"
    assert api.rate_limiter is not None and api.rate_limiter.rejections == 1


@both
def test_every_wait_is_announced_with_its_reason_and_length(flavour: str) -> None:
    clock = FakeClock()
    api = FakeClaudeAPI(answer=ANSWER).enqueue(Fault.rate_limited(retry_after=8), Fault.overloaded())
    backend = make_backend(api, flavour, clock=clock)
    events: list[WaitEvent] = []
    backend.pacing.subscribe(events.append)
    run(backend, flavour, page())
    assert [(event.kind, event.reason) for event in events][:2] == [("retry", "rate limited"), ("retry", "overloaded")]
    assert events[0].seconds == pytest.approx(8.0)
    assert events[0].describe() == "waiting 8.0 s: rate limited"
    assert all(event.label.startswith("claude doc") for event in events)
    assert backend.pacing.snapshot().rate_limited == 1


@both
def test_an_unreachable_api_fails_fast_with_a_hint(flavour: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    backend = ClaudeBackend(
        base_url=f"http://127.0.0.1:{port}", api_key="sk-ant-test", clock=clock, detect_capabilities=False,
        retry=RetryPolicy(max_attempts=8, max_seconds=300), settings=settings(max_attempts=8),
    )  # fmt: skip
    with pytest.raises(BackendConnectionError) as caught:
        run(backend, flavour, page())
    assert caught.value.attempts == 2  # not 8 attempts over minutes
    assert "cannot be reached (connection refused)" in str(caught.value)
    assert "ANTHROPIC_BASE_URL" in str(caught.value)
    assert clock.slept() <= 1.0  # one short wait between the two
