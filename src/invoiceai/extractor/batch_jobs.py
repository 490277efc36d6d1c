"""Message Batches jobs: submit documents now, collect the results later, from any process.

A job is a set of documents extracted through the Message Batches API at half the live price.
:class:`BatchRunner` does one *look* at a job at a time (:meth:`BatchRunner.look`), holding the
job's lease in the store (:meth:`~invoiceai.cache.batch_store.BatchStore.lease`) for the whole
look, so two collectors never replay the same job and send the same follow-up twice:

0. **Resolve.** A round whose create went unanswered is looked for among the batches created
   since (:mod:`~invoiceai.extractor.batch_pending`): adopted, waited for, or sent again.
1. **Fetch.** For every batch whose results are not stored: ask its status; once it has ended,
   store every result line (idempotently, by custom id), then mark the batch collected. A batch
   the API no longer knows (404) is marked collected without lines: its items count as expired.
2. **Replay.** For every document whose last request is not in a running batch: load it, prepare
   it as live extraction does (an e-invoice is read, a cached document answered from the cache,
   the pages opened), and replay its live job with the stored answers
   (:func:`~invoiceai.backends.claude.batch.replay.replay`). The job either finishes (the result is
   completed, cached and validated exactly as live), fails as it would live, or needs a request.
3. **Submit.** The requests needed form the next round, cut into batches within the per-batch
   limits. Each batch is written down as pending, created, and then recorded (the batch id with
   its items, one atomic write). A batch the API refuses (400, 413) fails only its documents.

Submitting a job is writing its documents and one look; collecting is looking until every
document has its result. Nothing is held between looks but the store, so a collector killed at
any point (even ``SIGKILL``) loses nothing already stored and sends nothing twice: stored results
are replayed, never asked for again, a request is only sent when no attempt of it is stored, and
a create cut off before its answer is found again by its job-specific custom ids.

A job is collected with the settings it was submitted with (:attr:`JobMeta.options
<invoiceai.extractor.batch_state.JobMeta.options>`): ``prefer_embedded``, ``cross_check``,
``validation_context`` and ``max_attempts`` are taken from the store; the backend's model, mode,
detail, ``max_reasks`` and ``token_budget`` must match them, or the collect is refused.

A document whose request is in flight is not opened at all, and a document is released as soon
as its look is done, so memory holds one document at a time plus the round being cut.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.batch.replay import Finished, Submit, Waiting, replay
from invoiceai.backends.claude.batch.session import BatchGoneError
from invoiceai.backends.claude.steps import SourceReader
from invoiceai.errors import ConfigurationError, ExtractionValidationError, InputError, InvoiceAIError
from invoiceai.extractor.batch_errors import BatchBusyError, BatchTimeoutError
from invoiceai.extractor.batch_final import final_record, parse_final
from invoiceai.extractor.batch_pending import resolve_pending
from invoiceai.extractor.batch_round import FOLLOW_UPS, FollowUp, Look, RoundSender, live_usage
from invoiceai.extractor.batch_setup import check_setup, holder_gone, job_options, lease_owner, pipeline_for
from invoiceai.extractor.batch_sources import load_source, source_records
from invoiceai.extractor.batch_state import (
    BatchJob,
    BatchProgress,
    JobMeta,
    JobState,
    collected_record,
    new_job_id,
    now_iso,
    result_records,
    schema_name,
)
from invoiceai.extractor.failures import failure
from invoiceai.extractor.pipeline import Clock, Pipeline
from invoiceai.extractor.schedule import relabel

if TYPE_CHECKING:
    from invoiceai.backends.claude.batch.items import BatchLimits
    from invoiceai.backends.claude.batch.session import BatchSession
    from invoiceai.cache.batch_store import BatchStore
    from invoiceai.documents import Source
    from invoiceai.extractor.batch_state import Result
    from invoiceai.render import Pages

__all__ = ["DEFAULT_LEASE_SECONDS", "BatchRunner"]

DEFAULT_LEASE_SECONDS = 600.0
"""How long a collector's lease on a job lasts unless renewed (it is renewed before every create)."""

_SOURCE_GROUP_BYTES = 32 * 1024 * 1024  # stored sources are written in groups of about this size
_FINALS_PER_WRITE = 500  # final results are written (and their bytes dropped) in groups of this many


class BatchRunner:
    """Submits, looks at and collects the batch jobs of one extractor's pipeline.

    Args:
        pipeline: The extractor's pipeline (load, prepare, complete; the cache).
        session: The Claude backend's batch side.
        store: Where jobs keep their state.
        fingerprint: The backend's fingerprint, stored with a job and checked on collect.
        password: For encrypted PDFs (never stored: pass it to every call that needs it).
        lease_seconds: How long this runner's lease on a job lasts unless renewed.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        session: BatchSession,
        store: BatchStore,
        *,
        fingerprint: str,
        password: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.pipeline = pipeline
        self.session = session
        self.store = store
        self.fingerprint = fingerprint
        self.password = password
        self.lease_seconds = lease_seconds
        self.owner = lease_owner()
        self.sender = RoundSender(session, store, owner=self.owner, lease_seconds=lease_seconds, busy=self._busy)
        self._done: dict[str, dict[int, Result]] = {}

    # -- the calls --------------------------------------------------------------------------------

    def submit(self, sources: Iterable[Source], schema: type[Any], pages: Pages, limits: BatchLimits) -> BatchJob:
        """Stores a new job for ``sources`` and submits its first round.

        Raises:
            InvoiceAIError: The first round could not be sent; the message names the job, which is
                stored and resumed by collecting it.
        """
        meta = JobMeta(
            id=new_job_id(), created_at=now_iso(),
            model=self.session.model, fingerprint=self.fingerprint, schema=schema_name(schema),
            pages=_pages_text(pages), documents=0, limits=limits, options=job_options(self.pipeline, self.session),
        )  # fmt: skip
        count = self._store_sources(meta.id, sources)
        meta = dataclasses.replace(meta, documents=count)
        self.store.put(meta.id, dict([meta.record()]))  # last: a job is listed once all of it is stored
        try:
            return self.look(meta.id, schema=schema, fetch=False).job
        except InvoiceAIError as exc:
            exc.message = f"{exc.message} Batch job {meta.id} is stored: collect it to resume it."
            exc.args = (exc.message,)
            raise

    def status(self, job_id: str) -> BatchJob:
        """Returns the job's stored state, with the running batches' status asked from the API."""
        state = JobState.load(self.store, job_id)
        running = 0
        for batch_id in state.open_batches():
            try:
                running += not self.session.retrieve(batch_id).ended
            except BatchGoneError:
                continue  # the next look marks it collected
        return BatchJob.of(state, running=running)

    def collect(
        self,
        job_id: str,
        *,
        schema: type[Any] | None = None,
        poll_interval: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
        follow_up: FollowUp = "batch",
    ) -> BatchProgress:
        """Looks at the job until every document has its result, sleeping between looks that change nothing.

        While another collector holds the job's lease, this one waits for it as for a running batch.

        Raises:
            BatchTimeoutError: ``timeout`` seconds passed first (the job stays resumable).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress, changed = self.look_once(job_id, schema=schema, follow_up=follow_up)
            if progress is not None and progress.finished:
                return progress
            if changed:
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise self.timed_out(job_id, timeout)
            sleep(poll_interval if left is None else min(poll_interval, left))

    def look(
        self, job_id: str, *, schema: type[Any] | None = None, fetch: bool = True, follow_up: FollowUp = "batch",
        skip: Collection[int] = (),
    ) -> BatchProgress:  # fmt: skip
        """One look at the job (see the module docstring): resolve, fetch, replay, submit.

        Args:
            job_id: The job.
            schema: The schema, when it cannot be imported by name here.
            fetch: Ask the API about running batches first (the submission's own look does not).
            follow_up: Send the requests this look needs in a batch, or live (not at submission).
            skip: Indices of documents the caller no longer wants: nothing is sent for them (their
                result stays ``None`` unless one is known already).

        Raises:
            BatchBusyError: Another collector holds the job's lease.
            ConfigurationError: ``follow_up`` is neither ``"batch"`` nor ``"live"``.
        """
        return self._look(job_id, schema=schema, fetch=fetch, follow_up=follow_up, skip=skip)[0]

    def look_once(
        self, job_id: str, *, schema: type[Any] | None = None, follow_up: FollowUp = "batch"
    ) -> tuple[BatchProgress | None, bool]:
        """One look for a waiting collector: ``(progress, changed)``, or ``(None, False)`` while the job is busy."""
        try:
            return self._look(job_id, schema=schema, fetch=True, follow_up=follow_up)
        except BatchBusyError:
            return None, False

    @staticmethod
    def timed_out(job_id: str, timeout: float | None) -> BatchTimeoutError:
        """The error for a collect that ran out of time."""
        return BatchTimeoutError(
            f"Batch job {job_id} is not finished after {timeout} seconds; it is stored and keeps running: "
            "collect it again later (or with a longer timeout).",
            job_id=job_id,
        )

    # -- one look -----------------------------------------------------------------------------------

    def _look(
        self, job_id: str, *, schema: type[Any] | None, fetch: bool, follow_up: FollowUp, skip: Collection[int] = ()
    ) -> tuple[BatchProgress, bool]:
        if follow_up not in FOLLOW_UPS:
            raise ConfigurationError(f"follow_up must be one of {list(FOLLOW_UPS)}, not {follow_up!r}.")
        if not self.store.lease(job_id, self.owner, self.lease_seconds, stale=holder_gone):
            raise self._busy(job_id)
        try:
            return self._leased_look(job_id, schema=schema, fetch=fetch, live=fetch and follow_up == "live", skip=skip)
        finally:
            self.store.release(job_id, self.owner)

    def _leased_look(
        self, job_id: str, *, schema: type[Any] | None, fetch: bool, live: bool, skip: Collection[int]
    ) -> tuple[BatchProgress, bool]:
        state = JobState.load(self.store, job_id)
        check_setup(state.meta, self.fingerprint, self.session)
        fetched = False
        if fetch:
            fetched = resolve_pending(state, self.session, self.store)
            if fetched:
                state = JobState.load(self.store, job_id)
            fetched = self._fetch(state) or fetched
        if fetched:
            state = JobState.load(self.store, job_id)
        options = state.meta.options
        look = Look(
            state=state, pipeline=pipeline_for(self.pipeline, options), owners=state.owners(), round=state.rounds() + 1,
            max_attempts=int(options.get("max_attempts") or self.session.max_attempts), changed=fetched, live=live,
        )  # fmt: skip
        look.results.update(self._done.get(job_id, {}))
        schema = schema or state.meta.schema_class()
        for index in range(state.meta.documents):
            if index in look.results:
                continue
            if index in state.finals:
                stored = parse_final(state.finals[index], schema)
                if stored is None and not _reloadable(state.docs.get(index, {})):
                    stored = _unfit_final(state, index, schema)
                if stored is not None:
                    look.results[index] = stored
                    continue
            if index in skip:  # not wanted any more: no follow-up is sent (nor billed) for it
                continue
            self._document(look, index, schema)
            self.sender.flush(look, final=False)
        self.sender.flush(look, final=True)
        for copy, owner in look.copies.items():
            if owner in look.results:
                look.results[copy] = relabel(look.results[owner], _name(state.docs.get(copy, {})))
        self._keep_finals(state, look.results)
        self._done[job_id] = look.results
        results = tuple(look.results.get(index) for index in range(state.meta.documents))
        final = JobState.load(self.store, job_id) if look.changed else state
        progress = BatchProgress(job=BatchJob.of(final), results=results, live_usage=live_usage(final, self.session))
        return progress, look.changed

    def _keep_finals(self, state: JobState, results: Mapping[int, Result]) -> None:
        """Stores the final result of each document whose bytes the store holds, then drops those bytes.

        The result is written first: a kill in between leaves both, never neither.
        """
        done = [index for index in results if index not in state.finals and state.docs.get(index, {}).get("stored")]
        for start in range(0, len(done), _FINALS_PER_WRITE):
            group = done[start : start + _FINALS_PER_WRITE]
            self.store.put(
                state.meta.id,
                {name: text for index in group for name, text in final_record(index, results[index]).items()},
            )
            self.store.discard(state.meta.id, [("data", str(index)) for index in group])

    def _busy(self, job_id: str) -> BatchBusyError:
        return BatchBusyError(
            f"Batch job {job_id} is being collected by another process right now; try again later (a collector "
            f"that was killed blocks it for at most {self.lease_seconds:g} seconds).",
            job_id=job_id,
        )

    def _store_sources(self, job_id: str, sources: Iterable[Source]) -> int:
        """Writes the ``doc`` records in groups of about 32 MB; returns how many there are."""
        group: dict[tuple[str, str], str] = {}
        size = count = 0
        for index, source in enumerate(sources):
            records = source_records(index, source, self.pipeline)
            group.update(records)
            size, count = size + sum(len(value) for value in records.values()), index + 1
            if size >= _SOURCE_GROUP_BYTES:
                self.store.put(job_id, group)
                group, size = {}, 0
        if group:
            self.store.put(job_id, group)
        return count

    def _fetch(self, state: JobState) -> bool:
        """Stores the results of every batch that has ended (or is gone); tells whether any had."""
        fetched = False
        items: dict[str, list[str]] = {}
        for key, record in state.requests.items():
            items.setdefault(record.batch, []).append(key)
        for batch_id in state.open_batches():
            skipped = 0
            try:
                info = self.session.retrieve(batch_id)
                if not info.ended:
                    continue
                counts = info.request_counts
                lines = self.session.results(batch_id)
                self.store.add(state.meta.id, result_records(lines, items.get(batch_id, ())))
                skipped = lines.skipped
            except BatchGoneError:
                counts = {}  # archived, deleted or past 29 days: its items count as expired
            self.store.put(state.meta.id, collected_record(batch_id, state.batches[batch_id], counts, skipped=skipped))
            fetched = True
        return fetched

    def _document(self, look: Look, index: int, schema: type[Any]) -> None:
        """Decides about one document: a result, a copy, a request for the next round, or wait."""
        attempts = look.state.attempts(index)
        if attempts and _in_flight(attempts):
            return
        clock = Clock()
        pipeline = look.pipeline
        document = prepared = reader = None
        try:
            job_id = look.state.meta.id
            document = load_source(look.state.docs[index], pipeline, lambda: self.store.get(job_id, "data", str(index)))
            sent = look.state.sent_as(index)
            if sent is not None and sent != document.document_id:
                raise InputError(
                    f"{document.name} changed after it was submitted in batch job {look.state.meta.id}; "
                    "restore it, or submit it again as a new job.",
                    document_id=document.document_id,
                )
            owner = look.owners.get(document.document_id)
            if sent is None and owner is not None and owner != index:
                look.copies[index] = owner  # the same bytes: extracted once, as live
                return
            prepared = pipeline.prepare(
                document, schema, look.state.meta.pages, self.password, clock, look_up=sent is None
            )
            if prepared.result is not None:
                look.results[index] = prepared.result
                return
            assert prepared.served is not None
            job = self.session.new_job(
                prepared.served,
                schema,
                document_id=document.document_id,
                validation_context=pipeline.validation_context,
            )
            reader = SourceReader(prepared.served)
            outcome = replay(
                job, reader, lambda sequence: attempts.get(sequence, []), max_attempts=look.max_attempts,
                secrets=self.session.secrets, ahead=look.state.ahead(index), pricing=self.session.usage_of,
                token_budget=look.state.meta.options.get("token_budget") or self.session.token_budget,
            )  # fmt: skip
            if isinstance(outcome, Finished):
                look.results[index] = pipeline.complete(prepared, outcome.result)
            elif isinstance(outcome, Submit):
                self.sender.queue(look, index, document.document_id, outcome)
            elif isinstance(outcome, Waiting):  # pragma: no cover - caught by _in_flight above
                look.owners[document.document_id] = index
        except Exception as exc:  # this document fails; the job goes on
            look.results[index] = failure(_name(look.state.docs.get(index, {})), exc, document, clock)
        finally:
            if reader is not None:
                reader.close()
            if prepared is not None:
                pipeline.release(prepared)


def _pages_text(pages: Pages) -> str | None:
    from invoiceai.render.selection import parse_pages

    selection = parse_pages(pages)  # checked now: a bad selection fails the submission, not every document
    return ",".join(f"{first}-{'' if last is None else last}" for first, last in selection.ranges) or None


def _reloadable(doc: Mapping[str, Any]) -> bool:
    # A path or URL is read again; stored bytes are dropped once the result is final.
    return "path" in doc or "url" in doc


def _unfit_final(state: JobState, index: int, schema: type[Any]) -> Result:
    """The failure for a final result that no longer fits ``schema`` and cannot be replayed.

    The result was paid for and is still stored: it is not lost, it only does not fit this
    collect. Sending the document again would not help either (its bytes are gone), so the
    failure says how to read the stored result instead.
    """
    name = _name(state.docs.get(index, {})) or f"document {index + 1}"
    here = schema_name(schema)
    if here != state.meta.schema:
        why = f"it was extracted into {state.meta.schema}, and this collect asks for {here}"
        remedy = f"collect the job with schema={state.meta.schema.rpartition(':')[2]} (the one it was submitted with)"
    else:
        why = "it was stored by another invoiceai version, or the schema changed since, and no longer reads back"
        remedy = "collect it with the invoiceai version and schema it was collected with before"
    message = (
        f"The result of {name} in batch job {state.meta.id} is stored, but {why}; its bytes are no longer kept, "
        f"so it cannot be extracted again from the stored answers. Nothing was sent: {remedy}."
    )
    document_id = json.loads(state.finals[index]).get("document_id")
    return failure(name, ExtractionValidationError(message, errors=[why], document_id=document_id), None, Clock())


def _in_flight(attempts: Mapping[int, list[Any]]) -> bool:
    last = attempts[max(attempts)]
    return bool(last) and last[-1].result is None


def _name(doc: Mapping[str, Any]) -> str:
    return str(doc.get("name") or "")
