"""The metrics the job store knows: jobs by state, queue depth, documents, tokens, cost, job errors.

In a fleet the jobs run in other processes, so the API cannot count them as they finish; it reads
the totals from the store on every scrape of ``GET /metrics`` and adds what changed since the
last one to its counters (:class:`StoreFeed`). The embedded mode does the same, so both count
alike. The counters start at zero when the process starts, as Prometheus expects.
"""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Float, cast, func, select

from invoiceai.server.db import reading
from invoiceai.server.models import JOB_STATES, jobs

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from invoiceai.server.seams import Metrics

__all__ = ["StoreFeed", "StoreTotals", "read_totals"]


@dataclasses.dataclass(frozen=True)
class StoreTotals:
    """What the job store holds now.

    Attributes:
        states: Jobs per status.
        input_tokens: Input tokens of every finished job.
        output_tokens: Output tokens of every finished job.
        cost_usd: Estimated cost of every finished job.
        errors: Failed jobs per error type.
    """

    states: dict[str, int]
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    errors: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def documents(self) -> int:
        """Jobs that ran to an end (succeeded or failed)."""
        return self.states.get("succeeded", 0) + self.states.get("failed", 0)


def read_totals(engine: Engine) -> StoreTotals:
    """Reads the totals with three aggregate queries (the status index serves the first)."""
    by_state = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    spent = select(
        func.coalesce(func.sum(jobs.c.input_tokens), 0),
        func.coalesce(func.sum(jobs.c.output_tokens), 0),
        # Float: SQLite has no exact decimal type; the exported sample is a float anyway.
        func.coalesce(func.sum(cast(jobs.c.cost_usd, Float)), 0.0),
    ).where(jobs.c.status.in_(("succeeded", "failed")))
    failures = select(jobs.c.error_type, func.count()).where(jobs.c.status == "failed").group_by(jobs.c.error_type)
    with reading(engine) as connection:
        states = {str(status): int(count) for status, count in connection.execute(by_state)}
        input_tokens, output_tokens, cost = connection.execute(spent).one()
        errors = {str(kind or "unknown"): int(count) for kind, count in connection.execute(failures)}
    return StoreTotals(
        states={state: states.get(state, 0) for state in JOB_STATES},
        input_tokens=int(input_tokens), output_tokens=int(output_tokens),
        cost_usd=Decimal(str(round(float(cost), 9))), errors=errors,
    )  # fmt: skip


class StoreFeed:
    """Feeds the metrics from the store: gauges set, counters advanced by what changed.

    Args:
        engine: The job store.
        metrics: The process's metrics.
    """

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self._lock = threading.Lock()
        self._last = read_totals(engine)

    def update(self) -> StoreTotals:
        """Reads the store and updates the metrics; returns what it read."""
        with self._lock:
            now, last = read_totals(self.engine), self._last
            self.metrics.jobs_in_state(now.states)
            self.metrics.queue_depth(now.states["queued"])
            # max(0, ...): a store cleaned by hand must not make a counter go down.
            if now.documents > last.documents:
                self.metrics.document_done(now.documents - last.documents)
            self.metrics.tokens(
                max(0, now.input_tokens - last.input_tokens), max(0, now.output_tokens - last.output_tokens),
                max(Decimal(0), now.cost_usd - last.cost_usd),
            )  # fmt: skip
            for kind, count in now.errors.items():
                for _ in range(max(0, count - last.errors.get(kind, 0))):
                    self.metrics.error(kind)
            self._last = now
            return now
