"""Reading a cached entry back without trusting it: bounded JSON, checked types, a miss on any damage.

A cache row may be damaged (a disk fault, a truncated write by another program, a hand edit) or
written by another version. Whatever it holds, reading it must end in a value or in
:class:`UnreadableEntryError`, never in a ``RecursionError`` (deeply nested JSON), an
``OverflowError`` (``1e999`` used as a page number) or a silently wrong value (a string where a
list belongs). The Extractor treats the error as a miss, warns with a
:class:`~invoiceai.cache.CacheWarning` and extracts again.

- :func:`loads` parses JSON text with the nesting depth bounded *before* parsing and every number
  finite and of sane size.
- :func:`read_envelope` also checks the envelope's shape (the fields the Extractor writes) and
  returns an :class:`Envelope` whose fields have the types they claim.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_PAGE_NUMBER",
    "Envelope",
    "UnreadableEntryError",
    "loads",
    "read_envelope",
    "storable_value_pages",
]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (an Invoice is about 6 deep)."""

MAX_PAGE_NUMBER = 1_000_000
"""Page numbers above this are out of range (no document that large is ever extracted)."""

_MAX_INT_DIGITS = 100
# A JSON string, unrolled so that long strings with escapes match in linear time.
# A string runs to its closing quote, or to the end of a truncated row: matching the unterminated
# rest in one go keeps the scan linear (retrying from every later quote made it quadratic).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class UnreadableEntryError(ValueError):
    """A cache entry that does not decode into what was stored: treat it as a miss."""


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A cache entry's fields, each checked to have its type.

    Attributes:
        data: The stored data (JSON-ready), still to be validated against the schema.
        model: The model that produced it, or ``None``.
        pages: The 1-based page numbers that were read.
        warnings: The original extraction's warnings.
        dropped: Normalisation findings of the original reply (JSON objects), still to be validated.
        value_pages: The model's page of each value by path, when it named them.
    """

    data: Any
    model: str | None
    pages: tuple[int, ...]
    warnings: tuple[str, ...]
    dropped: tuple[dict[str, Any], ...]
    value_pages: dict[str, int] | None = None


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parses JSON text from a cache, refusing anything a damaged row could hold.

    Args:
        text: The cached text.
        max_depth: The deepest nesting of arrays and objects accepted.

    Returns:
        The parsed value; every float in it is finite and every integer has at most 100 digits.

    Raises:
        UnreadableEntryError: ``text`` is not a ``str``, is not JSON (truncated, say), nests
            deeper than ``max_depth``, holds ``NaN``/``Infinity`` or a number out of range.
    """
    if not isinstance(text, str):
        raise UnreadableEntryError(f"a cache entry is JSON text, not {type(text).__name__}")
    _check_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except UnreadableEntryError:
        raise
    except (ValueError, RecursionError, OverflowError, MemoryError) as exc:
        # ValueError covers json.JSONDecodeError; RecursionError and MemoryError cannot happen
        # within the depth bound, but a damaged row must never raise them.
        raise UnreadableEntryError(f"not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None


def read_envelope(text: str, *, version: str, max_depth: int = MAX_DEPTH) -> Envelope:
    """Parses and checks an entry written by the Extractor.

    The envelope is a JSON object with ``version`` (must equal ``version``), ``data`` (required),
    and optionally ``model`` (a string or null), ``pages`` (positive integers up to
    :data:`MAX_PAGE_NUMBER`), ``warnings`` (strings), ``dropped`` (objects) and ``value_pages``
    (an object of page numbers; an entry that is not one is dropped, see :func:`storable_value_pages`:
    the model's hint for one value is not worth paying for the whole document again).

    Args:
        text: The cached text.
        version: The envelope version this code writes; another one is a miss.
        max_depth: See :func:`loads`.

    Returns:
        The envelope, its fields of the types above.

    Raises:
        UnreadableEntryError: The text does not decode (see :func:`loads`), is of another
            version, or a field is missing, of the wrong type or out of range.
    """
    envelope = loads(text, max_depth=max_depth)
    if not isinstance(envelope, dict):
        raise UnreadableEntryError(f"a cache entry is a JSON object, not {type(envelope).__name__}")
    if envelope.get("version") != version:
        raise UnreadableEntryError(
            f"written by another version of invoiceai (envelope {str(envelope.get('version'))[:20]!r}, "
            f"expected {version!r})"
        )
    if "data" not in envelope:
        raise UnreadableEntryError("the entry has no data")
    model = envelope.get("model")
    if model is not None and not isinstance(model, str):
        raise UnreadableEntryError(f"'model' is {type(model).__name__}, not a string")
    pages = _list_of(envelope, "pages", int)
    if any(isinstance(page, bool) or not 1 <= page <= MAX_PAGE_NUMBER for page in pages):
        raise UnreadableEntryError(f"'pages' holds a page number out of range (1 to {MAX_PAGE_NUMBER})")
    return Envelope(
        data=envelope["data"],
        model=model,
        pages=pages,
        warnings=_list_of(envelope, "warnings", str),
        dropped=_list_of(envelope, "dropped", dict),
        value_pages=_value_pages(envelope),
    )


def storable_value_pages(value_pages: Mapping[Any, Any] | None) -> dict[str, int] | None:
    """The entries of ``value_pages`` a cache entry keeps: a path and a page from 1 to :data:`MAX_PAGE_NUMBER`.

    The writer stores only these and the reader keeps only these, so an entry the writer wrote
    is never refused for its value pages.

    Args:
        value_pages: The model's page of each value by path (a backend's, or read from a cache row).

    Returns:
        The valid entries, or ``None`` when none is.
    """
    kept = {
        path: page
        for path, page in (value_pages or {}).items()
        if isinstance(path, str)
        and isinstance(page, int)
        and not isinstance(page, bool)
        and 1 <= page <= MAX_PAGE_NUMBER
    }
    return kept or None


def _value_pages(envelope: dict[str, Any]) -> dict[str, int] | None:
    value = envelope.get("value_pages")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UnreadableEntryError("'value_pages' is not an object of page numbers")
    return storable_value_pages(value)


def _list_of(envelope: dict[str, Any], name: str, kind: type[Any]) -> tuple[Any, ...]:
    value = envelope.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise UnreadableEntryError(f"{name!r} is not a list of {kind.__name__}")
    return tuple(value)


def _check_depth(text: str, max_depth: int) -> None:
    # Counted on the text with strings blanked out, before json.loads could recurse. Brackets
    # that do not balance are left for the parser to refuse.
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise UnreadableEntryError(f"nested deeper than {max_depth} levels")
        else:
            depth -= 1


def _refuse_constant(name: str) -> Any:
    raise UnreadableEntryError(f"holds {name}, which is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnreadableEntryError(f"holds the number {text[:40]}, out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise UnreadableEntryError(f"holds an integer of {len(text)} digits, out of range")
    return int(text)
