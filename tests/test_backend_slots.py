"""max_concurrent_requests: documents in progress can exceed it; requests in flight cannot (one cap per backend)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from claude_fakes import ANSWER, FAST, ROLE, FakeClock, settings
from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.claude.pacing import Cost, Hold, Pacer, Ticket
from invoiceai.backends.claude.pacing_wait import Gate
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, RecordedRequest, StaticPages

CAP = 3


def make_api(on_request: Callable[[RecordedRequest], None] | None = None) -> FakeClaudeAPI:
    # A cap in the fake one above ours: any overshoot by the backend would be refused with 429.
    return FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"),
        latency=0.05,
        max_concurrency=CAP,
        concurrency_retry_after=0.05,
        on_request=on_request,
    )


def held_until_full() -> tuple[FakeClaudeAPI, threading.Event]:
    """A fake that holds each answer until CAP requests were in flight at once (the probe goes alone).

    Whatever the load on the machine, the backend then has every chance to overshoot the cap
    while CAP requests are in flight, and one that never reaches the cap waits in vain.
    """
    full = threading.Event()

    def arrived(record: RecordedRequest) -> None:
        if api.peak_concurrency >= CAP:
            full.set()
        elif record.status == 200 and len(api.message_requests) > 1:
            full.wait(10)

    api = make_api(arrived)
    return api, full


def test_sync_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api, full = held_until_full()
    backend = ClaudeBackend("claude-haiku-4-5", client=api.client(), detect_capabilities=False,
                            max_concurrent_requests=CAP)  # fmt: skip
    with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
        results = extractor.extract_many([png_invoice(str(i)) for i in range(24)], progress=False)
    assert all(result.ok for result in results)
    assert full.is_set() and api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_async_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api, full = held_until_full()

    async def run(base_url: str) -> None:
        backend = ClaudeBackend("claude-haiku-4-5", base_url=base_url, api_key="sk-ant-test",
                                detect_capabilities=False, max_concurrent_requests=CAP)  # fmt: skip
        async with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
            results = await extractor.aextract_many([png_invoice(str(i)) for i in range(24)], progress=False)
        assert all(result.ok for result in results)

    with api.serve() as server:  # held answers block the server's threads, not the event loop
        asyncio.run(run(server.base_url))
    assert full.is_set() and api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_without_a_cap_the_same_batch_overruns_the_account() -> None:
    refused = threading.Event()

    def arrived(record: RecordedRequest) -> None:
        # Answers wait for the first refusal (the probe excepted): a backend that sends more
        # than CAP at once is refused whatever the load; one that never does waits in vain.
        if record.status == 429:
            refused.set()
        elif len(api.message_requests) > 1:
            refused.wait(10)

    api = make_api(arrived)
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
        Pacer(cap=-1)


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


class Waiter:
    """A call asking the gate for a turn (what ApiCall does, minus the job)."""

    cost = Cost(1, 10, 10)

    def hold_event(self, hold: Hold) -> Any:
        raise AssertionError(f"no timed hold expected, got {hold}")


def test_one_cap_holds_for_every_event_loop_and_thread() -> None:
    # Loop A holds the only turn; loop B (another thread, e.g. another asyncio.run) asks for one
    # meanwhile and must be held until A hands it back, not get a fresh cap of its own.
    gate = Gate(cap=1, clock=FakeClock())
    gate.pacer.release(ticket_of(gate.pacer.acquire(Waiter.cost)))  # no headers: the cap paces alone
    decisions: list[Ticket | Hold] = []
    b_decided = threading.Event()
    acquire = gate.pacer.acquire

    def recorded(cost: Cost) -> Ticket | Hold:
        decision = acquire(cost)
        decisions.append(decision)
        b_decided.set()
        return decision

    async def loop_a() -> None:
        turn = await gate.aturn(Waiter())
        gate.pacer.acquire = recorded  # type: ignore[method-assign]
        thread.start()
        assert await asyncio.to_thread(b_decided.wait, 10)
        gate.pacer.release(turn)

    async def loop_b() -> None:
        gate.pacer.release(await gate.aturn(Waiter()))

    thread = threading.Thread(target=lambda: asyncio.run(loop_b()))
    asyncio.run(loop_a())
    thread.join(10)
    first, *_, last = decisions
    assert isinstance(first, Hold) and first.reason == "window"
    assert isinstance(last, Ticket)  # admitted once A's turn came back
    assert gate.pacer.snapshot().in_flight == 0


def ticket_of(decision: Ticket | Hold) -> Ticket:
    assert isinstance(decision, Ticket), decision
    return decision
