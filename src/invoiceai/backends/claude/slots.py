"""A cap on requests in flight, separate from how many documents are being worked on.

A document spends part of its time outside any request (rendering, building the request,
parsing and validating the reply). If the number of documents in progress were the only limit,
the API would see fewer requests in flight than the account allows. With this cap, a batch can
work on a few more documents than it sends, and the requests in flight stay at the cap: the
account's concurrency is used fully and never exceeded (no self-inflicted 429s).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Iterator

__all__ = ["RequestSlots"]


class RequestSlots:
    """At most ``limit`` requests in flight per backend; ``limit=0`` means no cap.

    The sync side is a thread semaphore. The async side is one asyncio semaphore per event loop
    (asyncio primitives belong to one loop), kept for as long as that loop lives, so a loop that
    starts using the backend never resets the cap of another one still running. A backend used
    from threads and from event loops at once gets one cap for the threads and one for each loop.
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the request cap must be 0 (no cap) or more")
        self.limit = limit
        self._threads = threading.BoundedSemaphore(limit) if limit else None
        self._tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Holds one slot for a synchronous request."""
        if self._threads is None:
            yield
            return
        with self._threads:
            yield

    @contextlib.asynccontextmanager
    async def ahold(self) -> AsyncIterator[None]:
        """Holds one slot for an asynchronous request."""
        if not self.limit:
            yield
            return
        async with self._semaphore():
            yield

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            semaphore = self._tasks.get(loop)
            if semaphore is None:
                semaphore = self._tasks[loop] = asyncio.Semaphore(self.limit)
            return semaphore
