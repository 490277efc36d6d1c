"""The event loop a webhook deliverer makes its attempts on, whose name lookups never hold it up.

An attempt whose name lookup hangs ends at its timeout (``asyncio.wait_for``), but the thread
running the lookup (``asyncio.to_thread``) cannot be stopped. ``asyncio.run`` closes its loop at
the end, and closing waits for every executor thread: run once per batch of attempts, it held the
deliverer, and every attempt of the batch after, as long as the lookup hung. An
:class:`AttemptLoop` serves a deliverer's whole life instead, and at its close leaves the lookup
threads to end on their own (the OS resolver gives up eventually).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

__all__ = ["AttemptLoop"]


class AttemptLoop:
    """One event loop, used by one thread at a time, closed without waiting for hung lookups.

    Use it as a context manager, or call :meth:`close` when done.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="invoiceai-webhook-lookup"))

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Runs ``coroutine`` to its end on the loop."""
        self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Closes the loop at once: lookups still running finish in their threads, unawaited."""
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            # Not shutdown_default_executor(), which asyncio.run awaits: it joins the hung lookups.
            # close() shuts the executor down without waiting.
            self._loop.close()

    def __enter__(self) -> AttemptLoop:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
