"""The embedded mode's workers: threads in the API process that pull queued jobs and run them.

Each thread asks the store for claimable jobs (queued, or running under an expired lease) and
hands them to :func:`~invoiceai.server.runner.run_job`, which claims them; a job another thread
claimed first is skipped. Threads sleep until :meth:`WorkerPool.wake` (a job was queued) or a
poll interval passes (a lease may have expired elsewhere).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from invoiceai.secrets import get_logger
from invoiceai.server.leases import claimable
from invoiceai.server.runner import run_job

if TYPE_CHECKING:
    from invoiceai.server.context import ServiceContext

__all__ = ["WorkerPool"]

_log = get_logger("invoiceai.server")


class WorkerPool:
    """``threads`` worker threads running the jobs of ``context``'s store.

    Args:
        context: The process's store, extractor and seams.
        threads: How many jobs run at once.
        poll_seconds: Longest sleep between looks at the store when nothing wakes the pool.
    """

    def __init__(self, context: ServiceContext, threads: int, *, poll_seconds: float = 1.0) -> None:
        self.context = context
        self.threads = threads
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Starts the threads (once)."""
        if self._threads:
            return
        for number in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"invoiceai-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Tells the threads a job was queued."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stops taking jobs and waits for the running ones to end (their results are stored)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self._run_some()
            except Exception:  # the store is unreachable: say so, wait, try again
                _log.exception("worker could not reach the job store")
                self._stop.wait(self.poll_seconds)
                continue
            if not ran:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _run_some(self) -> bool:
        """Runs the first job it can claim; ``True`` when it ran one."""
        for job_id in claimable(self.context.engine, limit=self.threads + 1):
            if self._stop.is_set():
                return False
            if run_job(job_id, self.context):
                return True
        return False
