"""What an extraction holds on to: open PDFs, failed documents, requests still in flight at close."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

from documents_factory import example_invoice, pdf_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.cache import MemoryCache
from invoiceai.config import Settings
from invoiceai.documents import Document, load_document
from invoiceai.errors import RateLimitError
from invoiceai.render.pdf import to_facturx
from invoiceai.testing import FakeBackend
from invoiceai.usage import Usage


class Capturing(FakeBackend):
    """Keeps the sources it was given, to look at their PDF after the extraction."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sources: list[Any] = []

    def extract(self, source: Any, schema: Any, **options: Any) -> Any:
        self.sources.append(source)
        return super().extract(source, schema, **options)

    async def aextract(self, source: Any, schema: Any, **options: Any) -> Any:
        self.sources.append(source)
        return await super().aextract(source, schema, **options)


def _pdf_of(source: Any) -> Any:
    while hasattr(source, "inner"):
        source = source.inner
    return source._pdf


def test_extract_and_aextract_close_the_pdf_they_opened() -> None:
    backend = Capturing(default=example_invoice())
    pdf = pdf_invoice("closed")
    with Extractor(backend=backend, cache=None) as extractor:
        extractor.extract(pdf)
        assert not _pdf_of(backend.sources[-1]).is_open
        asyncio.run(extractor.aextract(pdf))
        # Closed by the pipeline in a worker thread, not left to the collector on the event loop.
        assert not _pdf_of(backend.sources[-1]).is_open


def test_failures_do_not_keep_their_documents_alive() -> None:
    failing = FakeBackend(default=lambda call: RateLimitError("outage", attempts=3), usage=Usage(requests=1))
    documents = [png_invoice(f"failing {index}") for index in range(12)]
    with Extractor(backend=failing, cache=None, concurrency=3) as extractor:
        results = extractor.extract_many(documents, progress=False)
        assert all(not result.ok for result in results)
        gc.collect()
        alive = [item for item in gc.get_objects() if isinstance(item, Document)]
    # Each failure's traceback would otherwise hold its document (and its rendered pages).
    assert len(alive) <= 1, len(alive)


def test_requests_in_flight_when_a_stream_is_broken_off_are_cached_before_close() -> None:
    documents = [png_invoice("answered first"), png_invoice("still in flight")]
    slow_id = load_document(documents[1]).document_id
    released, slow_started = threading.Event(), threading.Event()

    class Slow(FakeBackend):
        def extract(self, source: Any, schema: Any, **options: Any) -> Any:
            if source.document_id == slow_id:
                slow_started.set()
                # Still running when the caller breaks off and the with-block closes the extractor.
                released.wait(2)
            else:
                slow_started.wait(10)  # the first answer comes once the other request is in flight
            return super().extract(source, schema, **options)

    cache = MemoryCache()
    backend = Slow(default=example_invoice())
    with Extractor(backend=backend, cache=cache, concurrency=2) as extractor:
        for _item in extractor.iter_extract(documents, progress=False):
            break
    released.set()
    assert slow_started.is_set()
    assert cache.info().entries == 2, "a request paid for was not cached"


def test_a_facturx_pdf_past_the_page_cap_still_gives_its_xml() -> None:
    pdf = to_facturx(example_invoice(), pdf_invoice("many pages", pages=3))
    with Extractor(backend=FakeBackend(), cache=None, settings=Settings(max_pages=2)) as extractor:
        result = extractor.extract(pdf)
    assert result.origin == "einvoice"
    assert result.data.invoice_number == example_invoice().invoice_number


def test_a_failed_url_source_shows_no_token_or_key_from_its_query() -> None:
    key = "sk-ant-api03-QueryCanary0123456789abcdef"
    url = f"http://127.0.0.1:1/invoice.pdf?key={key}&X-Amz-Signature=deadbeefsecret"
    settings = Settings(allow_private_urls=True, fetch_timeout=5)
    with Extractor(backend=FakeBackend(), cache=None, settings=settings) as extractor:
        (failure,) = extractor.extract_many([url], progress=False)
    assert not failure.ok
    shown = f"{failure.source} {failure!r} {failure.to_dict()}"
    assert key not in shown and "QueryCanary" not in shown and "deadbeefsecret" not in shown
    assert "127.0.0.1:1/invoice.pdf" in str(failure.source)


def test_an_extractors_repr_hides_a_redis_password_with_quotes_or_spaces() -> None:
    for password in ("it's-secret", 'q"uote99', "pass word"):
        shown = repr(Extractor(backend=FakeBackend(), cache=f"redis://:{password}@cache.internal:6379/0"))
        assert password not in shown, shown
