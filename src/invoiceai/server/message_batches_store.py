"""Where the service keeps its Message Batches: the library's batch store, in the job store's database.

A service batch sent through the Message Batches API is one library batch job
(:meth:`~invoiceai.Extractor.submit_batch`), whose state must outlive the process that submitted
it and be reachable from every process of a fleet. The job store's database is both, so the
library's records live there too: :class:`DatabaseBatchStore` is a
:class:`~invoiceai.cache.batch_store.BatchStore` over two tables of this database
(``message_batch_records`` and ``message_batch_leases``), whatever the result cache is.

The ``message_batches`` table ties a service batch to its library job: which job it became
(``job_id``), which service jobs are its documents, in order (``members``), its state, who is
looking at it (a lease, as the job leases), and when to look next. The library job's id is
written in the same transaction as the job's first record (its ``meta``): a process killed
right after submitting leaves the id behind, so the next one resumes the job instead of
submitting the documents again, and a second submission of the same service batch is refused
before anything is sent.

**Sweeping.** A submission stores its documents' records first and its ``meta`` record (with the
binding) last, so a submission killed midway leaves records that no batch row refers to. Every
record carries the time it was first written (``created_at``, migration 0014), and the retention
purge (:mod:`invoiceai.server.retention`) deletes, with :func:`orphan_jobs` and
:func:`sweep_records`, the records of any library job that no ``waiting`` or ``running`` batch
refers to once its newest record is older than :data:`ORPHAN_AGE`; with :func:`sweep_leases`, the
leases that expired that long ago. A submission in progress is never taken for an orphan: it
writes its documents as it prepares them, in groups of about 32 MB, seconds or minutes apart, and
a day is far longer than that.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    select,
    tuple_,
)

from invoiceai.errors import ConfigurationError
from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql import ColumnElement

    from invoiceai.cache.batch_store import Records, Stale

__all__ = [
    "ORPHAN_AGE",
    "DatabaseBatchStore",
    "add_message_batch",
    "batch_leases",
    "batch_records",
    "delete_records_of",
    "expired",
    "message_batches",
    "orphan_jobs",
    "sweep_leases",
    "sweep_records",
]

metadata = MetaData()

batch_records = Table(
    "message_batch_records",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    # When the record was first written (naive UTC; 0014 gave the rows before it the migration's time).
    Column("created_at", DateTime, nullable=False),
    Index("ix_message_batch_records_job_created", "job", "created_at"),
)

batch_leases = Table(
    "message_batch_leases",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("expires", Float, nullable=False),  # wall-clock seconds, as the library's SQLite store
)

message_batches = Table(
    "message_batches",
    metadata,
    Column("batch_id", String(36), primary_key=True),
    Column("job_id", String(64), unique=True),  # the library's batch job, once submitted
    Column("members", Text),  # JSON list of the service job ids, in the order they were submitted
    Column("state", String(16), nullable=False),  # waiting, running, done, canceled
    Column("lease_owner", String(255)),
    Column("lease_expires", DateTime),
    Column("next_look_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("submitted_at", DateTime),
    Column("finished_at", DateTime),
    Column("last_error", String(300)),
    Index("ix_message_batches_state_next", "state", "next_look_at"),
)

_META = ("meta", "job")

ORPHAN_AGE = timedelta(days=1)
"""How long a library job's records (and an expired lease) stay with no live batch referring to them."""

_LIVE = ("waiting", "running")


def _insert(connection: Connection, table: Table) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


class DatabaseBatchStore:
    """The library's :class:`~invoiceai.cache.batch_store.BatchStore` over the job store's database.

    Args:
        engine: The job store.
        batch_id: The service batch this store submits for: the job's first record binds the
            job to it (see the module docstring). ``None`` for a store that only reads and collects.
        members: The service job ids submitted, in order, written with the binding.

    Raises (from :meth:`put`):
        ConfigurationError: The service batch is already bound to another library job.
    """

    def __init__(self, engine: Engine, *, batch_id: str | None = None, members: Iterable[str] = ()) -> None:
        self.engine = engine
        self.location = f"the job store ({engine.url.render_as_string(hide_password=True)})"
        self.batch_id = batch_id
        self.members = list(members)
        self._checked = False
        self.bound: str | None = None
        """The library job this store bound to its service batch, once it did."""

    def __repr__(self) -> str:
        return f"DatabaseBatchStore(location={self.location!r})"

    def put(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, replacing existing ones."""
        self._check_unbound(job)
        try:
            with self.engine.begin() as connection:
                if _META in records and self.batch_id is not None:
                    self._bind(connection, job)
                if records:
                    statement = _insert(connection, batch_records)
                    statement = statement.on_conflict_do_update(
                        index_elements=["job", "kind", "key"], set_={"value": statement.excluded.value}
                    )
                    connection.execute(statement, _rows(job, records))
        except ConfigurationError:
            # Refused at the binding: what this submission stored (the documents' bytes) is nobody's.
            self.delete(job)
            raise

    def add(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, keeping existing ones."""
        if not records:
            return
        self._check_unbound(job)
        with self.engine.begin() as connection:
            statement = _insert(connection, batch_records).on_conflict_do_nothing(index_elements=["job", "kind", "key"])
            connection.execute(statement, _rows(job, records))

    def read(self, job: str, kind: str) -> dict[str, str]:
        """Returns the records of ``kind``."""
        query = select(batch_records.c.key, batch_records.c.value).where(
            batch_records.c.job == job, batch_records.c.kind == kind
        )
        with reading(self.engine) as connection:
            return {str(key): str(value) for key, value in connection.execute(query)}

    def get(self, job: str, kind: str, key: str) -> str | None:
        """Returns one record, or ``None``."""
        query = select(batch_records.c.value).where(
            batch_records.c.job == job, batch_records.c.kind == kind, batch_records.c.key == key
        )
        with reading(self.engine) as connection:
            value = connection.execute(query).scalar()
        return None if value is None else str(value)

    def discard(self, job: str, names: Iterable[tuple[str, str]]) -> None:
        """Removes records in one transaction."""
        from sqlalchemy import bindparam

        rows = [{"j": job, "k": kind, "n": key} for kind, key in names]
        if not rows:
            return
        statement = delete(batch_records).where(
            batch_records.c.job == bindparam("j"), batch_records.c.kind == bindparam("k"),
            batch_records.c.key == bindparam("n"),
        )  # fmt: skip
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def jobs(self) -> list[str]:
        """Returns the jobs with a ``meta`` record."""
        query = select(batch_records.c.job).where(batch_records.c.kind == _META[0]).distinct().order_by("job")
        with reading(self.engine) as connection:
            return [str(job) for job in connection.execute(query).scalars()]

    def delete(self, job: str) -> None:
        """Removes the job's records and its lease."""
        with self.engine.begin() as connection:
            connection.execute(delete(batch_records).where(batch_records.c.job == job))
            connection.execute(delete(batch_leases).where(batch_leases.c.job == job))

    def lease(self, job: str, owner: str, seconds: float, *, stale: Stale | None = None) -> bool:
        """Takes or renews the lease with a conditional write (wall-clock expiry)."""
        now = time.time()
        with self.engine.begin() as connection:
            found = connection.execute(
                select(batch_leases.c.owner, batch_leases.c.expires).where(batch_leases.c.job == job).with_for_update()
            ).first()  # fmt: skip
            if found is None:
                statement = _insert(connection, batch_leases).values(job=job, owner=owner, expires=now + seconds)
                inserted = connection.execute(
                    statement.on_conflict_do_nothing(index_elements=["job"]).returning(batch_leases.c.job)
                ).first()  # fmt: skip
                return inserted is not None
            holder, expires = str(found.owner), float(found.expires)
            if holder != owner and expires > now and not (stale is not None and stale(holder)):
                return False
            changed = connection.execute(
                batch_leases.update()
                .where(batch_leases.c.job == job, batch_leases.c.owner == holder, batch_leases.c.expires == expires)
                .values(owner=owner, expires=now + seconds)
            ).rowcount  # a holder that renewed in between keeps its lease
            return bool(changed)

    def release(self, job: str, owner: str) -> None:
        """Deletes the lease if ``owner`` holds it."""
        with self.engine.begin() as connection:
            connection.execute(delete(batch_leases).where(batch_leases.c.job == job, batch_leases.c.owner == owner))

    def close(self) -> None:
        """Nothing to release: the engine belongs to the service."""

    def _check_unbound(self, job: str) -> None:
        """Refuses a submission's first write when its service batch is bound to another job already.

        The binding itself comes with the job's ``meta`` record (so a bound job always has one);
        this check spares a second submitter storing every document before :meth:`_bind` refuses it.
        """
        if self.batch_id is None or self._checked:
            return
        query = select(message_batches.c.job_id).where(message_batches.c.batch_id == self.batch_id)
        with reading(self.engine) as connection:
            bound = connection.execute(query).scalar()
        if bound is not None and bound != job:
            raise _sent_twice(self.batch_id)
        self._checked = True

    def _bind(self, connection: Connection, job: str) -> None:
        """Ties ``job`` to this store's service batch, unless it is tied to another job already."""
        import json

        table = message_batches
        unbound = table.c.job_id.is_(None) | (table.c.job_id == job)
        changed = connection.execute(
            table.update()
            .where(and_(table.c.batch_id == self.batch_id, unbound))
            .values(job_id=job, members=json.dumps(self.members))
        ).rowcount
        if not changed:
            raise _sent_twice(self.batch_id)
        self.bound = job


def _sent_twice(batch_id: str | None) -> ConfigurationError:
    return ConfigurationError(
        f"The service batch {batch_id} was already sent as another Message Batches job; it is not sent twice."
    )


def _rows(job: str, records: Records) -> list[dict[str, Any]]:
    now = utcnow()  # kept when a record is replaced: the first write dates it
    return [
        {"job": job, "kind": kind, "key": key, "value": value, "created_at": now}
        for (kind, key), value in records.items()
    ]


def add_message_batch(connection: Connection, batch_id: str) -> None:
    """Records a new service batch to send through the Message Batches API (in the batch's own transaction)."""
    now = utcnow()
    connection.execute(
        message_batches.insert().values(batch_id=batch_id, state="waiting", next_look_at=now, created_at=now)
    )


def _live(job: ColumnElement[Any] | str) -> ColumnElement[bool]:
    """Whether a batch still being driven refers to ``job``: its records are read at every look."""
    return exists().where(message_batches.c.job_id == job, message_batches.c.state.in_(_LIVE))


def orphan_jobs(connection: Connection, cutoff: datetime) -> list[str]:
    """The library jobs no live batch refers to whose newest record was written before ``cutoff``.

    The whole job's age counts, not each record's: a job is left alone while any of its records is
    recent. This groups the whole records table, so the purge runs it once, in a read (on SQLite
    it takes no write lock), and then deletes each job with :func:`sweep_records`.
    """
    query = (
        select(batch_records.c.job)
        .where(~_live(batch_records.c.job))
        .group_by(batch_records.c.job)
        .having(func.max(batch_records.c.created_at) < cutoff)
        .order_by(batch_records.c.job)
    )
    return [str(job) for job in connection.execute(query).scalars()]


def sweep_records(connection: Connection, job: str, cutoff: datetime, chunk: int) -> int:
    """Deletes up to ``chunk`` records of ``job``, an :func:`orphan_jobs` id, if it is still an orphan.

    The test is made again in the ``DELETE``, for this job alone (the ``(job, created_at)`` index
    answers it), since time passed since :func:`orphan_jobs`: a job bound to a batch meanwhile,
    or given a record written after ``cutoff``, keeps its records.
    """
    newer = batch_records.alias("newer")
    recent = exists().where(newer.c.job == job, newer.c.created_at >= cutoff)
    return _delete_records(connection, and_(batch_records.c.job == job, ~_live(job), ~recent), chunk)


def delete_records_of(connection: Connection, jobs: Any, chunk: int) -> int:
    """Deletes up to ``chunk`` records of the library jobs ``jobs`` (ids, or a query of ids)."""
    return _delete_records(connection, batch_records.c.job.in_(jobs), chunk)


def _delete_records(connection: Connection, which: ColumnElement[bool], chunk: int) -> int:
    table = batch_records
    keys = [
        tuple(row)
        for row in connection.execute(select(table.c.job, table.c.kind, table.c.key).where(which).limit(chunk))
    ]
    if not keys:
        return 0
    found = tuple_(table.c.job, table.c.kind, table.c.key).in_(keys)
    return int(connection.execute(delete(table).where(found, which)).rowcount)


def sweep_leases(connection: Connection, before: float, chunk: int) -> int:
    """Deletes up to ``chunk`` leases that expired before ``before`` (wall-clock seconds).

    A lease that ran out is as good as none (:meth:`DatabaseBatchStore.lease` takes it over), so
    deleting one changes no holder's rights; it only stops a killed collector's row lasting for ever.
    """
    old = expired(before)
    ids = list(connection.execute(select(batch_leases.c.job).where(old).limit(chunk)).scalars())
    if not ids:
        return 0
    return int(connection.execute(delete(batch_leases).where(batch_leases.c.job.in_(ids), old)).rowcount)


def expired(before: float) -> ColumnElement[bool]:
    """The leases that expired before ``before`` (wall-clock seconds)."""
    return batch_leases.c.expires < before
