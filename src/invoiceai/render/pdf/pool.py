"""Rendering a large PDF in worker processes.

pdfium cannot render two pages at once in one process, so parallel rendering needs processes.
Each worker opens the document once (in its initializer) and renders the pages it is given; the
parent keeps at most ``2 x processes`` pages in flight and yields them in order, so memory stays
bounded however long the document is. Workers are started with ``spawn``: forking a process
whose other threads may hold the pdfium lock could deadlock the child.

Each worker caps its own address space at ``render_memory_limit`` (``RLIMIT_AS``), as the
sandbox workers do. A worker that dies (pdfium aborts when that limit is reached, and a hostile
PDF can crash pdfium itself) breaks the pool; that surfaces as a typed error instead of taking the
caller's process down: :class:`~invoiceai.errors.DocumentTooLargeError` naming
``render_memory_limit`` when the limit is set, :class:`~invoiceai.errors.CorruptDocumentError`
otherwise.
"""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from invoiceai.errors import CorruptDocumentError, DocumentTooLargeError
from invoiceai.render.limits import RenderLimits
from invoiceai.render.noise import library_noise
from invoiceai.render.pdf.document import open_pdf
from invoiceai.render.pdf.page import build_page
from invoiceai.render.pdf.raster import rasterise
from invoiceai.render.pdf.sandbox_pool import limit_memory, out_of_memory

if TYPE_CHECKING:
    from invoiceai.pages import ImageBudget, Page
    from invoiceai.render.limits import Deadline

__all__ = ["render_in_processes"]

_worker_pdf: Any = None
_worker_document_id = ""
_worker_limits = RenderLimits()


def render_in_processes(
    data: bytes,
    password: str | None,
    indices: Sequence[int],
    budget: ImageBudget,
    *,
    processes: int,
    document_id: str,
    limits: RenderLimits | None = None,
    deadline: Deadline | None = None,
) -> Iterator[Page]:
    """Yields the pages at ``indices``, in order, rendered by a pool of worker processes.

    Args:
        data: The PDF bytes (sent to each worker once).
        password: The password, if any.
        indices: 0-based page indices.
        budget: The pixel budget.
        processes: Number of worker processes.
        document_id: For error context.
        limits: The limits each page is rendered under (the defaults when ``None``).
        deadline: The document's time budget; a page that runs past it (pdfium hanging on a
            hostile page) stops the workers.

    Yields:
        Each page, in the order of ``indices``.

    Raises:
        CorruptDocumentError: A page is damaged, or a worker process died.
        RenderTimeoutError: The deadline passed while waiting for a page.
        InvoiceAIError: Whatever a worker raised for a page (errors cross the process boundary).
    """
    context = multiprocessing.get_context("spawn")
    limits = limits if limits is not None else RenderLimits()
    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=context,
        initializer=_open_in_worker,
        initargs=(data, password, document_id, limits),
    )
    finished = False
    try:
        yield from _in_order(pool, indices, budget, processes, deadline, document_id, limits)
        finished = True
    finally:
        if not finished:
            _stop_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ProcessPoolExecutor,
    indices: Sequence[int],
    budget: ImageBudget,
    processes: int,
    deadline: Deadline | None,
    document_id: str,
    limits: RenderLimits,
) -> Iterator[Page]:
    # At most two pages a worker are queued, so a long document's pages are not all held at once.
    pending: collections.deque[Future[Page]] = collections.deque()
    remaining = iter(indices)
    for index in remaining:
        pending.append(pool.submit(_render_in_worker, index, budget))
        if len(pending) >= 2 * processes:
            break
    while pending:
        try:
            page = _next_page(pending.popleft(), deadline, document_id)
        except BrokenProcessPool as exc:
            raise _worker_died(limits, document_id) from exc
        following = next(remaining, None)
        if following is not None:
            pending.append(pool.submit(_render_in_worker, following, budget))
        yield page


def _next_page(future: Future[Page], deadline: Deadline | None, document_id: str) -> Page:
    if deadline is None:
        return future.result()
    with deadline.spending():
        try:
            return future.result(timeout=deadline.remaining())
        except FutureTimeout:
            pass
    deadline.check(document_id=document_id)
    # remaining() rounds; the budget is spent to the last millisecond only now.
    with deadline.spending():
        return future.result(timeout=max(0.001, deadline.remaining()))


def _worker_died(limits: RenderLimits, document_id: str) -> CorruptDocumentError | DocumentTooLargeError:
    cannot_start = (
        "or worker processes cannot start here (scripts using processes= need an `if __name__ == '__main__':` "
        "guard; use processes=0 to render in this process)"
    )
    if limits.render_memory_limit > 0:
        return out_of_memory(limits.render_memory_limit, document_id=document_id, detail=f"died ({cannot_start})")
    return CorruptDocumentError(
        f"A worker process rendering this PDF died: the file may crash pdfium (re-export it), {cannot_start}.",
        document_id=document_id,
    )


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    # A worker stuck in pdfium never returns, and shutdown(wait=True) would wait for it forever;
    # the executor offers no public way to kill its workers, hence the private attribute.
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()


def _open_in_worker(data: bytes, password: str | None, document_id: str, limits: RenderLimits) -> None:
    global _worker_pdf, _worker_document_id, _worker_limits
    limit_memory(limits.render_memory_limit)
    _worker_document_id = document_id
    _worker_limits = limits
    try:
        _worker_pdf = open_pdf(data, password, document_id=document_id)
    except Exception:
        # The parent opened this document already, so this is unexpected; the task will raise.
        _worker_pdf = None


def _render_in_worker(index: int, budget: ImageBudget) -> Page:
    if _worker_pdf is None:
        raise CorruptDocumentError("A worker process could not open the PDF.", document_id=_worker_document_id)
    # The worker's stderr is the parent's: Pillow's warnings must not reach it either.
    with library_noise(_worker_document_id[:12]):
        pixels, facts = rasterise(_worker_pdf, index, budget, document_id=_worker_document_id, limits=_worker_limits)
        return build_page(pixels, facts, budget)
