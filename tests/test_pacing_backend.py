"""Pacing through the real SDK: the fake API's token buckets, visible waits, failing fast."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from claude_fakes import ANSWER, FakeClock, make_backend, run, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.claude.pacing import Cost, Hold, Pacer, Ticket, WaitEvent
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


class TransitClock(FakeClock):
    """A fake clock that stands still while an admitted request is on its way to the server.

    On a real clock a request reaches the server a moment after the pacer admits it; on a fake
    one, another thread's sleep could end in that gap and jump the clock forward, so the server
    would charge the request at a later fake time than the pacer did, in an order no real run
    has. Here a sleep ends only once every admitted request has arrived: the server sees each
    request at the fake time of its admission, whatever the load on the machine.
    """

    def __init__(self) -> None:
        super().__init__()
        self._transit = threading.Condition()
        self._on_the_way = 0

    def admitting(self, pacer: Pacer) -> None:
        """Counts every request ``pacer`` admits as on its way (until :meth:`arrived`)."""
        acquire = pacer.acquire

        def counted(cost: Cost) -> Ticket | Hold:
            with self._transit:  # no sleep ends between the admission and the count
                decision = acquire(cost)
                self._on_the_way += isinstance(decision, Ticket)
                return decision

        pacer.acquire = counted  # type: ignore[method-assign]

    def arrived(self) -> float:
        """The fake server's clock: a request arrives and is charged now."""
        with self._transit:
            self._on_the_way = max(0, self._on_the_way - 1)
            self._transit.notify_all()
            return self.now()

    def sleep(self, seconds: float) -> None:
        start = self._begin(seconds)
        with self._transit:
            assert self._transit.wait_for(lambda: self._on_the_way == 0, timeout=10), "a request never arrived"
            self._end(start + seconds)

    async def asleep(self, seconds: float) -> None:
        start = self._begin(seconds)
        while True:  # one event loop: the tasks on their way run while this one yields
            with self._transit:
                if self._on_the_way == 0:
                    self._end(start + seconds)
                    break
            await asyncio.sleep(0)
        await asyncio.sleep(0)


@both
def test_requests_are_held_until_the_bucket_has_room_never_refused(flavour: str) -> None:
    # The fake's buckets and the backend's waits run on one fake clock: each wait the pacer
    # decides advances it, so the bucket refills exactly as much as the pacer expected.
    clock = TransitClock()
    limits = RateLimits(requests=TokenBucket(2, 4), clock=clock.arrived, wall=clock.wall)
    api = FakeClaudeAPI(answer=ANSWER, rate_limits=limits)
    backend = make_backend(api, flavour, clock=clock, detect_capabilities=False)
    clock.admitting(backend.pacing)
    events: list[WaitEvent] = []
    backend.pacing.subscribe(events.append)
    extract_all(backend, flavour, 12)
    assert api.rate_limiter is not None and api.rate_limiter.rejections == 0
    assert len(api.message_requests) == 12
    snapshot = backend.pacing.snapshot()
    assert snapshot.mode == "headers" and snapshot.rate_limited == 0
    (bucket,) = snapshot.buckets
    assert (bucket.name, bucket.limit, bucket.per_second) == ("requests", 2, pytest.approx(4))
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
    assert caught.value.usage.requests == 0  # nothing reached an API, so nothing is reported as a request
