"""Pacing: hold each request until the account's limits have room for it. Decisions only, no I/O.

Anthropic's rate limits are token buckets (requests, input tokens and output tokens per minute),
refilled continuously, and every response says where they stand::

    anthropic-ratelimit-requests-limit: 50          # the bucket's capacity
    anthropic-ratelimit-requests-remaining: 47      # what is left after this request
    anthropic-ratelimit-requests-reset: 2026-05-01T12:00:03Z   # when it is full again
    (the same for input-tokens and output-tokens)

One :class:`Pacer` per backend, shared by every thread and asyncio task that uses it, keeps a
model of those buckets and decides, for each request about to be sent, whether it fits now
(:meth:`Pacer.acquire` returns a :class:`Ticket`) or must wait (a :class:`Hold`):

* **Buckets.** Capacity comes from ``-limit``; the refill rate from how far ``-remaining`` is
  below it and how soon ``-reset`` says it is full again. Each admitted request is charged at
  once (one request, its estimated input tokens, and its ``max_tokens`` of output tokens, which
  the API charges up front). Each response bounds the level: the server wrote ``-remaining``
  when the request arrived, some time after it was admitted (its upload), so the refill since
  is at most the time since admission; the client's own count is kept within those bounds
  (it is never behind the server, unless another client shares the account). A request that
  does not fit waits until the refill makes room, a millisecond more, never a hair early.
* **Learning.** Until the first answer, one request (a probe) goes alone: a batch that starts
  with 16 calls does not send 16 requests into a limit it does not know yet.
* **429s.** A rate-limited answer starts the shared cooldown (at least its ``retry-after``,
  :class:`~invoiceai.backends.claude.retry.Cooldown`); when it ends, one probe goes first, and
  once it succeeds the number in flight ramps up again (slow start: one more per success, so it
  doubles each round trip, up to 0.7 of the level that overran the limit), so waiting calls are
  released a few at a time, never all at once.
* **No headers** (a proxy, Bedrock, Vertex): the number in flight adapts instead (AIMD: the
  same probe and ramp after a 429, then slow growth while the window is full), so a
  ``concurrency`` far above the real limit settles near it.

The waiting itself is done by thin adapters (:mod:`invoiceai.backends.claude.pacing_wait`), one
for threads and one for asyncio tasks; both ask these same decisions. What the pacer learned is
readable at any time as a :class:`PacingSnapshot`, and every wait the backend decides is
announced to subscribers as a :class:`WaitEvent` (see :meth:`Pacer.subscribe`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable, Mapping
from typing import Literal

from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.backends.claude.pacing_model import (
    BUCKETS,
    TRANSIT_SECONDS,
    Bucket,
    BucketReading,
    Cost,
    read_rate_limit_headers,
)
from invoiceai.backends.claude.retry import Cooldown
from invoiceai.secrets import get_logger

__all__ = [
    "BUCKETS",
    "BucketReading",
    "BucketState",
    "Cost",
    "Hold",
    "Outcome",
    "Pacer",
    "PacingMode",
    "PacingSnapshot",
    "Ticket",
    "WaitEvent",
    "WaitKind",
    "read_rate_limit_headers",
]

logger = get_logger("invoiceai.backends")

PacingMode = Literal["learning", "headers", "adaptive"]
Outcome = Literal["ok", "rate_limited", "failed"]
WaitKind = Literal["pacing", "cooldown", "retry"]

# Multiplicative decrease after a 429 (TCP CUBIC's 0.7: gentler than halving, so a limit of C in
# flight is worked between 0.7 C and C rather than between C/2 and C).
_DECREASE = 0.7
_UNLIMITED = math.inf
_REMEMBERED_SENDS = 4096


@dataclasses.dataclass(frozen=True)
class Ticket:
    """Permission to send one request now; hand it back with :meth:`Pacer.release`.

    Attributes:
        seq: Order of admission (1, 2, ...).
        sent_at: The clock's time of admission.
        cost: What the request was charged.
        probe: Whether it goes alone to learn the limits (at the start, or after a 429).
        filled: Whether it was admitted into a (nearly) full window: only such a request's
            success grows the window, so growth is slow (about two requests per window of
            successes) where each overrun costs a cooldown and a probe.
    """

    seq: int
    sent_at: float
    cost: Cost
    probe: bool = False
    filled: bool = False


@dataclasses.dataclass(frozen=True)
class Hold:
    """Not now.

    Attributes:
        seconds: How long to wait before asking again; ``None``: until another request of the
            backend finishes (the pacer signals every change).
        reason: ``cooldown`` (a 429's retry-after), ``probe`` (a probe is out), ``window``
            (as many in flight as allowed), or the bucket short of room (``requests``,
            ``input-tokens``, ``output-tokens``).
        generation: The pacer's state version this answer was based on.
    """

    seconds: float | None
    reason: str
    generation: int


@dataclasses.dataclass(frozen=True)
class WaitEvent:
    """One wait the backend decided, announced before it starts.

    Attributes:
        kind: ``pacing`` (held so as not to exceed a limit), ``cooldown`` (a 429 asked every
            call to wait) or ``retry`` (waiting to try a failed request again).
        reason: What for, in words: ``rate limited``, ``overloaded``, ``server error``,
            ``connection failed``, ``request limit``, ``input-token limit``, ``output-token limit``.
        seconds: How long.
        label: Which request (``claude doc 3f2a... chunk 1/1``).
        attempt: Attempts the request has made so far.
    """

    kind: WaitKind
    reason: str
    seconds: float
    label: str = ""
    attempt: int = 0

    def describe(self) -> str:
        """Returns ``waiting 8 s: rate limited`` (tenths below 10 s)."""
        amount = f"{self.seconds:.0f}" if self.seconds >= 10 else f"{self.seconds:.1f}"
        return f"waiting {amount} s: {self.reason}"


@dataclasses.dataclass(frozen=True)
class BucketState:
    """One rate-limit bucket as last learned. ``remaining`` is the estimate for now."""

    name: str
    limit: float
    remaining: float
    per_second: float


@dataclasses.dataclass(frozen=True)
class PacingSnapshot:
    """What a backend's pacer knows, at one moment (read-only).

    Attributes:
        mode: ``learning`` (no answer yet), ``headers`` (paced from the rate-limit headers) or
            ``adaptive`` (no headers: the number in flight adapts to 429s).
        window: Requests allowed in flight now (``None``: no limit besides the buckets).
        in_flight: Requests in flight.
        waiting: Calls waiting for their turn.
        buckets: The limits learned from the headers.
        rate_limited: 429 answers seen.
        waits: Waits announced (:class:`WaitEvent`).
        waited_seconds: Their total length.
        cooldown: Seconds left of a 429's cooldown.
        last_wait: The latest wait announced.
    """

    mode: PacingMode
    window: int | None
    in_flight: int
    waiting: int
    buckets: tuple[BucketState, ...]
    rate_limited: int
    waits: int
    waited_seconds: float
    cooldown: float
    last_wait: WaitEvent | None


class Pacer:
    """The pacing decisions of one backend. Thread-safe; shared by threads and event loops.

    Args:
        cap: Most requests in flight whatever was learned (``max_concurrent_requests``); 0: none.
        clock: Where the time comes from (a fake one in tests).
        cooldown: The backend's shared 429 cooldown (calls extend it; the pacer holds to it).
        on_change: Called (outside the lock) after every change that may let a held call go.
    """

    def __init__(
        self,
        *,
        cap: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        cooldown: Cooldown | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if cap < 0:
            raise ValueError("the request cap must be 0 (no cap) or more")
        self._cap = cap or _UNLIMITED
        self._clock = clock
        self.cooldown = cooldown or Cooldown(clock)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._mode: PacingMode = "learning"
        self._window = 1.0
        self._threshold = _UNLIMITED
        self._probing = True
        self._probe_out = False
        self._in_flight = 0
        self._busiest = 0
        self._seq = 0
        self._loss_seq = 0
        self._generation = 0
        self._buckets: dict[str, Bucket] = {}
        self._applied: dict[str, int] = {}
        self._sent: collections.deque[Ticket] = collections.deque(maxlen=_REMEMBERED_SENDS)
        self._waiting = 0
        self._rate_limited = 0
        self._waits = 0
        self._waited = 0.0
        self._last_wait: WaitEvent | None = None
        self._listeners: list[Callable[[WaitEvent], None]] = []

    # -- decisions -----------------------------------------------------------------------------

    def acquire(self, cost: Cost) -> Ticket | Hold:
        """Admits a request that costs ``cost`` (charging the buckets), or says how long to hold it."""
        with self._lock:
            now = self._clock.now()
            generation = self._generation
            left = self.cooldown.remaining()
            if left > 0:
                return Hold(left, "cooldown", generation)
            if self._probing:
                if self._probe_out:
                    return Hold(None, "probe", generation)
            elif self._in_flight >= self._allowed():
                return Hold(None, "window", generation)
            for name, bucket in self._buckets.items():
                wait = bucket.wait_for(cost.of(name), now)
                if wait > 0:
                    return Hold(wait, name, generation)
            for name, bucket in self._buckets.items():
                bucket.take(cost.of(name), now)
            self._seq += 1
            self._in_flight += 1
            filled = self._in_flight + 1 >= self._allowed()
            ticket = Ticket(self._seq, now, cost, probe=self._probing, filled=filled)
            self._probe_out = self._probe_out or self._probing
            self._busiest = max(self._busiest, self._in_flight)
            self._sent.append(ticket)
            return ticket

    def release(self, ticket: Ticket, *, outcome: Outcome = "ok", headers: Mapping[str, str] | None = None) -> None:
        """Hands back a ticket once its request has an answer (or none).

        Args:
            ticket: What :meth:`acquire` gave.
            outcome: ``ok`` (an answer that is not a 429), ``rate_limited`` (a retryable 429) or
                ``failed`` (no answer: a connection error, a timeout, a cancelled call).
            headers: The answer's response headers, to learn the rate limits from.
        """
        with self._lock:
            now = self._clock.now()
            self._in_flight -= 1
            readings = read_rate_limit_headers(headers, wall_now=self._clock.wall())
            if readings:
                self._learn(ticket, readings, now)
            if outcome == "rate_limited":
                self._after_429(ticket)
            elif outcome == "ok":
                self._after_success(ticket, bool(readings))
            if ticket.probe:
                self._probe_out = False
            self._generation += 1
        self._changed()

    def _allowed(self) -> float:
        return min(self._cap, self._window if self._window == _UNLIMITED else math.floor(self._window))

    def _after_success(self, ticket: Ticket, with_headers: bool) -> None:
        if self._mode == "learning":
            # Learned whether limits come as headers: the buckets pace from now on, or (none)
            # the window starts at the cap and only a 429 brings it down.
            self._mode = "headers" if with_headers else "adaptive"
            self._window, self._threshold = _UNLIMITED, _UNLIMITED
        elif with_headers:
            self._mode = "headers"
        if ticket.probe:
            self._probing = False
        if ticket.seq <= self._loss_seq:
            return  # sent before the last 429: no news about room
        if self._window < self._threshold:
            # The ramp after a 429 (slow start): one more per success, so the window doubles
            # each round trip up to 0.7 of the level that overran the limit.
            self._window = min(self._window + 1.0, self._threshold)
        elif ticket.filled:
            self._window += 1.0 / self._window  # then probe upward slowly

    def _after_429(self, ticket: Ticket) -> None:
        self._rate_limited += 1
        self._forget(ticket)  # a refused request is not charged
        if ticket.seq <= self._loss_seq:
            return  # one decrease per loss: requests sent before the last 429 say nothing new
        # The level reached since the last decrease is what overran the limit.
        basis = min(self._window, max(self._busiest, self._in_flight + 1))
        self._threshold = max(1.0, round(_DECREASE * basis))
        self._window = 1.0
        self._busiest = 0
        self._probing = True
        self._loss_seq = self._seq

    def _learn(self, ticket: Ticket, readings: Mapping[str, BucketReading], now: float) -> None:
        for name, reading in readings.items():
            if reading.reset_in is not None:
                # The server wrote -reset when the request arrived (about when it was sent), not now.
                reading = dataclasses.replace(reading, reset_in=reading.reset_in + (now - ticket.sent_at))
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = Bucket.first(reading, now)
            else:
                bucket.relearn(reading)
            if ticket.seq <= self._applied.get(name, 0):
                continue  # an answer older than one already applied
            later = sum(sent.cost.of(name) for sent in self._sent if sent.seq > ticket.seq)
            maybe = later + sum(sent.cost.of(name) for sent in self._sent if self._reordered(sent, ticket))
            bucket.rebase(reading.remaining, since=ticket.sent_at, later=later, maybe_later=maybe, now=now)
            self._applied[name] = ticket.seq
        # Sends every bucket has an answer for since, and that no later send may have overtaken,
        # can no longer matter to a re-base.
        oldest = min(self._applied.values(), default=0)
        newer = next((sent.sent_at for sent in self._sent if sent.seq > oldest), now)
        while self._sent and self._sent[0].seq <= oldest and self._sent[0].sent_at < newer - TRANSIT_SECONDS:
            self._sent.popleft()

    @staticmethod
    def _reordered(sent: Ticket, answered: Ticket) -> bool:
        # Whether ``sent``, admitted shortly before ``answered``, may have reached the server second.
        return sent.seq < answered.seq and answered.sent_at - sent.sent_at < TRANSIT_SECONDS

    def _forget(self, ticket: Ticket) -> None:
        with contextlib.suppress(ValueError):  # already pruned
            self._sent.remove(ticket)
        for name, bucket in self._buckets.items():
            if self._applied.get(name, 0) < ticket.seq:  # else an answer since has re-based it already
                bucket.refund(ticket.cost.of(name))

    # -- waiting calls and what they announce -----------------------------------------------------

    @property
    def generation(self) -> int:
        """The state version; it changes whenever a held call might be let go."""
        with self._lock:
            return self._generation

    def waiting(self, delta: int) -> None:
        """Counts calls entering (+1) or leaving (-1) a wait, for the snapshot."""
        with self._lock:
            self._waiting += delta

    def announce(self, event: WaitEvent) -> None:
        """Records a wait about to start and tells every subscriber (their errors are logged, not raised)."""
        with self._lock:
            self._waits += 1
            self._waited += event.seconds
            self._last_wait = event
            listeners = list(self._listeners)
        logger.debug("%s: %s", event.label or "claude", event.describe())
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a display must never break an extraction (nor print to stderr)
                logger.debug("a pacing listener failed", exc_info=True)

    def subscribe(self, listener: Callable[[WaitEvent], None]) -> Callable[[], None]:
        """Calls ``listener(event)`` for every :class:`WaitEvent` from now on; returns the unsubscribe function.

        Listeners run in the thread (or on the event loop) of the waiting call, just before it
        waits: keep them quick and non-blocking (update a status line, count, log).
        """
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def snapshot(self) -> PacingSnapshot:
        """Returns what was learned so far (limits, estimates for now, waits, 429s)."""
        with self._lock:
            now = self._clock.now()
            buckets = tuple(
                BucketState(name, bucket.limit, max(0.0, bucket.level_at(now)), bucket.rate)
                for name, bucket in sorted(self._buckets.items(), key=lambda item: BUCKETS.index(item[0]))
            )
            allowed = 1.0 if self._probing else self._allowed()
            return PacingSnapshot(
                mode=self._mode,
                window=None if allowed == _UNLIMITED else int(allowed),
                in_flight=self._in_flight,
                waiting=self._waiting,
                buckets=buckets,
                rate_limited=self._rate_limited,
                waits=self._waits,
                waited_seconds=self._waited,
                cooldown=self.cooldown.remaining(),
                last_wait=self._last_wait,
            )

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
