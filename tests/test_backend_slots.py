"""max_concurrent_requests: documents in progress can exceed it; requests in flight cannot."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from claude_fakes import ANSWER, FAST, ROLE, FakeClock, settings
from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.claude.slots import RequestSlots
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, RecordedRequest, StaticPages

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
    # Time is a fake clock; A's retry wait is held until B has sent, so a B that ignored the
    # cooldown would send at the very moment of A's 429.
    clock = FakeClock()
    a_arrived, b_sent = threading.Event(), threading.Event()
    clock.hold["A"] = b_sent

    def arrived(request: RecordedRequest) -> None:
        (b_sent if a_arrived.is_set() else a_arrived).set()

    api = FakeClaudeAPI(answer=ANSWER, clock=clock.now, on_request=arrived)
    api.enqueue(Fault.rate_limited(retry_after_ms=500))
    options: dict[str, Any] = {"detect_capabilities": False, "retry": FAST, "settings": settings(),
                               "max_concurrent_requests": 1, "clock": clock}  # fmt: skip
    if flavour == "sync":
        backend = ClaudeBackend(client=api.client(), **options)
    else:
        backend = ClaudeBackend(async_client=api.async_client(), **options)
    sources = [StaticPages.blank(1, width=100, height=130) for _ in range(2)]

    if flavour == "sync":

        def one_sync(role: str, source: StaticPages) -> None:
            ROLE.set(role)
            if role == "B":
                assert a_arrived.wait(10)
            backend.extract(source, Invoice)

        threads = [threading.Thread(target=one_sync, args=pair) for pair in zip("AB", sources, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    else:

        async def one(role: str, source: StaticPages) -> None:
            ROLE.set(role)
            if role == "B":
                assert await asyncio.to_thread(a_arrived.wait, 10)
            await backend.aextract(source, Invoice)

        async def both_async() -> None:
            await asyncio.gather(*(one(role, source) for role, source in zip("AB", sources, strict=True)))

        asyncio.run(both_async())

    first, *others = api.message_requests
    assert first.status == 429
    assert len(others) == 2 and all(request.status == 200 for request in others)
    refused_at = first.started  # the fake answers at once: the 429 arrives when A's request does
    assert min(request.started for request in others) >= refused_at + 0.5
    assert clock.slept("B") == pytest.approx(0.5)  # B waited out exactly the cooldown


def test_a_second_event_loop_does_not_reset_the_cap_of_the_first() -> None:
    # Loop A holds its only slot; loop B (another thread, e.g. another asyncio.run) uses the same
    # backend meanwhile. A's next request must still wait for A's slot, not get a fresh semaphore.
    slots = RequestSlots(1)
    a_holds, b_done = threading.Event(), threading.Event()
    overshoot: list[bool] = []

    async def loop_a() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with slots.ahold():
                a_holds.set()
                await release.wait()

        async def enter() -> None:
            async with slots.ahold():
                pass

        async def second() -> None:
            await asyncio.to_thread(b_done.wait, 5)
            task = asyncio.create_task(enter())
            for _ in range(20):  # ample turns of the loop for a free slot to be taken
                await asyncio.sleep(0)
            overshoot.append(task.done())
            release.set()
            await task

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
