"""Retention: deleting uploads and finished jobs once they are older than the settings allow.

Two settings say how long things are kept (``0``: for ever):

- ``upload_retention_days`` (default 7): an uploaded document is deleted that many days after the
  last job using it ended, and never while a job using it is queued or running. Storing the same
  document again (a new job for it) restarts its days. The jobs keep their results; the review
  page keeps its values and provenance but has no page images to show.
- ``job_retention_days`` (default 0, kept): a finished job is deleted, with its result, its
  corrections and its webhook record, that many days after it ended; a batch goes once none of its
  jobs is left. Deleting results is the operator's choice: a result deleted before a client
  fetched it is paid work lost, and cannot be made again once the upload is gone too.

A finished job whose webhook is still pending (attempts left to make) is kept until the delivery
ends, delivered or given up: deleting it would drop the delivery without a word.

The audit trail is kept either way (it holds no content). The purge deletes in chunks of
``chunk`` rows, and of uploads adding up to at most ``chunk_bytes`` (at least one), one short
transaction each, so it never holds long locks (SQLite has one write lock for the whole store);
between chunks it checks its ``stop`` event, which a stopping process sets. Each purge that deleted
something writes one audit row (``purge``) with the counts. It runs every
``purge_interval_seconds`` in the embedded API process and in every fleet worker
(:func:`invoiceai.server.upkeep.running`); purges running at once in several processes only split
the work.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Index, and_, exists, or_, select

from invoiceai.secrets import get_logger
from invoiceai.server.audit import record
from invoiceai.server.clock import utcnow
from invoiceai.server.models import FINAL_STATES, batches, jobs, uploads
from invoiceai.server.outbox import PENDING, webhook_deliveries

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from invoiceai.server.settings import ServiceSettings

__all__ = ["Purged", "Purger", "purge"]

_log = get_logger("invoiceai.server")

# Created by migration 0012: the purge asks, for each old upload, whether a job still uses it.
Index("ix_jobs_upload", jobs.c.upload_sha256)
# Created by migration 0013: the purge picks the finished jobs that ended first.
Index("ix_jobs_finished", jobs.c.status, jobs.c.finished_at)

CHUNK_BYTES = 64 * 2**20
"""Most upload bytes one purge transaction deletes (at least one upload)."""

_FINAL = sorted(FINAL_STATES)


@dataclasses.dataclass(frozen=True)
class Purged:
    """What one purge deleted.

    Attributes:
        uploads: Uploaded documents.
        jobs: Finished jobs (with their results, corrections and webhook records).
        batches: Batches none of whose jobs was left.
    """

    uploads: int = 0
    jobs: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return self.uploads + self.jobs + self.batches


def purge(
    engine: Engine,
    settings: ServiceSettings,
    *,
    now: datetime | None = None,
    chunk: int = 500,
    chunk_bytes: int = CHUNK_BYTES,
    stop: threading.Event | None = None,
) -> Purged:
    """Deletes what is past its retention, a bounded chunk per transaction; audits the counts.

    Args:
        engine: The job store.
        settings: ``upload_retention_days`` and ``job_retention_days`` (``0``: keep).
        now: The time to count from (naive UTC); tests inject one.
        chunk: Most rows one transaction deletes.
        chunk_bytes: Most upload bytes one transaction deletes (at least one upload).
        stop: Once set, no further chunk is started (what was deleted is still audited).

    Returns:
        The counts deleted.
    """
    now = utcnow() if now is None else now
    deleted_jobs = deleted_batches = deleted_uploads = 0
    if settings.job_retention_days > 0:
        cutoff = now - timedelta(days=settings.job_retention_days)
        deleted_jobs = _in_chunks(
            engine, _rows(lambda connection: _delete_jobs(connection, cutoff, chunk), chunk), stop
        )
        deleted_batches = _in_chunks(
            engine, _rows(lambda connection: _delete_batches(connection, cutoff, chunk), chunk), stop
        )
    if settings.upload_retention_days > 0:
        cutoff = now - timedelta(days=settings.upload_retention_days)
        deleted_uploads = _in_chunks(
            engine, lambda connection: _delete_uploads(connection, cutoff, chunk, chunk_bytes), stop
        )
    purged = Purged(uploads=deleted_uploads, jobs=deleted_jobs, batches=deleted_batches)
    if purged.total:
        detail = (
            f"uploads {purged.uploads} (kept {settings.upload_retention_days:g} days), jobs {purged.jobs} "
            f"(kept {settings.job_retention_days:g} days), batches {purged.batches}"
        )
        with engine.begin() as connection:
            record(connection, key_id="system", action="purge", outcome="ok", detail=detail)
    return purged


_Step = Callable[["Connection"], tuple[int, bool]]
"""One chunk's deletion: how many rows it deleted, and whether it was a full chunk (more may be left)."""


def _in_chunks(engine: Engine, step: _Step, stop: threading.Event | None) -> int:
    """Runs ``step`` in one transaction after another until a chunk is not full or ``stop`` is set."""
    total = 0
    while stop is None or not stop.is_set():
        with engine.begin() as connection:
            deleted, full = step(connection)
        total += deleted
        if not full:
            break
    return total


def _rows(step: Callable[[Connection], int], chunk: int) -> _Step:
    """A step bounded by rows only: full when it deleted ``chunk`` rows."""

    def bounded(connection: Connection) -> tuple[int, bool]:
        deleted = step(connection)
        return deleted, deleted >= chunk

    return bounded


def _delete_jobs(connection: Connection, cutoff: datetime, chunk: int) -> int:
    from invoiceai.server.message_batches_store import message_batches
    from invoiceai.server.review_store import corrections

    # A job of a Message Batch still being driven stays: the driver reads its batch's members each look.
    driven = exists().where(
        message_batches.c.batch_id == jobs.c.batch_id, message_batches.c.state.in_(("waiting", "running"))
    )
    delivering = exists().where(webhook_deliveries.c.job_id == jobs.c.id, webhook_deliveries.c.state == PENDING)
    old = and_(jobs.c.status.in_(_FINAL), jobs.c.finished_at < cutoff, ~driven, ~delivering)
    ids = list(connection.execute(select(jobs.c.id).where(old).order_by(jobs.c.finished_at).limit(chunk)).scalars())
    if not ids:
        return 0
    connection.execute(corrections.delete().where(corrections.c.job_id.in_(ids)))
    connection.execute(webhook_deliveries.delete().where(webhook_deliveries.c.job_id.in_(ids)))
    return int(connection.execute(jobs.delete().where(jobs.c.id.in_(ids), old)).rowcount)


def _delete_batches(connection: Connection, cutoff: datetime, chunk: int) -> int:
    empty = and_(batches.c.created_at < cutoff, ~exists().where(jobs.c.batch_id == batches.c.id))
    ids = list(connection.execute(select(batches.c.id).where(empty).limit(chunk)).scalars())
    if not ids:
        return 0
    from invoiceai.server.message_batches_store import message_batches

    # A batch sent through the Message Batches API keeps its (closed) driver row until the batch goes.
    connection.execute(message_batches.delete().where(message_batches.c.batch_id.in_(ids)))
    return int(connection.execute(batches.delete().where(batches.c.id.in_(ids), empty)).rowcount)


def _delete_uploads(connection: Connection, cutoff: datetime, chunk: int, chunk_bytes: int) -> tuple[int, bool]:
    # In use: a job that has not ended, or ended after the cutoff. The same test is repeated in
    # the DELETE, so a job queued for the document meanwhile keeps it.
    in_use = exists().where(
        jobs.c.upload_sha256 == uploads.c.sha256,
        or_(jobs.c.status.not_in(_FINAL), jobs.c.finished_at.is_(None), jobs.c.finished_at >= cutoff),
    )
    old = and_(uploads.c.created_at < cutoff, ~in_use)
    found = connection.execute(select(uploads.c.sha256, uploads.c.size).where(old).limit(chunk)).all()
    ids: list[str] = []
    size = 0
    for sha256, length in found:
        if ids and size + length > chunk_bytes:
            break
        ids.append(sha256)
        size += length
    if not ids:
        return 0, False
    deleted = int(connection.execute(uploads.delete().where(uploads.c.sha256.in_(ids), old)).rowcount)
    return deleted, len(ids) < len(found) or len(found) >= chunk


class Purger:
    """Runs :func:`purge` at most once per ``purge_interval_seconds`` (the first call runs it).

    Args:
        engine: The job store.
        settings: The retention settings.
        clock: Monotonic seconds, for the interval; tests inject one.
        stop: Set when the process stops: a purge running then ends after its current chunk.
    """

    def __init__(
        self,
        engine: Engine,
        settings: ServiceSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.stop = stop
        self._next: float | None = None

    def maybe_run(self) -> Purged | None:
        """Purges if the interval has passed since the last purge; ``None`` when it did not run."""
        if self.settings.upload_retention_days <= 0 and self.settings.job_retention_days <= 0:
            return None
        now = self.clock()
        if self._next is not None and now < self._next:
            return None
        self._next = now + self.settings.purge_interval_seconds
        try:
            purged = purge(self.engine, self.settings, stop=self.stop)
        except Exception:  # the store is away: the next interval tries again
            _log.warning("the retention purge could not run", exc_info=True)
            return None
        if purged.total:
            _log.info("purged %d upload(s), %d job(s), %d batch(es)", purged.uploads, purged.jobs, purged.batches)
        return purged
