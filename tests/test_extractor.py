"""The Extractor facade, end to end, with FakeBackend standing in for Claude."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

import invoiceai
from documents_factory import SAMPLE_FACTURX, example_invoice, pdf_invoice, png_invoice
from invoiceai import Extraction, ExtractionFailure, Extractor, Invoice, Settings
from invoiceai.cache import CacheWarning, MemoryCache, SQLiteCache
from invoiceai.einvoice import to_xml
from invoiceai.errors import (
    CorruptDocumentError,
    RateLimitError,
    UnsupportedFormatError,
    UnsupportedSchemaError,
)
from invoiceai.extractor.steps import decode_cached
from invoiceai.testing import FakeBackend
from invoiceai.usage import Usage


class Receipt(BaseModel):
    merchant: str | None
    total: Decimal | None


def fake(**kwargs: object) -> FakeBackend:
    return FakeBackend(default=example_invoice(), usage=Usage(input_tokens=1500, output_tokens=400, requests=1),
                       **kwargs)  # type: ignore[arg-type]  # fmt: skip


def test_extract_runs_the_pipeline_and_reports_everything() -> None:
    backend = fake()
    # Provenance off: the fake's answer is not printed on the picture, so OCR would add findings.
    with Extractor(backend=backend, cache=None, settings=Settings.load(provenance=False)) as extractor:
        result = extractor.extract(png_invoice())
    assert isinstance(result, Extraction)
    assert result.origin == "model"
    assert result.data == example_invoice()
    assert result.usage == Usage(input_tokens=1500, output_tokens=400, requests=1)
    assert result.findings == ()
    assert result.pages == (1,)
    assert result.document_id == backend.history[0].document_id
    assert len(result.document_id) == 64
    assert result.model == "fake-model"
    assert result.timings.load > 0
    assert result.timings.render > 0
    assert len(backend.history) == 1
    assert len(backend.history[0].pages) == 1
    assert backend.closed is False  # a backend passed in belongs to the caller


def test_findings_come_from_validation() -> None:
    broken = example_invoice()
    broken.total = Decimal("1.00")
    with Extractor(backend=FakeBackend(default=broken), cache=None) as extractor:
        result = extractor.extract(png_invoice())
    assert [finding.rule for finding in result.errors] == ["BR-CO-15", "BR-CO-16"]
    assert "BR-CO-15" in result._repr_html_()


def test_a_second_extract_of_the_same_file_sends_no_request(tmp_path: Path) -> None:
    path = tmp_path / "invoice.png"
    path.write_bytes(png_invoice())
    backend = fake()
    cache = MemoryCache()
    with Extractor(backend=backend, cache=cache) as extractor:
        first = extractor.extract(path)
        second = extractor.extract(path)
    assert len(backend.history) == 1
    assert (second.origin, second.cached) == ("model", True)
    assert second.usage == Usage()
    assert second.data == first.data
    assert second.pages == first.pages
    assert second.model == "fake-model"


def test_the_sqlite_cache_serves_a_new_extractor_in_another_life(tmp_path: Path) -> None:
    document = png_invoice("persist")
    first_backend, second_backend = fake(), fake()
    with Extractor(backend=first_backend, cache=tmp_path / "cache.db") as extractor:
        extractor.extract(document)
    with Extractor(backend=second_backend, cache=SQLiteCache(tmp_path / "cache.db")) as extractor:
        result = extractor.extract(document)
    assert (len(first_backend.history), len(second_backend.history)) == (1, 0)
    assert (result.origin, result.cached) == ("model", True)


def test_cache_key_covers_pages_schema_and_model() -> None:
    document = pdf_invoice(pages=3)
    cache = MemoryCache()
    backend = fake()
    backend.enqueue(example_invoice(), example_invoice(), {"merchant": "ACME", "total": "9.99"})
    with Extractor(backend=backend, cache=cache) as extractor:
        extractor.extract(document, pages="1-2")
        extractor.extract(document, pages="1")
        receipt = extractor.extract(document, pages="1", schema=Receipt)
        again = extractor.extract(document, pages=[2, 1])
    with Extractor(backend=FakeBackend(default=example_invoice(), model="other"), cache=cache) as extractor:
        other_model = extractor.extract(document, pages="1")
    assert len(backend.history) == 3
    assert receipt.data == Receipt(merchant="ACME", total=Decimal("9.99"))
    assert (again.origin, again.cached) == ("model", True)
    assert other_model.origin == "model"


def test_a_corrupted_cache_entry_is_ignored_and_replaced() -> None:
    cache = MemoryCache()
    backend = fake()
    document = png_invoice("corrupt")
    with Extractor(backend=backend, cache=cache) as extractor:
        extractor.extract(document)
        (key,) = list(cache._entries)
        cache.set(key, '{"version": "1", "data": {"total": [1, 2]')
        with pytest.warns(CacheWarning, match="could not be used"):
            repaired = extractor.extract(document)
        served = extractor.extract(document)
    assert repaired.origin == "model"
    assert any("cached result was unreadable" in warning for warning in repaired.warnings)
    assert (served.origin, served.cached) == ("model", True)
    assert len(backend.history) == 2


def test_custom_schema_gets_no_invoice_findings() -> None:
    backend = FakeBackend(default={"merchant": "Kiosk", "total": "4.50"})
    with Extractor(backend=backend, cache=None) as extractor:
        result = extractor.extract(png_invoice(), schema=Receipt)
    assert result.data == Receipt(merchant="Kiosk", total=Decimal("4.50"))
    assert result.findings == ()
    assert backend.history[0].schema is Receipt


def test_a_schema_structured_outputs_cannot_take_fails_before_any_request() -> None:
    class Tree(BaseModel):
        children: list[Tree]

    backend = fake()
    with Extractor(backend=backend, cache=None) as extractor, pytest.raises(UnsupportedSchemaError, match="recursive"):
        extractor.extract(png_invoice(), schema=Tree)
    assert backend.history == []


def test_xml_goes_straight_to_the_reader() -> None:
    xml = to_xml(example_invoice(), "ubl")
    backend = fake()
    with Extractor(backend=backend, cache=None) as extractor:
        result = extractor.extract(xml)
        with pytest.raises(UnsupportedSchemaError, match=r"read into invoiceai\.Invoice"):
            extractor.extract(xml, schema=Receipt)
    assert result.origin == "einvoice"
    assert result.data.total == Decimal("562.04")
    assert result.usage == Usage()
    assert result.findings == ()
    assert backend.history == []


def test_embedded_einvoice_short_circuits_the_model() -> None:
    backend = fake()
    with Extractor(backend=backend, cache=None) as extractor:
        embedded = extractor.extract(SAMPLE_FACTURX)
    assert embedded.origin == "einvoice"
    assert embedded.data.invoice_number == "INV-2026-0042"
    assert backend.history == []
    with Extractor(backend=backend, cache=None, prefer_embedded=False) as extractor:
        visual = extractor.extract(SAMPLE_FACTURX)
    assert visual.origin == "model"
    assert len(backend.history) == 1


def test_cross_check_reports_where_the_pages_disagree_with_the_xml() -> None:
    seen = example_invoice()
    seen.invoice_number = "INV-2026-0043"
    seen.total = Decimal("99.00")
    backend = FakeBackend(default=seen)
    with Extractor(backend=backend, cache=None, cross_check=True) as extractor:
        result = extractor.extract(SAMPLE_FACTURX)
    assert result.origin == "einvoice"
    assert result.data.invoice_number == "INV-2026-0042"  # the XML stays authoritative
    cross = [finding for finding in result.findings if finding.rule == "IAI-CROSS-CHECK"]
    fields = {field for finding in cross for field in finding.fields}
    assert {"invoice_number", "total"} <= fields
    assert len(backend.history) == 1


def test_extract_many_keeps_order_survives_failures_and_dedupes(tmp_path: Path) -> None:
    documents = [png_invoice(str(i)) for i in range(6)]
    sources: list[object] = [documents[0], b"%PDF-1.7 truncated", documents[1], documents[0], documents[2]]
    backend = FakeBackend(default=lambda call: example_invoice().model_copy(update={"notes": call.document_id}))
    with Extractor(backend=backend, cache=None, concurrency=3) as extractor:
        results = extractor.extract_many(sources, progress=False)  # type: ignore[arg-type]
    assert [result.ok for result in results] == [True, False, True, True, True]
    assert isinstance(results[1], ExtractionFailure)
    assert isinstance(results[1].error, CorruptDocumentError)
    ok = [result for result in results if isinstance(result, Extraction)]
    for result in ok:
        assert result.data.notes == result.document_id  # each slot got its own document's answer
    assert results[0].document_id == results[3].document_id
    assert len(backend.history) == 3  # documents[0] twice in the batch, extracted once


def test_extract_many_raise_on_error() -> None:
    with Extractor(backend=fake(), cache=None) as extractor, pytest.raises(UnsupportedFormatError):
        extractor.extract_many([png_invoice(), b"not a document"], raise_on_error=True, progress=False)


def test_extract_many_bounds_concurrency() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow(_: object) -> Invoice:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return example_invoice()

    with Extractor(backend=FakeBackend(default=slow), cache=None) as extractor:
        results = extractor.extract_many([png_invoice(str(i)) for i in range(12)], concurrency=3, progress=False)
    assert all(result.ok for result in results)
    assert 1 < peak <= 3


def test_ctrl_c_stops_the_batch_and_leaves_the_cache_consistent() -> None:
    cache = MemoryCache()
    backend = fake()
    done: list[int] = []

    def progress(finished: int, total: int) -> None:
        done.append(finished)
        if finished == 2:
            raise KeyboardInterrupt

    with Extractor(backend=backend, cache=cache, concurrency=2) as extractor:
        with pytest.raises(KeyboardInterrupt):
            extractor.extract_many([png_invoice(str(i)) for i in range(40)], progress=progress)
        time.sleep(0.2)  # let the documents in flight finish their work
        assert len(backend.history) < 40
        for key in list(cache._entries):
            value = cache.get(key)
            assert value is not None
            assert decode_cached(value, Invoice) is not None


def test_progress_callback_counts_every_document() -> None:
    calls: list[tuple[int, int]] = []
    with Extractor(backend=fake(), cache=None) as extractor:
        extractor.extract_many(
            [png_invoice("a"), b"junk", png_invoice("b")], progress=lambda d, t: calls.append((d, t))
        )
    assert sorted(calls) == [(1, 3), (2, 3), (3, 3)]


def test_async_extract_and_batch() -> None:
    backend = fake()

    async def main() -> tuple[Extraction[Invoice], list[Extraction[Invoice] | ExtractionFailure]]:
        async with Extractor(backend=backend, cache=MemoryCache()) as extractor:
            single = await extractor.aextract(png_invoice("async"))
            many = await extractor.aextract_many(
                [png_invoice("async"), b"junk", png_invoice("x"), png_invoice("x")], progress=False
            )
            return single, many

    single, many = asyncio.run(main())
    assert single.origin == "model"
    assert [result.ok for result in many] == [True, False, True, True]
    assert (many[0].origin, many[0].cached) == ("model", True)  # type: ignore[union-attr]
    assert len(backend.history) == 2


def test_backend_errors_become_failures_with_their_type() -> None:
    backend = FakeBackend(RateLimitError("429s outlasted the retry budget", attempts=8), default=example_invoice())
    with Extractor(backend=backend, cache=None, concurrency=1) as extractor:
        results = extractor.extract_many([png_invoice("a"), png_invoice("b")], progress=False)
    failure = results[0]
    assert isinstance(failure, ExtractionFailure)
    assert isinstance(failure.error, RateLimitError)
    assert failure.to_dict()["error"]["attempts"] == 8
    assert results[1].ok


def test_closed_extractor_refuses_work() -> None:
    extractor = Extractor(backend=fake(), cache=None)
    extractor.close()
    with pytest.raises(invoiceai.ConfigurationError, match="closed"):
        extractor.extract(png_invoice())


def test_a_backend_given_with_a_conflicting_model_is_refused() -> None:
    with pytest.raises(invoiceai.ConfigurationError, match="conflicts"):
        Extractor(model="claude-opus-5", backend=fake())


def test_duplicates_do_not_hang_when_their_owner_dies_of_a_base_exception() -> None:
    class Abort(BaseException):
        pass

    started = threading.Event()

    def die(_: object) -> Invoice:
        started.set()
        time.sleep(0.1)  # let the duplicate find the claim and wait on it
        raise Abort

    document = png_invoice("dup")
    with Extractor(backend=FakeBackend(default=die), cache=None, concurrency=2) as extractor:
        finished = threading.Event()
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                extractor.extract_many([document, document], progress=False)
            except BaseException as exc:
                outcome.append(exc)
            finished.set()

        threading.Thread(target=run, daemon=True).start()
        assert finished.wait(10), "extract_many hung"
    assert started.is_set()
    assert isinstance(outcome[0], Abort)


def test_a_cache_passed_in_stays_open_and_one_opened_from_a_spec_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[object] = []
    monkeypatch.setattr(MemoryCache, "close", lambda self: closed.append(self))
    monkeypatch.setattr(SQLiteCache, "close", lambda self: closed.append(self))
    mine = MemoryCache()
    with Extractor(backend=fake(), cache=mine) as extractor:
        extractor.extract(png_invoice("own"))
    assert closed == []  # the caller's cache belongs to the caller
    with Extractor(backend=fake(), cache=tmp_path / "c.db") as extractor:
        opened = extractor.cache
    assert isinstance(opened, SQLiteCache)
    assert closed == [opened]  # opened from a spec: closed with the extractor
