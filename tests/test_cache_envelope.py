"""Reading cached entries back without trusting them (invoiceai.cache.envelope).

Every damaged row a cache can hold ends in ``UnreadableEntryError`` (a miss), never in a
``RecursionError``, an ``OverflowError`` or a value of the wrong type. The last test runs such rows
through the Extractor with each kind of cache.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.cache import CacheWarning, MemoryCache
from invoiceai.cache.envelope import MAX_DEPTH, Envelope, UnreadableEntryError, loads, read_envelope
from invoiceai.testing import FakeBackend

VERSION = "1"


def envelope(**fields: Any) -> str:
    entry = {"version": VERSION, "model": "claude-x", "pages": [1, 2], "warnings": ["w"], "dropped": [], "data": {}}
    entry.update(fields)
    return json.dumps(entry)


def test_a_good_entry_reads_back_with_its_types() -> None:
    read = read_envelope(envelope(data={"total": "12.50"}, dropped=[{"code": "x"}]), version=VERSION)
    assert read == Envelope(
        data={"total": "12.50"}, model="claude-x", pages=(1, 2), warnings=("w",), dropped=({"code": "x"},)
    )


def test_optional_fields_may_be_absent() -> None:
    read = read_envelope(json.dumps({"version": VERSION, "data": [1]}), version=VERSION)
    assert (read.model, read.pages, read.warnings, read.dropped, read.data) == (None, (), (), (), [1])


def nested(depth: int) -> str:
    return '{"version": "1", "data": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [MAX_DEPTH, 500_000])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    # 500,000 levels would be a RecursionError inside json.loads (and deeper still, a crash).
    with pytest.raises(UnreadableEntryError, match="nested deeper than"):
        loads(nested(depth))


def test_nesting_up_to_the_bound_is_fine_and_brackets_in_strings_do_not_count() -> None:
    assert loads(nested(MAX_DEPTH - 1))["version"] == "1"
    assert loads(json.dumps({"text": "[" * 10_000 + '\\"{'})) == {"text": "[" * 10_000 + '\\"{'}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (envelope(pages="@").replace('"@"', "[1e999]"), "out of range"),
        (envelope(pages="@").replace('"@"', "[-1e999]"), "out of range"),
        ('{"version": "1", "data": NaN}', "NaN"),
        ('{"version": "1", "data": Infinity}', "Infinity"),
        ('{"version": "1", "data": ' + "9" * 5000 + "}", "digits"),
        (envelope(pages=[0]), "out of range"),
        (envelope(pages=[10**9]), "out of range"),
        (envelope(pages=[1.0]), "'pages' is not a list of int"),
        (envelope(pages=[True]), "out of range"),
        (envelope(pages="12"), "'pages' is not a list of int"),
        (envelope(warnings="abc"), "'warnings' is not a list of str"),
        (envelope(warnings=[1]), "'warnings' is not a list of str"),
        (envelope(dropped=[[]]), "'dropped' is not a list of dict"),
        (envelope(model=7), "'model' is int"),
        (envelope(version="2"), "another version"),
        (envelope(version=None), "another version"),
        (json.dumps({"version": VERSION}), "no data"),
        ("[1, 2]", "JSON object, not list"),
        ('"text"', "JSON object, not str"),
        (envelope()[:-7], "not valid JSON"),
        ("", "not valid JSON"),
        ("\x00", "not valid JSON"),
        ('{"version": "1", "data": "\\ud800"', "not valid JSON"),
    ],
)
def test_damaged_entries_are_unreadable(text: str, reason: str) -> None:
    with pytest.raises(UnreadableEntryError, match=reason):
        read_envelope(text, version=VERSION)


def test_what_is_not_text_is_unreadable() -> None:
    with pytest.raises(UnreadableEntryError, match="not bytes"):
        loads(b"{}")  # type: ignore[arg-type]


def test_an_unreadable_entry_is_a_value_error_and_chains_nothing() -> None:
    # Callers that catch ValueError (as decode_cached does) keep working; the parser's own
    # exception is not chained, so no traceback repeats the damaged text.
    with pytest.raises(ValueError, match="not valid JSON") as caught:
        loads("{" + '"a":' * 3)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


class RecordingCache(MemoryCache):
    """A memory cache that remembers the keys written, so a test can damage the row."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self.keys.append(key)
        super().set(key, value, ttl=ttl)


@pytest.mark.parametrize(
    "row",
    [nested(500_000), envelope(pages="@").replace('"@"', "[1e999]"), envelope(warnings="abc")],
    ids=["deep", "1e999", "wrong-type"],
)
def test_the_extractor_treats_a_damaged_row_as_a_miss(row: str) -> None:
    cache = RecordingCache()
    backend = FakeBackend(default=example_invoice())
    with Extractor(backend=backend, cache=cache) as extractor:
        extractor.extract(png_invoice())
        cache.set(cache.keys[0], row)
        with pytest.warns(CacheWarning):
            again = extractor.extract(png_invoice())
    assert again.origin == "model"
    assert len(backend.history) == 2
