"""Word layers of born-digital PDF pages: each word with its box, normalised to the page (0-1).

pdfium's text page knows every character and its box in PDF user space. Characters are grouped
into words at whitespace (pdfium's own generated spaces and line breaks included) and where the
gap to the previous character is wider than the characters themselves; each box is mapped
through the page's display matrix (``/Rotate`` and the crop box applied, as the page is rendered),
so ``(0, 0)`` is the top-left corner of the page as a person sees it and ``(1, 1)`` the
bottom-right one.

A word travels as a plain tuple ``(text, x0, y0, x1, y1)`` (:data:`RawWord`): it crosses the
sandbox pipe as JSON, and :func:`words_from` checks what a worker sends back field by field.
Every pdfium call holds :data:`~invoiceai.render.pdf.lock.PDFIUM_LOCK`.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

from invoiceai.render.pdf.lock import PDFIUM_LOCK
from invoiceai.render.pdf.raster import load_page

__all__ = ["MAX_WORDS", "RawWord", "page_words", "words_from", "words_to"]

RawWord = tuple[str, float, float, float, float]
"""One word: its text and its box ``x0, y0, x1, y1``, each between 0 and 1, origin top-left."""

MAX_WORDS = 20_000
"""Words kept per page; an invoice page holds a few hundred (a hostile one could hold millions)."""

_MAX_CHARS = 200_000
_DEVICE = 1_000_000  # device units per page side for FPDF_PageToDevice: 1e-6 of the page
_DIGITS = 5


def page_words(pdf: Any, index: int, *, document_id: str) -> list[RawWord] | None:
    """Returns the words of one page with their boxes; ``None`` when the page has no text layer.

    Args:
        pdf: An open ``pypdfium2.PdfDocument``.
        index: 0-based page index.
        document_id: For error context.

    Raises:
        CorruptDocumentError: The page cannot be loaded.
    """
    with PDFIUM_LOCK:
        page = load_page(pdf, index, document_id=document_id)
        try:
            textpage = page.get_textpage()
            try:
                words = _words(page, textpage)
            finally:
                textpage.close()
        finally:
            page.close()
    return words or None


def _words(page: Any, textpage: Any) -> list[RawWord]:
    """Groups the characters of ``textpage`` into words (caller holds the pdfium lock)."""
    import pypdfium2.raw as pdfium_c

    count = min(pdfium_c.FPDFText_CountChars(textpage), _MAX_CHARS)
    words: list[RawWord] = []
    chars: list[str] = []
    box: list[float] = []  # left, bottom, right, top in page space
    rect = pdfium_c.FS_RECTF()
    for position in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage, position)
        char = chr(code) if 0 < code < 0x110000 else ""
        if not char or char.isspace() or pdfium_c.FPDFText_IsGenerated(textpage, position) == 1:
            _flush(page, chars, box, words)
            continue
        # The loose box spans the font's ascent and descent: a "." is as tall as the digits around it.
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, position, ctypes.byref(rect)):
            continue
        here = [rect.left, min(rect.bottom, rect.top), rect.right, max(rect.bottom, rect.top)]
        if not all(math.isfinite(value) for value in here):
            continue
        if chars and _apart(box, here):
            _flush(page, chars, box, words)
        chars.append(char)
        box[:] = here if len(chars) == 1 else _union(box, here)
        if len(words) >= MAX_WORDS:
            break
    _flush(page, chars, box, words)
    return words[:MAX_WORDS]


def _apart(word: list[float], char: list[float]) -> bool:
    """Tells whether ``char`` starts a new word: on another line, or after a wide gap."""
    height = max(word[3] - word[1], char[3] - char[1], 0.1)
    middle = (char[1] + char[3]) / 2
    other_line = middle < word[1] or middle > word[3]
    gap = char[0] - word[2]
    return other_line or gap > 0.6 * height or gap < -2.0 * height


def _union(a: list[float], b: list[float]) -> list[float]:
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _flush(page: Any, chars: list[str], box: list[float], words: list[RawWord]) -> None:
    if chars:
        normalised = _normalised(page, box)
        if normalised is not None:
            words.append(("".join(chars), *normalised))
        chars.clear()


def _normalised(page: Any, box: list[float]) -> tuple[float, float, float, float] | None:
    """Maps a page-space box to the displayed page, 0-1 with the origin top-left.

    Returns ``None`` for a word that is not on the displayed page: its middle is outside the
    crop box (text the page hides), or it has no area left once cut to the crop box.
    """
    import pypdfium2.raw as pdfium_c

    xs: list[float] = []
    ys: list[float] = []
    device_x, device_y = ctypes.c_int(), ctypes.c_int()
    for x, y in ((box[0], box[1]), (box[2], box[3])):
        pdfium_c.FPDF_PageToDevice(page, 0, 0, _DEVICE, _DEVICE, 0, x, y, device_x, device_y)
        xs.append(device_x.value / _DEVICE)
        ys.append(device_y.value / _DEVICE)
    if not (0.0 <= sum(xs) / 2 <= 1.0 and 0.0 <= sum(ys) / 2 <= 1.0):
        return None
    x0, x1 = (round(min(max(value, 0.0), 1.0), _DIGITS) for value in sorted(xs))
    y0, y1 = (round(min(max(value, 0.0), 1.0), _DIGITS) for value in sorted(ys))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def words_to(layers: list[list[RawWord] | None]) -> dict[str, Any]:
    """The JSON header a worker sends for :func:`page_words` of several pages."""
    return {"words": [None if layer is None else [list(word) for word in layer] for layer in layers]}


def words_from(header: dict[str, Any], pages: int) -> list[list[RawWord] | None]:
    """Reads what :func:`words_to` packed, checking every field (a worker parses hostile files).

    Args:
        header: The reply's header.
        pages: How many pages were asked for.

    Raises:
        ValueError: The reply is not word layers of ``pages`` pages.
    """
    layers = header.get("words")
    if not isinstance(layers, list) or len(layers) != pages:
        raise ValueError("word layers of the wrong shape")
    result: list[list[RawWord] | None] = []
    for layer in layers:
        if layer is None:
            result.append(None)
            continue
        if not isinstance(layer, list) or len(layer) > MAX_WORDS:
            raise ValueError("a word layer that is not a list of words")
        result.append([_word(item) for item in layer])
    return result


def _word(item: Any) -> RawWord:
    if not isinstance(item, list) or len(item) != 5 or not isinstance(item[0], str) or len(item[0]) > 1000:
        raise ValueError("a word that is not [text, x0, y0, x1, y1]")
    numbers = item[1:]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) and 0.0 <= n <= 1.0 for n in numbers):
        raise ValueError("a word box outside the page")
    return (item[0], float(numbers[0]), float(numbers[1]), float(numbers[2]), float(numbers[3]))
