"""Notebook HTML and text summaries: schema's minimal invoice renderer and invoiceai.display on top."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from documents_factory import broken_invoice, example_invoice, sample_extraction
from invoiceai.display import (
    extraction_html,
    extraction_summary,
    failure_html,
    failure_summary,
    invoice_html,
)
from invoiceai.errors import CorruptDocumentError
from invoiceai.extractor import Extraction, ExtractionFailure
from invoiceai.schema import Finding, validate
from invoiceai.schema import html as schema_html
from invoiceai.usage import Usage

HOSTILE = "<script>alert(1)</script>"


def test_invoice_repr_html_validates_and_highlights_findings() -> None:
    page = broken_invoice()._repr_html_()
    assert "BR-CO-15" in page
    assert '<tr class="error">' in page
    assert "<h4>Totals</h4>" in page
    assert "BR-CO-15" not in example_invoice()._repr_html_()


def test_every_value_is_escaped() -> None:
    invoice = example_invoice()
    invoice.line_items[0].description = HOSTILE
    invoice.seller.name = HOSTILE
    for page in (invoice._repr_html_(), invoice_html(invoice), extraction_html(sample_extraction(invoice))):
        assert HOSTILE not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_schema_renderer_shows_only_the_findings_it_is_given() -> None:
    broken = broken_invoice()
    assert "BR-CO-15" not in schema_html.invoice_html(broken, [])
    given = Finding(rule="MY-RULE", severity="warning", message="Looks odd.")
    page = schema_html.invoice_html(broken, [given], caption="from the test")
    assert '<tr class="warning">' in page
    assert "MY-RULE" in page
    assert "<p>from the test</p>" in page


def test_display_invoice_html_validates_unless_given_findings() -> None:
    broken = broken_invoice()
    assert invoice_html(broken) == schema_html.invoice_html(broken, validate(broken))
    assert "BR-CO-15" not in invoice_html(broken, [])


def test_an_extraction_shows_its_summary_invoice_and_own_findings() -> None:
    broken = broken_invoice()
    result = sample_extraction(broken, tuple(validate(broken)))
    summary = extraction_summary(result)
    assert summary == (
        "scan.jpg — origin model, model claude-sonnet-5, 1 request(s), 1500 input + 400 output tokens, $0.0105, 2.31 s"
    )
    page = result._repr_html_()
    assert page == extraction_html(result)
    assert page == schema_html.invoice_html(broken, list(result.findings), caption=summary)
    assert "BR-CO-15" in page
    assert "BR-CO-15" not in sample_extraction(broken)._repr_html_()  # the extraction's findings, not re-validated


def test_a_custom_schema_shows_as_json() -> None:
    class Receipt(BaseModel):
        shop: str
        total: Decimal

    result = sample_extraction(
        Receipt(shop=HOSTILE, total=Decimal("9.99")), (Finding(rule="R", severity="info", message="m"),)
    )
    page = extraction_html(result)
    assert "<pre>" in page
    assert "&quot;total&quot;: &quot;9.99&quot;" in page
    assert HOSTILE not in page
    assert '<tr class="info">' in page


def test_a_summary_without_source_or_model_uses_the_document_id() -> None:
    result = Extraction(data=example_invoice(), usage=Usage(), findings=(), origin="cache", document_id="cd" * 32)
    assert extraction_summary(result).startswith("cdcdcdcdcdcd — origin cache, 0 request(s)")


def test_a_failure_shows_its_type_source_and_message() -> None:
    failure = ExtractionFailure(error=CorruptDocumentError(f"damaged {HOSTILE}"), source="a<b>.pdf")
    assert failure_summary(failure) == f"CorruptDocumentError a<b>.pdf: damaged {HOSTILE}"
    page = failure._repr_html_()
    assert page == failure_html(failure)
    assert "<b>CorruptDocumentError</b> a&lt;b&gt;.pdf: damaged &lt;script&gt;" in page
