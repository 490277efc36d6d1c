"""One PDF sandbox worker process, from this process's side: started, spoken to, killed.

A worker is a fresh Python interpreter (``python -c``, the ``spawn`` way: nothing is forked from
this process, whose other threads may hold locks) started with an environment of its own (see
:func:`worker_environment`) and two pipes (:mod:`invoiceai.render.pdf.sandbox_channel`).
:mod:`invoiceai.render.pdf.sandbox_pool` decides when to start, reuse and stop them.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from invoiceai.errors import ConfigurationError
from invoiceai.render.noise import LOGGER_NAME
from invoiceai.render.pdf.sandbox_channel import Channel, WorkerFailure
from invoiceai.render.pdf.wire import WireError, pack, unpack
from invoiceai.secrets import get_logger

__all__ = ["MAX_LOG_CHARS", "MAX_LOG_LINES", "WorkerProcess", "worker_environment"]

MAX_LOG_LINES = 200
"""Log lines a worker passes back with one reply (pypdf can say a lot about a damaged file)."""
MAX_LOG_CHARS = 1000
"""Characters kept of each."""
# What a worker inherits of the environment: enough to start Python and find its libraries, and
# nothing else (API keys, cache URLs with passwords). The sandbox bounds resources; it is not a
# security boundary, but a secret it never receives cannot leak from it.
_ENVIRONMENT = frozenset(
    {
        "PATH", "LANG", "LANGUAGE", "PYTHONHOME", "PYTHONPATH", "PYTHONUSERBASE", "TMPDIR", "TMP", "TEMP",
        "MALLOC_ARENA_MAX", "SYSTEMROOT", "LD_LIBRARY_PATH",
    }
)  # fmt: skip


class WorkerProcess:
    """One sandbox worker process and its two pipes.

    Args:
        limit: ``RLIMIT_AS`` for the worker, in bytes.
        code: What the new interpreter runs (``python -c``), given the directory holding this
            invoiceai, the request pipe's descriptor, the reply pipe's and ``limit``.

    Attributes:
        pid: The worker's process id.
        limit_in_force: The address-space limit the worker set (lower than ``limit`` when this
            process has a lower hard limit; 0 when the platform has none).
        open_documents: Keys of the documents the worker has open, oldest first, with their sizes.
        to_close: Keys whose documents the worker should close at its next lease.
        served: Leases the worker has answered and come back from (0: a fresh worker).
    """

    def __init__(self, limit: int, *, code: str) -> None:
        self.limit = limit
        fds: list[int] = []
        try:
            # Both pipes inside the try: a process at its descriptor limit fails on the second.
            request_read, request_write = os.pipe()
            fds += (request_read, request_write)
            reply_read, reply_write = os.pipe()
            fds += (reply_read, reply_write)
            self._process = subprocess.Popen(
                [sys.executable, "-c", code, _source_root(), str(request_read), str(reply_write), str(limit)],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # The library writes nothing to stderr; neither may a worker (pdfium, a last traceback).
                stderr=subprocess.DEVNULL,
                env=worker_environment(),
            )
        except BaseException:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        # The worker holds its own copies now.
        os.close(request_read)
        os.close(reply_write)
        self._channel = Channel(request_write, reply_read)
        self._abandoned = False
        self.pid = self._process.pid
        self.open_documents: collections.OrderedDict[int, int] = collections.OrderedDict()
        self.to_close: set[int] = set()
        self.limit_in_force = 0
        self.served = 0

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
        if "unlimited" in header:
            self.kill()
            raise ConfigurationError(
                f"The PDF sandbox worker could not cap its address space at render_memory_limit={self.limit:,} "
                "(setrlimit(RLIMIT_AS) failed), and it does not open PDFs without that cap. Set "
                "Settings(render_memory_limit=0) (INVOICEAI_RENDER_MEMORY_LIMIT=0) to open PDFs in this process, "
                "where the pre-scan inflates every stream instead."
            )
        if "ready" not in header:
            self.kill()
            raise ConfigurationError("The PDF sandbox worker sent something else than its greeting.")
        limit = header.get("limit")
        self.limit_in_force = limit if isinstance(limit, int) else 0

    def send(self, header: dict[str, Any], payload: bytes = b"", *, timeout: float | None = None) -> None:
        """Sends one request within ``timeout`` seconds (``None``: no bound).

        Raises:
            WorkerFailure: The worker is gone, or stopped reading.
        """
        try:
            self._channel.send(pack(header, payload), timeout)
        except WorkerFailure as exc:
            raise self._reaped(exc) from None

    def receive(self, timeout: float | None, cap: int) -> tuple[dict[str, Any], bytes]:
        """Returns the next reply, whole within ``timeout`` seconds (``None``: no bound).

        Args:
            timeout: Seconds to wait, for the whole reply.
            cap: Largest reply accepted, in bytes; a longer one is never read.

        Raises:
            WorkerFailure: Nothing came in time, the worker died, or the reply is too long or garbled.
        """
        try:
            message = self._channel.receive(timeout, cap)
        except WorkerFailure as exc:
            raise self._reaped(exc) from None
        try:
            header, payload = unpack(message)
        except WireError as exc:
            raise WorkerFailure("garbled", str(exc)) from None
        _relog(header.pop("log", None))
        return header, payload

    def alive(self) -> bool:
        """Tells whether the worker process is still running."""
        return not self._abandoned and self._process.poll() is None

    def kill(self) -> None:
        """Kills the worker (SIGKILL: it may be stuck inside pdfium) and reaps it."""
        if not self._abandoned:
            with contextlib.suppress(OSError):
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        self._channel.close()

    def abandon(self) -> None:
        """In a forked child: closes the inherited pipe ends and leaves the worker to its parent."""
        self._abandoned = True
        self._channel.close()
        # Not this process's child: never wait for it (its pid may later be one of ours).
        self._process.returncode = -1

    def _reaped(self, failure: WorkerFailure) -> WorkerFailure:
        if failure.kind != "died":
            return failure
        # The pipe closes as the process ends; its status follows a moment later.
        try:
            code = None if self._abandoned else self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return WorkerFailure("died", failure.detail, code)


def worker_environment() -> dict[str, str]:
    """Returns the environment a worker starts with: what Python needs to run, none of this process's secrets."""
    kept = {name: value for name, value in os.environ.items() if name in _ENVIRONMENT or name.startswith("LC_")}
    kept.setdefault("MALLOC_ARENA_MAX", "2")
    return kept


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
