"""The PDF sandbox worker: the child process that does the pdfium work on untrusted PDFs.

:mod:`invoiceai.render.pdf.sandbox_pool` starts it as a fresh interpreter with the two pipe
descriptors and the memory limit as arguments. It caps its own address space (``RLIMIT_AS``)
before importing pdfium, says it is ready, then answers one request at a time
(:mod:`invoiceai.render.pdf.wire`) until the request pipe closes: open a PDF, read its embedded
e-invoice, its text layers, a page subset, render pages. The first page of a render comes back
alone, as soon as it is ready; then each reply carries up to :data:`BATCH` pages, encoded ahead
while the parent uses the previous ones, so a long document costs one round trip per few pages,
not per page. A request that arrives while pages are prepared ahead is read between two pages:
a "next" is answered as soon as the batch is complete, anything else (a "stop") ends the batch
at once. It keeps the PDFs it is told to keep open.

A worker that cannot set its address-space limit on Linux (where the parent counts on it) exits
at once instead of serving unbounded. Errors go back as typed errors; a ``MemoryError`` becomes
the ``render_memory_limit`` error. When pdfium itself aborts on a failed allocation the process
dies, and the parent reports it the same way. A watchdog thread ends the worker if its parent
goes away while pdfium is busy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from invoiceai.errors import CorruptDocumentError, InvoiceAIError
from invoiceai.render.limits import RenderLimits
from invoiceai.render.noise import library_noise
from invoiceai.render.pdf.sandbox_pool import limit_memory, out_of_memory
from invoiceai.render.pdf.sandbox_process import MAX_LOG_CHARS, MAX_LOG_LINES
from invoiceai.render.pdf.wire import budget_from, embedded_to, error_to, pack, pages_to, unpack
from invoiceai.secrets import get_logger

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from invoiceai.pages import Page

__all__ = ["BATCH", "main"]

BATCH = 4
"""Pages a reply carries at most (the first page of a render comes alone)."""
_BATCH_TEXT = 256 * 1024
"""Characters of text layer a batch carries beyond a single page (a reply's header stays small)."""


def main(argv: list[str]) -> int:
    """Runs a worker: ``argv`` is the request pipe's descriptor, the reply pipe's, and the limit in bytes."""
    from multiprocessing.connection import Connection

    request_fd, reply_fd, limit = (int(value) for value in argv[:3])
    effective = limit_memory(limit)
    _watch_parent(os.getppid())
    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
    if limit > 0 and not effective and sys.platform.startswith("linux"):
        # The parent's pre-scan trusts this limit on Linux (sandbox.bounds_memory) and checks big
        # images by their declared size only: unbounded, pdfium could inflate such a stream in
        # full. So a worker that could not set it serves nothing, and says why.
        replies.send_bytes(pack({"unlimited": limit}))
        return 2
    # Imported before the greeting: the first document should not wait for them, and a limit too
    # small to import them shows at start, not on a user's document.
    import pypdfium2  # noqa: F401
    from PIL import Image  # noqa: F401

    import invoiceai.render.pdf.attachments
    import invoiceai.render.pdf.renderer  # noqa: F401

    replies.send_bytes(pack({"ready": os.getpid(), "limit": effective}))
    _Worker(replies, effective).serve(requests)
    return 0


def _watch_parent(parent: int) -> None:
    # When the parent dies its pipe closes, but a worker stuck in pdfium never reads it.
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="invoiceai-sandbox-watch", daemon=True).start()


@dataclasses.dataclass
class _Open:
    pdf: Any
    data: bytes
    password: str | None
    document_id: str
    name: str


class _Worker:
    def __init__(self, replies: Connection, limit: int) -> None:
        self._replies = replies
        self._limit = limit
        self._documents: dict[int, _Open] = {}
        self._stream: Generator[Page, None, None] | None = None
        self._ahead: bytes | None = None  # the next pages' reply, made before it was asked for
        self._held: Page | None = None  # a page that did not fit in the last batch
        self._failure: BaseException | None = None  # what ended the stream after the last batch's pages
        self._cap = 0  # bytes of pages one reply may carry (max_render_bytes)
        self._requests: Connection | None = None
        self._waiting: tuple[dict[str, Any], bytes] | None = None  # a request read while preparing pages
        self._asked = False  # a "next" was read while preparing pages
        self._gone = False  # the request pipe closed while preparing pages
        self._opens = 0
        self._log = _Collect()
        self._handlers: dict[str, Callable[[dict[str, Any], bytes], bytes]] = {
            "open": self._open,
            "embedded": self._embedded,
            "find": self._find,
            "texts": self._texts,
            "words": self._words,
            "subset": self._subset,
            "render": self._render,
            "next": lambda header, payload: self._take_ahead(),
            "stop": self._stop,
            "stats": self._stats,
        }

    def serve(self, requests: Connection) -> None:
        self._requests = requests
        while not self._gone:
            try:
                header, payload = self._request(requests)
            except EOFError:
                return
            op = header.get("op")
            if op == "close":  # confirmed, so the parent learns at once if this process is gone
                self._close(header.get("key"))
                self._replies.send_bytes(pack({"closed": header.get("key")}))
                continue
            if op not in ("next", "stop"):
                self._end_stream()
            reply = self._answer(str(op), header, payload)
            self._replies.send_bytes(self._with_log(reply))
            if op in ("render", "next") and self._stream is not None:
                # Encode the next pages now, while the parent uses these (the pages' helper
                # thread is rendering the one after): "next" is then answered at once.
                self._ahead = self._answer("next", {}, b"")

    def _request(self, requests: Connection) -> tuple[dict[str, Any], bytes]:
        if self._asked:
            self._asked = False
            return {"op": "next"}, b""
        if self._waiting is not None:
            request, self._waiting = self._waiting, None
            return request
        return unpack(requests.recv_bytes())

    def _may_go_on(self) -> bool:
        # Between two pages of a batch: a "next" waits for the batch, any other request ends it.
        requests = self._requests
        if requests is None or self._asked or self._waiting is not None:
            return not self._waiting
        if not requests.poll(0):
            return True
        try:
            request = unpack(requests.recv_bytes())
        except EOFError:
            self._gone = True
            return False
        if request[0].get("op") == "next":
            self._asked = True
            return True
        self._waiting = request
        return False

    def _with_log(self, reply: bytes) -> bytes:
        # The parent logs what this request made pypdf and Pillow say, as if they had said it there.
        lines, self._log.lines = self._log.lines, []
        if not lines:
            return reply
        header, payload = unpack(reply)
        header["log"] = lines
        return pack(header, payload)

    def _answer(self, op: str, header: dict[str, Any], payload: bytes) -> bytes:
        document_id = header.get("document_id")
        try:
            handler = self._handlers.get(op)
            if handler is None:
                raise CorruptDocumentError(f"The PDF sandbox worker does not know the request {op!r}.")
            return handler(header, payload)
        except InvoiceAIError as exc:
            return error_to(exc)
        except MemoryError:
            self._end_stream()
            return error_to(out_of_memory(self._limit, document_id=document_id, detail="ran out of memory"))
        except Exception as exc:
            # pdfium's and Pillow's own errors are wrapped where they occur; anything else is a damaged file.
            return error_to(CorruptDocumentError(f"The PDF could not be read ({type(exc).__name__}: {exc})."))

    def _document(self, header: dict[str, Any]) -> _Open:
        document = self._documents.get(header.get("key", -1))
        if document is None:
            raise CorruptDocumentError("The PDF sandbox worker was asked about a PDF it does not hold.")
        return document

    def _open(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.document import is_encrypted, open_pdf, page_count

        document_id, password = str(header["document_id"]), header.get("password")
        self._close(header["key"])
        pdf = open_pdf(payload, password, document_id=document_id)
        self._opens += 1
        self._documents[header["key"]] = _Open(pdf, payload, password, document_id, str(header.get("name")))
        return pack({"opened": {"pages": page_count(pdf), "encrypted": is_encrypted(pdf)}})

    def _close(self, key: Any) -> None:
        from invoiceai.render.pdf.document import close_pdf

        document = self._documents.pop(key, None)
        if document is not None:
            close_pdf(document.pdf)

    def _embedded(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.attachments import embedded_in

        document = self._document(header)
        with library_noise(document.name):
            found = embedded_in(document.pdf, document.data, document.password, limits=_limits(header))
        return embedded_to(found)

    def _find(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.attachments import find_unscanned

        with library_noise(str(header.get("name"))):
            found = find_unscanned(
                payload, header.get("password"), limits=_limits(header), document_id=str(header["document_id"])
            )
        return embedded_to(found)

    def _texts(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.raster import page_text

        document = self._document(header)
        texts = [page_text(document.pdf, index, document_id=document.document_id) for index in header["indices"]]
        return pack({"texts": texts})

    def _words(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.words import page_words, words_to

        document = self._document(header)
        layers = [page_words(document.pdf, index, document_id=document.document_id) for index in header["indices"]]
        return pack(words_to(layers))

    def _subset(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.document import subset_pdf

        document = self._document(header)
        return pack({"pdf": True}, subset_pdf(document.pdf, header["indices"], document_id=document.document_id))

    def _render(self, header: dict[str, Any], payload: bytes) -> bytes:
        from invoiceai.render.pdf.renderer import render_pages

        document = self._document(header)
        limits = _limits(header)
        self._cap = limits.max_render_bytes
        self._stream = render_pages(
            document.pdf,
            header["indices"],
            budget_from(header["budget"]),
            document_id=document.document_id,
            name=document.name,
            limits=limits,
        )
        return self._next(1)

    def _next(self, most: int) -> bytes:
        # Up to ``most`` pages in one reply, within the byte cap and a little text; an error after
        # the first page is kept for the next request, so the pages before it still go out.
        if self._failure is not None and self._held is None:
            failure, self._failure = self._failure, None
            raise failure
        pages: list[Page] = []
        while len(pages) < most and (not pages or self._may_go_on()):
            page = self._held
            self._held = None
            if page is None:
                if self._stream is None:
                    break
                try:
                    page = next(self._stream)
                except StopIteration:
                    self._stream = None
                    break
                except BaseException as exc:
                    self._stream = None
                    if not pages:
                        raise
                    self._failure = exc
                    break
            if pages and not _fits(pages, page, self._cap):
                self._held = page
                break
            pages.append(page)
        return pages_to(pages) if pages else pack({"end": True})

    def _take_ahead(self) -> bytes:
        reply, self._ahead = self._ahead, None
        return reply if reply is not None else self._next(BATCH)

    def _stop(self, header: dict[str, Any], payload: bytes) -> bytes:
        self._end_stream()
        return pack({"stopped": True})

    def _end_stream(self) -> None:
        self._ahead = self._held = self._failure = None
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()  # waits for the page rendered ahead

    def _stats(self, header: dict[str, Any], payload: bytes) -> bytes:
        stats = {"pid": os.getpid(), "opens": self._opens, "open": sorted(self._documents), "limit": self._limit}
        return pack({"stats": stats})


class _Collect(logging.Handler):
    """Keeps the messages logged under ``invoiceai`` during one request (the first few hundred)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        logger = get_logger("invoiceai")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < MAX_LOG_LINES:
            with contextlib.suppress(Exception):
                self.lines.append(record.getMessage()[:MAX_LOG_CHARS])


def _fits(pages: list[Page], page: Page, cap: int) -> bool:
    size = len(page.data) + sum(len(kept.data) for kept in pages)
    text = len(page.text or "") + sum(len(kept.text or "") for kept in pages)
    return size <= cap and text <= _BATCH_TEXT


def _limits(header: dict[str, Any]) -> RenderLimits:
    # The parent enforces the deadline and owns the sandbox: here, no timeout and no nested sandbox.
    fields = dict(header["limits"])
    fields["render_memory_limit"] = 0
    return RenderLimits(**fields)
