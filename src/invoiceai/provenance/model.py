"""The provenance types: words on pages, where a value was found, and how sure we are of it.

Everything here is plain frozen data that turns into JSON with :meth:`Provenance.to_dict`, so the
CLI, the service and a review page can show and store it. Boxes are normalised to the page as a
person sees it: ``(0, 0)`` is the top-left corner, ``(1, 1)`` the bottom-right one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "Box",
    "Confidence",
    "FieldProvenance",
    "Grounding",
    "LayerKind",
    "Match",
    "PageWords",
    "Provenance",
    "Word",
]

Grounding = Literal["grounded", "approximate", "derived", "ungrounded", "unknown", "not_checked", "confirmed"]
"""``grounded``: the value is printed on its page; ``approximate``: an OCR page shows it with one
character different (OCR or the model misread one); ``derived``: an amount not printed as such
that follows exactly from printed ones by an arithmetic rule (an allowance total of ``0.00`` on
an invoice without allowances); ``ungrounded``: the pages have words and the value is not among
them; ``unknown``: a page it may be on has no words (a scan without OCR); ``not_checked``: a code
or summary that is not printed as such (a currency code, a category); ``confirmed``: a person
confirmed or corrected the value (on the service's review page)."""

Confidence = Literal["high", "medium", "low"]
"""Evidence-based: ``high`` when the value is on its page, follows from printed values, agrees
with an embedded e-invoice or was confirmed by a person, and no finding questions it; ``low``
when it is not on its page, an error names it, or the e-invoice disagrees; ``medium`` otherwise
(an approximate OCR match, a warning, nothing to check)."""

LayerKind = Literal["text", "ocr", "none"]
"""Where a page's words came from: its PDF text layer, OCR, or nowhere (a scan without OCR)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Box:
    """A rectangle on a page, each coordinate between 0 and 1, origin top-left."""

    x0: float
    y0: float
    x1: float
    y1: float

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def to_list(self) -> list[float]:
        """``[x0, y0, x1, y1]``."""
        return [self.x0, self.y0, self.x1, self.y1]


@dataclasses.dataclass(frozen=True, slots=True)
class Word:
    """One word on a page and its box."""

    text: str
    box: Box


@dataclasses.dataclass(frozen=True, slots=True)
class PageWords:
    """The word layer of one page.

    Attributes:
        page: 1-based page number in the document.
        words: The words in reading order (empty for a page of kind ``none``).
        kind: Where they came from.
    """

    page: int
    words: tuple[Word, ...]
    kind: LayerKind

    @classmethod
    def from_raw(
        cls, page: int, raw: Sequence[tuple[str, float, float, float, float]] | None, kind: LayerKind
    ) -> PageWords:
        """Builds a layer from ``(text, x0, y0, x1, y1)`` tuples (``None``: the page has no words)."""
        if raw is None:
            return cls(page, (), "none")
        return cls(page, tuple(Word(text, Box(x0, y0, x1, y1)) for text, x0, y0, x1, y1 in raw), kind)


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """Where a value was found: the page, the union box of the words, and their text."""

    page: int
    box: Box
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"page": self.page, "box": self.box.to_list(), "text": self.text}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldProvenance:
    """Where one extracted value came from, and the evidence for it.

    Attributes:
        path: The field's dotted path, as findings name it (``line_items[3].amount``).
        value: The value as JSON shows it (money and dates as strings).
        page: The 1-based page it is on: the page of the best match, the only page of a
            one-page document, or ``None`` when unknown.
        matches: Every place it was found, best first.
        grounding: Whether it is printed on its page (see :data:`Grounding`).
        confidence: The evidence-based level (see :data:`Confidence`).
        evidence: Short phrases saying why (``"on page 1"``, ``"BR-CO-15 names it"``).
        doubt: What makes a match less sure, or the rule a derived amount follows (kept so a
            value's confidence can be weighed again when findings change, after a correction).
    """

    path: str
    value: Any
    page: int | None
    matches: tuple[Match, ...]
    grounding: Grounding
    confidence: Confidence
    evidence: tuple[str, ...] = ()
    doubt: str | None = None

    @property
    def box(self) -> Box | None:
        """The box of the best match, if any."""
        return self.matches[0].box if self.matches else None

    @property
    def text(self) -> str | None:
        """The printed text of the best match, if any."""
        return self.matches[0].text if self.matches else None

    @classmethod
    def from_dict(cls, path: str, data: Mapping[str, Any]) -> FieldProvenance:
        """Reads back what :meth:`to_dict` gave for the value at ``path``."""
        matches = tuple(
            Match(int(match["page"]), Box(*(float(number) for number in match["box"])), str(match["text"]))
            for match in data.get("matches") or ()
        )
        page = data.get("page")
        return cls(
            path, data.get("value"), None if page is None else int(page), matches, data["grounding"],
            data["confidence"], tuple(str(item) for item in data.get("evidence") or ()),
            None if data.get("doubt") is None else str(data["doubt"]),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: value, page, box, text, grounding, confidence, evidence, every match, and the doubt if any."""
        box = self.box
        doubt = {"doubt": self.doubt} if self.doubt is not None else {}
        return {
            "value": self.value,
            "page": self.page,
            "box": box.to_list() if box is not None else None,
            "text": self.text,
            "grounding": self.grounding,
            "confidence": self.confidence,
            "evidence": list(self.evidence),
            "matches": [match.to_dict() for match in self.matches],
            **doubt,
        }


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class Provenance(Mapping[str, Any]):
    """The provenance of every extracted value, shaped like the invoice.

    ``provenance["total"]`` is a :class:`FieldProvenance`; ``provenance["seller"]`` and
    ``provenance["line_items"][3]`` are views of the same shape one level down, so
    ``provenance["line_items"][3]["amount"]`` and ``provenance["line_items[3].amount"]`` are the
    same thing. Only values that are set appear. :meth:`to_dict` gives the nested JSON form.

    Args:
        fields: Every value's provenance, keyed by path.
        pages: Each read page's word-layer kind, by 1-based page number.
        prefix: The view's path prefix (internal; empty for the whole invoice).
    """

    def __init__(
        self, fields: Mapping[str, FieldProvenance], pages: Mapping[int, LayerKind] | None = None, *, prefix: str = ""
    ) -> None:
        self._fields = fields
        self.pages: Mapping[int, LayerKind] = dict(pages or {})
        self._prefix = prefix
        self._tree: _Tree | None = None

    @classmethod
    def empty(cls) -> Provenance:
        """No provenance (a schema other than an invoice, or provenance turned off)."""
        return cls({})

    def __repr__(self) -> str:
        return f"Provenance({len(self.fields)} values, prefix={self._prefix!r})"

    def _shape(self) -> _Tree:
        # Built once for the whole invoice and shared by every view: each view's lookups stay cheap.
        if self._tree is None:
            self._tree = _Tree(self._fields)
        return self._tree

    def _view(self, prefix: str) -> Provenance:
        view = Provenance(self._fields, self.pages, prefix=prefix)
        view._tree = self._shape()
        return view

    @property
    def fields(self) -> dict[str, FieldProvenance]:
        """Every value under this view, by full path, in invoice order."""
        if not self._prefix:
            return dict(self._fields)
        return {path: self._fields[path] for path in self._shape().under.get(self._prefix, ())}

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        if full in self._fields:
            return self._fields[full]
        shape = self._shape()
        if full + "." in shape.under:
            return self._view(full + ".")
        if full in shape.lists:
            return tuple(self._view(f"{full}[{index}].") for index in range(shape.lists[full]))
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shape().children.get(self._prefix, {}))

    def __len__(self) -> int:
        return len(self._shape().children.get(self._prefix, {}))

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any], pages: Mapping[int, LayerKind] | None = None) -> Provenance:
        """Reads back what :meth:`to_dict` gave (a stored result); ``pages`` is not part of that form.

        Args:
            tree: The nested JSON form.
            pages: Each read page's word-layer kind, when it was stored too.
        """
        fields: dict[str, FieldProvenance] = {}
        _flatten(tree, "", fields)
        return cls(fields, pages)

    def to_dict(self) -> dict[str, Any]:
        """The nested JSON form: the invoice's shape, each value's :meth:`FieldProvenance.to_dict` at its leaf."""
        tree: dict[str, Any] = {}
        for path, item in self.fields.items():
            _place(tree, _steps(path[len(self._prefix) :]), item.to_dict())
        return tree


class _Tree:
    """The shape of a set of paths: the paths under each prefix, each prefix's children, each list's length."""

    def __init__(self, fields: Mapping[str, FieldProvenance]) -> None:
        self.under: dict[str, list[str]] = {}
        self.children: dict[str, dict[str, None]] = {}
        self.lists: dict[str, int] = {}
        for path in fields:
            prefix = ""
            for step in _STEP.finditer(path):
                name, index = step.group(1), step.group(2)
                if name is not None:
                    self.children.setdefault(prefix, {})[name] = None
                    prefix += name
                else:
                    self.lists[prefix] = max(self.lists.get(prefix, 0), int(index) + 1)
                    prefix += f"[{index}]"
                if path[step.end() : step.end() + 1] == ".":
                    prefix += "."
                    self.under.setdefault(prefix, []).append(path)


def _flatten(node: Any, path: str, fields: dict[str, FieldProvenance]) -> None:
    if isinstance(node, list):
        for position, item in enumerate(node):
            if item is not None:
                _flatten(item, f"{path}[{position}]", fields)
    elif isinstance(node, Mapping):
        if isinstance(node.get("grounding"), str):  # a leaf; a model's "grounding" field would be a mapping
            fields[path] = FieldProvenance.from_dict(path, node)
            return
        for name, item in node.items():
            _flatten(item, f"{path}.{name}" if path else name, fields)


def _steps(path: str) -> list[str | int]:
    return [match.group(1) if match.group(1) else int(match.group(2)) for match in _STEP.finditer(path)]


def _place(tree: dict[str, Any], steps: list[str | int], leaf: dict[str, Any]) -> None:
    node: Any = tree
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        following = None if last else steps[position + 1]
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if last:
                node[step] = leaf
            elif node[step] is None:
                node[step] = empty
            node = node[step]
        else:
            if last:
                node[step] = leaf
            else:
                node = node.setdefault(step, empty)
