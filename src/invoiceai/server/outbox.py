"""Durable completion webhooks: an outbox table in the job store, and the deliverer that drains it.

When a job ends, a row for its webhook is written to ``webhook_deliveries`` in the transaction that
ends it (:func:`enqueue`, called by :mod:`~invoiceai.server.leases` and
:mod:`~invoiceai.server.store`; :func:`invoiceai.server.runner.notify` then wakes the deliverer).
The row's id is the delivery id ``<job id>:<status>``, so one ending never makes two
rows. A :class:`Deliverer` (a thread of the embedded API process, and of every fleet worker) then:

1. claims due rows with a lease: a conditional ``UPDATE`` only one process can make (on PostgreSQL
   the candidates are read with ``FOR UPDATE SKIP LOCKED``), which also counts the attempt;
2. makes that one attempt (:func:`~invoiceai.server.webhooks.send_attempt`: the SSRF guard, a fresh
   timestamp and signature);
3. records it with another conditional ``UPDATE`` and an audit row: delivered; given up after
   ``webhook_attempts`` attempts (or at once when the guard refuses the URL); or pending again, due
   after the backoff.

A process killed mid-attempt leaves its row leased; once the lease runs out another deliverer
claims the next attempt, so a receiver may see an attempt it already answered again (with the next
attempt number): the delivery id lets it drop the repeat. The callback URL, which may hold a token,
is kept only while the delivery may still be attempted, then set to NULL, as the job's own secrets
are when it ends. The webhook secret is never stored: each attempt reads it from the settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text, and_, func, or_, select

from invoiceai.secrets import get_logger
from invoiceai.server.audit import record
from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading
from invoiceai.server.models import metadata
from invoiceai.server.outbox_loop import AttemptLoop

if TYPE_CHECKING:
    import httpx2
    from sqlalchemy.engine import Connection, Engine, RowMapping
    from sqlalchemy.sql.elements import ColumnElement

    from invoiceai.server.context import ServiceContext
    from invoiceai.server.settings import ServiceSettings
    from invoiceai.server.webhooks import WebhookAttempt

__all__ = [
    "DELIVERED",
    "GAVE_UP",
    "PENDING",
    "Claimed",
    "Deliverer",
    "Policy",
    "Sent",
    "claim_due",
    "delivery_id",
    "enqueue",
    "settle",
    "webhook_deliveries",
]

_log = get_logger("invoiceai.server")

PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "gave_up"
"""A delivery's states: attempts left to make; a 2xx answer came; no attempt will be made again."""

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),  # the Invoiceai-Delivery id, "<job id>:<status>"
    Column("job_id", String(36), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("batch_id", String(36)),
    Column("document_sha256", String(64)),
    Column("status", String(16), nullable=False),  # the job status the webhook reports
    Column("url", Text),  # the callback URL; NULL once the delivery ends (it may hold a token)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # attempts claimed so far
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_owner", String(255)),
    Column("lease_expires", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("last_error", String(300)),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_job", "job_id"),
)

_OWNER_LENGTH = 255
_D = webhook_deliveries.c


def delivery_id(job_id: str, status: str) -> str:
    """The ``Invoiceai-Delivery`` id of a job's webhook: ``<job id>:<status>``, the same from every process."""
    return f"{job_id}:{status}"


def enqueue(connection: Connection, job: Mapping[Any, Any], status: str) -> bool:
    """Writes the webhook row of ``job`` ending in ``status``, inside the caller's transaction.

    Args:
        connection: The transaction that ends the job (or one right after it).
        job: The job's row, with its ``callback_url`` (which the ending drops from ``jobs``).
        status: The final status reported.

    Returns:
        ``True`` when a row was written; ``False`` without a callback URL, or when the row exists.
    """
    url = job.get("callback_url")
    if not url:
        return False
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    now = utcnow()
    values = {
        "id": delivery_id(job["id"], status), "job_id": job["id"], "owner": job["owner"],
        "batch_id": job.get("batch_id"), "document_sha256": job.get("document_sha256"), "status": status, "url": url,
        "state": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }  # fmt: skip
    statement = (
        dialect.insert(webhook_deliveries)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_D.id)
    )
    return connection.execute(statement).first() is not None


@dataclasses.dataclass(frozen=True)
class Policy:
    """How deliveries are attempted (from the service's settings, see :meth:`of`).

    Attributes:
        attempts: Most attempts per delivery.
        backoff_s: Wait after the first failed attempt; it doubles each attempt.
        max_backoff_s: Longest wait between attempts.
        timeout_s: Limit on one attempt.
        lease_seconds: How long a claimed attempt is held: longer than the attempt can take
            (resolving and sending, each bounded by ``timeout_s``) with room to record it.
    """

    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 10.0

    @property
    def lease_seconds(self) -> float:
        """Two timeouts (name resolution, then the request) and 30 s to record the attempt."""
        return 2 * self.timeout_s + 30.0

    @classmethod
    def of(cls, settings: ServiceSettings) -> Policy:
        """The policy of ``webhook_attempts`` and ``webhook_backoff_seconds``."""
        return cls(attempts=max(1, settings.webhook_attempts), backoff_s=settings.webhook_backoff_seconds)


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A deliverer's hold on attempt ``number`` of one delivery (valid while its lease lasts).

    Attributes:
        row: The delivery's row as claimed (with its callback URL: never shown in a repr).
        number: The attempt's number, 1 for the first.
        worker: Who holds it.
    """

    row: RowMapping = dataclasses.field(repr=False)
    number: int
    worker: str


@dataclasses.dataclass(frozen=True)
class Sent:
    """What one attempt came to.

    Attributes:
        report: The attempt as the webhook sender reported it (URL masked).
        delivered: A 2xx answer came.
        refused: The attempt must not be repeated (the SSRF guard refused the URL; no secret).
        retry_after: Seconds a 429 or 503 asked to wait.
    """

    report: WebhookAttempt
    delivered: bool
    refused: bool = False
    retry_after: float | None = None


def _due(now: datetime) -> ColumnElement[bool]:
    free = or_(_D.lease_expires.is_(None), _D.lease_expires < now)
    return and_(_D.state == PENDING, _D.next_attempt_at <= now, free)


def claim_due(
    engine: Engine, worker: str, policy: Policy, *, limit: int = 16, now: datetime | None = None
) -> list[Claimed]:
    """Claims the next attempt of up to ``limit`` due deliveries for ``worker``.

    A delivery whose attempts were all claimed already (by processes that died mid-attempt) is
    given up instead of claimed.
    """
    now = utcnow() if now is None else now
    worker = worker[:_OWNER_LENGTH]
    query = select(_D.id).where(_due(now)).order_by(_D.next_attempt_at, _D.id).limit(limit)
    with reading(engine) as connection:  # most looks find nothing: they take no write lock on SQLite
        if connection.execute(query.limit(1)).first() is None:
            return []
    claimed: list[Claimed] = []
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for found in list(connection.execute(query).scalars()):
            mine = and_(_D.id == found, _due(now))
            if _give_up_spent(connection, mine, policy, now):
                continue
            changed = connection.execute(
                webhook_deliveries.update()
                .where(mine, _D.attempts < policy.attempts)
                .values(
                    attempts=_D.attempts + 1, lease_owner=worker,
                    lease_expires=now + timedelta(seconds=policy.lease_seconds),
                )
            ).rowcount  # fmt: skip
            if changed:
                row = connection.execute(webhook_deliveries.select().where(_D.id == found)).mappings().one()
                claimed.append(Claimed(row=row, number=int(row["attempts"]), worker=worker))
    return claimed


def _give_up_spent(connection: Connection, mine: ColumnElement[bool], policy: Policy, now: datetime) -> bool:
    spent = and_(mine, _D.attempts >= policy.attempts)
    row = connection.execute(webhook_deliveries.select().where(spent)).mappings().first()
    if row is None:
        return False
    reason = "its last attempt was claimed by a process that stopped before recording it"
    connection.execute(
        webhook_deliveries.update().where(spent).values(
            state=GAVE_UP, url=None, finished_at=now, lease_owner=None, lease_expires=None, last_error=reason
        )
    )  # fmt: skip
    _audit(connection, row, GAVE_UP, f"gave up after {row['attempts']} attempt(s): {reason}")
    return True


def settle(engine: Engine, claimed: Claimed, sent: Sent, policy: Policy, *, now: datetime | None = None) -> str:
    """Records one attempt (an audit row) and what follows it; returns the delivery's new state.

    The row changes only while the claim holds (the same worker, the same attempt): a deliverer
    whose lease ran out during the attempt still audits it but leaves the row to its successor.
    """
    from invoiceai.server.webhooks import backoff_delay

    now = utcnow() if now is None else now
    number = claimed.number
    if sent.delivered:
        state = DELIVERED
    elif sent.refused or number >= policy.attempts:
        state = GAVE_UP
    else:
        state = PENDING
    error = sent.report.error
    values: dict[str, Any] = {"lease_owner": None, "lease_expires": None, "last_error": error and error[:300]}
    if state == PENDING:
        wait = backoff_delay(number, policy.backoff_s, max_s=policy.max_backoff_s, retry_after=sent.retry_after)
        values["next_attempt_at"] = now + timedelta(seconds=wait)
    else:
        values.update(state=state, url=None, finished_at=now)
    held = and_(
        _D.id == claimed.row["id"], _D.state == PENDING, _D.lease_owner == claimed.worker, _D.attempts == number
    )
    with engine.begin() as connection:
        changed = connection.execute(webhook_deliveries.update().where(held).values(**values)).rowcount
        _audit_attempt(connection, claimed.row, sent.report)
        if changed and state == GAVE_UP:
            why = "the URL was refused" if sent.refused else "every attempt failed"
            _audit(connection, claimed.row, GAVE_UP, f"gave up after {number} attempt(s): {why}")
    return state if changed else "lost"


def _audit_attempt(connection: Connection, row: Mapping[Any, Any], attempt: WebhookAttempt) -> None:
    """One ``webhook`` row per attempt: never the URL (the attempt's error has it masked already)."""
    answer = "no answer" if attempt.status is None else f"HTTP {attempt.status}"
    detail = f"attempt {attempt.attempt}: {answer} in {attempt.seconds:.2f} s"
    if attempt.error is not None:
        detail += f"; {attempt.error}"
    _audit(connection, row, "delivered" if attempt.ok else "failed", detail)


def _audit(connection: Connection, row: Mapping[Any, Any], outcome: str, detail: str) -> None:
    record(
        connection, key_id=row["owner"], action="webhook", outcome=outcome, job_id=row["job_id"],
        batch_id=row["batch_id"], document_sha256=row["document_sha256"], detail=detail,
    )  # fmt: skip


def next_due(engine: Engine, *, now: datetime | None = None) -> datetime | None:
    """When the next unleased pending attempt is due (``None``: none is waiting)."""
    now = utcnow() if now is None else now
    free = or_(_D.lease_expires.is_(None), _D.lease_expires < now)
    query = select(func.min(_D.next_attempt_at)).where(_D.state == PENDING, free)
    with reading(engine) as connection:
        found: datetime | None = connection.execute(query).scalar_one_or_none()
    return found


class Deliverer:
    """A thread that makes the due webhook attempts of the job store, then runs ``chores``.

    Args:
        context: The process's store and settings (its ``worker_id`` holds the leases).
        poll_seconds: Longest sleep between looks at the store (a row another process wrote
            does not wake this one).
        chores: Called after each look (the retention purge, which keeps its own interval).
        transport: The httpx2 transport, for tests.
    """

    def __init__(
        self,
        context: ServiceContext,
        *,
        poll_seconds: float = 1.0,
        chores: Sequence[Callable[[], object]] = (),
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.context = context
        self.policy = Policy.of(context.settings)
        self.poll_seconds = poll_seconds
        self.chores = tuple(chores)
        self.transport = transport
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempts: AttemptLoop | None = None

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` is called: long chores (the purge) check it between their steps."""
        return self._stop

    def start(self) -> None:
        """Starts the thread (once) and has the process's webhooks wake it."""
        if self._thread is not None:
            return
        self.context.seams.on_webhook = self.wake
        self._thread = threading.Thread(target=self._loop, name="invoiceai-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tells the thread a delivery was queued."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stops after the attempts in flight (bounded by their timeout); the rest stay in the store."""
        self._stop.set()
        self._wake.set()
        if self.context.seams.on_webhook == self.wake:
            self.context.seams.on_webhook = None
        if self._thread is not None:
            self._thread.join(self.policy.lease_seconds if timeout is None else timeout)
            self._thread = None

    def run_once(self) -> int:
        """Claims the due attempts, makes them at once (concurrently), records them; returns how many."""
        claims = claim_due(self.context.engine, self.context.worker_id, self.policy)
        if not claims:
            return 0
        if self._attempts is not None and threading.current_thread() is self._thread:
            self._attempts.run(self._attempt_all(claims))
        else:  # a call from outside the thread (a one-off drain, tests): a loop of its own
            with AttemptLoop() as attempts:
                attempts.run(self._attempt_all(claims))
        return len(claims)

    async def _attempt_all(self, claims: Sequence[Claimed]) -> None:
        from invoiceai.server.webhooks import webhook_client

        async with webhook_client(transport=self.transport, timeout_s=self.policy.timeout_s) as client:
            outcomes = await asyncio.gather(*(self._send(claimed, client) for claimed in claims))
        # Recorded one after the other: on SQLite, writers running at once only wait for each other.
        for claimed, sent in zip(claims, outcomes, strict=True):
            if settle(self.context.engine, claimed, sent, self.policy) == GAVE_UP:
                job_id, error = claimed.row["job_id"], sent.report.error
                _log.warning("gave up the webhook of job %s after %d attempt(s): %s", job_id, claimed.number, error)

    async def _send(self, claimed: Claimed, client: httpx2.AsyncClient) -> Sent:
        from invoiceai.documents.urls import display_url
        from invoiceai.errors import UnsafeURLError
        from invoiceai.server.webhooks import WebhookAttempt, callback_body, send_attempt

        row = claimed.row
        reports: list[WebhookAttempt] = []
        secret = self.context.settings.webhook_secret
        if not secret or not row["url"]:
            why = "refused: the service has no webhook secret (INVOICEAI_SERVER_WEBHOOK_SECRET)"
            masked = display_url(row["url"]) if row["url"] else ""
            return Sent(WebhookAttempt(masked, claimed.number, None, why, 0.0), delivered=False, refused=True)
        body = callback_body(row["job_id"], row["status"], batch_id=row["batch_id"])
        try:
            delivered, retry_after = await send_attempt(
                row["url"], body, secret=secret.encode(), number=claimed.number, delivery_id=row["id"],
                on_attempt=reports.append, timeout_s=self.policy.timeout_s, settings=self.context.library_settings,
                client=client,
            )  # fmt: skip
        except UnsafeURLError:  # reported first: never retried
            return Sent(reports[-1], delivered=False, refused=True)
        except Exception as exc:  # a defect in sending: the attempt failed; the next one may work
            _log.exception("a webhook attempt of job %s broke", row["job_id"])
            report = WebhookAttempt(display_url(row["url"]), claimed.number, None, type(exc).__name__, 0.0)
            return Sent(report, delivered=False)
        return Sent(reports[-1], delivered=delivered, retry_after=retry_after)

    def _loop(self) -> None:
        with AttemptLoop() as self._attempts:
            self._drain()
        self._attempts = None

    def _drain(self) -> None:
        while not self._stop.is_set():
            made = 0
            try:
                made = self.run_once()
                for chore in self.chores:
                    chore()
            except Exception:  # the store is unreachable: say so, wait, try again
                _log.warning("the webhook deliverer could not reach the job store", exc_info=True)
            if made:
                continue
            self._wake.wait(self._idle_seconds())
            self._wake.clear()

    def _idle_seconds(self) -> float:
        try:
            due = next_due(self.context.engine)
        except Exception:  # the store is away: poll
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return max(0.0, min(self.poll_seconds, (due - utcnow()).total_seconds()))
