"""Rounds of a batch job: a long document's chunks in one round, and follow-ups sent live (issue 12)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from claude_fakes import ANSWER, settings
from documents_factory import pdf_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.errors import RefusalError, TokenBudgetExceededError
from invoiceai.testing import FakeClaudeAPI, Fault, ItemFault

USAGE = {"input_tokens": 1000, "output_tokens": 200}
LIVE_COST = Decimal("0.004")  # claude-sonnet-5: 1000 x $2/M + 200 x $10/M
BATCH_COST = LIVE_COST / 2
TWO_PAGES = RequestLimits(max_pages=2)  # a six-page PDF is three chunks


def extractor(api: FakeClaudeAPI, **options: Any) -> Extractor:
    return Extractor(backend=ClaudeBackend(client=api.client(), settings=settings(), **options), cache=None)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"collect waited {seconds}s although every batch had ended")


def comparable(result: Any) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("timings")
    data["usage"].pop("cost_usd")
    return data


def custom_ids(api: FakeClaudeAPI) -> list[str]:
    return [custom_id.split("-", 1)[1] for custom_id in api.batches.submitted]


def test_a_three_chunk_document_collects_in_one_round() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    document = pdf_invoice("long", pages=6)
    with extractor(api, limits=TWO_PAGES) as batched:
        job = batched.submit_batch([document, png_invoice("short")], batch_store=store)
        assert (job.rounds, job.batches, job.requests) == (1, 1, 4)
        (long, short) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        status = batched.batch_status(job.id, batch_store=store)
    assert custom_ids(api) == ["d0-s0-a1", "d0-c1-a1", "d0-c2-a1", "d1-s0-a1"]
    assert status.rounds == 1 and long.ok and short.ok
    assert long.usage.requests == 3 and long.usage.cost_usd == 3 * BATCH_COST
    live_api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with extractor(live_api, limits=TWO_PAGES) as live:
        expected = live.extract(document)
    # The same three requests as live, the same merged answer.
    assert [request.body for request in live_api.message_requests] == [
        params for batch in api.batches.batches.values() for _, params in batch.requests[:3]
    ]
    assert comparable(long) == comparable(expected)


def test_a_reask_of_the_first_chunk_does_not_hold_back_the_others() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(Fault.reply("this is not JSON"))  # the first chunk's first answer
    store = MemoryBatchStore()
    with extractor(api, limits=TWO_PAGES) as batched:
        job = batched.submit_batch([pdf_invoice("long", pages=6)], batch_store=store)
        (result,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        status = batched.batch_status(job.id, batch_store=store)
    assert result.ok and status.rounds == 2
    assert custom_ids(api) == ["d0-s0-a1", "d0-c1-a1", "d0-c2-a1", "d0-s1-a1"]
    assert result.usage.requests == 4 and result.usage.cost_usd == 4 * BATCH_COST


def test_chunks_answered_ahead_of_a_failure_are_paid_for_and_counted() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(Fault.refusal("no"))
    store = MemoryBatchStore()
    with extractor(api, limits=TWO_PAGES) as batched:
        job = batched.submit_batch([pdf_invoice("long", pages=6)], batch_store=store)
        (refused,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert isinstance(refused.error, RefusalError)
    # The refusal and the two later chunks, all answered and billed at the batch price.
    assert refused.usage.requests == 3 and refused.usage.cost_usd == 3 * BATCH_COST


def test_a_document_whose_planned_chunks_pass_the_token_budget_is_refused_before_submitting() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    # Each chunk's request is estimated at about 16,700 tokens (input and max_tokens): two fit, three do not,
    # and the budget is checked against the whole plan before anything is sent (live and batched alike).
    backend = ClaudeBackend(client=api.client(), settings=settings(token_budget=40_000), limits=TWO_PAGES)
    with Extractor(backend=backend, cache=None) as batched:
        job = batched.submit_batch([pdf_invoice("long", pages=6)], batch_store=store)
        assert job.requests == 0
        (result,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert isinstance(result.error, TokenBudgetExceededError)
    assert custom_ids(api) == []


def test_follow_ups_go_live_at_the_live_price_when_asked() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(Fault.reply("this is not JSON"))  # the first document's answer needs a re-ask
    api.batches.enqueue(None, ItemFault.errored("overloaded_error"))  # the second's item errs
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        reasked, retried = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep, follow_up="live")
        progress = batched.poll_batch(job.id, batch_store=store)
    assert reasked.ok and retried.ok
    assert len(api.message_requests) == 2 and len(api.batches.submitted) == 2  # the follow-ups went live
    assert progress.job.rounds == 1
    assert reasked.usage.requests == 2 and reasked.usage.cost_usd == BATCH_COST + LIVE_COST
    assert retried.usage.requests == 2 and retried.usage.cost_usd == LIVE_COST  # the errored item cost nothing
    assert any("sent live" in warning for warning in reasked.warnings)
    assert progress.live_usage.requests == 2 and progress.live_usage.cost_usd == 2 * LIVE_COST
    assert progress.usage.cost_usd == BATCH_COST + 2 * LIVE_COST


def test_sync_and_async_collects_decide_live_follow_ups_alike() -> None:
    def scenario(api: FakeClaudeAPI) -> None:
        api.enqueue(Fault.reply("this is not JSON"), Fault.truncated())

    sync_api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    scenario(sync_api)
    with extractor(sync_api) as batched:
        store = MemoryBatchStore()
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        expected = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep, follow_up="live")

    async def collect(api: FakeClaudeAPI) -> list[Any]:
        with extractor(api) as batched:
            store = MemoryBatchStore()
            job = await batched.asubmit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
            return await batched.acollect_batch(job.id, batch_store=store, sleep=no_sleep, follow_up="live")

    async_api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    scenario(async_api)
    results = asyncio.run(collect(async_api))
    assert [comparable(result) for result in results] == [comparable(result) for result in expected]
    assert [result.usage.cost_usd for result in results] == [BATCH_COST + LIVE_COST] * 2
    assert [request.body for request in async_api.message_requests] == [
        request.body for request in sync_api.message_requests
    ]


def test_live_follow_ups_keep_the_attempt_limit() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(*[Fault.reply("this is not JSON")] * 5)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        (failed,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep, follow_up="live")
    max_reasks = settings().max_reasks
    assert not failed.ok and failed.usage.requests == 1 + max_reasks
    assert len(api.message_requests) == max_reasks  # the re-asks, live; the first answer came in the batch
