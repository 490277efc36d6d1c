"""The Invoice schema survives the anthropic SDK's structured-output transform intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from invoiceai.errors import UnsupportedSchemaError
from invoiceai.schema import Invoice, output_json_schema
from invoiceai.schema.structured import check_structured_output_fit

UNSUPPORTED = {
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "multipleOf",
    "default",
    "title",
}
SDK_STRING_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}


def nodes(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        found.append(schema)
        for key, value in schema.items():
            if key not in ("enum", "const", "required"):
                found.extend(nodes(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(nodes(item))
    return found


def expand(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """Inlines every $ref; raises RecursionError on a recursive schema."""
    if depth > 50:
        raise RecursionError("schema is recursive")
    if isinstance(schema, dict):
        if "$ref" in schema:
            return expand(defs[schema["$ref"].split("/")[-1]], defs, depth + 1)
        return {key: expand(value, defs, depth + 1) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [expand(item, defs, depth + 1) for item in schema]
    return schema


def test_invoice_schema_passes_the_sdk_transform_finite_and_clean() -> None:
    from anthropic.lib._parse._transform import transform_schema

    ours = output_json_schema(Invoice)
    sent = transform_schema(ours)
    text = json.dumps(sent)
    assert "{default:" not in text and "{pattern:" not in text, "unsupported keywords leaked into descriptions"

    inlined = expand(sent, sent.get("$defs", {}))
    json.dumps(inlined)  # finite: it fully inlines and serialises
    objects = [node for node in nodes(inlined) if node.get("type") == "object"]
    assert len(objects) >= 8
    for node in objects:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])
    for node in nodes(inlined):
        assert not (UNSUPPORTED & set(node)), node
        if "format" in node:
            assert node["format"] in SDK_STRING_FORMATS
    top = inlined["properties"]
    assert set(top) == set(Invoice.model_fields)
    assert top["issue_date"]["anyOf"][0] == {"type": "string", "format": "date"}
    assert top["document_type"]["anyOf"][0]["enum"] == ["invoice", "credit_note", "receipt", "proforma", "other"]


def test_sdk_parse_helper_accepts_the_invoice_model() -> None:
    from anthropic.lib._parse._transform import to_json_output_format

    fmt = to_json_output_format(Invoice)
    assert fmt["type"] == "json_schema"
    json.dumps(fmt["schema"])


def test_output_schema_does_not_alter_the_model_schema() -> None:
    before = json.dumps(Invoice.model_json_schema(), sort_keys=True)
    output_json_schema(Invoice)["$defs"].clear()
    assert json.dumps(Invoice.model_json_schema(), sort_keys=True) == before


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Loose(BaseModel):
    extra: dict[str, str]


class Untyped(BaseModel):
    anything: Any


@pytest.mark.parametrize(
    ("model", "why"), [(Node, "recursive"), (Loose, "free-form mapping"), (Untyped, "without a type")]
)
def test_unfit_custom_schemas_get_a_clear_error(model: type[BaseModel], why: str) -> None:
    with pytest.raises(UnsupportedSchemaError, match=why):
        output_json_schema(model)


def test_a_plain_custom_schema_fits() -> None:
    class Receipt(BaseModel):
        merchant: str | None
        total: float | None
        items: list[str]

    schema = output_json_schema(Receipt)
    check_structured_output_fit(schema)
    assert schema["required"] == ["merchant", "total", "items"]
