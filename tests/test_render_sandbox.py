"""The PDF sandbox: pdfium runs in worker processes with an address-space limit and a real deadline.

Each test that watches workers uses a memory limit of its own, and so a pool of its own
(``pool_for`` keeps one pool per limit), whatever other tests in this process have left behind.
The bombs here are the ones that get past the pre-scan (tests/pdf_bombs.py); test_hostile.py runs
the same under a 1 GiB limit on the whole process.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from typing import Any

import pytest

import pdf_bombs
from invoiceai.documents import Document
from invoiceai.errors import (
    AttachmentTooLargeError,
    ConfigurationError,
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    HostileXMLError,
    RenderTimeoutError,
    StreamTooLargeError,
    WrongPasswordError,
)
from invoiceai.pages import ImageBudget
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import PdfRenderer, find_embedded_invoice
from invoiceai.render.pdf.sandbox_pool import SandboxPool, pool_for
from invoiceai.render.pdf.wire import WireError, error_from, error_to, pack, unpack
from render_fixtures import build_pdf, count_pdf_parses, invoice_page

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox's address-space limit is enforced on Linux only"
)

BUDGET = ImageBudget(max_long_edge=400, max_pixels=160_000)
MIB = 1024 * 1024
# Distinct limits, so each test has a pool (and workers) of its own.
_LIMITS = itertools.count(768 * MIB, 4096)


def fresh_limits(**overrides: Any) -> RenderLimits:
    return RenderLimits(render_memory_limit=next(_LIMITS), **overrides)


def stats(pool: SandboxPool) -> dict[str, Any]:
    """What the pool's one idle worker says about itself."""
    worker = pool.lease(key=-1)
    try:
        worker.send({"op": "stats", "key": -1})
        header, _ = worker.receive(30.0, 65536)
    finally:
        pool.release(worker)
    answer: dict[str, Any] = header["stats"]
    return answer


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed worker is reaped by the pool, so a zombie does not count.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def invoice(pages: int = 2) -> Document:
    return Document.from_bytes(build_pdf([invoice_page(number) for number in range(1, pages + 1)]))


def test_nothing_is_parsed_here_and_one_worker_open_serves_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = fresh_limits()
    parses = count_pdf_parses(monkeypatch)
    source = PdfRenderer(limits=limits).open(invoice(3), pages="2-3")
    assert source.embedded_einvoice() is None
    assert [text is not None and "INV-0002" in text for text in source.text_layers()] == [True, False]
    assert [page.index for page in source.render(BUDGET)] == [1, 2]
    assert [page.index for page in source.render(BUDGET.capped(200))] == [1, 2]
    assert source.pdf_bytes().startswith(b"%PDF")
    assert (parses.pdfium, parses.pypdf) == (0, 0)  # pdfium never saw the file in this process
    pool = pool_for(limits.render_memory_limit)
    assert len(pool.idle_pids) == 1
    assert stats(pool)["opens"] == 1
    source.close()


def test_the_worker_caps_its_address_space(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = fresh_limits()
    parses = count_pdf_parses(monkeypatch)
    PdfRenderer(limits=limits).open(invoice(1)).close()
    worker = stats(pool_for(limits.render_memory_limit))
    # The PDF was opened in that very worker (with the sandbox off, a worker would still start for
    # stats() and have the limit, having opened nothing).
    assert worker["opens"] == 1
    assert parses.pdfium == 0
    assert worker["limit"] == limits.render_memory_limit
    with open(f"/proc/{worker['pid']}/limits") as table:
        line = next(row for row in table if row.startswith("Max address space"))
    assert line.split()[3] == str(limits.render_memory_limit)


def test_a_worker_that_runs_out_of_memory_is_a_typed_error_and_is_replaced() -> None:
    limits = fresh_limits()
    renderer = PdfRenderer(limits=limits)
    bomb = renderer.open(Document.from_bytes(pdf_bombs.many_contents_pdf(count=12)))  # 1.2 GB on page load
    pool = pool_for(limits.render_memory_limit)
    (dead,) = pool.idle_pids
    with pytest.raises(DocumentTooLargeError, match="render_memory_limit") as caught:
        list(bomb.render(BUDGET))
    assert caught.value.setting == "render_memory_limit"
    assert caught.value.limit == limits.render_memory_limit
    assert not alive(dead)
    assert pool.idle_pids == []
    # The next document gets a fresh worker and renders.
    assert [page.index for page in renderer.open(invoice(2)).render(BUDGET)] == [0, 1]
    assert pool.idle_pids != [dead]


def test_the_deadline_kills_a_worker_stuck_in_one_pdfium_call() -> None:
    limits = fresh_limits(render_timeout=2.0)
    source = PdfRenderer(limits=limits).open(Document.from_bytes(pdf_bombs.slow_shading_pdf()))
    (stuck,) = pool_for(limits.render_memory_limit).idle_pids
    raised: list[BaseException] = []
    finished = threading.Event()

    def render() -> None:
        try:
            list(source.render(ImageBudget()))
        except BaseException as exc:
            raised.append(exc)
        finished.set()

    threading.Thread(target=render, daemon=True).start()
    # Not a timing assertion: without a real deadline the call runs for minutes, and this fails
    # instead of hanging the suite.
    assert finished.wait(120), "the render deadline did not interrupt the stuck pdfium call"
    assert len(raised) == 1 and isinstance(raised[0], RenderTimeoutError), raised
    assert raised[0].setting == "render_timeout"
    assert not alive(stuck)


def test_an_abandoned_render_frees_its_worker() -> None:
    limits = fresh_limits()
    source = PdfRenderer(limits=limits).open(invoice(6))
    pages = source.render(BUDGET)
    assert next(pages).index == 0
    pages.close()  # the worker finishes the page it rendered ahead and goes back to the pool
    pool = pool_for(limits.render_memory_limit)
    (worker,) = pool.idle_pids
    assert [page.index for page in source.render(BUDGET)] == list(range(6))
    assert pool.idle_pids == [worker]


def test_typed_errors_cross_from_the_worker() -> None:
    limits = fresh_limits()
    renderer = PdfRenderer(limits=limits)
    encrypted = Document.from_bytes(pdf_bombs.encrypted_bomb_pdf(1024))
    assert [page.index for page in renderer.open(encrypted).render(BUDGET)] == [0]  # empty user password
    with pytest.raises(CorruptDocumentError):
        renderer.open(Document.from_bytes(b"%PDF-1.7\nnot a pdf at all"))
    protected = _protected_pdf()
    with pytest.raises(EncryptedDocumentError) as missing:
        renderer.open(Document.from_bytes(protected))
    assert not isinstance(missing.value, WrongPasswordError)
    with pytest.raises(WrongPasswordError):
        renderer.open(Document.from_bytes(protected), password="wrong")
    assert renderer.open(Document.from_bytes(protected), password="secret").total_pages == 1
    assert len(pool_for(limits.render_memory_limit).idle_pids) == 1  # typed errors do not cost the worker


def test_the_attachment_lookup_runs_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_pdf_parses(monkeypatch)
    assert find_embedded_invoice(invoice(1).data, limits=fresh_limits()) is None
    assert parses.pdfium == 0
    with pytest.raises(StreamTooLargeError):  # the pre-scan still runs here, first
        find_embedded_invoice(
            pdf_bombs.many_contents_pdf(count=1, size=8 * MIB), limits=fresh_limits(max_stream_bytes=MIB)
        )


def test_pool_workers_for_processes_cap_their_address_space_too() -> None:
    limits = fresh_limits()
    renderer = PdfRenderer(processes=2, min_pages_for_processes=1, limits=limits)
    source = renderer.open(Document.from_bytes(pdf_bombs.many_contents_pdf(count=12)))
    assert source.processes == 2
    with pytest.raises(DocumentTooLargeError, match="render_memory_limit") as caught:
        list(source.render(BUDGET))
    assert caught.value.setting == "render_memory_limit"


def test_without_a_memory_limit_pdfs_open_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_pdf_parses(monkeypatch)
    source = PdfRenderer(limits=RenderLimits(render_memory_limit=0)).open(invoice(1))
    assert len(list(source.render(BUDGET))) == 1
    assert parses.pdfium == 1


def test_errors_travel_as_data_and_only_ours_come_back_as_themselves() -> None:
    error = StreamTooLargeError("too big", setting="max_stream_bytes", limit=1, found=2, document_id="ab", page=3)
    back = error_from(unpack(error_to(error))[0])
    assert type(back) is StreamTooLargeError
    assert (back.message, back.setting, back.limit, back.found, back.document_id, back.page) == (
        "too big", "max_stream_bytes", 1, 2, "ab", 3,
    )  # fmt: skip
    foreign = error_from({"error": {"type": "SystemExit", "message": "bye"}})
    assert type(foreign) is CorruptDocumentError
    with pytest.raises(WireError):
        unpack(pack({"a": 1})[:-1])
    with pytest.raises(WireError):
        error_from({"error": {"type": 3}})


def test_closing_a_document_closes_it_in_the_idle_worker_at_once() -> None:
    limits = fresh_limits()
    source = PdfRenderer(limits=limits).open(invoice(2))
    assert len(list(source.render(BUDGET))) == 2
    pool = pool_for(limits.render_memory_limit)
    (worker,) = pool.idle_pids
    source.close()
    after = stats(pool)  # the close must have been sent already, not at this lease's end
    assert (after["pid"], after["open"]) == (worker, [])


@pytest.mark.parametrize(
    "name",
    ["ConfigurationError", "MissingDependencyError", "AuthenticationError", "CacheError", "InvoiceAIError",
     "MissingFieldsError", "RuleViolationError", "ExtractionValidationError", "redact", "KeyboardInterrupt"],
)  # fmt: skip
def test_a_worker_cannot_send_errors_a_document_cannot_cause(name: str) -> None:
    back = error_from({"error": {"type": name, "message": "m", "page": 2}})
    assert type(back) is CorruptDocumentError
    assert name in back.message


def test_errors_a_document_can_cause_come_back_whole() -> None:
    error = AttachmentTooLargeError("big", setting="max_attachment_bytes", limit=10, found=11, page=None)
    back = error_from(unpack(error_to(error))[0])
    assert type(back) is AttachmentTooLargeError
    assert (back.setting, back.limit, back.found, back.page) == ("max_attachment_bytes", 10, 11, None)
    assert type(error_from(unpack(error_to(HostileXMLError("dtd")))[0])) is HostileXMLError
    # Fields of the wrong type are dropped, never left unset.
    odd = error_from({"error": {"type": "RenderTimeoutError", "message": "m", "page": "one", "limit": [1]}})
    assert type(odd) is RenderTimeoutError
    assert (odd.page, odd.limit, odd.setting, odd.document_id) == (None, None, None, None)


@pytest.mark.parametrize("password", [b"secret", 1234, ["secret"]])
def test_a_password_that_is_not_text_is_a_typed_error_and_costs_no_worker(password: object) -> None:
    limits = fresh_limits()
    renderer = PdfRenderer(limits=limits)
    renderer.open(invoice(1)).close()
    pool = pool_for(limits.render_memory_limit)
    workers = pool.idle_pids
    with pytest.raises(ConfigurationError, match="password must be text"):
        renderer.open(Document.from_bytes(_protected_pdf()), password=password)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="password must be text"):
        find_embedded_invoice(invoice(1).data, password=password, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="password must be text"):
        PdfRenderer(limits=RenderLimits(render_memory_limit=0)).open(invoice(1), password=password)  # type: ignore[arg-type]
    assert pool.idle_pids == workers


def _protected_pdf() -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(invoice(1).data)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_processes_are_sandbox_workers_taking_turns_and_stopping_early_frees_them_all() -> None:
    limits = fresh_limits()
    document = Document.from_bytes(build_pdf([invoice_page(number) for number in range(1, 7)]))
    source = PdfRenderer(processes=2, min_pages_for_processes=1, limits=limits).open(document)
    pool = pool_for(limits.render_memory_limit)
    pages = source.render(BUDGET)
    taken = [next(pages), next(pages)]
    assert len(pool.pids) - len(pool.idle_pids) == 2  # one worker for odd pages, one for even
    pages.close()
    assert len(pool.idle_pids) == len(pool.pids) >= 2  # both handed back
    assert [page.index for page in taken] == [0, 1]
    rendered = list(source.render(BUDGET))
    assert [page.index for page in rendered] == list(range(6))
    assert all(page.text is not None and f"INV-{index + 1:04d}" in page.text for index, page in enumerate(rendered))
