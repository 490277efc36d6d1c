"""Pages cross from the PDF sandbox worker a few to a reply (render/pdf/sandbox_worker.py, wire.py)."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import pytest

from invoiceai.documents import Document
from invoiceai.pages import ImageBudget, Page
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import PdfRenderer
from invoiceai.render.pdf.sandbox_process import WorkerProcess
from invoiceai.render.pdf.sandbox_worker import BATCH
from invoiceai.render.pdf.wire import WireError, pack, page_to, pages_from, pages_to, unpack
from render_fixtures import build_pdf, invoice_page

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is tested on Linux")

BUDGET = ImageBudget(max_long_edge=400, max_pixels=160_000)
_LIMITS = itertools.count(900 * 1024 * 1024, 4096)  # a pool of this file's own


def _page(index: int, data: bytes, text: str | None = "x") -> Page:
    return Page(index=index, width=2, height=3, media_type="image/png", data=data, text=text, scale=0.5)


def test_a_batch_round_trips_and_its_sizes_must_add_up() -> None:
    pages = [_page(0, b"first"), _page(1, b""), _page(2, b"third page", text=None)]
    header, payload = unpack(pages_to(pages))
    assert pages_from(header, payload) == pages
    assert pages_from(*unpack(page_to(pages[0]))) == pages[:1]  # the one-page form still reads
    batch = header["pages"]
    for broken_header, broken_payload in [
        ({"pages": batch}, payload + b"extra"),
        ({"pages": batch}, payload[:-1]),
        ({"pages": [{**batch[0], "size": -1}]}, b""),
        ({"pages": []}, b""),
    ]:
        with pytest.raises(WireError):
            pages_from(*unpack(pack(broken_header, broken_payload)))


def test_a_long_render_takes_fewer_round_trips_than_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    replies: list[dict[str, Any]] = []
    receive = WorkerProcess.receive

    def counted(self: WorkerProcess, timeout: float | None, cap: int) -> tuple[dict[str, Any], bytes]:
        header, payload = receive(self, timeout, cap)
        replies.append(header)
        return header, payload

    monkeypatch.setattr(WorkerProcess, "receive", counted)
    count = 3 * BATCH + 2
    document = Document.from_bytes(build_pdf([invoice_page(number) for number in range(1, count + 1)]))
    source = PdfRenderer(limits=RenderLimits(render_memory_limit=next(_LIMITS))).open(document)
    pages = list(source.render(BUDGET))
    source.close()
    assert [page.index for page in pages] == list(range(count))
    assert all(page.text for page in pages)  # each page's text layer travels with it
    page_replies = [len(header["pages"]) for header in replies if "pages" in header]
    assert sum(page_replies) == count
    assert page_replies[0] == 1  # the first page comes alone, as soon as it is ready
    assert max(page_replies) <= BATCH
    assert len(page_replies) < count


def test_a_stop_read_between_two_pages_ends_the_batch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's own loop, in this process (limit 0: no RLIMIT_AS here), on pipes of the test's.
    import dataclasses
    import logging
    import os
    import threading
    from multiprocessing.connection import Connection

    from invoiceai.render.pdf import renderer, sandbox_worker

    produced: list[int] = []
    stop_sent, closed = threading.Event(), threading.Event()

    def render_pages(pdf: object, indices: list[int], budget: object, **options: object) -> Any:
        try:
            for index in indices:
                if index == 1:  # the worker renders ahead: the stop arrives while this page is drawn
                    stop_sent.wait(60)
                produced.append(index)
                yield _page(index, b"page %d" % index)
        finally:
            closed.set()

    monkeypatch.setattr(renderer, "render_pages", render_pages)
    # The worker makes the "invoiceai" logger its own; this process gets it back afterwards.
    logger = logging.getLogger("invoiceai")
    level, propagate, handlers = logger.level, logger.propagate, list(logger.handlers)
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    requests, replies = Connection(request_write, readable=False), Connection(reply_read, writable=False)
    worker = threading.Thread(target=sandbox_worker.main, args=([str(request_read), str(reply_write), "0"],))
    worker.start()
    try:
        assert "ready" in unpack(replies.recv_bytes())[0]
        pdf = build_pdf([invoice_page(number) for number in range(1, 4)])
        requests.send_bytes(pack({"op": "open", "key": 1, "document_id": "d", "name": "n"}, pdf))
        assert "opened" in unpack(replies.recv_bytes())[0]
        render = {"op": "render", "key": 1, "indices": [0, 1, 2], "budget": dataclasses.asdict(BUDGET)}
        requests.send_bytes(pack({**render, "limits": RenderLimits().numbers()}))
        assert [page.data for page in pages_from(*unpack(replies.recv_bytes()))] == [b"page 0"]
        requests.send_bytes(pack({"op": "stop", "key": 1}))
        stop_sent.set()
        header, _ = unpack(replies.recv_bytes())
        assert header.get("stopped") is True, header  # not the page rendered ahead
        assert closed.is_set()
        assert produced == [0, 1]  # the batch ended after the page in progress: page 3 never drawn
    finally:
        stop_sent.set()
        requests.close()
        worker.join(60)
        replies.close()
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers
    assert not worker.is_alive()
