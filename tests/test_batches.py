"""Message Batches jobs through the fake API: the acceptance scenarios of issue 12, item 1."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claude_fakes import ANSWER, settings
from documents_factory import example_invoice, pdf_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.batch.items import BatchLimits, job_prefix, parse_custom_id
from invoiceai.cache import SQLiteCache
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.einvoice import to_xml
from invoiceai.errors import ConfigurationError, InputError, RefusalError
from invoiceai.testing import FakeClaudeAPI, Fault, ItemFault

USAGE = {"input_tokens": 1000, "output_tokens": 200}
LIVE_COST = Decimal("0.004")  # claude-sonnet-5: 1000 x $2/M + 200 x $10/M


def extractor(api: FakeClaudeAPI, cache: Any, **options: Any) -> Extractor:
    backend = ClaudeBackend(client=api.client(), settings=settings(), **options)
    return Extractor(backend=backend, cache=cache)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"collect waited {seconds}s although every batch had ended")


def comparable(result: Any) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("timings")
    data["usage"].pop("cost_usd")
    return data


def submitted(api: FakeClaudeAPI, job_id: str) -> list[str]:
    """The custom ids sent, each checked to carry the job's own prefix, shown without it."""
    prefix = job_prefix(job_id) + "-"
    assert all(custom_id.startswith(prefix) for custom_id in api.batches.submitted)
    return [custom_id.removeprefix(prefix) for custom_id in api.batches.submitted]


def sent_documents(api: FakeClaudeAPI) -> list[int]:
    parsed = [parse_custom_id(custom_id) for custom_id in api.batches.submitted]
    return [found[0] for found in parsed if found is not None]


def mixed_sources(tmp_path: Path) -> tuple[list[Any], list[int], list[int], list[int]]:
    """50 documents: 10 e-invoices, 10 to be cached beforehand, 30 for the model (one a two-page PDF)."""
    sources: list[Any] = []
    einvoices, cached, model = [], [], []
    for number in range(50):
        kind = number % 5
        if kind == 0:
            invoice = example_invoice().model_copy(update={"invoice_number": f"E-{number}"})
            path = tmp_path / f"{number}.xml"
            path.write_bytes(to_xml(invoice, "cii"))
            einvoices.append(number)
        else:
            path = tmp_path / (f"{number}.pdf" if number == 7 else f"{number}.png")
            path.write_bytes(pdf_invoice(str(number), pages=2) if number == 7 else png_invoice(str(number)))
            (cached if kind == 1 else model).append(number)
        sources.append(path)
    return sources, einvoices, cached, model


def warm(cache_path: Path, sources: list[Any], indices: list[int]) -> None:
    with extractor(FakeClaudeAPI(answer=ANSWER, usage=USAGE), SQLiteCache(cache_path)) as warmer:
        assert all(result.ok for result in warmer.extract_many([sources[index] for index in indices]))


def test_fifty_mixed_documents_match_live_extraction_at_half_the_price(tmp_path: Path) -> None:
    sources, einvoices, cached, model = mixed_sources(tmp_path)
    warm(tmp_path / "batch.db", sources, cached)
    warm(tmp_path / "live.db", sources, cached)
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with extractor(api, SQLiteCache(tmp_path / "batch.db")) as batched:
        job = batched.submit_batch(sources)
        assert (job.documents, job.sent, job.rounds, job.state) == (50, 30, 1, "in_progress")
        assert sorted(sent_documents(api)) == model  # no e-invoice or cached document is sent
        results = batched.collect_batch(job.id, sleep=no_sleep)
    live_api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with extractor(live_api, SQLiteCache(tmp_path / "live.db")) as live:
        expected = live.extract_many(sources)
    assert len(live_api.message_requests) == len(api.batches.submitted) == 30
    assert [comparable(result) for result in results] == [comparable(result) for result in expected]
    assert [result.origin for result in results if result.ok] == [result.origin for result in expected if result.ok]
    for index in model:
        assert results[index].usage.cost_usd == expected[index].usage.cost_usd / 2 == LIVE_COST / 2
    assert {results[index].origin for index in einvoices} == {"einvoice"}
    assert {(results[index].origin, results[index].cached) for index in cached} == {("model", True)}
    assert all(results[index].usage.requests == 0 for index in einvoices + cached)


def test_errored_and_expired_items_are_retried_in_a_follow_up_round(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.enqueue(None, ItemFault.errored("overloaded_error"), ItemFault.expired(), ItemFault.canceled())
    sources = [png_invoice(str(number)) for number in range(4)]
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch(sources, batch_store=store)
        results = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        status = batched.batch_status(job.id, batch_store=store)
    assert all(result.ok for result in results)
    assert submitted(api, job.id) == [
        "d0-s0-a1",
        "d1-s0-a1",
        "d2-s0-a1",
        "d3-s0-a1",
        "d1-s0-a2",
        "d2-s0-a2",
        "d3-s0-a2",
    ]
    assert (status.rounds, status.batches, status.requests, status.answered) == (2, 2, 7, 7)
    # A failed item is a request without tokens, as a failed live attempt is.
    assert [result.usage.requests for result in results] == [1, 2, 2, 2]
    assert {result.usage.cost_usd for result in results} == {LIVE_COST / 2}


def test_attempts_are_bounded_as_live_and_a_hopeless_item_fails_its_document(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.outcome = lambda custom_id, params: ItemFault.expired() if "-d0-" in custom_id else None
    api.batches.enqueue(ItemFault.errored("invalid_request_error", "messages.0: bad"))  # for d1
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        expired, rejected = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert not expired.ok and "24 hours" in expired.error.message
    assert expired.error.attempts == settings().max_attempts == expired.usage.requests
    assert not rejected.ok and "rejected the request" in rejected.error.message  # a 400 is never retried
    assert sent_documents(api).count(1) == 1


def test_a_reask_and_a_truncation_go_into_follow_up_rounds() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(Fault.reply("this is not JSON"), Fault.truncated())
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        results = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        rounds = batched.batch_status(job.id, batch_store=store).rounds
    assert all(result.ok for result in results)
    assert submitted(api, job.id) == ["d0-s0-a1", "d1-s0-a1", "d0-s1-a1", "d1-s1-a1"]
    assert rounds == 2
    assert any("max_tokens" in warning for warning in results[1].warnings)
    # Usage is the sum over every round, at the batch price.
    assert [result.usage.requests for result in results] == [2, 2]
    assert [result.usage.cost_usd for result in results] == [LIVE_COST, LIVE_COST]


def test_a_refusal_fails_only_its_document() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(Fault.refusal("no"))
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        refused, fine = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert isinstance(refused.error, RefusalError) and refused.usage.cost_usd == LIVE_COST / 2
    assert fine.ok


def test_a_job_over_the_per_batch_limit_is_split_and_collected_as_one(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    sources = [png_invoice(str(number)) for number in range(7)]
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch(sources, limits=BatchLimits(max_requests=3), batch_store=store)
        assert (job.batches, job.rounds) == (3, 1)
        assert [len(batch.requests) for batch in api.batches.batches.values()] == [3, 3, 1]
        results = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert len(results) == 7 and all(result.ok for result in results)
    size = max(len(str(batch.requests)) for batch in api.batches.batches.values())
    with extractor(FakeClaudeAPI(answer=ANSWER), None) as by_bytes:
        other = MemoryBatchStore()
        split = by_bytes.submit_batch(sources, limits=BatchLimits(max_bytes=size // 2), batch_store=other)
    assert split.batches > 3


def test_collect_waits_while_a_batch_runs_and_a_look_shows_the_partial_results() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a"), example_xml()], batch_store=store)
        progress = batched.poll_batch(job.id, batch_store=store)
        assert not progress.finished and progress.results[0] is None and progress.results[1] is not None
        assert batched.batch_status(job.id, batch_store=store).state == "in_progress"
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            api.batches.end()

        results = batched.collect_batch(job.id, batch_store=store, poll_interval=7.0, sleep=sleep)
        assert batched.batch_status(job.id, batch_store=store).state == "ended"
    assert waits == [7.0] and [result.ok for result in results] == [True, True]


def test_collect_is_idempotent_and_a_copy_is_extracted_once(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    path = tmp_path / "a.png"
    path.write_bytes(png_invoice("a"))
    with extractor(api, SQLiteCache(tmp_path / "c.db")) as batched:
        job = batched.submit_batch([path, png_invoice("a"), png_invoice("b")])
        first = batched.collect_batch(job.id, sleep=no_sleep)
        again = batched.collect_batch(job.id, sleep=no_sleep)
        listed = batched.list_batches()
    assert sent_documents(api) == [0, 2]
    assert [comparable(result) for result in first] == [comparable(result) for result in again]
    assert [result.origin for result in again] == ["model", "model", "model"]
    assert (first[0].source, first[1].source) == (str(path), "<bytes>")
    assert [item.id for item in listed] == [job.id]


def test_async_twins_give_the_same_results() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)

    async def scenario() -> list[Any]:
        with extractor(api, None) as batched:
            store = MemoryBatchStore()
            job = await batched.asubmit_batch([png_invoice("a")], batch_store=store)
            return await batched.acollect_batch(job.id, batch_store=store, sleep=no_sleep)

    (result,) = asyncio.run(scenario())
    assert result.ok and result.usage.cost_usd == LIVE_COST / 2


def test_a_changed_file_fails_instead_of_mixing_answers(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    path = tmp_path / "a.png"
    path.write_bytes(png_invoice("a"))
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([path], batch_store=store)
        api.batches.end()
        path.write_bytes(png_invoice("changed"))
        (result,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert isinstance(result.error, InputError) and "changed after it was submitted" in result.error.message


def test_a_job_is_collected_with_the_backend_it_was_sent_with() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    with extractor(api, None) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        with pytest.raises(ConfigurationError, match="No batch job"):
            batched.collect_batch("iaib_nope", batch_store=store)
    with extractor(api, None, mode="text") as other, pytest.raises(ConfigurationError, match="same model and mode"):
        other.collect_batch(job.id, batch_store=store)


def test_only_the_claude_backend_has_batches() -> None:
    from invoiceai.testing import FakeBackend

    with Extractor(backend=FakeBackend(), cache=None) as fake, pytest.raises(ConfigurationError, match="Claude"):
        fake.submit_batch([png_invoice("a")], batch_store=MemoryBatchStore())


def example_xml() -> bytes:
    return to_xml(example_invoice(), "cii")


def test_results_are_real_extractions() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with extractor(api, None) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        (result,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert result.data.invoice_number == "INV-1" and result.data.total == Decimal("11.90")
    assert dataclasses.asdict(result.usage)["requests"] == 1
