"""Pacing decisions on an injected clock: buckets, probes, ramps and AIMD, with no sleeps."""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from claude_fakes import FakeClock
from invoiceai.backends.claude.pacing import Cost, Hold, Pacer, Ticket, WaitEvent
from invoiceai.backends.claude.pacing_model import TRANSIT_SECONDS, read_rate_limit_headers
from invoiceai.backends.claude.pacing_wait import Gate
from invoiceai.testing import RateLimits, TokenBucket
from invoiceai.testing.rate_limits import RateLimiter

ONE = Cost(1, 100, 1000)


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def headers(clock: FakeClock, name: str, limit: float, remaining: float, full_in: float) -> dict[str, str]:
    return {
        f"anthropic-ratelimit-{name}-limit": str(limit),
        f"anthropic-ratelimit-{name}-remaining": str(remaining),
        f"anthropic-ratelimit-{name}-reset": rfc3339(clock.wall() + full_in),
    }


def ticket(decision: Ticket | Hold) -> Ticket:
    assert isinstance(decision, Ticket), decision
    return decision


def hold(decision: Ticket | Hold) -> Hold:
    assert isinstance(decision, Hold), decision
    return decision


def learned(clock: FakeClock, name: str = "requests", limit: float = 4, per_second: float = 8) -> Pacer:
    """A pacer whose first answer (the probe's) said: ``limit`` capacity, one used, refill ``per_second``."""
    pacer = Pacer(clock=clock)
    probe = ticket(pacer.acquire(ONE))
    cost = ONE.of(name)
    answer = headers(clock, name, limit, limit - cost, cost / per_second)  # written on arrival
    clock.sleep(0.3)  # the answer comes back a latency later; the bucket is full again by then
    pacer.release(probe, headers=answer)
    return pacer


def test_the_headers_are_read_and_nonsense_is_ignored() -> None:
    clock = FakeClock()
    readings = read_rate_limit_headers(
        {**headers(clock, "requests", 50, 47, 3.6), "anthropic-ratelimit-input-tokens-limit": "lots",
         "anthropic-ratelimit-input-tokens-remaining": "7"},
        wall_now=clock.wall(),
    )  # fmt: skip
    assert set(readings) == {"requests"}
    reading = readings["requests"]
    assert (reading.limit, reading.remaining) == (50, 47)
    assert reading.refill_rate() == pytest.approx(3 / 3.6, rel=1e-3)
    assert read_rate_limit_headers(None, wall_now=0) == {}


def test_until_the_first_answer_one_probe_goes_alone() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    probe = ticket(pacer.acquire(ONE))
    assert probe.probe
    assert hold(pacer.acquire(ONE)).reason == "probe"
    assert pacer.snapshot().mode == "learning"
    pacer.release(probe, headers=headers(clock, "requests", 4, 3, 0.125))
    snapshot = pacer.snapshot()
    assert snapshot.mode == "headers"
    assert snapshot.window is None  # the buckets pace from now on
    (bucket,) = snapshot.buckets
    assert (bucket.name, bucket.limit, bucket.per_second) == ("requests", 4, pytest.approx(8))


def test_a_request_that_does_not_fit_is_held_until_the_refill_makes_room() -> None:
    clock = FakeClock()
    pacer = learned(clock)
    sent = [ticket(pacer.acquire(ONE)) for _ in range(4)]  # the bucket is full again: 4 fit
    wait = hold(pacer.acquire(ONE))
    assert wait.reason == "requests"
    # One refill, which starts once the burst can have reached the server (a full bucket does
    # not refill there before), and a millisecond so as not to be a hair early.
    assert wait.seconds == pytest.approx(TRANSIT_SECONDS + 1 / 8 + 0.001)
    clock.sleep(wait.seconds or 0)
    assert isinstance(pacer.acquire(ONE), Ticket)
    assert len(sent) == 4


def test_output_tokens_are_charged_from_max_tokens_up_front() -> None:
    clock = FakeClock()
    pacer = learned(clock, "output-tokens", limit=4000, per_second=8000)
    for _ in range(4):
        ticket(pacer.acquire(ONE))  # 1,000 max_tokens each
    wait = hold(pacer.acquire(ONE))
    assert wait.reason == "output-tokens"
    assert wait.seconds == pytest.approx(TRANSIT_SECONDS + 1000 / 8000 + 0.001)


def test_a_later_answer_rebases_on_the_server_counting_what_was_sent_since() -> None:
    # Another client of the same account used the bucket: the server's remaining is lower than
    # the model, and the pacer believes it, minus what it sent after the answered request.
    clock = FakeClock()
    pacer = learned(clock, limit=10, per_second=1)
    first, second = ticket(pacer.acquire(ONE)), None
    clock.sleep(1.0)
    second = ticket(pacer.acquire(ONE))
    clock.sleep(0.5)
    pacer.release(first, headers=headers(clock, "requests", 10, 2, 8 - 1.5))  # only 2 left then
    level = pacer.snapshot().buckets[0].remaining
    assert level == pytest.approx(2 + 1.5 * 1 - 1)  # refilled since `first`, minus `second`
    pacer.release(second)


def test_requests_sent_together_may_reach_the_server_in_either_order() -> None:
    # Four sent at once; the last one's answer says 3 were left: the server saw it first.
    # The three others are charged still, so nothing more fits before the refill.
    clock = FakeClock()
    pacer = learned(clock)
    burst = [ticket(pacer.acquire(ONE)) for _ in range(4)]
    pacer.release(burst[-1], headers=headers(clock, "requests", 4, 3, 0.125))
    assert hold(pacer.acquire(ONE)).reason == "requests"


def test_after_a_429_one_probe_goes_first_then_the_window_ramps_up() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.release(ticket(pacer.acquire(ONE)))  # no headers: adaptive, no window
    flying = [ticket(pacer.acquire(ONE)) for _ in range(8)]
    pacer.cooldown.extend(2.0)  # what CallRetry does with the 429's retry-after
    pacer.release(flying.pop(), outcome="rate_limited")
    assert hold(pacer.acquire(ONE)) == Hold(pytest.approx(2.0), "cooldown", pacer.generation)
    for other in flying:  # sent before the 429: no second decrease, no growth
        pacer.release(other, outcome="ok")
    clock.sleep(2.0)
    probe = ticket(pacer.acquire(ONE))
    assert probe.probe
    assert hold(pacer.acquire(ONE)).reason == "probe"  # never all at once
    pacer.release(probe)
    pair = [ticket(pacer.acquire(ONE)), ticket(pacer.acquire(ONE))]
    assert hold(pacer.acquire(ONE)).reason == "window"
    for one in pair:
        pacer.release(one)
    assert pacer.snapshot().window == 4  # slow start: one more per success
    assert pacer.snapshot().rate_limited == 1


def simulate(limit: int, demand: int, rounds: int) -> list[tuple[int, int]]:
    """Rounds of a server that refuses more than ``limit`` in flight; returns (sent, refused) per round."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.release(ticket(pacer.acquire(ONE)))
    history = []
    for _ in range(rounds):
        sent = []
        while len(sent) < demand and isinstance(decision := pacer.acquire(ONE), Ticket):
            sent.append(decision)
        for one in sent[limit:]:  # refusals come back first, while the others are in flight
            pacer.release(one, outcome="rate_limited")
        for one in sent[:limit]:
            pacer.release(one)
        history.append((len(sent), max(0, len(sent) - limit)))
        clock.sleep(1.0)
    return history


def test_without_headers_a_concurrency_far_above_the_limit_settles_near_it() -> None:
    history = simulate(limit=6, demand=48, rounds=200)
    settled = history[50:]
    mean_sent = sum(sent for sent, _ in settled) / len(settled)
    refused = sum(refused for _, refused in settled) / sum(sent for sent, _ in settled)
    assert 4.0 <= mean_sent <= 7.0
    assert refused < 0.1  # far from the half-refused waves of a shared cooldown
    assert history[0][1] == 48 - 6  # the first round knew nothing


@pytest.mark.parametrize("limit", [6, 16, 50])
def test_without_headers_the_restart_after_a_429_is_quick_yet_gentle(limit: int) -> None:
    # After a 429: a probe, then a ramp doubling up to 0.7 of the level that overran, then
    # slow growth; answered requests per round average over 0.75 of the limit (restarting
    # from one request and growing by two a round made 0.60-0.67).
    history = simulate(limit=limit, demand=8 * limit, rounds=300)[50:]
    served = sum(min(sent, limit) for sent, _ in history) / len(history)
    assert served >= 0.75 * limit
    after_a_refusal = [later for (_, refused), (later, _) in itertools.pairwise(history) if refused]
    assert after_a_refusal and set(after_a_refusal) == {1}  # the probe goes alone, never all at once


def test_waits_are_announced_and_counted() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    seen: list[WaitEvent] = []
    unsubscribe = pacer.subscribe(seen.append)
    pacer.subscribe(lambda event: 1 / 0)  # a broken display must not break an extraction
    event = WaitEvent("retry", "rate limited", 8.0, "doc 1", 1)
    pacer.announce(event)
    unsubscribe()
    pacer.announce(WaitEvent("pacing", "request limit", 0.25))
    assert seen == [event]
    assert event.describe() == "waiting 8.0 s: rate limited"
    assert WaitEvent("cooldown", "rate limited", 42.4).describe() == "waiting 42 s: rate limited"
    snapshot = pacer.snapshot()
    assert (snapshot.waits, snapshot.waited_seconds) == (2, pytest.approx(8.25))
    assert snapshot.last_wait is not None and snapshot.last_wait.reason == "request limit"


class Scripted:
    """A waiter whose holds become plain events (what ApiCall does, minus the job)."""

    cost = ONE

    def hold_event(self, hold: Hold) -> WaitEvent:
        return WaitEvent("pacing", hold.reason, hold.seconds or 0.0)


def test_threads_and_tasks_wait_through_the_same_decisions() -> None:
    # Six requests into a learned 4-per-8/s bucket, one after another: the sync and the async
    # adapter sleep exactly the same waits on the same clock.
    def run(flavour: str) -> list[tuple[str, float]]:
        clock = FakeClock()
        gate = Gate(clock=clock)
        probe = ticket(gate.pacer.acquire(ONE))
        gate.pacer.release(probe, headers=headers(clock, "requests", 4, 3, 0.125))
        if flavour == "sync":
            tickets = [gate.turn(Scripted()) for _ in range(6)]
        else:

            async def all_of_them() -> list[Ticket]:
                return [await gate.aturn(Scripted()) for _ in range(6)]

            tickets = asyncio.run(all_of_them())
        assert len({one.seq for one in tickets}) == 6
        return clock.sleeps

    sync_sleeps = run("sync")
    # 3 fit at once, then one per refill (the first a millisecond late, so as never to be early)
    assert [seconds for _, seconds in sync_sleeps] == pytest.approx([1 / 8 + 0.001, 1 / 8, 1 / 8])
    assert run("async") == sync_sleeps


def test_a_held_call_wakes_when_another_finishes() -> None:
    # An untimed hold (the probe is out) ends with the probe's release, in another thread.
    import threading

    clock = FakeClock()
    gate = Gate(clock=clock)
    probe = ticket(gate.pacer.acquire(ONE))
    got: list[Ticket] = []
    waiter = threading.Thread(target=lambda: got.append(gate.turn(Scripted())))
    waiter.start()
    while gate.pacer.snapshot().waiting == 0:
        pass  # until the waiter is inside turn()
    gate.pacer.release(probe)
    waiter.join(10)
    assert len(got) == 1 and clock.sleeps == []


def paced_run(
    limits: RateLimits, clock: FakeClock, *, count: int, workers: int, upload: Callable[[], float]
) -> tuple[int, float]:
    """Event simulation: ``workers`` calls send ``count`` requests through one pacer to the fake's limiter.

    Each request reaches the server ``upload()`` seconds after the pacer admits it (the server
    charges it then) and is answered 0.3 s after that. Returns the 429s and the last arrival.
    """
    server, pacer = RateLimiter(limits), Pacer(clock=clock)
    events: list[tuple[float, int, str, Any]] = []
    order = itertools.count()
    parked: list[None] = []
    refused, last_arrival, left = 0, 0.0, count

    def at(when: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(events, (when, next(order), kind, payload))

    for _ in range(workers):
        at(clock.now(), "try")
    while events:
        when, _, kind, payload = heapq.heappop(events)
        clock.sleep(max(0.0, when - clock.now()))
        if kind == "try" and left > 0:
            decision = pacer.acquire(ONE)
            if isinstance(decision, Ticket):
                left -= 1
                at(when + upload(), "arrive", decision)
            elif decision.seconds is None:
                parked.append(None)  # until the next answer changes the pacer's state
            else:
                at(when + decision.seconds, "try")
        elif kind == "arrive":
            verdict = server.admit({"requests": 1, "input-tokens": 100, "output-tokens": 1000})
            last_arrival = when
            at(when + 0.3, "answer", (payload, verdict))
        elif kind == "answer":
            sent, verdict = payload
            if not verdict.admitted:
                refused, left = refused + 1, left + 1
                pacer.cooldown.extend(verdict.retry_after)
            pacer.release(sent, outcome="ok" if verdict.admitted else "rate_limited", headers=verdict.headers)
            for _ in range(len(parked) + 1):
                at(when, "try")
            parked.clear()
    return refused, last_arrival


@pytest.mark.parametrize("bucket", ["requests", "output_tokens"])
@pytest.mark.parametrize("seed", range(5))
def test_the_upload_time_of_a_request_is_not_taken_for_refill(bucket: str, seed: int) -> None:
    # A request reaches the server (and is charged) a moment after it is admitted, each after
    # its own upload time. Counting that moment as refill over-estimates the bucket, and one
    # paced to the last token (output tokens) then refuses; so does a full bucket, which refills
    # nothing at the server before the burst arrives. 48 requests, 16 at a time, 4 fit at once,
    # 8 per second, uploads of up to 0.1 s in a seeded random order.
    clock = FakeClock()
    per_request = {"requests": 1, "output_tokens": 1000}[bucket]
    limits = RateLimits(**{bucket: TokenBucket(4 * per_request, 8 * per_request)}, clock=clock.now, wall=clock.wall)
    rng = random.Random(seed)
    start = clock.now()
    refused, last_arrival = paced_run(limits, clock, count=48, workers=16, upload=lambda: rng.uniform(0.0, 0.1))
    assert refused == 0
    # The ideal client sends 4 at once and one per refill: the last one 44 / 8 s after the first.
    # This one loses the probe's round trip (0.3 s plus its upload) and the uploads, no more.
    assert last_arrival - start <= 44 / 8 + 0.4 + 0.7
