"""Text forms of results: the short ``str()`` of results and failures, cached origins, rounded amounts."""

from __future__ import annotations

from decimal import Decimal

from documents_factory import broken_invoice, example_invoice, sample_extraction
from invoiceai.errors import CorruptDocumentError
from invoiceai.extractor import Extraction, ExtractionFailure
from invoiceai.schema import validate
from invoiceai.usage import Usage


def test_str_of_a_result_is_a_few_readable_lines() -> None:
    invoice = example_invoice()
    result = sample_extraction(invoice, tuple(validate(broken_invoice())))
    text = str(result)
    assert len(text) < 400 < len(repr(result))
    assert text.splitlines() == [
        "Extraction scan.jpg: origin model, model claude-sonnet-5",
        f"  invoice {invoice.invoice_number}, seller {invoice.seller.name}",
        f"  total {invoice.total} {invoice.currency}",
        f"  findings: {len(validate(broken_invoice()))} error{'s' if len(validate(broken_invoice())) > 1 else ''}",
    ]


def test_a_cache_hit_keeps_its_origin_and_says_cached() -> None:
    result = Extraction(data=example_invoice(), usage=Usage(), findings=(), origin="cache", document_id="cd" * 32)
    assert (result.origin, result.cached) == ("model", True)
    assert result.to_dict()["origin"] == "model" and result.to_dict()["cached"] is True
    assert str(result).splitlines()[0] == "Extraction cdcdcdcdcdcd: origin model (cached)"
    fresh = Extraction(data=example_invoice(), usage=Usage(), findings=(), origin="einvoice", document_id="ef" * 32)
    assert (fresh.origin, fresh.cached, fresh.to_dict()["cached"]) == ("einvoice", False, False)


def test_str_of_a_failure_names_source_type_and_message() -> None:
    failure = ExtractionFailure(error=CorruptDocumentError("damaged"), source="a.pdf")
    assert str(failure) == "ExtractionFailure a.pdf\n  CorruptDocumentError: damaged"


def test_amounts_are_rounded_for_display_only() -> None:
    from invoiceai.display import amount_text

    assert amount_text(Decimal("0.6666666666666666666666666667")) == "0.6667"
    assert amount_text(Decimal("10.000000000000000000000000000500")) == "10.00"
    assert amount_text(Decimal("2952.10")) == "2952.10"
    assert amount_text(Decimal("1.2345")) == "1.2345"
    assert amount_text(Decimal("19")) == "19"
    invoice = example_invoice()
    invoice.total = Decimal("0.6666666666666666666666666667")
    assert "total 0.6667 " in str(sample_extraction(invoice))
    assert invoice.total == Decimal("0.6666666666666666666666666667")
