"""The Message Batches methods of :class:`~invoiceai.Extractor`: submit now, collect later.

:class:`BatchMethods` is a base class of :class:`~invoiceai.Extractor` (the facade stays one
readable module); the work is :class:`~invoiceai.extractor.batch_jobs.BatchRunner`'s. A job's
state lives in the batch store that goes with the extractor's cache
(:func:`~invoiceai.cache.batch_store.open_batch_store`): the SQLite cache's ``-batches``
sibling file by default, the same Redis server for a fleet, or a store passed as ``batch_store=``.
The async twins run each look in a worker thread and wait on the event loop, so cancelling
:meth:`~BatchMethods.acollect_batch` stops it after the look in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError
from invoiceai.extractor.batch_errors import BatchBusyError
from invoiceai.extractor.batch_jobs import BatchRunner
from invoiceai.extractor.batch_state import BatchJob, BatchProgress, JobMeta, JobState
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend
    from invoiceai.backends.claude.batch.items import BatchLimits
    from invoiceai.cache import Cache
    from invoiceai.cache.batch_store import BatchStore, MemoryBatchStore
    from invoiceai.config import Detail, Settings
    from invoiceai.documents import Source
    from invoiceai.extractor.batch_round import FollowUp
    from invoiceai.extractor.batch_state import Result
    from invoiceai.extractor.pipeline import Pipeline
    from invoiceai.render import Pages

__all__ = ["DEFAULT_POLL_INTERVAL", "BatchMethods"]

DEFAULT_POLL_INTERVAL = 30.0
"""Seconds between looks at a running job while :meth:`BatchMethods.collect_batch` waits."""


class BatchMethods:
    """Submitting documents to the Message Batches API and collecting the results, from any process.

    Every method takes ``batch_store=`` to use a given store instead of the one that goes with
    the cache. Only the built-in Claude backend has a batch side.
    """

    if TYPE_CHECKING:
        backend: Backend
        settings: Settings
        _cache_spec: Any

        @property
        def cache(self) -> Cache | None:  # noqa: D102 - Extractor.cache
            ...

        def _pipeline(self, detail: Detail | None = None) -> Pipeline: ...

    _memory_batch_store: MemoryBatchStore | None = None

    def submit_batch(
        self,
        sources: Iterable[Source],
        *,
        schema: type[Any] = Invoice,
        pages: Pages = None,
        password: str | None = None,
        limits: BatchLimits | None = None,
        detail: Detail | None = None,
        batch_store: BatchStore | None = None,
    ) -> BatchJob:
        """Submits ``sources`` as a Message Batches job (half the live price) and returns at once.

        E-invoices are read and cached documents answered from the cache now, as live; neither
        is sent. The other documents' first requests go into one or more batches (split at
        ``limits``). Collect the results with :meth:`collect_batch`, here or in any process that
        shares the cache (and, for path sources, the files).

        The settings that change a result (``prefer_embedded``, ``cross_check``,
        ``validation_context``, ``max_attempts``, ``max_reasks``, ``token_budget``, the mode and
        ``detail``) are stored with the job and used to collect it.

        Args:
            sources: The documents (anything :meth:`~invoiceai.Extractor.extract` accepts). Paths
                are read again to collect; every other source (URLs included: fetched now, so
                no credential in a URL is stored) is loaded now, within ``max_document_bytes``,
                and its bytes are stored with the job.
            schema: The Pydantic model to fill; it must be importable where the job is collected.
            pages: Pages to read in every document.
            password: For encrypted PDFs; never stored, so pass it to :meth:`collect_batch` too.
            limits: Per-batch limits (default: the API's 100,000 requests and 256 MB).
            detail: Image size for this job, ``"standard"`` or ``"high"`` (default ``Settings.detail``).
            batch_store: Where the job's state is kept (default: beside the cache).

        Returns:
            The job; its ``id`` is what :meth:`collect_batch` and ``invoiceai batch`` take.

        Raises:
            InvoiceAIError: The first round could not be sent (the message names the stored job;
                collecting it resumes it).
        """
        from invoiceai.backends.claude.batch.items import API_LIMITS

        with self._batch_runner(batch_store, password, detail=detail) as runner:
            return runner.submit(sources, schema, pages, limits or API_LIMITS)

    async def asubmit_batch(self, sources: Iterable[Source], **options: Any) -> BatchJob:
        """Async twin of :meth:`submit_batch` (runs it in a worker thread)."""
        listed = list(sources)
        return await asyncio.to_thread(lambda: self.submit_batch(listed, **options))

    def batch_status(self, job_id: str, *, batch_store: BatchStore | None = None) -> BatchJob:
        """Returns where job ``job_id`` stands, asking the API about its running batches."""
        with self._batch_runner(batch_store, None, job_id=job_id) as runner:
            return runner.status(job_id)

    def poll_batch(
        self,
        job_id: str,
        *,
        schema: type[Any] | None = None,
        password: str | None = None,
        batch_store: BatchStore | None = None,
        follow_up: FollowUp = "batch",
        skip: Collection[int] = (),
    ) -> BatchProgress:
        """Takes one look at a job without waiting: stores new results, sends follow-ups, returns what is known.

        ``follow_up`` is as for :meth:`collect_batch`. ``skip`` holds the input indices of documents
        no longer wanted (their jobs canceled, say): no follow-up is sent, nor billed, for them, and
        their result stays ``None`` unless one is known already (so ``progress.finished`` waits
        for them: the caller decides when the rest is enough).

        Returns:
            The results so far in input order (``None`` for documents still in a running batch)
            and the job; ``progress.finished`` tells whether every document has its result.

        Raises:
            BatchBusyError: Another process is collecting the job right now (it holds the job's
                lease); look again later.
        """
        with self._batch_runner(batch_store, password, job_id=job_id) as runner:
            return runner.look(job_id, schema=schema, follow_up=follow_up, skip=frozenset(skip))

    def collect_batch(
        self,
        job_id: str,
        *,
        schema: type[Any] | None = None,
        password: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
        batch_store: BatchStore | None = None,
        follow_up: FollowUp = "batch",
    ) -> list[Result]:
        """Waits for job ``job_id``; returns its results in input order, as ``extract_many`` would.

        Follow-up rounds (re-asks, truncations, retries of errored or expired items, later chunks
        of long documents) are submitted as needed. Collecting is idempotent and resumable: a
        collect that was killed picks up where the store says, sending nothing twice. Two
        collectors of one job take turns (a lease in the store): while one looks, the other waits.

        Args:
            job_id: The id :meth:`submit_batch` returned.
            schema: The schema, when it cannot be imported by name here.
            password: For encrypted PDFs.
            poll_interval: Seconds to wait between looks that find nothing new.
            sleep: What waits (tests pass a fake).
            timeout: Seconds to wait at most (default: until the job is finished).
            batch_store: Where the job's state is kept (default: beside the cache).
            follow_up: ``"batch"`` sends what the collect needs (re-asks, truncation retries,
                retries of errored or expired items, later chunks) in follow-up batches at the
                batch price; ``"live"`` sends it at once as live requests, at the live price,
                within the same attempt limits (``BatchProgress.live_usage`` says what they cost).

        Raises:
            BatchTimeoutError: ``timeout`` passed first; the job is stored and can be collected later.
        """
        with self._batch_runner(batch_store, password, job_id=job_id) as runner:
            progress = runner.collect(
                job_id, schema=schema, poll_interval=poll_interval, sleep=sleep, timeout=timeout, follow_up=follow_up
            )
        return [result for result in progress.results if result is not None]

    async def acollect_batch(
        self,
        job_id: str,
        *,
        schema: type[Any] | None = None,
        password: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        sleep: Callable[[float], Awaitable[None] | None] = asyncio.sleep,
        timeout: float | None = None,
        batch_store: BatchStore | None = None,
        follow_up: FollowUp = "batch",
    ) -> list[Result]:
        """Async twin of :meth:`collect_batch`: each look runs in a worker thread, the waits on the loop.

        Cancelling it (``asyncio.wait_for``, a task's ``cancel()``) stops it once the look in
        progress has ended (a look is a few short requests; it is not cut off half-way, so the
        store stays consistent); the job stays resumable. ``sleep`` may be a coroutine function
        or a plain function.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._batch_runner(batch_store, password, job_id=job_id) as runner:
            while True:
                progress, changed = await _finish_in_thread(
                    lambda: runner.look_once(job_id, schema=schema, follow_up=follow_up)
                )
                if progress is not None and progress.finished:
                    return [result for result in progress.results if result is not None]
                if changed:
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise runner.timed_out(job_id, timeout)
                waited = sleep(poll_interval if left is None else min(poll_interval, left))
                if inspect.isawaitable(waited):
                    await waited

    def cancel_batch(self, job_id: str, *, batch_store: BatchStore | None = None) -> int:
        """Asks the API to cancel every running batch of job ``job_id``; returns how many it asked.

        Items the API has not processed yet end ``canceled``, unbilled. The job stays stored, with
        what was already answered: collecting it again would send the canceled documents again
        (a new round), so delete it (:meth:`delete_batch` with ``force=True``) to abandon it.

        Raises:
            ConfigurationError: No such job.
            BackendError: The API could not be asked (the batches keep running; try again).
        """
        from invoiceai.backends.claude.batch.session import BatchGoneError

        with self._batch_runner(batch_store, None, job_id=job_id) as runner:
            asked = 0
            for batch_id in JobState.load(runner.store, job_id).open_batches():
                with contextlib.suppress(BatchGoneError):  # gone: nothing left to cancel
                    runner.session.cancel(batch_id)
                    asked += 1
            return asked

    async def acancel_batch(self, job_id: str, *, batch_store: BatchStore | None = None) -> int:
        """Async twin of :meth:`cancel_batch` (runs it in a worker thread)."""
        return await asyncio.to_thread(lambda: self.cancel_batch(job_id, batch_store=batch_store))

    def list_batches(self, *, batch_store: BatchStore | None = None) -> list[BatchJob]:
        """Returns every job in the batch store, oldest id first, from the store alone (no API call)."""
        with self._store(batch_store) as store:
            return [BatchJob.of(JobState.load(store, job_id)) for job_id in store.jobs()]

    def delete_batch(self, job_id: str, *, force: bool = False, batch_store: BatchStore | None = None) -> None:
        """Removes job ``job_id``'s stored state: its documents' bytes, the results, the records.

        Deleting is final: the job cannot be collected again (results already cached stay in the
        result cache). A job with batches still running (or a create not yet accounted for) is
        kept unless ``force``: those batches would be paid for and never read.

        Raises:
            ConfigurationError: No such job, or batches of it are still running and ``force`` is off.
            BatchBusyError: Another process is collecting the job right now.
        """
        from invoiceai.extractor.batch_setup import lease_owner

        with self._store(batch_store) as store:
            state = JobState.load(store, job_id)
            running = len(state.open_batches()) + len(state.unresolved())
            if running and not force:
                raise ConfigurationError(
                    f"Batch job {job_id} still has {running} batch(es) that were not collected; collect it first, "
                    "or delete it with force=True (--force) to abandon them."
                )
            owner = lease_owner()
            if not store.lease(job_id, owner, 60.0):
                raise BatchBusyError(
                    f"Batch job {job_id} is being collected right now; delete it later.", job_id=job_id
                )
            store.delete(job_id)  # the lease goes with the records

    # -- wiring -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _batch_runner(
        self, batch_store: BatchStore | None, password: str | None, *, job_id: str | None = None,
        detail: Detail | None = None,
    ) -> Iterator[BatchRunner]:  # fmt: skip
        with self._store(batch_store) as store:
            if job_id is not None:
                detail = JobMeta.load(store, job_id).options.get("detail")  # a job keeps its image size
            pipeline = self._pipeline(detail)
            session_of = getattr(pipeline.backend, "batch_session", None)
            if not callable(session_of):
                raise ConfigurationError(
                    f"The {type(self.backend).__name__} backend has no Message Batches side; batches need the "
                    "built-in Claude backend."
                )
            yield BatchRunner(
                pipeline, session_of(), store, fingerprint=pipeline.backend.fingerprint(), password=password
            )

    @contextlib.contextmanager
    def _store(self, batch_store: BatchStore | None) -> Iterator[BatchStore]:
        if batch_store is not None:
            yield batch_store
            return
        from invoiceai.cache.batch_store import MemoryBatchStore, open_batch_store

        spec = self._cache_spec
        store = open_batch_store(
            spec if isinstance(spec, str) and "://" in spec else self.cache, settings=self.settings
        )
        if isinstance(store, MemoryBatchStore):
            # An in-memory cache's jobs live as long as the extractor.
            store = self._memory_batch_store = self._memory_batch_store or store
        try:
            yield store
        finally:
            store.close()


async def _finish_in_thread(call: Callable[[], Any]) -> Any:
    """Runs ``call`` in a worker thread; if cancelled meanwhile, lets it end before cancelling.

    A thread cannot be interrupted: leaving at once would close the store under a look still
    writing to it. A look is short, so the cancellation waits for it, then goes on.
    """
    future = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise
