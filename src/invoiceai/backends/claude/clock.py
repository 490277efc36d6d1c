"""Time as the retry and cooldown decisions see it, injectable so tests need no wall time.

:class:`ClaudeBackend <invoiceai.backends.claude.ClaudeBackend>` reads the time and sleeps only
through a :class:`Clock`. The default, :data:`SYSTEM_CLOCK`, is ``time.monotonic`` /
``time.sleep`` / ``asyncio.sleep``; a test passes a fake whose ``sleep`` advances its own time
at once, so a 30-second ``retry-after`` takes no time and every wait can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Where the backend gets the time and how it waits."""

    def now(self) -> float:
        """Returns monotonic seconds (only differences matter)."""
        ...

    def wall(self) -> float:
        """Returns seconds since the epoch, to read an HTTP-date ``retry-after``."""
        ...

    def sleep(self, seconds: float) -> None:
        """Blocks the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspends the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time``, ``time.sleep`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Returns ``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> float:
        """Returns ``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Calls ``time.sleep``."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Awaits ``asyncio.sleep``."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
"""The clock every backend uses unless given another."""
