"""Helpers for the service tests: the real app under uvicorn on 127.0.0.1, and a client for it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from invoiceai.server.app import create_app
from invoiceai.server.context import ServiceContext
from invoiceai.server.keys import create_key
from invoiceai.server.settings import ServiceSettings


class LiveServer:
    """The app served by uvicorn in a thread, on a socket bound before the thread starts (no waiting)."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, log_level="critical", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()


def settings_for(tmp_path: Path, **changes: Any) -> ServiceSettings:
    """Service settings with the job store in ``tmp_path`` and no result cache."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
        "workers": 2,
        "cache": "none",
        "lease_seconds": 30.0,
    }
    values.update(changes)
    return ServiceSettings(**values)


@contextmanager
def store_only(tmp_path: Path, database_url: str, **changes: Any) -> Iterator[ServiceContext]:
    """A service context on ``database_url`` with no workers: the job store and its upkeep, nothing running."""
    context = ServiceContext(settings_for(tmp_path, database_url=database_url, workers=0, **changes))
    try:
        yield context
    finally:
        context.close()


@contextmanager
def serving(settings: ServiceSettings, **options: Any) -> Iterator[tuple[LiveServer, ServiceContext]]:
    """Runs the app for ``settings`` (``options`` go to the context: extractor=, limiter=, ...)."""
    context = ServiceContext(settings, **options)
    try:
        with LiveServer(create_app(context=context)) as server:
            yield server, context
    finally:
        context.close()


def client(server: LiveServer, key: str | None = None) -> httpx2.Client:
    """A client for ``server``, sending ``key`` as a Bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx2.Client(base_url=server.base_url, headers=headers, timeout=30)


def new_key(context: ServiceContext, name: str = "test", **options: Any) -> tuple[str, str]:
    """A new key's id and secret."""
    key, secret = create_key(context.engine, name, **options)
    return key.id, secret
