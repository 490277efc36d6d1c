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
import functools
import itertools
import re
from collections.abc import Iterable, Sequence

from invoiceai.provenance.forms import (
    KEY_LOOKALIKES,
    DateOrder,
    Family,
    alnum_key,
    fold_key,
    fold_number_word,
    numeric_key,
)
from invoiceai.provenance.model import Box, Match, PageWords, Word

__all__ = ["GAP", "MAX_MATCHES", "PageIndex", "find_chunks", "find_forms", "find_near", "find_signed"]

MAX_MATCHES = 12
"""Matches kept per value (best first)."""
_OCR_LINE = 1.45  # a text layer's word height over Tesseract's, median over the corpus scans (see line_height)
_MAX_SPANS = 4096  # places looked at per value: a line item's row may be the 200th "19" on the page


@dataclasses.dataclass(frozen=True)
class _Stream:
    text: str
    word_of: tuple[int, ...]
    opens: tuple[bool, ...]
    closes: tuple[bool, ...]


GAP = "|"
"""Put in a numeric stream between two words that do not make one number (see :func:`_joins`)."""

_CURRENCIES = frozenset(
    {"EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON",
     "BGN", "ISK", "TRY", "CNY", "INR", "BRL", "MXN", "ZAR", "SGD", "HKD", "SFR"}
)  # fmt: skip
_NUMBER_MARKS = ".,/:-'’`´\u00a0\u202f\u2009"  # between two digits, part of the number
_NUMBER_START = re.compile(r"\d{3}(?!\d)")


def _stream(words: Sequence[Word], family: Family, *, folded: bool = False) -> _Stream:
    key = numeric_key if family == "numeric" else alnum_key
    chars: list[str] = []
    word_of: list[int] = []
    opens: list[bool] = []
    closes: list[bool] = []
    last: int | None = None  # the last word that gave characters
    for index, item in enumerate(words):
        word = item.text
        if folded and family == "numeric":
            word = fold_number_word(word)  # the edges of a number then see the digits the look-alikes stand for
        kept = [(position, key(char)) for position, char in enumerate(word)]
        if folded and family == "alnum":
            word = word.replace("!", "l")  # "500m!": Tesseract's l
            kept = [(position, key(char).translate(KEY_LOOKALIKES)) for position, char in enumerate(word)]
        kept = [(position, reduced) for position, reduced in kept if reduced]
        if not kept:
            continue
        if family == "numeric" and last is not None and not _joins(words[last], item, chars[-1], key(word)):
            chars.append(GAP)
            word_of.append(index)
            opens.append(False)
            closes.append(False)
        last = index
        for order, (position, reduced) in enumerate(kept):
            # One character may reduce to two ("ß" folds to "ss"): only the first opens, the last closes.
            for step, char in enumerate(reduced):
                chars.append(char)
                word_of.append(index)
                glued = folded and family == "alnum"  # OCR drops spaces: "ZuschlagEinwegverpackung"
                opens.append(step == 0 and (order == 0 or _opens(word, position, family, glued=glued)))
                closes.append(
                    step == len(reduced) - 1
                    and (order == len(kept) - 1 or _closes(word, position, family, glued=glued))
                )
    return _Stream("".join(chars), tuple(word_of), tuple(opens), tuple(closes))


def _joins(before: Word, after: Word, last: str, key: str) -> bool:
    """Tells whether a value may run on from ``before`` (ending in ``last``) into ``after`` (keyed ``key``).

    Next to a letter always (``12 March 2024``, ``Total 12,50``: a letter never joins digits into
    another number). Between digits and punctuation only on the same line across a small gap, and
    only into a group of exactly three digits (``1 234,56``) or past punctuation (``05 . 03 .
    2018``, ``12,50 -``): ``1 1,0000`` is a position and a quantity, not ``11,0000``.
    """
    first = key[:1]
    if last.isalpha() or first.isalpha():
        return True
    one, two = before.box, after.box
    height = max(one.y1 - one.y0, two.y1 - two.y0, 1e-6)
    overlap = min(one.y1, two.y1) - max(one.y0, two.y0)
    gap = two.x0 - one.x1
    if overlap < 0.5 * min(one.y1 - one.y0, two.y1 - two.y0) or not -0.5 * height < gap < height:
        return False
    return not (last.isdigit() and first.isdigit()) or _NUMBER_START.match(key) is not None


def _opens(word: str, position: int, family: Family, *, glued: bool = False) -> bool:
    """Tells whether a value may start at ``word[position]``, given the characters before it.

    ``glued``: also where a capital follows a small letter, the space OCR dropped between words.
    """
    char, here = word[position - 1], word[position]
    if glued and char.islower() and here.isupper():
        return True
    if char.isalnum():
        if char.isdigit() == here.isdigit():
            return False
        if family == "alnum" or not here.isdigit():
            return True  # "88802Spielkreis": for names and ids a change between letters and digits is an edge
        # Letters right before a number: a currency ("EUR1.234,56"), never an article code ("SFK5").
        start = position
        while start > 0 and word[start - 1].isalpha():
            start -= 1
        return word[start:position].upper() in _CURRENCIES
    beyond = word[position - 2] if position >= 2 else ""
    marks = ".," if family == "alnum" else _NUMBER_MARKS
    # "1.234", "12.50" (and in numbers "10/03", "10:30", "1'234"): a mark between digits is part of the number.
    return not (char in marks and beyond.isdigit() and here.isdigit())


def _closes(word: str, position: int, family: Family, *, glued: bool = False) -> bool:
    """Tells whether a value may end at ``word[position]``, given the characters after it (see :func:`_opens`)."""
    char, here = word[position + 1], word[position]
    if glued and here.islower() and char.isupper():
        return True
    if char.isalnum():
        if char.isdigit() == here.isdigit():
            return False
        if family == "alnum" or not here.isdigit():
            return True
        # Letters right after a number: a unit or a currency ("5kg", "12,50EUR"), unless digits follow ("55T04").
        end = position + 1
        while end < len(word) and word[end].isalpha():
            end += 1
        return not word[end : end + 1].isdigit()
    beyond = word[position + 2] if position + 2 < len(word) else ""
    marks = ".," if family == "alnum" else _NUMBER_MARKS
    return not (char in marks and beyond.isdigit() and here.isdigit())


_CENTS = re.compile(r"(?<![\d.,/:-])\d+(?:[.,]\d{3})*[.,]\d{2}(?![\d.,/:]|-\d)")
_NUMERIC_DATE = re.compile(r"(?<![\d.,/:-])(\d{1,2})([/-])(\d{1,2})\2(\d{4}|\d{2})(?![\d.,/:-])")


class PageIndex:
    """One page's words, ready to search (streams are built on first use)."""

    def __init__(self, layer: PageWords) -> None:
        self.layer = layer
        self._streams: dict[tuple[Family, bool], _Stream] = {}
        self._matches: dict[tuple[int, int], Match] = {}
        # Equal values (a tax rate on every row, small quantities) are looked up once per page.
        self.found: dict[tuple[Family, frozenset[str]], list[tuple[Match, bool]]] = {}

    @property
    def page(self) -> int:
        """The 1-based page number."""
        return self.layer.page

    def stream(self, family: Family, *, folded: bool = False) -> _Stream:
        """The page's stream in ``family``; ``folded``: with digit look-alikes read as digits (OCR pages)."""
        found = self._streams.get((family, folded))
        if found is None:
            found = self._streams[(family, folded)] = _stream(self.layer.words, family, folded=folded)
        return found

    @property
    def ocr(self) -> bool:
        """Whether the page's words come from OCR (where a digit may be read as a letter)."""
        return self.layer.kind == "ocr"

    @functools.cached_property
    def line_height(self) -> float:
        """The median height of the page's words (a line, in page units), as a PDF text layer gives it.

        A text layer's box spans the font's height, ascenders to descenders; Tesseract's hugs the
        ink, and its median is about 1.45 times smaller (1.15 to 1.8 over the corpus scans). OCR
        heights are scaled up by that, so a row is as many lines high on a scan as on its PDF.
        """
        heights = sorted(word.box.y1 - word.box.y0 for word in self.layer.words)
        median = heights[len(heights) // 2] if heights else 0.02
        return median * _OCR_LINE if self.ocr else median

    @functools.cached_property
    def slope(self) -> float:
        """How far a line of text drops per unit across the page: a scan's skew (0 for a PDF's text layer).

        The median over neighbouring words on one line (OCR gives words line by line).
        """
        if self.layer.kind != "ocr":
            return 0.0
        slopes: list[float] = []
        words = self.layer.words
        for one, two in itertools.pairwise(words):
            height = max(one.box.y1 - one.box.y0, two.box.y1 - two.box.y0)
            across = (two.box.x0 + two.box.x1 - one.box.x0 - one.box.x1) / 2
            down = (two.box.y0 + two.box.y1 - one.box.y0 - one.box.y1) / 2
            if across > 0 and abs(down) < 0.5 * height:
                slopes.append(down / across)
        return sorted(slopes)[len(slopes) // 2] if len(slopes) >= 8 else 0.0

    def level(self, match: Match) -> Match:
        """``match`` with the page's skew taken out: words on one line of a tilted scan get one height."""
        if not self.slope:
            return match
        shift = self.slope * (match.box.x0 + match.box.x1) / 2
        box = Box(match.box.x0, match.box.y0 - shift, match.box.x1, match.box.y1 - shift)
        return Match(match.page, box, match.text)

    @functools.cached_property
    def prints_cents(self) -> bool:
        """Whether the page prints some amount with two decimals (most do; yen invoices do not)."""
        found = _CENTS.search(self.stream("numeric").text) is not None
        return found or (self.ocr and _CENTS.search(self.stream("numeric", folded=True).text) is not None)

    @functools.cached_property
    def date_order(self) -> DateOrder | None:
        """The order of day and month in the page's ``/`` and ``-`` dates, when a date shows it (a day > 12)."""
        votes = {"dmy": 0, "mdy": 0}
        for found in _NUMERIC_DATE.finditer(self.stream("numeric").text):
            first, second = int(found.group(1)), int(found.group(3))
            if first > 12 >= second:
                votes["dmy"] += 1
            elif second > 12 >= first:
                votes["mdy"] += 1
        if votes["dmy"] == votes["mdy"]:
            return None
        return "dmy" if votes["dmy"] > votes["mdy"] else "mdy"

    def match(self, start_word: int, end_word: int) -> Match:
        """The match covering words ``start_word`` to ``end_word`` (inclusive)."""
        found = self._matches.get((start_word, end_word))
        if found is not None:
            return found
        words = self.layer.words[start_word : end_word + 1]
        box: Box = words[0].box
        for word in words[1:]:
            box = box.union(word.box)
        found = self._matches[(start_word, end_word)] = Match(self.page, box, " ".join(word.text for word in words))
        return found


def find_forms(index: PageIndex, forms: Iterable[str], family: Family) -> list[Match]:
    """Every place on the page where one of ``forms`` (keys of ``family``) is printed."""
    return [match for match, _ in find_signed(index, forms, family)]


def find_signed(index: PageIndex, forms: Iterable[str], family: Family) -> list[tuple[Match, bool]]:
    """As :func:`find_forms`, each match with whether it is printed negative (``-12,50``, ``(12.50)``, ``12,50-``)."""
    key = (family, frozenset(forms))
    known = index.found.get(key)
    if known is None:
        known = index.found[key] = _find_signed(index, key[1], family)
    return known


def _find_signed(index: PageIndex, forms: frozenset[str], family: Family) -> list[tuple[Match, bool]]:
    spans: dict[tuple[int, int], bool] = {}
    # Tesseract reads a 5 as S, a 0 as O: on an OCR page numbers are found with the look-alikes read
    # as digits, and only so (in "l.234,56" the "l" is a 1, and 234,56 is not printed). Ids and names
    # printed with look-alikes are approximate (find_near).
    folded = index.ocr and family == "numeric"
    _spans(index.stream(family, folded=folded), forms, spans)
    return [(index.match(first, last), spans[(first, last)]) for first, last in _widest(spans)]


def _spans(stream: _Stream, forms: Iterable[str], spans: dict[tuple[int, int], bool]) -> None:
    """Adds to ``spans`` the words where each form is printed, with whether it is printed negative."""
    text = stream.text
    for form in forms:
        if not form:
            continue
        start = text.find(form)
        while start != -1 and len(spans) < _MAX_SPANS:
            end = start + len(form) - 1
            if stream.opens[start] and stream.closes[end]:
                before, after = text[start - 1 : start], text[end + 1 : end + 2]
                negative = before == "-" or after == "-" or (before, after) == ("(", ")")
                span = (stream.word_of[start], stream.word_of[end])
                spans[span] = spans.get(span, False) or negative
            start = text.find(form, start + 1)


def _widest(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans no other span holds ("275" inside "275 , 00"), in order."""
    kept: list[tuple[int, int]] = []
    reach = -1
    for first, last in sorted(spans, key=lambda span: (span[0], -span[1])):
        if last > reach:  # no span starting at or before this one ends at or after it
            kept.append((first, last))
            reach = last
    return kept


def find_chunks(index: PageIndex, tokens: Sequence[str], family: Family) -> list[Match] | None:
    """Finds a text as consecutive runs of its tokens, each run printed somewhere on the page.

    A description printed in a table cell is often interleaved with other columns in reading
    order; its lines are then found one run at a time. Each run is the longest one found from
    where the previous run ended that is printed on the previous run's line or the next few
    lines; the occurrence nearest the previous run is taken. Words picked from all over the page
    do not make a description.

    Returns:
        One match per run, or ``None`` when some token is not on the page near the others.
    """
    key = numeric_key if family == "numeric" else alnum_key
    folded = index.ocr and family == "alnum"  # an OCR page's "1,01 PET" is the "1,0l PET" of a description
    if folded:  # a hyphenated word broken over two lines ("Beamer-" / "Deckenhalterung") is two runs
        tokens = [part for token in tokens for part in re.split(r"(?<=\w-)(?=\w)", token)]
    keys = [fold_key(key(token), family) if folded else key(token) for token in tokens]
    keys = [item for item in keys if item]
    runs: list[Match] = []
    position = 0
    while position < len(keys):
        best: list[Match] = []
        end = position
        for stop in range(len(keys), position, -1):
            best = _below(index, _find_run(index, "".join(keys[position:stop]), family, folded), runs)
            if best:
                end = stop
                break
        if not best:
            return None
        runs.append(_nearest(best, runs[-1].box if runs else None))
        position = end
    return runs


def _find_run(index: PageIndex, form: str, family: Family, folded: bool) -> list[Match]:
    if not folded:
        return find_forms(index, [form], family)
    spans: dict[tuple[int, int], bool] = {}
    _spans(index.stream(family, folded=True), [form], spans)
    return [index.match(first, last) for first, last in _widest(spans)]


def _below(index: PageIndex, matches: list[Match], runs: list[Match]) -> list[Match]:
    """The matches on the last run's line or the next two lines (all of them for a first run)."""
    if not runs:
        return matches
    last, line = index.level(runs[-1]).box, index.line_height
    return [match for match in matches if last.y0 - 0.5 * line <= index.level(match).box.y0 <= last.y1 + 2.5 * line]


def _nearest(matches: list[Match], near: Box | None) -> Match:
    if near is None:
        return matches[0]
    return min(matches, key=lambda match: abs(match.box.y0 - near.y1) + 0.1 * abs(match.box.x0 - near.x0))


def find_near(index: PageIndex, forms: Iterable[str], family: Family) -> list[Match]:
    """Places where one of ``forms`` is printed with one character changed, added or dropped.

    For names and identifiers on OCR pages, whose words can be misread by a character: keys of
    five characters or more only, so a short id never matches another. One edit leaves one half
    of the form intact, so only the places where a half is printed are tried.
    """
    shortest = 5
    stream = index.stream(family, folded=index.ocr)
    text = stream.text
    spans: set[tuple[int, int]] = set()
    if index.ocr:  # printed with digit look-alikes (PFAS for PFA5), whatever the length
        signed: dict[tuple[int, int], bool] = {}
        _spans(stream, {fold_key(form, family) for form in forms}, signed)
        spans.update(signed)
    for form in forms:
        if len(form) < shortest:
            continue
        form = fold_key(form, family) if index.ocr else form
        for start in sorted(_candidates(text, form)):
            if len(spans) >= MAX_MATCHES:
                break
            if not 0 <= start < len(text) or not stream.opens[start]:
                continue
            for size in (len(form), len(form) - 1, len(form) + 1):
                end = start + size - 1
                if end < len(text) and stream.closes[end] and _one_edit(text[start : end + 1], form):
                    spans.add((stream.word_of[start], stream.word_of[end]))
                    break
    return [index.match(first, last) for first, last in sorted(spans)]


def _candidates(text: str, form: str, most: int = 4096) -> set[int]:
    """Where a window within one edit of ``form`` may start: its first half printed there, or its second after it."""
    half = len(form) // 2
    starts: set[int] = set()
    for piece, offset in ((form[:half], 0), (form[half:], half)):
        at = text.find(piece)
        while at != -1 and len(starts) < most:
            starts.update((at,) if not offset else (at - offset - 1, at - offset, at - offset + 1))
            at = text.find(piece, at + 1)
    return starts


def _one_edit(window: str, form: str) -> bool:
    """Whether ``window`` and ``form`` differ by at most one substitution, insertion or deletion of a letter.

    A digit for another digit, or a digit more or less, is never one misread letter: in an IBAN
    or an invoice number it is exactly the error to catch.
    """
    if len(window) == len(form):
        different = [(a, b) for a, b in zip(window, form, strict=True) if a != b]
        return len(different) <= 1 and not any(a.isdigit() and b.isdigit() for a, b in different)
    short, long = (window, form) if len(window) < len(form) else (form, window)
    if len(long) - len(short) != 1:
        return False
    return any(
        long[:position] + long[position + 1 :] == short and not long[position].isdigit()
        for position in range(len(long))
    )
