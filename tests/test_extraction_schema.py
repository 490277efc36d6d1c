"""The schema Claude fills for an Invoice: what is left out, what may be null, and what that costs in pages."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from invoiceai.backends.claude.chunking import RequestLimits, pages_per_request
from invoiceai.backends.claude.request import api_schema
from invoiceai.schema import Invoice, Party
from invoiceai.schema.fields import NOT_ASKED_KEY, NULL_PARTS_KEY
from invoiceai.schema.structured import output_json_schema


class Shipment(BaseModel):
    carrier: str
    tracking: str | None = None


class WithShipment(Invoice):
    shipment: Shipment = Field(default_factory=lambda: Shipment(carrier="unknown"))


class Plain(BaseModel):
    class Inner(BaseModel):
        value: str | None = None

    inner: Inner = Field(default_factory=Inner)
    total: str | None = None


class Several(BaseModel):
    invoices: list[Invoice] = Field(default_factory=list)


def test_nested_parts_of_an_invoice_may_be_null() -> None:
    schema = output_json_schema(Invoice)
    for part in ("seller", "buyer", "payee", "delivery", "invoicing_period", "payment"):
        assert {"type": "null"} in schema["properties"][part]["anyOf"], part
    assert {"type": "null"} in schema["$defs"]["LineItem"]["properties"]["period"]["anyOf"]


def test_fields_marked_not_asked_are_left_out() -> None:
    schema = output_json_schema(Invoice)
    line = schema["$defs"]["LineItem"]["properties"]
    assert "line_id" not in line and "description" in line
    assert "identifier_scheme" not in schema["$defs"]["Party"]["properties"]
    assert NOT_ASKED_KEY not in json.dumps(schema)
    assert "line_id" in Invoice.model_json_schema()["$defs"]["LineItem"]["properties"]  # the model keeps it


def test_a_plain_custom_schema_keeps_its_parts_as_they_are() -> None:
    schema = output_json_schema(Plain)
    assert schema["properties"]["inner"] == {"$ref": "#/$defs/Inner"}


def test_the_marker_never_reaches_the_prompt() -> None:
    for model in (Invoice, Several):
        assert NULL_PARTS_KEY not in json.dumps(api_schema(model))


def test_a_null_part_reads_as_the_fields_default() -> None:
    invoice = Invoice.model_validate({"seller": None, "line_items": [{"period": None}]})
    assert invoice.seller == Party()
    assert invoice.line_items[0].period.start is None
    extended = WithShipment.model_validate({"shipment": None})
    assert extended.shipment == Shipment(carrier="unknown")


def test_the_page_cap_follows_the_size_of_the_answer() -> None:
    limits = RequestLimits()
    small = pages_per_request(api_schema(Plain), limits, 64_000)
    invoice = pages_per_request(api_schema(Invoice), limits, 64_000)
    assert small == limits.max_pages
    assert 1 <= invoice < small  # an Invoice page's line items cost more output than 20 pages allow
    assert pages_per_request(api_schema(Invoice), limits, 32_000) < invoice
