"""Message Batches jobs: submit documents now, collect the results later, from any process.

A job is a set of documents extracted through the Message Batches API at half the live price.
:class:`BatchRunner` does one *look* at a job at a time (:meth:`BatchRunner.look`):

1. **Fetch.** For every batch whose results are not stored: ask its status; once it has ended,
   store every result line (idempotently, by custom id), then mark the batch collected.
2. **Replay.** For every document whose last request is not in a running batch: load it, prepare
   it as live extraction does (an e-invoice is read, a cached document answered from the cache,
   the pages opened), and replay its live job with the stored answers
   (:func:`~invoiceai.backends.claude.batch.replay.replay`). The job either finishes (the result is
   completed, cached and validated exactly as live), fails as it would live, or needs a request.
3. **Submit.** The requests needed form the next round: cut into batches within the per-batch
   limits, each created and then recorded at once (the batch id with its items, one atomic write).

Submitting a job is writing its documents and one look; collecting is looking until every
document has its result. Nothing is held between looks but the store, so a collector killed at
any point (even ``SIGKILL``) loses nothing already stored and sends nothing twice: stored results
are replayed, never asked for again, and a request is only sent when no attempt of it is stored.
The one gap is the instant between a batch's creation and its record: a kill exactly there leaves
a batch nobody collects (its items are sent again in the next round).

A document whose request is in flight is not opened at all, and a document is released as soon
as its look is done, so memory holds one document at a time plus the round being cut.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.batch.items import BatchRequest, custom_id, params_digest, split_batches
from invoiceai.backends.claude.batch.replay import Finished, Submit, Waiting, replay
from invoiceai.backends.claude.steps import SourceReader
from invoiceai.errors import ConfigurationError, InputError
from invoiceai.extractor.batch_state import (
    BatchJob,
    BatchProgress,
    JobMeta,
    JobState,
    RequestRecord,
    batch_records,
    collected_record,
    load_source,
    new_job_id,
    now_iso,
    result_records,
    schema_name,
    source_record,
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

__all__ = ["BatchRunner"]


@dataclasses.dataclass
class _Look:
    """What one look has found and decided so far."""

    state: JobState
    results: dict[int, Result] = dataclasses.field(default_factory=dict)
    owners: dict[str, int] = dataclasses.field(default_factory=dict)
    copies: dict[int, int] = dataclasses.field(default_factory=dict)
    queued: list[tuple[BatchRequest, RequestRecord]] = dataclasses.field(default_factory=list)
    round: int = 0
    changed: bool = False


class BatchRunner:
    """Submits, looks at and collects the batch jobs of one extractor's pipeline.

    Args:
        pipeline: The extractor's pipeline (load, prepare, complete; the cache).
        session: The Claude backend's batch side.
        store: Where jobs keep their state.
        fingerprint: The backend's fingerprint, stored with a job and checked on collect.
        password: For encrypted PDFs (never stored: pass it to every call that needs it).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        session: BatchSession,
        store: BatchStore,
        *,
        fingerprint: str,
        password: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.session = session
        self.store = store
        self.fingerprint = fingerprint
        self.password = password
        self._done: dict[str, dict[int, Result]] = {}

    # -- the calls --------------------------------------------------------------------------------

    def submit(self, sources: Iterable[Source], schema: type[Any], pages: Pages, limits: BatchLimits) -> BatchJob:
        """Stores a new job for ``sources`` and submits its first round."""
        listed = list(sources)
        meta = JobMeta(
            id=new_job_id(), created_at=now_iso(),
            model=self.session.model, fingerprint=self.fingerprint, schema=schema_name(schema),
            pages=_pages_text(pages),
            documents=len(listed), limits=limits,
        )  # fmt: skip
        records = dict([meta.record()])
        for index, source in enumerate(listed):
            name, value = source_record(index, source)
            records[name] = value
        self.store.put(meta.id, records)
        return self.look(meta.id, schema=schema, fetch=False).job

    def status(self, job_id: str) -> BatchJob:
        """Returns the job's stored state, with the running batches' status asked from the API."""
        state = JobState.load(self.store, job_id)
        running = sum(1 for batch_id in state.open_batches() if not self.session.retrieve(batch_id).ended)
        return BatchJob.of(state, running=running)

    def collect(
        self,
        job_id: str,
        *,
        schema: type[Any] | None = None,
        poll_interval: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> BatchProgress:
        """Looks at the job until every document has its result, sleeping between looks that change nothing."""
        while True:
            progress, changed = self._look(job_id, schema=schema, fetch=True)
            if progress.finished:
                return progress
            if not changed:
                sleep(poll_interval)

    def look(self, job_id: str, *, schema: type[Any] | None = None, fetch: bool = True) -> BatchProgress:
        """One look at the job (see the module docstring): fetch, replay, submit."""
        return self._look(job_id, schema=schema, fetch=fetch)[0]

    # -- one look -----------------------------------------------------------------------------------

    def _look(self, job_id: str, *, schema: type[Any] | None, fetch: bool) -> tuple[BatchProgress, bool]:
        state = JobState.load(self.store, job_id)
        self._check(state.meta)
        fetched = self._fetch(state) if fetch else False
        if fetched:
            state = JobState.load(self.store, job_id)
        look = _Look(state=state, owners=state.owners(), round=state.rounds() + 1, changed=fetched)
        look.results.update(self._done.get(job_id, {}))
        schema = schema or state.meta.schema_class()
        for index in range(state.meta.documents):
            if index not in look.results:
                self._document(look, index, schema)
                self._flush(look, job_id, final=False)
        self._flush(look, job_id, final=True)
        for copy, owner in look.copies.items():
            if owner in look.results:
                look.results[copy] = relabel(look.results[owner], _name(state.docs.get(copy, {})))
        self._done[job_id] = look.results
        results = tuple(look.results.get(index) for index in range(state.meta.documents))
        final = JobState.load(self.store, job_id) if look.changed else state
        return BatchProgress(job=BatchJob.of(final), results=results), look.changed

    def _check(self, meta: JobMeta) -> None:
        if meta.fingerprint != self.fingerprint:
            raise ConfigurationError(
                f"Batch job {meta.id} was submitted with a different backend setup ({meta.fingerprint}); collect it "
                f"with the same model and mode (this extractor: {self.fingerprint})."
            )

    def _fetch(self, state: JobState) -> bool:
        """Stores the results of every batch that has ended; tells whether any had."""
        fetched = False
        for batch_id in state.open_batches():
            info = self.session.retrieve(batch_id)
            if not info.ended:
                continue
            self.store.add(state.meta.id, result_records(self.session.results(batch_id)))
            self.store.put(state.meta.id, collected_record(batch_id, state.batches[batch_id], info.request_counts))
            fetched = True
        return fetched

    def _document(self, look: _Look, index: int, schema: type[Any]) -> None:
        """Decides about one document: a result, a copy, a request for the next round, or wait."""
        attempts = look.state.attempts(index)
        if attempts and _in_flight(attempts):
            return
        clock = Clock()
        document = prepared = reader = None
        try:
            document = load_source(look.state.docs[index], self.pipeline)
            sent = _sent_as(look.state, index)
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
            prepared = self.pipeline.prepare(
                document, schema, look.state.meta.pages, self.password, clock, look_up=sent is None
            )
            if prepared.result is not None:
                look.results[index] = prepared.result
                return
            assert prepared.served is not None
            job = self.session.new_job(
                prepared.served, schema, document_id=document.document_id,
                validation_context=self.pipeline.validation_context,
            )  # fmt: skip
            reader = SourceReader(prepared.served)
            outcome = replay(
                job, reader, lambda sequence: attempts.get(sequence, []),
                max_attempts=self.session.max_attempts, secrets=self.session.secrets,
            )  # fmt: skip
            if isinstance(outcome, Finished):
                look.results[index] = self.pipeline.complete(prepared, outcome.result)
            elif isinstance(outcome, Submit):
                self._queue(look, index, document.document_id, outcome)
            elif isinstance(outcome, Waiting):  # pragma: no cover - caught by _in_flight above
                look.owners[document.document_id] = index
        except Exception as exc:  # this document fails; the job goes on
            look.results[index] = failure(_name(look.state.docs.get(index, {})), exc, document, clock)
        finally:
            if reader is not None:
                reader.close()
            if prepared is not None:
                self.pipeline.release(prepared)

    def _queue(self, look: _Look, index: int, document_id: str, outcome: Submit) -> None:
        identifier = custom_id(index, outcome.sequence, outcome.attempt)
        request = BatchRequest.of(identifier, outcome.params)
        record = RequestRecord(
            custom_id=identifier, document=index, sequence=outcome.sequence, attempt=outcome.attempt,
            batch="", digest=params_digest(outcome.params), document_id=document_id,
        )  # fmt: skip
        look.queued.append((request, record))
        look.owners.setdefault(document_id, index)

    def _flush(self, look: _Look, job_id: str, *, final: bool) -> None:
        """Creates the batches the queued requests fill (all of them when ``final``) and records each."""
        limits = look.state.meta.limits
        while look.queued:
            batches = list(split_batches([request for request, _ in look.queued], limits))
            if not final and len(batches) < 2:
                return  # the first batch may still fill up
            size = len(batches[0])
            items, look.queued = look.queued[:size], look.queued[size:]
            info = self.session.create([request for request, _ in items])
            recorded = [(request, dataclasses.replace(record, batch=info.id)) for request, record in items]
            self.store.put(job_id, batch_records(look.round, info.id, recorded))
            look.changed = True


def _pages_text(pages: Pages) -> str | None:
    from invoiceai.render.selection import parse_pages

    selection = parse_pages(pages)  # checked now: a bad selection fails the submission, not every document
    return ",".join(f"{first}-{'' if last is None else last}" for first, last in selection.ranges) or None


def _in_flight(attempts: Mapping[int, list[Any]]) -> bool:
    last = attempts[max(attempts)]
    return bool(last) and last[-1].result is None


def _sent_as(state: JobState, index: int) -> str | None:
    for record in state.requests.values():
        if record.document == index:
            return record.document_id
    return None


def _name(doc: Mapping[str, Any]) -> str:
    return str(doc.get("name") or "")
