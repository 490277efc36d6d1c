"""Retention: deleting uploads, finished jobs and audit rows once they are older than the settings allow.

Three settings say how long things are kept (``0``: for ever):

- ``upload_retention_days`` (default 7): an uploaded document is deleted that many days after the
  last job using it ended, and never while a job using it is queued or running. Storing the same
  document again (a new job for it) restarts its days. The jobs keep their results; the review
  page keeps its values and provenance but has no page images to show.
- ``job_retention_days`` (default 0, kept): a finished job is deleted, with its result, its
  corrections and its webhook record, that many days after it ended; a batch goes once none of its
  jobs is left. Deleting results is the operator's choice: a result deleted before a client
  fetched it is paid work lost, and cannot be made again once the upload is gone too.
- ``audit_retention_days`` (default 0, kept): an audit row is deleted that many days after it was
  written, whatever it is about. A kept job loses nothing it shows by it: its review page's
  correction history is the ``corrections`` table, kept with the job; the audit rows are a log of
  who did what, and an operator who limits them (a data-protection rule, say) limits them all.

A finished job whose webhook is still pending (attempts left to make) is kept until the delivery
ends, delivered or given up: deleting it would drop the delivery without a word.

Whenever it runs, the purge also deletes what the Message Batches driver left behind
(:mod:`invoiceai.server.message_batches_store`): the records and lease of the library job of a
batch it deletes, the records of a library job that no batch being driven refers to (a submission
killed before its ``meta`` record, a close whose delete failed) once its newest record is a day
old, and leases that expired a day ago.

The purge deletes in chunks of ``chunk`` rows, and of uploads adding up to at most
``chunk_bytes`` (at least one), one short transaction each, so it never holds long locks (SQLite
has one write lock for the whole store); between chunks it checks its ``stop`` event, which a
stopping process sets. Each purge that deleted
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
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Index, and_, exists, or_, select

from invoiceai.secrets import get_logger
from invoiceai.server.audit import record
from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading
from invoiceai.server.models import FINAL_STATES, audit, batches, jobs, uploads
from invoiceai.server.outbox import PENDING, webhook_deliveries

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql import ColumnElement

    from invoiceai.server.settings import ServiceSettings

__all__ = ["Purged", "Purger", "purge"]

_log = get_logger("invoiceai.server")

# Created by migration 0012: the purge asks, for each old upload, whether a job still uses it.
Index("ix_jobs_upload", jobs.c.upload_sha256)
# Created by migration 0013: the purge picks the finished jobs that ended first.
Index("ix_jobs_finished", jobs.c.status, jobs.c.finished_at)
# Created by migration 0014: the purge picks the oldest audit rows.
Index("ix_audit_at", audit.c.at)

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
        audit: Audit rows.
        batch_records: Records of Message Batches library jobs (of deleted batches, or orphaned).
        batch_leases: Leases on Message Batches library jobs (of deleted batches, or long expired).
    """

    uploads: int = 0
    jobs: int = 0
    batches: int = 0
    audit: int = 0
    batch_records: int = 0
    batch_leases: int = 0

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return self.uploads + self.jobs + self.batches + self.audit + self.batch_records + self.batch_leases


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

    The Message Batches leftovers (see the module docstring) are swept whatever the settings.

    Args:
        engine: The job store.
        settings: ``upload_retention_days``, ``job_retention_days`` and ``audit_retention_days``
            (``0``: keep).
        now: The time to count from (naive UTC); tests inject one.
        chunk: Most rows one transaction deletes.
        chunk_bytes: Most upload bytes one transaction deletes (at least one upload).
        stop: Once set, no further chunk is started (what was deleted is still audited).

    Returns:
        The counts deleted.
    """
    now = utcnow() if now is None else now
    purged = Purged()
    if (cutoff := _cutoff(now, settings.job_retention_days)) is not None:
        purged = _purge_jobs(engine, cutoff, chunk, stop)
    if (upload_cutoff := _cutoff(now, settings.upload_retention_days)) is not None:
        step = partial(_delete_uploads, cutoff=upload_cutoff, chunk=chunk, chunk_bytes=chunk_bytes)
        purged = dataclasses.replace(purged, uploads=_in_chunks(engine, step, stop))
    if (audit_cutoff := _cutoff(now, settings.audit_retention_days)) is not None:
        deleted = _in_chunks(engine, _rows(partial(_delete_audit, cutoff=audit_cutoff, chunk=chunk), chunk), stop)
        purged = dataclasses.replace(purged, audit=deleted)
    records, leases = _sweep_message_batches(engine, now, chunk, stop)
    purged = dataclasses.replace(
        purged, batch_records=purged.batch_records + records, batch_leases=purged.batch_leases + leases
    )
    if purged.total:
        with engine.begin() as connection:
            record(connection, key_id="system", action="purge", outcome="ok", detail=_detail(purged, settings))
    return purged


def _cutoff(now: datetime, days: float) -> datetime | None:
    """``days`` before ``now``; ``None`` when that step keeps everything.

    ``0`` keeps for ever, and so does a retention reaching back before the year 1 (``1e6`` days,
    "for ever" written as a big number): nothing is that old, and ``datetime`` cannot say the
    date, so the step is skipped rather than the whole purge failing at every interval.
    """
    if days <= 0:
        return None
    try:
        return now - timedelta(days=days)
    except OverflowError:  # before datetime.min, or more days than a timedelta holds
        return None


def _detail(purged: Purged, settings: ServiceSettings) -> str:
    """The purge's audit note: the counts, each with the days it kept (parts that did not apply are left out)."""
    detail = (
        f"uploads {purged.uploads} (kept {settings.upload_retention_days:g} days), jobs {purged.jobs} "
        f"(kept {settings.job_retention_days:g} days), batches {purged.batches}"
    )
    if settings.audit_retention_days > 0:
        detail += f", audit rows {purged.audit} (kept {settings.audit_retention_days:g} days)"
    if purged.batch_records or purged.batch_leases:
        detail += f", Message Batches records {purged.batch_records}, leases {purged.batch_leases}"
    return detail


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


def _purge_jobs(engine: Engine, cutoff: datetime, chunk: int, stop: threading.Event | None) -> Purged:
    """Finished jobs ended before ``cutoff``, then the batches left empty with their Message Batches state."""
    from invoiceai.server.message_batches_store import delete_records_of, message_batches

    deleted_jobs = _in_chunks(engine, _rows(lambda connection: _delete_jobs(connection, cutoff, chunk), chunk), stop)
    # The library job's records of each batch going are deleted first, a chunk at a time (a
    # batch of a thousand documents has thousands); the batch row goes once none is left.
    going = select(message_batches.c.job_id).where(
        message_batches.c.batch_id.in_(select(batches.c.id).where(_empty(cutoff))),
        message_batches.c.job_id.is_not(None),
    )
    records = _in_chunks(engine, _rows(lambda connection: delete_records_of(connection, going, chunk), chunk), stop)
    leases: list[int] = []

    def step(connection: Connection) -> int:
        deleted, released = _delete_batches(connection, cutoff, chunk)
        leases.append(released)
        return deleted

    deleted_batches = _in_chunks(engine, _rows(step, chunk), stop)
    return Purged(jobs=deleted_jobs, batches=deleted_batches, batch_records=records, batch_leases=sum(leases))


def _empty(cutoff: datetime) -> ColumnElement[bool]:
    """A batch created before ``cutoff`` none of whose jobs is left."""
    return and_(batches.c.created_at < cutoff, ~exists().where(jobs.c.batch_id == batches.c.id))


def _delete_batches(connection: Connection, cutoff: datetime, chunk: int) -> tuple[int, int]:
    """Deletes up to ``chunk`` empty batches whose library job has no record left; returns them and the leases."""
    from invoiceai.server.message_batches_store import batch_leases, batch_records, message_batches

    records_left = exists().where(
        message_batches.c.batch_id == batches.c.id, batch_records.c.job == message_batches.c.job_id
    )
    gone = and_(_empty(cutoff), ~records_left)
    ids = list(connection.execute(select(batches.c.id).where(gone).limit(chunk)).scalars())
    if not ids:
        return 0, 0
    # A batch sent through the Message Batches API keeps its (closed) driver row, and its library
    # job its lease, until the batch goes.
    sent = select(message_batches.c.job_id).where(message_batches.c.batch_id.in_(ids))
    leases = int(connection.execute(batch_leases.delete().where(batch_leases.c.job.in_(sent))).rowcount)
    connection.execute(message_batches.delete().where(message_batches.c.batch_id.in_(ids)))
    return int(connection.execute(batches.delete().where(batches.c.id.in_(ids), gone)).rowcount), leases


def _delete_audit(connection: Connection, cutoff: datetime, chunk: int) -> int:
    old = audit.c.at < cutoff
    ids = list(connection.execute(select(audit.c.id).where(old).order_by(audit.c.at).limit(chunk)).scalars())
    if not ids:
        return 0
    return int(connection.execute(audit.delete().where(audit.c.id.in_(ids), old)).rowcount)


def _sweep_message_batches(engine: Engine, now: datetime, chunk: int, stop: threading.Event | None) -> tuple[int, int]:
    """Deletes orphaned Message Batches records and long-expired leases; returns how many of each."""
    from invoiceai.server import message_batches_store as stored

    if stop is not None and stop.is_set():
        return 0, 0
    cutoff = now - stored.ORPHAN_AGE
    before = cutoff.replace(tzinfo=timezone.utc).timestamp()  # leases expire in wall-clock seconds
    # Looked for with a read: there is seldom anything, and on SQLite a write transaction would
    # take the store's one write lock for nothing at every purge. The orphans are found once (a
    # grouping of the whole records table), then each job's records are deleted a chunk at a
    # time, each chunk testing that one job again (cheap) instead of regrouping the table.
    with reading(engine) as connection:
        orphans = stored.orphan_jobs(connection, cutoff)
        lapsed = select(stored.batch_leases.c.job).where(stored.expired(before)).limit(1)
        some_leases = connection.execute(lapsed).first() is not None
    records = leases = 0
    for job in orphans:
        sweep = partial(stored.sweep_records, job=job, cutoff=cutoff, chunk=chunk)
        records += _in_chunks(engine, _rows(sweep, chunk), stop)
    if some_leases:
        leases = _in_chunks(engine, _rows(lambda c: stored.sweep_leases(c, before, chunk), chunk), stop)
    return records, leases


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
        settings = self.settings
        if max(settings.upload_retention_days, settings.job_retention_days, settings.audit_retention_days) <= 0:
            return None  # the operator keeps everything: nothing is swept either
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
            _log.info(
                "purged %d upload(s), %d job(s), %d batch(es), %d audit row(s), %d Message Batches record(s) "
                "and %d lease(s)", purged.uploads, purged.jobs, purged.batches, purged.audit, purged.batch_records,
                purged.batch_leases,
            )  # fmt: skip
        return purged
