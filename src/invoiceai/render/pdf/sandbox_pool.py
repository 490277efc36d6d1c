"""The PDF sandbox's worker processes: started once, leased per call, replaced when they die.

A worker (:class:`~invoiceai.render.pdf.sandbox_process.WorkerProcess`) is a fresh Python
interpreter running :mod:`invoiceai.render.pdf.sandbox_worker` under an address-space limit
(``RLIMIT_AS`` = ``render_memory_limit``). It talks to this process over two pipes, one message
at a time (:mod:`invoiceai.render.pdf.wire`), and keeps a few documents open between calls so a
page source's next call does not reopen its PDF.

:class:`SandboxPool` hands out workers: one caller at a time per worker, preferring an idle
worker that has the caller's document open, starting a new one when none is idle (there is no
upper bound, so callers never wait on one another; idle workers above a small number are
stopped). A worker that stops answering in time or dies is killed and dropped; the next call
starts a fresh one; so does an idle worker found dead. Pools are process-wide, one per memory
limit (:func:`pool_for`), and belong to the process that made them: a forked child closes its
copies of the parent's pipes and starts workers of its own.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import threading
from collections.abc import Iterator

from invoiceai.errors import ConfigurationError, DocumentTooLargeError
from invoiceai.render.pdf.sandbox_channel import WorkerFailure
from invoiceai.render.pdf.sandbox_process import WorkerProcess

__all__ = [
    "SandboxPool",
    "WorkerFailure",
    "WorkerProcess",
    "forget_document",
    "limit_memory",
    "out_of_memory",
    "pool_for",
    "supported",
]

MAX_OPEN_DOCUMENTS = 3
"""Documents a worker keeps open for later calls (the oldest is closed first)."""
MAX_OPEN_BYTES = 96 * 1024 * 1024
"""Bytes of PDFs a worker keeps open, in all (the document in use is always kept)."""
START_TIMEOUT = 60.0
"""Seconds a new worker may take to start (import pypdfium2 and Pillow) before it is given up on."""
CLOSE_TIMEOUT = 5.0
"""Seconds an idle worker may take to confirm it closed a document."""

_MAX_IDLE = max(2, os.cpu_count() or 1)
_POOLS: dict[int, SandboxPool] = {}
_POOLS_LOCK = threading.Lock()
_OWNER = [os.getpid()]


def supported() -> bool:
    """Tells whether PDFs can be opened in sandbox workers here (POSIX: Linux, macOS, BSD)."""
    return os.name == "posix"


def limit_memory(limit: int) -> int:
    """Caps this process's address space at ``limit`` bytes (never above the inherited hard limit).

    Returns:
        The limit in force, or ``0`` when none could be set (``limit`` is 0, or the platform has
        no ``RLIMIT_AS``, as on Windows; macOS accepts it without enforcing it).
    """
    if limit <= 0:
        return 0
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, AttributeError, ValueError, OSError):
        return 0
    return limit


def out_of_memory(
    limit: int, *, document_id: str | None, detail: str, in_force: int | None = None, page: int | None = None
) -> DocumentTooLargeError:
    """Returns the error for a document whose worker ran out of memory or died.

    Args:
        limit: The ``render_memory_limit`` setting.
        document_id: For error context.
        detail: How the worker ended ("died of signal 6", "ran out of memory").
        in_force: The limit the worker actually had, when lower (inherited from this process).
        page: The 1-based page being rendered, if any.
    """
    inherited = f" (a limit of {in_force:,} bytes inherited from this process)" if in_force and in_force < limit else ""
    doing = "opening this PDF" if page is None else f"rendering page {page} of this PDF"
    return DocumentTooLargeError(
        f"The process {doing} {detail} under the render_memory_limit of {limit:,} bytes{inherited}: the "
        "PDF needs more memory than allowed (a decompression bomb, or a page of millions of objects), or it "
        "crashes pdfium. Raise Settings(render_memory_limit=...) (INVOICEAI_RENDER_MEMORY_LIMIT) if the "
        "file is trusted.",
        setting="render_memory_limit",
        limit=in_force if in_force and in_force < limit else limit,
        document_id=document_id,
        page=page,
    )


class SandboxPool:
    """The workers of one memory limit, leased to one caller at a time.

    Args:
        limit: ``RLIMIT_AS`` for each worker, in bytes.
        max_idle: Idle workers kept running for later calls.

    Attributes:
        owner: The process the pool's workers belong to (a forked child makes a pool of its own).
    """

    def __init__(self, limit: int, *, max_idle: int = _MAX_IDLE) -> None:
        self.limit = limit
        self.max_idle = max_idle
        self.owner = os.getpid()
        # Re-entrant: a render abandoned mid-document is closed by the garbage collector, which
        # may run while this thread holds the lock, and hands its worker back.
        self._lock = threading.RLock()
        self._holders = threading.local()
        self._idle: list[WorkerProcess] = []
        self._every: set[WorkerProcess] = set()
        # Keys of closed documents, appended without a lock: a finaliser may run while it is held.
        self._forgotten: collections.deque[int] = collections.deque()

    @property
    def idle_pids(self) -> list[int]:
        """Process ids of the idle workers (for tests and diagnostics)."""
        with self._locked():
            return [worker.pid for worker in self._idle]

    @property
    def pids(self) -> list[int]:
        """Process ids of every worker, idle or leased (for tests and diagnostics)."""
        with self._locked():
            return sorted(worker.pid for worker in self._every)

    def lease(self, key: int, *, fresh: bool = False) -> WorkerProcess:
        """Takes an idle worker (one with document ``key`` open if any) or starts one.

        Args:
            key: The document the caller is about.
            fresh: Start a new worker even when one is idle.

        Raises:
            ConfigurationError: A new worker did not start.
        """
        with self._locked():
            self._take_forgotten()
            # A worker may have died while idle (the kernel's OOM killer, a signal): not for this document.
            dead = [worker for worker in self._idle if not worker.alive()]
            self._idle = [worker for worker in self._idle if worker not in dead]
            chosen = None if fresh else next((worker for worker in self._idle if key in worker.open_documents), None)
            if chosen is None and self._idle and not fresh:
                chosen = min(self._idle, key=lambda worker: len(worker.open_documents))
            if chosen is not None:
                self._idle.remove(chosen)
        for worker in dead:
            self.discard(worker)
        return chosen if chosen is not None else self._start()

    def release(self, worker: WorkerProcess) -> None:
        """Returns a worker that answered its last request; it closes what it was asked to close."""
        worker.served += 1
        self._hand_back(worker)

    def discard(self, worker: WorkerProcess) -> None:
        """Kills a worker whose state is unknown (it timed out, died, or a call was interrupted)."""
        worker.kill()
        self._drop(worker)

    def forget(self, key: int, *, at_once: bool = False) -> None:
        """Has every worker holding document ``key`` close it; safe in finalisers.

        Args:
            key: The document.
            at_once: Close it now in the idle workers that hold it (else at their next lease).
                Skipped when this thread is inside the pool already (a finaliser run by the
                garbage collector in the middle of a lease).
        """
        self._forgotten.append(key)
        if at_once and not getattr(self._holders, "depth", 0):
            with self._locked():
                self._take_forgotten()
                ready = [worker for worker in self._idle if worker.to_close]
                self._idle = [worker for worker in self._idle if not worker.to_close]
            for worker in ready:
                self._hand_back(worker)

    def make_room(self, worker: WorkerProcess, size: int) -> None:
        """Closes the worker's oldest documents until one of ``size`` bytes fits its budget.

        Raises:
            WorkerFailure: The worker is gone.
        """
        with self._locked():
            self._take_forgotten()
            while worker.open_documents and (
                len(worker.open_documents) >= MAX_OPEN_DOCUMENTS
                or sum(worker.open_documents.values()) + size > MAX_OPEN_BYTES
            ):
                oldest, _ = worker.open_documents.popitem(last=False)
                worker.to_close.add(oldest)
        self._close_documents(worker)

    def shutdown(self) -> None:
        """Kills every worker (at interpreter exit)."""
        with self._locked():
            workers, self._idle = list(self._every), []
            self._every.clear()
        for worker in workers:
            worker.kill()

    def abandon(self) -> None:
        """In a forked child: lets go of the parent's workers, without stopping them, and of their pipes.

        Takes no lock: one held by another thread of the parent at the fork stays held here forever.
        """
        self._lock = threading.RLock()
        workers, self._every, self._idle = list(self._every), set(), []
        for worker in workers:
            worker.abandon()

    def _hand_back(self, worker: WorkerProcess) -> None:
        try:
            self._close_documents(worker)
        except WorkerFailure:
            self.discard(worker)
            return
        with self._locked():
            self._idle.append(worker)
            surplus = self._idle[: max(0, len(self._idle) - self.max_idle)]
            del self._idle[: len(surplus)]
        for extra in surplus:
            self.discard(extra)

    def _start(self) -> WorkerProcess:
        try:
            worker = WorkerProcess(self.limit, code=_BOOTSTRAP)
        except OSError as exc:  # no interpreter to start (an embedded or frozen Python), no pipes left
            raise ConfigurationError(
                f"The PDF sandbox worker could not be started ({exc}); set Settings(render_memory_limit=0) "
                "(INVOICEAI_RENDER_MEMORY_LIMIT=0) to open PDFs in this process."
            ) from None
        with self._locked():
            self._every.add(worker)
        try:
            worker.wait_ready(START_TIMEOUT)
        except BaseException:
            self._drop(worker)
            raise
        return worker

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Counts this thread's holds, so forget(at_once=True) can tell it runs inside the pool.
        with self._lock:
            self._holders.depth = getattr(self._holders, "depth", 0) + 1
            try:
                yield
            finally:
                self._holders.depth -= 1

    def _take_forgotten(self) -> None:
        # Called with the lock held.
        while self._forgotten:
            key = self._forgotten.popleft()
            for worker in self._every:
                if worker.open_documents.pop(key, None) is not None:
                    worker.to_close.add(key)

    def _close_documents(self, worker: WorkerProcess) -> None:
        with self._locked():
            self._take_forgotten()
            keys, worker.to_close = sorted(worker.to_close), set()
        for key in keys:
            worker.send({"op": "close", "key": key}, timeout=CLOSE_TIMEOUT)
            header, _ = worker.receive(CLOSE_TIMEOUT, 64 * 1024)
            if header.get("closed") != key:
                raise WorkerFailure("garbled", "a close that was not confirmed")

    def _drop(self, worker: WorkerProcess) -> None:
        with self._locked():
            self._every.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)


def pool_for(limit: int) -> SandboxPool:
    """Returns this process's pool of workers limited to ``limit`` bytes (created on first use).

    A forked child never uses its parent's workers: their pipes are shared with the parent, and
    each would read the other's replies. The fork hook drops them in the child; the owner check
    catches a fork that ran no hooks.
    """
    if _OWNER[0] != os.getpid():
        _after_fork_in_child()
    with _POOLS_LOCK:
        pool = _POOLS.get(limit)
        if pool is None:
            pool = _POOLS[limit] = SandboxPool(limit)
        return pool


def forget_document(limit: int, key: int) -> None:
    """Has this process's workers of ``limit`` close document ``key``; a finaliser (takes no lock, starts nothing)."""
    pool = _POOLS.get(limit)
    if pool is not None and pool.owner == os.getpid():
        pool.forget(key)


def _after_fork_in_child() -> None:
    # The parent's pools (and a lock another of its threads may have held) stay behind.
    global _POOLS, _POOLS_LOCK
    inherited, _POOLS, _POOLS_LOCK = list(_POOLS.values()), {}, threading.Lock()
    _OWNER[0] = os.getpid()
    for pool in inherited:
        with contextlib.suppress(Exception):
            pool.abandon()


def _shutdown_all() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
    for pool in pools:
        pool.shutdown()


_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from invoiceai.render.pdf.sandbox_worker import main; sys.exit(main(sys.argv[2:]))"
)


atexit.register(_shutdown_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
