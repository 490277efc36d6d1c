"""The PDF sandbox's worker processes: started once, leased per call, replaced when they die.

A worker is a fresh Python interpreter (``python -c``, the ``spawn`` way: nothing is forked from
this process, whose other threads may hold locks) running
:mod:`invoiceai.render.pdf.sandbox_worker` under an address-space limit
(``RLIMIT_AS`` = ``render_memory_limit``). It talks to this process over two pipes, one message
at a time (:mod:`invoiceai.render.pdf.wire`), and keeps a few documents open between calls so a
page source's next call does not reopen its PDF.

:class:`SandboxPool` hands out workers: one caller at a time per worker, preferring an idle
worker that has the caller's document open, starting a new one when none is idle (there is no
upper bound, so callers never wait on one another; idle workers above a small number are
stopped). A worker that stops answering in time or dies is killed and dropped; the next call
starts a fresh one. Pools are process-wide, one per memory limit (:func:`pool_for`).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from invoiceai.errors import ConfigurationError, DocumentTooLargeError
from invoiceai.render.noise import LOGGER_NAME
from invoiceai.render.pdf.wire import WireError, pack, unpack
from invoiceai.secrets import get_logger

__all__ = [
    "SandboxPool",
    "WorkerFailure",
    "WorkerProcess",
    "limit_memory",
    "out_of_memory",
    "pool_for",
    "supported",
]

MAX_OPEN_DOCUMENTS = 3
"""Documents a worker keeps open for later calls (the oldest is closed first)."""
MAX_OPEN_BYTES = 96 * 1024 * 1024
"""Bytes of PDFs a worker keeps open, in all (the document in use is always kept)."""
MAX_LOG_LINES = 200
"""Log lines a worker passes back with one reply (pypdf can say a lot about a damaged file)."""
MAX_LOG_CHARS = 1000
"""Characters kept of each."""
START_TIMEOUT = 60.0
"""Seconds a new worker may take to start (import pypdfium2 and Pillow) before it is given up on."""

_MAX_IDLE = max(2, os.cpu_count() or 1)
_POOLS: dict[int, SandboxPool] = {}
_POOLS_LOCK = threading.Lock()


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
    limit: int, *, document_id: str | None, detail: str, in_force: int | None = None
) -> DocumentTooLargeError:
    """Returns the error for a document whose worker ran out of memory or died.

    Args:
        limit: The ``render_memory_limit`` setting.
        document_id: For error context.
        detail: How the worker ended ("died of signal 6", "ran out of memory").
        in_force: The limit the worker actually had, when lower (inherited from this process).
    """
    inherited = f" (a limit of {in_force:,} bytes inherited from this process)" if in_force and in_force < limit else ""
    return DocumentTooLargeError(
        f"The process opening this PDF {detail} under the render_memory_limit of {limit:,} bytes{inherited}: the "
        "PDF needs more memory than allowed (a decompression bomb, or a page of millions of objects), or it "
        "crashes pdfium. Raise Settings(render_memory_limit=...) (INVOICEAI_RENDER_MEMORY_LIMIT) if the "
        "file is trusted.",
        setting="render_memory_limit",
        limit=in_force if in_force and in_force < limit else limit,
        document_id=document_id,
    )


class WorkerFailure(Exception):
    """A worker that cannot go on: it died, timed out or sent what it must not (never shown to users).

    Attributes:
        kind: ``"died"``, ``"timeout"``, ``"too_large"`` or ``"garbled"``.
        returncode: The worker's exit status once it died (negative: a signal).
    """

    def __init__(self, kind: str, detail: str = "", returncode: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.returncode = returncode


class WorkerProcess:
    """One sandbox worker process and its two pipes.

    Args:
        limit: ``RLIMIT_AS`` for the worker, in bytes.

    Attributes:
        pid: The worker's process id.
        limit_in_force: The address-space limit the worker set (lower than ``limit`` when this
            process has a lower hard limit; 0 when the platform has none).
        open_documents: Keys of the documents the worker has open, oldest first, with their sizes.
        to_close: Keys whose documents the worker should close at its next lease.
    """

    def __init__(self, limit: int) -> None:
        from multiprocessing.connection import Connection

        self.limit = limit
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, _source_root(), str(request_read), str(reply_write), str(limit)],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # The library writes nothing to stderr; neither may a worker (pdfium, a last traceback).
                stderr=subprocess.DEVNULL,
                env={"MALLOC_ARENA_MAX": "2", **os.environ},
            )
        except BaseException:
            os.close(request_write)
            os.close(reply_read)
            raise
        finally:
            # The worker holds its own copies now.
            os.close(request_read)
            os.close(reply_write)
        self._requests = Connection(request_write, readable=False)
        self._replies = Connection(reply_read, writable=False)
        self.pid = self._process.pid
        self.open_documents: collections.OrderedDict[int, int] = collections.OrderedDict()
        self.to_close: set[int] = set()
        self.limit_in_force = 0

    def wait_ready(self, timeout: float) -> None:
        """Waits for the worker's first message, sent once it has set its limit and imported pdfium.

        Raises:
            ConfigurationError: The worker did not start.
        """
        try:
            header, _ = self.receive(timeout, 64 * 1024)
        except WorkerFailure as exc:
            self.kill()
            raise ConfigurationError(
                f"The PDF sandbox worker could not start ({exc}; exit status {self._process.poll()}): "
                f"render_memory_limit={self.limit:,} may be too small for Python and pdfium, or this platform "
                "cannot run it. Raise Settings(render_memory_limit=...), or set it to 0 to open PDFs in this process."
            ) from None
        if "ready" not in header:
            self.kill()
            raise ConfigurationError("The PDF sandbox worker sent something else than its greeting.")
        limit = header.get("limit")
        self.limit_in_force = limit if isinstance(limit, int) else 0

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Sends one request.

        Raises:
            WorkerFailure: The worker is gone.
        """
        try:
            self._requests.send_bytes(pack(header, payload))
        except OSError as exc:
            raise WorkerFailure("died", str(exc), self._process.poll()) from None

    def receive(self, timeout: float | None, cap: int) -> tuple[dict[str, Any], bytes]:
        """Returns the next reply, waiting at most ``timeout`` seconds (``None``: no bound).

        Args:
            timeout: Seconds to wait.
            cap: Largest reply accepted, in bytes; a longer one is never read.

        Raises:
            WorkerFailure: Nothing came in time, the worker died, or the reply is too long or garbled.
        """
        try:
            if not self._replies.poll(timeout):
                raise WorkerFailure("timeout", f"no reply within {timeout:.1f} s")
            message = self._replies.recv_bytes(cap)
        except EOFError:
            raise WorkerFailure("died", "the pipe closed", self._wait_dead()) from None
        except OSError as exc:
            raise WorkerFailure("too_large", f"a reply above {cap:,} bytes ({exc})") from None
        try:
            header, payload = unpack(message)
        except WireError as exc:
            raise WorkerFailure("garbled", str(exc)) from None
        _relog(header.pop("log", None))
        return header, payload

    def alive(self) -> bool:
        """Tells whether the worker process is still running."""
        return self._process.poll() is None

    def kill(self) -> None:
        """Kills the worker (SIGKILL: it may be stuck inside pdfium) and reaps it."""
        with contextlib.suppress(OSError):
            self._process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        for connection in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                connection.close()

    def _wait_dead(self) -> int | None:
        # The pipe closes as the process ends; its status follows a moment later.
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None


class SandboxPool:
    """The workers of one memory limit, leased to one caller at a time.

    Args:
        limit: ``RLIMIT_AS`` for each worker, in bytes.
        max_idle: Idle workers kept running for later calls.
    """

    def __init__(self, limit: int, *, max_idle: int = _MAX_IDLE) -> None:
        self.limit = limit
        self.max_idle = max_idle
        # Re-entrant: a render abandoned mid-document is closed by the garbage collector, which
        # may run while this thread holds the lock, and hands its worker back.
        self._lock = threading.RLock()
        self._idle: list[WorkerProcess] = []
        self._every: set[WorkerProcess] = set()
        # Keys of closed documents, appended without a lock: a finaliser may run while it is held.
        self._forgotten: collections.deque[int] = collections.deque()

    @property
    def idle_pids(self) -> list[int]:
        """Process ids of the idle workers (for tests and diagnostics)."""
        with self._lock:
            return [worker.pid for worker in self._idle]

    def lease(self, key: int) -> WorkerProcess:
        """Takes an idle worker (one with document ``key`` open if any) or starts one.

        Raises:
            ConfigurationError: A new worker did not start.
        """
        with self._lock:
            self._take_forgotten()
            chosen = next((worker for worker in self._idle if key in worker.open_documents), None)
            if chosen is None and self._idle:
                chosen = min(self._idle, key=lambda worker: len(worker.open_documents))
            if chosen is not None:
                self._idle.remove(chosen)
        if chosen is None:
            try:
                chosen = WorkerProcess(self.limit)
            except OSError as exc:  # no interpreter to start (an embedded or frozen Python), no pipes left
                raise ConfigurationError(
                    f"The PDF sandbox worker could not be started ({exc}); set Settings(render_memory_limit=0) "
                    "(INVOICEAI_RENDER_MEMORY_LIMIT=0) to open PDFs in this process."
                ) from None
            with self._lock:
                self._every.add(chosen)
            try:
                chosen.wait_ready(START_TIMEOUT)
            except BaseException:
                self._drop(chosen)
                raise
        return chosen

    def release(self, worker: WorkerProcess) -> None:
        """Returns a worker that answered its last request; it closes what it was asked to close."""
        try:
            self._close_documents(worker)
        except WorkerFailure:
            self.discard(worker)
            return
        with self._lock:
            self._idle.append(worker)
            surplus = self._idle[: max(0, len(self._idle) - self.max_idle)]
            del self._idle[: len(surplus)]
        for extra in surplus:
            self.discard(extra)

    def discard(self, worker: WorkerProcess) -> None:
        """Kills a worker whose state is unknown (it timed out, died, or a call was interrupted)."""
        worker.kill()
        self._drop(worker)

    def forget(self, key: int) -> None:
        """Asks every worker holding document ``key`` to close it at its next lease; safe in finalisers."""
        self._forgotten.append(key)

    def make_room(self, worker: WorkerProcess, size: int) -> None:
        """Closes the worker's oldest documents until one of ``size`` bytes fits its budget.

        Raises:
            WorkerFailure: The worker is gone.
        """
        with self._lock:
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
        with self._lock:
            workers, self._idle = list(self._every), []
            self._every.clear()
        for worker in workers:
            worker.kill()

    def _take_forgotten(self) -> None:
        # Called with the lock held.
        while self._forgotten:
            key = self._forgotten.popleft()
            for worker in self._every:
                if worker.open_documents.pop(key, None) is not None:
                    worker.to_close.add(key)

    def _close_documents(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._take_forgotten()
            keys, worker.to_close = sorted(worker.to_close), set()
        for key in keys:
            worker.send({"op": "close", "key": key})

    def _drop(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._every.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)


def pool_for(limit: int) -> SandboxPool:
    """Returns this process's pool of workers limited to ``limit`` bytes (created on first use)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(limit)
        if pool is None:
            if not _POOLS:
                atexit.register(_shutdown_all)
            pool = _POOLS[limit] = SandboxPool(limit)
        return pool


def _shutdown_all() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
    for pool in pools:
        pool.shutdown()


def _relog(lines: Any) -> None:
    # What pypdf and Pillow said in the worker (already routed to invoiceai.render at DEBUG there).
    if not isinstance(lines, list) or not lines:
        return
    log = get_logger(LOGGER_NAME)
    for line in lines[:MAX_LOG_LINES]:
        log.debug("%s", str(line)[:MAX_LOG_CHARS])


def _source_root() -> str:
    # The worker must run this very invoiceai (a source checkout, an editable or a normal install):
    # the directory holding the invoiceai package, three levels up from render/pdf/.
    return str(Path(__file__).resolve().parents[3])


_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from invoiceai.render.pdf.sandbox_worker import main; sys.exit(main(sys.argv[2:]))"
)
