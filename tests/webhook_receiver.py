"""A webhook receiver on 127.0.0.1 for the service tests: records every call, fails the first ones on demand."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Receiver"]


class Receiver:
    """A receiver on 127.0.0.1: answers 500 to the first ``failures`` calls of each delivery, then 204."""

    def __init__(self, failures: int = 0, *, hold: threading.Event | None = None) -> None:
        self.failures = failures
        self.hold = hold
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.delivered = threading.Event()
        self.successes = 0
        self.changed = threading.Condition(self.lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.lock:
                    receiver.calls.append((headers, body))
                    seen = sum(1 for h, _ in receiver.calls if h["invoiceai-delivery"] == headers["invoiceai-delivery"])
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                failing = seen <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("content-length", "0")
                self.end_headers()
                if not failing:
                    with receiver.lock:
                        receiver.successes += 1
                        receiver.changed.notify_all()
                    receiver.delivered.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?token=t0ps3cret"

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            if self.hold is not None:
                self.hold.set()
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, successes: int, timeout: float = 60) -> bool:
        """Waits until ``successes`` calls were answered 2xx."""
        with self.lock:
            return self.changed.wait_for(lambda: self.successes >= successes, timeout)

    def attempts(self) -> list[tuple[str, str]]:
        """(delivery id, attempt number) of every call, in order."""
        return [(headers["invoiceai-delivery"], headers["invoiceai-attempt"]) for headers, _ in self.calls]
