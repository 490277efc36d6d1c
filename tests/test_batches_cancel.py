"""Canceling a Message Batches job at the API, and leaving documents out of its follow-up rounds (fake API)."""

from __future__ import annotations

import asyncio

import pytest

from claude_fakes import ANSWER, settings
from documents_factory import png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.batch.items import parse_custom_id
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.documents import Document
from invoiceai.errors import ConfigurationError
from invoiceai.testing import FakeClaudeAPI, ItemFault

USAGE = {"input_tokens": 1000, "output_tokens": 200}


def extractor(api: FakeClaudeAPI) -> Extractor:
    return Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None)


def documents(count: int) -> list[Document]:
    return [Document.from_bytes(png_invoice(str(number)), name=f"{number}.png") for number in range(count)]


def cancels(api: FakeClaudeAPI) -> list[str]:
    return [request.path for request in api.requests if request.method == "POST" and request.path.endswith("/cancel")]


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_cancel_batch_cancels_the_running_batches_at_the_api(twin: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    store = MemoryBatchStore()
    ex = extractor(api)
    job = ex.submit_batch(documents(2), batch_store=store)
    if twin == "sync":
        asked = ex.cancel_batch(job.id, batch_store=store)
    else:
        asked = asyncio.run(ex.acancel_batch(job.id, batch_store=store))
    (batch,) = api.batches.batches.values()
    assert asked == 1
    assert cancels(api) == [f"/v1/messages/batches/{batch.id}/cancel"]
    assert batch.canceling and batch.results is not None  # the fake ends it at once, its items canceled
    assert {result["type"] for result in batch.results.values()} == {"canceled"}
    assert ex.cancel_batch(job.id, batch_store=store) == 1  # not collected yet: asking again is harmless
    ex.delete_batch(job.id, force=True, batch_store=store)
    with pytest.raises(ConfigurationError, match="No batch job"):
        ex.cancel_batch(job.id, batch_store=store)


def test_a_collected_job_has_nothing_to_cancel() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    ex = extractor(api)
    job = ex.submit_batch(documents(1), batch_store=store)
    assert ex.poll_batch(job.id, batch_store=store).finished
    assert ex.cancel_batch(job.id, batch_store=store) == 0
    assert cancels(api) == []


def test_skipped_documents_get_no_follow_up_round() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.enqueue(ItemFault.errored("overloaded_error"), ItemFault.expired(), None)
    store = MemoryBatchStore()
    ex = extractor(api)
    job = ex.submit_batch(documents(3), batch_store=store)
    progress = ex.poll_batch(job.id, batch_store=store, skip=[0])
    resent = [found[0] for found in map(parse_custom_id, api.batches.submitted[3:]) if found is not None]
    assert resent == [1]  # document 0 errored too, but nobody wants it any more
    assert progress.results[0] is None and not progress.finished
    assert [result is not None for result in ex.poll_batch(job.id, batch_store=store, skip=[0]).results] == [
        False, True, True,
    ]  # fmt: skip
