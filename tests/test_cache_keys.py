"""cache_key(): pure, stable, and sensitive to every input that can change an answer."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from invoiceai.cache import cache_key
from invoiceai.cache.keys import canonical_json, normalize_pages, schema_digest
from invoiceai.errors import UnsupportedSchemaError
from invoiceai.schema import Invoice


class Total(BaseModel):
    total: Decimal


class TotalWithCurrency(BaseModel):
    total: Decimal
    currency: str


class TotalDescribed(BaseModel):
    total: Decimal = Field(description="The amount due, tax included.")


DOC = hashlib.sha256(b"%PDF-1.7 invoice").hexdigest()
BASE: dict[str, Any] = {
    "document_id": DOC,
    "pages": None,
    "schema": Invoice,
    "model_fingerprint": "claude-sonnet-5",
    "prompt_version": "1",
    "render_settings": {"dpi": 200, "max_pixels": 1_568_000, "grayscale": False},
}


def key(**changes: Any) -> str:
    return cache_key(**{**BASE, **changes})


def test_key_is_64_lowercase_hex_and_deterministic() -> None:
    first = key()
    assert len(first) == 64
    assert first == first.lower()
    int(first, 16)
    assert key() == first


def test_key_is_stable_across_runs() -> None:
    # A change of recipe must be deliberate (bump KEY_VERSION): otherwise every user's cache
    # silently goes cold, or worse, two recipes collide.
    # A dict schema, so that a pydantic upgrade that renders schemas differently does not trip this.
    fixed = key(schema={"type": "object", "properties": {"total": {"type": "string"}}}, render_settings={"dpi": 200})
    assert fixed == "653c0e279c0eb53ee2fc425ae5097f5f055f304dd02c8345cfd5b86efabb01b9"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"document_id": hashlib.sha256(b"other").hexdigest()}, id="document"),
        pytest.param({"pages": [1]}, id="pages-none-vs-some"),
        pytest.param({"schema": Total}, id="schema-class"),
        pytest.param({"model_fingerprint": "claude-opus-5"}, id="model"),
        pytest.param({"model_fingerprint": {"model": "claude-sonnet-5", "temperature": 0}}, id="model-settings"),
        pytest.param({"prompt_version": "2"}, id="prompt"),
        pytest.param({"render_settings": {"dpi": 300, "max_pixels": 1_568_000, "grayscale": False}}, id="dpi"),
        pytest.param({"render_settings": {"dpi": 200, "max_pixels": 1_568_000, "grayscale": True}}, id="colour"),
        pytest.param({"render_settings": None}, id="render-none"),
    ],
)
def test_every_input_changes_the_key(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


def test_a_schema_change_changes_the_key() -> None:
    total = key(schema=Total)
    assert key(schema=TotalWithCurrency) != total
    assert key(schema=TotalDescribed) != total
    assert key(schema=Total.model_json_schema()) == total  # a JSON schema dict is hashed the same way


def test_different_page_selections_give_different_keys() -> None:
    assert key(pages=[1]) != key(pages=[2])
    assert key(pages=[1, 2]) != key(pages=[1])


def test_equal_page_selections_give_equal_keys() -> None:
    assert key(pages=[3, 1, 1, 2]) == key(pages=[1, 2, 3]) == key(pages=range(1, 4)) == key(pages=(2, 3, 1))


def test_mapping_order_does_not_matter() -> None:
    assert key(render_settings={"grayscale": False, "max_pixels": 1_568_000, "dpi": 200}) == key()


def test_inputs_cannot_run_together() -> None:
    # Fields are JSON-encoded separately, so moving text from one input to the next is not a collision.
    assert key(model_fingerprint="claude-sonnet-5", prompt_version="12") != key(
        model_fingerprint="claude-sonnet-51", prompt_version="2"
    )


@pytest.mark.parametrize(
    ("pages", "error"),
    [("1-3", TypeError), ([1, "2"], TypeError), ([True], TypeError), ([0], ValueError), ([-1], ValueError)],
)
def test_page_selection_must_be_resolved_page_numbers(pages: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        key(pages=pages)


def test_normalize_pages() -> None:
    assert normalize_pages(None) is None
    assert normalize_pages([5, 2, 5]) == [2, 5]


def test_empty_document_id_is_refused() -> None:
    with pytest.raises(ValueError, match="document_id"):
        key(document_id="")


def test_a_schema_without_json_schema_is_refused() -> None:
    with pytest.raises(UnsupportedSchemaError, match="Pydantic model class"):
        key(schema=object())


def test_values_without_a_canonical_form_are_refused() -> None:
    # An object's repr may hold its address, which would give a new key on every run.
    with pytest.raises(TypeError, match="canonical JSON"):
        key(render_settings={"renderer": object()})


def test_canonical_json_forms() -> None:
    assert canonical_json({"b": Decimal("1.10"), "a": PurePosixPath("x/y"), "c": {3, 1}}) == (
        '{"a":"x/y","b":"1.10","c":[1,3]}'
    )
    assert canonical_json({"name": "Müller"}) == '{"name":"Müller"}'
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"dpi": float("nan")})


settings_values = st.one_of(st.integers(), st.booleans(), st.text(max_size=8), st.none())


@given(st.dictionaries(st.text(min_size=1, max_size=8), settings_values, min_size=1, max_size=6), st.randoms())
def test_render_settings_key_ignores_order_but_not_values(settings: dict[str, Any], rng: Any) -> None:
    items = list(settings.items())
    rng.shuffle(items)
    assert key(render_settings=dict(items)) == key(render_settings=settings)
    name = rng.choice(sorted(settings))
    changed = {**settings, name: [settings[name]]}  # any other value, even one that prints the same
    assert key(render_settings=changed) != key(render_settings=settings)


@given(st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=20), st.randoms())
def test_page_order_and_repeats_do_not_matter(pages: list[int], rng: Any) -> None:
    shuffled = pages + pages[: len(pages) // 2]
    rng.shuffle(shuffled)
    assert key(pages=shuffled) == key(pages=pages)
    assert key(pages=[*pages, max(pages) + 1]) != key(pages=pages)


def test_a_schema_without_canonical_json_is_a_typed_error() -> None:
    looped: dict[str, object] = {"type": "object"}
    looped["properties"] = {"self": looped}
    deep: dict[str, object] = {}
    for _ in range(100_000):
        deep = {"items": deep}
    for schema in (looped, {"minimum": float("nan")}, deep):
        with pytest.raises(UnsupportedSchemaError, match="canonical JSON"):
            schema_digest(schema)


def test_a_lone_surrogate_in_a_schema_still_hashes() -> None:
    digest = schema_digest({"description": "\ud800"})
    assert len(digest) == 64
    assert digest != schema_digest({"description": "\ud801"})
