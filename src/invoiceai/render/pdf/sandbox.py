"""Opening and rendering untrusted PDFs in a child process with an address-space limit.

pdfium inflates streams, parses content and draws pages in C, and some PDFs ask it for far more
memory or time than any invoice needs: an encrypted page whose content inflates to a gibibyte
(the pre-scan cannot read encrypted streams), a page of a thousand content streams, form
XObjects that draw each other a thousand times over, millions of path operators, a shading that
keeps one ``FPDF_RenderPage`` call busy for minutes. None of that can be capped from Python, and
under a memory limit pdfium aborts the whole process.

So with ``render_memory_limit`` above zero (the default), every pdfium call on an untrusted PDF
(opening it, counting its pages, the embedded e-invoice, text layers, page subsets, rendering)
runs in a sandbox worker (:mod:`invoiceai.render.pdf.sandbox_pool`): a child process whose
address space is capped at ``render_memory_limit``. Pages come back encoded (PNG or JPEG bytes),
a few to a reply (:data:`~invoiceai.render.pdf.sandbox_worker.BATCH`), so little crosses the
pipe and a long document costs one round trip per few pages. This process enforces
``render_timeout`` as a real deadline: a worker that does not answer in time is killed and the
call raises :class:`~invoiceai.errors.RenderTimeoutError`; a worker that dies (out of memory, a crash in
pdfium) raises :class:`~invoiceai.errors.DocumentTooLargeError` naming ``render_memory_limit``.
Either way the next document gets a fresh worker. Replies are read up to a cap
(``max_render_bytes`` of pages a reply), so a worker cannot make this process allocate without bound,
and whole within the deadline (:mod:`invoiceai.render.pdf.sandbox_channel`), so a worker that
stalls in the middle of a reply cannot hold this process either. A render stopped early gives its
worker :data:`STOP_GRACE` to finish the page it renders ahead (it reads the stop between two
pages), then kills it.

:class:`SandboxedPdf` is one document's handle on the workers, the sandboxed counterpart of
:class:`~invoiceai.render.pdf.handle.SharedPdf`. On platforms without ``RLIMIT_AS`` (macOS
accepts the call but does not enforce it) workers still isolate crashes and hangs, but not
memory; on Windows there is no sandbox and PDFs are opened in this process.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import sys
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from invoiceai.errors import CorruptDocumentError, DocumentTooLargeError, InvoiceAIError
from invoiceai.render.pdf.document import check_password
from invoiceai.render.pdf.sandbox_pool import (
    SandboxPool,
    WorkerFailure,
    WorkerProcess,
    forget_document,
    out_of_memory,
    pool_for,
    supported,
)
from invoiceai.render.pdf.wire import MAX_HEADER, WireError, embedded_from, error_from, pages_from

if TYPE_CHECKING:
    from invoiceai.pages import ImageBudget, Page
    from invoiceai.render.limits import Deadline, RenderLimits
    from invoiceai.render.pdf.embedded import EmbeddedXml
    from invoiceai.render.pdf.words import RawWord

__all__ = ["SandboxedPdf", "bounds_memory", "find_in_sandbox", "use_sandbox"]

GRACE = 0.25
"""Seconds a worker is given past the deadline before it is killed (the deadline raises either way)."""
STOP_GRACE = 0.5
"""Seconds a worker may take to finish the page it renders ahead when a render stops early; then it
is killed (a new one starts in about 0.15 s), so closing a page iterator never waits for a slow page."""
SLACK = MAX_HEADER + 64 * 1024
"""Bytes a reply may hold beyond its content's own cap (its header: a page's text layer)."""

_KEYS = itertools.count(1)
_SMALL = 64 * 1024
# Requests about the open document: the worker must hold it first. "find" carries its own bytes.
_NEEDS_OPEN = frozenset({"embedded", "texts", "subset", "render", "words"})
T = TypeVar("T")


def use_sandbox(limits: RenderLimits) -> bool:
    """Tells whether PDFs under ``limits`` are opened in sandbox workers (``render_memory_limit`` > 0)."""
    return limits.render_memory_limit > 0 and supported()


def bounds_memory(limits: RenderLimits) -> bool:
    """Tells whether pdfium runs under an enforced address-space limit for PDFs under ``limits``.

    True when PDFs go to sandbox workers on Linux, where ``RLIMIT_AS`` is enforced (macOS accepts
    it without enforcing it). The pre-scan then checks Flate images by their declared size
    instead of inflating them, because a stream that inflates past it anyway ends in the worker's
    typed error (see :mod:`invoiceai.render.pdf.scan`). A worker that cannot set the limit there
    refuses to serve (a ``ConfigurationError``), so no PDF checked this way reaches an unbounded pdfium.
    """
    return use_sandbox(limits) and sys.platform.startswith("linux")


@dataclasses.dataclass(frozen=True)
class Opened:
    """What opening the PDF in a worker told: its page count and whether it is encrypted."""

    pages: int
    encrypted: bool


class SandboxedPdf:
    """One PDF, opened and rendered by sandbox workers.

    Every call leases a worker (the one that has the PDF open, when it is idle), sends the PDF
    along when that worker does not hold it yet, and waits for the answer within the deadline.

    Args:
        data: The PDF bytes, already checked by the pre-scan.
        password: The password, if any.
        document_id: For error context.
        name: The document's name, for log messages.
        limits: ``render_memory_limit`` picks the workers; ``max_render_bytes`` and
            ``max_attachment_bytes`` cap the replies.
    """

    def __init__(self, data: bytes, password: str | None, *, document_id: str, name: str, limits: RenderLimits) -> None:
        self._data = data
        self._password = check_password(password)
        self._document_id = document_id
        self._name = name
        self._limits = limits
        self._key = next(_KEYS)
        self._state = threading.Lock()
        self._users = 0
        self._closing = False
        weakref.finalize(self, forget_document, limits.render_memory_limit, self._key)

    @property
    def _pool(self) -> SandboxPool:
        # Looked up on every call: after a fork, the child's calls go to workers of its own.
        return pool_for(self._limits.render_memory_limit)

    def open(self, deadline: Deadline) -> Opened:
        """Opens the PDF in a worker.

        Raises:
            EncryptedDocumentError: A password is needed.
            WrongPasswordError: The password is wrong.
            CorruptDocumentError: pdfium cannot read the PDF.
            DocumentTooLargeError: The worker ran out of ``render_memory_limit``.
            RenderTimeoutError: The deadline passed.
        """
        header, _ = self._call({"op": "open"}, deadline, _SMALL)
        opened = header.get("opened")
        if not isinstance(opened, dict) or not isinstance(opened.get("pages"), int):
            raise self._garbled("an open without a page count")
        return Opened(pages=opened["pages"], encrypted=bool(opened.get("encrypted")))

    def embedded(self, deadline: Deadline) -> EmbeddedXml | None:
        """Returns the invoice XML attached to the PDF (see :func:`~invoiceai.render.pdf.attachments.embedded_in`)."""
        request = {"op": "embedded", "limits": self._limits.numbers()}
        header, payload = self._call(request, deadline, self._limits.max_attachment_bytes + SLACK)
        return self._read(embedded_from, header, payload)

    def find(self, deadline: Deadline) -> EmbeddedXml | None:
        """Looks for the invoice XML as :func:`~invoiceai.render.pdf.attachments.find_unscanned` does."""
        request = {"op": "find", "limits": self._limits.numbers(), "password": self._password}
        request.update(document_id=self._document_id, name=self._name)
        cap = self._limits.max_attachment_bytes + SLACK
        header, payload = self._call(request, deadline, cap, payload=self._data)
        return self._read(embedded_from, header, payload)

    def texts(self, indices: Sequence[int], deadline: Deadline) -> list[str | None]:
        """Returns the text layers of the pages at ``indices``."""
        header, _ = self._call({"op": "texts", "indices": list(indices)}, deadline, self._limits.max_render_bytes)
        texts = header.get("texts")
        if not isinstance(texts, list) or not all(text is None or isinstance(text, str) for text in texts):
            raise self._garbled("text layers that are not text")
        return texts

    def words(self, indices: Sequence[int], deadline: Deadline) -> list[list[RawWord] | None]:
        """Returns the word layers of the pages at ``indices`` (see :mod:`invoiceai.render.pdf.words`).

        One request per page: a page's words fit a reply's header (a few MiB at most, see
        :data:`~invoiceai.render.pdf.words.MAX_WORDS`), a document's many pages might not.
        """
        from invoiceai.render.pdf.words import words_from

        layers: list[list[RawWord] | None] = []
        for index in indices:
            header, _ = self._call({"op": "words", "indices": [index]}, deadline, self._limits.max_render_bytes)
            layers.extend(self._read(lambda fields, _: words_from(fields, 1), header, b""))
        return layers

    def subset(self, indices: Sequence[int], deadline: Deadline | None) -> bytes:
        """Returns a new, unencrypted PDF of the pages at ``indices``."""
        _, payload = self._call({"op": "subset", "indices": list(indices)}, deadline, 2 * len(self._data) + SLACK)
        return payload

    def pages(self, indices: Sequence[int], budget: ImageBudget, deadline: Deadline) -> Generator[Page, None, None]:
        """Yields the pages at ``indices``, rendered and encoded by one worker that renders the next pages ahead.

        The worker is held until the last page, or until the iterator is closed: it keeps the next
        few pages ready while the caller uses these, and sends them in one reply (the first page
        comes alone, as soon as it is ready).
        """
        if not indices:
            return
        first = {"op": "render", "indices": list(indices), "budget": dataclasses.asdict(budget)}
        first["limits"] = self._limits.numbers()
        cap = self._limits.max_render_bytes + SLACK
        with self._use():
            worker, header, payload = self._begin(first, deadline, cap, page=indices[0] + 1)
            ready: collections.deque[Page] = collections.deque()
            for position, index in enumerate(indices):
                if position and not ready:
                    header, payload = self._step(worker, deadline, cap, page=index + 1)
                if not ready:
                    ready.extend(self._pages(worker, header, payload, len(indices) - position))
                page = ready.popleft()
                try:
                    yield page
                except BaseException:  # the caller stopped early (GeneratorExit) or failed
                    self._stop(worker)
                    raise
            self._stop(worker)

    def pages_across(
        self, indices: Sequence[int], budget: ImageBudget, deadline: Deadline, *, workers: int
    ) -> Iterator[Page]:
        """Yields the pages at ``indices`` in order, rendered by ``workers`` workers taking turns.

        Worker *k* renders every ``workers``-th page from the *k*-th on (each its own stream, as
        :meth:`pages`, rendering its next pages ahead), and this process takes one page from each
        in turn: the workers draw at the same time, the pages still come in order, and no more
        than two replies a worker are held however long the document is. Every worker opens its
        own copy of the document (once; the workers keep it open for later calls).
        """
        streams = [self.pages(indices[start::workers], budget, deadline) for start in range(min(workers, len(indices)))]
        try:
            for position in range(len(indices)):
                yield next(streams[position % len(streams)])
        finally:
            for stream in streams:  # a caller that stops early frees every worker, not just one
                stream.close()

    def close(self) -> None:
        """Lets the workers close the PDF (now, or once the calls in progress end); idempotent."""
        with self._state:
            self._closing = True
            if self._users:
                return
            self._closing = False
        self._pool.forget(self._key, at_once=True)

    def _call(
        self, request: dict[str, Any], deadline: Deadline | None, cap: int, *, payload: bytes = b""
    ) -> tuple[dict[str, Any], bytes]:
        with self._use():
            worker, header, body = self._begin(request, deadline, cap, payload=payload)
            self._pool.release(worker)
        if "error" in header:
            raise self._ended(header)
        return header, body

    def _begin(
        self,
        request: dict[str, Any],
        deadline: Deadline | None,
        cap: int,
        *,
        page: int | None = None,
        payload: bytes = b"",
    ) -> tuple[WorkerProcess, dict[str, Any], bytes]:
        # Leases a worker for one call and makes its first exchange. A worker that served other
        # documents and died before it answered this one's first request (killed while idle: the
        # kernel's OOM killer, a signal) is no fault of this document: one retry, on a fresh worker.
        worker = self._pool.lease(self._key)
        retry = worker.served > 0 and self._key not in worker.open_documents
        while True:
            try:
                header, body = self._exchange(worker, request, deadline, cap, payload=payload)
            except WorkerFailure as exc:
                self._pool.discard(worker)
                if not (retry and exc.kind == "died"):
                    raise self._failure(exc, deadline, page, worker.limit_in_force) from None
                retry, worker = False, self._pool.lease(self._key, fresh=True)
                continue
            except BaseException:
                self._pool.discard(worker)
                raise
            return worker, header, body

    def _step(self, worker: WorkerProcess, deadline: Deadline, cap: int, *, page: int) -> tuple[dict[str, Any], bytes]:
        try:
            return self._exchange(worker, {"op": "next"}, deadline, cap)
        except WorkerFailure as exc:
            self._pool.discard(worker)
            raise self._failure(exc, deadline, page, worker.limit_in_force) from None
        except BaseException:
            self._pool.discard(worker)
            raise

    def _pages(self, worker: WorkerProcess, header: dict[str, Any], payload: bytes, remaining: int) -> list[Page]:
        if "page" not in header and "pages" not in header:  # the worker's error for this page; the worker is fine
            self._pool.release(worker)
            raise self._ended(header)
        try:
            pages = self._read(pages_from, header, payload)
            if len(pages) > remaining:
                raise self._garbled(f"{len(pages)} pages where {remaining} were left")
        except BaseException:
            self._pool.discard(worker)
            raise
        return pages

    def _exchange(
        self,
        worker: WorkerProcess,
        request: dict[str, Any],
        deadline: Deadline | None,
        cap: int,
        *,
        payload: bytes = b"",
    ) -> tuple[dict[str, Any], bytes]:
        # Raises WorkerFailure for a worker that failed; a typed error the worker sent comes back as a reply.
        op = request["op"]
        if op == "open" or (op in _NEEDS_OPEN and self._key not in worker.open_documents):
            opened = self._open_in(worker, deadline)
            if op == "open" or "error" in opened:
                return opened, b""
        worker.send({**request, "key": self._key}, payload, timeout=_timeout(deadline, self._limits))
        return worker.receive(_timeout(deadline, self._limits), cap)

    def _open_in(self, worker: WorkerProcess, deadline: Deadline | None) -> dict[str, Any]:
        self._pool.make_room(worker, len(self._data))
        request = {"op": "open", "key": self._key, "password": self._password}
        request.update(document_id=self._document_id, name=self._name)
        worker.send(request, self._data, timeout=_timeout(deadline, self._limits))
        header, _ = worker.receive(_timeout(deadline, self._limits), _SMALL)
        if "opened" in header:
            worker.open_documents[self._key] = len(self._data)
        return header

    def _stop(self, worker: WorkerProcess) -> None:
        # The worker finishes the page it renders ahead, then is free for the next caller; a slow
        # page is not waited for (STOP_GRACE).
        try:
            worker.send({"op": "stop"}, timeout=STOP_GRACE)
            header, _ = worker.receive(STOP_GRACE, _SMALL)
        except WorkerFailure:
            header = {}
        if "stopped" in header:
            self._pool.release(worker)
        else:
            self._pool.discard(worker)

    def _ended(self, header: dict[str, Any]) -> InvoiceAIError:
        if "error" not in header:
            return self._garbled("a render that ended before its last page")
        try:
            return error_from(header)
        except WireError as exc:
            return self._garbled(str(exc))

    def _failure(
        self, failure: WorkerFailure, deadline: Deadline | None, page: int | None, in_force: int
    ) -> InvoiceAIError:
        if failure.kind == "timeout":
            deadline = deadline if deadline is not None else self._limits.deadline()
            return deadline.expired(document_id=self._document_id, page=page)
        if failure.kind == "died":
            code = failure.returncode
            how = "died" if code is None else f"died of signal {-code}" if code < 0 else f"exited with status {code}"
            limit = self._limits.render_memory_limit
            return out_of_memory(limit, document_id=self._document_id, detail=how, in_force=in_force, page=page)
        if failure.kind == "too_large":
            return DocumentTooLargeError(
                f"The process rendering this PDF sent back more than a page may take ({failure}); a page is capped "
                f"by max_render_bytes ({self._limits.max_render_bytes:,}). Raise Settings(max_render_bytes=...) "
                "(INVOICEAI_MAX_RENDER_BYTES) if the file is trusted.",
                setting="max_render_bytes",
                limit=self._limits.max_render_bytes,
                document_id=self._document_id,
                page=page,
            )
        return self._garbled(str(failure))

    def _read(self, reader: Callable[[dict[str, Any], bytes], T], header: dict[str, Any], payload: bytes) -> T:
        try:
            return reader(header, payload)
        except (WireError, TypeError, ValueError) as exc:
            raise self._garbled(str(exc)) from None

    def _garbled(self, detail: str) -> CorruptDocumentError:
        return CorruptDocumentError(
            f"The process reading this PDF answered with something unreadable ({detail}); the PDF may be damaged.",
            document_id=self._document_id,
        )

    @contextlib.contextmanager
    def _use(self) -> Iterator[None]:
        # Counts the calls in progress, so close() waits for them (as SharedPdf does).
        with self._state:
            self._users += 1
        try:
            yield
        finally:
            with self._state:
                self._users -= 1
                closed = self._users == 0 and self._closing
                self._closing = self._closing and not closed
            if closed:
                self._pool.forget(self._key, at_once=True)


def find_in_sandbox(
    pdf: bytes, password: str | None, *, limits: RenderLimits, name: str, document_id: str, deadline: Deadline
) -> EmbeddedXml | None:
    """Runs :func:`~invoiceai.render.pdf.attachments.find_unscanned` in a sandbox worker.

    Raises:
        InvoiceAIError: What the lookup raises, or the sandbox's own errors (see the module docstring).
    """
    handle = SandboxedPdf(pdf, password, document_id=document_id, name=name, limits=limits)
    with deadline.spending():
        return handle.find(deadline)


def _timeout(deadline: Deadline | None, limits: RenderLimits) -> float:
    # A call with no deadline of its own (a page subset) gets a whole render_timeout.
    if deadline is None:
        return limits.render_timeout + GRACE
    return deadline.remaining() + GRACE
