"""A batch job's stored bytes: read one document at a time, dropped once its result is final (issue 12)."""

from __future__ import annotations

from typing import Any

from claude_fakes import ANSWER, settings
from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.einvoice import to_xml
from invoiceai.errors import ExtractionValidationError
from invoiceai.testing import FakeClaudeAPI, Fault

USAGE = {"input_tokens": 1000, "output_tokens": 200}


class WatchedStore(MemoryBatchStore):
    """A memory store that says which records were read."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds_read: list[str] = []
        self.bytes_read: list[str] = []

    def read(self, job: str, kind: str) -> dict[str, str]:
        self.kinds_read.append(kind)
        return super().read(job, kind)

    def get(self, job: str, kind: str, key: str) -> str | None:
        if kind == "data":
            self.bytes_read.append(key)
        return super().get(job, kind, key)


def extractor(api: FakeClaudeAPI) -> Extractor:
    return Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"collect waited {seconds}s although every batch had ended")


def comparable(result: Any) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("timings")
    return data


def stored(store: MemoryBatchStore, job_id: str, kind: str) -> list[str]:
    return sorted(MemoryBatchStore.read(store, job_id, kind))  # unwatched: the test looks, not a collect


def test_bytes_are_read_per_document_and_dropped_once_final() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    sources = [png_invoice("a"), to_xml(example_invoice(), "cii"), png_invoice("b")]
    store = WatchedStore()
    with extractor(api) as batched:
        job = batched.submit_batch(sources, batch_store=store)
        # The e-invoice is final at submission: its bytes are gone, the others' wait for their batch.
        assert stored(store, job.id, "data") == ["0", "2"]
        store.bytes_read.clear()
        progress = batched.poll_batch(job.id, batch_store=store)
        assert not progress.finished
        assert store.bytes_read == []  # documents in a running batch are not opened at all
        api.batches.end()
        results = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        assert stored(store, job.id, "data") == []
        assert stored(store, job.id, "final") == ["0", "1", "2"]
        assert sorted(store.bytes_read) == ["0", "2"]  # each read once, when its look opened it
        assert "data" not in store.kinds_read  # no look reads every document's bytes at once
        store.bytes_read.clear()
        again = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert [result.ok for result in results] == [True, True, True]
    assert [comparable(result) for result in again] == [comparable(result) for result in results]
    assert [result.origin for result in again] == ["model", "einvoice", "model"]
    assert store.bytes_read == [] and len(api.batches.submitted) == 2  # nothing sent again


def test_a_failure_is_stored_as_final_with_its_type_and_context() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.enqueue(*[Fault.reply("not JSON")] * 3)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        (failed,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        assert stored(store, job.id, "final") == ["0"] and stored(store, job.id, "data") == []
        (again,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert isinstance(failed.error, ExtractionValidationError)
    assert type(again.error) is type(failed.error)
    assert again.to_dict() == failed.to_dict() | {"timings": again.to_dict()["timings"]}
    assert again.usage == failed.usage and again.usage.requests == 3
    assert again.error.errors == failed.error.errors  # its plain attributes come back too
