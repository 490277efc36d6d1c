"""max_concurrent_requests: documents in progress can exceed it; requests in flight cannot."""

from __future__ import annotations

import asyncio

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.backends.slots import RequestSlots
from invoiceai.testing import FakeClaudeAPI

CAP = 3


def make_api() -> FakeClaudeAPI:
    # A cap in the fake one above ours: any overshoot by the backend would be refused with 429.
    return FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"),
        latency=0.05,
        max_concurrency=CAP,
        concurrency_retry_after=0.05,
    )


def test_sync_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api = make_api()
    backend = ClaudeBackend("claude-haiku-4-5", client=api.client(), detect_capabilities=False,
                            max_concurrent_requests=CAP)  # fmt: skip
    with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
        results = extractor.extract_many([png_invoice(str(i)) for i in range(24)], progress=False)
    assert all(result.ok for result in results)
    assert api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_async_batch_keeps_requests_in_flight_at_the_cap() -> None:
    api = make_api()

    async def run() -> None:
        backend = ClaudeBackend("claude-haiku-4-5", async_client=api.async_client(), detect_capabilities=False,
                                max_concurrent_requests=CAP)  # fmt: skip
        async with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
            results = await extractor.aextract_many([png_invoice(str(i)) for i in range(24)], progress=False)
        assert all(result.ok for result in results)

    asyncio.run(run())
    assert api.peak_concurrency == CAP
    assert api.concurrency_rejections == 0


def test_without_a_cap_the_same_batch_overruns_the_account() -> None:
    api = make_api()
    fast = RetryPolicy(max_attempts=20, max_seconds=30, base_delay=0.01, max_delay=0.1)
    backend = ClaudeBackend("claude-haiku-4-5", client=api.client(), detect_capabilities=False, retry=fast)
    with Extractor(backend=backend, cache=None, concurrency=4 * CAP) as extractor:
        extractor.extract_many([png_invoice(str(i)) for i in range(24)], progress=False)
    assert api.concurrency_rejections > 0


def test_the_cap_comes_from_settings_and_refuses_negatives() -> None:
    from invoiceai.config import Settings
    from invoiceai.errors import ConfigurationError

    assert Settings.load(env={"INVOICEAI_MAX_CONCURRENT_REQUESTS": "5"}).max_concurrent_requests == 5
    with pytest.raises(ConfigurationError):
        Settings.load(env={"INVOICEAI_MAX_CONCURRENT_REQUESTS": "-1"})
    with pytest.raises(ValueError, match="0"):
        RequestSlots(-1)
