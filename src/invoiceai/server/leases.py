"""The job store's worker side: claims with a lease, lease renewal, and storing a result once.

A worker *claims* a job with one conditional ``UPDATE``: queued, or running under a lease that has
expired (its worker died), becomes running under the worker's lease with ``attempt + 1``. Only one
of two racing workers can match that ``WHERE``. The result is stored with another conditional
``UPDATE`` that matches only the job still running at the claimed attempt, so a job that was
canceled, or taken over after a lease ran out, never has a result stored twice. On PostgreSQL the
candidates are read with ``FOR UPDATE SKIP LOCKED`` so workers do not queue behind one another.

A job whose workers keep dying on it (it was claimed ``max_attempts`` times without an outcome)
is failed with :class:`~invoiceai.server.errors.AttemptsExhaustedError` instead of being
claimed again. When a job ends, its password, URL and callback URL are dropped from the store;
the :class:`Claim` a worker holds keeps them in memory for the webhook.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select

from invoiceai.server.audit import record
from invoiceai.server.clock import utcnow
from invoiceai.server.models import jobs
from invoiceai.server.outbox import enqueue

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Connection, Engine, RowMapping
    from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "LEASE_OWNER_LENGTH",
    "Claim",
    "Outcome",
    "claim",
    "claimable",
    "finish",
    "release",
    "release_worker",
    "renew",
]

LEASE_OWNER_LENGTH = 255
"""Longest worker id stored as a lease's owner (a longer one, from a long host name, is cut)."""

# Cleared when a job ends: each may hold a secret (a signed URL, a token in the callback URL).
_SECRETS_GONE = {"password": None, "url": None, "callback_url": None}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: valid while the job is running at this ``attempt``.

    Attributes:
        job: The job's row as claimed (with its password and callback URL: never shown in a repr).
        attempt: The attempt number this claim made (1 for the first run).
        worker: The worker's id.
    """

    job: RowMapping = dataclasses.field(repr=False)
    attempt: int
    worker: str


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a job ended, as the worker stores it.

    Attributes:
        status: ``succeeded`` or ``failed``.
        result: The result JSON (an extraction, or a failure) as text.
        document_sha256: The document's SHA-256 (known for URL jobs only once fetched).
        origin: ``model``, ``einvoice`` or ``cache`` for a success.
        model: The model that answered, if one did.
        input_tokens: Input tokens spent.
        output_tokens: Output tokens spent.
        cost_usd: Cost as a decimal string.
        findings: Number of validation findings.
        error_type: The error's class name for a failure.
        error_message: The error's (masked) message for a failure.
    """

    status: str
    result: str
    document_sha256: str | None = None
    origin: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: str = "0"
    findings: int = 0
    error_type: str | None = None
    error_message: str | None = None


def _runnable(now: datetime) -> ColumnElement[bool]:
    # A job of a Message Batch is run by its batch's driver (server/message_batches.py), never claimed.
    waiting = or_(jobs.c.status == "queued", and_(jobs.c.status == "running", jobs.c.lease_expires < now))
    return and_(waiting, jobs.c.message_batch.is_not(True))


def claimable(engine: Engine, *, limit: int = 10) -> list[str]:
    """Ids of jobs a worker may claim now, oldest first."""
    now = utcnow()
    query = select(jobs.c.id).where(_runnable(now)).order_by(jobs.c.created_at, jobs.c.id).limit(limit)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [str(job_id) for job_id in connection.execute(query).scalars()]


def claim(engine: Engine, job_id: str, worker: str, lease_seconds: float, *, max_attempts: int = 0) -> Claim | None:
    """Claims ``job_id`` for ``worker``; ``None`` when it is not claimable (finished, canceled, leased).

    With ``max_attempts`` (``0``: no limit), a runnable job already claimed that many times is
    failed instead (:class:`~invoiceai.server.errors.AttemptsExhaustedError`), and ``None`` returned.
    """
    now = utcnow()
    worker = worker[:LEASE_OWNER_LENGTH]
    with engine.begin() as connection:
        if max_attempts > 0 and _give_up(connection, job_id, now, max_attempts):
            return None
        changed = connection.execute(
            jobs.update()
            .where(jobs.c.id == job_id, _runnable(now))
            .values(
                status="running", attempt=jobs.c.attempt + 1, lease_owner=worker,
                lease_expires=now + timedelta(seconds=lease_seconds),
                started_at=func.coalesce(jobs.c.started_at, now),
            )
        ).rowcount  # fmt: skip
        if not changed:
            return None
        row = connection.execute(jobs.select().where(jobs.c.id == job_id)).mappings().one()
        record(
            connection, key_id=row["owner"], action="state:running", outcome="running", job_id=job_id,
            batch_id=row["batch_id"], document_sha256=row["document_sha256"], detail=f"attempt {row['attempt']}",
        )  # fmt: skip
        return Claim(job=row, attempt=int(row["attempt"]), worker=worker)


def _give_up(connection: Connection, job_id: str, now: datetime, max_attempts: int) -> bool:
    """Fails the job if it is runnable but was claimed ``max_attempts`` times already; ``True`` when it did."""
    from invoiceai.extractor import ExtractionFailure
    from invoiceai.server.errors import AttemptsExhaustedError

    exhausted = and_(jobs.c.id == job_id, _runnable(now), jobs.c.attempt >= max_attempts)
    found = connection.execute(
        select(jobs.c.id, jobs.c.owner, jobs.c.batch_id, jobs.c.source_name, jobs.c.document_sha256,
               jobs.c.attempt, jobs.c.callback_url)
        .where(exhausted)
    ).first()  # fmt: skip
    if found is None:
        return False
    error = AttemptsExhaustedError(
        f"The job was started {found.attempt} times and its worker stopped each time before it finished "
        "(killed, crashed, out of memory, or shut down); it is not tried again. Check the worker logs, "
        "then submit the document again to retry."
    )
    failure = ExtractionFailure(error=error, source=found.source_name, document_id=found.document_sha256)
    changed = connection.execute(
        jobs.update().where(exhausted).values(
            # The failure as the command line writes it (``failure.to_dict()``), as runner.result_json does.
            status="failed", result=json.dumps(failure.to_dict(), ensure_ascii=False),
            error_type=type(error).__name__, error_message=error.message,
            finished_at=now, lease_owner=None, lease_expires=None, **_SECRETS_GONE,
        )
    ).rowcount  # fmt: skip
    if changed:
        record(
            connection, key_id=found.owner, action="state:failed", outcome="failed", job_id=job_id,
            batch_id=found.batch_id, document_sha256=found.document_sha256, detail=type(error).__name__,
        )  # fmt: skip
        enqueue(connection, found._mapping, "failed")  # its webhook, in the same transaction
    return bool(changed)


def _held(claim: Claim) -> ColumnElement[bool]:
    return and_(jobs.c.id == claim.job["id"], jobs.c.status == "running", jobs.c.attempt == claim.attempt)


def renew(engine: Engine, claim: Claim, lease_seconds: float) -> bool:
    """Extends the claim's lease; ``False`` when the claim is no longer held (canceled, taken over)."""
    with engine.begin() as connection:
        changed = connection.execute(
            jobs.update().where(_held(claim)).values(lease_expires=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
    return bool(changed)


def finish(engine: Engine, claim: Claim, outcome: Outcome) -> bool:
    """Stores the outcome if the claim still holds; ``True`` when it was stored (exactly once).

    The job's password, URL and callback URL are dropped from the store with it (``claim.job``
    still holds them, for the webhook).
    """
    values = dataclasses.asdict(outcome)
    if values["document_sha256"] is None:
        values["document_sha256"] = claim.job["document_sha256"]
    with engine.begin() as connection:
        changed = connection.execute(
            jobs.update()
            .where(_held(claim))
            .values(**values, finished_at=utcnow(), lease_owner=None, lease_expires=None, **_SECRETS_GONE)
        ).rowcount
        if changed:
            record(
                connection, key_id=claim.job["owner"], action=f"state:{outcome.status}", outcome=outcome.status,
                job_id=claim.job["id"], batch_id=claim.job["batch_id"], document_sha256=values["document_sha256"],
                cost_usd=outcome.cost_usd, detail=outcome.error_type,
            )  # fmt: skip
            # Its webhook, in the same transaction, with the hash the outcome found (a URL job had none before).
            enqueue(connection, {**claim.job, "document_sha256": values["document_sha256"]}, outcome.status)
    return bool(changed)


def release(engine: Engine, claim: Claim) -> bool:
    """Gives a claimed job back to the queue (a worker stopping cleanly); ``True`` when it did."""
    with engine.begin() as connection:
        changed = connection.execute(
            jobs.update().where(_held(claim)).values(status="queued", lease_owner=None, lease_expires=None)
        ).rowcount
    return bool(changed)


def release_worker(engine: Engine, worker: str) -> int:
    """Gives every job ``worker`` still holds back to the queue (a pool stopping); how many it gave back.

    A thread still running one of them finds its claim gone: its result is not stored, and the
    job runs again elsewhere (the result cache answers it when the first run reached the model).
    """
    with engine.begin() as connection:
        changed = connection.execute(
            jobs.update()
            .where(jobs.c.status == "running", jobs.c.lease_owner == worker[:LEASE_OWNER_LENGTH])
            .values(status="queued", lease_owner=None, lease_expires=None)
        ).rowcount
    return int(changed)
