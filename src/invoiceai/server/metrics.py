"""Service metrics for ``GET /metrics``, in prometheus-client's text format.

Every metric lives in a :class:`ServiceMetrics` object's own ``CollectorRegistry``, never in
prometheus-client's global one: two apps in one process (tests, say) then never collide, and
nothing registered by a library we import leaks into our page.

What is exported (``invoiceai_`` prefix by default):

============================================ ======== ===========================================
metric                                       type     labels
============================================ ======== ===========================================
``invoiceai_job_transitions_total``          counter  ``state``: jobs that entered each state
``invoiceai_jobs``                           gauge    ``state``: jobs in each state now (from the store)
``invoiceai_queue_depth``                    gauge    jobs waiting for a worker
``invoiceai_documents_total``                counter  documents finished; documents/s is its ``rate()``
``invoiceai_http_requests_total``            counter  ``route``, ``method``, ``status``
``invoiceai_http_request_duration_seconds``  histogram ``route``, ``method``
``invoiceai_tokens_total``                   counter  ``direction``: ``input`` or ``output``
``invoiceai_cost_usd_total``                 counter  estimated spend in US dollars
``invoiceai_errors_total``                   counter  ``kind``: the error class name
============================================ ======== ===========================================

Label values are bounded so a scrape stays small whatever clients send: ``state`` takes the five
job states only; ``route`` must be the route *template* (``/v1/jobs/{id}``, never the raw path);
and each free-form label keeps at most ``max_label_values`` distinct values, after which new ones
are counted under ``other``.

Each process has its own counters. With Celery workers in other processes, feed
:meth:`ServiceMetrics.jobs_in_state`, :meth:`~ServiceMetrics.queue_depth` and the token and
document counters from what the API process sees in the job store, or scrape the workers too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from invoiceai.errors import MissingDependencyError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["JOB_STATES", "OTHER", "UNMATCHED_ROUTE", "ServiceMetrics"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")
"""The states a job can be in, the only values of the ``state`` label."""

OTHER = "other"
"""The label value that stands for every value past a label's bound."""

UNMATCHED_ROUTE = "<unmatched>"
"""The ``route`` to report for a request that matched no route (a 404 on an unknown path)."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Latencies of an API that answers from a database: most well under 100 ms; the upper buckets
# catch uploads and ``?wait=N`` long polls.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _BoundedLabel:
    """Admits the first ``limit`` distinct values of a label; maps any later one to :data:`OTHER`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class ServiceMetrics:
    """The service's metrics, in a private registry.

    Args:
        namespace: Prefix of every metric name.
        max_label_values: Most distinct values kept for each of ``route``, ``status`` and
            ``kind``; later values are counted under ``other``.

    Raises:
        MissingDependencyError: prometheus-client is not installed (the ``server`` extra).
    """

    def __init__(self, *, namespace: str = "invoiceai", max_label_values: int = 100) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:
            raise MissingDependencyError(
                'Service metrics need prometheus-client: pip install "invoiceai-claude[server]".', extra="server"
            ) from exc

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        ns, reg = namespace, self.registry
        self._transitions = Counter(
            "job_transitions", "Jobs that entered each state.", ["state"], namespace=ns, registry=reg
        )
        self._jobs = Gauge(
            "jobs", "Jobs in each state, as the job store counts them.", ["state"], namespace=ns, registry=reg
        )
        self._queue = Gauge("queue_depth", "Jobs waiting for a worker.", namespace=ns, registry=reg)
        self._documents = Counter("documents", "Documents whose job finished.", namespace=ns, registry=reg)
        self._requests = Counter(
            "http_requests",
            "API requests by route template, method and status.",
            ["route", "method", "status"],
            namespace=ns,
            registry=reg,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "API request latency by route template and method.",
            ["route", "method"],
            namespace=ns,
            registry=reg,
            buckets=_LATENCY_BUCKETS,
        )
        self._tokens = Counter("tokens", "Model tokens used, by direction.", ["direction"], namespace=ns, registry=reg)
        self._cost = Counter("cost_usd", "Estimated model spend in US dollars.", namespace=ns, registry=reg)
        self._errors = Counter("errors", "Errors by kind (the error class name).", ["kind"], namespace=ns, registry=reg)
        self._route = _BoundedLabel(max_label_values)
        self._status = _BoundedLabel(max_label_values)
        self._kind = _BoundedLabel(max_label_values)
        for state in JOB_STATES:  # every state shows from the first scrape, at 0
            self._transitions.labels(state=state)
            self._jobs.labels(state=state).set(0)
        for direction in ("input", "output"):
            self._tokens.labels(direction=direction)

    def job_state(self, state: str) -> None:
        """Counts a job entering ``state``.

        Raises:
            ValueError: ``state`` is not one of :data:`JOB_STATES`.
        """
        self._transitions.labels(state=_checked_state(state)).inc()

    def jobs_in_state(self, counts: Mapping[str, int]) -> None:
        """Sets how many jobs are in each state now (states left out are set to 0).

        Raises:
            ValueError: A state is unknown or a count negative.
        """
        for state, count in counts.items():
            _checked_state(state)
            _checked_count(count, "a job count")
        for state in JOB_STATES:
            self._jobs.labels(state=state).set(counts.get(state, 0))

    def queue_depth(self, n: int) -> None:
        """Sets the number of jobs waiting for a worker.

        Raises:
            ValueError: ``n`` is negative.
        """
        self._queue.set(_checked_count(n, "the queue depth"))

    def request(self, route: str, status: int, seconds: float, *, method: str = "GET") -> None:
        """Records one API request.

        Args:
            route: The route template (``/v1/jobs/{id}``), or :data:`UNMATCHED_ROUTE`. Never the
                raw path: every job id would become a time series.
            status: The HTTP status code answered.
            seconds: How long the request took.
            method: The HTTP method; unusual ones are counted as ``other``.

        Raises:
            ValueError: ``status`` is not an HTTP status or ``seconds`` is negative.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"{status!r} is not an HTTP status code.")
        if seconds < 0:
            raise ValueError(f"A request cannot take {seconds!r} seconds.")
        route_label = self._route(route)
        method_label = method.upper() if method.upper() in _METHODS else OTHER
        self._requests.labels(route=route_label, method=method_label, status=self._status(str(status))).inc()
        self._latency.labels(route=route_label, method=method_label).observe(seconds)

    def tokens(self, input: int, output: int, cost_usd: Decimal) -> None:
        """Adds the tokens and estimated cost of a finished extraction.

        Args:
            input: Input tokens (cache reads and writes included).
            output: Output tokens.
            cost_usd: Estimated cost; exported as a float, as every Prometheus sample is.

        Raises:
            ValueError: A value is negative.
        """
        # Everything is checked before anything is counted: no half-recorded extraction.
        _checked_count(input, "input tokens")
        _checked_count(output, "output tokens")
        if not cost_usd.is_finite() or cost_usd < 0:
            raise ValueError(f"A cost must be a finite amount of at least 0, got {cost_usd}.")
        self._tokens.labels(direction="input").inc(input)
        self._tokens.labels(direction="output").inc(output)
        self._cost.inc(float(cost_usd))

    def error(self, kind: str) -> None:
        """Counts an error of ``kind`` (an error class name such as ``FetchError``)."""
        self._errors.labels(kind=self._kind(kind)).inc()

    def document_done(self, count: int = 1) -> None:
        """Counts finished documents; ``rate(invoiceai_documents_total[1m])`` is documents/s."""
        self._documents.inc(_checked_count(count, "a document count"))

    def render(self) -> tuple[bytes, str]:
        """Returns the exposition: the body and its ``Content-Type``, for ``GET /metrics``."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _checked_state(state: str) -> str:
    if state not in JOB_STATES:
        raise ValueError(f"Unknown job state {state!r}; the states are {', '.join(JOB_STATES)}.")
    return state


def _checked_count(value: int, what: str) -> int:
    if value < 0:
        raise ValueError(f"{what[0].upper()}{what[1:]} cannot be negative, got {value!r}.")
    return value
