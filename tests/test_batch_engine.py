"""The batch engine: the same scenarios through the sync and async runners, streaming, warming."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from documents_factory import example_invoice, pdf_invoice, png_invoice
from invoiceai import Extraction, ExtractionFailure, Extractor, Invoice
from invoiceai.backends.base import BackendResult
from invoiceai.cache import MemoryCache
from invoiceai.errors import CorruptDocumentError, RateLimitError, UnsupportedFormatError
from invoiceai.extractor import BatchItem
from invoiceai.extractor.batch import in_order
from invoiceai.extractor.schedule import DuplicateTable, Ticket
from invoiceai.extractor.warm import WarmPageSource
from invoiceai.pages import ImageBudget, PageSource
from invoiceai.testing import FakeBackend
from invoiceai.usage import Usage

Result = Extraction[Any] | ExtractionFailure


class Abort(BaseException):
    """A BaseException that is not Ctrl-C, so pytest itself is not interrupted."""


def answer(call: Any) -> Invoice:
    return example_invoice().model_copy(update={"notes": call.document_id})


def fake(reply: Any = answer) -> FakeBackend:
    return FakeBackend(default=reply, usage=Usage(input_tokens=1000, output_tokens=300, requests=1))


def run_sync(backend: FakeBackend, sources: list[Any], **kwargs: Any) -> list[Result]:
    with Extractor(backend=backend, cache=None, concurrency=2) as extractor:
        return extractor.extract_many(sources, **kwargs)


def run_async(backend: FakeBackend, sources: list[Any], **kwargs: Any) -> list[Result]:
    async def main() -> list[Result]:
        async with Extractor(backend=backend, cache=None, concurrency=2) as extractor:
            return await extractor.aextract_many(sources, **kwargs)

    return asyncio.run(main())


def run_stream(backend: FakeBackend, sources: list[Any], **kwargs: Any) -> list[Result]:
    with Extractor(backend=backend, cache=None, concurrency=2) as extractor:
        return list(in_order(extractor.iter_extract(iter(sources), **kwargs)))


def run_astream(backend: FakeBackend, sources: list[Any], **kwargs: Any) -> list[Result]:
    async def main() -> list[Result]:
        async with Extractor(backend=backend, cache=None, concurrency=2) as extractor:
            items = [item async for item in extractor.aiter_extract(iter(sources), **kwargs)]
        return list(in_order(items))

    return asyncio.run(main())


RUNNERS = {"sync": run_sync, "async": run_async, "stream": run_stream, "astream": run_astream}


def outcome(results: list[Result]) -> list[tuple[object, ...]]:
    """What a user can observe of a batch, without timings."""
    rows: list[tuple[object, ...]] = []
    for result in results:
        if isinstance(result, Extraction):
            rows.append(("ok", result.source, result.document_id, result.data.notes, result.origin))
        else:
            rows.append(("failed", result.source, result.document_id, type(result.error).__name__))
    return rows


def scenario(name: str, tmp_path: Path) -> tuple[Callable[[], FakeBackend], list[Any]]:
    """Backend factory and sources for each scenario (paths, so every slot has its own name)."""
    a, b, c = (tmp_path / f"{letter}.png" for letter in "abc")
    a.write_bytes(png_invoice("a"))
    b.write_bytes(png_invoice("b"))
    c.write_bytes(png_invoice("c"))
    copy = tmp_path / "copy-of-a.png"
    copy.write_bytes(a.read_bytes())
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a document")
    if name == "duplicates":
        return fake, [str(a), str(b), str(copy), str(a), str(c)]
    if name == "loading failures":
        return fake, [str(a), str(junk), str(tmp_path / "missing.png"), str(b)]
    if name == "owner fails":
        failing = png_invoice("a")

        def reply(call: Any) -> Any:
            if call.document_id == _document_id(failing):
                return RateLimitError("429s outlasted the retry budget", attempts=3)
            return answer(call)

        return (lambda: fake(reply)), [str(a), str(b), str(copy), str(a)]
    raise AssertionError(name)


def _document_id(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["duplicates", "loading failures", "owner fails"])
def test_every_runner_reports_the_same_outcome(name: str, tmp_path: Path) -> None:
    outcomes, calls = {}, {}
    for runner_name, runner in RUNNERS.items():
        make, sources = scenario(name, tmp_path)
        backend = make()
        progress: list[tuple[int, int]] = []
        results = runner(backend, sources, progress=lambda done, total: progress.append((done, total)))  # noqa: B023
        outcomes[runner_name] = outcome(results)
        calls[runner_name] = sorted(call.document_id for call in backend.history)
        assert [done for done, _ in progress] == list(range(1, len(sources) + 1)), runner_name
        assert progress[-1] == (len(sources), len(sources))
        if runner_name in ("sync", "async"):  # sized input: the total is known from the start
            assert {total for _, total in progress} == {len(sources)}
        assert [result.source for result in results] == sources  # in order, each with its own name
    assert outcomes["async"] == outcomes["sync"]
    assert outcomes["stream"] == outcomes["sync"]
    assert outcomes["astream"] == outcomes["sync"]
    assert len({tuple(value) for value in calls.values()}) == 1
    assert len(calls["sync"]) == len(set(calls["sync"]))  # every distinct document extracted once


def test_the_duplicates_scenario_in_detail(tmp_path: Path) -> None:
    make, sources = scenario("duplicates", tmp_path)
    backend = make()
    results = run_sync(backend, sources, progress=False)
    rows = outcome(results)
    assert len(backend.history) == 3
    assert rows[0][2] == rows[2][2] == rows[3][2]  # same content, whatever the name
    assert [row[1] for row in rows] == sources


def test_an_owner_failure_is_shared_by_its_copies(tmp_path: Path) -> None:
    make, sources = scenario("owner fails", tmp_path)
    rows = outcome(run_sync(make(), sources, progress=False))
    assert [row[0] for row in rows] == ["failed", "ok", "failed", "failed"]
    assert {row[3] for row in rows if row[0] == "failed"} == {"RateLimitError"}


def test_loading_failures_keep_their_slot(tmp_path: Path) -> None:
    make, sources = scenario("loading failures", tmp_path)
    results = run_async(make(), sources, progress=False)
    assert [result.ok for result in results] == [True, False, False, True]
    assert isinstance(results[1], ExtractionFailure)
    assert isinstance(results[1].error, UnsupportedFormatError)


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_raise_on_error_raises_the_first_failure_in_every_runner(runner: str) -> None:
    with pytest.raises(UnsupportedFormatError):
        RUNNERS[runner](fake(), [png_invoice("r"), b"not a document"], raise_on_error=True, progress=False)


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_an_owner_dying_of_a_base_exception_ends_the_batch_with_it(runner: str) -> None:
    # The one cancellation rule: the batch ends with the owner's exception; its copies report nothing.
    def die(_: Any) -> Invoice:
        raise Abort

    document = png_invoice("dies")
    backend = fake(die)
    finished = threading.Event()
    raised: list[BaseException] = []

    def go() -> None:
        try:
            RUNNERS[runner](backend, [document, document], progress=False)
        except BaseException as exc:
            raised.append(exc)
        finished.set()

    threading.Thread(target=go, daemon=True).start()
    assert finished.wait(30), "the batch hung"
    assert len(raised) == 1 and isinstance(raised[0], Abort)
    assert len(backend.history) == 1  # the copy waited; it was never extracted


class GatedBackend(FakeBackend):
    """Blocks every call until released; counts calls in flight."""

    def __init__(self) -> None:
        super().__init__(default=example_invoice())
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.in_flight = 0
        self.peak = 0
        self._count = threading.Lock()

    def _enter(self) -> None:
        with self._count:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        self.entered.release()

    def _leave(self) -> None:
        with self._count:
            self.in_flight -= 1

    def extract(self, source: PageSource, schema: Any, **kwargs: Any) -> BackendResult[Any]:
        self._enter()
        try:
            self.release.wait(30)
            return super().extract(source, schema, **kwargs)
        finally:
            self._leave()

    async def aextract(self, source: PageSource, schema: Any, **kwargs: Any) -> BackendResult[Any]:
        self._enter()
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.01)  # polls the gate; nothing is ordered by this sleep
            return await super().aextract(source, schema, **kwargs)
        finally:
            self._leave()


def test_cancelling_aextract_many_cancels_the_documents_in_flight() -> None:
    backend = GatedBackend()

    async def main() -> None:
        async with Extractor(backend=backend, cache=None, concurrency=3) as extractor:
            task = asyncio.ensure_future(
                extractor.aextract_many([png_invoice(str(i)) for i in range(10)], progress=False)
            )
            for _ in range(3):
                await asyncio.to_thread(backend.entered.acquire, True, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert backend.in_flight == 0  # every request task was cancelled and awaited

    asyncio.run(main())
    assert backend.history == []


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_concurrency_is_requests_in_flight(runner: str) -> None:
    backend = GatedBackend()
    sources = [png_invoice(f"slot{i}") for i in range(9)]
    done: list[Result] = []

    def go() -> None:
        done.extend(RUNNERS[runner](backend, sources, progress=False))  # concurrency=2

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    assert backend.entered.acquire(timeout=30) and backend.entered.acquire(timeout=30)
    backend.release.set()
    thread.join(30)
    assert len(done) == 9 and all(result.ok for result in done)
    assert backend.peak == 2


def test_iter_extract_reads_its_sources_lazily() -> None:
    read: list[int] = []

    def sources() -> Iterator[bytes]:
        for index in range(10_000):
            read.append(index)
            yield png_invoice(f"lazy{index % 50}")

    with Extractor(backend=fake(), cache=None, concurrency=2) as extractor:
        items = extractor.iter_extract(sources(), progress=False)
        first = [next(items) for _ in range(5)]
        assert len(read) <= 5 + 2 * 2 + 1  # what was yielded, in flight and prepared ahead
        items.close()  # type: ignore[attr-defined]
    assert all(isinstance(item, BatchItem) for item in first)
    assert sorted(item.index for item in first) == sorted({item.index for item in first})


def test_iter_extract_yields_every_index_once_with_its_result() -> None:
    sources = [png_invoice(f"s{i}") for i in range(12)]
    with Extractor(backend=fake(), cache=None, concurrency=3) as extractor:
        items = list(extractor.iter_extract(iter(sources), progress=False))
        expected = extractor.extract_many(sources, progress=False)
    assert sorted(item.index for item in items) == list(range(12))
    by_index = {item.index: item.result for item in items}
    assert [outcome([by_index[i]]) for i in range(12)] == [outcome([result]) for result in expected]


def test_progress_of_an_unsized_stream_reaches_the_real_total() -> None:
    calls: list[tuple[int, int]] = []
    with Extractor(backend=fake(), cache=None, concurrency=2) as extractor:
        list(extractor.iter_extract((png_invoice(f"p{i}") for i in range(7)), progress=lambda *a: calls.append(a)))
    assert [done for done, _ in calls] == list(range(1, 8))
    assert all(done <= total for done, total in calls)
    assert calls[-1] == (7, 7)


def test_aiter_extract_can_be_closed_early() -> None:
    async def main() -> list[BatchItem[Invoice]]:
        async with Extractor(backend=fake(), cache=None, concurrency=2) as extractor:
            taken = []
            stream: AsyncIterator[BatchItem[Invoice]] = extractor.aiter_extract(
                (png_invoice(f"a{i}") for i in range(1000)), progress=False
            )
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for item in stream:
                    taken.append(item)
                    if len(taken) == 3:
                        break
            return taken

    assert len(asyncio.run(main())) == 3


def test_a_streaming_table_forgets_old_results_and_keeps_pending_ones() -> None:
    from invoiceai.extractor.pipeline import Clock

    table = DuplicateTable(remember=2)
    owner = Ticket(0, None, Clock())
    assert table.claim("x", owner) is True
    assert table.claim("x", Ticket(1, None, Clock())) is False  # waits for the owner
    failure = ExtractionFailure(error=CorruptDocumentError("broken"))
    assert [copy.index for copy in table.resolve("x", failure)] == [1]
    assert table.claim("x", Ticket(2, None, Clock())) is failure  # finished: served at once
    for key in ("y", "z"):
        assert table.claim(key, Ticket(3, None, Clock())) is True
        table.resolve(key, failure)
    assert table.claim("x", Ticket(4, None, Clock())) is True  # forgotten: extracted again


class SourceSpy(FakeBackend):
    """Records what the backend was handed and whether its pages were already rendered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default=example_invoice(), **kwargs)
        self.seen: list[tuple[str, tuple[ImageBudget, ...]]] = []

    def extract(self, source: PageSource, schema: Any, **kwargs: Any) -> BackendResult[Any]:
        self.seen.append((type(source).__name__, getattr(source, "warmed", ())))
        return super().extract(source, schema, **kwargs)


def test_batches_render_pages_before_the_request_slot() -> None:
    backend = SourceSpy()
    with Extractor(backend=backend, cache=None, concurrency=2) as extractor:
        results = extractor.extract_many([png_invoice("w1"), pdf_invoice(pages=2)], progress=False)
        single = extractor.extract(png_invoice("w2"))
    assert all(result.ok for result in results)
    assert backend.seen[:2] == [("WarmPageSource", (backend.budget,))] * 2
    assert backend.seen[2][0] == "TimedPageSource"  # one document alone is not warmed
    assert results[0].timings.render > 0  # type: ignore[union-attr]
    assert single.timings.render > 0


class TextOnly(SourceSpy):
    """A backend that needs only text layers, and says so with ``prepare``."""

    def __init__(self) -> None:
        super().__init__(render=False)
        self.prepared = 0

    def prepare(self, source: PageSource) -> None:
        self.prepared += 1
        source.text_layers()


def test_a_backend_prepare_hook_decides_what_is_warmed() -> None:
    backend = TextOnly()
    with Extractor(backend=backend, cache=MemoryCache(), concurrency=2) as extractor:
        results = extractor.extract_many([pdf_invoice(pages=2)], progress=False)
    assert results[0].ok and backend.prepared == 1
    assert backend.seen == [("WarmPageSource", ())]  # no page was rendered ahead


class CountingSource:
    """A page source that counts its renders and reads."""

    def __init__(self) -> None:
        self.document_id = "d" * 64
        self.page_count = 1
        self.renders: list[ImageBudget] = []
        self.texts = 0

    def render(self, budget: ImageBudget) -> Iterator[Any]:
        self.renders.append(budget)
        yield f"page at {budget.max_long_edge}"

    def text_layers(self) -> list[str | None]:
        self.texts += 1
        return ["text"]

    def pdf_bytes(self) -> bytes | None:
        return None


def test_a_warm_source_serves_its_budget_and_renders_smaller_ones_live() -> None:
    inner = CountingSource()
    source = WarmPageSource(inner)  # type: ignore[arg-type]
    big, small = ImageBudget(), ImageBudget().capped(800)
    with source.warming():
        assert list(source.render(big)) == ["page at 1568"]
    assert list(source.render(big)) == ["page at 1568"]
    assert list(source.render(big)) == ["page at 1568"]
    assert list(source.render(small)) == ["page at 800"]
    assert list(source.render(small)) == ["page at 800"]
    assert inner.renders == [big, small, small]  # the warmed budget rendered once, smaller ones live
    assert source.text_layers() == source.text_layers() == ["text"]
    assert inner.texts == 1
    assert source.warmed == (big,)


def test_in_order_waits_only_for_earlier_results() -> None:
    failure = ExtractionFailure(error=CorruptDocumentError("x"))
    items = [BatchItem(2, failure), BatchItem(0, failure), BatchItem(1, failure)]
    seen: list[int] = []

    def feed() -> Iterator[BatchItem[Any]]:
        for item in items:
            seen.append(item.index)
            yield item

    ordered = in_order(feed())
    assert next(ordered) is failure
    assert seen == [2, 0]  # result 0 came out as soon as it arrived
    assert len(list(ordered)) == 2


def test_the_cli_streams_json_identical_to_a_single_dump(tmp_path: Path) -> None:
    import io
    import json

    from invoiceai.cli.output import write_results

    results = run_sync(fake(), [png_invoice("j1"), b"junk", png_invoice("j2")], progress=False)
    for fmt in ("json", "jsonl"):
        out = io.StringIO()
        write_results(results, out, fmt)
        if fmt == "json":
            expected = json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2) + "\n"
            assert out.getvalue() == expected
        else:
            assert [json.loads(line)["source"] for line in out.getvalue().splitlines()] == [r.source for r in results]
    empty = io.StringIO()
    write_results([], empty, "json")
    assert json.loads(empty.getvalue()) == []
