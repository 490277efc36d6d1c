"""The documentation keeps up with the code it describes."""

from __future__ import annotations

from pathlib import Path

from invoiceai.schema import Address, Invoice, LineItem, Party, PaymentDetails, TaxLine
from invoiceai.schema.en16931 import FIELD_TERMS
from invoiceai.schema.validation import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def field_paths() -> set[str]:
    paths = {name for name in Invoice.model_fields if name not in ("seller", "buyer", "payment")}
    for party in ("seller", "buyer"):
        paths |= {f"{party}.{name}" for name in Party.model_fields}
    paths |= {f"*.address.{name}" for name in Address.model_fields}
    paths |= {f"line_items[].{name}" for name in LineItem.model_fields}
    paths |= {f"tax_breakdown[].{name}" for name in TaxLine.model_fields}
    paths |= {f"payment.{name}" for name in PaymentDetails.model_fields}
    return paths


def test_every_invoice_field_has_an_en16931_term() -> None:
    assert field_paths() == set(FIELD_TERMS)


def test_the_model_page_lists_every_field_with_its_term() -> None:
    page = (DOCS / "invoice-model.md").read_text()
    rows = {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in page.splitlines()}
    for path, (term, name) in FIELD_TERMS.items():
        row = rows.get(f"`{path}`")
        assert row is not None, path
        # | field | type | EN 16931 | business term | description |: the term in the field's own row.
        assert (row[2], row[3]) == (term, name), path


def test_the_validation_page_lists_every_rule() -> None:
    page = (DOCS / "validation.md").read_text()
    for rule in RULES:
        rule_id = (rule.__doc__ or "").split(":")[0].split(" ")[0]
        assert f"`{rule_id}`" in page, rule_id
