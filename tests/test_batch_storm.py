"""200 documents through the real ClaudeBackend while the fake API throws 429 storms at it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai import Extraction, Extractor, Settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.cache import MemoryCache
from invoiceai.testing import FakeClaudeAPI, Fault
from invoiceai.testing.fake_api import RecordedRequest

DOCUMENTS = 200
STORMS = {40: 12, 110: 20, 170: 8}  # after this many requests, this many 429s in a row
NO_PROVENANCE = Settings.load(provenance=False)
"""The storm is about the API: no OCR of 200 pictures (seconds each) eating the retry time."""


def documents() -> list[bytes]:
    # Each page has its own width, which the fake reads back from the request to answer with,
    # so every result can be traced to the document it came from.
    return [png_invoice(f"{index}", size=(300 + index, 420)) for index in range(DOCUMENTS)]


def answer(request: RecordedRequest) -> dict[str, Any]:
    (image,) = request.images()
    return example_invoice().model_copy(update={"invoice_number": f"W{image.width}"}).model_dump(mode="json")


class StormMaker:
    """Queues a burst of 429s (retry-after 50 ms) when the request count crosses each threshold."""

    def __init__(self, api: FakeClaudeAPI) -> None:
        self.api = api
        self.injected = 0
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> dict[str, Any]:
        seen = len(self.api.message_requests)
        with self._lock:
            for threshold, size in STORMS.items():
                if seen >= threshold and threshold not in self._done:
                    self._done.add(threshold)
                    self.api.enqueue(*(Fault.rate_limited(retry_after_ms=50) for _ in range(size)))
        return answer(request)


def check(results: list[Any], api: FakeClaudeAPI) -> None:
    assert len(results) == DOCUMENTS
    assert all(isinstance(result, Extraction) for result in results), [
        str(getattr(result, "error", "")) for result in results if not result.ok
    ][:3]
    assert [result.data.invoice_number for result in results] == [f"W{300 + i}" for i in range(DOCUMENTS)]
    statuses = [request.status for request in api.message_requests]
    injected = statuses.count(429)
    assert injected == sum(STORMS.values())  # every storm happened
    attempts = len(statuses)
    assert attempts <= 1.25 * DOCUMENTS + injected, (attempts, injected)
    assert sum(result.usage.requests for result in results) == attempts  # usage counts every attempt


def backend_for(api: FakeClaudeAPI, **clients: Any) -> ClaudeBackend:
    return ClaudeBackend(
        "claude-haiku-4-5", detect_capabilities=False,
        retry=RetryPolicy(max_attempts=10, max_seconds=60, base_delay=0.01, max_delay=0.2), **clients,
    )  # fmt: skip


@pytest.mark.slow
def test_sync_batch_survives_429_storms_in_order() -> None:
    api = FakeClaudeAPI(usage={"input_tokens": 900, "output_tokens": 300})
    api.answer = StormMaker(api)
    with Extractor(
        backend=backend_for(api, client=api.client()), cache=MemoryCache(), concurrency=16, settings=NO_PROVENANCE
    ) as extractor:
        results = extractor.extract_many(documents(), progress=False)
    check(results, api)


@pytest.mark.slow
def test_async_batch_survives_429_storms_in_order() -> None:
    api = FakeClaudeAPI(usage={"input_tokens": 900, "output_tokens": 300})
    api.answer = StormMaker(api)

    async def run() -> list[Any]:
        backend = backend_for(api, async_client=api.async_client())
        async with Extractor(backend=backend, cache=MemoryCache(), concurrency=16, settings=NO_PROVENANCE) as extractor:
            return await extractor.aextract_many(documents(), progress=False)

    check(asyncio.run(run()), api)
