"""This process's end of a sandbox worker's two pipes: whole messages, each within a deadline and a cap.

A message is framed as :meth:`multiprocessing.connection.Connection.send_bytes` frames it (a
4-byte signed big-endian length, or -1 followed by an 8-byte length above 2 GiB, then the bytes),
so the worker keeps using a plain ``Connection``. This side does not: ``Connection.recv_bytes``
waits without a bound once the first bytes of a reply have arrived, and reports a worker that
died in the middle of a reply as a reply above the cap. Here every read and write waits under
``poll`` against one deadline for the whole message; a length above the cap is refused before any
of the body is read (the body is then never allocated); the end of the pipe in the middle of a
message means the worker died.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import struct
import time

__all__ = ["CHUNK", "Channel", "WorkerFailure"]

CHUNK = 1024 * 1024
"""Bytes read or written at a time (a body grows only as fast as the worker really sends it)."""

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")


class WorkerFailure(Exception):
    """A worker that cannot go on: it died, timed out or sent what it must not (never shown to users).

    Attributes:
        kind: ``"died"``, ``"timeout"``, ``"too_large"`` or ``"garbled"``.
        detail: What happened.
        returncode: The worker's exit status once it died (negative: a signal).
    """

    def __init__(self, kind: str, detail: str = "", returncode: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.returncode = returncode


class Channel:
    """Framed messages over a request pipe (written here) and a reply pipe (read here).

    Args:
        request_fd: The write end of the pipe the worker reads (made non-blocking here: its own
            read end is a separate open file and stays blocking).
        reply_fd: The read end of the pipe the worker writes.
    """

    def __init__(self, request_fd: int, reply_fd: int) -> None:
        os.set_blocking(request_fd, False)
        self._request_fd = request_fd
        self._reply_fd = reply_fd

    @property
    def fds(self) -> tuple[int, int]:
        """The two descriptors (``-1`` once closed)."""
        return self._request_fd, self._reply_fd

    def send(self, message: bytes, timeout: float | None) -> None:
        """Writes one message within ``timeout`` seconds (``None``: no bound).

        Raises:
            WorkerFailure: ``"died"`` (the worker closed its end), ``"timeout"`` (it stopped reading).
        """
        until = _until(timeout)
        length = _SHORT.pack(len(message)) if len(message) < 2**31 - 1 else _SHORT.pack(-1) + _LONG.pack(len(message))
        for part in (length, message):
            view = memoryview(part)
            while view:
                self._wait(self._request_fd, select.POLLOUT, until)
                try:
                    written = os.write(self._request_fd, view[:CHUNK])
                except BlockingIOError:
                    continue
                except OSError as exc:  # EPIPE: nobody reads the other end any more
                    raise WorkerFailure("died", f"the request pipe closed ({exc.strerror})") from None
                view = view[written:]

    def receive(self, timeout: float | None, cap: int) -> bytes:
        """Reads one whole message within ``timeout`` seconds (``None``: no bound).

        Args:
            timeout: Seconds for the whole message, from its first byte to its last.
            cap: Largest message accepted, in bytes; a longer one is refused unread.

        Raises:
            WorkerFailure: ``"timeout"``, ``"died"`` (the pipe closed, before or in the middle of
                the message), ``"too_large"`` (a length above ``cap``) or ``"garbled"``.
        """
        until = _until(timeout)
        (size,) = _SHORT.unpack(self._read(_SHORT.size, until, started=False))
        if size == -1:
            (size,) = _LONG.unpack(self._read(_LONG.size, until, started=True))
        if size < 0:
            raise WorkerFailure("garbled", f"a message length of {size}")
        if size > cap:
            raise WorkerFailure("too_large", f"a reply of {size:,} bytes, above its cap of {cap:,}")
        return self._read(size, until, started=True)

    def close(self) -> None:
        """Closes both descriptors; idempotent (a descriptor number is never closed twice)."""
        fds, (self._request_fd, self._reply_fd) = (self._request_fd, self._reply_fd), (-1, -1)
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _read(self, size: int, until: float | None, *, started: bool) -> bytes:
        parts: list[bytes] = []
        missing = size
        while missing:
            self._wait(self._reply_fd, select.POLLIN, until)
            try:
                chunk = os.read(self._reply_fd, min(missing, CHUNK))
            except BlockingIOError:
                continue
            except OSError as exc:
                raise WorkerFailure("died", f"the reply pipe failed ({exc.strerror})") from None
            if not chunk:
                where = "in the middle of a reply" if started or parts else "before a reply"
                raise WorkerFailure("died", f"the pipe closed {where}")
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    @staticmethod
    def _wait(fd: int, event: int, until: float | None) -> None:
        if fd < 0:
            raise WorkerFailure("died", "the pipes are closed")
        poller = select.poll()
        poller.register(fd, event)
        # A pipe whose other end closed reports POLLHUP or POLLERR: the read or write then says so.
        wait = None if until is None else max(0, math.ceil((until - time.monotonic()) * 1000))
        if not poller.poll(wait):
            raise WorkerFailure("timeout", "the worker did not answer in time")


def _until(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
