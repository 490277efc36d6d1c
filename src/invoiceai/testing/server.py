"""``FakeClaudeServer``: a :class:`~invoiceai.testing.fake_api.FakeClaudeAPI` on a loopback port.

A real HTTP server (``http.server``, one thread per connection) bound to 127.0.0.1, so code that
builds its own anthropic client can be pointed at it with ``base_url=`` or
``ANTHROPIC_BASE_URL``. Faults become real network events: a reset is a TCP RST, a read timeout
is a server that does not answer, latency is a server that answers late.
"""

from __future__ import annotations

import http.server
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.testing.fake_api import FakeClaudeAPI

__all__ = ["FakeClaudeServer"]


class FakeClaudeServer:
    """Serves a fake Claude API on ``http://127.0.0.1:<port>`` until closed.

    Args:
        api: The fake that decides every answer.
        host: Interface to bind (loopback only, unless you mean otherwise).
        port: Port to bind; 0 picks a free one.

    Attributes:
        base_url: ``http://host:port``, for ``base_url=`` / ``ANTHROPIC_BASE_URL``.
    """

    def __init__(self, api: FakeClaudeAPI, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self._stop = threading.Event()
        self._httpd = _Server((host, port), _handler_class(api, self._stop))
        bound_host, bound_port = self._httpd.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-claude-api", daemon=True)

    def __repr__(self) -> str:
        return f"FakeClaudeServer({self.base_url!r})"

    def start(self) -> FakeClaudeServer:
        """Starts serving in a background thread; returns the server."""
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self) -> None:
        """Stops serving, wakes stalled handlers and frees the port."""
        self._stop.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeClaudeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and hang-ups are the point of some faults: no tracebacks on stderr.
        return


def _handler_class(api: FakeClaudeAPI, stop: threading.Event) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
        # for the client's delayed ACK (40 ms on Linux), which real API servers do not add.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            plan = api.plan(self.command, self.path.split("?", 1)[0], self.headers.items(), body)
            try:
                if plan.delay and stop.wait(plan.delay):
                    self.close_connection = True
                    return
                if plan.action == "reset":
                    self._reset()
                    return
                if plan.action == "timeout":
                    # Say nothing until the client gives up, then hang up.
                    stop.wait(plan.stall)
                    self.close_connection = True
                    return
                self.send_response(plan.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(plan.body)))
                for name, value in plan.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(plan.body)
            finally:
                api.finish(plan)

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler
