"""The documentation keeps up with the code it describes."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from invoiceai.schema import Address, Invoice
from invoiceai.schema.en16931 import FIELD_TERMS
from invoiceai.schema.validation import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def field_paths() -> set[str]:
    """Every field of the model as FIELD_TERMS spells it: parties by name, addresses once as ``*``."""
    paths: set[str] = set()
    _collect(Invoice, "", paths)
    return paths


def _collect(model: type[BaseModel], prefix: str, paths: set[str]) -> None:
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        item = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
        if isinstance(item, type) and issubclass(item, Address):
            paths.add(path)
            paths.update(f"*.address.{leaf}" for leaf in Address.model_fields)
        elif isinstance(item, type) and issubclass(item, BaseModel):
            paths.add(path)
            _collect(item, f"{path}[]." if annotation is not item else f"{path}.", paths)
        else:
            paths.add(path)


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
