"""Shared setup of the review tests: a one-page PDF, a fake extraction of it, and a served job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoiceai import Extractor, Settings
from invoiceai.testing import FakeBackend
from render_fixtures import PdfPage, build_pdf, text_ops
from server_helpers import LiveServer, client, new_key, serving, settings_for

PAGE = [
    "Invoice INV-0042", "Seller Muster GmbH", "VAT id DE123456789", "Buyer Kunde AG", "Date 12.03.2024",
    "Widget 2 x 10,00 20,00", "Net 20,00", "VAT 19 % 3,80", "Total 23,80 EUR",
]  # fmt: skip
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(2)>'
TRUTH: dict[str, Any] = {
    "invoice_number": "INV-0042", "issue_date": "2024-03-12", "currency": "EUR",
    "seller": {"name": "Muster GmbH", "vat_id": "DE123456789", "address": {"country_code": "DE"}},
    "buyer": {"name": "Kunde AG", "address": {"country_code": "DE"}},
    "line_items": [
        {"description": "Widget", "quantity": "2", "unit_price": "10.00", "amount": "20.00", "tax_rate": "19"}
    ],
    "tax_breakdown": [{"rate": "19", "taxable_amount": "20.00", "tax_amount": "3.80", "category": "S"}],
    "subtotal": "20.00", "total_without_tax": "20.00", "tax_total": "3.80", "total": "23.80", "amount_due": "23.80",
}  # fmt: skip
"""A complete invoice (it can be written as CII) whose every value is printed on :data:`PAGE`."""


def page_pdf(lines: list[str] | None = None) -> bytes:
    """A born-digital one-page PDF with ``lines`` (default :data:`PAGE`)."""
    return build_pdf([PdfPage(content=text_ops(lines or PAGE))])


def provenance_extractor(reply: dict[str, Any]) -> Extractor:
    """An extractor with provenance on, answering ``reply`` for every document."""
    return Extractor(backend=FakeBackend(default=reply), cache=None, settings=Settings.load(provenance=True))


@contextmanager
def served_job(tmp_path: Path, reply: dict[str, Any], **settings: Any) -> Iterator[tuple[LiveServer, Any, str, str]]:
    """The service with one succeeded job of :func:`page_pdf`: ``(server, context, key, job_id)``."""
    with serving(settings_for(tmp_path, **settings), extractor=provenance_extractor(reply)) as (server, context):
        key = new_key(context)[1] if settings.get("auth", True) else ""
        api = client(server, key or None)
        job = api.post("/v1/documents?wait=30", files={"file": ("invoice.pdf", page_pdf(), "application/pdf")})
        assert job.json()["status"] == "succeeded", job.text
        yield server, context, key, job.json()["id"]
