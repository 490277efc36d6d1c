"""max_concurrent_requests: documents in progress can exceed it; requests in flight cannot."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from claude_fakes import ANSWER, FAST, settings
from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.claude.slots import RequestSlots
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, StaticPages

CAP = 3


def make_api() -> FakeClaudeAPI:
    # A cap in the fake one above ours: any overshoot by the backend would be refused with 429.
    return FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"),
        latency=0.05,
        max_concurrency=CAP,
        concurrency_retry_after=0.05,
    )


def test_sync_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api = make_api()
    backend = ClaudeBackend("claude-haiku-4-5", client=api.client(), detect_capabilities=False,
                            max_concurrent_requests=CAP)  # fmt: skip
    with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
        results = extractor.extract_many([png_invoice(str(i)) for i in range(24)], progress=False)
    assert all(result.ok for result in results)
    assert api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_async_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api = make_api()

    async def run() -> None:
        backend = ClaudeBackend("claude-haiku-4-5", async_client=api.async_client(), detect_capabilities=False,
                                max_concurrent_requests=CAP)  # fmt: skip
        async with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
            results = await extractor.aextract_many([png_invoice(str(i)) for i in range(24)], progress=False)
        assert all(result.ok for result in results)

    asyncio.run(run())
    assert api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_without_a_cap_the_same_batch_overruns_the_account() -> None:
    api = make_api()
    fast = RetryPolicy(max_attempts=20, max_seconds=30, base_delay=0.01, max_delay=0.1)
    backend = ClaudeBackend("claude-haiku-4-5", client=api.client(), detect_capabilities=False, retry=fast)
    with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
        extractor.extract_many([png_invoice(str(i)) for i in range(24)], progress=False)
    assert api.concurrency_rejections > 0


def test_the_cap_comes_from_settings_and_refuses_negatives() -> None:
    from invoiceai.config import Settings
    from invoiceai.errors import ConfigurationError

    assert Settings.load(env={"INVOICEAI_MAX_CONCURRENT_REQUESTS": "5"}).max_concurrent_requests == 5
    with pytest.raises(ConfigurationError):
        Settings.load(env={"INVOICEAI_MAX_CONCURRENT_REQUESTS": "-1"})
    with pytest.raises(ValueError, match="0"):
        RequestSlots(-1)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_call_waiting_for_a_slot_still_waits_out_the_429_cooldown(flavour: str) -> None:
    # A holds the only slot and gets a 429 asking for 0.5 s. B, queued for that slot, must not
    # send the moment A's 429 frees it: the cooldown holds for every call of the backend.
    api = FakeClaudeAPI(answer=ANSWER, latency=0.1).enqueue(Fault.rate_limited(retry_after_ms=500))
    if flavour == "sync":
        backend = ClaudeBackend(client=api.client(), detect_capabilities=False, retry=FAST, settings=settings(),
                                max_concurrent_requests=1)  # fmt: skip
    else:
        backend = ClaudeBackend(async_client=api.async_client(), detect_capabilities=False, retry=FAST,
                                settings=settings(), max_concurrent_requests=1)  # fmt: skip
    sources = [StaticPages.blank(1, width=100, height=130) for _ in range(2)]

    async def both_async() -> None:
        async def one(source: StaticPages, delay: float) -> None:
            await asyncio.sleep(delay)
            await backend.aextract(source, Invoice)

        await asyncio.gather(one(sources[0], 0.0), one(sources[1], 0.05))

    if flavour == "sync":

        def one_sync(source: StaticPages, delay: float) -> None:
            time.sleep(delay)
            backend.extract(source, Invoice)

        threads = [threading.Thread(target=one_sync, args=(s, d)) for s, d in zip(sources, (0.0, 0.05), strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        asyncio.run(both_async())

    first, *others = api.message_requests
    assert first.status == 429
    assert len(others) == 2 and all(request.status == 200 for request in others)
    refused_at = first.started + 0.1  # the 429 arrives after the fake's latency
    assert min(request.started for request in others) >= refused_at + 0.45


def test_a_second_event_loop_does_not_reset_the_cap_of_the_first() -> None:
    # Loop A holds its only slot; loop B (another thread, e.g. another asyncio.run) uses the same
    # backend meanwhile. A's next request must still wait for A's slot, not get a fresh semaphore.
    slots = RequestSlots(1)
    a_holds, b_done = threading.Event(), threading.Event()
    overshoot: list[bool] = []

    async def loop_a() -> None:
        async def holder() -> None:
            async with slots.ahold():
                a_holds.set()
                await asyncio.to_thread(b_done.wait, 5)
                await asyncio.sleep(0.3)

        async def enter() -> None:
            async with slots.ahold():
                pass

        async def second() -> None:
            await asyncio.to_thread(b_done.wait, 5)
            try:
                await asyncio.wait_for(enter(), 0.15)
                overshoot.append(True)
            except asyncio.TimeoutError:
                overshoot.append(False)

        await asyncio.gather(holder(), second())

    async def loop_b() -> None:
        async with slots.ahold():
            pass

    def run_b() -> None:
        a_holds.wait(5)
        asyncio.run(loop_b())
        b_done.set()

    thread = threading.Thread(target=run_b)
    thread.start()
    asyncio.run(loop_a())
    thread.join()
    assert overshoot == [False]
