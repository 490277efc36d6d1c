"""ClaudeBackend.prepare: what the batch engine warms ahead of a request slot is what extract reads."""

from __future__ import annotations

import pytest

from claude_fakes import ANSWER, make_backend, run
from invoiceai.extractor.warm import WarmPageSource, warm
from invoiceai.testing import FakeClaudeAPI
from streaming_fakes import SyntheticPages


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_short_document_is_rendered_once_ahead_and_served_to_the_request(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    backend = make_backend(api, flavour)
    pages = SyntheticPages.blank(3)
    served = WarmPageSource(pages)
    warm(backend, served)
    assert pages.rendered == 3
    result = run(backend, flavour, served)
    assert result.data.invoice_number == "INV-1"
    assert pages.rendered == 3, "the request rendered the pages again instead of using the warmed ones"
    assert len(api.message_requests) == 1


def test_a_long_document_is_left_to_stream_chunk_by_chunk(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    backend = make_backend(api, flavour)
    pages = SyntheticPages.blank(45)
    warm(backend, WarmPageSource(pages))
    assert pages.rendered == 0


def test_pdf_mode_warms_no_images() -> None:
    api = FakeClaudeAPI(answer=ANSWER)
    backend = make_backend(api, "sync", mode="pdf")
    pages = SyntheticPages.blank(2)
    warm(backend, WarmPageSource(pages))
    assert pages.rendered == 0
