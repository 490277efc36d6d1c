"""The JSON schema Claude is asked to fill, and the check that a schema can be asked for at all.

Claude's structured outputs accept a subset of JSON Schema: no recursion, no external
``$ref``, objects closed with ``additionalProperties: false``, enums of primitives. The anthropic
SDK rewrites what it can (bounds move into descriptions); what it cannot rewrite would fail at
the API or, worse, silently produce empty objects. :func:`check_structured_output_fit` finds
those cases before any request is sent and says what to change. :func:`with_value_pages` adds
the one property that asks a multi-page request for the page of each value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from invoiceai.errors import UnsupportedSchemaError
from invoiceai.schema.fields import NOT_ASKED_KEY, NULL_PARTS_KEY

__all__ = [
    "VALUE_PAGES_KEY",
    "adds_value_pages",
    "check_structured_output_fit",
    "output_json_schema",
    "with_value_pages",
]

VALUE_PAGES_KEY = "_value_pages"
"""The extra top-level property of a multi-page request's output: the page of each value.

A Pydantic field name cannot start with an underscore, but an alias can: a schema whose root
already has a property of that name is never asked for pages (:func:`adds_value_pages`), and its
replies are validated whole. Otherwise the backend strips the property before validation."""

# One fixed-size fragment, whatever the user's schema: a per-field page object would double the
# nullable fields that structured outputs compile into their grammar.
_VALUE_PAGES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": (
        "The page each value above is printed on, as the pages are numbered in this request. One entry "
        "per list item (e.g. path 'line_items[0]', 'line_items[1]') and per other value or part (e.g. "
        "'invoice_number', 'total', 'seller' when all of the seller's values are on one page, "
        "'seller.vat_id' when one is elsewhere). Only values that are not null."
    ),
    "items": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "page": {"type": "integer"}},
        "required": ["path", "page"],
        "additionalProperties": False,
    },
}

# A schema node says what it accepts through one of these; a node with none of them is `Any`.
_TYPED_KEYS = frozenset({"type", "$ref", "anyOf", "allOf", "oneOf", "enum", "const"})


def output_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Returns the JSON schema Claude is asked to fill for ``model``.

    Titles and defaults are dropped (they repeat what the schema already says and cost tokens on
    every request) and every property is required, so replies always carry every key, with
    ``null`` for unknowns. Fields marked :data:`~invoiceai.schema.fields.NOT_ASKED` are left
    out. In a model marked :data:`~invoiceai.schema.fields.NULL_PARTS` (an
    :class:`~invoiceai.Invoice`, whose normalisation turns ``null`` into an empty part) a nested
    part with a default may be ``null``, so an absent delivery costs one token, not one per field.

    Args:
        model: A Pydantic model class.

    Returns:
        A new schema dict; the caller may change it.

    Raises:
        UnsupportedSchemaError: The model cannot be expressed as a structured-output schema.
    """
    try:
        schema = copy.deepcopy(model.model_json_schema())
    except Exception as exc:  # pydantic raises several unrelated types for unschematisable fields
        raise UnsupportedSchemaError(
            f"{model.__name__} has no JSON schema ({exc}); use fields of JSON-compatible types."
        ) from exc
    check_structured_output_fit(schema, name=model.__name__)
    parts_may_be_null = bool(schema.pop(NULL_PARTS_KEY, False))
    for node in _walk(schema):
        node.pop("title", None)
        node.pop("default", None)
        node.pop(NULL_PARTS_KEY, None)  # an Invoice nested in another model carries it too
        properties = node.get("properties")
        if node.get("type") == "object" and isinstance(properties, dict):
            optional = set(properties) - set(node.get("required", ()))
            for key in [key for key, child in properties.items() if child.get(NOT_ASKED_KEY)]:
                del properties[key]
            if parts_may_be_null:
                for key in optional & set(properties):
                    properties[key] = _or_null(properties[key])
            node["required"] = list(properties)
    return schema


def adds_value_pages(schema: Mapping[str, Any]) -> bool:
    """Tells whether :func:`with_value_pages` adds the :data:`VALUE_PAGES_KEY` property to ``schema``.

    It does unless the root is not an object with properties or already has a property of that
    name (a field aliased ``_value_pages``): then the request does not ask for pages and the reply's
    property of that name is the user's, to be validated, not stripped.
    """
    properties = _value_pages_root(schema).get("properties")
    return isinstance(properties, dict) and VALUE_PAGES_KEY not in properties


def with_value_pages(schema: dict[str, Any]) -> dict[str, Any]:
    """Returns ``schema`` (API-ready, as :func:`output_json_schema` and the SDK made it) asking for value pages too.

    The :data:`VALUE_PAGES_KEY` array is added as the root's last required property, so the
    model writes the values first and then says where it read them. A schema
    :func:`adds_value_pages` refuses is returned unchanged. ``schema`` is not modified.

    Args:
        schema: An API-ready JSON schema whose root is an object (or a local ``$ref`` to one).

    Returns:
        A new dict (sharing unchanged parts with ``schema``).
    """
    if not adds_value_pages(schema):
        return schema
    root = _value_pages_root(schema)
    extended = {key: value for key, value in root.items() if key != "$ref"}
    extended["properties"] = {**root["properties"], VALUE_PAGES_KEY: copy.deepcopy(_VALUE_PAGES_SCHEMA)}
    extended["required"] = [*root.get("required", ()), VALUE_PAGES_KEY]
    return extended


def _value_pages_root(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    # The root object, with the definitions it refers to, when the schema is a local $ref to it.
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        definitions = schema.get("$defs", {})
        return {**definitions.get(ref.removeprefix("#/$defs/"), {}), "$defs": definitions}
    return schema


def _or_null(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` made nullable when it is a bare reference to a part; other nodes unchanged."""
    if set(node) - {"$ref", "description"} or "$ref" not in node:
        return node
    nullable: dict[str, Any] = {"anyOf": [{"$ref": node["$ref"]}, {"type": "null"}]}
    if "description" in node:
        nullable["description"] = node["description"]
    return nullable


def check_structured_output_fit(schema: dict[str, Any], *, name: str = "schema") -> None:
    """Raises if ``schema`` cannot be used with Claude's structured outputs.

    Args:
        schema: A JSON schema as produced by ``model_json_schema()``.
        name: How to call the schema in messages.

    Raises:
        UnsupportedSchemaError: Recursion, an external reference, a root that is not an object,
            a free-form dict field or a field without a type; the message names the field.
    """
    definitions = schema.get("$defs", {})
    cycle = _find_cycle(definitions)
    if cycle:
        raise UnsupportedSchemaError(
            f"{name}: recursive types are not supported by structured outputs ({' -> '.join(cycle)}); "
            "flatten the recursion to a fixed depth."
        )
    root = schema
    if isinstance(schema.get("$ref"), str):
        root = definitions.get(schema["$ref"].removeprefix("#/$defs/"), {})
    if root.get("type") != "object":
        raise UnsupportedSchemaError(f"{name}: the root of a structured output must be an object (a model class).")
    for path, node in _walk_with_paths(schema, name):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#/$defs/"):
            raise UnsupportedSchemaError(f"{path}: external reference {ref!r} is not supported; inline the type.")
        extra = node.get("additionalProperties")
        free_form = node.get("type") == "object" and "properties" not in node and extra is not False
        if isinstance(extra, dict) or free_form:
            raise UnsupportedSchemaError(
                f"{path}: a free-form mapping (dict) cannot be a structured output, because every object "
                "must list its keys; use a model class or a list of key/value models instead."
            )
        if not _TYPED_KEYS.intersection(node):
            raise UnsupportedSchemaError(f"{path}: a field without a type (Any) is not supported; give it a type.")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    for _, child in _walk_with_paths(node, ""):
        yield child


def _walk_with_paths(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("enum", "const", "default", "examples", "required", "discriminator"):
                continue
            if key in ("properties", "$defs") and isinstance(value, dict):
                for child_name, child in value.items():
                    yield from _walk_with_paths(child, f"{path}.{child_name}")
            else:
                yield from _walk_with_paths(value, f"{path}.{key}" if key not in ("anyOf", "allOf", "oneOf") else path)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_with_paths(item, path)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref.removeprefix("#/$defs/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _find_cycle(definitions: dict[str, Any]) -> list[str]:
    graph = {name: set(_refs(body)) for name, body in definitions.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str]:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done:
            return []
        visiting.append(name)
        for target in sorted(graph.get(name, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(name)
        return []

    for name in sorted(graph):
        cycle = visit(name)
        if cycle:
            return cycle
    return []
