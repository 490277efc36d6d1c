"""Finding a value's printed forms among a page's words.

A page's words become one *stream* per key family (:mod:`invoiceai.provenance.forms`): the words'
keys in reading order, each character remembering its word, and whether a value may start or end
there. A value may start at a word's start or after punctuation that does not belong to a number
(``Total:717,97``), never in the middle of a number (``2012`` does not hold ``12``, ``1.234,56``
does not hold ``234,56``); the same holds at its end (``12.50`` does not hold ``12.5``). Because
the stream joins words, a value split over several words (``05 . 03 . 2018``, ``1 234,56``, a name
over two lines) is found as well; its box is the union of those words' boxes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from invoiceai.provenance.forms import Family, alnum_key, numeric_key
from invoiceai.provenance.model import Box, Match, PageWords

__all__ = ["PageIndex", "find_chunks", "find_forms", "find_near"]

_MAX_MATCHES = 12


@dataclasses.dataclass(frozen=True)
class _Stream:
    text: str
    word_of: tuple[int, ...]
    opens: tuple[bool, ...]
    closes: tuple[bool, ...]


def _stream(words: Sequence[str], family: Family) -> _Stream:
    key = numeric_key if family == "numeric" else alnum_key
    chars: list[str] = []
    word_of: list[int] = []
    opens: list[bool] = []
    closes: list[bool] = []
    for index, word in enumerate(words):
        kept = [(position, key(char)) for position, char in enumerate(word)]
        kept = [(position, reduced) for position, reduced in kept if reduced]
        for order, (position, reduced) in enumerate(kept):
            before = word[max(position - 2, 0) : position]
            after = word[position + 1 : position + 3]
            # One character may reduce to two ("ß" folds to "ss"): only the first opens, the last closes.
            for step, char in enumerate(reduced):
                chars.append(char)
                word_of.append(index)
                opens.append(step == 0 and (order == 0 or _boundary(before[-1:], before[:-1], word[position])))
                closes.append(
                    step == len(reduced) - 1
                    and (order == len(kept) - 1 or _boundary(after[:1], after[1:], word[position]))
                )
    return _Stream("".join(chars), tuple(word_of), tuple(opens), tuple(closes))


def _boundary(char: str, beyond: str, here: str) -> bool:
    """Tells whether ``char``, next to ``here`` at a value's edge, bounds it (``beyond`` is past ``char``)."""
    if not char or char.isspace():
        return True
    if char.isalnum():
        # "88802Spielkreis", "Total717,97": a change between letters and digits is an edge too.
        return char.isdigit() != here.isdigit()
    # "1.234" or "12.50": a mark between digits belongs to the number; "12." ends a sentence.
    return not (char in ".," and beyond.isdigit() and here.isdigit())


class PageIndex:
    """One page's words, ready to search (streams are built on first use)."""

    def __init__(self, layer: PageWords) -> None:
        self.layer = layer
        self._texts = [word.text for word in layer.words]
        self._streams: dict[Family, _Stream] = {}

    @property
    def page(self) -> int:
        """The 1-based page number."""
        return self.layer.page

    def stream(self, family: Family) -> _Stream:
        """The page's stream in ``family``."""
        found = self._streams.get(family)
        if found is None:
            found = self._streams[family] = _stream(self._texts, family)
        return found

    def match(self, start_word: int, end_word: int) -> Match:
        """The match covering words ``start_word`` to ``end_word`` (inclusive)."""
        words = self.layer.words[start_word : end_word + 1]
        box: Box = words[0].box
        for word in words[1:]:
            box = box.union(word.box)
        return Match(self.page, box, " ".join(word.text for word in words))


def find_forms(index: PageIndex, forms: Iterable[str], family: Family) -> list[Match]:
    """Every place on the page where one of ``forms`` (keys of ``family``) is printed."""
    stream = index.stream(family)
    spans: set[tuple[int, int]] = set()
    for form in forms:
        if not form:
            continue
        start = stream.text.find(form)
        while start != -1 and len(spans) < _MAX_MATCHES:
            end = start + len(form) - 1
            if stream.opens[start] and stream.closes[end]:
                spans.add((stream.word_of[start], stream.word_of[end]))
            start = stream.text.find(form, start + 1)
    # "275" inside "275 , 00": keep only the spans no other span holds.
    widest = [span for span in spans if not any(_holds(other, span) for other in spans)]
    return [index.match(first, last) for first, last in sorted(widest)]


def _holds(outer: tuple[int, int], inner: tuple[int, int]) -> bool:
    return outer != inner and outer[0] <= inner[0] and inner[1] <= outer[1]


def find_chunks(index: PageIndex, tokens: Sequence[str], family: Family) -> list[Match] | None:
    """Finds a text as consecutive runs of its tokens, each run printed somewhere on the page.

    A description printed in a table cell is often interleaved with other columns in reading
    order; its lines are then found one run at a time. Each run is the longest one found from
    where the previous run ended; the occurrence nearest the previous run is taken.

    Returns:
        One match per run, or ``None`` when some token is not on the page.
    """
    key = numeric_key if family == "numeric" else alnum_key
    keys = [key(token) for token in tokens]
    keys = [item for item in keys if item]
    runs: list[Match] = []
    position = 0
    while position < len(keys):
        best: list[Match] = []
        end = position
        for stop in range(len(keys), position, -1):
            best = find_forms(index, ["".join(keys[position:stop])], family)
            if best:
                end = stop
                break
        if not best:
            return None
        runs.append(_nearest(best, runs[-1].box if runs else None))
        position = end
    return runs


def _nearest(matches: list[Match], near: Box | None) -> Match:
    if near is None:
        return matches[0]
    return min(matches, key=lambda match: abs(match.box.y0 - near.y1) + 0.1 * abs(match.box.x0 - near.x0))


def find_near(index: PageIndex, forms: Iterable[str], family: Family) -> list[Match]:
    """Places where one of ``forms`` is printed with one character changed, added or dropped.

    For names and identifiers on OCR pages, whose words can be misread by a character: keys of
    five characters or more only, so a short id never matches another.
    """
    shortest = 5
    stream = index.stream(family)
    spans: set[tuple[int, int]] = set()
    for form in forms:
        if len(form) < shortest:
            continue
        for start in range(len(stream.text)):
            if len(spans) >= _MAX_MATCHES:
                break
            if not stream.opens[start] or not _may_start(stream.text, start, form):
                continue
            for size in (len(form), len(form) - 1, len(form) + 1):
                end = start + size - 1
                if end < len(stream.text) and stream.closes[end] and _one_edit(stream.text[start : end + 1], form):
                    spans.add((stream.word_of[start], stream.word_of[end]))
                    break
    return [index.match(first, last) for first, last in sorted(spans)]


def _may_start(text: str, start: int, form: str) -> bool:
    # With one edit, the window starts with the form's first or second character.
    here = text[start]
    return here in (form[0], form[1]) or (start + 1 < len(text) and text[start + 1] in (form[0], form[1]))


def _one_edit(window: str, form: str) -> bool:
    """Whether ``window`` and ``form`` differ by at most one substitution, insertion or deletion."""
    if len(window) == len(form):
        return sum(a != b for a, b in zip(window, form, strict=True)) <= 1
    short, long = (window, form) if len(window) < len(form) else (form, window)
    if len(long) - len(short) != 1:
        return False
    return any(long[:position] + long[position + 1 :] == short for position in range(len(long)))
