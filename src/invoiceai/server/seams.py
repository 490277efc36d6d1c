"""Where the service meets the parts written beside it: rate limits, metrics and webhooks.

``limits.py`` (:class:`KeyLimiter`), ``metrics.py`` (:class:`ServiceMetrics`) and ``webhooks.py``
(``sign`` / ``deliver``) are their own modules; this one is the single place that imports each
of them, and every other module of the service goes through :class:`Seams`. A part that is not
installed yet is skipped (no limit, no metrics, no webhooks), so the service runs without it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from invoiceai.secrets import get_logger

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

    from invoiceai.server.settings import ServiceSettings

__all__ = ["Limiter", "Metrics", "Seams"]

_log = get_logger("invoiceai.server")


class Limiter(Protocol):
    """``server/limits.py``'s ``KeyLimiter``: ``check`` returns 0.0 (allowed, charged) or seconds to wait."""

    def check(self, key_id: str, cost: int = 1) -> float:
        """0.0 when ``key_id`` may go on (and is charged ``cost``), else the seconds to wait."""
        ...  # pragma: no cover


class Metrics(Protocol):
    """``server/metrics.py``'s ``ServiceMetrics``."""

    def job_state(self, state: str) -> None:
        """Counts a job entering ``state``."""
        ...  # pragma: no cover

    def request(self, route: str, status: int, seconds: float) -> None:
        """Counts one HTTP request and its latency."""
        ...  # pragma: no cover

    def tokens(self, input: int, output: int, cost_usd: Decimal) -> None:
        """Adds a finished job's tokens and cost."""
        ...  # pragma: no cover

    def error(self, kind: str) -> None:
        """Counts an error by its type."""
        ...  # pragma: no cover

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        ...  # pragma: no cover


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but something it imports is missing: say so
            raise
        return None


class Seams:
    """The limiter, metrics and webhook sender of one service process (each may be absent).

    Args:
        settings: The service's settings (rate limit, webhook secret and attempts).
        limiter: A limiter to use instead of ``KeyLimiter`` (tests pass a fake).
        metrics: Metrics to use instead of ``ServiceMetrics``.
    """

    def __init__(
        self, settings: ServiceSettings, *, limiter: Limiter | None = None, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.limiter = limiter if limiter is not None else self._default_limiter()
        self.metrics = metrics if metrics is not None else self._default_metrics()

    def _default_limiter(self) -> Limiter | None:
        if self.settings.rate_per_s <= 0:
            return None
        limits = _optional("invoiceai.server.limits")  # CALL SITE: WP-C's KeyLimiter
        if limits is None:
            _log.warning("rate_per_s is set but invoiceai.server.limits is not installed: no rate limit")
            return None
        limiter: Limiter = limits.KeyLimiter(rate_per_s=self.settings.rate_per_s, burst=max(1, self.settings.burst))
        return limiter

    @staticmethod
    def _default_metrics() -> Metrics | None:
        module = _optional("invoiceai.server.metrics")  # CALL SITE: WP-C's ServiceMetrics
        return None if module is None else module.ServiceMetrics()

    def wait_seconds(self, key_id: str, cost: int = 1) -> float:
        """What the limiter says for ``key_id`` (0.0: go on)."""
        return 0.0 if self.limiter is None else self.limiter.check(key_id, cost)

    def job_state(self, state: str) -> None:
        """Reports a job entering ``state`` to the metrics."""
        if self.metrics is not None:
            self.metrics.job_state(state)

    def request(self, route: str, status: int, seconds: float) -> None:
        """Reports one request to the metrics."""
        if self.metrics is not None:
            self.metrics.request(route, status, seconds)

    def tokens(self, input_tokens: int, output_tokens: int, cost_usd: Decimal) -> None:
        """Reports a job's tokens and cost to the metrics."""
        if self.metrics is not None:
            self.metrics.tokens(input_tokens, output_tokens, cost_usd)

    def error(self, kind: str) -> None:
        """Reports an error by type to the metrics."""
        if self.metrics is not None:
            self.metrics.error(kind)

    def render_metrics(self) -> tuple[bytes, str] | None:
        """The metrics exposition, or ``None`` without metrics."""
        return None if self.metrics is None else self.metrics.render()

    def notify(self, job: RowMapping, status: str, on_attempt: Callable[[Any], None]) -> threading.Thread | None:
        """Sends the job's webhook on a background thread (when it has a callback URL and a secret is set).

        The body names the job and its status, never its content. Returns the sending thread.
        """
        url, secret = job["callback_url"], self.settings.webhook_secret
        if not url or not secret:
            return None
        webhooks = _optional("invoiceai.server.webhooks")  # CALL SITE: WP-C's deliver()
        if webhooks is None:
            _log.warning("job %s has a callback_url but invoiceai.server.webhooks is not installed", job["id"])
            return None
        body = json.dumps(
            {"event": "job.finished", "job_id": job["id"], "batch_id": job["batch_id"], "status": status,
             "time": int(time.time())}
        ).encode()  # fmt: skip
        attempts = max(1, self.settings.webhook_attempts)
        delivery = webhooks.deliver(url, body, secret=secret.encode(), attempts=attempts, on_attempt=on_attempt)
        thread = threading.Thread(target=asyncio.run, args=(delivery,), name=f"webhook-{job['id']}", daemon=True)
        thread.start()
        return thread
