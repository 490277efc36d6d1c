"""Fleet mode: jobs run by Celery workers in other processes (or machines), through a Redis broker.

The job store stays the source of truth; a Celery task only says "job X may be ready to run".
Its body is :func:`~invoiceai.server.runner.run_job`, the function the embedded mode's threads
call, so a job runs the same way whoever runs it:

- The API (:class:`Publisher`) sends one task per job it queues and stamps ``jobs.enqueued_at``.
- A worker (:class:`FleetWorker`, ``invoiceai worker``) takes tasks one at a time per thread
  (``worker_prefetch_multiplier=1``) and acknowledges a task only when it is done
  (``task_acks_late``; ``task_reject_on_worker_lost``): a worker killed mid-job never acknowledged
  its tasks, so Redis hands them to another worker after ``visibility_timeout``.
- A task for a job that is finished, canceled or held by a live lease does nothing (the claim is
  a conditional ``UPDATE``), so duplicate tasks are harmless; the result is stored once.
- Every worker also runs a sweeper (:func:`resend_stale`): a job whose lease ran out (its worker
  died) gets a new task at once, without waiting for the broker; so does a job queued longer than
  ``visibility_timeout`` with its task apparently lost (the broker was down when it was queued).
  The conditional stamp on ``enqueued_at`` means one sweeper resends a job, not every one.
- A job redelivered after its first run finished the model call but died before storing the
  result is answered from the result cache, which must then be shared by every worker: in fleet
  mode, set ``cache`` to a ``redis://`` URL.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select

from invoiceai.errors import ConfigurationError, MissingDependencyError
from invoiceai.secrets import get_logger
from invoiceai.server.clock import utcnow
from invoiceai.server.message_batches import start_driver
from invoiceai.server.models import jobs
from invoiceai.server.runner import run_job
from invoiceai.server.upkeep import running

if TYPE_CHECKING:
    from datetime import datetime

    from celery import Celery  # type: ignore[import-untyped]
    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.elements import ColumnElement

    from invoiceai.server.context import ServiceContext
    from invoiceai.server.settings import ServiceSettings

__all__ = ["QUEUE", "TASK_NAME", "FleetWorker", "Publisher", "celery_app", "resend_stale", "worker_settings_problem"]

_log = get_logger("invoiceai.server")

TASK_NAME = "invoiceai.run_job"
"""The Celery task every job is sent as; its one argument is the job id."""

QUEUE = "invoiceai"
"""The broker queue the tasks go to."""


def celery_app(settings: ServiceSettings) -> Celery:
    """The Celery application of the fleet, configured for at-least-once delivery.

    Raises:
        ConfigurationError: ``broker_url`` is not set.
        MissingDependencyError: Celery is not installed (the ``server`` extra).
    """
    if not settings.broker_url:
        raise ConfigurationError("Fleet mode needs a broker: set INVOICEAI_SERVER_BROKER_URL=redis://host:6379/0.")
    try:
        from celery import Celery
    except ImportError as exc:
        raise MissingDependencyError(
            'The fleet mode needs Celery: pip install "invoiceai-claude[server]".', extra="server"
        ) from exc
    app = Celery("invoiceai", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # acknowledged when done: a task whose worker died goes to another
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a thread holds one task; the others stay free for other workers
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # the job store holds the results; no result backend
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


class Publisher:
    """The API side of the fleet: sends a task per queued job.

    Args:
        settings: The service's settings (``broker_url``).
        engine: The job store, where ``enqueued_at`` is stamped.
    """

    def __init__(self, settings: ServiceSettings, engine: Engine) -> None:
        self.app = celery_app(settings)
        self.engine = engine

    def publish(self, job_ids: Sequence[str]) -> None:
        """Stamps the jobs' ``enqueued_at`` and sends their tasks.

        A send that fails is logged, not raised: the job is stored, and a worker's sweeper
        sends it again once it has waited ``visibility_timeout``.
        """
        if not job_ids:
            return
        with self.engine.begin() as connection:
            connection.execute(jobs.update().where(jobs.c.id.in_(list(job_ids))).values(enqueued_at=utcnow()))
        try:
            self.send(job_ids)
        except Exception:  # the broker is down: the sweeper will resend
            _log.warning("could not send %d job(s) to the broker; they will be resent", len(job_ids), exc_info=True)

    def send(self, job_ids: Sequence[str]) -> None:
        """Sends one task per job over one broker connection."""
        with self.app.producer_or_acquire() as producer:
            for job_id in job_ids:
                self.app.send_task(TASK_NAME, args=[job_id], queue=QUEUE, producer=producer)

    def check(self, timeout: float = 2.0) -> None:
        """Connects to the broker once; raises the transport's error when it cannot."""
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)

    def close(self) -> None:
        """Releases the broker connections."""
        self.app.close()


def _stale(now: datetime, visibility: float) -> ColumnElement[bool]:
    sent = func.coalesce(jobs.c.enqueued_at, jobs.c.created_at)
    long_ago = now - timedelta(seconds=visibility)
    lost = and_(jobs.c.status == "queued", sent < long_ago)
    not_since = or_(sent < jobs.c.lease_expires, sent < long_ago)
    orphaned = and_(jobs.c.status == "running", jobs.c.lease_expires < now, not_since)
    # A Message Batch's jobs are the driver's, never a worker's: a task for one would be dropped.
    return and_(or_(lost, orphaned), jobs.c.message_batch.is_not(True))


def resend_stale(engine: Engine, publisher: Publisher, visibility: float, *, limit: int = 500) -> list[str]:
    """Sends a new task for every job whose worker died or whose task seems lost; returns their ids.

    A job qualifies when it is running under an expired lease and was not sent since the lease
    expired, or queued and not sent for ``visibility`` seconds. Each is stamped with a
    conditional ``UPDATE`` first, so of several sweepers only one sends it.
    """
    now = utcnow()
    with engine.begin() as connection:
        candidates = list(connection.execute(select(jobs.c.id).where(_stale(now, visibility)).limit(limit)).scalars())
        claimed = [
            str(job_id)
            for job_id in candidates
            if connection.execute(
                jobs.update().where(jobs.c.id == job_id, _stale(now, visibility)).values(enqueued_at=now)
            ).rowcount
        ]
    if claimed:
        publisher.send(claimed)
    return claimed


class FleetWorker:
    """A Celery worker process of the fleet: its task runs :func:`run_job` for the job it names.

    Args:
        context: The process's store, extractor and seams (shared by the worker's threads).
        concurrency: Jobs run at once (Celery's ``threads`` pool).
        sweep_seconds: How often the sweeper looks for stale jobs (default: a third of the lease).
    """

    def __init__(self, context: ServiceContext, *, concurrency: int = 4, sweep_seconds: float | None = None) -> None:
        self.context = context
        self.concurrency = concurrency
        self.publisher = Publisher(context.settings, context.engine)
        self.app = self.publisher.app
        self.sweep_seconds = sweep_seconds or max(0.5, min(30.0, context.settings.lease_seconds / 3))
        self._stop = threading.Event()
        self.app.task(name=TASK_NAME, bind=False, acks_late=True, reject_on_worker_lost=True)(self.run_task)

    def run_task(self, job_id: str) -> str:
        """The task's body: ``stored`` when this call stored the job's outcome, else ``skipped``."""
        return "stored" if run_job(job_id, self.context) else "skipped"

    def argv(self, name: str | None = None, loglevel: str = "INFO") -> list[str]:
        """The ``celery worker`` arguments this worker runs with."""
        node = name or f"invoiceai-{socket.gethostname()}-{threading.get_native_id()}@%h"
        return [
            "worker", f"--concurrency={self.concurrency}", "--pool=threads", f"--loglevel={loglevel}",
            f"--queues={QUEUE}", f"--hostname={node}", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def run(self, *, loglevel: str = "INFO") -> None:
        """Runs the worker (and its sweeper) until it is told to stop (SIGTERM, Ctrl-C)."""
        with self.sweeping(), running(self.context):  # webhooks and the retention purge
            self.app.worker_main(self.argv(loglevel=loglevel))

    @contextlib.contextmanager
    def sweeping(self) -> Iterator[None]:
        """Runs the sweeper on a thread while the block runs."""
        thread = threading.Thread(target=self._sweep, name="invoiceai-sweeper", daemon=True)
        thread.start()
        start_driver(self.context, self._stop)  # batches sent as Message Batches (server/message_batches.py)
        try:
            yield
        finally:
            self._stop.set()
            thread.join(10)

    def _sweep(self) -> None:
        visibility = self.context.settings.visibility_timeout
        while not self._stop.wait(self.sweep_seconds):
            try:
                resent = resend_stale(self.context.engine, self.publisher, visibility)
            except Exception:  # the store or the broker is away: try again next round
                _log.warning("the sweeper could not look for stale jobs", exc_info=True)
                continue
            if resent:
                _log.info("resent %d job(s) whose worker died or whose task was lost", len(resent))

    def close(self) -> None:
        """Stops the sweeper and releases the broker connections."""
        self._stop.set()
        self.publisher.close()


def worker_settings_problem(settings: ServiceSettings) -> str | None:
    """Why these settings cannot run a fleet worker (``None`` when they can)."""
    if not settings.broker_url:
        return "invoiceai worker needs a broker: set INVOICEAI_SERVER_BROKER_URL (or --broker) to redis://host:6379/0."
    if settings.database_url.startswith("sqlite") and ":memory:" in settings.database_url:
        return "invoiceai worker needs a job store every process can reach, not an in-memory SQLite database."
    return None
