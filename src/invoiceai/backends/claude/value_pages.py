"""The page of each value, as the model names it, kept across the requests of one document.

A request that holds more than one page asks for the page of each value (one extra top-level
property of the output schema, :func:`invoiceai.schema.structured.with_value_pages`); a request
of one page needs no answer to that: its values are on its page. The model's pages are stripped
from each reply before validation (:func:`~invoiceai.backends.claude.reply.split_value_pages`),
and the answers of a split document's chunks are merged the way their data is
(:func:`~invoiceai.backends.claude.chunking.merge_parts`): line items renumbered after the
earlier chunks' items, totals from the last chunk that has them, the rest from the first chunk
that has it, a part (a seller) value by value. A page outside the request's pages is dropped as
the reply is read. Pages are 1-based positions among the pages the backend was given (the
document's page numbers when every page is selected).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.chunking import MergeSpec, has_value, merge_spec_for
from invoiceai.backends.claude.reply import split_value_pages

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ValuePages", "asks_value_pages", "merge_value_pages"]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_HEAD = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?(.*)", re.DOTALL)
_WHOLE = ""
"""The path of every value: a one-page chunk's answer is all on that page."""


def asks_value_pages(chunk: range) -> bool:
    """Tells whether the request for ``chunk`` (0-based positions of its pages) asks for value pages."""
    return len(chunk) > 1


class ValuePages:
    """Collects one document's value pages, one answered request at a time. Not thread-safe."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        """Prepares for one document whose requests ask for ``schema`` (API-ready, without value pages)."""
        from invoiceai.schema.structured import adds_value_pages

        # A schema with its own property of that name is not asked for pages: its replies keep it.
        self._asked = adds_value_pages(schema)
        self._pending: dict[str, int] | None = None
        self._parts: list[dict[str, int]] = []

    def split(self, payload: str | None, chunk: range) -> str | None:
        """Returns the reply's JSON for validation, keeping its value pages aside until :meth:`keep`."""
        self._pending = None
        if payload is None or not asks_value_pages(chunk) or not self._asked:
            return payload
        payload, self._pending = split_value_pages(payload, range(chunk.start + 1, chunk.stop + 1))
        return payload

    def keep(self, chunk: range) -> None:
        """Records the pages of the reply just validated as ``chunk``'s answer."""
        pages = self._pending if asks_value_pages(chunk) else {_WHOLE: chunk.start + 1}
        self._parts.append(pages or {})
        self._pending = None

    def result(self, parts: Sequence[BaseModel], page_count: int) -> dict[str, int] | None:
        """The pages of the merged answer, by path; ``None`` for a one-page document or when none were named."""
        if page_count <= 1 or not parts or len(parts) != len(self._parts):
            return None
        merged = merge_value_pages(parts, self._parts)
        return merged or None


def merge_value_pages(parts: Sequence[BaseModel], pages: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Merges the value pages of consecutive chunks' answers as their data is merged.

    Args:
        parts: Each chunk's validated answer, in page order.
        pages: Each chunk's value pages by path (``""`` names every value of its chunk).

    Returns:
        The pages by path of the merged answer. An entry for a value its chunk left empty is
        dropped, so a chunk that says nothing about a total never gives the total its page; a
        part completed by a later chunk (a seller's VAT id on page 2) gets an entry per value
        that chunk gave it.
    """
    spec = merge_spec_for(type(parts[0]))
    merged: dict[str, int] = {}
    offsets = dict.fromkeys(spec.concatenate, 0)
    sources = {name: _last_with(parts, name) for name in spec.from_last}
    firsts = _first_sources(parts, spec)
    for number, (part, named) in enumerate(zip(parts, pages, strict=True)):
        # Longer paths first: a chunk's explicit page for a value wins over its part's.
        for path, page in sorted(_expanded(part, named, spec).items(), key=lambda item: -len(item[0])):
            head = _HEAD.fullmatch(path)
            if head is None:
                continue
            name, index, rest = head.group(1), head.group(2), head.group(3)
            if name in spec.concatenate:
                if index is not None and has_value(_value_at(part, path)):
                    merged[f"{name}[{int(index) + offsets[name]}]{rest}"] = page
            elif not has_value(_value_at(part, path)):
                continue
            elif name in spec.from_last:
                if sources[name] == number:
                    merged[path] = page
            else:
                for taken in _taken_from(firsts, path, number):
                    merged.setdefault(taken, page)
        for name in offsets:
            offsets[name] += len(getattr(part, name, None) or ())
    return merged


def _first_sources(parts: Sequence[BaseModel], spec: MergeSpec) -> dict[str, int]:
    # The chunk each value of the fields merged "first" comes from, by path, as
    # chunking.merge_parts takes them: a part present in several chunks is the first chunk's,
    # completed value by value from later ones (when every chunk's part is of one type).
    sources: dict[str, int] = {}
    for name in type(parts[0]).model_fields:
        if name not in spec.concatenate and name not in spec.from_last:
            sources |= _sources([(number, getattr(part, name, None)) for number, part in enumerate(parts)], name)
    return sources


def _sources(values: Sequence[tuple[int, Any]], path: str) -> dict[str, int]:
    from pydantic import BaseModel

    present = [(number, value) for number, value in values if has_value(value)]
    if not present:
        return {}
    number, first = present[0]
    if isinstance(first, BaseModel) and len(present) > 1 and all(type(value) is type(first) for _, value in present):
        found: dict[str, int] = {}
        for name in type(first).model_fields:
            found |= _sources([(index, getattr(value, name)) for index, value in present], f"{path}.{name}")
        return found
    return {path: number}


def _taken_from(sources: Mapping[str, int], path: str, number: int) -> list[str]:
    # The paths to give chunk ``number``'s page for ``path``: ``path`` itself when all of its
    # merged value comes from that chunk, else each value under it that does.
    related = {source: chunk for source, chunk in sources.items() if _under(source, path) or _under(path, source)}
    if related and all(chunk == number for chunk in related.values()):
        return [path]
    return [source for source, chunk in related.items() if chunk == number and _under(source, path)]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def _expanded(part: BaseModel, named: Mapping[str, int], spec: MergeSpec) -> dict[str, int]:
    # "" and a bare list name ("line_items") stand for their values: name them one by one, so
    # that list items are renumbered and each field finds the chunk it was taken from.
    expanded: dict[str, int] = {}
    for path, page in named.items():
        names = list(type(part).model_fields) if path == _WHOLE else [path]
        for name in names:
            value = getattr(part, name, None) if "." not in name and "[" not in name else None
            if name in spec.concatenate and isinstance(value, list):
                for index in range(len(value)):
                    expanded.setdefault(f"{name}[{index}]", page)
            elif path != _WHOLE or has_value(value):
                expanded.setdefault(name, page)
    # An explicit entry wins over one expanded from "" or a list name.
    expanded.update({path: page for path, page in named.items() if path != _WHOLE and path not in spec.concatenate})
    return expanded


def _last_with(parts: Sequence[BaseModel], name: str) -> int:
    present = [number for number, part in enumerate(parts) if has_value(getattr(part, name, None))]
    return present[-1] if present else len(parts) - 1


def _value_at(model: Any, path: str) -> Any:
    node = model
    for step in _STEP.finditer(path):
        name, index = step.group(1), step.group(2)
        if name is not None:
            fields = getattr(type(node), "model_fields", None)
            if not isinstance(fields, Mapping) or name not in fields:
                return None
            node = getattr(node, name)
        elif isinstance(node, (list, tuple)) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    return node
