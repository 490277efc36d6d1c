"""Where the service meets its rate limits, metrics and webhooks.

:mod:`~invoiceai.server.limits` (``KeyLimiter``), :mod:`~invoiceai.server.metrics`
(``ServiceMetrics``) and :mod:`~invoiceai.server.outbox` (``Deliverer``) are their own modules;
the routes and the runner reach them through :class:`Seams`, so a test can swap the limiter or
the metrics for a fake, and a service without a rate limit simply has no limiter.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from invoiceai.config import Settings
    from invoiceai.server.settings import ServiceSettings

__all__ = ["Limiter", "Metrics", "Seams"]


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

    def jobs_in_state(self, counts: Mapping[str, int]) -> None:
        """Sets how many jobs are in each state now."""
        ...  # pragma: no cover

    def queue_depth(self, n: int) -> None:
        """Sets the number of jobs waiting for a worker."""
        ...  # pragma: no cover

    def request(self, route: str, status: int, seconds: float, *, method: str = "GET") -> None:
        """Counts one HTTP request and its latency."""
        ...  # pragma: no cover

    def tokens(self, input: int, output: int, cost_usd: Decimal) -> None:
        """Adds a finished job's tokens and cost."""
        ...  # pragma: no cover

    def error(self, kind: str) -> None:
        """Counts an error by its type."""
        ...  # pragma: no cover

    def document_done(self, count: int = 1) -> None:
        """Counts finished documents."""
        ...  # pragma: no cover

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        ...  # pragma: no cover


class Seams:
    """The limiter, metrics and webhook wake-up of one service process.

    Args:
        settings: The service's settings (rate limit, webhook secret, attempts and backoff).
        library_settings: The library's settings (``allow_private_urls`` for the webhook's SSRF guard).
        limiter: A limiter to use instead of ``KeyLimiter`` (tests pass a fake); without one, a
            ``KeyLimiter`` when ``rate_per_s`` is set, else no limit.
        metrics: Metrics to use instead of a new ``ServiceMetrics``.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        library_settings: Settings | None = None,
        limiter: Limiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.library_settings = library_settings
        self.limiter = limiter if limiter is not None else self._default_limiter()
        self.metrics: Metrics = metrics if metrics is not None else self._default_metrics()
        # Set by the process's webhook deliverer (invoiceai.server.outbox.Deliverer) while it runs.
        self.on_webhook: Callable[[], None] | None = None

    def _default_limiter(self) -> Limiter | None:
        if self.settings.rate_per_s <= 0:
            return None
        from invoiceai.server.limits import KeyLimiter

        return KeyLimiter(rate_per_s=self.settings.rate_per_s, burst=max(1, self.settings.burst))

    @staticmethod
    def _default_metrics() -> Metrics:
        from invoiceai.server.metrics import ServiceMetrics

        return ServiceMetrics()

    def wait_seconds(self, key_id: str, cost: int = 1) -> float:
        """What the limiter says for ``key_id`` (0.0: go on)."""
        return 0.0 if self.limiter is None else self.limiter.check(key_id, cost)

    def job_state(self, state: str) -> None:
        """Reports a job entering ``state`` to the metrics."""
        self.metrics.job_state(state)

    def request(self, route: str, status: int, seconds: float, method: str = "GET") -> None:
        """Reports one request to the metrics."""
        self.metrics.request(route, status, seconds, method=method)

    def error(self, kind: str) -> None:
        """Reports an error by type to the metrics."""
        self.metrics.error(kind)

    def render_metrics(self) -> tuple[bytes, str]:
        """The metrics exposition and its content type."""
        return self.metrics.render()

    def webhook_queued(self) -> None:
        """Wakes this process's webhook deliverer: a delivery was written to the outbox.

        Without a deliverer in this process (an API process of a fleet), the workers' deliverers
        find the row on their next look.
        """
        if self.on_webhook is not None:
            self.on_webhook()
