"""Shared helpers for the backend tests: run the same scenario through the sync and async API."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.config import Settings
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI

# Tiny waits so retries stay fast; retry-after headers are still honoured in full.
FAST = RetryPolicy(max_attempts=6, max_seconds=30.0, base_delay=0.005, max_delay=0.02)

USAGE = {"input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50}

ANSWER = {
    "invoice_number": "INV-1",
    "issue_date": "2026-01-15",
    "currency": "EUR",
    "seller": {"name": "ACME GmbH"},
    "line_items": [{"description": "Widget", "quantity": "2", "unit_price": "5.00", "amount": "10.00"}],
    "subtotal": "10.00",
    "tax_total": "1.90",
    "total": "11.90",
}


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"max_attempts": FAST.max_attempts, "max_retry_seconds": FAST.max_seconds}
    values.update(overrides)
    return Settings(**values)


def make_backend(api: FakeClaudeAPI, flavour: str, **options: Any) -> ClaudeBackend:
    options.setdefault("retry", FAST)
    options.setdefault("settings", settings())
    if flavour == "sync":
        return ClaudeBackend(client=api.client(), **options)
    return ClaudeBackend(async_client=api.async_client(), **options)


def run(backend: ClaudeBackend, flavour: str, source: Any, schema: type[Any] = Invoice, **kwargs: Any) -> Any:
    if flavour == "sync":
        return backend.extract(source, schema, **kwargs)
    return asyncio.run(backend.aextract(source, schema, **kwargs))


# Which actor of a scenario is running (a thread, or an asyncio task: both carry their own copy).
ROLE: contextvars.ContextVar[str] = contextvars.ContextVar("role", default="")


class FakeClock:
    """A backend clock whose sleeps take no wall time.

    ``sleep(s)`` called at time t moves the clock to at least t + s, as concurrent sleepers would
    on a real clock. ``hold`` maps a role (see :data:`ROLE`) to an event: that role's sleeps wait
    for the event before they end, so a test can order what happens during a wait; ``sleeping``
    maps a role to an event set when that role starts a sleep.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[tuple[str, float]] = []
        self.hold: dict[str, threading.Event] = {}
        self.sleeping: dict[str, threading.Event] = {}

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        return 1_750_000_000.0 + self.now()

    def sleep(self, seconds: float) -> None:
        start = self._begin(seconds)
        event = self.hold.get(ROLE.get())
        if event is not None:
            assert event.wait(10), f"{ROLE.get()} was held for good"
        self._end(start + seconds)

    async def asleep(self, seconds: float) -> None:
        start = self._begin(seconds)
        event = self.hold.get(ROLE.get())
        if event is not None:
            assert await asyncio.to_thread(event.wait, 10), f"{ROLE.get()} was held for good"
        self._end(start + seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would

    def slept(self, role: str = "") -> float:
        return sum(seconds for who, seconds in self.sleeps if who == role)

    def _begin(self, seconds: float) -> float:
        signal = self.sleeping.get(ROLE.get())
        if signal is not None:
            signal.set()
        with self._lock:
            self.sleeps.append((ROLE.get(), seconds))
            return self._now

    def _end(self, until: float) -> None:
        with self._lock:
            self._now = max(self._now, until)
