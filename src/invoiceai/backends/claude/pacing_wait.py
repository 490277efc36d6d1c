"""The waiting half of pacing: thin thread and asyncio adapters around one :class:`Pacer`.

Every decision (admit, hold for how long, why) is the pacer's; these only wait. A timed hold
(a cooldown, a bucket refilling) sleeps on the backend's :class:`~invoiceai.backends.claude.clock.Clock`,
so tests with a fake clock take no wall time; an untimed one (the window is full, a probe is out)
waits for the pacer to signal a change, which any thread or event loop may cause: threads wait on
a condition, tasks on a future resolved through their own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Protocol

from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.backends.claude.pacing import Cost, Hold, Pacer, Ticket, WaitEvent
from invoiceai.backends.claude.retry import Cooldown

__all__ = ["ChangeSignal", "Gate", "Waiter"]

# An untimed hold re-asks at least this often (real seconds), in case a change went unseen.
_RECHECK = 1.0


class Waiter(Protocol):
    """The call asking for a turn (:class:`~invoiceai.backends.claude.call.ApiCall`)."""

    @property
    def cost(self) -> Cost:
        """What the request takes from each bucket."""
        ...

    def hold_event(self, hold: Hold) -> WaitEvent:
        """Returns the event announcing a timed hold; raises when the call should give up instead."""
        ...


class ChangeSignal:
    """Wakes every thread and task waiting for the pacer's state to change. Thread-safe."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def notify(self) -> None:
        """Signals a change to every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
            futures, self._futures = self._futures, []
        for loop, future in futures:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, generation: int) -> None:
        """Blocks until a change after ``generation`` (or the re-check interval)."""
        with self._condition:
            self._condition.wait_for(lambda: self._generation != generation, timeout=_RECHECK)

    async def await_change(self, generation: int) -> None:
        """Suspends the task until a change after ``generation`` (or the re-check interval)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._condition:
            if self._generation != generation:
                return
            self._futures.append((loop, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, _RECHECK)

    @property
    def generation(self) -> int:
        """How many changes were signalled."""
        with self._condition:
            return self._generation


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Gate:
    """A backend's pacer and the waiting around it.

    Args:
        cap: Most requests in flight (``max_concurrent_requests``); 0: none.
        clock: Sleeps and time for timed holds.
        cooldown: The backend's shared 429 cooldown.
    """

    def __init__(self, *, cap: int = 0, clock: Clock = SYSTEM_CLOCK, cooldown: Cooldown | None = None) -> None:
        self.signal = ChangeSignal()
        self.pacer = Pacer(cap=cap, clock=clock, cooldown=cooldown, on_change=self.signal.notify)
        self._clock = clock

    def turn(self, waiter: Waiter) -> Ticket:
        """Waits (in this thread) until the pacer admits ``waiter``'s request; returns its ticket."""
        self.pacer.waiting(1)
        try:
            while True:
                seen = self.signal.generation
                decision = self.pacer.acquire(waiter.cost)
                if isinstance(decision, Ticket):
                    return decision
                if decision.seconds is None:
                    self.signal.wait(seen)
                    continue
                event = waiter.hold_event(decision)
                self.pacer.announce(event)
                self._clock.sleep(decision.seconds)
        finally:
            self.pacer.waiting(-1)

    async def aturn(self, waiter: Waiter) -> Ticket:
        """Async twin of :meth:`turn`."""
        self.pacer.waiting(1)
        try:
            while True:
                seen = self.signal.generation
                decision = self.pacer.acquire(waiter.cost)
                if isinstance(decision, Ticket):
                    return decision
                if decision.seconds is None:
                    await self.signal.await_change(seen)
                    continue
                event = waiter.hold_event(decision)
                self.pacer.announce(event)
                await self._clock.asleep(decision.seconds)
        finally:
            self.pacer.waiting(-1)
