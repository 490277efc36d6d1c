"""The job store's repository on the API side: uploads, jobs, batches, idempotency, quota, cancel.

Every function takes an :class:`~sqlalchemy.engine.Engine` and runs in its own transaction, so the
same code serves SQLite and PostgreSQL. Inserts that may race (the same upload twice, the same
idempotency key from two requests) use ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and read
back the winner, which both databases support (the returned row, not ``rowcount``, says whether
the insert happened: PostgreSQL reports ``-1`` for it). The worker side (claims, leases, results)
is in :mod:`invoiceai.server.leases`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from invoiceai.server.audit import record
from invoiceai.server.clock import next_midnight, utcnow
from invoiceai.server.db import reading
from invoiceai.server.errors import QuotaExceededError
from invoiceai.server.message_batches_store import add_message_batch
from invoiceai.server.models import batches, jobs, uploads
from invoiceai.server.outbox import enqueue

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, RowMapping

    from invoiceai.documents import Document

__all__ = [
    "JOB_VIEW_COLUMNS",
    "StoredUpload",
    "Submission",
    "cancel",
    "cancel_job",
    "create_batch",
    "create_job",
    "documents_today",
    "get_batch",
    "get_job",
    "job_rows_of_batch",
    "read_upload",
    "save_upload",
]

_RETRYABLE = ("failed", "canceled")

JOB_VIEW_COLUMNS = tuple(column.name for column in jobs.c if column.name != "result")
"""Every job column but the result, which can be large: what a job's view needs."""

# Stored while a job may run; cleared when it ends, since each may hold a secret.
_SECRET_COLUMNS = {"password": None, "url": None, "callback_url": None}


@dataclasses.dataclass(frozen=True)
class StoredUpload:
    """A document already in the job store (see :func:`save_upload`): its metadata, not its bytes.

    Attributes:
        sha256: The document's SHA-256 (the key of its row in ``uploads``).
        media_type: Its detected media type.
        size: Its length in bytes.
    """

    sha256: str
    media_type: str
    size: int


@dataclasses.dataclass(frozen=True)
class Submission:
    """One document to extract, as the API received it.

    Attributes:
        source_name: Display name (the upload's file name, or the URL without credentials).
        schema_name: Which schema to fill (a name the service knows).
        pages: Page selection, ``"1-3,7"``.
        password: For an encrypted PDF; kept only until the job ends, never shown.
        callback_url: Where the webhook goes when the job ends.
        document: The uploaded document, or ``None`` for a URL (or an upload already stored).
        url: The URL to fetch when the job runs, or ``None`` for an upload.
        upload: An upload already stored with :func:`save_upload` (a batch stores each document
            as it reads it, so no batch is ever held in memory whole).
    """

    source_name: str
    schema_name: str = "invoice"
    pages: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    callback_url: str | None = dataclasses.field(default=None, repr=False)
    document: Document | None = dataclasses.field(default=None, repr=False)
    url: str | None = dataclasses.field(default=None, repr=False)
    upload: StoredUpload | None = None

    @property
    def document_sha256(self) -> str | None:
        """The uploaded document's SHA-256 (unknown for a URL until it is fetched)."""
        if self.document is not None:
            return self.document.document_id
        return None if self.upload is None else self.upload.sha256

    def default_idempotency_key(self) -> str:
        """SHA-256 of the document (or URL) and every option that changes the answer."""
        options = {
            "document": self.document_sha256,
            "url": self.url,
            "schema": self.schema_name,
            "pages": self.pages,
            # Whether a password was given, not the password: the key is stored and must not reveal it.
            "password": self.password is not None,
        }
        return "sha256:" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()


def _insert_ignoring_conflicts(
    connection: Connection, table: Any, columns: Sequence[str], values: dict[str, Any]
) -> bool:
    """Inserts a row unless one with the same ``columns`` exists; ``True`` when it inserted.

    Under concurrent inserts PostgreSQL waits for the first transaction and then does nothing,
    so the caller can read the winner back once this returns ``False``.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(columns))
        .returning(table.c[columns[0]])
    )
    return connection.execute(statement).first() is not None


def _save_upload(connection: Connection, document: Document) -> StoredUpload:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    now = utcnow()
    insert = dialect.insert(uploads).values(
        sha256=document.document_id, media_type=document.media_type, size=len(document.data), content=document.data,
        created_at=now,
    )  # fmt: skip
    # Stored again: the retention purge (retention.py) counts its days from now, and the row lock
    # this takes makes a purge running at the same moment leave the row alone.
    connection.execute(insert.on_conflict_do_update(index_elements=["sha256"], set_={"created_at": now}))
    return StoredUpload(document.document_id, document.media_type, len(document.data))


def save_upload(engine: Engine, document: Document) -> StoredUpload:
    """Stores ``document``'s bytes (once per SHA-256) and returns what a :class:`Submission` needs of it."""
    with engine.begin() as connection:
        return _save_upload(connection, document)


def _check_quota(connection: Connection, owner: str, quota: int, adding: int) -> None:
    if quota <= 0:
        return
    now = utcnow()
    used = _count_today(connection, owner, now)
    if used + adding > quota:
        retry = int((next_midnight(now) - now).total_seconds()) + 1
        raise QuotaExceededError(
            f"This key's daily quota of {quota} documents is used up ({used} today); it resets at midnight UTC.",
            retry_after=retry,
        )


def _insert_job(
    connection: Connection,
    owner: str,
    submission: Submission,
    key: str,
    batch: tuple[str, int] | None,
    *,
    message_batch: bool = False,
) -> str:
    job_id = str(uuid.uuid4())
    if submission.document is not None:
        _save_upload(connection, submission.document)
    values = {
        "id": job_id, "owner": owner, "status": "queued", "idempotency_key": key,
        "source_name": submission.source_name[:300], "upload_sha256": submission.document_sha256,
        "document_sha256": submission.document_sha256, "url": submission.url, "schema_name": submission.schema_name,
        "pages": submission.pages, "password": submission.password, "callback_url": submission.callback_url,
        "attempt": 0, "created_at": utcnow(),
        "batch_id": None if batch is None else batch[0], "batch_index": None if batch is None else batch[1],
        "message_batch": message_batch,
    }  # fmt: skip
    if not _insert_ignoring_conflicts(connection, jobs, ["owner", "idempotency_key"], values):
        return ""
    record(
        connection, key_id=owner, action="state:queued", outcome="queued", job_id=job_id,
        batch_id=None if batch is None else batch[0], document_sha256=submission.document_sha256,
    )  # fmt: skip
    return job_id


def create_job(
    engine: Engine, owner: str, submission: Submission, *, idempotency_key: str | None = None, daily_quota: int = 0
) -> tuple[RowMapping, bool]:
    """Queues a job for ``submission``, or returns the job its idempotency key already names.

    With no ``idempotency_key`` the default one (:meth:`Submission.default_idempotency_key`) is
    used, and a job of it that failed or was canceled is not returned again: asking again with
    the same document and options is then a retry. An explicit key always returns its job.

    Returns:
        The job's row and whether it was created now.

    Raises:
        QuotaExceededError: A new job would pass ``daily_quota`` (``0``: none).
    """
    key = idempotency_key or submission.default_idempotency_key()
    with engine.begin() as connection:
        for _ in range(2):
            existing = connection.execute(
                jobs.select().where(jobs.c.owner == owner, jobs.c.idempotency_key == key)
            ).mappings().first()  # fmt: skip
            if existing is not None and (idempotency_key is not None or existing["status"] not in _RETRYABLE):
                _audit_create(connection, owner, existing, "duplicate")
                return existing, False
            if existing is not None:  # a retry: the old job keeps its history under a retired key
                retired = f"{key}:retired:{existing['id']}"
                connection.execute(jobs.update().where(jobs.c.id == existing["id"]).values(idempotency_key=retired))
            _check_quota(connection, owner, daily_quota, 1)
            job_id = _insert_job(connection, owner, submission, key, None)
            if job_id:  # else another request inserted the same key first: read it back
                row = connection.execute(jobs.select().where(jobs.c.id == job_id)).mappings().one()
                _audit_create(connection, owner, row, "ok")
                return row, True
    raise RuntimeError("unreachable: an idempotency key that neither inserts nor reads back")  # pragma: no cover


def _audit_create(connection: Connection, owner: str, row: RowMapping, outcome: str) -> None:
    record(
        connection, key_id=owner, action="create", outcome=outcome, job_id=row["id"], batch_id=row["batch_id"],
        document_sha256=row["document_sha256"],
    )  # fmt: skip


def create_batch(
    engine: Engine,
    owner: str,
    submissions: Sequence[Submission],
    *,
    message_batches: bool = False,
    idempotency_key: str | None = None,
    daily_quota: int = 0,
) -> tuple[RowMapping, bool]:
    """Queues a batch with a job per submission (in input order), or returns the batch the key names.

    With ``message_batches`` the jobs are marked so that no worker claims them: the batch is
    sent through the Message Batches API by its driver (:mod:`invoiceai.server.message_batches`).

    Two requests with the same ``idempotency_key`` at once get the same batch: the second
    insert finds the first one's row and returns it.

    Raises:
        QuotaExceededError: The batch would pass ``daily_quota``: no job of it is queued.
    """
    with engine.begin() as connection:
        existing = _batch_named(connection, owner, idempotency_key)
        if existing is None:
            _check_quota(connection, owner, daily_quota, len(submissions))
            batch_id = str(uuid.uuid4())
            values = {
                "id": batch_id, "owner": owner, "created_at": utcnow(), "total": len(submissions),
                "message_batches": message_batches, "idempotency_key": idempotency_key,
            }  # fmt: skip
            if _insert_ignoring_conflicts(connection, batches, ["owner", "idempotency_key"], values):
                _insert_batch_jobs(connection, owner, batch_id, submissions, message_batch=message_batches)
                if message_batches:  # its driver sends it (invoiceai.server.message_batches)
                    add_message_batch(connection, batch_id)
                return connection.execute(batches.select().where(batches.c.id == batch_id)).mappings().one(), True
            existing = _batch_named(connection, owner, idempotency_key)  # a request with the key won the race
        if existing is None:  # pragma: no cover (a conflict is only possible on the key)
            raise RuntimeError("unreachable: a batch that neither inserts nor reads back")
        record(connection, key_id=owner, action="create", outcome="duplicate", batch_id=existing["id"])
        return existing, False


def _batch_named(connection: Connection, owner: str, idempotency_key: str | None) -> RowMapping | None:
    if idempotency_key is None:
        return None
    return connection.execute(
        batches.select().where(batches.c.owner == owner, batches.c.idempotency_key == idempotency_key)
    ).mappings().first()  # fmt: skip


def _insert_batch_jobs(
    connection: Connection, owner: str, batch_id: str, submissions: Sequence[Submission], *, message_batch: bool
) -> None:
    for index, submission in enumerate(submissions):
        job_id = _insert_job(
            connection, owner, submission, f"batch:{batch_id}:{index}", (batch_id, index), message_batch=message_batch
        )
        record(
            connection, key_id=owner, action="create", outcome="ok", job_id=job_id, batch_id=batch_id,
            document_sha256=submission.document_sha256,
        )  # fmt: skip


def get_job(engine: Engine, job_id: str, owner: str, *, columns: Sequence[str] = ()) -> RowMapping | None:
    """The job, if it exists and belongs to ``owner`` (only ``columns`` when given, e.g. :data:`JOB_VIEW_COLUMNS`)."""
    selected = [jobs.c[name] for name in columns] if columns else [jobs]
    with reading(engine) as connection:
        return connection.execute(
            select(*selected).where(jobs.c.id == job_id, jobs.c.owner == owner)
        ).mappings().first()  # fmt: skip


def get_batch(engine: Engine, batch_id: str, owner: str) -> RowMapping | None:
    """The batch, if it exists and belongs to ``owner``."""
    with reading(engine) as connection:
        return connection.execute(
            batches.select().where(batches.c.id == batch_id, batches.c.owner == owner)
        ).mappings().first()  # fmt: skip


def job_rows_of_batch(engine: Engine, batch_id: str, *, columns: Sequence[str] = ()) -> list[RowMapping]:
    """A batch's jobs in input order (only ``columns`` when given: results can be large)."""
    selected = [jobs.c[name] for name in columns] if columns else [jobs]
    with reading(engine) as connection:
        query = select(*selected).where(jobs.c.batch_id == batch_id).order_by(jobs.c.batch_index)
        return list(connection.execute(query).mappings())


def cancel(engine: Engine, job_id: str, owner: str) -> tuple[RowMapping | None, bool]:
    """Cancels a queued or running job (a finished one is left as it is).

    Returns the job's row (``None`` when not found) and whether this call canceled it.

    A running extraction is not interrupted, but its result is never stored: the worker's
    conditional update finds the job canceled. The password, URL and callback URL are dropped
    from the store at once. The row returned for a job this call canceled still holds the
    callback URL it had (in memory only), so the caller can send the job's webhook; it has no
    ``result`` column (a canceled job has none; a finished one's is read with :func:`get_job`).
    """
    with engine.begin() as connection:
        found = connection.execute(
            select(jobs.c.callback_url).where(jobs.c.id == job_id, jobs.c.owner == owner).with_for_update()
        ).first()  # fmt: skip
        if found is None:
            return None, False
        changed = connection.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.status.in_(("queued", "running")))
            .values(status="canceled", finished_at=utcnow(), lease_owner=None, lease_expires=None, **_SECRET_COLUMNS)
        ).rowcount
        row = _row_with_callback(connection, job_id, found.callback_url if changed else None)
        outcome = "ok" if changed else f"already {row['status']}"
        record(
            connection, key_id=owner, action="cancel", outcome=outcome, job_id=job_id, batch_id=row["batch_id"],
            document_sha256=row["document_sha256"],
        )  # fmt: skip
        if changed:
            record(
                connection, key_id=owner, action="state:canceled", outcome="canceled", job_id=job_id,
                batch_id=row["batch_id"], document_sha256=row["document_sha256"],
            )  # fmt: skip
            enqueue(connection, row, "canceled")  # its webhook, in the same transaction
        return row, bool(changed)


def cancel_job(engine: Engine, job_id: str, owner: str) -> RowMapping | None:
    """Cancels a queued or running job, as :func:`cancel`; returns its row, ``None`` when not found."""
    return cancel(engine, job_id, owner)[0]


def _row_with_callback(connection: Connection, job_id: str, callback_url: str | None) -> RowMapping:
    """The job's stored row but its result, with ``callback_url`` (no longer stored) put back."""
    from sqlalchemy import String, literal

    others = [column for column in jobs.c if column.name not in ("callback_url", "result")]
    query = select(*others, literal(callback_url, String()).label("callback_url")).where(jobs.c.id == job_id)
    return connection.execute(query).mappings().one()


def documents_today(engine: Engine, owner: str) -> int:
    """Jobs ``owner`` created since midnight UTC (what the daily quota counts)."""
    with reading(engine) as connection:
        return _count_today(connection, owner, utcnow())


def _count_today(connection: Connection, owner: str, now: datetime) -> int:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    query = select(func.count()).select_from(jobs).where(jobs.c.owner == owner, jobs.c.created_at >= start)
    return int(connection.execute(query).scalar_one())


def read_upload(engine: Engine, sha256: str) -> tuple[bytes, str] | None:
    """An uploaded document's bytes and media type."""
    with reading(engine) as connection:
        row = connection.execute(
            select(uploads.c.content, uploads.c.media_type).where(uploads.c.sha256 == sha256)
        ).first()  # fmt: skip
    return None if row is None else (bytes(row[0]), str(row[1]))
