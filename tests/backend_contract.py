"""The behaviour every Backend keeps, written once.

A test module subclasses :class:`BackendContract` (as ``TestXxxContract``) and provides a
``harness`` fixture: a :class:`Harness` that builds backends answering :data:`ANSWER` and can
make the next call fail. The same checks then run against ``FakeBackend`` and against
``ClaudeBackend`` over the fake Messages API, so the fake cannot drift from the real thing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from decimal import Decimal

import pytest

from claude_fakes import ANSWER
from invoiceai.backends import Backend, BackendResult
from invoiceai.errors import BackendError
from invoiceai.pages import ImageBudget
from invoiceai.schema import Invoice
from invoiceai.testing import StaticPages


@dataclasses.dataclass
class Harness:
    """How a contract test gets backends.

    Attributes:
        make: Returns a new backend for a model id (``None``: the harness's default model).
        fail_next: Makes the next extraction of every backend of the harness fail for good.
    """

    make: Callable[[str | None], Backend]
    fail_next: Callable[[], None]


def source() -> StaticPages:
    return StaticPages.blank(1, width=300, height=400)


def aextract(backend: Backend, pages: StaticPages) -> BackendResult[Invoice]:
    async def go() -> BackendResult[Invoice]:
        return await backend.aextract(pages, Invoice)

    return asyncio.run(go())


class BackendContract:
    def test_is_a_backend(self, harness: Harness) -> None:
        backend = harness.make(None)
        assert isinstance(backend, Backend)
        assert backend.name and backend.model
        assert isinstance(backend.image_budget(), ImageBudget)

    def test_extract_returns_validated_data_of_the_schema(self, harness: Harness) -> None:
        result = harness.make(None).extract(source(), Invoice)
        assert isinstance(result, BackendResult)
        assert isinstance(result.data, Invoice)
        assert result.data.invoice_number == ANSWER["invoice_number"]
        assert result.data.total == Decimal("11.90")  # validated: a string became money
        assert result.model
        assert result.chunks == 1

    def test_usage_counts_the_requests(self, harness: Harness) -> None:
        result = harness.make(None).extract(source(), Invoice)
        assert result.usage.requests == result.attempts == 1
        assert len(result.request_ids) == 1

    def test_sync_and_async_give_identical_data(self, harness: Harness) -> None:
        backend = harness.make(None)
        sync = backend.extract(source(), Invoice)
        async_ = aextract(backend, source())
        assert sync.data == async_.data
        assert sync.data.model_dump() == async_.data.model_dump()
        assert (sync.model, sync.usage.requests) == (async_.model, async_.usage.requests)

    def test_the_source_is_rendered_and_never_changed(self, harness: Harness) -> None:
        pages = StaticPages.blank(1, width=300, height=400, texts=["INV-1"])
        before = (pages.document_id, pages.page_count, pages.text_layers())
        harness.make(None).extract(pages, Invoice, document_id="doc-1", validation_context={"currency": "EUR"})
        assert pages.render_calls  # rendered at least once, at the backend's budget
        assert (pages.document_id, pages.page_count, pages.text_layers()) == before

    def test_the_fingerprint_is_stable_and_follows_the_model(self, harness: Harness) -> None:
        first, second = harness.make(None), harness.make(None)
        assert first.fingerprint() == first.fingerprint() == second.fingerprint()
        assert harness.make("claude-sonnet-4-5").fingerprint() != harness.make("claude-haiku-4-5").fingerprint()

    def test_close_and_aclose_are_idempotent(self, harness: Harness) -> None:
        backend = harness.make(None)
        backend.extract(source(), Invoice)
        backend.close()
        backend.close()

        async def twice() -> None:
            await backend.aclose()
            await backend.aclose()

        asyncio.run(twice())

    @pytest.mark.parametrize("flavour", ["sync", "async"])
    def test_failures_are_typed_backend_errors(self, harness: Harness, flavour: str) -> None:
        backend = harness.make(None)
        harness.fail_next()
        call = backend.extract if flavour == "sync" else lambda pages, schema: aextract(backend, pages)
        with pytest.raises(BackendError):
            call(source(), Invoice)
