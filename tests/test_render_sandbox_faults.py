"""The PDF sandbox against a worker that misbehaves: a stand-in worker replaces the real one.

The stand-in (:data:`FAKE_WORKER`) greets, opens and closes like the real worker, then does one
wrong thing when asked for a page: it stalls in the middle of a reply, dies in the middle of one,
announces a reply far above any cap, sends one that does not parse, dies outright, or keeps
"rendering ahead" for an hour. Each must end in the right typed error (or, for the last, a quick
stop), never in a parent blocked for good. A test that would otherwise hang waits on an event with
a generous bound, so a regression fails instead of hanging the suite (not a timing assertion).

Each test uses a memory limit of its own, so a pool of its own (``pool_for`` keeps one per limit).
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from invoiceai.documents import Document
from invoiceai.errors import ConfigurationError, CorruptDocumentError, DocumentTooLargeError, RenderTimeoutError
from invoiceai.pages import ImageBudget, Page
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import PdfRenderer, sandbox_pool
from invoiceai.render.pdf.sandbox_pool import pool_for
from render_fixtures import build_pdf, invoice_page

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox's address-space limit is enforced on Linux only"
)

BUDGET = ImageBudget(max_long_edge=400, max_pixels=160_000)
MIB = 1024 * 1024
BOUND = 60.0
"""Seconds a call may take before the test gives up on it: only a hang gets near."""
_LIMITS = itertools.count(1536 * MIB, 4096)

FAKE_WORKER = """
import os, struct, sys, threading, time
sys.path.insert(0, sys.argv[1])
from multiprocessing.connection import Connection
from invoiceai.render.pdf.wire import pack, unpack

parent = os.getppid()
def watch():  # ends with the test process, as the real worker does
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()

requests = Connection(int(sys.argv[2]), writable=False)
reply_fd = int(sys.argv[3])
replies = Connection(reply_fd, readable=False)
replies.send_bytes(pack({"ready": os.getpid(), "limit": int(sys.argv[4])}))
PAGE = {"index": 0, "width": 1, "height": 1, "media_type": "image/png", "text": None, "born_digital": False,
        "scale": 1.0}
while True:
    try:
        header, payload = unpack(requests.recv_bytes())
    except EOFError:
        break
    op = header.get("op")
    if op == "close":
        replies.send_bytes(pack({"closed": header["key"]}))
    elif op == "open":
        replies.send_bytes(pack({"opened": {"pages": 3, "encrypted": False}}))
    elif op == "stop":
        replies.send_bytes(pack({"stopped": True}))
    elif MODE == "stall":  # promises a megabyte, sends ten bytes of it, then nothing
        os.write(reply_fd, struct.pack("!i", 1_000_000) + b"x" * 10)
        time.sleep(3600)
    elif MODE == "die_mid":  # the same, then dies
        os.write(reply_fd, struct.pack("!i", 1_000_000) + b"x" * 10)
        os._exit(0)
    elif MODE == "huge":  # a terabyte, in the long form of the length
        os.write(reply_fd, struct.pack("!i", -1) + struct.pack("!Q", 2**40))
        time.sleep(3600)
    elif MODE == "garbled":
        replies.send_bytes(b"\\x00\\x00\\x00\\x05{nope")
    elif MODE == "die":
        os._exit(3)
    elif MODE == "error_after_two":  # a batch of two pages, then the worker's typed error for the third
        if op == "render":
            replies.send_bytes(pack({"pages": [dict(PAGE, index=0, size=3), dict(PAGE, index=1, size=3)]}, b"onetwo"))
        else:
            replies.send_bytes(pack({"error": {"type": "CorruptDocumentError", "message": "page 3 is damaged"}}))
    elif MODE == "one_too_many":  # four pages where three were asked for
        replies.send_bytes(pack({"pages": [dict(PAGE, index=i, size=1) for i in range(4)]}, b"abcd"))
    elif MODE == "slow_ahead":  # answers the first page, then renders the next one for an hour
        replies.send_bytes(pack({"page": PAGE}, b"png"))
        time.sleep(3600)
"""


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], RenderLimits]:
    """Makes new sandbox workers the stand-in in ``mode``; returns limits that give a pool of their own."""

    def use(mode: str, **overrides: Any) -> RenderLimits:
        monkeypatch.setattr(sandbox_pool, "_BOOTSTRAP", f"MODE = {mode!r}\n{FAKE_WORKER}")
        return RenderLimits(render_memory_limit=next(_LIMITS), **overrides)

    return use


def invoice() -> Document:
    return Document.from_bytes(build_pdf([invoice_page(number) for number in range(1, 4)]))


def finish(call: Callable[[], object]) -> BaseException | None:
    """Runs ``call`` in a thread; returns what it raised (``None``: nothing). Fails if it is still blocked."""
    raised: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(BOUND), f"still blocked after {BOUND} s: the sandbox did not bound the call"
    return raised[0] if raised else None


def render_all(limits: RenderLimits) -> Callable[[], object]:
    source = PdfRenderer(limits=limits).open(invoice())
    return lambda: list(source.render(BUDGET))


def test_a_reply_that_stalls_midway_ends_at_the_deadline(fake_worker: Callable[..., RenderLimits]) -> None:
    limits = fake_worker("stall", render_timeout=1.0)
    raised = finish(render_all(limits))
    assert isinstance(raised, RenderTimeoutError), raised
    assert (raised.setting, raised.page) == ("render_timeout", 1)
    assert pool_for(limits.render_memory_limit).idle_pids == []  # the stalled worker was killed


def test_a_worker_that_dies_midway_through_a_reply_is_a_dead_worker_not_a_large_page(
    fake_worker: Callable[..., RenderLimits],
) -> None:
    limits = fake_worker("die_mid")
    raised = finish(render_all(limits))
    assert isinstance(raised, DocumentTooLargeError), raised
    assert raised.setting == "render_memory_limit"
    assert raised.page == 1


def test_a_worker_that_dies_rendering_names_the_page_it_was_on(fake_worker: Callable[..., RenderLimits]) -> None:
    limits = fake_worker("die")
    raised = finish(render_all(limits))
    assert isinstance(raised, DocumentTooLargeError), raised
    assert (raised.setting, raised.page) == ("render_memory_limit", 1)
    assert "rendering page 1" in raised.message and "opening" not in raised.message
    assert "exited with status 3" in raised.message


def test_a_reply_above_its_cap_is_refused_unread(fake_worker: Callable[..., RenderLimits]) -> None:
    # A terabyte is announced and never sent: reading it would block, allocating it would fail.
    limits = fake_worker("huge", render_timeout=600.0)
    raised = finish(render_all(limits))
    assert isinstance(raised, DocumentTooLargeError), raised
    assert (raised.setting, raised.limit) == ("max_render_bytes", limits.max_render_bytes)


def test_a_reply_that_does_not_parse_is_a_damaged_document(fake_worker: Callable[..., RenderLimits]) -> None:
    limits = fake_worker("garbled")
    raised = finish(render_all(limits))
    assert type(raised) is CorruptDocumentError, raised
    assert pool_for(limits.render_memory_limit).idle_pids == []


def test_closing_a_render_early_does_not_wait_for_a_slow_page(fake_worker: Callable[..., RenderLimits]) -> None:
    # render_timeout is an hour: closing must not wait for the page the worker renders ahead.
    limits = fake_worker("slow_ahead", render_timeout=3600.0)
    source = PdfRenderer(limits=limits).open(invoice())
    pages: Iterator[Page] = source.render(BUDGET)
    assert next(pages).data == b"png"
    pool = pool_for(limits.render_memory_limit)
    (busy,) = pool.pids
    assert finish(pages.close) is None  # type: ignore[attr-defined]
    assert busy not in pool.pids  # killed after the grace, not handed back busy
    assert pool.idle_pids == []


def test_an_error_after_a_batch_comes_after_its_pages_and_the_worker_serves_on(
    fake_worker: Callable[..., RenderLimits],
) -> None:
    limits = fake_worker("error_after_two")
    pool = pool_for(limits.render_memory_limit)
    workers: list[int] = []
    for _ in range(2):  # the second render gets the same worker: the error did not cost it
        received: list[bytes] = []

        def render(into: list[bytes] = received) -> None:
            source = PdfRenderer(limits=limits).open(invoice())
            into.extend(page.data for page in source.render(BUDGET))

        raised = finish(render)
        assert received == [b"one", b"two"]
        assert type(raised) is CorruptDocumentError and "page 3 is damaged" in str(raised), raised
        (worker,) = pool.idle_pids
        assert pool.pids == [worker]
        workers.append(worker)
    assert workers[0] == workers[1]


def test_a_batch_with_more_pages_than_were_left_is_refused(fake_worker: Callable[..., RenderLimits]) -> None:
    limits = fake_worker("one_too_many")
    raised = finish(render_all(limits))
    assert type(raised) is CorruptDocumentError and "4 pages where 3 were left" in str(raised), raised
    assert pool_for(limits.render_memory_limit).idle_pids == []  # a worker that lies is not reused


def test_a_worker_that_cannot_cap_its_memory_serves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pre-scan trusts the worker's RLIMIT_AS on Linux (big images checked by their declared
    # size), so a worker where setrlimit fails must not go on to run pdfium unbounded.
    refusing = (
        "import sys; sys.path.insert(0, sys.argv[1]); import resource\n"
        "def refuse(*args): raise OSError('setrlimit is not permitted here')\n"
        "resource.setrlimit = refuse\n"
        "from invoiceai.render.pdf.sandbox_worker import main; sys.exit(main(sys.argv[2:]))"
    )
    monkeypatch.setattr(sandbox_pool, "_BOOTSTRAP", refusing)
    limits = RenderLimits(render_memory_limit=next(_LIMITS))
    raised = finish(lambda: list(PdfRenderer(limits=limits).open(invoice()).render(BUDGET)))
    assert type(raised) is ConfigurationError and "RLIMIT_AS" in str(raised), raised
    assert pool_for(limits.render_memory_limit).pids == []
