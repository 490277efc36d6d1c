"""Service batches sent through the Message Batches API (half price, results within 24 hours).

``POST /v1/batches`` with ``"message_batches": true`` stores the batch and its jobs as usual, but
marks the jobs so that no worker claims them (``jobs.message_batch``; see
:func:`invoiceai.server.leases.claimable`). A *driver* sends them instead:

1. **Submit.** The batch's documents (read from the job store, in input order) become one library
   batch job (:meth:`~invoiceai.Extractor.submit_batch`) whose state lives in the job store's
   database (:class:`~invoiceai.server.message_batches_store.DatabaseBatchStore`), so every process
   of a fleet can collect it. The library job's id is written with its first record: a driver
   killed right after submitting leaves it behind, and the next one resumes the job instead of
   paying for the documents twice. The jobs become ``running``.
2. **Look.** Every ``message_batches_poll_seconds`` the driver takes one look
   (:meth:`~invoiceai.Extractor.poll_batch`): the library stores what arrived, sends follow-up
   rounds (re-asks, retries of errored or expired items) and returns the results known so far.
   Each result is stored through the live jobs' exactly-once path
   (:func:`~invoiceai.server.leases.finish`, a conditional update on the running job), so a
   canceled job's result is dropped, and the job's webhook, metrics and audit rows follow as for
   a live job. Usage and cost are the library's: the batch price.
   A canceled job's document is left out of the follow-up rounds (``poll_batch(skip=...)``): it
   is not sent, nor billed, again.
3. **Close.** Once every job has its result (or was canceled), the Message Batches still running
   for it are canceled at the API (:meth:`~invoiceai.Extractor.cancel_batch`: the items not
   processed yet are not billed), the library job's stored state is deleted and the batch is
   ``done`` (or ``canceled``).

One process looks at a given batch at a time: a lease on its ``message_batches`` row, taken with
a conditional update as the job leases are (the library also holds its own lease on the job for
each look). In embedded mode the driver is a thread of the worker pool; in a fleet, a thread of
every ``invoiceai worker``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from invoiceai.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    InvoiceAIError,
    RequestRejectedError,
)
from invoiceai.secrets import get_logger
from invoiceai.server import leases, store
from invoiceai.server import message_batches_inputs as inputs
from invoiceai.server.audit import record
from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading
from invoiceai.server.errors import InvalidRequestError
from invoiceai.server.message_batches_store import DatabaseBatchStore, message_batches
from invoiceai.server.models import FINAL_STATES, jobs
from invoiceai.server.runner import notify, result_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine, RowMapping

    from invoiceai.server.context import ServiceContext

__all__ = [
    "LEASE_SECONDS",
    "MessageBatchAbandonedError",
    "MessageBatchesUnavailableError",
    "check_available",
    "drive",
    "gives_up",
    "outcome_of",
    "start_driver",
    "unavailable",
]

_log = get_logger("invoiceai.server")

LEASE_SECONDS = 600.0
"""How long a driver's hold on a batch lasts: a driver killed mid-look delays the batch this long at most."""

_ACTIVE = ("waiting", "running")


class MessageBatchAbandonedError(BackendError):
    """A Message Batch whose looks kept failing was given up; its unfinished jobs fail with this error."""


class MessageBatchesUnavailableError(InvalidRequestError):
    """The batch asked for the Message Batches API, which this service's backend does not have.

    A 422 ``invalid-request`` problem (the option cannot be honoured here), whose detail says why
    and that leaving ``message_batches`` out runs the batch live.
    """


def unavailable(context: ServiceContext) -> str | None:
    """Why this service cannot send batches through the Message Batches API, or ``None`` when it can."""
    try:
        backend = context.extractor().backend
    except InvoiceAIError as exc:
        return exc.message
    if callable(getattr(backend, "batch_session", None)):
        return None
    return (
        f"This service's extractor uses the {type(backend).__name__} backend, which has no Message Batches side "
        "(only the built-in Claude backend has one)."
    )


def check_available(context: ServiceContext) -> None:
    """Refuses a Message Batches request the service cannot honour, rather than running it live.

    Raises:
        MessageBatchesUnavailableError: :func:`unavailable` names a reason.
    """
    reason = unavailable(context)
    if reason is not None:
        raise MessageBatchesUnavailableError(
            f"{reason} Leave message_batches out (or false) to run the batch live, at the live price."
        )


def poll_seconds(context: ServiceContext) -> float:
    """Seconds between two looks at a running Message Batch."""
    return float(getattr(context.settings, "message_batches_poll_seconds", 30.0))


def start_driver(context: ServiceContext, stop: threading.Event) -> threading.Thread:
    """Starts a daemon thread that runs :func:`drive` until ``stop`` is set; returns it."""

    def run() -> None:
        tick = min(2.0, poll_seconds(context))  # how soon a new batch is sent
        while not stop.is_set():
            try:
                drive(context, stop=stop)
            except Exception:  # the store is unreachable: say so, try again
                _log.warning("the Message Batches driver could not reach the job store", exc_info=True)
            stop.wait(tick)

    thread = threading.Thread(target=run, name="invoiceai-message-batches", daemon=True)
    thread.start()
    return thread


def drive(context: ServiceContext, *, stop: threading.Event | None = None) -> int:
    """Submits or looks at every Message Batch that is due and free; returns how many it handled.

    A batch whose look fails (the API is down, say) keeps its state and is looked at again after
    the poll interval; the error's first line is kept in ``message_batches.last_error``. An error
    that cannot clear up by itself (see :func:`gives_up`), or any failed look once the batch is
    ``message_batches_give_up_hours`` old, ends the batch instead: its unfinished jobs fail with
    the error.
    """
    engine, owner = context.engine, f"{context.worker_id}:message-batches"
    handled = 0
    for batch_id in _due(engine):
        if stop is not None and stop.is_set():
            break
        if not _take(engine, batch_id, owner):
            continue
        error = None
        try:
            _handle(context, batch_id)
        except Exception as exc:
            _log.warning("the Message Batch of batch %s could not be handled; it is tried again", batch_id,
                         exc_info=not isinstance(exc, InvoiceAIError))  # fmt: skip
            error = _first_line(exc)
            _give_up(context, batch_id, exc)
        finally:
            _let_go(engine, batch_id, owner, poll_seconds(context), error)
        handled += 1
    return handled


def gives_up(error: BaseException) -> bool:
    """Whether a look that failed with ``error`` ends the batch at once (no later look could go otherwise).

    A configuration error (no API key, a schema no longer served, a backend set up otherwise than
    the job was submitted with, a library job that is gone), an API key refused, or a request the
    API refuses as such. Connection errors, overloads, rate limits and a busy job clear up.
    """
    return isinstance(error, (ConfigurationError, AuthenticationError, RequestRejectedError))


def _give_up(context: ServiceContext, batch_id: str, error: BaseException) -> None:
    """Fails the batch's unfinished jobs and closes it, if ``error`` or the batch's age says no look will do."""
    row = _row(context.engine, batch_id)
    hours = float(getattr(context.settings, "message_batches_give_up_hours", 168.0))
    too_old = utcnow() - row["created_at"] > timedelta(hours=hours)
    if not (gives_up(error) or too_old):
        return
    cause = (
        error
        if isinstance(error, InvoiceAIError) and gives_up(error)
        else MessageBatchAbandonedError(
            f"The Message Batch of batch {batch_id} was given up: its looks still failed {hours:g} hours after it "
            f"was stored (last error: {_first_line(error)}). Submit the documents again."
        )
    )
    # The library's "is stored: collect it to resume it" no longer holds: the job is deleted with the batch.
    cause.message = cause.message.removesuffix(f" Batch job {row['job_id']} is stored: collect it to resume it.")
    _log.warning("the Message Batch of batch %s is given up: %s", batch_id, cause.message)
    try:
        unfinished = [job["id"] for job in _jobs(context.engine, batch_id) if job["status"] not in FINAL_STATES]
        _fail_all(context, unfinished, cause, sent_as=row["job_id"])
        if row["job_id"] is not None:  # a batch never sent is closed by the next look (nothing left to send)
            _close(context, batch_id, row["job_id"], canceled=False)
    except Exception:  # the store went away meanwhile: the next look tries again
        _log.warning("the Message Batch of batch %s could not be given up", batch_id, exc_info=True)


def _first_line(error: BaseException) -> str:
    return (error.message if isinstance(error, InvoiceAIError) else type(error).__name__).splitlines()[0][:300]


def _due(engine: Engine) -> list[str]:
    now, table = utcnow(), message_batches
    query = (
        select(table.c.batch_id)
        .where(table.c.state.in_(_ACTIVE), table.c.next_look_at <= now, _free(now))
        .order_by(table.c.next_look_at)
        .limit(100)
    )
    with reading(engine) as connection:
        return [str(batch_id) for batch_id in connection.execute(query).scalars()]


def _free(now: Any) -> Any:
    return or_(message_batches.c.lease_expires.is_(None), message_batches.c.lease_expires < now)


def _take(engine: Engine, batch_id: str, owner: str) -> bool:
    now, table = utcnow(), message_batches
    with engine.begin() as connection:
        changed = connection.execute(
            table.update()
            .where(table.c.batch_id == batch_id, table.c.state.in_(_ACTIVE), _free(now))
            .values(lease_owner=owner, lease_expires=now + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
    return bool(changed)


def _let_go(engine: Engine, batch_id: str, owner: str, wait: float, error: str | None) -> None:
    table = message_batches
    with engine.begin() as connection:
        connection.execute(
            table.update()
            .where(table.c.batch_id == batch_id, table.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires=None, next_look_at=utcnow() + timedelta(seconds=wait),
                    last_error=error)
        )  # fmt: skip


def _handle(context: ServiceContext, batch_id: str) -> None:
    """Submits the batch, or takes one look at it; closes it when it is over."""
    row = _row(context.engine, batch_id)
    if row["job_id"] is None:
        every = _jobs(context.engine, batch_id)
        waiting = [job for job in every if job["status"] not in FINAL_STATES]
        if not waiting:  # canceled before it was sent (or failed: the service cannot send it)
            _close(context, batch_id, None, canceled=all(job["status"] == "canceled" for job in every))
            return
        _submit(context, batch_id, waiting)
        row = _row(context.engine, batch_id)
    if row["state"] == "waiting":  # sent (a driver killed right after sending left it so)
        _set(context.engine, batch_id, state="running", submitted_at=utcnow())
    members: list[str] = json.loads(row["members"])
    job_id = str(row["job_id"])
    # A member may be gone (deleted by retention once it ended): its result has nowhere to go.
    rows = [job for job in _jobs(context.engine, None, members) if job["status"] not in FINAL_STATES]
    if not rows:  # every job ended meanwhile (canceled, or gone)
        _close(context, batch_id, job_id, canceled=_all_canceled(context.engine, batch_id))
        return
    wanted = {job["id"] for job in rows}
    skip = [index for index, member in enumerate(members) if member not in wanted]  # canceled, or gone
    batch_store = DatabaseBatchStore(context.engine)
    progress = inputs.collector(context, job_id).poll_batch(
        job_id,
        schema=inputs.schema_of(context, rows[0]),
        password=inputs.password_of(rows),
        batch_store=batch_store,
        skip=skip,
    )
    # Running only once a look went through: a batch whose first round could not be sent stays queued.
    _mark_running(context, members, job_id)
    by_id = {job["id"]: job for job in _jobs(context.engine, None, members)}
    for member, result in zip(members, progress.results, strict=True):
        job = by_id.get(member)
        if result is not None and job is not None and job["status"] == "running":
            _store(context, job, result)
    if all(result is not None or index in skip for index, result in enumerate(progress.results)):
        _close(context, batch_id, job_id, canceled=False)


def _submit(context: ServiceContext, batch_id: str, waiting: Sequence[RowMapping]) -> None:
    """Sends the waiting jobs' documents as one library batch job; its id is bound to the batch with its first record.

    Raises:
        InvoiceAIError: Nothing could be sent and no job was stored (the next look tries again). A
            configuration error (no API key, say) fails the jobs instead, as it would fail them live.
    """
    first = waiting[0]
    batch_store = DatabaseBatchStore(context.engine, batch_id=batch_id, members=[job["id"] for job in waiting])
    try:
        context.extractor().submit_batch(
            inputs.sources(context, waiting), schema=inputs.schema_of(context, first), pages=first["pages"],
            password=inputs.password_of(waiting), batch_store=batch_store,
        )  # fmt: skip
    except InvoiceAIError as exc:
        if _row(context.engine, batch_id)["job_id"] is None:  # nothing stored, nothing sent
            if isinstance(exc, ConfigurationError):
                _fail_all(context, [job["id"] for job in waiting], exc)
            raise
        if gives_up(exc) and batch_store.bound is not None:  # stored by this submission, but no look would send it
            raise
        # The job is stored: the look that follows resumes it (a create whose answer was lost is found again).
        _log.warning("the first round of batch %s was not sent (%s); it is resumed", batch_id, exc.message)


def _mark_running(context: ServiceContext, members: Sequence[str], job_id: str) -> None:
    """Queued jobs of a submitted batch become running (their attempt is the Message Batch), in one statement.

    Only the rows the update changed are audited and counted (``RETURNING``): a job canceled
    meanwhile, or running already, is left alone.
    """
    if not members:
        return
    now = utcnow()
    with context.engine.begin() as connection:
        started = list(connection.execute(
            jobs.update()
            .where(jobs.c.id.in_(members), jobs.c.status == "queued", jobs.c.message_batch.is_(True))
            .values(status="running", attempt=jobs.c.attempt + 1, started_at=func.coalesce(jobs.c.started_at, now),
                    lease_owner=None, lease_expires=None)
            .returning(jobs.c.id, jobs.c.owner, jobs.c.batch_id, jobs.c.document_sha256)
        ))  # fmt: skip
        for row in started:
            record(
                connection, key_id=row.owner, action="state:running", outcome="running", job_id=row.id,
                batch_id=row.batch_id, document_sha256=row.document_sha256, detail=f"Message Batches job {job_id}",
            )  # fmt: skip
    for _ in started:  # counted once the transaction is in
        context.seams.job_state("running")


def outcome_of(result: Any) -> leases.Outcome:
    """A library result (an ``Extraction`` or an ``ExtractionFailure``) as the job store keeps it."""
    usage = result.usage
    spent = {
        "result": result_json(result), "document_sha256": result.document_id, "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens, "cost_usd": f"{usage.cost_usd:f}",
    }  # fmt: skip
    if result.ok:
        return leases.Outcome(
            status="succeeded", origin=result.origin, model=result.model, findings=len(result.findings), **spent
        )
    return leases.Outcome(status="failed", error_type=type(result.error).__name__, error_message=result.error.message,
                          **spent)  # fmt: skip


def _store(context: ServiceContext, job: RowMapping, result: Any) -> None:
    """Stores one job's result exactly once (a canceled job's is dropped), then its webhook."""
    claim = leases.Claim(job=job, attempt=int(job["attempt"]), worker=context.worker_id)
    outcome = outcome_of(result)
    if leases.finish(context.engine, claim, outcome):
        context.seams.job_state(outcome.status)
        notify(context, job, outcome.status)


def _fail_all(
    context: ServiceContext, members: Sequence[str], error: InvoiceAIError, *, sent_as: str | None = None
) -> None:
    from invoiceai.extractor import ExtractionFailure

    _mark_running(context, members, sent_as or "not sent")
    by_id = {job["id"]: job for job in _jobs(context.engine, None, members)}
    for member in members:
        job = by_id.get(member)
        if job is not None and job["status"] == "running":
            failure = ExtractionFailure(error=error, source=job["source_name"], document_id=job["document_sha256"])
            _store(context, job, failure)


def _close(context: ServiceContext, batch_id: str, job_id: str | None, *, canceled: bool) -> None:
    """Ends the batch: the library job's stored state is deleted (its results are in the jobs now)."""
    if job_id is not None:
        try:  # what is still running has no reader any more: the items not processed yet are not billed
            context.extractor().cancel_batch(job_id, batch_store=DatabaseBatchStore(context.engine))
        except InvoiceAIError as exc:
            _log.warning("the Message Batches of job %s were not canceled: %s", job_id, exc.message)
        try:
            # force: a batch whose jobs were all canceled may still run; its results would never be read.
            context.extractor().delete_batch(job_id, force=True, batch_store=DatabaseBatchStore(context.engine))
        except InvoiceAIError as exc:  # gone already, or busy: the records stay, nothing else depends on them
            _log.warning("the Message Batches job %s was not deleted: %s", job_id, exc.message)
    _set(context.engine, batch_id, state="canceled" if canceled else "done", finished_at=utcnow())


def _all_canceled(engine: Engine, batch_id: str) -> bool:
    every = _jobs(engine, batch_id)
    return bool(every) and all(job["status"] == "canceled" for job in every)


def _set(engine: Engine, batch_id: str, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(message_batches.update().where(message_batches.c.batch_id == batch_id).values(**values))


def _row(engine: Engine, batch_id: str) -> RowMapping:
    with reading(engine) as connection:
        return connection.execute(
            message_batches.select().where(message_batches.c.batch_id == batch_id)
        ).mappings().one()  # fmt: skip


def _jobs(engine: Engine, batch_id: str | None, ids: Sequence[str] = ()) -> list[RowMapping]:
    """A batch's jobs (or the jobs ``ids``), every column but the result."""
    query = select(*[jobs.c[name] for name in store.JOB_VIEW_COLUMNS])
    query = query.where(jobs.c.batch_id == batch_id) if batch_id is not None else query.where(jobs.c.id.in_(ids))
    with reading(engine) as connection:
        return list(connection.execute(query.order_by(jobs.c.batch_index)).mappings())
