"""``ServiceContext``: what one service process shares between its routes and its workers."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.server.seams import Limiter, Metrics, Seams

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from invoiceai.extractor import Extractor
    from invoiceai.server.settings import ServiceSettings

__all__ = ["ServiceContext", "default_schemas"]


def default_schemas() -> dict[str, type[Any]]:
    """The schemas a request may name: ``invoice`` (:class:`~invoiceai.Invoice`)."""
    from invoiceai.schema.invoice import Invoice

    return {"invoice": Invoice}


class ServiceContext:
    """The job store, the extractor, the schemas and the seams of one process.

    Args:
        settings: The service's settings.
        extractor: The extractor every job runs on (default: one built from the environment on
            first use, with the result cache of ``settings.cache``). One extractor serves every
            worker thread; it is closed with the context only when it was built here.
        schemas: Names a request may ask for, mapped to their Pydantic models (default: ``invoice``).
        limiter: A rate limiter instead of the default (see :class:`~invoiceai.server.seams.Seams`).
        metrics: Metrics instead of the default.
        migrate: Apply the store's migrations when opening it.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        extractor: Extractor | Callable[[], Extractor] | None = None,
        schemas: Mapping[str, type[Any]] | None = None,
        limiter: Limiter | None = None,
        metrics: Metrics | None = None,
        migrate: bool = True,
    ) -> None:
        from invoiceai.config import Settings
        from invoiceai.server.db import migrate as apply_migrations
        from invoiceai.server.db import open_engine

        self.settings = settings
        self.library_settings = Settings.load()
        self.engine: Engine = open_engine(settings.database_url)
        if migrate:
            apply_migrations(self.engine)
        self.schemas = dict(schemas) if schemas is not None else default_schemas()
        self.seams = Seams(settings, library_settings=self.library_settings, limiter=limiter, metrics=metrics)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._factory = extractor if callable(extractor) and not hasattr(extractor, "extract") else None
        self._extractor: Extractor | None = None if self._factory is not None else extractor  # type: ignore[assignment]
        self._owns_extractor = extractor is None or self._factory is not None
        self._lock = threading.Lock()

    def extractor(self) -> Extractor:
        """The shared extractor, built on first use.

        Raises:
            ConfigurationError: The backend cannot be set up (no API key, an unknown model).
        """
        with self._lock:
            if self._extractor is None:
                self._extractor = self._factory() if self._factory is not None else self._build()
            return self._extractor

    def backend_problem(self) -> str | None:
        """Why jobs cannot run yet (no API key for the Claude backend built here), or ``None``.

        An extractor given to the context is trusted to be configured.
        """
        extractor = self.extractor()
        built_here = self._owns_extractor and self._factory is None
        has_key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if built_here and getattr(extractor.backend, "name", "") == "claude" and not has_key:
            return "No Claude API key: set ANTHROPIC_API_KEY in the service's environment."
        return None

    def _build(self) -> Extractor:
        from invoiceai.extractor import Extractor

        cache = None if self.settings.cache.lower() in {"none", "off", ""} else self.settings.cache
        return Extractor(cache=cache)

    def close(self) -> None:
        """Closes the extractor (when built here) and the database connections."""
        with self._lock:
            extractor, self._extractor = self._extractor, None
        if extractor is not None and self._owns_extractor:
            extractor.close()
        self.engine.dispose()
