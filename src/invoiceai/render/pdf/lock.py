"""The one lock every pdfium call in the process runs under.

pdfium is not thread-safe, not even across different documents, so every pypdfium2 call in
invoiceai (rendering, text layers, attachments, page subsets) holds this lock. Parallel
rendering uses processes, each with its own pdfium and its own copy of this lock.

The lock counts, per thread, the seconds spent waiting for it: a document's ``render_timeout``
is for the work done on it, and must not run out while other documents hold pdfium
(:class:`~invoiceai.render.limits.Deadline` subtracts the waits).
"""

from __future__ import annotations

import threading
import time

__all__ = ["PDFIUM_LOCK", "PdfiumLock"]


class PdfiumLock:
    """A re-entrant lock that remembers how long each thread waited to get it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()

    def __enter__(self) -> PdfiumLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Takes the lock, adding the time spent waiting to this thread's :meth:`waited`."""
        if self._lock.acquire(blocking=False):
            return
        started = time.monotonic()
        self._lock.acquire()
        self._local.waited = self.waited() + (time.monotonic() - started)

    def release(self) -> None:
        """Releases the lock."""
        self._lock.release()

    def waited(self) -> float:
        """Seconds this thread has spent waiting for the lock, in all."""
        waited: float = getattr(self._local, "waited", 0.0)
        return waited


PDFIUM_LOCK = PdfiumLock()
"""Hold this around every pypdfium2 call, including closing documents and pages."""
