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
