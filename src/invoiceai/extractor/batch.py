"""Many documents at once: bounded concurrency, input order, one extraction per distinct document.

The sync runner uses a thread pool, the async one a semaphore over tasks. Both load each
document first, then claim its content id: the first claimant extracts it and any duplicate in
the batch waits for that result instead of paying again. A failure becomes an
:class:`~invoiceai.ExtractionFailure` in its slot unless ``raise_on_error`` is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from invoiceai.extractor.progress import ProgressArg, make_progress
from invoiceai.extractor.result import Extraction, ExtractionFailure

if TYPE_CHECKING:
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.extractor import Extractor
    from invoiceai.render import Pages

__all__ = ["arun_batch", "run_batch"]

Result = Extraction[Any] | ExtractionFailure


def _as_duplicate(result: Result, document: Document) -> Result:
    """The shared result, relabelled with this slot's own source name."""
    return dataclasses.replace(result, source=document.name)


class _Cancelled(Exception):
    """Internal: the batch stopped before this document started."""


def run_batch(
    extractor: Extractor,
    sources: list[Source],
    *,
    schema: type[Any],
    pages: Pages,
    password: str | None,
    concurrency: int,
    progress: ProgressArg,
    raise_on_error: bool,
) -> list[Result]:
    """Runs :meth:`Extractor.extract_many`; see it for the behaviour."""
    from invoiceai.extractor.extractor import _Clock

    total = len(sources)
    advance = make_progress(progress, total)
    stop = threading.Event()
    claims: dict[str, Future[Result]] = {}
    claims_lock = threading.Lock()

    def work(index: int) -> Result:
        if stop.is_set():
            raise _Cancelled
        source = sources[index]
        clock = _Clock()
        document = None
        try:
            with clock.stage("load"):
                document = extractor._load(source)
            with claims_lock:
                claim = claims.get(document.document_id)
                owner = claim is None
                if claim is None:
                    claim = claims[document.document_id] = Future()
            if not owner:
                return _as_duplicate(claim.result(), document)
            try:
                result: Result = extractor._extract_loaded(document, schema, pages, password, clock)
            except Exception as exc:  # every failure becomes this document's result
                result = extractor._failure(source, exc, document, clock)
            except BaseException as exc:
                claim.set_exception(exc)  # duplicates waiting on this document must not hang
                raise
            claim.set_result(result)
            return result
        except Exception as exc:  # loading failed: this slot fails, the batch goes on
            return extractor._failure(source, exc, document, clock)

    results: list[Result | None] = [None] * total
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, total or 1)), thread_name_prefix="invoiceai")
    futures = {pool.submit(work, index): index for index in range(total)}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                results[futures[future]] = result
                if advance is not None:
                    advance(result.ok)
                if raise_on_error and isinstance(result, ExtractionFailure):
                    raise result.error
    except BaseException:
        # Ctrl-C or raise_on_error: start nothing new; documents in flight finish their
        # current request (cache writes are atomic), then the pool's threads end.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [result for result in results if result is not None]


async def arun_batch(
    extractor: Extractor,
    sources: list[Source],
    *,
    schema: type[Any],
    pages: Pages,
    password: str | None,
    concurrency: int,
    progress: ProgressArg,
    raise_on_error: bool,
) -> list[Result]:
    """Runs :meth:`Extractor.aextract_many`; see it for the behaviour."""
    from invoiceai.extractor.extractor import _Clock

    total = len(sources)
    advance = make_progress(progress, total)
    gate = asyncio.Semaphore(max(1, concurrency))
    claims: dict[str, asyncio.Future[Result]] = {}

    async def extract_one(source: Source) -> Result:
        clock = _Clock()
        document = None
        try:
            with clock.stage("load"):
                document = await extractor._aload(source)
            claim = claims.get(document.document_id)
            if claim is not None:
                return _as_duplicate(await asyncio.shield(claim), document)
            claim = claims[document.document_id] = asyncio.get_running_loop().create_future()
            try:
                result: Result = await extractor._aextract_loaded(document, schema, pages, password, clock)
            except Exception as exc:  # every failure becomes this document's result
                result = extractor._failure(source, exc, document, clock)
            except BaseException:
                claim.cancel()  # duplicates waiting on this document are cancelled with it
                raise
            claim.set_result(result)
            return result
        except Exception as exc:  # loading failed: this slot fails, the batch goes on
            return extractor._failure(source, exc, document, clock)

    async def work(source: Source) -> Result:
        async with gate:
            result = await extract_one(source)
        if advance is not None:
            advance(result.ok)
        if raise_on_error and isinstance(result, ExtractionFailure):
            raise result.error
        return result

    tasks = [asyncio.ensure_future(work(source)) for source in sources]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
