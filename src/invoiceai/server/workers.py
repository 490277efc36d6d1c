"""The embedded mode's workers: threads in the API process that pull queued jobs and run them.

Each thread asks the store for claimable jobs (queued, or running under an expired lease) and
hands them to :func:`~invoiceai.server.runner.run_job`, which claims them; a job another thread
claimed first is skipped. Threads sleep until :meth:`WorkerPool.wake` (a job was queued) or a
poll interval passes (a lease may have expired elsewhere). Stopping waits a grace period for the
running jobs, then gives the ones still running back to the queue, so none waits for its lease to
run out.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from invoiceai.secrets import get_logger
from invoiceai.server.leases import claimable, release_worker
from invoiceai.server.message_batches import start_driver
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
        grace_seconds: How long :meth:`stop` waits for running jobs (default: the service's
            ``shutdown_grace_seconds``).
    """

    def __init__(
        self, context: ServiceContext, threads: int, *, poll_seconds: float = 1.0, grace_seconds: float | None = None
    ) -> None:
        self.context = context
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.grace_seconds = context.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
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
        self._threads.append(start_driver(self.context, self._stop))  # batches sent as Message Batches

    def wake(self) -> None:
        """Tells the threads a job was queued."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> int:
        """Stops taking jobs, waits for the running ones, and gives back those still running after it.

        Args:
            timeout: Seconds to wait for the running jobs (default: ``grace_seconds``). A job
                that ends in time has its result stored; one still running is given back to the
                queue (its thread's result will not be stored), to run again at the next start
                or on another worker.

        Returns:
            How many jobs were given back.
        """
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + (self.grace_seconds if timeout is None else timeout)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = [thread for thread in self._threads if thread.is_alive()]
        self._threads.clear()
        if not running:
            return 0
        try:
            released = release_worker(self.context.engine, self.context.worker_id)
        except Exception:  # the store is gone: the leases run out instead
            _log.warning("could not give back the jobs of %d worker thread(s) still running", len(running))
            return 0
        _log.warning("gave back %d job(s) still running after the shutdown grace period", released)
        return released

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
