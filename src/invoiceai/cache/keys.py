"""Cache keys: one SHA-256 over everything that can change an extraction's answer.

A key is a pure function of its inputs, computed without I/O, so the sync and async paths (and
every process of a worker fleet) agree on it. The inputs are written as canonical JSON (sorted
keys, no whitespace, UTF-8) and hashed; changing any of them gives a different key, so a new
model, prompt, schema or render setting never reads an old answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import weakref
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from invoiceai.errors import UnsupportedSchemaError

__all__ = ["KEY_VERSION", "cache_key", "canonical_json", "normalize_pages", "schema_digest"]

KEY_VERSION = 1
"""Bumped when the key's recipe changes, so old entries are simply never found again."""

_SCHEMA_DIGESTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def cache_key(
    *,
    document_id: str,
    pages: Iterable[int] | None,
    schema: Any,
    model_fingerprint: str | Mapping[str, Any],
    prompt_version: str,
    render_settings: Mapping[str, Any] | None,
) -> str:
    """Returns the cache key of one extraction.

    Args:
        document_id: SHA-256 hex of the document's bytes.
        pages: The resolved 1-based page numbers sent to the model, or ``None`` for every page.
            Order and repeats do not matter (``[3, 1, 1]`` is ``[1, 3]``); resolve a textual
            selection such as ``"1-3"`` before calling, so equal selections hash equally.
        schema: The output schema: a Pydantic model class (its ``model_json_schema()`` is
            hashed, so any change to fields, types, descriptions or constraints changes the key;
            the digest is remembered per class, see :func:`schema_digest`) or an already-built
            JSON schema mapping.
        model_fingerprint: What identifies the model's behaviour: at least the model id, plus
            any setting that changes answers (a string, or a JSON-ready mapping).
        prompt_version: Version of the prompts and re-ask messages the backend sends.
        render_settings: JSON-ready render options that change the images (DPI, pixel limits,
            colour mode, ...), or ``None``.

    Returns:
        64 lowercase hex characters.

    Raises:
        TypeError: An input has a type that has no canonical JSON form (an arbitrary object
            would otherwise hash by its ``repr``, which may differ on every run).
        ValueError: ``document_id`` is empty or a page number is not a positive integer.
        UnsupportedSchemaError: ``schema`` is neither a mapping nor something with a JSON schema.
    """
    if not isinstance(document_id, str) or not document_id:
        raise ValueError("document_id must be the non-empty SHA-256 hex of the document")
    if not isinstance(prompt_version, str):
        raise TypeError(f"prompt_version must be str, got {type(prompt_version).__name__}")
    material = {
        "key_version": KEY_VERSION,
        "document_id": document_id,
        "pages": normalize_pages(pages),
        "schema": schema_digest(schema),
        "model": model_fingerprint,
        "prompt_version": prompt_version,
        "render": render_settings,
    }
    return _sha256(canonical_json(material))


def normalize_pages(pages: Iterable[int] | None) -> list[int] | None:
    """Returns a page selection as a sorted list of distinct 1-based page numbers.

    Args:
        pages: Page numbers, or ``None`` for every page.

    Returns:
        ``None`` for every page, else the sorted distinct numbers.

    Raises:
        TypeError: ``pages`` is a string or holds something other than ints.
        ValueError: A page number is below 1.
    """
    if pages is None:
        return None
    if isinstance(pages, (str, bytes)):
        raise TypeError("resolve a textual page selection to page numbers before computing a cache key")
    numbers: set[int] = set()
    for page in pages:
        # bool is an int subclass, and True would silently mean page 1.
        if isinstance(page, bool) or not isinstance(page, int):
            raise TypeError(f"page numbers are int, got {type(page).__name__}")
        if page < 1:
            raise ValueError(f"page numbers are 1-based, got {page}")
        numbers.add(page)
    return sorted(numbers)


def canonical_json(value: Any) -> str:
    """Returns ``value`` as canonical JSON: sorted keys, no whitespace, non-ASCII kept as is.

    Decimals become strings (``Decimal("1.10")`` stays ``"1.10"``), paths and enums their value,
    sets sorted lists, dataclasses and Pydantic models their fields.

    Raises:
        TypeError: ``value`` holds an object with no canonical JSON form.
        ValueError: ``value`` holds a NaN or an infinity.
    """
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def schema_digest(schema: Any) -> str:
    """Returns the SHA-256 of a schema's canonical JSON schema.

    A model class's digest is remembered (weakly, so dynamically built models can still be
    collected): building the JSON schema of :class:`~invoiceai.schema.Invoice` takes
    milliseconds, which adds up over a batch of thousands of documents.

    Args:
        schema: A Pydantic model class or a JSON schema mapping.

    Returns:
        64 lowercase hex characters.

    Raises:
        UnsupportedSchemaError: ``schema`` is neither a mapping nor something with a JSON schema,
            or its JSON schema has no canonical JSON form (a cycle, NaN, an unknown type).
    """
    if isinstance(schema, Mapping):
        return _sha256(_schema_json(schema, schema))
    try:
        return _SCHEMA_DIGESTS[schema]
    except (KeyError, TypeError):  # TypeError: not weak-referenceable, so not cacheable
        pass
    digest = _sha256(_schema_json(_json_schema(schema), schema))
    with contextlib.suppress(TypeError):
        _SCHEMA_DIGESTS[schema] = digest
    return digest


def _schema_json(json_schema: Any, schema: Any) -> str:
    # A JSON schema is configuration, so whatever json makes of it becomes a typed error.
    try:
        return canonical_json(json_schema)
    except (TypeError, ValueError, RecursionError) as exc:
        name = getattr(schema, "__name__", "the JSON schema")
        raise UnsupportedSchemaError(
            f"{name} cannot be written as canonical JSON ({type(exc).__name__}: {str(exc)[:200]}); "
            "use a JSON schema of plain JSON values, without cycles."
        ) from None


def _json_schema(schema: Any) -> Any:
    builder = getattr(schema, "model_json_schema", None)
    if not callable(builder):
        raise UnsupportedSchemaError(
            f"cannot key a cache entry on schema {schema!r}: pass a Pydantic model class or a JSON schema dict."
        )
    try:
        return builder()
    except Exception as exc:  # pydantic raises several unrelated types for unschematisable fields
        name = getattr(schema, "__name__", repr(schema))
        raise UnsupportedSchemaError(
            f"{name} has no JSON schema ({exc}); use fields of JSON-compatible types."
        ) from exc


def _sha256(text: str) -> str:
    # "surrogatepass": a lone surrogate (a schema description read from "\ud800" JSON, say) must
    # hash like any other text instead of failing with a UnicodeEncodeError.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=canonical_json)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} has no canonical JSON form; pass JSON-ready values in cache keys")
