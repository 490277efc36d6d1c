"""The service's outermost layer: no exception gets past it, and no traceback reaches the log.

Starlette answers an unexpected exception with the app's 500 handler and then raises it again so
that the server logs it, and uvicorn then writes "Exception in ASGI application" with the raw
traceback, whose messages may quote a URL with a signed query, a callback token or a password.
:class:`ErrorGuard` wraps the whole application, outside Starlette's own error middleware, so
every exception that would reach the server reaches it instead: it answers the 500 problem+json
when no response was started yet, and logs one masked line (the exception's type, where it was
raised, and the first line of its message with secrets masked) in place of the traceback.

It also closes the connection after an answer sent before the request body was read to its end
(a 413, or a 401 or 415 on an upload): the client would otherwise go on sending a body nobody
wants, and the server go on reading it.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from invoiceai.secrets import get_logger, mask_text

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorGuard", "describe", "install"]

_log = get_logger("invoiceai.server")

_MAX_SHOWN = 300
_CLOSE = (b"connection", b"close")
_DRAIN_BYTES = 1 << 20
"""An early answer reads away an unread body up to this size instead of closing the connection."""
_DRAIN_SECONDS = 10.0


def install(app: Starlette) -> None:
    """Wraps ``app``'s whole middleware stack (Starlette's error middleware included) in :class:`ErrorGuard`."""
    build = app.build_middleware_stack

    def guarded() -> ASGIApp:
        return ErrorGuard(build())

    app.build_middleware_stack = guarded  # type: ignore[method-assign]


def _shown(text: str) -> str:
    # One line, no control characters (a path or message could otherwise forge log lines).
    line = ascii(text)[1:-1]
    return line if len(line) <= _MAX_SHOWN else line[: _MAX_SHOWN - 3] + "..."


def _where(tb: TracebackType | None) -> str:
    frames = traceback.extract_tb(tb)
    if not frames:
        return "an unknown place"
    places = [f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}" for frame in frames]
    ours = [place for frame, place in zip(frames, places, strict=True) if "invoiceai" in frame.filename]
    if ours and ours[-1] != places[-1]:
        return f"{ours[-1]} (innermost: {places[-1]})"
    return places[-1]


def describe(exc: BaseException) -> str:
    """One masked line about ``exc``: its type, where it was raised, and its message's first line."""
    lines = str(exc).strip().splitlines()
    message = mask_text(lines[0]) if lines else ""
    return f"{type(exc).__name__} at {_where(exc.__traceback__)}: {_shown(message)}"


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, ``None`` when absent, chunked or unreadable."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drained(receive: Receive, scope: Scope) -> bool:
    """Reads away a small unread body so an early answer can keep the connection; ``False``: close it.

    Closing a socket with the client's body still arriving makes the kernel reset the connection,
    and a client that is still sending then loses the answer too. Bodies too large to read away
    (the 413 case) are cut off by closing instead.
    """
    import asyncio

    length = _declared_length(scope)
    if length is None or length > _DRAIN_BYTES:
        return False

    async def read_away() -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(read_away(), _DRAIN_SECONDS)
    except asyncio.TimeoutError:
        return False
    return True


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


class ErrorGuard:
    """Pure ASGI middleware: a 500 problem for any exception, one masked log line, early answers close.

    Args:
        app: The application to guard.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the request; nothing it raises goes further."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = not _has_body(scope)
        started = False

        async def receiving() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                if not body_read and _CLOSE not in headers and not await _drained(receive, scope):
                    message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except Exception as exc:
            _log.error("%s %s failed: %s", scope.get("method", "?"), _shown(scope.get("path", "")), describe(exc))
            if not started:
                await _internal_error(scope, receive, sending)


async def _internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    from invoiceai.server.problems import problem

    response = problem(500, "internal-error", "The service failed unexpectedly; the error is in the server log.")
    await response(scope, receive, send)
