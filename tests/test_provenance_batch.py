"""Provenance through the Message Batches path: a stored result keeps its provenance and review."""

from __future__ import annotations

import json

from claude_fakes import settings
from invoiceai import Extractor, Settings
from invoiceai.backends import ClaudeBackend
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.provenance import UNGROUNDED, PageWords, Provenance, Review, ReviewPolicy, ground_invoice, review
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice
from invoiceai.testing import FakeClaudeAPI
from render_fixtures import PdfPage, build_pdf, text_ops

PAGE = ["Invoice INV-1", "Date 15.01.2026", "Seller ACME GmbH VAT DE123456789", "Widget 2 5,00 10,00",
        "Total 11,90 EUR"]  # fmt: skip
ANSWER = {
    "invoice_number": "INV-1", "issue_date": "2026-01-15", "currency": "EUR",
    "seller": {"name": "ACME GmbH", "vat_id": "DE123456789"},
    "line_items": [{"description": "Widget", "quantity": "2", "unit_price": "5.00", "amount": "10.00"}],
    "total": "19.90",
}  # fmt: skip


def test_a_batch_collected_again_keeps_provenance_and_review() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage={"input_tokens": 1000, "output_tokens": 200})
    store = MemoryBatchStore()
    pdf = build_pdf([PdfPage(content=text_ops(PAGE))])
    options = Settings.load(provenance=True)
    with Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None, settings=options) as ex:
        job = ex.submit_batch([pdf], batch_store=store)
        [first] = ex.collect_batch(job.id, batch_store=store, sleep=lambda _: None)
    with Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None, settings=options) as ex:
        [again] = ex.collect_batch(job.id, batch_store=store, sleep=lambda _: None)
    assert first.needs_review and first.review is not None and first.review.fields == ("total",)
    assert again.needs_review and again.review == first.review
    assert again.provenance.to_dict() == first.provenance.to_dict()
    assert again.provenance["total"].grounding == "ungrounded"
    assert again.provenance["line_items"][0]["amount"].text == "10,00"
    assert again.provenance.pages == first.provenance.pages == {1: "text"}
    assert json.dumps(again.to_dict()) == json.dumps(first.to_dict())


def test_provenance_and_review_read_back_from_their_dict_form() -> None:
    invoice = Invoice.model_validate({**ANSWER, "total": "11.90"})
    words = [(text, 0.1 * column, 0.05 * row, 0.1 * column + 0.08, 0.05 * row + 0.02)
             for row, line in enumerate(PAGE) for column, text in enumerate(line.split())]  # fmt: skip
    grounded = ground_invoice(invoice, [PageWords.from_raw(1, words, "text")])
    again = Provenance.from_dict(json.loads(json.dumps(grounded.provenance.to_dict())), {1: "text"})
    assert again.fields == grounded.provenance.fields
    assert again["line_items"][0]["quantity"] == grounded.provenance["line_items[0].quantity"]
    checked = review(again, grounded.findings)
    assert Review.from_dict(json.loads(json.dumps(checked.to_dict()))) == checked


def test_an_ungrounded_finding_without_provenance_still_needs_review_under_must_ground() -> None:
    finding = Finding(rule=UNGROUNDED, severity="warning", message="total is not printed", fields=("total",))
    assert review(Provenance.empty(), [finding]).needs_review
    assert review(Provenance.empty(), [finding]).fields == ("total",)
    assert not review(Provenance.empty(), [finding], ReviewPolicy(must_ground=("invoice_number",))).needs_review
