"""The batch engine: runs a :class:`~invoiceai.extractor.schedule.Schedule` with threads or tasks.

Every decision (what to start, which copy of a document pays, what to report, when to stop)
is the schedule's; the two runners here repeat only the I/O. :func:`iter_batch` runs the
stages on two thread pools, one for loading and preparing and one whose threads are the
request slots; :func:`aiter_batch` runs them as tasks, the sync parts via ``asyncio.to_thread``.
Both yield :class:`~invoiceai.extractor.schedule.BatchItem` values as documents finish.

Stopping: when a stage raises a ``BaseException`` (Ctrl-C, cancellation, ``SystemExit``), or the
consumer raises (``raise_on_error``, a progress callback) or stops iterating, nothing new
starts. Sync: documents in flight finish their current request and write the cache (a thread
cannot be interrupted), then their threads end. Async: every task still running is cancelled
and awaited. Cache writes are atomic either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from invoiceai.extractor.failures import failure
from invoiceai.extractor.pipeline import Pipeline
from invoiceai.extractor.progress import ProgressArg
from invoiceai.extractor.schedule import STREAM_MEMORY, BatchItem, Schedule, Stage, Ticket

if TYPE_CHECKING:
    from invoiceai.extractor.result import Extraction, ExtractionFailure
    from invoiceai.render import Pages

__all__ = ["BatchOptions", "aiter_batch", "collect", "in_order", "iter_batch"]


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """What every document of one batch is extracted with.

    Attributes:
        schema: The Pydantic model to fill.
        pages: Pages to read in every document.
        password: Password for every encrypted PDF.
        concurrency: Requests in flight at once; as many documents are prepared ahead.
        progress: See :data:`~invoiceai.extractor.progress.ProgressArg`.
        raise_on_error: Raise the first failure instead of reporting it.
        remember: Finished results kept for later copies of a document (``None``: all).
        on_stop: Given the thread pools of a batch stopped early (their requests still finish,
            so their results are cached), so that whoever closes the backend and cache can
            wait for them first.
    """

    schema: type[Any]
    pages: Pages
    password: str | None
    concurrency: int
    progress: ProgressArg
    raise_on_error: bool
    remember: int | None = STREAM_MEMORY
    on_stop: Callable[[list[ThreadPoolExecutor]], None] | None = None

    def schedule(self, sources: Iterable[Any]) -> Schedule:
        """A fresh schedule over ``sources`` with these options."""
        return Schedule(
            sources, concurrency=self.concurrency, progress=self.progress,
            raise_on_error=self.raise_on_error, remember=self.remember,
        )  # fmt: skip


class _Stages:
    """The I/O of each stage for one ticket; every ``Exception`` becomes the document's failure."""

    def __init__(self, pipeline: Pipeline, options: BatchOptions) -> None:
        self.pipeline = pipeline
        self.options = options

    def run(self, stage: Stage, ticket: Ticket) -> object:
        try:
            if stage is Stage.LOAD:
                with ticket.clock.stage("load"):
                    return self.pipeline.load(ticket.source)  # type: ignore[arg-type]
            if stage is Stage.PREPARE:
                return self._prepare(ticket)
            assert ticket.prepared is not None
            return self.pipeline.finish(ticket.prepared)
        except Exception as exc:  # this document fails; the batch goes on
            return failure(ticket.source, exc, ticket.document, ticket.clock)

    async def arun(self, stage: Stage, ticket: Ticket) -> object:
        try:
            if stage is Stage.LOAD:
                with ticket.clock.stage("load"):
                    return await self.pipeline.aload(ticket.source)  # type: ignore[arg-type]
            if stage is Stage.PREPARE:
                return await asyncio.to_thread(self._prepare, ticket)
            assert ticket.prepared is not None
            return await self.pipeline.afinish(ticket.prepared)
        except Exception as exc:  # this document fails; the batch goes on
            return failure(ticket.source, exc, ticket.document, ticket.clock)

    def _prepare(self, ticket: Ticket) -> object:
        assert ticket.document is not None
        options = self.options
        prepared = self.pipeline.prepare(
            ticket.document, options.schema, options.pages, options.password, ticket.clock, ahead=True
        )
        if prepared.result is not None:
            self.pipeline.release(prepared)  # a cache hit: the pages are not needed
        return prepared


def iter_batch(pipeline: Pipeline, sources: Iterable[Any], options: BatchOptions) -> Iterator[BatchItem[Any]]:
    """Runs a batch on threads, yielding each result as it is known (see the module docstring)."""
    schedule = options.schedule(sources)
    stages = _Stages(pipeline, options)
    slots = max(1, options.concurrency)
    workers = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="invoiceai-prepare")
    requests = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="invoiceai-request")
    running: dict[Future[object], tuple[Stage, Ticket]] = {}
    finished = False
    try:
        while True:
            for stage, ticket in schedule.start():
                pool = requests if stage is Stage.REQUEST else workers
                running[pool.submit(stages.run, stage, ticket)] = (stage, ticket)
            if not running:
                finished = True
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                stage, ticket = running.pop(future)
                yield from schedule.finish(stage, ticket, future.result())
    finally:
        # Stopped early: start nothing new; what runs finishes its current stage (a request in
        # flight is paid for, so its result is still cached), then the threads end.
        for pool in (workers, requests):
            pool.shutdown(wait=finished, cancel_futures=True)
        if not finished and options.on_stop is not None:
            options.on_stop([workers, requests])


async def aiter_batch(
    pipeline: Pipeline, sources: Iterable[Any], options: BatchOptions
) -> AsyncIterator[BatchItem[Any]]:
    """Async twin of :func:`iter_batch`: the stages run as tasks on the running event loop."""
    schedule = options.schedule(sources)
    stages = _Stages(pipeline, options)
    running: dict[asyncio.Future[object], tuple[Stage, Ticket]] = {}
    try:
        while True:
            for stage, ticket in schedule.start():
                running[asyncio.ensure_future(stages.arun(stage, ticket))] = (stage, ticket)
            if not running:
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                stage, ticket = running.pop(task)
                for item in schedule.finish(stage, ticket, task.result()):
                    yield item
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def collect(items: Iterable[BatchItem[Any]], total: int) -> list[Extraction[Any] | ExtractionFailure]:
    """Puts streamed results back into input order (``extract_many``)."""
    results: list[Extraction[Any] | ExtractionFailure | None] = [None] * total
    for item in items:
        results[item.index] = item.result
    return [result for result in results if result is not None]


def in_order(items: Iterable[BatchItem[Any]]) -> Iterator[Extraction[Any] | ExtractionFailure]:
    """Yields streamed results in input order, each as soon as every earlier one has arrived.

    Results that finish early wait here for the ones before them, so the memory held grows
    only with how far a slow document falls behind, not with the length of the run.
    """
    waiting: dict[int, Extraction[Any] | ExtractionFailure] = {}
    position = 0
    for item in items:
        waiting[item.index] = item.result
        while position in waiting:
            yield waiting.pop(position)
            position += 1
